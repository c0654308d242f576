//! Garbage collection: blobs and snapshots that no image record (and no
//! container's image) references are removed. The caller holds the store lock
//! exclusively, so no writer adds content that is not yet referenced meanwhile.

use crate::image::{chain_ids, Image};
use crate::snapshot::SnapshotStore;
use crate::store::{ContentStore, Digest, ImageStore, StoreError, StoreLock};
use std::collections::HashSet;
use std::path::Path;

#[derive(Debug, Default, Clone)]
pub struct GcStats {
    pub blobs: usize,
    pub snapshots: usize,
    /// Bytes of blobs removed.
    pub bytes: u64,
}

/// Image ids (config digests) used by containers: `containers/<id>/container.json`
/// with an `image` field. Read defensively: unreadable records are skipped.
pub fn used_image_ids(root: &Path) -> HashSet<Digest> {
    image_users(root).into_keys().collect()
}

/// Image ids used by containers, each with one container using it (the id
/// docker's conflict message names).
pub fn image_users(root: &Path) -> std::collections::HashMap<Digest, String> {
    let mut out = std::collections::HashMap::new();
    let Ok(rd) = std::fs::read_dir(root.join("containers")) else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(data) = std::fs::read(e.path().join("container.json")) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) else {
            continue;
        };
        if let Some(id) = v.get("image").and_then(|i| i.as_str()) {
            let full = if id.starts_with("sha256:") {
                id.to_string()
            } else {
                format!("sha256:{id}")
            };
            if let Ok(d) = full.parse() {
                out.insert(d, e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// Remove unreferenced blobs and snapshots. `_lock` proves the caller holds
/// the store lock exclusively.
pub fn collect(root: &Path, _lock: &StoreLock) -> Result<GcStats, StoreError> {
    let content = ContentStore::open(root)?;
    let images = ImageStore::open(root)?;
    let snaps = SnapshotStore::open(root).map_err(|e| StoreError::Corrupt {
        path: root.join("snapshots"),
        why: e.to_string(),
    })?;
    let mut blobs: HashSet<Digest> = HashSet::new();
    let mut chains: HashSet<Digest> = HashSet::new();
    // The build cache's images are kept until `builder prune` / `image prune`
    // drop its entries.
    let mut records = images.list()?;
    records.extend(
        crate::build::cache::entries(root)
            .iter()
            .map(|e| e.record()),
    );
    for rec in records {
        blobs.insert(rec.manifest.clone());
        blobs.insert(rec.config.clone());
        // An index keeps the manifests it lists that are stored.
        if let Ok(data) = content.read(&rec.manifest) {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) {
                for m in v["manifests"].as_array().into_iter().flatten() {
                    if let Some(d) = m["digest"].as_str().and_then(|d| d.parse().ok()) {
                        blobs.insert(d);
                    }
                }
            }
        }
        match Image::load(&content, rec.clone()) {
            Ok(img) => {
                if let Ok(cd) = Digest::try_from(img.manifest.config().digest()) {
                    blobs.insert(cd);
                }
                blobs.extend(img.layer_digests().unwrap_or_default());
                chains.extend(img.chain_ids().unwrap_or_default());
            }
            Err(e) => eprintln!("berth: gc: skipping image {}: {e}", rec.name),
        }
    }
    // Containers keep their image's config and snapshots even without a name.
    for id in used_image_ids(root) {
        blobs.insert(id.clone());
        if let Ok(data) = content.read(&id) {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) {
                let diff_ids: Vec<Digest> = v["rootfs"]["diff_ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d.as_str()?.parse().ok())
                    .collect();
                chains.extend(chain_ids(&diff_ids));
            }
        }
    }
    let mut stats = GcStats::default();
    for d in content.list()? {
        if !blobs.contains(&d) {
            stats.bytes += content.size(&d).unwrap_or(0);
            content.delete(&d)?;
            stats.blobs += 1;
        }
    }
    for c in snaps.list().map_err(|e| StoreError::Corrupt {
        path: root.join("snapshots"),
        why: e.to_string(),
    })? {
        if !chains.contains(&c) {
            snaps.remove(&c).map_err(|e| StoreError::Corrupt {
                path: snaps.dir(&c),
                why: e.to_string(),
            })?;
            stats.snapshots += 1;
        }
    }
    snaps.clean();
    content.clean_ingest();
    Ok(stats)
}
