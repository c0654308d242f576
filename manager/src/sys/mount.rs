//! Mounts the manager makes itself (image root filesystems, volumes).

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::io;
use std::path::Path;

/// The kernel's limit on a mount's data string (one page).
const MAX_MOUNT_DATA: usize = 4096;

/// Mount an overlay at `target` with the option string `data`.
pub fn overlay(target: &Path, data: &str) -> io::Result<()> {
    if data.len() >= MAX_MOUNT_DATA {
        return Err(io::Error::other(format!(
            "overlay options are {} bytes, over the kernel's page-size limit",
            data.len()
        )));
    }
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(data),
    )
    .map_err(io::Error::from)
}

/// Bind `src` at `target` (`recursive`: rbind), then make it read-only when `ro`.
pub fn bind(src: &Path, target: &Path, recursive: bool, ro: bool) -> io::Result<()> {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(Some(src), target, None::<&str>, flags, None::<&str>)?;
    if ro {
        mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )?;
    }
    Ok(())
}

/// Mount the filesystem `fstype` from `device` at `target`.
pub fn filesystem(
    device: &str,
    target: &Path,
    fstype: &str,
    flags: MsFlags,
    data: &str,
) -> io::Result<()> {
    mount(Some(device), target, Some(fstype), flags, Some(data)).map_err(io::Error::from)
}

/// Unmount `target`: not mounted (EINVAL/ENOENT) is no error; busy falls back to a
/// lazy (detached) unmount so nothing stays mounted once its users go.
pub fn unmount(target: &Path) -> io::Result<()> {
    match umount2(target, MntFlags::empty()) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::EBUSY) => umount2(target, MntFlags::MNT_DETACH).map_err(io::Error::from),
        Err(e) => Err(e.into()),
    }
}

/// Lazy unmount of `target` (errors as they are).
pub fn detach(target: &Path) -> io::Result<()> {
    umount2(target, MntFlags::MNT_DETACH).map_err(io::Error::from)
}
