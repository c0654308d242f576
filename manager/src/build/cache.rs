//! The build cache: `<root>/build/cache/<key hex>` maps a step's key (sha256 of
//! the parent image id, the instruction after substitution, the build args in
//! scope and the content digests of its inputs) to the untagged image the step
//! made. The images are ordinary content (layers shared with pulled images);
//! the store's gc keeps what an entry names, and `builder prune` / `image
//! prune` drop the entries so gc can take it.

use crate::image::media;
use crate::store::{ContentStore, Digest, Hasher, ImageRecord};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub config: Digest,
    pub manifest: Digest,
    pub manifest_size: u64,
}

impl Entry {
    /// The entry as an (unnamed) image record, to load it.
    pub fn record(&self) -> ImageRecord {
        ImageRecord {
            name: crate::store::images::dangling_name(&self.config),
            manifest: self.manifest.clone(),
            manifest_media_type: media::OCI_MANIFEST.into(),
            manifest_size: self.manifest_size,
            config: self.config.clone(),
            created: String::new(),
        }
    }
}

pub fn dir(root: &Path) -> PathBuf {
    root.join("build/cache")
}

/// A step's key from its parts (each length-prefixed, so parts cannot run together).
pub fn key(parts: &[&str]) -> Digest {
    let mut h = Hasher::new();
    for p in parts {
        h.update(format!("{}:", p.len()).as_bytes());
        h.update(p.as_bytes());
    }
    h.finish()
}

/// The entry for `key`, when its config and manifest are still stored. A hit
/// marks the entry used now (its file's mtime: what `builder prune --filter
/// until=` and `--keep-storage` go by).
pub fn get(root: &Path, content: &ContentStore, key: &Digest) -> Option<Entry> {
    let path = dir(root).join(key.hex());
    let data = std::fs::read(&path).ok()?;
    let e: Entry = serde_json::from_slice(&data).ok()?;
    if !(content.contains(&e.config) && content.contains(&e.manifest)) {
        return None;
    }
    if let Ok(f) = std::fs::File::options().write(true).open(&path) {
        // Best effort: a stale time only makes the entry look older to prune.
        let _ = f.set_modified(std::time::SystemTime::now());
    }
    Some(e)
}

pub fn put(root: &Path, key: &Digest, e: &Entry) -> Result<(), crate::store::StoreError> {
    let data = serde_json::to_vec(e).expect("serializable");
    let d = dir(root);
    std::fs::create_dir_all(&d).map_err(crate::store::StoreError::io("create", &d))?;
    // Not fsynced: a lost entry is only a cache miss.
    Ok(crate::store::replace_file(
        &d.join(key.hex()),
        &data,
        false,
    )?)
}

/// Every entry (for gc: what they name stays).
pub fn entries(root: &Path) -> Vec<Entry> {
    let Ok(rd) = std::fs::read_dir(dir(root)) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|d| serde_json::from_slice(&d).ok())
        .collect()
}

/// Drop every entry; returns how many there were.
pub fn clear(root: &Path) -> Result<usize, crate::store::StoreError> {
    let d = dir(root);
    let n = match std::fs::read_dir(&d) {
        Ok(rd) => rd.flatten().count(),
        Err(_) => 0,
    };
    let to = root.join("build").join(crate::store::temp_name("cache-rm"));
    match std::fs::rename(&d, &to) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(crate::store::StoreError::io("rename", &d)(e)),
    }
    crate::store::remove_tree(&to).map_err(crate::store::StoreError::io("remove", &to))?;
    crate::store::clean_temps(&root.join("build"));
    Ok(n)
}

/// What `builder prune` removes.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Every entry (`-a`); otherwise only the dangling ones: those whose
    /// result is not a stored image nor the last step of one (the steps
    /// before a build's last).
    pub all: bool,
    /// Only entries last used before this time (Unix seconds; `--filter until=`).
    pub until: Option<i64>,
    /// Stop once the cache's layers take at most this many bytes (`--keep-storage`),
    /// removing the least recently used entries first.
    pub keep_storage: Option<u64>,
}

/// An entry on disk with what prune needs to know of it.
struct Found {
    path: PathBuf,
    /// Last used, since the epoch.
    used: std::time::Duration,
    /// The image the step made (None: unreadable).
    config: Option<Digest>,
    /// Its layers (digest, size).
    layers: Vec<(Digest, u64)>,
}

