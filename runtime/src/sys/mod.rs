//! Thin, typed wrappers over Linux syscalls that nix does not cover.

pub mod clone;
pub mod fault;
pub mod fds;
pub mod loopback;
pub mod pidfd;
pub mod procfs;
pub mod resolve;
pub mod sealed_exe;
pub mod signal;
