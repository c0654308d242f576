//! Which user namespace a new container gets: the config file's shared
//! `userns-remap` range, none (`--userns=host`), or a range of its own
//! (`--userns=auto`). The id logic is `spec::userns`; here are the parts
//! that need the store: the allocation lock, the ranges other containers
//! hold, and the image's highest id.
//!
//! Crash safety: a container's range is recorded only in its record, and
//! the record appears by one rename (`ContainerStore::create`) while the
//! allocation lock is held, so a berth killed at any point leaves either a
//! container holding its range or nothing held; `rm` gives the range back
//! by removing the record.

use super::error::LifecycleError;
use super::record::HostConfig;
use super::store::ContainerStore;
use crate::context::Context;
use crate::image::Image;
use crate::snapshot::{SnapshotError, SnapshotStore};
use crate::spec::userns::{self, Mode, Remap};
use crate::store::StoreLock;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn invalid(m: impl Into<String>) -> LifecycleError {
    LifecycleError::Invalid(m.into())
}

/// Parse and check `--userns` before anything is made.
pub fn mode(ctx: &Context, hc: &HostConfig) -> Result<Mode, LifecycleError> {
    let mode = userns::parse_mode(&hc.userns_mode).map_err(|e| invalid(e.to_string()))?;
    let what = match (&mode, &ctx.settings.userns_remap) {
        (Mode::Auto(_), _) => "--userns=auto",
        (Mode::Default, Some(_)) => "userns-remap (config file)",
        _ => return Ok(mode),
    };
    // as docker: the host's devices and network are not a user namespace's
    if hc.privileged {
        return Err(invalid(format!(
            "--privileged cannot be used with {what}: add --userns=host"
        )));
    }
    if hc.network_mode.is_host() {
        return Err(invalid(format!(
            "--network=host cannot be used with {what}: add --userns=host"
        )));
    }
    Ok(mode)
}

/// The config's shared remap range, if one is configured.
fn shared_remap(ctx: &Context) -> Result<Option<Remap>, LifecycleError> {
    let Some(v) = &ctx.settings.userns_remap else {
        return Ok(None);
    };
    let (subuid, subgid) = userns::subid_files();
    userns::resolve(v, &subuid, &subgid)
        .map(Some)
        .map_err(|e| invalid(e.to_string()))
}

/// The remap for a container created with `mode` (None: no user namespace).
/// For `auto`, the returned guard is the allocation lock: hold it until the
/// record is in the store.
pub fn remap(
    ctx: &Context,
    mode: &Mode,
    image: &Image,
) -> Result<(Option<Remap>, Option<StoreLock>), LifecycleError> {
    let auto = match mode {
        Mode::Host => return Ok((None, None)),
        Mode::Default => return Ok((shared_remap(ctx)?, None)),
        Mode::Auto(a) => a,
    };
    let size = match auto.size {
        Some(n) => n,
        None => userns::auto_size(image_max_id(ctx, image)?),
    };
    // The pool: every range of the config's userns-remap user, else berth's.
    let who = match &ctx.settings.userns_remap {
        Some(v) => userns::parse_setting(v).map_err(|e| invalid(e.to_string()))?,
        None => (userns::DEFAULT_USER.into(), userns::DEFAULT_USER.into()),
    };
    let (subuid, subgid) = userns::subid_files();
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| {
            invalid(format!(
                "--userns=auto needs the subordinate ids of {:?} in {}: {e}",
                who.0,
                p.display()
            ))
        })
    };
    let pool_err = |e: crate::spec::SpecError| invalid(format!("--userns=auto: {e}"));
    let upool = userns::find_ranges(&read(&subuid)?, &subuid.display().to_string(), &who.0)
        .map_err(pool_err)?;
    let gpool = userns::find_ranges(&read(&subgid)?, &subgid.display().to_string(), &who.1)
        .map_err(pool_err)?;

    let store = ContainerStore::open(ctx)?;
    let lock = StoreLock::exclusive_file(&store.root().join("containers/.userns.lock"))
        .map_err(|e| invalid(e.to_string()))?;
    let (mut uused, mut gused) = (Vec::new(), Vec::new());
    // The config's shared range stays the remapped containers' even while
    // none exists.
    let shared = shared_remap(ctx)?;
    let others = store.list()?;
    for r in shared
        .iter()
        .chain(others.iter().filter_map(|c| c.userns_remap.as_ref()))
    {
        let (u, g) = userns::held(r);
        uused.extend(u);
        gused.extend(g);
    }
    let r = userns::allocate(auto, size, (&upool, &gpool), (&uused, &gused))
        .map_err(|e| invalid(e.to_string()))?;
    Ok((Some(r), Some(lock)))
}

/// The highest uid or gid the image uses: its files' owners in every layer,
/// and the ids in its /etc/passwd and /etc/group (the top-most layer's).
fn image_max_id(ctx: &Context, image: &Image) -> Result<u32, LifecycleError> {
    let snaps = SnapshotStore::open(&ctx.root)?;
    let dirs = match snaps.lowerdirs(image) {
        Err(SnapshotError::NotUnpacked { .. }) => {
            let content =
                crate::store::ContentStore::open(&ctx.root).map_err(SnapshotError::from)?;
            snaps.unpack(&content, image)?;
            snaps.lowerdirs(image)?
        }
        r => r?,
    };
    let mut max = 0u32;
    for d in &dirs {
        max = max.max(tree_max_id(d));
    }
    for (file, fields) in [("etc/passwd", 2..4), ("etc/group", 2..3)] {
        // the top-most layer that has the file; a symlink is not followed
        // (it could point out of the layer)
        let Some(text) = dirs.iter().find_map(|d| {
            let p = d.join(file);
            let md = std::fs::symlink_metadata(&p).ok()?;
            md.is_file().then(|| std::fs::read_to_string(&p).ok())?
        }) else {
            continue;
        };
        max = max.max(db_max_id(&text, fields));
    }
    Ok(max)
}

/// The highest number in columns `fields` of a passwd/group file, nobody
/// (65534) and the overflow ids aside (as podman: an image's `nobody` does
/// not make every container 64k ids big).
fn db_max_id(text: &str, fields: std::ops::Range<usize>) -> u32 {
    text.lines()
        .flat_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            fields
                .clone()
                .filter_map(move |i| f.get(i).and_then(|v| v.parse::<u32>().ok()))
                .collect::<Vec<_>>()
        })
        .filter(|&id| id < 65534)
        .max()
        .unwrap_or(0)
}

/// The highest owner uid/gid under `dir`, walked without following links.
fn tree_max_id(dir: &Path) -> u32 {
    let mut max = 0u32;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            for id in [md.uid(), md.gid()] {
                if id < 65534 {
                    max = max.max(id);
                }
            }
            if md.is_dir() {
                stack.push(e.path());
            }
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_and_group_ids() {
        let pw = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:1500::/:/bin/false\nnobody:x:65534:65534::/:/bin/false\nbad:x:q:1\n";
        assert_eq!(db_max_id(pw, 2..4), 1500);
        assert_eq!(db_max_id("g:x:2000:\n", 2..3), 2000);
        assert_eq!(db_max_id("", 2..3), 0);
    }
}
