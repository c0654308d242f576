//! Closing inherited fds in a forked child: everything but stdio, the
//! fds the caller asked to pass on, and the child's own.

use std::os::fd::RawFd;

/// Close every fd >= 3 except `[3, 3 + preserve)` and `keep`.
pub fn close_all_except(preserve: u32, keep: &[RawFd]) {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter(|f| **f >= 0)
        .map(|f| *f as u32)
        .collect();
    keep.extend(3..3 + preserve);
    keep.sort_unstable();
    keep.dedup();
    let mut next = 3u32;
    for k in keep.into_iter().filter(|k| *k >= 3) {
        if k > next {
            close_range(next, k - 1);
        }
        next = k + 1;
    }
    close_range(next, u32::MAX);
}

fn close_range(first: u32, last: u32) {
    // SAFETY: closes fds we do not use; nothing in the child refers to them.
    unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
}
