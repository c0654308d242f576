//! clone3(2) without a new stack: fork semantics plus namespace flags and a
//! pidfd in one syscall. The runtime is single-threaded when it calls this,
//! so the child may keep running Rust code.

use std::os::fd::{FromRawFd, OwnedFd};

use nix::errno::Errno;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

pub enum Forked {
    Parent { pid: i32, pidfd: OwnedFd },
    Child,
}

/// clone3 with `flags` (CLONE_NEW* bits) and CLONE_PIDFD.
pub fn clone3(flags: u64) -> nix::Result<Forked> {
    let mut pidfd: i32 = -1;
    let mut args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut i32 as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    // SAFETY: args is a valid clone_args; no stack is given, so the child
    // continues on a copy of the parent's stack like fork(2).
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match r {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent {
            pid: pid as i32,
            // SAFETY: CLONE_PIDFD stored a fresh fd in pidfd.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
    }
}

/// Plain fork(2); the child must not return into the caller's flow.
pub fn fork() -> nix::Result<Option<i32>> {
    // SAFETY: the runtime is single-threaded at this point.
    match unsafe { libc::fork() } {
        -1 => Err(Errno::last()),
        0 => Ok(None),
        pid => Ok(Some(pid)),
    }
}
