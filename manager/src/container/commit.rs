//! A container's filesystem as data: its changes (`diff`), its upper layer as
//! a new image over its own (`commit`), and its whole root as a tar
//! (`export`). Lock: the container's (the caller's `Locked`), so no start,
//! stop or removal changes the layer meanwhile; `commit` pauses a running
//! container while the layer is read unless told not to (docker's `-p`).

use super::error::LifecycleError;
use super::lock::Locked;
use super::record::ContainerRecord;
use super::{image, pause, rootfs, state};
use crate::context::Context;
use crate::image::media;
use crate::snapshot::diff::{self, Change, DiffError};
use crate::snapshot::SnapshotStore;
use crate::store::{ContentStore, ImageRecord, StoreError, StoreLock};
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Diff(#[from] DiffError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    ImageResolve(#[from] super::image::ImageError),
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    #[error("invalid reference format: {0}")]
    Reference(#[from] crate::image::reference::ReferenceError),
    #[error("writing the archive: {0}")]
    Export(std::io::Error),
}

/// What `commit` is asked besides the container.
#[derive(Debug, Default, Clone)]
pub struct CommitOptions {
    /// The new image's name (dangling when None).
    pub reference: Option<String>,
    pub message: Option<String>,
    pub author: Option<String>,
    /// Dockerfile instructions applied to the config (`CMD ["sh"]`, `ENV A=b`).
    pub changes: Vec<String>,
    /// Pause a running container while its layer is read.
    pub pause: bool,
}

fn upper_dir(ctx: &Context, rec: &ContainerRecord) -> PathBuf {
    rec.dir(ctx).join("upper")
}

/// The container's changes against its image (nothing for a container never
/// started: it has no upper directory yet).
pub fn changes(ctx: &Context, rec: &ContainerRecord) -> Result<Vec<Change>, CommitError> {
    let upper = upper_dir(ctx, rec);
    if !upper.is_dir() {
        return Ok(Vec::new());
    }
    let img = image::load(ctx, &rec.image)?;
    let lowers = SnapshotStore::open(&ctx.root)?.lowerdirs(&img)?;
    Ok(diff::changes(&upper, &lowers)?)
}

/// The image config a commit records: the image's, with the container's own
/// config (what `run` was given, merged with the image's at create) as
/// docker's daemon takes it, then the changes.
fn committed_config(
    base: &Value,
    rec: &ContainerRecord,
    opts: &CommitOptions,
    diff_id: &crate::store::Digest,
    created: &str,
) -> Result<Value, CommitError> {
    let mut cfg = base.clone();
    let c = &rec.config;
    let mut run = base.get("config").cloned().unwrap_or_else(|| json!({}));
    if !run.is_object() {
        run = json!({});
    }
    let set = |run: &mut Value, k: &str, v: Value| {
        if let Some(o) = run.as_object_mut() {
            o.insert(k.to_string(), v);
        }
    };
    set(&mut run, "Env", json!(c.env));
    set(&mut run, "Cmd", json!(c.cmd));
    set(&mut run, "Entrypoint", json!(c.entrypoint));
    set(&mut run, "WorkingDir", json!(c.working_dir));
    set(&mut run, "User", json!(c.user));
    set(&mut run, "Labels", json!(c.labels));
    if let Some(s) = &c.stop_signal {
        set(&mut run, "StopSignal", json!(s));
    }
    if let Some(h) = &c.healthcheck {
        set(
            &mut run,
            "Healthcheck",
            serde_json::to_value(h).unwrap_or(Value::Null),
        );
    }
    if let Some(v) = &c.volumes {
        set(&mut run, "Volumes", json!(v));
    }
    for ch in &opts.changes {
        crate::image::config::apply_change(&mut run, ch)?;
    }
    cfg["config"] = run;
    cfg["created"] = json!(created);
    cfg["container"] = json!(rec.id);
    if let Some(a) = &opts.author {
        cfg["author"] = json!(a);
    }
    // docker keeps the message as the image's comment too (`inspect`'s Comment).
    cfg["comment"] = json!(opts.message.clone().unwrap_or_default());
    if !cfg["rootfs"]["diff_ids"].is_array() {
        cfg["rootfs"] = json!({"type": "layers", "diff_ids": []});
    }
    if let Some(a) = cfg["rootfs"]["diff_ids"].as_array_mut() {
        a.push(json!(diff_id.to_string()));
    }
    let mut h = json!({"created": created, "created_by": shell_line(rec)});
    if let Some(a) = &opts.author {
        h["author"] = json!(a);
    }
    if let Some(m) = &opts.message {
        h["comment"] = json!(m);
    }
    if !cfg["history"].is_array() {
        cfg["history"] = json!([]);
    }
    if let Some(a) = cfg["history"].as_array_mut() {
        a.push(h);
    }
    Ok(cfg)
}

fn shell_line(rec: &ContainerRecord) -> String {
    std::iter::once(rec.path.as_str())
        .chain(rec.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Commit the container's upper layer as a new image over its image.
pub fn commit(ctx: &Context, c: &Locked, opts: &CommitOptions) -> Result<ImageRecord, CommitError> {
    let name = opts
        .reference
        .as_deref()
        .map(crate::image::reference::normalize)
        .transpose()?;
    let img = image::load(ctx, &c.image)?;
    let st = state::state(ctx, c);
    let paused_here = opts.pause && st.running && !st.paused;
    if paused_here {
        pause(ctx, c)?;
    }
    let layer = (|| -> Result<_, CommitError> {
        // Shared: other writers may run alongside; gc (exclusive) may not.
        let _lock = StoreLock::shared(&ctx.root)?;
        let content = ContentStore::open(&ctx.root)?;
        let upper = upper_dir(ctx, c);
        std::fs::create_dir_all(&upper).map_err(|e| {
            CommitError::Diff(DiffError::Read {
                path: upper.clone(),
                source: e,
            })
        })?;
        Ok((diff::write_layer(&content, &upper)?, content))
    })();
    if paused_here {
        // The layer is read (or failed): the container runs on either way.
        super::unpause(ctx, c)?;
    }
    let ((digest, size), content) = layer?;
    let created = crate::store::now_rfc3339();
    let config = committed_config(&img.config_json, c, opts, &digest, &created)?;
    let config_bytes = serde_json::to_vec(&config).expect("serializable");
    let config_digest = content.put(&config_bytes)?;
    let mut layers: Vec<Value> = img
        .manifest
        .layers()
        .iter()
        .map(|l| serde_json::to_value(l).unwrap_or(Value::Null))
        .collect();
    for l in &mut layers {
        // The new manifest is OCI: docker's layer types get their OCI names.
        let oci = match l["mediaType"].as_str() {
            Some(media::DOCKER_LAYER_GZIP) => Some(media::OCI_LAYER_GZIP),
            Some(media::DOCKER_LAYER) => Some(media::OCI_LAYER),
            _ => None,
        };
        if let Some(t) = oci {
            l["mediaType"] = json!(t);
        }
    }
    layers.push(json!({"mediaType": media::OCI_LAYER, "digest": digest.to_string(), "size": size}));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "digest": config_digest.to_string(), "size": config_bytes.len()},
        "layers": layers,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("serializable");
    let manifest_digest = content.put(&manifest_bytes)?;
    let record = ImageRecord {
        name: name.unwrap_or_else(|| crate::store::images::dangling_name(&config_digest)),
        manifest: manifest_digest,
        manifest_media_type: media::OCI_MANIFEST.into(),
        manifest_size: manifest_bytes.len() as u64,
        config: config_digest,
        created,
    };
    crate::archive::store_record(&ctx.root, record.clone())?;
    let name = crate::image::reference::familiar(&record.name);
    crate::events::container(
        ctx,
        c,
        "commit",
        &[
            ("comment", opts.message.clone().unwrap_or_default()),
            ("imageName", name),
        ],
    );
    Ok(record)
}

/// Write the container's whole root filesystem as a tar to `out`. A stopped
/// container's root is mounted for the while and unmounted after.
pub fn export(ctx: &Context, c: &Locked, out: impl std::io::Write) -> Result<(), CommitError> {
    let root = c.rootfs(ctx);
    let mounted_here = !crate::sys::mountinfo::is_mountpoint(&root);
    if mounted_here {
        let img = image::load(ctx, &c.image)?;
        rootfs::mount(ctx, c, &img)?;
    }
    let res = (|| {
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        tar.append_dir_all(".", &root)?;
        tar.finish()
    })();
    if mounted_here {
        crate::snapshot::SnapshotStore::unmount_rootfs(&root)?;
    }
    res.map_err(CommitError::Export)
}
