//! Image states of a build and the layers between them: a state is an image
//! config, its layer descriptors, and the config and manifest blobs they were
//! committed as (an untagged image in the content store). Layers are plain
//! (uncompressed) tars written straight into the content store, so their blob
//! digest is their diff_id.

use super::BuildError;
use crate::image::media;
use crate::image::Image;
use crate::snapshot::diff::{is_opaque, is_whiteout};
use crate::store::content::TempBlob;
use crate::store::{ContentStore, Digest, ImageRecord};
use serde_json::{json, Value};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// An image as a build step sees it.
#[derive(Debug, Clone)]
pub struct State {
    /// The whole image config (architecture, os, config, rootfs, history).
    pub config: Value,
    /// Manifest layer descriptors, bottom first.
    pub layers: Vec<Value>,
    /// Committed form (the image id and its manifest).
    pub id: Digest,
    pub manifest: Digest,
    pub manifest_size: u64,
}

/// The config of an image with no layers (FROM scratch).
pub fn scratch_config() -> Value {
    json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    })
}

impl State {
    pub fn from_image(img: &Image) -> State {
        let layers = img
            .manifest
            .layers()
            .iter()
            .map(|l| {
                let mut v = serde_json::to_value(l).unwrap_or(Value::Null);
                // The image's manifest is OCI: docker layer types get their OCI names.
                let oci = match v["mediaType"].as_str() {
                    Some(media::DOCKER_LAYER_GZIP) => Some(media::OCI_LAYER_GZIP),
                    Some(media::DOCKER_LAYER) => Some(media::OCI_LAYER),
                    _ => None,
                };
                if let Some(t) = oci {
                    v["mediaType"] = json!(t);
                }
                v
            })
            .collect();
        State {
            config: img.config_json.clone(),
            layers,
            id: img.record.config.clone(),
            manifest: img.record.manifest.clone(),
            manifest_size: img.record.manifest_size,
        }
    }

    pub fn record(&self, name: Option<String>) -> ImageRecord {
        ImageRecord {
            name: name.unwrap_or_else(|| crate::store::images::dangling_name(&self.id)),
            manifest: self.manifest.clone(),
            manifest_media_type: media::OCI_MANIFEST.into(),
            manifest_size: self.manifest_size,
            config: self.id.clone(),
            created: crate::store::now_rfc3339(),
        }
    }

    pub fn image(&self, content: &ContentStore) -> Result<Image, BuildError> {
        Ok(Image::load(content, self.record(None))?)
    }

    /// The container config (`config.config`), made an object if missing.
    pub fn cfg(&mut self) -> &mut serde_json::Map<String, Value> {
        if !self.config["config"].is_object() {
            self.config["config"] = json!({});
        }
        self.config["config"].as_object_mut().expect("object")
    }

    pub fn cfg_ref(&self) -> &Value {
        &self.config["config"]
    }

    pub fn diff_ids(&self) -> Vec<Digest> {
        self.config["rootfs"]["diff_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str()?.parse().ok())
            .collect()
    }

    /// Record a step: its history row, and its layer when it made one.
    pub fn add_step(&mut self, created_by: &str, layer: Option<(Digest, u64)>) {
        let now = crate::store::now_rfc3339();
        self.config["created"] = json!(now);
        let mut h =
            json!({"created": now, "created_by": created_by, "comment": "buildkit.dockerfile.v0"});
        match layer {
            Some((d, size)) => {
                if !self.config["rootfs"]["diff_ids"].is_array() {
                    self.config["rootfs"] = json!({"type": "layers", "diff_ids": []});
                }
                if let Some(a) = self.config["rootfs"]["diff_ids"].as_array_mut() {
                    a.push(json!(d.to_string()));
                }
                self.layers.push(json!({
                    "mediaType": media::OCI_LAYER,
                    "digest": d.to_string(),
                    "size": size,
                }));
            }
            None => h["empty_layer"] = json!(true),
        }
        if !self.config["history"].is_array() {
            self.config["history"] = json!([]);
        }
        if let Some(a) = self.config["history"].as_array_mut() {
            a.push(h);
        }
    }

    /// Store the config and manifest; the state's id becomes the new config's digest.
    pub fn commit(&mut self, content: &ContentStore) -> Result<(), BuildError> {
        let cfg = serde_json::to_vec(&self.config).expect("serializable");
        let cd = content.put(&cfg)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": media::OCI_CONFIG, "digest": cd.to_string(), "size": cfg.len()},
            "layers": self.layers,
        });
        let mb = serde_json::to_vec(&manifest).expect("serializable");
        self.manifest = content.put(&mb)?;
        self.manifest_size = mb.len() as u64;
        self.id = cd;
        Ok(())
    }
}

/// File metadata as a layer entry carries it.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
}

impl Meta {
    pub fn of(md: &std::fs::Metadata) -> Meta {
        Meta {
            mode: md.mode() & 0o7777,
            uid: md.uid() as u64,
            gid: md.gid() as u64,
            mtime: md.mtime().max(0) as u64,
        }
    }
}

/// A layer tar being written into the content store.
pub struct LayerWriter {
    tar: tar::Builder<TempBlob>,
    pub entries: usize,
}

fn header(ty: tar::EntryType, m: &Meta, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(ty);
    h.set_mode(m.mode);
    h.set_uid(m.uid);
    h.set_gid(m.gid);
    h.set_mtime(m.mtime);
    h.set_size(size);
    h
}

