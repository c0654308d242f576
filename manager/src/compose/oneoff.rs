//! `run` and `exec` for a service: a one-off container made from the
//! service's options (with the command line's overrides), attached in the
//! foreground; and a process in a running container through the shim's exec
//! sessions.
//
// The exec session itself is the container library's (`container::exec`),
// shared with the `berth exec` verb.

use crate::compose::create::{self, Replica};
use crate::compose::error::{ComposeError, Result};
use crate::compose::model::Project;
use crate::container::{self, ContainerStore, LifecycleError, StartMode};
use crate::context::Context;
use crate::shim_client::{Attach, AttachEnd};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub command: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub volumes: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub name: Option<String>,
    pub remove: bool,
    pub detach: bool,
    pub tty: bool,
    pub interactive: bool,
    pub labels: Vec<String>,
    /// `--service-ports`: keep the service's `ports:`.
    pub service_ports: bool,
    /// `-p`: ports to publish (docker's `-p` syntax).
    pub publish: Vec<String>,
}

fn start_code(e: LifecycleError) -> Result<i32> {
    match e {
        LifecycleError::StartFailed { code, msg } if code != 125 => {
            eprintln!("berth: {msg}");
            Ok(code)
        }
        e => Err(e.into()),
    }
}

/// `run SERVICE [COMMAND]`: the exit code of the one-off container.
pub fn run(ctx: &Context, project: &Project, service: &str, o: &RunOptions) -> Result<i32> {
    let mut p = project.clone();
    {
        let s = p
            .services
            .get_mut(service)
            .ok_or_else(|| ComposeError::Invalid(format!("no such service: {service}")))?;
        // A one-off container publishes no ports unless asked (docker's).
        if !o.service_ports {
            s.ports.clear();
        }
        if !o.command.is_empty() {
            s.command = Some(o.command.clone());
        }
        if let Some(e) = &o.entrypoint {
            s.entrypoint = Some(e.clone());
        }
        for e in &o.env {
            match e.split_once('=') {
                Some((k, v)) => s.environment.insert(k.to_string(), Some(v.to_string())),
                None => s.environment.insert(e.clone(), std::env::var(e).ok()),
            };
        }
        for l in &o.labels {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            s.labels.insert(k.to_string(), v.to_string());
        }
        if let Some(u) = &o.user {
            s.user = Some(u.clone());
        }
        if let Some(w) = &o.workdir {
            s.working_dir = Some(w.clone());
        }
        // As docker compose's `run`: the terminal (and -T) decide, not the
        // service's `tty:` (a `run -T` of a tty service prints plain lines).
        s.tty = o.tty;
        s.stdin_open = o.interactive;
        s.restart = None;
        s.container_name = None;
    }
    let number = crate::container::store::new_id()[..12].to_string();
    let name = o
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{service}-run-{number}", project.name));
    let peers: BTreeMap<String, String> = crate::compose::observe::members(ctx, &project.name)?
        .into_iter()
        .filter(|m| m.running && !m.oneoff)
        .map(|m| (m.service.clone(), m.rec.name.clone()))
        .collect();
    let rep = Replica {
        project: &p,
        service,
        number: 1,
        oneoff: Some(name.clone()),
        peers: &peers,
    };
    crate::compose::networks::ensure(ctx, &p, &[service.to_string()])?;
    let mut opts = create::options(ctx, &rep, &project.environment)?;
    crate::compose::networks::oneoff(&mut opts, service, &o.publish)?;
    for v in &o.volumes {
        opts.host_config.binds.push(v.clone());
    }
    opts.host_config.auto_remove = o.remove;
    let (rec, image) = container::create(ctx, opts)?;
    let store = ContainerStore::open(ctx).map_err(|e| ComposeError::Container(e.to_string()))?;
    let c = container::lock(&store, &rec.id)?;
    if o.detach {
        return match container::start_with_image(ctx, &c, StartMode::Now, Some(image)) {
            Ok(_) => {
                println!("{}", rec.name);
                Ok(0)
            }
            Err(e) => start_code(e),
        };
    }
    if let Err(e) = container::start_with_image(ctx, &c, StartMode::CreateOnly, Some(image)) {
        return start_code(e);
    }
    let att = match Attach::connect(&rec.shim_dir(ctx).join("attach.sock"), o.interactive, None) {
        Ok(a) => a,
        Err(e) => return start_code(container::start::abort(ctx, &c, e.to_string())),
    };
    if let Err(e) = container::start_created(ctx, &c) {
        return start_code(e);
    }
    let shim_pid = container::state(ctx, &c).shim_pid;
    // Not held while the container runs: stop, kill and the exit hook take it.
    drop(c);
    match att
        .pump(o.interactive, rec.config.tty)
        .map_err(|e| ComposeError::Container(e.to_string()))?
    {
        AttachEnd::Exited(code) => {
            container::on_exit(ctx, &rec.id, Some(shim_pid))?;
            Ok(code)
        }
        AttachEnd::Detached => Ok(0),
    }
}

#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    /// What to run, as `berth exec` takes it.
    pub exec: container::ExecOptions,
    /// Replica number (`--index`, default 1).
    pub index: u32,
}

/// `exec SERVICE COMMAND`: the command's exit code.
pub fn exec(ctx: &Context, project_name: &str, service: &str, o: &ExecOptions) -> Result<i32> {
    let members = crate::compose::observe::members(ctx, project_name)?;
    let m = members
        .iter()
        .find(|m| !m.oneoff && m.service == service && m.number == o.index)
        .ok_or_else(|| {
            ComposeError::Invalid(format!(
                "service {service:?} has no container with index {}",
                o.index
            ))
        })?;
    let st = container::state(ctx, &m.rec);
    if !st.running || st.restarting || st.paused || !st.shim_alive {
        return Err(ComposeError::Invalid(format!(
            "container {} is not running",
            m.rec.name
        )));
    }
    Ok(container::exec(ctx, &m.rec, &o.exec)?)
}
