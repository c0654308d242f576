//! Image names: `<root>/images.json`, a list of records (name -> manifest and
//! config digests). Rewritten whole (temp + rename) under `<root>/images.lock`,
//! so readers never see a half-written file and concurrent writers never lose
//! each other's updates.

use super::digest::Digest;
use super::lock::StoreLock;
use super::{atomic_write, StoreError};
use crate::image::reference::normalize;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Normalized, e.g. "docker.io/library/busybox:latest", "127.0.0.1:5000/app:1".
    pub name: String,
    pub manifest: Digest,
    pub manifest_media_type: String,
    pub manifest_size: u64,
    /// The image id.
    pub config: Digest,
    /// RFC 3339, when stored.
    pub created: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ImagesFile {
    images: Vec<ImageRecord>,
}

#[derive(Debug, Clone)]
pub struct ImageStore {
    path: PathBuf,
    lock: PathBuf,
}

impl ImageStore {
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root).map_err(StoreError::io("create", root))?;
        Ok(ImageStore {
            path: root.join("images.json"),
            lock: root.join("images.lock"),
        })
    }

    fn load(&self) -> Result<ImagesFile, StoreError> {
        match std::fs::read(&self.path) {
            Ok(data) => serde_json::from_slice(&data).map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                why: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ImagesFile::default()),
            Err(e) => Err(StoreError::io("read", &self.path)(e)),
        }
    }

    fn save(&self, mut f: ImagesFile) -> Result<(), StoreError> {
        f.images.sort_by(|a, b| a.name.cmp(&b.name));
        let data = serde_json::to_vec_pretty(&f).expect("serializable");
        crate::sys::fault::crash_point("image-index");
        atomic_write(&self.path, &data)
    }

    /// Read-modify-write under the images lock.
    pub fn update<T>(
        &self,
        f: impl FnOnce(&mut Vec<ImageRecord>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _l = StoreLock::exclusive_file(&self.lock)?;
        super::clean_temps(self.path.parent().unwrap_or(Path::new(".")));
        let mut file = self.load()?;
        let out = f(&mut file.images)?;
        self.save(file)?;
        Ok(out)
    }

    /// Store `r`, replacing any record with the same name. The image the name
    /// pointed to before keeps a dangling record (`<none>`, as docker shows it)
    /// if nothing else names it; a dangling `r` is dropped when its image
    /// already has a name, and a name replaces its image's dangling record.
    pub fn put(&self, r: ImageRecord) -> Result<(), StoreError> {
        self.update(|all| {
            if is_dangling_name(&r.name) {
                if !all.iter().any(|i| i.config == r.config) {
                    all.push(r);
                }
                return Ok(());
            }
            if let Some(pos) = all.iter().position(|i| i.name == r.name) {
                let old = all.remove(pos);
                let still_named =
                    old.config == r.config || all.iter().any(|i| i.config == old.config);
                if !still_named {
                    all.push(ImageRecord {
                        name: dangling_name(&old.config),
                        ..old
                    });
                }
            }
            all.retain(|i| !(is_dangling_name(&i.name) && i.config == r.config));
            all.push(r);
            Ok(())
        })
    }

    /// The record with this (normalized or normalizable) name.
    pub fn get(&self, name: &str) -> Result<Option<ImageRecord>, StoreError> {
        let name = key(name)?;
        Ok(self.load()?.images.into_iter().find(|i| i.name == name))
    }

    pub fn list(&self) -> Result<Vec<ImageRecord>, StoreError> {
        Ok(self.load()?.images)
    }

    #[allow(dead_code)] // contract API; rmi edits the list under one lock instead
    pub fn remove(&self, name: &str) -> Result<Option<ImageRecord>, StoreError> {
        let name = key(name)?;
        self.update(|imgs| {
            let pos = imgs.iter().position(|i| i.name == name);
            Ok(pos.map(|p| imgs.remove(p)))
        })
    }

    /// By name (normalized), else by full or short image id (config digest,
    /// with or without `sha256:`). A name that is not a valid reference is
    /// still tried as an id.
    pub fn resolve(&self, name_or_id: &str) -> Result<ImageRecord, StoreError> {
        let imgs = self.load()?.images;
        if let Ok(name) = normalize(name_or_id) {
            if let Some(r) = imgs.iter().find(|i| i.name == name) {
                return Ok(r.clone());
            }
        }
        let hex = name_or_id.strip_prefix("sha256:").unwrap_or(name_or_id);
        let is_hex = !hex.is_empty()
            && hex.len() <= 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if is_hex {
            let mut found: Vec<&ImageRecord> = imgs
                .iter()
                .filter(|i| i.config.hex().starts_with(hex))
                .collect();
            found.sort_by(|a, b| a.name.cmp(&b.name));
            found.dedup_by(|a, b| a.config == b.config);
            match found.len() {
                0 => {}
                1 => return Ok(found[0].clone()),
                _ => return Err(StoreError::Ambiguous(name_or_id.to_string())),
            }
        }
        Err(StoreError::ImageNotFound(name_or_id.to_string()))
    }

    /// Every record of image id `config`.
    pub fn by_id(&self, config: &Digest) -> Result<Vec<ImageRecord>, StoreError> {
        Ok(self
            .load()?
            .images
            .into_iter()
            .filter(|i| &i.config == config)
            .collect())
    }
}

