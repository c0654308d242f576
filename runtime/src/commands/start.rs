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
    // From here on the container counts as running. The init does not keep the
    // state directory open to do this itself (CVE-2024-21626), so `start` does.
    let _ = nix::unistd::unlinkat(
        c.dir_fd(),
        START_SOCKET,
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    );
    // The init closes the connection by exec (close-on-exec) on success,
    // or writes why it failed.
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).ctx(|| "read start reply")?;
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
