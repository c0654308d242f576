//! Switching the root: pivot_root(2) by default, MS_MOVE + chroot with
//! `--no-pivot` (for ramfs roots, where pivot_root is impossible).

use std::os::fd::AsFd;
use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, fchdir, pivot_root};

use crate::error::{Result, SysContext};

pub fn pivot(rootfs: &Path) -> Result<()> {
    let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let old = open("/", flags, Mode::empty()).ctx(|| "open /")?;
    let new = open(rootfs, flags, Mode::empty()).ctx(|| format!("open {}", rootfs.display()))?;
    fchdir(new.as_fd()).ctx(|| "chdir to rootfs")?;
    // pivot_root(".", ".") stacks the old root under the new one without
    // needing a directory for it.
    pivot_root(".", ".").ctx(|| format!("pivot_root {}", rootfs.display()))?;
    fchdir(old.as_fd()).ctx(|| "chdir to old root")?;
    // Keep the unmount from propagating to the host.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| "make old root rslave")?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "unmount old root")?;
    chdir("/").ctx(|| "chdir /")
}

pub fn move_root(rootfs: &Path) -> Result<()> {
    chdir(rootfs).ctx(|| format!("chdir {}", rootfs.display()))?;
    mount(
        Some(rootfs),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .ctx(|| format!("move {} to /", rootfs.display()))?;
    chroot(".").ctx(|| "chroot")?;
    chdir("/").ctx(|| "chdir /")
}
