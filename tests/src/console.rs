//! A `--console-socket` listener: receives the pty master over SCM_RIGHTS.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the console socket received from one connection.
pub struct Received {
    /// All fds passed (the contract: exactly one, the pty master).
    pub fds: Vec<OwnedFd>,
    /// Non-fd payload bytes received along with them.
    pub data: Vec<u8>,
}

/// Listens on a unix socket in a background thread and hands over what arrives.
pub struct ConsoleSocket {
    path: PathBuf,
    rx: mpsc::Receiver<std::io::Result<Received>>,
    _thread: JoinHandle<()>,
}

impl ConsoleSocket {
    pub fn bind(path: &Path) -> ConsoleSocket {
        Self::bind_with(path, true)
    }

    /// Like [`ConsoleSocket::bind`], but reads the one connection to EOF, keeping all
    /// the data and every fd (e.g. a seccomp listener: the notify fd plus a JSON state).
    pub fn bind_until_eof(path: &Path) -> ConsoleSocket {
        Self::bind_with(path, false)
    }

    fn bind_with(path: &Path, stop_after_fds: bool) -> ConsoleSocket {
        let listener =
            UnixListener::bind(path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let r = listener
                .accept()
                .and_then(|(conn, _)| recv_fds_impl(conn.as_raw_fd(), stop_after_fds));
            let _ = tx.send(r);
        });
        ConsoleSocket {
            path: path.to_owned(),
            rx,
            _thread: thread,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Wait for the runtime to connect and send the master.
    pub fn receive(&self, timeout: Duration) -> Received {
        match self.rx.recv_timeout(timeout) {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => panic!("console socket: {e}"),
            Err(_) => panic!("console socket: nothing received within {timeout:?}"),
        }
    }
}

/// Receive from a connected socket until EOF, collecting every SCM_RIGHTS fd; with
/// `stop_after_fds`, stop after the first message that carries fds.
fn recv_fds_impl(sock: i32, stop_after_fds: bool) -> std::io::Result<Received> {
    let mut fds = Vec::new();
    let mut data = Vec::new();
    loop {
        let mut buf = [0u8; 4096];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // Room for up to 16 fds.
        let space = unsafe { libc::CMSG_SPACE((16 * std::mem::size_of::<i32>()) as u32) } as usize;
        let mut cbuf = vec![0u64; space.div_ceil(8)];
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        // socklen_t in musl, size_t in glibc.
        msg.msg_controllen = space as _;
        let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    let count = len / std::mem::size_of::<i32>();
                    let p = libc::CMSG_DATA(c) as *const i32;
                    for i in 0..count {
                        fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(p.add(i))));
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n as usize]);
        if stop_after_fds && !fds.is_empty() {
            // runc sends one message and closes; don't depend on the close.
            break;
        }
    }
    Ok(Received { fds, data })
}

/// Read from a pty master until `done(buffer)` is true, EOF/EIO (slave closed) or timeout.
pub fn read_master_until(
    master: &OwnedFd,
    timeout: Duration,
    mut done: impl FnMut(&[u8]) -> bool,
) -> Vec<u8> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || done(&out) {
            break;
        }
        let mut pfd = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(100) as i32) };
        if r <= 0 {
            continue;
        }
        let mut buf = [0u8; 4096];
        let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break; // EIO once the slave side is closed
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    out
}

/// Is this fd a pty master? (TIOCGPTN succeeds only on masters.)
pub fn is_pty_master(fd: &OwnedFd) -> bool {
    let mut n: libc::c_uint = 0;
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGPTN, &mut n) == 0 }
}
