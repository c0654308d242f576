//! kill(2) with a raw signal number: nix's `Signal` has no real-time signals (and
//! runc's `kill` accepts them), so this one call goes to libc.

use std::io;

/// Send signal number `sig` (0: only check) to `pid`.
pub fn kill_raw(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Give SIGPIPE back its default action. The Rust runtime ignores it in every
/// Rust program (so writes to a closed pipe return EPIPE), and an ignored
/// signal stays ignored across execve: without this a container's `yes | head`
/// would never end, since `yes` would loop on EPIPE instead of dying as it
/// does under runc.
pub fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: installing SIG_DFL runs no handler code of ours, so nothing
    // about async-signal safety applies; the previous handler is not used.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}