fn layers_of(content: &ContentStore, manifest: &Digest) -> Vec<(Digest, u64)> {
    let Ok(data) = content.read(manifest) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) else {
        return Vec::new();
    };
    v["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            let d: Digest = l["digest"].as_str()?.parse().ok()?;
            Some((d, l["size"].as_u64().unwrap_or(0)))
        })
        .collect()
}

/// Drop the entries `opts` selects; returns how many. The blobs and snapshots
/// only they kept are then the store gc's to collect.
pub fn prune(root: &Path, opts: &PruneOptions) -> Result<usize, crate::store::StoreError> {
    if opts.all && opts.until.is_none() && opts.keep_storage.is_none() {
        return clear(root);
    }
    let content = ContentStore::open(root)?;
    let images = crate::store::ImageStore::open(root)?;
    // Layers of stored images are not the cache's to count; an entry whose
    // result is a stored image is not dangling.
    let mut image_layers: HashSet<Digest> = HashSet::new();
    let mut image_ids: HashSet<Digest> = HashSet::new();
    for rec in images.list()? {
        image_layers.extend(layers_of(&content, &rec.manifest).into_iter().map(|l| l.0));
        // A built image is its last step's result plus the inline cache records.
        if let Some(last) = content
            .read(&rec.config)
            .ok()
            .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
            .and_then(|v| super::inline_cache::last_of(&v))
        {
            image_ids.insert(last);
        }
        image_ids.insert(rec.config);
    }
    let mut found: Vec<Found> = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir(root)) {
        for e in rd.flatten() {
            let path = e.path();
            let Ok(data) = std::fs::read(&path) else {
                continue;
            };
            let used = e
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .unwrap_or_default();
            let (config, layers) = match serde_json::from_slice::<Entry>(&data) {
                Ok(en) => (Some(en.config), layers_of(&content, &en.manifest)),
                // Unreadable: nothing to keep it for.
                Err(_) => (None, Vec::new()),
            };
            found.push(Found {
                path,
                used,
                config,
                layers,
            });
        }
    }
    // The least recently used first.
    found.sort_by_key(|f| f.used);
    let candidate = |f: &Found| {
        opts.until.is_none_or(|u| (f.used.as_secs() as i64) < u)
            && (opts.all || f.config.as_ref().is_none_or(|c| !image_ids.contains(c)))
    };
    // How many entries name each cache-only layer, and their total size.
    let mut refs: HashMap<Digest, (usize, u64)> = HashMap::new();
    for f in &found {
        for (d, size) in &f.layers {
            if !image_layers.contains(d) {
                refs.entry(d.clone()).or_insert((0, *size)).0 += 1;
            }
        }
    }
    let mut total: u64 = refs.values().map(|(_, s)| *s).sum();
    let mut removed = 0;
    for f in &found {
        if opts.keep_storage.is_some_and(|k| total <= k) {
            break;
        }
        if !candidate(f) {
            continue;
        }
        match std::fs::remove_file(&f.path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(crate::store::StoreError::io("remove", &f.path)(e)),
        }
        for (d, _) in &f.layers {
            if let Some(r) = refs.get_mut(d) {
                r.0 -= 1;
                if r.0 == 0 {
                    total = total.saturating_sub(r.1);
                }
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_entries() {
        assert_ne!(key(&["ab", "c"]), key(&["a", "bc"]));
        let root = std::env::temp_dir().join(format!("berth-bcache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let cs = ContentStore::open(&root).unwrap();
        let c = cs.put(b"{}").unwrap();
        let m = cs.put(b"{\"m\":1}").unwrap();
        let k = key(&["x"]);
        assert!(get(&root, &cs, &k).is_none());
        let e = Entry {
            config: c.clone(),
            manifest: m,
            manifest_size: 7,
        };
        put(&root, &k, &e).unwrap();
        assert_eq!(get(&root, &cs, &k), Some(e.clone()));
        assert_eq!(entries(&root).len(), 1);
        cs.delete(&c).unwrap();
        assert!(
            get(&root, &cs, &k).is_none(),
            "an entry whose blobs are gone is a miss"
        );
        assert_eq!(clear(&root).unwrap(), 1);
        assert!(entries(&root).is_empty());
        let _ = std::fs::remove_dir_all(&root);
    }
}
