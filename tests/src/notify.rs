//! The supervisor side of a seccomp user notification fd (SCMP_ACT_NOTIFY), as handed
//! to a `linux.seccomp.listenerPath` listener.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// One pending notification.
#[derive(Debug, Clone, Copy)]
pub struct Notification {
    pub id: u64,
    /// The pid of the task that made the syscall, in the pid namespace of the caller of
    /// NOTIF_RECV (here: the host's).
    pub pid: u32,
    pub nr: i32,
    pub args: [u64; 6],
}

/// Wait up to `timeout` for a notification on `fd` and receive it (None on timeout).
pub fn recv(fd: &OwnedFd, timeout: Duration) -> Option<Notification> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(100) as i32) };
        if r <= 0 || pfd.revents & libc::POLLIN == 0 {
            if pfd.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                return None; // every filter user is gone
            }
            continue;
        }
        // The kernel wants a zeroed buffer.
        let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            // ENOENT: the task died or the syscall was interrupted before we got it.
            if matches!(e.raw_os_error(), Some(libc::EINTR) | Some(libc::ENOENT)) {
                continue;
            }
            panic!("SECCOMP_IOCTL_NOTIF_RECV: {e}");
        }
        return Some(Notification {
            id: n.id,
            pid: n.pid,
            nr: n.data.nr,
            args: n.data.args,
        });
    }
}

/// Answer a notification: the syscall fails with `errno` (> 0) in the target.
pub fn fail_with(fd: &OwnedFd, id: u64, errno: i32) -> std::io::Result<()> {
    let mut resp: libc::seccomp_notif_resp = unsafe { std::mem::zeroed() };
    resp.id = id;
    resp.error = -errno;
    resp.val = 0;
    resp.flags = 0;
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}
