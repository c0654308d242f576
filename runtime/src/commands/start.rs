use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use crate::cli::GlobalOpts;
use crate::container::store::START_SOCKET;
use crate::container::{Status, Store};
use crate::error::{Error, InitError, Result, SysContext};
use crate::hooks::{self, HookKind};

pub fn run(g: &GlobalOpts, id: &str) -> Result<()> {
    let store = Store::new(&g.root);
    let c = store.load(id)?;
    let state = c.state()?.clone();
    match c.status() {
        Status::Created => {}
        Status::Stopped => {
            return Err(Error::Invalid(
                "cannot start a container that has stopped".into(),
            ))
        }
        Status::Running => {
            return Err(Error::Invalid(
                "cannot start an already running container".into(),
            ))
        }
        s => return Err(Error::CannotStart(s.to_string())),
    }
    // Connect through the directory fd: the socket path may exceed sun_path.
    let path = format!("/proc/self/fd/{}/{START_SOCKET}", c.dir_fd().as_raw_fd());
    let mut conn = UnixStream::connect(&path).map_err(|e| {
        Error::Invalid(format!(
            "cannot start container {id}: init is not waiting for start: {e}"
        ))
    })?;
    log::debug!("start {id}: init pid {} signalled to exec", state.pid);
    // The init closes the connection by exec (close-on-exec) on success,
    // or writes why it failed.
    let mut reply = Vec::new();
    let read = conn.read_to_end(&mut reply);
    // Only from here on does the container count as running: the spec's
    // running is "has executed the user-specified program", and the
    // startContainer hooks run before that (runc's `state` says created
    // until its exec fifo is gone, at the same point). `start` unlinks the
    // socket, not the init: the init holds nothing of the state directory,
    // and a non-root process could not unlink it anyway. (A `start` killed
    // while it waits leaves the socket, and `state` says created, as runc's
    // leftover fifo does; `delete` still removes the container.)
    let _ = nix::unistd::unlinkat(
        c.dir_fd(),
        START_SOCKET,
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    );
    read.ctx(|| "read start reply")?;
    if !reply.is_empty() {
        let e: InitError = serde_json::from_slice(&reply)
            .unwrap_or_else(|_| InitError::other(String::from_utf8_lossy(&reply).into_owned()));
        return Err(Error::Init(e));
    }
    hooks::run_all_warn(
        state.hooks.as_ref(),
        HookKind::Poststart,
        &state.hook_state(Status::Running),
    );
    Ok(())
}
