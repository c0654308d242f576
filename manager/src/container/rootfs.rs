//! The container's root filesystem (an overlay of its image's snapshots) and
//! its volumes: mounted by `start`, given back by `on_exit` and `remove`.

use super::error::LifecycleError;
use super::record::{ContainerRecord, MountKind};
use super::store::ContainerStore;
use crate::context::Context;
use crate::image::Image;
use crate::snapshot::{SnapshotError, SnapshotStore};
use crate::volume::{is_mountpoint, VolumeStore};

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
    let volatile = rec.host_config.auto_remove;
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
    let vs = VolumeStore::open(ctx)?;
    for m in rec
        .mounts
        .iter_mut()
        .filter(|m| m.r#type == MountKind::Volume)
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
            subpath_in(&src, &m.name, &m.subpath)?
        };
        m.source = src.to_string_lossy().into_owned();
    }
    Ok(())
}

/// `root/sub`, an existing directory reached without a symlink: a link in
/// the volume (which containers write) could otherwise point the mount
/// anywhere on the host. docker creates nothing, neither does berth.
fn subpath_in(
    root: &std::path::Path,
    volume: &str,
    sub: &str,
) -> Result<std::path::PathBuf, LifecycleError> {
    let bad =
        |why: &str| LifecycleError::Invalid(format!("volume {volume:?}: subpath {sub:?} {why}"));
    let mut p = root.to_path_buf();
    for c in std::path::Path::new(sub).components() {
        match c {
            std::path::Component::Normal(n) => p.push(n),
            std::path::Component::CurDir => continue,
            _ => return Err(bad("must be a relative path inside the volume")),
        }
        match std::fs::symlink_metadata(&p) {
            Ok(md) if md.file_type().is_symlink() => {
                return Err(bad("goes through a symbolic link"))
            }
            Ok(_) => {}
            Err(_) => return Err(bad("does not exist in the volume")),
        }
    }
    if !p.is_dir() {
        return Err(bad("is not a directory"));
    }
    Ok(p)
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