/// Layer names are relative (`usr/bin/x`), directories without a trailing slash.
fn rel(p: &str) -> &str {
    p.trim_start_matches('/')
}

impl LayerWriter {
    pub fn new(content: &ContentStore) -> Result<LayerWriter, BuildError> {
        Ok(LayerWriter {
            tar: tar::Builder::new(content.temp_blob()?),
            entries: 0,
        })
    }

    pub fn dir(&mut self, path: &str, m: &Meta) -> io::Result<()> {
        let mut h = header(tar::EntryType::Directory, m, 0);
        self.entries += 1;
        self.tar
            .append_data(&mut h, format!("{}/", rel(path)), io::empty())
    }

    pub fn file(&mut self, path: &str, m: &Meta, size: u64, data: impl io::Read) -> io::Result<()> {
        let mut h = header(tar::EntryType::Regular, m, size);
        self.entries += 1;
        self.tar.append_data(&mut h, rel(path), data)
    }

    pub fn symlink(&mut self, path: &str, m: &Meta, target: &Path) -> io::Result<()> {
        let mut h = header(tar::EntryType::Symlink, m, 0);
        self.entries += 1;
        self.tar.append_link(&mut h, rel(path), target)
    }

    pub fn special(&mut self, path: &str, md: &std::fs::Metadata) -> io::Result<()> {
        use std::os::unix::fs::FileTypeExt;
        let ft = md.file_type();
        let ty = if ft.is_char_device() {
            tar::EntryType::Char
        } else if ft.is_block_device() {
            tar::EntryType::Block
        } else if ft.is_fifo() {
            tar::EntryType::Fifo
        } else {
            // sockets are not archived
            return Ok(());
        };
        let mut h = header(ty, &Meta::of(md), 0);
        let rdev = md.rdev();
        h.set_device_major(libc::major(rdev))?;
        h.set_device_minor(libc::minor(rdev))?;
        self.entries += 1;
        self.tar.append_data(&mut h, rel(path), io::empty())
    }

    /// An OCI whiteout for a removed `path`.
    pub fn whiteout(&mut self, path: &str) -> io::Result<()> {
        let p = Path::new(rel(path));
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let wh = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => format!("{}/.wh.{name}", d.display()),
            _ => format!(".wh.{name}"),
        };
        let m = Meta {
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
        };
        self.file(&wh, &m, 0, io::empty())
    }

    /// An opaque marker: what lower layers had in `dir` is hidden.
    pub fn opaque(&mut self, dir: &str) -> io::Result<()> {
        let m = Meta {
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
        };
        let d = rel(dir);
        let p = if d.is_empty() {
            ".wh..wh..opq".to_string()
        } else {
            format!("{d}/.wh..wh..opq")
        };
        self.file(&p, &m, 0, io::empty())
    }

    /// Finish the tar; the blob's digest (= diff_id) and size. None when the
    /// layer would be empty.
    pub fn finish(self) -> Result<Option<(Digest, u64)>, BuildError> {
        let entries = self.entries;
        let mut blob = self
            .tar
            .into_inner()
            .map_err(|e| BuildError::Invalid(format!("writing a layer: {e}")))?;
        blob.flush()
            .map_err(|e| BuildError::Invalid(format!("writing a layer: {e}")))?;
        if entries == 0 {
            return Ok(None);
        }
        let (d, size) = blob.commit()?;
        Ok(Some((d, size)))
    }
}

/// Write an overlay upper directory (a RUN step's changes) as a layer:
/// whiteouts become `.wh.` entries, opaque directories `.wh..wh..opq`.
pub fn diff_upper(
    upper: &Path,
    w: &mut LayerWriter,
    skip: &dyn Fn(&str) -> bool,
) -> Result<(), BuildError> {
    fn walk(
        dir: &Path,
        rel_dir: &str,
        w: &mut LayerWriter,
        skip: &dyn Fn(&str) -> bool,
    ) -> Result<(), BuildError> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .map_err(BuildError::io("read", dir))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            let p = dir.join(&n);
            let r = format!("{rel_dir}/{}", n.to_string_lossy());
            if skip(&r) {
                continue;
            }
            let md = std::fs::symlink_metadata(&p).map_err(BuildError::io("stat", &p))?;
            let io = |e| BuildError::Io {
                op: "archive",
                path: p.clone(),
                source: e,
            };
            let ft = md.file_type();
            if is_whiteout(&md) {
                w.whiteout(&r).map_err(io)?;
            } else if ft.is_dir() {
                w.dir(&r, &Meta::of(&md)).map_err(io)?;
                if is_opaque(&p) {
                    w.opaque(&r).map_err(io)?;
                }
                walk(&p, &r, w, skip)?;
            } else if ft.is_file() {
                let f = std::fs::File::open(&p).map_err(BuildError::io("open", &p))?;
                w.file(&r, &Meta::of(&md), md.len(), f).map_err(io)?;
            } else if ft.is_symlink() {
                let t = std::fs::read_link(&p).map_err(BuildError::io("readlink", &p))?;
                w.symlink(&r, &Meta::of(&md), &t).map_err(io)?;
            } else {
                w.special(&r, &md).map_err(io)?;
            }
        }
        Ok(())
    }
    walk(upper, "", w, skip)
}

impl LayerWriter {
    /// A hard link entry (`h` carries its metadata) to `target`.
    pub fn link(&mut self, path: &str, h: &mut tar::Header, target: &Path) -> io::Result<()> {
        self.entries += 1;
        self.tar.append_link(h, rel(path), target)
    }
}
