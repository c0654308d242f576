//! Processes and signals: whether a pid lives, sending a signal, our parent.

use nix::errno::Errno;
use nix::sys::signal;
use nix::unistd::Pid;

/// Whether a process with this pid exists (`kill(pid, 0)`; EPERM means it exists
/// but belongs to someone else).
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match signal::kill(Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(e) => e == Errno::EPERM,
    }
}

/// Whether no process has this pid any more (ESRCH). Unlike `!pid_alive`, any
/// other failure counts as "maybe alive": callers use it to decide that what a
/// process left behind is garbage.
pub fn pid_gone(pid: i32) -> bool {
    pid > 0 && signal::kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH)
}

/// Send signal number `sig` to `pid` (numbers, not nix's enum: real-time
/// signals have no variant there).
pub fn kill(pid: i32, sig: i32) -> std::io::Result<()> {
    if pid <= 0 {
        return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; a
    // positive pid names one process (never a group or "everyone").
    let r = unsafe { libc::kill(pid, sig) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Our parent's pid.
pub fn parent_pid() -> i32 {
    nix::unistd::getppid().as_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alive_and_gone() {
        let me = std::process::id() as i32;
        assert!(pid_alive(me));
        assert!(!pid_gone(me));
        assert!(!pid_alive(0));
        assert!(!pid_alive(-1));
        assert!(kill(me, 0).is_ok());
        assert!(parent_pid() > 0);
    }
}
