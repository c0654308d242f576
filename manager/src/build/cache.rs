//! The build cache: `<root>/build/cache/<key hex>` maps a step's key (sha256 of
//! the parent image id, the instruction after substitution, the build args in
//! scope and the content digests of its inputs) to the untagged image the step
//! made. The images are ordinary content (layers shared with pulled images);
//! the store's gc keeps what an entry names, and `builder prune` / `image
//! prune` drop the entries so gc can take it.

use crate::image::media;
use crate::store::{ContentStore, Digest, Hasher, ImageRecord};
use serde::{Deserialize, Serialize};
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

/// The entry for `key`, when its config and manifest are still stored.
pub fn get(root: &Path, content: &ContentStore, key: &Digest) -> Option<Entry> {
    let data = std::fs::read(dir(root).join(key.hex())).ok()?;
    let e: Entry = serde_json::from_slice(&data).ok()?;
    (content.contains(&e.config) && content.contains(&e.manifest)).then_some(e)
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
