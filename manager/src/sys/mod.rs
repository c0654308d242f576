//! The manager's one syscall layer: everything below the library modules that
//! talks to the kernel directly. nix first (it owns the unsafe); what nix lacks
//! (xattrs, flock on a borrowed fd) is a small `unsafe` helper here with its
//! `// SAFETY:` comment, so the rest of the manager has no raw calls.

pub mod bpf;
pub mod fault;
pub mod fs;
pub mod mount;
pub mod mountinfo;
pub mod process;

/// Whether berth runs as root (device nodes, ownership need it).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
