//! OCI hooks: each runs with its own args and env, gets the container state
//! on stdin, and is killed after its timeout. Output is captured for the
//! error message; a hook that leaves a daemon holding its pipes does not
//! hold up the runtime, which stops reading once the hook itself exits.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::Hook;

use crate::error::{Error, Result};
use crate::sys::pidfd::PidFd;

#[derive(Clone, Copy, Debug)]
pub enum HookKind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl HookKind {
    pub fn name(self) -> &'static str {
        match self {
            HookKind::Prestart => "prestart",
            HookKind::CreateRuntime => "createRuntime",
            HookKind::CreateContainer => "createContainer",
            HookKind::StartContainer => "startContainer",
            HookKind::Poststart => "poststart",
            HookKind::Poststop => "poststop",
        }
    }

    pub fn select(self, hooks: &oci_spec::runtime::Hooks) -> Vec<Hook> {
        #[allow(deprecated)]
        let v = match self {
            HookKind::Prestart => hooks.prestart(),
            HookKind::CreateRuntime => hooks.create_runtime(),
            HookKind::CreateContainer => hooks.create_container(),
            HookKind::StartContainer => hooks.start_container(),
            HookKind::Poststart => hooks.poststart(),
            HookKind::Poststop => hooks.poststop(),
        };
        v.clone().unwrap_or_default()
    }
}

/// Where a hook runs when it is the init that runs it: a hook without its
/// own `env` gets the container process's environment (runc's init has it
/// by then), and createContainer hooks run in the container's root.
#[derive(Default, Clone, Copy)]
pub struct InContainer<'a> {
    pub env: Option<&'a [String]>,
    pub cwd: Option<&'a std::path::Path>,
}

/// Run every hook of `kind` in order; the first failure aborts.
pub fn run_all(
    hooks: Option<&oci_spec::runtime::Hooks>,
    kind: HookKind,
    state: &str,
) -> Result<()> {
    run_all_in(hooks, kind, state, InContainer::default())
}

/// [`run_all`] for hooks the init runs (createContainer, startContainer).
pub fn run_all_in(
    hooks: Option<&oci_spec::runtime::Hooks>,
    kind: HookKind,
    state: &str,
    place: InContainer,
) -> Result<()> {
    let Some(hooks) = hooks else { return Ok(()) };
    for (i, h) in kind.select(hooks).iter().enumerate() {
        run_one(h, state, place).map_err(|msg| Error::Hook {
            kind: kind.name(),
            index: i,
            msg,
        })?;
    }
    Ok(())
}

/// Like [`run_all`], but failures are logged as warnings (poststart and
/// poststop, per the spec).
pub fn run_all_warn(hooks: Option<&oci_spec::runtime::Hooks>, kind: HookKind, state: &str) {
    let Some(hooks) = hooks else { return };
    for (i, h) in kind.select(hooks).iter().enumerate() {
        if let Err(msg) = run_one(h, state, InContainer::default()) {
            log::warn!("error running {} hook #{i}: {msg}", kind.name());
        }
    }
}

/// A hook without `env` inherits an environment, as runc's (Go's exec with a
/// nil Env): the runtime's own, or the container process's in the init.
fn run_one(h: &Hook, state: &str, place: InContainer) -> std::result::Result<(), String> {
    let args = h.args().clone().unwrap_or_default();
    let mut cmd = Command::new(h.path());
    if let Some(a0) = args.first() {
        cmd.arg0(a0);
    }
    cmd.args(args.iter().skip(1))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = place.cwd {
        cmd.current_dir(dir);
    }
    let env = match (h.env(), place.env) {
        (Some(own), _) => Some(own.as_slice()),
        (None, inherited) => inherited,
    };
    if let Some(env) = env {
        cmd.env_clear();
        for kv in env {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{}: {e}", h.path().display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin.
        let _ = stdin.write_all(state.as_bytes());
    }
    let pidfd = PidFd::open(child.id() as i32).map_err(|e| format!("pidfd: {e}"))?;
    let deadline = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut stdout = child
        .stdout
        .take()
        .map(|s| std::fs::File::from(std::os::fd::OwnedFd::from(s)));
    let mut stderr = child
        .stderr
        .take()
        .map(|s| std::fs::File::from(std::os::fd::OwnedFd::from(s)));
    loop {
        let remaining = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(r) => PollTimeout::try_from(r).unwrap_or(PollTimeout::MAX),
                None => {
                    let _ = pidfd.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "{}: timed out after {}s",
                        h.path().display(),
                        h.timeout().unwrap_or(0)
                    ));
                }
            },
            None => PollTimeout::NONE,
        };
        let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        if let Some(s) = &stdout {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        if let Some(s) = &stderr {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, remaining) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        let exited = fds[0].any().unwrap_or(false);
        let ready: Vec<bool> = fds[1..].iter().map(|f| f.any().unwrap_or(false)).collect();
        drop(fds);
        let mut idx = 0;
        for (pipe, buf) in [(&mut stdout, &mut out), (&mut stderr, &mut err)] {
            if pipe.is_some() {
                if ready[idx] {
                    let mut chunk = [0u8; 4096];
                    match pipe.as_mut().map(|p| p.read(&mut chunk)) {
                        Some(Ok(0)) | Some(Err(_)) => *pipe = None,
                        Some(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                        None => {}
                    }
                }
                idx += 1;
            }
        }
        if exited {
            break;
        }
    }
    let status = child.wait().map_err(|e| format!("wait: {e}"))?;
    if status.success() {
        return Ok(());
    }
    let trim = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    Err(format!(
        "{}: {status}, stdout: {}, stderr: {}",
        h.path().display(),
        trim(&out),
        trim(&err)
    ))
}
