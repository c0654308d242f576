//! Thin, typed wrappers over Linux syscalls that nix does not cover.

pub mod clone;
pub mod exe_remap;
pub mod fault;
pub mod fds;
pub mod loopback;
pub mod mountinfo;
pub mod pidfd;
pub mod procfs;
pub mod resolve;
pub mod sealed_exe;
pub mod signal;
pub mod startup;

/// An OS error in Go's words (strerror, first letter lowercase, no "(os error N)"), as
/// runc prints it and engines match it: `no such file or directory`.
pub fn go_error_text(e: &std::io::Error) -> String {
    let text = match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    };
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase())
        .into_iter()
        .chain(chars)
        .collect()
}
