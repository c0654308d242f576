//! `run` and `exec` for a service: a one-off container made from the
//! service's options (with the command line's overrides), attached in the
//! foreground; and a process in a running container through the shim's exec
//! sessions.
//
// The exec session protocol steps follow the `berth exec` verb's (which keeps
// them in the verb); both speak the shim protocol through `shim_client`.

use crate::compose::create::{self, Replica};
use crate::compose::error::{ComposeError, Result};
use crate::compose::model::Project;
use crate::container::{self, ContainerStore, LifecycleError, StartMode};
use crate::context::Context;
use crate::shim_client::{
    self, Attach, AttachEnd, ExecResponse, ExecWaitResponse, PidResponse, Request,
};
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
        if o.tty {
            s.tty = true;
        }
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
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub detach: bool,
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
    let rec = &m.rec;
    let st = container::state(ctx, rec);
    if !st.running || st.restarting || st.paused || !st.shim_alive {
        return Err(ComposeError::Invalid(format!(
            "container {} is not running",
            rec.name
        )));
    }
    let err = |e: &dyn std::fmt::Display| ComposeError::Container(e.to_string());
    let cfg_path = rec.bundle(ctx).join("config.json");
    let spec = oci_spec::runtime::Spec::load(&cfg_path).map_err(|e| err(&e))?;
    let mut process = spec
        .process()
        .clone()
        .ok_or_else(|| ComposeError::Container(format!("{} has no process", cfg_path.display())))?;
    process
        .set_args(Some(o.command.clone()))
        .set_terminal(Some(o.tty));
    if let Some(w) = &o.workdir {
        process.set_cwd(w.into());
    }
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if let Some(u) = &o.user {
        let rootfs = rec.rootfs(ctx);
        let passwd = crate::spec::user::read_in_root(&rootfs, "etc/passwd").map_err(|e| err(&e))?;
        let group = crate::spec::user::read_in_root(&rootfs, "etc/group").map_err(|e| err(&e))?;
        let user = crate::spec::user::resolve(u, passwd.as_deref(), group.as_deref())
            .map_err(|e| err(&e))?;
        let mut ou = oci_spec::runtime::User::default();
        ou.set_uid(user.uid)
            .set_gid(user.gid)
            .set_additional_gids(Some(user.additional_gids.clone()));
        process.set_user(ou);
        if let Some(h) = env.iter_mut().find(|e| e.starts_with("HOME=")) {
            *h = format!("HOME={}", user.home);
        }
    }
    for e in &o.env {
        let (k, v) = match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => match std::env::var(e) {
                Ok(v) => (e.clone(), v),
                Err(_) => continue,
            },
        };
        env.retain(|x| x.split('=').next() != Some(k.as_str()));
        env.push(format!("{k}={v}"));
    }
    if o.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    process.set_env(Some(env));
    let sid = crate::container::store::new_id()[..16].to_string();
    let shim_dir = rec.shim_dir(ctx);
    let pfile = shim_dir.join(format!("exec-{sid}.json"));
    let body = serde_json::to_vec(&process).map_err(|e| err(&e))?;
    std::fs::write(&pfile, body).map_err(|e| ComposeError::io(&pfile, e))?;
    let res = (|| -> Result<i32> {
        let v: ExecResponse = shim_client::request(
            &shim_dir,
            &Request::Exec {
                sid: sid.clone(),
                process: pfile.clone(),
                terminal: o.tty,
                stdin: o.interactive,
                detach: o.detach,
            },
        )
        .map_err(|e| err(&e))?;
        let start = || -> Result<Option<i32>> {
            match shim_client::request::<PidResponse>(
                &shim_dir,
                &Request::ExecStart { sid: sid.clone() },
            ) {
                Ok(_) => Ok(None),
                Err(e) => {
                    let msg = e.to_string();
                    match shim_client::exec_error_code(&msg) {
                        Some(code) => {
                            eprintln!("berth: {msg}");
                            Ok(Some(code))
                        }
                        None => Err(err(&e)),
                    }
                }
            }
        };
        if o.detach {
            return Ok(start()?.unwrap_or(0));
        }
        let att = Attach::connect(&v.socket, o.interactive, None).map_err(|e| err(&e))?;
        if let Some(code) = start()? {
            return Ok(code);
        }
        match att.pump(o.interactive, o.tty).map_err(|e| err(&e))? {
            AttachEnd::Exited(code) => Ok(code),
            AttachEnd::Detached => {
                let v = shim_client::request::<ExecWaitResponse>(
                    &shim_dir,
                    &Request::ExecWait { sid: sid.clone() },
                );
                Ok(v.map(|v| v.exit_code).unwrap_or(0))
            }
        }
    })();
    let _ = std::fs::remove_file(&pfile);
    res
}
