//! The container's terminal: a pty from the container's own devpts,
//! allocated after the root switch; the slave becomes /dev/console and the
//! init's stdio, the master goes to the caller's console socket.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::Mode;

use crate::error::{Error, Result, SysContext};

const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub name: String,
}

pub fn open_pty(rows: u16, cols: u16) -> Result<Pty> {
    let master = open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "open /dev/ptmx")?;
    let fs = nix::sys::statfs::fstatfs(master.as_fd()).ctx(|| "statfs /dev/ptmx")?;
    if fs.filesystem_type().0 as i64 != DEVPTS_SUPER_MAGIC {
        return Err(Error::Invalid(
            "/dev/ptmx in the container is not a devpts ptmx (mount devpts on /dev/pts)".into(),
        ));
    }
    let raw = master.as_raw_fd();
    let unlock: libc::c_int = 0;
    // SAFETY: ioctls on a valid pty master with correctly typed arguments.
    unsafe {
        if libc::ioctl(raw, libc::TIOCSPTLCK, &unlock) < 0 {
            return Err(Errno::last()).ctx(|| "unlock pty");
        }
        let mut n: libc::c_uint = 0;
        if libc::ioctl(raw, libc::TIOCGPTN, &mut n) < 0 {
            return Err(Errno::last()).ctx(|| "get pty number");
        }
        let s = libc::ioctl(
            raw,
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        if s < 0 {
            return Err(Errno::last()).ctx(|| "open pty slave");
        }
        let slave = OwnedFd::from_raw_fd(s);
        if rows > 0 || cols > 0 {
            let ws = libc::winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            if libc::ioctl(raw, libc::TIOCSWINSZ, &ws) < 0 {
                return Err(Errno::last()).ctx(|| "set console size");
            }
        }
        Ok(Pty {
            master,
            slave,
            name: format!("/dev/pts/{n}"),
        })
    }
}

/// Bind the slave over /dev/console, make it stdio and the controlling tty.
///
/// /dev/console is opened inside the root without following a symlink and
/// must be a file or a device, and the bind goes from the slave fd to that
/// fd: CVE-2025-52565, where /dev/console made a symlink (by the image or a
/// racing process) redirected the bind onto a procfs file such as
/// /proc/sys/kernel/core_pattern before the masks were applied.
pub fn attach_slave(pty: &Pty) -> Result<()> {
    let root = open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "open /")?;
    let target = match crate::sys::resolve::open_in_root(
        root.as_fd(),
        std::path::Path::new("/dev/console"),
        OFlag::O_PATH | OFlag::O_NOFOLLOW,
    ) {
        Ok(fd) => Some(fd),
        Err(Errno::ENOENT) => None,
        Err(e) => return Err(e).ctx(|| "open /dev/console"),
    };
    if let Some(target) = target {
        let st = nix::sys::stat::fstat(target.as_fd()).ctx(|| "stat /dev/console")?;
        let kind = st.st_mode & libc::S_IFMT;
        if kind != libc::S_IFREG && kind != libc::S_IFCHR {
            return Err(Errno::EPERM)
                .ctx(|| "/dev/console is not a file or a device (a symlink?): refusing to bind the terminal over it");
        }
        mount(
            Some(crate::sys::resolve::fd_path(pty.slave.as_fd()).as_str()),
            crate::sys::resolve::fd_path(target.as_fd()).as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx(|| "bind pty to /dev/console")?;
    }
    make_stdio(pty)
}

/// Make the slave stdio and the controlling tty (the caller is a session
/// leader without one).
pub fn make_stdio(pty: &Pty) -> Result<()> {
    let s = pty.slave.as_raw_fd();
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard fds.
        if unsafe { libc::dup2(s, fd) } < 0 {
            return Err(Errno::last()).ctx(|| "dup pty slave onto stdio");
        }
    }
    // SAFETY: TIOCSCTTY on our own session leader's stdin.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return Err(Errno::last()).ctx(|| "set controlling terminal");
    }
    Ok(())
}

/// Send the master in one sendmsg with exactly one fd; the payload is the
/// pty's name. The caller accepts after `create` returns, so this must not
/// wait for it.
pub fn send_master(sock: &OwnedFd, pty: &Pty) -> Result<()> {
    let fds = [pty.master.as_raw_fd()];
    let iov = [IoSlice::new(pty.name.as_bytes())];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .ctx(|| "send pty master to console socket")?;
    Ok(())
}

/// The whole terminal set-up of a process: a pty sized as the config says,
/// the slave as stdio (and over /dev/console when `bind_console`), the
/// master sent to the caller's socket.
pub fn setup(
    process: &oci_spec::runtime::Process,
    sock: &OwnedFd,
    bind_console: bool,
) -> Result<()> {
    let (rows, cols) = process
        .console_size()
        .as_ref()
        .map(|b| (b.height() as u16, b.width() as u16))
        .unwrap_or((0, 0));
    let pty = open_pty(rows, cols)?;
    if bind_console {
        attach_slave(&pty)?;
    } else {
        make_stdio(&pty)?;
    }
    send_master(sock, &pty)
}