/// The stored form of a name: normalized, or a dangling image's placeholder as is.
fn key(name: &str) -> Result<String, StoreError> {
    if is_dangling_name(name) {
        Ok(name.to_string())
    } else {
        Ok(normalize(name)?)
    }
}

/// A name for an image that has none (docker's `<none>:<none>`): dangling images
/// are kept under `<none>@<config digest>` so that they stay listed and removable.
pub fn dangling_name(config: &Digest) -> String {
    format!("<none>@{config}")
}

pub fn is_dangling_name(name: &str) -> bool {
    name.starts_with("<none>@")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record named `name` of the image whose config is `cfg`.
    pub(crate) fn rec(name: &str, cfg: &[u8]) -> ImageRecord {
        ImageRecord {
            name: normalize(name).unwrap(),
            manifest: Digest::sha256(name.as_bytes()),
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            manifest_size: 10,
            config: Digest::sha256(cfg),
            created: super::super::now_rfc3339(),
        }
    }

    #[test]
    fn put_get_resolve_remove() {
        let root = std::env::temp_dir().join(format!("berth-images-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let s = ImageStore::open(&root).unwrap();
        assert!(s.list().unwrap().is_empty());
        s.put(rec("busybox", b"a")).unwrap();
        s.put(rec("127.0.0.1:5000/app:1", b"b")).unwrap();
        s.put(rec("busybox:other", b"a")).unwrap();
        assert_eq!(s.list().unwrap().len(), 3);
        let r = s.get("busybox").unwrap().unwrap();
        assert_eq!(r.name, "docker.io/library/busybox:latest");
        assert_eq!(s.resolve("docker.io/library/busybox").unwrap(), r);
        let id = Digest::sha256(b"b");
        assert_eq!(s.resolve(id.as_str()).unwrap().name, "127.0.0.1:5000/app:1");
        assert_eq!(
            s.resolve(&id.hex()[..12]).unwrap().name,
            "127.0.0.1:5000/app:1"
        );
        // Two names of one id still resolve by id.
        let a = Digest::sha256(b"a");
        assert_eq!(s.resolve(&a.hex()[..6]).unwrap().config, a);
        assert!(matches!(
            s.resolve("nosuch"),
            Err(StoreError::ImageNotFound(_))
        ));
        // Replace by name.
        s.put(rec("busybox", b"c")).unwrap();
        assert_eq!(
            s.get("busybox").unwrap().unwrap().config,
            Digest::sha256(b"c")
        );
        // "a" is still named busybox:other: no dangling record for it.
        assert_eq!(s.list().unwrap().len(), 3);
        s.put(rec("busybox:other", b"d")).unwrap();
        let dangling = dangling_name(&Digest::sha256(b"a"));
        assert!(s.get(&dangling).unwrap().is_some());
        s.put(rec("busybox:other", b"a")).unwrap();
        assert!(s.get(&dangling).unwrap().is_none());
        s.remove("busybox:other").unwrap();
        assert!(s.remove("busybox").unwrap().is_some());
        assert!(s.remove("busybox").unwrap().is_none());
        assert_eq!(s.list().unwrap().len(), 2);
        let _ = std::fs::remove_dir_all(&root);
    }
}
