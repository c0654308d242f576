//! The manager's few raw system calls, each in a small safe helper with a
//! `SAFETY:` comment (nix first, libc only where nix has no wrapper).

pub mod process;
