//! This crate's few raw syscalls beyond berth-shim's `sys`, each in a small safe helper.

use berth_shim::sys::cvt;
use std::ffi::CStr;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// Give the calling thread a private copy of the process's fd table, then close every
/// fd of that copy (but stderr when `keep_stderr`): what the thread opens afterwards is
/// in no other thread's table, and it holds no copy of the others' fds.
pub fn private_fd_table(keep_stderr: bool) -> io::Result<()> {
    // SAFETY: unshare(CLONE_FILES) only gives the calling thread its own copy of the fd
    // table; the other threads' table and the fds' owners there are not affected.
    cvt(unsafe { libc::unshare(libc::CLONE_FILES) })?;
    let ranges: &[(u32, u32)] = if keep_stderr {
        &[(0, 1), (3, u32::MAX)]
    } else {
        &[(0, u32::MAX)]
    };
    for &(first, last) in ranges {
        // SAFETY: close_range on this thread's private table, whose fds no object of
        // this thread owns (they are copies of the other threads' fds).
        let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
        if r != 0 {
            // A kernel without close_range (before 5.9): one by one.
            for fd in first..last.min(4096) {
                // SAFETY: as above.
                unsafe { libc::close(fd as i32) };
            }
        }
    }
    Ok(())
}

/// An `O_PATH` fd to the directory `path` (not following a symlink): it references the
/// mount on top of `path` without reading anything.
pub fn open_path(path: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: a valid NUL-terminated path; the fd returned is ours alone.
    let fd = cvt(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: a fresh fd nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
