//! berth-shim's supervisor core as a library, for other front ends of the same
//! supervisor (containerd's shim v2 API in `shim/containerd`). The `berth-shim`
//! binary (main.rs) declares the same modules for itself, and its own front end
//! (attach, control socket, event loop), which is not part of the library.

pub mod config;
pub mod error;
pub mod health;
pub mod logs;
pub mod oom;
pub mod relay;
pub mod restart;
pub mod runtime;
pub mod status;
pub mod supervisor;
pub mod sys;
pub mod time;
