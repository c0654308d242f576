//! `run`: create + start, and in the foreground wait for the container,
//! forwarding signals (and proxying its terminal), then delete it.

use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::bundle::Bundle;
use crate::cli::{CreateOpts, GlobalOpts};
use crate::error::{Error, Result, SysContext};

use super::{create, delete, start};

const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
];

pub fn run(g: &GlobalOpts, opts: &CreateOpts, id: &str, detach: bool, keep: bool) -> Result<i32> {
    crate::container::validate_id(id)?;
    let bundle = Bundle::load(&opts.bundle)?;
    let terminal = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if !detach {
        // The init may be a grandchild (intermediate path): reap it here.
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
    let (console_end, our_end) = if terminal && !detach && opts.console_socket.is_none() {
        let (a, b) = UnixStream::pair().ctx(|| "socketpair for console")?;
        (Some(OwnedFd::from(a)), Some(b))
    } else {
        (None, None)
    };
    let launched = create::create(g, &bundle, opts, id, console_end)?;
    let master = match our_end {
        Some(s) => match recv_fd(&s) {
            Ok(fd) => Some(fd),
            Err(e) => {
                let _ = delete::run(g, id, true);
                return Err(e);
            }
        },
        None => None,
    };
    if let Err(e) = start::run(g, id) {
        let _ = delete::run(g, id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let code = wait_foreground(launched.pid, master.as_ref().map(|m| m.as_fd()));
    if !keep {
        delete::run(g, id, true)?;
    }
    code
}

pub(crate) fn recv_fd(s: &UnixStream) -> Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        s.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ctx(|| "receive pty master")?;
    for c in msg.cmsgs().ctx(|| "receive pty master")? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: received via SCM_RIGHTS, now ours.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(Error::Invalid(
        "console socket: no pty master received".into(),
    ))
}

/// Restores the terminal mode on drop.
struct RawMode(Option<termios::Termios>);

impl RawMode {
    fn enter() -> RawMode {
        let stdin = std::io::stdin();
        match termios::tcgetattr(stdin.as_fd()) {
            Ok(orig) => {
                let mut raw = orig.clone();
                termios::cfmakeraw(&mut raw);
                let _ = termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, &raw);
                RawMode(Some(orig))
            }
            Err(_) => RawMode(None),
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), termios::SetArg::TCSANOW, t);
        }
    }
}

fn copy_winsize(master: BorrowedFd<'_>) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into `ws` and TIOCSWINSZ reads one from
    // it; both fds are open (stdin, and `master` borrowed for the call).
    unsafe {
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

pub(crate) fn wait_foreground(pid: i32, master: Option<BorrowedFd<'_>>) -> Result<i32> {
    let mut mask = SigSet::empty();
    for s in FORWARDED {
        mask.add(*s);
    }
    mask.add(Signal::SIGCHLD);
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
        .ctx(|| "block signals")?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).ctx(|| "signalfd")?;
    let _raw = master.map(|m| {
        copy_winsize(m);
        RawMode::enter()
    });
    let mut stdin_open = master.is_some();
    let mut buf = [0u8; 16384];
    loop {
        // Reap first: the init may have exited before we started waiting.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => {
                    drain(master, &mut buf);
                    return Ok(code);
                }
                Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => {
                    drain(master, &mut buf);
                    return Ok(128 + sig as i32);
                }
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e).ctx(|| "wait for container"),
            }
        }
        let stdin = std::io::stdin();
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = master {
            fds.push(PollFd::new(m, PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e).ctx(|| "poll"),
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        drop(fds);
        if ready[0] {
            if let Ok(Some(info)) = sfd.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig == Signal::SIGWINCH as i32 {
                    if let Some(m) = master {
                        copy_winsize(m);
                    }
                } else if sig != Signal::SIGCHLD as i32 {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::try_from(sig).ok());
                }
            }
        }
        if let Some(m) = master {
            if ready.get(1) == Some(&true) {
                match nix::unistd::read(m, &mut buf) {
                    Ok(n) if n > 0 => {
                        let _ = std::io::stdout().write_all(&buf[..n]);
                        let _ = std::io::stdout().flush();
                    }
                    _ => {}
                }
            }
            if stdin_open && ready.get(2) == Some(&true) {
                match std::io::stdin().read(&mut buf) {
                    Ok(0) | Err(_) => stdin_open = false,
                    Ok(n) => {
                        let _ = write_all(m, &buf[..n]);
                    }
                }
            }
        }
    }
}

/// Copy what the container left in the pty after it exited.
fn drain(master: Option<BorrowedFd<'_>>, buf: &mut [u8]) {
    let Some(m) = master else { return };
    loop {
        let mut fds = [PollFd::new(m, PollFlags::POLLIN)];
        if !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0) {
            break;
        }
        match nix::unistd::read(m, buf) {
            Ok(n) if n > 0 => {
                let _ = std::io::stdout().write_all(&buf[..n]);
            }
            _ => break,
        }
    }
    let _ = std::io::stdout().flush();
}

/// All of `data` to `fd` (EINTR retried).
fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> nix::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
