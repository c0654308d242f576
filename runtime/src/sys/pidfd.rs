//! Process file descriptors: race-free signalling and waiting on a pid that
//! might otherwise be recycled.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

#[derive(Debug)]
pub struct PidFd {
    fd: OwnedFd,
}

impl PidFd {
    pub fn open(pid: i32) -> nix::Result<PidFd> {
        // SAFETY: plain syscall with integer arguments.
        let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if r < 0 {
            return Err(Errno::last());
        }
        // SAFETY: the kernel just returned this fd to us.
        let fd = unsafe { OwnedFd::from_raw_fd(r as i32) };
        Ok(PidFd { fd })
    }

    pub fn from_owned(fd: OwnedFd) -> PidFd {
        PidFd { fd }
    }

    pub fn signal(&self, sig: i32) -> nix::Result<()> {
        // SAFETY: valid pidfd, null siginfo.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r < 0 {
            Err(Errno::last())
        } else {
            Ok(())
        }
    }

    pub fn kill(&self) -> nix::Result<()> {
        self.signal(Signal::SIGKILL as i32)
    }

    /// Wait until the process has exited (a zombie counts). Returns false on
    /// timeout.
    pub fn wait_exit(&self, timeout: Option<Duration>) -> bool {
        let t = match timeout {
            None => PollTimeout::NONE,
            Some(d) => PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX),
        };
        loop {
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, t) {
                Ok(0) => return false,
                Ok(_) => return true,
                Err(Errno::EINTR) => continue,
                Err(_) => return true,
            }
        }
    }
}

impl AsFd for PidFd {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
