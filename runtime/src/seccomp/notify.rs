//! Handing the notify fd to the seccomp agent (runc's
//! `sendContainerProcessState`).

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::socket::{send, sendmsg, ControlMessage, MsgFlags};

use super::{Result, SeccompError};

/// The runtime-spec `ContainerProcessState` JSON for the agent: `state` is
/// the container's state (the `state` command's object), `metadata` is
/// `listenerMetadata`.
pub fn process_state_json(
    pid: i32,
    metadata: Option<&str>,
    state: &impl serde::Serialize,
) -> Result<String> {
    let mut v = serde_json::json!({
        "ociVersion": crate::SPEC_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
    });
    // Go's omitempty, as in runc.
    if let Some(m) = metadata.filter(|m| !m.is_empty()) {
        v["metadata"] = m.into();
    }
    v["state"] = serde_json::to_value(state)?;
    Ok(v.to_string())
}

/// Connects to the agent's unix socket at `listener_path` and sends one
/// message: `process_state_json` as the payload, `fd` as SCM_RIGHTS.
pub fn send_notify_fd(
    listener_path: &Path,
    fd: BorrowedFd<'_>,
    process_state_json: &str,
) -> Result<()> {
    let fail = |source: std::io::Error| SeccompError::SendNotify {
        path: listener_path.to_path_buf(),
        source,
    };
    let payload = process_state_json.as_bytes();
    if payload.is_empty() {
        // A stream socket does not deliver ancillary data without bytes.
        return Err(fail(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty process state",
        )));
    }
    let sock = UnixStream::connect(listener_path).map_err(|source| SeccompError::ConnectAgent {
        path: listener_path.to_path_buf(),
        source,
    })?;
    let fds = [fd.as_raw_fd()];
    // MSG_NOSIGNAL: an agent that hung up is an error, not a SIGPIPE.
    let sent = loop {
        match sendmsg::<()>(
            sock.as_raw_fd(),
            &[IoSlice::new(payload)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(Errno::EINTR) => continue,
            r => break r.map_err(|e| fail(e.into()))?,
        }
    };
    // A stream may take the payload in parts; the fd went with the first.
    let mut rest = &payload[sent..];
    while !rest.is_empty() {
        match send(sock.as_raw_fd(), rest, MsgFlags::MSG_NOSIGNAL) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(fail(e.into())),
            Ok(n) => rest = &rest[n..],
        }
    }
    Ok(())
}
