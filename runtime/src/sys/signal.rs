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
