//! The `cgroup` mount type. On a cgroup v2 host with a cgroup namespace a
//! fresh cgroup2 mount shows the container's own subtree; otherwise (v1,
//! hybrid, or no cgroup namespace) a tmpfs holds read-only binds of the
//! container's cgroup directory in every hierarchy, as runc does (runc
//! leaves a hybrid host's cgroup2 hierarchy out, and so do we).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::mount::{mount, MsFlags};

use super::mount::remount_bind;
use super::options::MountOptions;
use super::{idmap, RootfsCtx};
use crate::cgroups::{self, CgroupMode};
use crate::error::{Result, SysContext};
use crate::sys::resolve::{fd_path, mkdir_all_in_root, open_in_root, Leaf};

/// Our cgroup paths as the host sees them, read before the cgroup
/// namespace is entered (inside it they all read "/").
static OWN_CGROUPS: std::sync::OnceLock<String> = std::sync::OnceLock::new();

pub fn remember_own_cgroups() {
    let _ = OWN_CGROUPS.set(std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default());
}

pub fn mount_cgroup(ctx: &RootfsCtx, dest: &Path, opts: &MountOptions) -> Result<()> {
    let flags = opts.flags
        & (MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    let own = OWN_CGROUPS
        .get()
        .cloned()
        .unwrap_or_else(|| std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default());
    let (mode, v1, unified) = cgroups::process_dirs(&own)?;
    let target = mkdir_all_in_root(ctx.root(), dest, Leaf::Dir)
        .ctx(|| format!("create mount point {}", dest.display()))?;
    if mode == CgroupMode::V2 {
        if ctx.new_cgroupns {
            return mount(
                Some("cgroup2"),
                fd_path(target.as_fd()).as_str(),
                Some("cgroup2"),
                flags,
                None::<&str>,
            )
            .ctx(|| format!("mount cgroup2 on {}", dest.display()));
        }
        if let Some(u) = unified {
            return bind_ro(ctx, &u.dir, dest, flags);
        }
        return Ok(());
    }
    mount(
        Some("tmpfs"),
        fd_path(target.as_fd()).as_str(),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755"),
    )
    .ctx(|| format!("mount tmpfs on {}", dest.display()))?;
    // The fresh tmpfs is this mount namespace's own and empty: the
    // hierarchies' mount points are made and opened right under its root,
    // one fd for all of them, without resolving each path from the rootfs.
    let top = open_in_root(
        ctx.root(),
        dest,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY,
    )
    .ctx(|| format!("open {}", dest.display()))?;
    for h in &v1 {
        let Some(name) = h
            .mountpoint
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
        else {
            continue;
        };
        let at = dest.join(&name);
        let target = mkdir_under(top.as_fd(), &name)
            .ctx(|| format!("create mount point {}", at.display()))?;
        bind_at(ctx, &h.dir, target.as_fd(), &at, flags)?;
        // Co-mounted controllers ("cpu,cpuacct") get a link per controller.
        if name.contains(',') {
            for part in name.split(',') {
                let _ = nix::unistd::symlinkat(name.as_str(), top.as_fd(), part);
            }
        }
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        remount_bind(top.as_fd(), flags, MsFlags::empty())
            .or_else(|_| {
                mount(
                    None::<&str>,
                    fd_path(top.as_fd()).as_str(),
                    None::<&str>,
                    MsFlags::MS_REMOUNT | flags,
                    None::<&str>,
                )
            })
            .ctx(|| format!("remount {} read-only", dest.display()))?;
    }
    Ok(())
}

fn bind_ro(ctx: &RootfsCtx, src: &Path, dest: &Path, flags: MsFlags) -> Result<()> {
    let target = mkdir_all_in_root(ctx.root(), dest, Leaf::Dir)
        .ctx(|| format!("create mount point {}", dest.display()))?;
    bind_at(ctx, src, target.as_fd(), dest, flags)
}

/// A directory `name` right under `dir` (made if missing), opened without
/// following a symlink.
fn mkdir_under(dir: BorrowedFd<'_>, name: &str) -> nix::Result<OwnedFd> {
    match nix::sys::stat::mkdirat(dir, name, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    nix::fcntl::openat(
        dir,
        name,
        nix::fcntl::OFlag::O_PATH
            | nix::fcntl::OFlag::O_DIRECTORY
            | nix::fcntl::OFlag::O_NOFOLLOW
            | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
}

/// Bind `src` read-only (`flags`) on the mount point `target`, which is
/// `dest` in the container.
fn bind_at(
    ctx: &RootfsCtx,
    src: &Path,
    target: BorrowedFd<'_>,
    dest: &Path,
    flags: MsFlags,
) -> Result<()> {
    if bind_with_attrs(src, target, flags).is_ok() {
        return Ok(());
    }
    // A kernel or sandbox without the new mount API (or refusing it): bind
    // and remount, whose errors are the ones reported.
    mount(
        Some(src),
        fd_path(target).as_str(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("bind mount {} on {}", src.display(), dest.display()))?;
    let top = open_in_root(ctx.root(), dest, nix::fcntl::OFlag::O_PATH)
        .ctx(|| format!("reopen {}", dest.display()))?;
    remount_bind(top.as_fd(), flags, MsFlags::empty()).ctx(|| format!("remount {}", dest.display()))
}

/// The bind as a detached copy that gets its flags before it is attached
/// (open_tree, mount_setattr, move_mount): no remount, and no lookups of
/// the mount point through /proc/self/fd (about 5 us a hierarchy). Only the
/// top mount gets the flags, as with the remount; the source's own flags
/// (nosuid, nodev, noexec, its atime mode) stay. A copy that fails before
/// it is attached is dropped (dissolved), and the caller binds instead.
fn bind_with_attrs(src: &Path, target: BorrowedFd<'_>, flags: MsFlags) -> nix::Result<()> {
    let tree = idmap::clone_tree(src, true)?;
    let mut attrs = 0u64;
    for (ms, attr) in [
        (MsFlags::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
    ] {
        if flags.contains(ms) {
            attrs |= attr;
        }
    }
    if attrs != 0 {
        idmap::set_attrs(tree.as_fd(), attrs)?;
    }
    idmap::attach(tree.as_fd(), target)
}
