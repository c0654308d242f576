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
    hide_host_proc_sys(rootfs)?;
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

/// After chroot the host's /proc and /sys stay in the mount namespace, and
/// the kernel allows a new proc or sysfs mount wherever a full, unmasked one
/// is visible in the namespace: so the container could mount a fresh,
/// unmasked /proc. Unmount every full proc/sysfs mount outside the rootfs
/// (or cover it with a tmpfs where unmounting is refused), as runc does.
fn hide_host_proc_sys(rootfs: &Path) -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ctx(|| "read mountinfo")?;
    for mp in full_proc_sys_outside(&info, rootfs) {
        match mount(
            None::<&str>,
            mp.as_str(),
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => {}
            // A parent was unmounted already.
            Err(nix::errno::Errno::ENOENT) => continue,
            Err(e) => return Err(e).ctx(|| format!("make {mp} rslave")),
        }
        match umount2(mp.as_str(), MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::EPERM) => {
                mount(
                    Some("tmpfs"),
                    mp.as_str(),
                    Some("tmpfs"),
                    MsFlags::empty(),
                    None::<&str>,
                )
                .ctx(|| format!("cover {mp} with tmpfs"))?;
            }
            Err(e) => return Err(e).ctx(|| format!("unmount {mp}")),
        }
    }
    Ok(())
}

/// Mount points of full (root "/") proc and sysfs mounts outside `rootfs`,
/// deepest last so that parents go first.
fn full_proc_sys_outside(mountinfo: &str, rootfs: &Path) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let f: Vec<&str> = pre.split(' ').collect();
            let fstype = post.split(' ').next()?;
            if f.len() < 5 || f[3] != "/" || !matches!(fstype, "proc" | "sysfs") {
                return None;
            }
            let mp = super::unescape(f[4]);
            (!Path::new(&mp).starts_with(rootfs)).then_some(mp)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::full_proc_sys_outside;
    use std::path::Path;

    #[test]
    fn finds_full_proc_and_sysfs_outside_the_rootfs() {
        let info = "\
22 1 0:21 / /proc rw,nosuid - proc proc rw
23 1 0:22 / /sys rw - sysfs sysfs rw
24 22 0:23 /sys /proc/sys ro - proc proc rw
25 1 0:24 / /run rw - tmpfs tmpfs rw
26 1 0:21 / /b/rootfs/proc rw - proc proc rw
27 1 0:25 / /b/rootfsx/proc rw - proc proc rw
";
        assert_eq!(
            full_proc_sys_outside(info, Path::new("/b/rootfs")),
            vec!["/proc", "/sys", "/b/rootfsx/proc"]
        );
    }
}
