//! The container's root filesystem (an overlay of its image's snapshots) and
//! its volumes: mounted by `start`, given back by `on_exit` and `remove`.

use super::error::LifecycleError;
use super::record::{ContainerRecord, MountKind};
use super::store::ContainerStore;
use crate::context::Context;
use crate::image::Image;
use crate::snapshot::{SnapshotError, SnapshotStore};
use crate::sys::mountinfo::is_mountpoint;
use crate::sys::{fs, mount};
use crate::volume::VolumeStore;
use nix::fcntl::{OFlag, ResolveFlag};
use std::os::fd::AsRawFd;
use std::path::{Component, Path, PathBuf};

/// Mount the container's root filesystem (idempotent). A `--rm` container's
/// layer is thrown away at its exit, so it is mounted `volatile`.
pub fn mount(ctx: &Context, rec: &ContainerRecord, image: &Image) -> Result<(), LifecycleError> {
    let rootfs = rec.rootfs(ctx);
    if is_mountpoint(&rootfs) {
        return Ok(());
    }
    let snaps = SnapshotStore::open(&ctx.root)?;
    let dir = rec.dir(ctx);
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    // Not under a user namespace: the runtime mounts a second (idmapped)
    // overlay on the same upper and work dirs, and overlayfs refuses any
    // mount over a work dir a volatile mount has marked (EINVAL).
    let volatile = rec.host_config.auto_remove && rec.userns_remap.is_none();
    match snaps.mount_rootfs(image, &upper, &work, &rootfs, volatile) {
        Err(SnapshotError::NotUnpacked { .. }) => {
            let content =
                crate::store::ContentStore::open(&ctx.root).map_err(SnapshotError::from)?;
            snaps.unpack(&content, image)?;
            snaps.mount_rootfs(image, &upper, &work, &rootfs, volatile)?;
        }
        r => r?,
    }
    Ok(())
}

/// Unmount the rootfs, then the volumes the volume store mounted for this
/// container that no other container needs any more.
pub fn unmount(ctx: &Context, rec: &ContainerRecord) -> Result<(), LifecycleError> {
    SnapshotStore::unmount_rootfs(&rec.rootfs(ctx))?;
    unstage_subpaths(&rec.dir(ctx));
    release_volumes(ctx, rec)
}

/// Make each volume available (the local driver may mount it), seed an unused
/// one from the image's content at its destination, and set the mount points'
/// sources to where the volumes are.
pub fn mount_volumes(ctx: &Context, rec: &mut ContainerRecord) -> Result<(), LifecycleError> {
    if !rec.mounts.iter().any(|m| m.r#type == MountKind::Volume) {
        return Ok(());
    }
    let rootfs = rec.rootfs(ctx);
    let staging = rec.dir(ctx).join(SUBPATHS);
    unstage_subpaths(&rec.dir(ctx));
    let vs = VolumeStore::open(ctx)?;
    for (i, m) in rec
        .mounts
        .iter_mut()
        .filter(|m| m.r#type == MountKind::Volume)
        .enumerate()
    {
        let vol = vs.require(&m.name)?;
        // under the store's lock: see `release_volumes`
        let src = {
            let _lock = vs.lock()?;
            vs.mount(&vol)?
        };
        // docker seeds neither a `nocopy` volume nor one mounted by subpath
        // (the image's content belongs at the volume's root).
        if !vol.seeded && !m.no_copy && m.subpath.is_empty() {
            vs.seed_from(&vol, &rootfs, &m.destination)?;
        }
        let src = if m.subpath.is_empty() {
            src
        } else {
            stage_subpath(&src, &m.name, &m.subpath, &staging.join(i.to_string()))?
        };
        m.source = src.to_string_lossy().into_owned();
    }
    Ok(())
}

/// Where a container's volume subpaths are staged: `<container dir>/subpaths/N`.
const SUBPATHS: &str = "subpaths";

/// Bind `root/sub`, an existing directory reached without a symlink, at
/// `stage` and return `stage` for the runtime to bind. Containers write
/// volumes, so a component checked by path could be swapped for a link to
/// anywhere on the host before the runtime mounts it: the directory is opened
/// once (openat2 beneath the volume, no symlinks) and bound through that fd,
/// so the mount is of what was checked. docker creates nothing, neither does
/// berth.
fn stage_subpath(
    root: &Path,
    volume: &str,
    sub: &str,
    stage: &Path,
) -> Result<PathBuf, LifecycleError> {
    let bad =
        |why: &str| LifecycleError::Invalid(format!("volume {volume:?}: subpath {sub:?} {why}"));
    if !Path::new(sub)
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(bad("must be a relative path inside the volume"));
    }
    let root_fd = fs::open_dir_path(root).map_err(LifecycleError::io("open", root))?;
    let resolve = ResolveFlag::RESOLVE_BENEATH
        | ResolveFlag::RESOLVE_NO_SYMLINKS
        | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    let dir = match fs::openat2(&root_fd, sub, OFlag::O_PATH | OFlag::O_DIRECTORY, resolve) {
        Ok(fd) => fd,
        Err(e) => {
            return Err(match e.raw_os_error() {
                Some(libc::ELOOP) => bad("goes through a symbolic link"),
                Some(libc::ENOENT) => bad("does not exist in the volume"),
                Some(libc::ENOTDIR) => bad("is not a directory"),
                _ => bad(&format!("cannot be opened: {e}")),
            })
        }
    };
    std::fs::create_dir_all(stage).map_err(LifecycleError::io("create", stage))?;
    let via = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    mount::bind(&via, stage, false, false).map_err(LifecycleError::io("mount", stage))?;
    Ok(stage.to_path_buf())
}

/// Unmount and remove the staged subpaths of a container (see `stage_subpath`).
fn unstage_subpaths(container_dir: &Path) {
    let dir = container_dir.join(SUBPATHS);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in rd.flatten() {
        let _ = mount::unmount(&e.path());
        let _ = std::fs::remove_dir(e.path());
    }
    let _ = std::fs::remove_dir(&dir);
}

/// Unmount this container's local-driver volumes (tmpfs, bind, filesystem
/// options) that no other container uses now. "Uses" means its rootfs is
/// mounted: that covers running containers and ones being started, since
/// `start` mounts the rootfs before the volumes. Both sides hold the volume
/// store's lock around the check and the mount, so a volume is never
/// unmounted under a container that has just mounted it.
pub fn release_volumes(ctx: &Context, rec: &ContainerRecord) -> Result<(), LifecycleError> {
    let names: Vec<&str> = rec
        .mounts
        .iter()
        .filter(|m| m.r#type == MountKind::Volume && !m.name.is_empty())
        .map(|m| m.name.as_str())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let vs = VolumeStore::open(ctx)?;
    let mut mounted = Vec::new();
    for n in names {
        if let Some(v) = vs.get(n)? {
            if v.is_driver_mounted() && is_mountpoint(&v.mountpoint) {
                mounted.push(v);
            }
        }
    }
    if mounted.is_empty() {
        return Ok(());
    }
    let _lock = vs.lock()?;
    let store = ContainerStore::open(ctx)?;
    for v in mounted {
        let busy = crate::volume::users(ctx, &v.name)
            .iter()
            .filter(|id| **id != rec.id)
            .any(|id| store.load(id).is_ok_and(|o| is_mountpoint(&o.rootfs(ctx))));
        if !busy {
            vs.unmount(&v)?;
        }
    }
    Ok(())
}
