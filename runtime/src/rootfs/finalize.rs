//! Steps after the root switch: masked and read-only paths, a read-only
//! root, and sysctls. Paths here are inside the container, whose root is
//! now "/", so resolution cannot leave it.

use std::os::fd::AsFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;

use super::mount::remount_bind;
use crate::error::{Result, SysContext};
use crate::sys::resolve::{fd_path, open_in_root};

fn root() -> Result<std::os::fd::OwnedFd> {
    open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "open /")
}

/// Hide a path: an empty read-only tmpfs over a directory, /dev/null over
/// anything else. Missing paths are skipped.
pub fn mask(path: &str) -> Result<()> {
    let r = root()?;
    let fd = match open_in_root(r.as_fd(), Path::new(path), OFlag::O_PATH) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e).ctx(|| format!("open masked path {path}")),
    };
    let is_dir = nix::sys::stat::fstat(fd.as_fd())
        .map(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .unwrap_or(false);
    let target = fd_path(fd.as_fd());
    if is_dir {
        mount(
            Some("tmpfs"),
            target.as_str(),
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
    } else {
        mount(
            Some("/dev/null"),
            target.as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    }
    .ctx(|| format!("mask {path}"))
}

/// Make a path read-only with a bind mount of itself.
pub fn readonly(path: &str) -> Result<()> {
    let r = root()?;
    let fd = match open_in_root(r.as_fd(), Path::new(path), OFlag::O_PATH) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e).ctx(|| format!("open readonly path {path}")),
    };
    let p = fd_path(fd.as_fd());
    mount(
        Some(p.as_str()),
        p.as_str(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("bind {path} for read-only"))?;
    let top =
        open_in_root(r.as_fd(), Path::new(path), OFlag::O_PATH).ctx(|| format!("reopen {path}"))?;
    remount_bind(
        top.as_fd(),
        MsFlags::MS_RDONLY | MsFlags::MS_REC,
        MsFlags::empty(),
    )
    .ctx(|| format!("remount {path} read-only"))
}

pub fn readonly_root() -> Result<()> {
    let r = root()?;
    remount_bind(r.as_fd(), MsFlags::MS_RDONLY, MsFlags::empty()).ctx(|| "remount / read-only")
}

pub fn sysctl(key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::write(&path, value).ctx(|| format!("set sysctl {key}={value:?}"))
}
