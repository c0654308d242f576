//! The manager's one syscall layer: everything below the library modules that
//! talks to the kernel directly. nix first (it owns the unsafe); what nix lacks
//! (xattrs, flock on a borrowed fd) is a small `unsafe` helper here with its
//! `// SAFETY:` comment, so the rest of the manager has no raw calls.

pub mod fs;
pub mod mount;

/// Whether berth runs as root (device nodes, ownership need it).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Whether `pid` is known to be gone (ESRCH), as opposed to merely not ours.
pub fn pid_gone(pid: i32) -> bool {
    matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}
