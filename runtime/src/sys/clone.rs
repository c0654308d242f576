//! clone3(2) without a new stack: fork semantics plus namespace flags and a
//! pidfd in one syscall. The runtime is single-threaded when it calls this,
//! so the child may keep running Rust code.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

/// linux/sched.h (not in the libc crate for every target).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

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

/// clone3 with `flags` (CLONE_NEW* bits) and CLONE_PIDFD, and with
/// CLONE_INTO_CGROUP when `cgroup` (a cgroup2 directory) is given.
pub fn clone3(flags: u64, cgroup: Option<BorrowedFd>) -> nix::Result<Forked> {
    let mut pidfd: i32 = -1;
    let mut args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut i32 as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
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

/// clone3 into the cgroup2 directory `cgroup` if given; where the kernel
/// refuses that (a cgroup2 directory it cannot start processes in, or a
/// kernel older than 5.7), a plain clone3. Tells which one it was.
pub fn clone3_into(flags: u64, cgroup: Option<BorrowedFd>) -> nix::Result<(Forked, bool)> {
    if cgroup.is_some() {
        match clone3(flags, cgroup) {
            Ok(f) => return Ok((f, true)),
            Err(Errno::ENOSYS) => return Err(Errno::ENOSYS),
            Err(e) => log::debug!("clone3 with CLONE_INTO_CGROUP: {e}; without it"),
        }
    }
    clone3(flags, None).map(|f| (f, false))
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
