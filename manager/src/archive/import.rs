//! `berth import`: a root filesystem tarball (plain, gzip or zstd) becomes a
//! one-layer image with an OCI manifest and config.

use super::ArchiveError;
use crate::image::media::{self, Compression};
use crate::image::reference::normalize;
use crate::snapshot::extract::{decompressor, HashRef};
use crate::store::images::dangling_name;
use crate::store::{now_rfc3339, ContentStore, Hasher, ImageRecord};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

/// Options of an import beyond the tarball itself.
#[derive(Debug, Default, Clone)]
pub struct ImportOptions {
    /// Dockerfile-style changes (`CMD ["sh"]`, `ENV A=b`, ...).
    pub changes: Vec<String>,
    /// The history comment.
    pub message: Option<String>,
    /// Where the tarball came from, for the history comment.
    pub source: String,
    pub platform_os: Option<String>,
    pub platform_arch: Option<String>,
}

/// A reader that copies everything it reads into a writer (the raw blob).
struct Tee<R, W> {
    inner: R,
    out: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Import `input` as an image named `name` (dangling when None). The blob is
/// stored as given (compressed or not); its diff_id is computed on the way.
pub fn import_rootfs(
    root: &Path,
    input: impl Read,
    name: Option<&str>,
    opts: &ImportOptions,
) -> Result<ImageRecord, ArchiveError> {
    let name = name.map(normalize).transpose()?;
    let named = name.is_some();
    // Shared: other writers may run alongside; gc (exclusive) may not.
    let _lock = crate::store::StoreLock::shared(root)?;
    let content = ContentStore::open(root)?;
    content.clean_ingest();
    let mut blob = content.temp_blob()?;
    let mut dhash = Hasher::new();
    let mut dcount = 0u64;
    let compression;
    {
        let mut raw = BufReader::with_capacity(
            1 << 20,
            Tee {
                inner: input,
                out: &mut blob,
            },
        );
        let head = raw.fill_buf().map_err(ArchiveError::read("the tarball"))?;
        compression = Compression::sniff(head);
        let plain = decompressor(raw).map_err(ArchiveError::read("the tarball"))?;
        let mut hashed = HashRef {
            inner: plain,
            hasher: &mut dhash,
            count: &mut dcount,
        };
        // Validate the tar structure as it streams by (a non-tar is refused now,
        // not at the first `run`).
        let mut ar = tar::Archive::new(&mut hashed);
        let mut entries = 0usize;
        for e in ar.entries().map_err(ArchiveError::read("the tarball"))? {
            let mut e = e.map_err(ArchiveError::read("the tarball"))?;
            std::io::copy(&mut e, &mut std::io::sink())
                .map_err(ArchiveError::read("the tarball"))?;
            entries += 1;
        }
        std::io::copy(&mut hashed, &mut std::io::sink())
            .map_err(ArchiveError::read("the tarball"))?;
        if entries == 0 && dcount == 0 {
            return Err(ArchiveError::Format("the tarball is empty".into()));
        }
    }
    let (layer, layer_size) = blob.commit()?;
    let diff_id = dhash.finish();
    let created = now_rfc3339();
    let mut cfg = json!({});
    for c in &opts.changes {
        crate::image::config::apply_change(&mut cfg, c)?;
    }
    let mut history = json!({"created": created, "created_by": "import"});
    let comment = opts
        .message
        .clone()
        .unwrap_or_else(|| format!("Imported from {}", opts.source));
    history["comment"] = Value::String(comment);
    let config = json!({
        "architecture": opts.platform_arch.as_deref().unwrap_or("amd64"),
        "os": opts.platform_os.as_deref().unwrap_or("linux"),
        "created": created,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [history],
    });
    let config_bytes = serde_json::to_vec(&config).expect("serializable");
    let config_digest = content.put(&config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {
            "mediaType": media::OCI_CONFIG,
            "digest": config_digest.to_string(),
            "size": config_bytes.len(),
        },
        "layers": [{
            "mediaType": compression.oci_layer_type(),
            "digest": layer.to_string(),
            "size": layer_size,
        }],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("serializable");
    let manifest_digest = content.put(&manifest_bytes)?;
    let record = ImageRecord {
        name: name.unwrap_or_else(|| dangling_name(&config_digest)),
        manifest: manifest_digest,
        manifest_media_type: media::OCI_MANIFEST.into(),
        manifest_size: manifest_bytes.len() as u64,
        config: config_digest,
        created,
    };
    crate::archive::store_record(root, record.clone())?;
    // docker's: the name is a tag event, then the import (named by the id).
    let id = record.config.as_str();
    if named {
        let familiar = crate::image::reference::familiar(&record.name);
        crate::events::image(root, "tag", id, &familiar);
    }
    crate::events::image(root, "import", id, id);
    Ok(record)
}
