//! Helpers for the container tests: running `berth` under a pseudo-terminal.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

/// A pty pair (master, slave).
pub fn openpty() -> (OwnedFd, OwnedFd) {
    let (mut m, mut s) = (0, 0);
    let r = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) }
}

/// Start `cmd` with the pty's slave as its controlling terminal and stdio.
pub fn spawn_on_pty(mut cmd: Command, slave: &OwnedFd) -> Child {
    let fd = slave.as_raw_fd();
    unsafe {
        cmd.stdin(Stdio::from(OwnedFd::from_raw_fd(libc::dup(fd))))
            .stdout(Stdio::from(OwnedFd::from_raw_fd(libc::dup(fd))))
            .stderr(Stdio::from(OwnedFd::from_raw_fd(libc::dup(fd))))
            .pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
    }
    cmd.spawn().expect("spawning berth on a pty")
}

/// Write to the pty master.
pub fn write_master(m: &OwnedFd, data: &[u8]) {
    let n = unsafe { libc::write(m.as_raw_fd(), data.as_ptr().cast(), data.len()) };
    assert_eq!(n, data.len() as isize);
}

/// A `berth` command line with the harness's environment (for spawning by hand).
pub fn berth_command(b: &crate::manager::Berth, args: &[&str]) -> Command {
    let mut c = Command::new(crate::manager::berth_bin());
    c.arg("--root")
        .arg(b.root())
        .arg("--state")
        .arg(b.state())
        .env("BERTH_RUNTIME_BIN", crate::runtime_bin())
        .env("BERTH_SHIM_BIN", crate::manager::shim_bin())
        .args(args.iter().map(OsString::from));
    c
}
