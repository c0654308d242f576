//! Images: a stored record plus its parsed manifest and config.

pub mod config;
pub mod media;
pub mod reference;
pub mod remove;
pub mod view;

use crate::store::{ContentStore, Digest, ImageRecord, StoreError};
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("image {image}: manifest {digest} is not valid: {why}")]
    BadManifest {
        image: String,
        digest: Digest,
        why: String,
    },
    #[error("image {image}: config {digest} is not valid: {why}")]
    BadConfig {
        image: String,
        digest: Digest,
        why: String,
    },
    #[error("invalid change {0}")]
    Change(String),
    #[error("image {image}: manifest list {digest} has no linux/amd64 manifest in the store")]
    NoPlatform { image: String, digest: Digest },
}

#[derive(Debug, Clone)]
pub struct Image {
    pub record: ImageRecord,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
    /// The config as stored: docker's extensions (Healthcheck, ...) that the
    /// typed `config` drops.
    pub config_json: serde_json::Value,
}

impl Image {
    /// Read and parse the record's manifest and config from the content store
    /// (both verified against their digests). Docker schema-2 and OCI manifests
    /// are both accepted; a manifest list / index resolves to its linux/amd64
    /// entry when that is stored.
    pub fn load(content: &ContentStore, record: ImageRecord) -> Result<Image, ImageError> {
        let bad_manifest = |d: &Digest, why: String| ImageError::BadManifest {
            image: record.name.clone(),
            digest: d.clone(),
            why,
        };
        let mut digest = record.manifest.clone();
        let mut data = content.read(&digest)?;
        let v: serde_json::Value =
            serde_json::from_slice(&data).map_err(|e| bad_manifest(&digest, e.to_string()))?;
        if v.get("manifests").is_some() {
            let index: ImageIndex =
                serde_json::from_value(v).map_err(|e| bad_manifest(&digest, e.to_string()))?;
            let chosen = index
                .manifests()
                .iter()
                .filter(|m| match m.platform() {
                    None => true,
                    Some(p) => {
                        p.os().to_string() == "linux" && p.architecture().to_string() == "amd64"
                    }
                })
                .filter_map(|m| Digest::try_from(m.digest()).ok())
                .find(|d| content.contains(d))
                .ok_or_else(|| ImageError::NoPlatform {
                    image: record.name.clone(),
                    digest: digest.clone(),
                })?;
            digest = chosen;
            data = content.read(&digest)?;
        }
        let manifest: ImageManifest =
            serde_json::from_slice(&data).map_err(|e| bad_manifest(&digest, e.to_string()))?;
        let cdigest = Digest::try_from(manifest.config().digest())
            .map_err(|e| bad_manifest(&digest, e.to_string()))?;
        let cdata = content.read(&cdigest)?;
        let bad_config = |e: serde_json::Error| ImageError::BadConfig {
            image: record.name.clone(),
            digest: cdigest.clone(),
            why: e.to_string(),
        };
        let config_json: serde_json::Value = serde_json::from_slice(&cdata).map_err(bad_config)?;
        let config = ImageConfiguration::deserialize(&config_json).map_err(bad_config)?;
        Ok(Image {
            record,
            manifest,
            config,
            config_json,
        })
    }

    /// Layer digests (compressed blobs), bottom first.
    pub fn layer_digests(&self) -> Result<Vec<Digest>, ImageError> {
        self.manifest
            .layers()
            .iter()
            .map(|l| {
                Digest::try_from(l.digest()).map_err(|e| ImageError::BadManifest {
                    image: self.record.name.clone(),
                    digest: self.record.manifest.clone(),
                    why: e.to_string(),
                })
            })
            .collect()
    }

    /// The config's rootfs.diff_ids (uncompressed layer digests), bottom first.
    pub fn diff_ids(&self) -> Result<Vec<Digest>, ImageError> {
        self.config
            .rootfs()
            .diff_ids()
            .iter()
            .map(|s| {
                s.parse::<Digest>().map_err(|e| ImageError::BadConfig {
                    image: self.record.name.clone(),
                    digest: self.record.config.clone(),
                    why: e.to_string(),
                })
            })
            .collect()
    }

    /// ChainIDs of the layers, bottom first (the snapshot keys).
    pub fn chain_ids(&self) -> Result<Vec<Digest>, ImageError> {
        Ok(chain_ids(&self.diff_ids()?))
    }
}

/// ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::sha256(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = Digest::sha256(b"a");
        let b = Digest::sha256(b"b");
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(c[1], Digest::sha256(format!("{a} {b}").as_bytes()));
    }

    #[test]
    fn loads_docker_and_oci_manifests() {
        let root = std::env::temp_dir().join(format!("berth-image-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let cs = ContentStore::open(&root).unwrap();
        let layer = cs.put(b"layer").unwrap();
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [layer.to_string()]},
            "history": [{"created_by": "import"}],
            "container_config": {"Hostname": "x"}
        });
        let cd = cs.put(config.to_string().as_bytes()).unwrap();
        for (mt, cmt, lmt) in [
            (
                media::DOCKER_MANIFEST,
                media::DOCKER_CONFIG,
                media::DOCKER_LAYER_GZIP,
            ),
            (media::OCI_MANIFEST, media::OCI_CONFIG, media::OCI_LAYER),
        ] {
            let m = serde_json::json!({
                "schemaVersion": 2, "mediaType": mt,
                "config": {"mediaType": cmt, "digest": cd.to_string(), "size": 10},
                "layers": [{"mediaType": lmt, "digest": layer.to_string(), "size": 5}]
            });
            let md = cs.put(m.to_string().as_bytes()).unwrap();
            let rec = ImageRecord {
                name: "docker.io/library/x:latest".into(),
                manifest: md,
                manifest_media_type: mt.into(),
                manifest_size: 1,
                config: cd.clone(),
                created: String::new(),
            };
            let img = Image::load(&cs, rec).unwrap();
            assert_eq!(img.layer_digests().unwrap(), vec![layer.clone()]);
            assert_eq!(img.diff_ids().unwrap(), vec![layer.clone()]);
            assert_eq!(img.chain_ids().unwrap(), vec![layer.clone()]);
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
