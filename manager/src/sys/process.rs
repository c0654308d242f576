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

/// Whether `pid` is a live process that still runs: alive and not a zombie
/// (state `Z`) or dying (`X`) in /proc/PID/stat. A killed container's init
/// stays a zombie until its parent reaps it, and must not count as running
/// meanwhile. When the stat file cannot be read the signal check decides.
pub fn pid_running(pid: i32) -> bool {
    if !pid_alive(pid) {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(stat_state(&stat), Some('Z' | 'X' | 'x')),
        Err(_) => true,
    }
}

/// The state letter of a /proc/PID/stat line: the first field after the
/// command name, which is in parentheses and may itself hold `)` and spaces.
fn stat_state(stat: &str) -> Option<char> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.trim_start().chars().next()
}

/// Field 22 of /proc/PID/stat: the process's start time in clock ticks since
/// boot (with the pid, it names one process: pids are reused).
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` is the process that started at `start` (clock ticks, as in
/// /proc/PID/stat) and still runs (not a zombie): one read of its stat file,
/// where `pid_running` and `start_time` together take a signal and two.
pub fn running_since(pid: i32, start: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let mut fields = stat[close + 1..].split_whitespace();
    let running = !matches!(
        fields.next().and_then(|s| s.chars().next()),
        Some('Z' | 'X' | 'x') | None
    );
    // the state was field 0 of the rest; the start time is its 19th
    running && fields.nth(18).and_then(|s| s.parse().ok()) == Some(start)
}

/// Whether no process has this pid any more (ESRCH). Unlike `!pid_alive`, any
/// other failure counts as "maybe alive": callers use it to decide that what a
/// process left behind is garbage. Asked with getsid(2), not a signal 0: the
/// same answer (a zombie still exists) at half the cost, no permission or
/// audit check (a network scan asks it once per running container).
pub fn pid_gone(pid: i32) -> bool {
    pid > 0 && nix::unistd::getsid(Some(Pid::from_raw(pid))) == Err(Errno::ESRCH)
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

/// Close every descriptor above stderr: a long-lived helper (a network's
/// DNS responder) must not keep what it inherited by accident from whoever
/// started it (a pipe someone waits on for EOF, a lock). Call it first
/// thing, before the process opens anything of its own.
pub fn close_inherited_fds() {
    // SAFETY: close_range(2) closes descriptors only; at the start of the
    // process no Rust object owns a descriptor above 2, so none is left
    // dangling. An old kernel without it (ENOSYS) leaves them open.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
}

/// Our parent's pid.
pub fn parent_pid() -> i32 {
    nix::unistd::getppid().as_raw()
}

/// A child process running a closure as another user namespace's root.
pub struct UsernsChild {
    pid: Pid,
    err: std::fs::File,
}

/// Fork; the child joins the user namespace `userns` as its root (uid and
/// gid 0 there, no supplementary groups), closes `close` (the ends of pipes
/// that only the parent may hold), runs `f` and exits 0, or writes `f`'s
/// error to the parent and exits 1. The caller must have a single thread
/// (`setns` of a user namespace refuses a threaded process, and only the
/// forking thread survives a fork).
pub fn spawn_in_userns(
    userns: std::os::fd::BorrowedFd<'_>,
    close: &[std::os::fd::RawFd],
    f: impl FnOnce() -> std::io::Result<()>,
) -> std::io::Result<UsernsChild> {
    use std::io::Write;
    let (r, w) = nix::unistd::pipe()?;
    // SAFETY: the caller has a single thread (documented above), so the child
    // is a full copy of the process and may allocate and run Rust code.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            drop(r);
            for fd in close {
                let _ = nix::unistd::close(*fd);
            }
            let res = (|| -> std::io::Result<()> {
                nix::sched::setns(userns, nix::sched::CloneFlags::CLONE_NEWUSER)?;
                nix::unistd::setgroups(&[])?;
                let root_g = nix::unistd::Gid::from_raw(0);
                let root_u = nix::unistd::Uid::from_raw(0);
                nix::unistd::setresgid(root_g, root_g, root_g)?;
                nix::unistd::setresuid(root_u, root_u, root_u)?;
                f()
            })();
            let code = match res {
                Ok(()) => 0,
                Err(e) => {
                    let _ = std::fs::File::from(w).write_all(e.to_string().as_bytes());
                    1
                }
            };
            // SAFETY: _exit ends the child without running the parent's
            // atexit handlers or flushing its copies of buffers twice.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(w);
            Ok(UsernsChild {
                pid: child,
                err: std::fs::File::from(r),
            })
        }
    }
}

impl UsernsChild {
    /// Wait for the child: its error, if it reported one.
    pub fn wait(mut self) -> std::io::Result<()> {
        use std::io::Read;
        let mut msg = String::new();
        let _ = self.err.read_to_string(&mut msg);
        loop {
            match nix::sys::wait::waitpid(self.pid, None) {
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => return Ok(()),
                Ok(st) => {
                    if msg.is_empty() {
                        msg = format!("the copying process ended: {st:?}");
                    }
                    return Err(std::io::Error::other(msg));
                }
            }
        }
    }
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
        assert!(pid_running(me));
        assert!(start_time(me).is_some_and(|t| t > 0));
        assert_eq!(start_time(me), start_time(me));
    }

    #[test]
    fn stat_state_after_the_command_name() {
        assert_eq!(stat_state("42 (sleep) S 1 42 42 0"), Some('S'));
        assert_eq!(stat_state("42 (a) b) Z 1 42"), Some('Z'));
        assert_eq!(stat_state("42 (x"), None);
    }

    #[test]
    fn a_zombie_is_not_running() {
        let child = std::process::Command::new("true").spawn();
        let Ok(mut child) = child else { return };
        let pid = child.id() as i32;
        // Not reaped yet: it stays a zombie once it has exited.
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while pid_running(pid) && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(pid_alive(pid), "the unreaped child still has its pid");
        assert!(!pid_running(pid), "a zombie counts as not running");
        let _ = child.wait();
        assert!(!pid_alive(pid));
    }

    #[test]
    fn running_since_names_one_process_and_not_a_zombie() {
        let me = std::process::id() as i32;
        let start = start_time(me).unwrap();
        assert!(running_since(me, start));
        assert!(!running_since(me, start + 1), "another start time");
        assert!(!running_since(0, start));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let cstart = start_time(pid).unwrap();
        // not reaped yet: a zombie once it exits
        let zombie = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            !running_since(pid, cstart)
        });
        assert!(zombie, "an exited, unreaped child counts as not running");
        let _ = child.wait();
    }
}
