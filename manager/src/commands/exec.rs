//! `berth exec`: run a process in a running container through the shim's exec
//! sessions (the process is the container's own config.json process with the
//! command, env, user, cwd and terminal replaced).

use crate::container::{self, ContainerStore};
use crate::context::Context;
use crate::shim_client::{
    self, Attach, AttachEnd, ExecResponse, ExecWaitResponse, PidResponse, Request,
};
use crate::spec;
use anyhow::{bail, Context as _};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Give extended privileges to the command (accepted; the container's set is used)
    #[arg(long)]
    pub privileged: bool,
    /// Override the key sequence for detaching
    #[arg(long)]
    pub detach_keys: Option<String>,
    pub container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    let rec = store.resolve(&args.container)?;
    let st = container::state(ctx, &rec);
    if !st.running || st.restarting {
        bail!("Container {} is not running", rec.id);
    }
    if st.paused {
        bail!(
            "Container {} is paused, unpause the container before exec",
            rec.id
        );
    }
    if !st.shim_alive {
        bail!(
            "Container {} has no shim (it was killed); restart the container to exec in it",
            rec.id
        );
    }
    let cfg_path = rec.bundle(ctx).join("config.json");
    let spec = oci_spec::runtime::Spec::load(&cfg_path)
        .with_context(|| format!("reading {}", cfg_path.display()))?;
    let mut process = spec
        .process()
        .clone()
        .with_context(|| format!("{} has no process", cfg_path.display()))?;
    process
        .set_args(Some(args.command.clone()))
        .set_terminal(Some(args.tty));
    if let Some(w) = &args.workdir {
        process.set_cwd(w.into());
    }
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if let Some(u) = &args.user {
        let rootfs = rec.rootfs(ctx);
        let passwd = spec::user::read_in_root(&rootfs, "etc/passwd")?;
        let group = spec::user::read_in_root(&rootfs, "etc/group")?;
        let user = spec::user::resolve(u, passwd.as_deref(), group.as_deref())?;
        let mut u = oci_spec::runtime::User::default();
        u.set_uid(user.uid)
            .set_gid(user.gid)
            .set_additional_gids(Some(user.additional_gids.clone()));
        process.set_user(u);
        if let Some(h) = env.iter_mut().find(|e| e.starts_with("HOME=")) {
            *h = format!("HOME={}", user.home);
        }
    }
    for e in &args.env {
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
    if args.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    process.set_env(Some(env));
    let sid = crate::container::store::new_id()[..16].to_string();
    let shim_dir = rec.shim_dir(ctx);
    let pfile = shim_dir.join(format!("exec-{sid}.json"));
    std::fs::write(&pfile, serde_json::to_vec(&process)?)?;
    let res = (|| -> anyhow::Result<i32> {
        let v: ExecResponse = shim_client::request(
            &shim_dir,
            &Request::Exec {
                sid: sid.clone(),
                process: pfile.clone(),
                terminal: args.tty,
                stdin: args.interactive,
                detach: args.detach,
            },
        )?;
        let start = || -> anyhow::Result<Option<i32>> {
            match shim_client::request::<PidResponse>(
                &shim_dir,
                &Request::ExecStart { sid: sid.clone() },
            ) {
                Ok(_) => Ok(None),
                Err(e) => match shim_client::exec_error_code(&e) {
                    Some(code) => {
                        eprintln!("berth: {e}");
                        Ok(Some(code))
                    }
                    None => Err(e.into()),
                },
            }
        };
        if args.detach {
            return Ok(start()?.unwrap_or(0));
        }
        let att = Attach::connect(&v.socket, args.interactive, args.detach_keys.as_deref())?;
        if let Some(code) = start()? {
            return Ok(code);
        }
        match att.pump(args.interactive, args.tty)? {
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
