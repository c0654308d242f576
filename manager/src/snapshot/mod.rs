//! Snapshots: each layer extracted once into `snapshots/<chainid hex>/fs`,
//! shared by every image that has it, and overlay root filesystems built from
//! them. A snapshot is extracted into a temporary directory and renamed into
//! place, so a kill -9 never leaves a half snapshot under a real name.

pub mod diff;
pub mod extract;

use crate::image::{chain_ids, Image, ImageError};
use crate::store::{clean_temps, temp_name, ContentStore, Digest, StoreError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("layer {layer}: refusing to extract {entry:?}: {why}")]
    Unsafe {
        layer: Digest,
        entry: String,
        why: String,
    },
    #[error("layer {layer}: extracting {entry:?}: {source}")]
    Extract {
        layer: Digest,
        entry: String,
        source: std::io::Error,
    },
    #[error("layer {layer}: reading the layer: {source}")]
    LayerRead {
        layer: Digest,
        source: std::io::Error,
    },
    #[error("layer {layer} is corrupt: its content has digest {got}")]
    BlobCorrupt { layer: Digest, got: Digest },
    #[error(
        "layer {layer}: uncompressed digest {got} does not match the config's diff_id {expected}"
    )]
    DiffIdMismatch {
        layer: Digest,
        expected: Digest,
        got: Digest,
    },
    #[error("image {image}: {layers} layers but {diff_ids} diff_ids in its config")]
    LayerCount {
        image: String,
        layers: usize,
        diff_ids: usize,
    },
    #[error("image {image} is not unpacked (snapshot {chain} is missing)")]
    NotUnpacked { image: String, chain: Digest },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("mounting the root filesystem at {target}: {source}")]
    Mount {
        target: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::store::IoFailure> for SnapshotError {
    fn from(f: crate::store::IoFailure) -> SnapshotError {
        SnapshotError::Io {
            op: f.op,
            path: f.path,
            source: f.source,
        }
    }
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError {
    let path = path.to_path_buf();
    move |source| SnapshotError::Io { op, path, source }
}

/// What a snapshot records about itself (`snapshots/<hex>/meta.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub layer: Digest,
    /// Bytes of file content in this layer.
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
}

impl SnapshotStore {
    pub fn open(root: &Path) -> Result<Self, SnapshotError> {
        let dir = root.join("snapshots");
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        Ok(SnapshotStore { dir })
    }

    pub fn dir(&self, chain: &Digest) -> PathBuf {
        self.dir.join(chain.hex())
    }

    /// The extracted tree of a snapshot (an overlay lowerdir).
    pub fn fs(&self, chain: &Digest) -> PathBuf {
        self.dir(chain).join("fs")
    }

    pub fn exists(&self, chain: &Digest) -> bool {
        self.fs(chain).is_dir()
    }

    /// ChainIDs of all snapshots present.
    pub fn list(&self) -> Result<Vec<Digest>, SnapshotError> {
        Ok(crate::store::list_digests(&self.dir)?)
    }

    /// Remove a snapshot: renamed to a temporary name first, so an interrupted
    /// removal leaves garbage the next writer cleans, not a half snapshot.
    pub fn remove(&self, chain: &Digest) -> Result<(), SnapshotError> {
        let from = self.dir(chain);
        let to = self.dir.join(temp_name(&format!("rm-{}", chain.hex())));
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("rename", &from)(e)),
        }
        crate::store::remove_tree(&to).map_err(io_err("remove", &to))
    }

    /// Remove leftovers of interrupted extractions and removals.
    pub fn clean(&self) {
        clean_temps(&self.dir);
    }

    /// Extract each of the image's layers that is not yet present (in
    /// parallel), verifying blob digests and diff_ids.
    pub fn unpack(&self, content: &ContentStore, image: &Image) -> Result<(), SnapshotError> {
        let layers = image.layer_digests()?;
        let diff_ids = image.diff_ids()?;
        if layers.len() != diff_ids.len() {
            return Err(SnapshotError::LayerCount {
                image: image.record.name.clone(),
                layers: layers.len(),
                diff_ids: diff_ids.len(),
            });
        }
        let chains = chain_ids(&diff_ids);
        let mut todo: Vec<usize> = (0..layers.len())
            .filter(|&i| !self.exists(&chains[i]))
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        self.clean();
        // The same layer may appear twice in one image: extract it once.
        let mut seen = std::collections::HashSet::new();
        todo.retain(|&i| seen.insert(chains[i].clone()));
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 4)
            .min(todo.len());
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<Result<(), SnapshotError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| -> Result<(), SnapshotError> {
                        loop {
                            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&i) = todo.get(k) else {
                                return Ok(());
                            };
                            self.unpack_layer(content, &layers[i], &diff_ids[i], &chains[i])?;
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("unpack worker panicked"))
                .collect()
        });
        results.into_iter().collect()
    }

    /// Extract one layer as snapshot `chain` (no-op if it exists).
    pub fn unpack_layer(
        &self,
        content: &ContentStore,
        layer: &Digest,
        diff_id: &Digest,
        chain: &Digest,
    ) -> Result<(), SnapshotError> {
        if self.exists(chain) {
            return Ok(());
        }
        let file = content.open_blob(layer)?;
        let tmp = self.dir.join(temp_name(chain.hex()));
        let fs = tmp.join("fs");
        let res = (|| {
            std::fs::create_dir(&tmp).map_err(io_err("create", &tmp))?;
            std::fs::create_dir(&fs).map_err(io_err("create", &fs))?;
            let stats = extract::extract_layer(&file, layer, Some(diff_id), &fs)?;
            let meta = SnapshotMeta {
                chain_id: chain.clone(),
                diff_id: stats.diff_id,
                layer: layer.clone(),
                size: stats.size,
            };
            let mp = tmp.join("meta.json");
            std::fs::write(&mp, serde_json::to_vec(&meta).expect("serializable"))
                .map_err(io_err("write", &mp))?;
            crate::sys::fault::crash_point("layer:extracted");
            let to = self.dir(chain);
            match std::fs::rename(&tmp, &to) {
                Ok(()) => Ok(()),
                // Another unpack of the same layer won the race: use theirs.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => {
                    crate::store::remove_tree(&tmp).map_err(io_err("remove", &tmp))
                }
                Err(e) => Err(io_err("rename", &to)(e)),
            }
        })();
        if res.is_err() {
            let _ = crate::store::remove_tree(&tmp);
        }
        res
    }

    /// The image's snapshot directories, top-most layer first (overlay's order).
    pub fn lowerdirs(&self, image: &Image) -> Result<Vec<PathBuf>, SnapshotError> {
        let chains = image.chain_ids()?;
        let mut out = Vec::with_capacity(chains.len());
        for c in chains.iter().rev() {
            if !self.exists(c) {
                return Err(SnapshotError::NotUnpacked {
                    image: image.record.name.clone(),
                    chain: c.clone(),
                });
            }
            out.push(self.fs(c));
        }
        Ok(out)
    }

    /// Mount the image's root filesystem at `target`: an overlay of its
    /// snapshots with the container's own `upper` and `work` directories
    /// (created if missing). An image without layers gets an empty lower.
    pub fn mount_rootfs(
        &self,
        image: &Image,
        upper: &Path,
        work: &Path,
        target: &Path,
        volatile: bool,
    ) -> Result<(), SnapshotError> {
        let mut lowers = self.lowerdirs(image)?;
        for d in [upper, work, target] {
            std::fs::create_dir_all(d).map_err(io_err("create", d))?;
        }
        if volatile {
            // A crash of a volatile mount leaves `work/work/incompat/volatile`,
            // which makes the kernel refuse the next mount; such an upper layer
            // is thrown away anyway (volatile is for `--rm` containers).
            let _ = std::fs::remove_dir_all(work.join("work/incompat"));
        }
        if lowers.is_empty() {
            let empty = self.dir.join("empty");
            std::fs::create_dir_all(&empty).map_err(io_err("create", &empty))?;
            lowers.push(empty);
        }
        let lower = lowers
            .iter()
            .map(|p| escape_overlay_path(p))
            .collect::<Vec<_>>()
            .join(":");
        let mut data = format!(
            "lowerdir={lower},upperdir={},workdir={}",
            escape_overlay_path(upper),
            escape_overlay_path(work)
        );
        if volatile {
            // no syncs of the upper layer: the unmount at exit is ~0.1 ms
            // instead of a journal commit (tens of ms, at times 100+)
            data.push_str(",volatile");
        }
        crate::sys::mount::overlay(target, &data).map_err(|source| SnapshotError::Mount {
            target: target.to_path_buf(),
            source,
        })
    }

    /// Unmount a root filesystem mounted by `mount_rootfs` (not mounted: no-op).
    pub fn unmount_rootfs(target: &Path) -> Result<(), SnapshotError> {
        crate::sys::mount::unmount(target).map_err(|source| SnapshotError::Mount {
            target: target.to_path_buf(),
            source,
        })
    }
}

/// overlayfs splits its options at ',' and lowerdir at ':'; both are escaped
/// with a backslash.
fn escape_overlay_path(p: &Path) -> String {
    let s = p.to_string_lossy();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
