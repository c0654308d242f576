//! Steps after the root switch: masked and read-only paths, a read-only
//! root, and sysctls. Paths here are inside the container, whose root is
//! now "/", so resolution cannot leave it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, openat2, OFlag, OpenHow, ResolveFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{fstat, major, minor, Mode};
use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};

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

/// The read-only and masked paths of a config, applied with one fd of the
/// container's `/` and (for masked files) one checked fd of its /dev/null,
/// rather than both opened afresh for every path.
pub struct Paths {
    root: OwnedFd,
    null: Option<OwnedFd>,
}

impl Paths {
    pub fn new() -> Result<Self> {
        Ok(Paths {
            root: root()?,
            null: None,
        })
    }

    /// Hide a path: an empty read-only tmpfs over a directory, /dev/null
    /// over anything else. Missing paths are skipped.
    pub fn mask(&mut self, path: &str) -> Result<()> {
        let fd = match open_in_root(self.root.as_fd(), Path::new(path), OFlag::O_PATH) {
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
            // Opened and checked once, at the first masked file: the fd
            // keeps naming the inode that passed the check, whatever is
            // done to the path afterwards.
            let null = match self.null.take() {
                Some(n) => n,
                None => dev_null(self.root.as_fd())?,
            };
            let r = mount(
                Some(fd_path(null.as_fd()).as_str()),
                target.as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            );
            self.null = Some(null);
            r
        }
        .ctx(|| format!("mask {path}"))
    }

    /// Make a path read-only with a bind mount of itself.
    pub fn readonly(&self, path: &str) -> Result<()> {
        let r = self.root.as_fd();
        let fd = match open_in_root(r, Path::new(path), OFlag::O_PATH) {
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
            open_in_root(r, Path::new(path), OFlag::O_PATH).ctx(|| format!("reopen {path}"))?;
        remount_bind(
            top.as_fd(),
            MsFlags::MS_RDONLY | MsFlags::MS_REC,
            MsFlags::empty(),
        )
        .ctx(|| format!("remount {path} read-only"))
    }
}

/// The container's /dev/null, opened without following a symlink and checked
/// to be the null device (1:3). CVE-2025-31133: if an image (or a process
/// racing in a shared rootfs) made /dev/null a symlink to, say,
/// /proc/sys/kernel/core_pattern, binding "/dev/null" over a masked path would
/// expose that file writable in the container instead of hiding anything.
fn dev_null(root: BorrowedFd<'_>) -> Result<OwnedFd> {
    let fd = open_in_root(
        root,
        Path::new("/dev/null"),
        OFlag::O_PATH | OFlag::O_NOFOLLOW,
    )
    .ctx(|| "open /dev/null to mask paths with")?;
    let st = fstat(fd.as_fd()).ctx(|| "stat /dev/null")?;
    let rdev = st.st_rdev;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || major(rdev) != 1 || minor(rdev) != 3 {
        return Err(Errno::EPERM).ctx(|| {
            "/dev/null in the container is not the null device (a symlink or another file): \
             refusing to mask paths with it"
        });
    }
    Ok(fd)
}

pub fn readonly_root() -> Result<()> {
    let r = root()?;
    remount_bind(r.as_fd(), MsFlags::MS_RDONLY, MsFlags::empty()).ctx(|| "remount / read-only")
}

/// Write a sysctl through the container's procfs. The file is opened beneath
/// /proc (checked to be a procfs) without crossing a mount or following a
/// symlink: CVE-2025-52881, where a process sharing the container's mounts
/// bind-mounts another procfs file (core_pattern, sysrq-trigger) over the
/// sysctl's path so that the runtime's write lands there.
pub fn sysctl(key: &str, value: &str) -> Result<()> {
    let what = || format!("set sysctl {key}={value:?}");
    let proc_root = open(
        "/proc",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(what)?;
    let fs = fstatfs(proc_root.as_fd()).ctx(what)?;
    if fs.filesystem_type() != PROC_SUPER_MAGIC {
        return Err(Errno::EXDEV).ctx(|| format!("{}: /proc is not a procfs", what()));
    }
    let rel = format!("sys/{}", key.replace('.', "/"));
    let how = OpenHow::new()
        .flags(OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
        .resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_XDEV
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
    let fd = loop {
        match openat2(proc_root.as_fd(), rel.as_str(), how) {
            Err(Errno::EAGAIN | Errno::EINTR) => continue,
            Err(Errno::EXDEV) => {
                return Err(Errno::EXDEV)
                    .ctx(|| format!("{}: /proc/{rel} is covered by another mount", what()))
            }
            r => break r.ctx(what)?,
        }
    };
    let mut f = std::fs::File::from(fd);
    std::io::Write::write_all(&mut f, value.as_bytes()).ctx(what)
}
