//! /dev inside the container: the default device nodes, `linux.devices`,
//! and the standard symlinks. Nodes are made with mknod, or bind-mounted
//! from the host where a user namespace forbids mknod.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknodat, umask, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::RootfsCtx;
use crate::error::{Error, Result, SysContext};
use crate::sys::resolve::{fd_path, mkdir_all_in_root, Leaf};

#[derive(Clone, Debug)]
pub struct Device {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

pub fn default_devices() -> Vec<Device> {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .into_iter()
    .map(|(p, major, minor)| Device {
        path: p.into(),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

pub fn from_spec(d: &LinuxDevice) -> Result<Device> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(Error::Invalid(format!(
                "device {}: type \"a\" is only valid in cgroup rules",
                d.path().display()
            )))
        }
    };
    if !d.path().starts_with("/dev/") {
        return Err(Error::Invalid(format!(
            "device path {} must be under /dev",
            d.path().display()
        )));
    }
    Ok(Device {
        path: d.path().clone(),
        kind,
        major: d.major() as u64,
        minor: d.minor() as u64,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

/// Make the device nodes, as runc does under a umask of 0 so that mknod
/// gives each node its mode exactly (no chmod afterwards). The fd of a
/// parent directory is kept for the next node in the same directory (all
/// the default ones are in /dev).
pub fn create_all(ctx: &RootfsCtx, devs: &[Device]) -> Result<()> {
    let old = umask(Mode::empty());
    let mut parent: Option<(&Path, OwnedFd)> = None;
    let r = devs.iter().try_for_each(|d| create(ctx, d, &mut parent));
    umask(old);
    r
}

fn create<'a>(
    ctx: &RootfsCtx,
    dev: &'a Device,
    cached: &mut Option<(&'a Path, OwnedFd)>,
) -> Result<()> {
    let parent_path = dev.path.parent().unwrap_or(Path::new("/dev"));
    let name = dev
        .path
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("bad device path {}", dev.path.display())))?;
    let (_, parent) = match cached {
        Some(c) if c.0 == parent_path => c,
        other => {
            let fd = mkdir_all_in_root(ctx.root(), parent_path, Leaf::Dir)
                .ctx(|| format!("create {}", parent_path.display()))?;
            other.insert((parent_path, fd))
        }
    };
    if ctx.in_userns {
        // Bind the host's node over an empty file.
        let target = mkdir_all_in_root(ctx.root(), &dev.path, Leaf::File)
            .ctx(|| format!("create {}", dev.path.display()))?;
        return mount(
            Some(&dev.path),
            fd_path(target.as_fd()).as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx(|| format!("bind mount device {}", dev.path.display()));
    }
    match mknodat(
        parent.as_fd(),
        name,
        dev.kind,
        Mode::from_bits_truncate(dev.mode),
        makedev(dev.major, dev.minor),
    ) {
        Ok(()) => {}
        Err(Errno::EEXIST) => return Ok(()),
        Err(e) => return Err(e).ctx(|| format!("mknod {}", dev.path.display())),
    }
    // The parent's O_PATH fd serves as the directory of the *at call.
    fchownat(
        parent.as_fd(),
        name,
        Some(Uid::from_raw(dev.uid)),
        Some(Gid::from_raw(dev.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .ctx(|| format!("chown {}", dev.path.display()))
}

/// /dev/fd, stdin/out/err, core and the ptmx link to the container's devpts.
pub fn create_symlinks(ctx: &RootfsCtx) -> Result<()> {
    let dev = mkdir_all_in_root(ctx.root(), Path::new("/dev"), Leaf::Dir).ctx(|| "open /dev")?;
    let dev_dir = nix::fcntl::openat(
        dev.as_fd(),
        ".",
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "open /dev")?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        match symlinkat(target, dev_dir.as_fd(), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e).ctx(|| format!("symlink /dev/{name}")),
        }
    }
    // ptmx must be the container's devpts instance, never a host node.
    match nix::unistd::unlinkat(
        dev_dir.as_fd(),
        "ptmx",
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    ) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(e).ctx(|| "remove /dev/ptmx"),
    }
    symlinkat("pts/ptmx", dev_dir.as_fd(), "ptmx").ctx(|| "symlink /dev/ptmx")
}
