//! `exec`: a process in a running container through the shim's exec sessions
//! (the process is the container's own config.json process with the command,
//! env, user, cwd and terminal replaced). Used by the `exec` verb and by
//! compose's `exec`. No lock: an exec changes nothing of the container's
//! record, and the shim serialises its sessions.

use super::error::LifecycleError;
use super::record::ContainerRecord;
use super::state;
use crate::context::Context;
use crate::shim_client::{
    self, Attach, AttachEnd, ExecResponse, ExecWaitResponse, PidResponse, Request,
};
use crate::spec;
use oci_spec::runtime::Process;

/// What to run and how (docker's `exec` flags).
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    /// The command and its arguments (not empty).
    pub command: Vec<String>,
    /// `KEY=VALUE`, or `KEY` alone to take the caller's value (skipped when
    /// the caller has none).
    pub env: Vec<String>,
    /// `name|uid[:group|gid]`, resolved in the container's /etc/passwd.
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    /// Keep stdin open and forward the caller's.
    pub interactive: bool,
    /// Start it and return at once (exit code 0 unless it cannot start).
    pub detach: bool,
    pub detach_keys: Option<String>,
}

/// Run `o.command` in the container; returns its exit code (or docker's 126
/// or 127 when it cannot be started). Attached unless `o.detach`.
pub fn exec(ctx: &Context, rec: &ContainerRecord, o: &ExecOptions) -> Result<i32, LifecycleError> {
    let st = state::state(ctx, rec);
    if !st.running || st.restarting {
        return Err(LifecycleError::NotRunning(format!(
            "Container {} is not running",
            rec.id
        )));
    }
    if st.paused {
        return Err(LifecycleError::Conflict(format!(
            "Container {} is paused, unpause the container before exec",
            rec.id
        )));
    }
    if !st.shim_alive {
        return Err(LifecycleError::NotRunning(format!(
            "Container {} has no shim (it was killed); restart the container to exec in it",
            rec.id
        )));
    }
    let process = process(ctx, rec, o)?;
    let sid = super::store::new_id()[..16].to_string();
    let shim_dir = rec.shim_dir(ctx);
    let pfile = shim_dir.join(format!("exec-{sid}.json"));
    super::write_json_file(&pfile, &process)?;
    let res = session(&shim_dir, &sid, &pfile, o);
    let _ = std::fs::remove_file(&pfile);
    res
}

/// The container's process with the command line's changes.
fn process(
    ctx: &Context,
    rec: &ContainerRecord,
    o: &ExecOptions,
) -> Result<Process, LifecycleError> {
    let cfg_path = rec.bundle(ctx).join("config.json");
    let spec = oci_spec::runtime::Spec::load(&cfg_path).map_err(|e| LifecycleError::Io {
        op: "reading",
        path: cfg_path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let mut process = spec
        .process()
        .clone()
        .ok_or_else(|| LifecycleError::Invalid(format!("{} has no process", cfg_path.display())))?;
    process
        .set_args(Some(o.command.clone()))
        .set_terminal(Some(o.tty));
    if let Some(w) = &o.workdir {
        process.set_cwd(w.into());
    }
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if let Some(u) = &o.user {
        let rootfs = rec.rootfs(ctx);
        let passwd = spec::user::read_in_root(&rootfs, "etc/passwd")?;
        let group = spec::user::read_in_root(&rootfs, "etc/group")?;
        let user = spec::user::resolve(u, passwd.as_deref(), group.as_deref())?;
        let mut ou = oci_spec::runtime::User::default();
        ou.set_uid(user.uid)
            .set_gid(user.gid)
            .set_additional_gids(Some(user.additional_gids.clone()));
        process.set_user(ou);
        if let Some(h) = env.iter_mut().find(|e| e.starts_with("HOME=")) {
            *h = format!("HOME={}", user.home);
        }
    }
    merge_env(&mut env, &o.env, |k| std::env::var(k).ok());
    if o.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    process.set_env(Some(env));
    Ok(process)
}

/// `KEY=VALUE` replaces KEY; a bare `KEY` takes `lookup(KEY)`, or is skipped.
fn merge_env(env: &mut Vec<String>, add: &[String], lookup: impl Fn(&str) -> Option<String>) {
    for e in add {
        let (k, v) = match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => match lookup(e) {
                Some(v) => (e.clone(), v),
                None => continue,
            },
        };
        env.retain(|x| x.split('=').next() != Some(k.as_str()));
        env.push(format!("{k}={v}"));
    }
}

/// The shim's exec protocol: `exec` (the session and its socket), attach,
/// `exec_start`, pump until the exit (or `exec_wait` after a detach).
fn session(
    shim_dir: &std::path::Path,
    sid: &str,
    pfile: &std::path::Path,
    o: &ExecOptions,
) -> Result<i32, LifecycleError> {
    let v: ExecResponse = shim_client::request(
        shim_dir,
        &Request::Exec {
            sid: sid.to_string(),
            process: pfile.to_path_buf(),
            terminal: o.tty,
            stdin: o.interactive,
            detach: o.detach,
        },
    )?;
    // None once started; Some(126|127) when the command cannot be run
    // (docker's exit statuses), reported on stderr as docker does.
    let start = || -> Result<Option<i32>, LifecycleError> {
        match shim_client::request::<PidResponse>(
            shim_dir,
            &Request::ExecStart {
                sid: sid.to_string(),
            },
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
    if o.detach {
        return Ok(start()?.unwrap_or(0));
    }
    let att = Attach::connect(&v.socket, o.interactive, o.detach_keys.as_deref())?;
    if let Some(code) = start()? {
        return Ok(code);
    }
    match att.pump(o.interactive, o.tty)? {
        AttachEnd::Exited(code) => Ok(code),
        AttachEnd::Detached => {
            let v = shim_client::request::<ExecWaitResponse>(
                shim_dir,
                &Request::ExecWait {
                    sid: sid.to_string(),
                },
            );
            Ok(v.map(|v| v.exit_code).unwrap_or(0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_and_lookups() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        let add = ["A=2", "B", "C", "D=x=y"].map(String::from);
        merge_env(&mut env, &add, |k| (k == "B").then(|| "from-caller".into()));
        assert_eq!(env, ["PATH=/bin", "A=2", "B=from-caller", "D=x=y"]);
    }
}
