//! Saving images as docker-archive (manifest.json, repositories, <config>.json,
//! <diff_id>/layer.tar with uncompressed layers, as `docker save` writes) or
//! as an OCI layout (oci-layout, index.json, blobs/sha256/*, plus a
//! manifest.json so that docker can load it too).

use super::ArchiveError;
use crate::image::media::{self, Compression};
use crate::image::reference::{familiar, familiar_repository, parse};
use crate::image::Image;
use crate::snapshot::extract::decompressor;
use crate::store::images::is_dangling_name;
use crate::store::{ContentStore, Digest, ImageRecord};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::io::{BufReader, Read, Seek, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    DockerArchive,
    OciArchive,
}

/// One image to save: the record it was resolved through and the names to
/// write for it (the argument's name, or all names when given by id).
pub struct Item {
    pub record: ImageRecord,
    pub names: Vec<String>,
}

fn header(path: &str, size: u64, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_path(path).expect("short archive paths");
    h.set_size(size);
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_mtime(0);
    h.set_cksum();
    h
}

fn add_bytes<W: Write>(
    b: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
) -> Result<(), ArchiveError> {
    b.append(&header(path, data.len() as u64, false), data)
        .map_err(ArchiveError::write("the archive"))
}

fn add_blob<W: Write>(
    b: &mut tar::Builder<W>,
    content: &ContentStore,
    path: &str,
    d: &Digest,
) -> Result<(), ArchiveError> {
    let f = content.open_blob(d)?;
    let size = f.metadata().map_err(ArchiveError::read(path))?.len();
    b.append(
        &header(path, size, false),
        BufReader::with_capacity(1 << 20, f),
    )
    .map_err(ArchiveError::write("the archive"))
}

pub fn save<W: Write>(
    content: &ContentStore,
    items: &[Item],
    format: Format,
    scratch: &std::path::Path,
    out: W,
) -> Result<W, ArchiveError> {
    let mut b = tar::Builder::new(out);
    let mut written: HashSet<String> = HashSet::new();
    let mut manifest_json = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut index = Vec::new();
    let oci = format == Format::OciArchive;
    if oci {
        add_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        for d in ["blobs/", "blobs/sha256/"] {
            b.append(&header(d, 0, true), std::io::empty())
                .map_err(ArchiveError::write("the archive"))?;
        }
    }
    for item in items {
        let img = Image::load(content, item.record.clone())?;
        let layers = img.layer_digests()?;
        let diff_ids = img.diff_ids()?;
        let config = item.record.config.clone();
        let mut layer_paths = Vec::new();
        if oci {
            let mut blobs = vec![item.record.manifest.clone(), config.clone()];
            // The platform manifest too, when the record names an index.
            let md = content.read(&item.record.manifest)?;
            if serde_json::from_slice::<Value>(&md)
                .map(|v| v.get("manifests").is_some())
                .unwrap_or(false)
            {
                let pm = serde_json::to_vec(&img.manifest).expect("serializable");
                blobs.push(Digest::sha256(&pm));
            }
            blobs.extend(layers.iter().cloned());
            for d in &blobs {
                let p = format!("blobs/sha256/{}", d.hex());
                if written.insert(p.clone()) && content.contains(d) {
                    add_blob(&mut b, content, &p, d)?;
                }
            }
            layer_paths = layers
                .iter()
                .map(|d| format!("blobs/sha256/{}", d.hex()))
                .collect();
            let names: Vec<&String> = if item.names.is_empty() {
                vec![]
            } else {
                item.names.iter().collect()
            };
            let mut push_index = |name: Option<&String>| {
                let mut d = json!({
                    "mediaType": item.record.manifest_media_type,
                    "digest": item.record.manifest.to_string(),
                    "size": item.record.manifest_size,
                });
                if let Some(n) = name {
                    let tag = parse(n).ok().and_then(|r| r.tag().map(String::from));
                    d["annotations"] = json!({
                        "io.containerd.image.name": n,
                        "org.opencontainers.image.ref.name": tag.unwrap_or_default(),
                    });
                }
                index.push(d);
            };
            if names.is_empty() {
                push_index(None);
            }
            for n in names {
                push_index(Some(n));
            }
        } else {
            let cp = format!("{}.json", config.hex());
            if written.insert(cp.clone()) {
                add_blob(&mut b, content, &cp, &config)?;
            }
            for (l, diff) in layers.iter().zip(&diff_ids) {
                let dir = diff.hex().to_string();
                let p = format!("{dir}/layer.tar");
                if written.insert(p.clone()) {
                    b.append(&header(&format!("{dir}/"), 0, true), std::io::empty())
                        .map_err(ArchiveError::write("the archive"))?;
                    add_bytes(&mut b, &format!("{dir}/VERSION"), b"1.0")?;
                    add_bytes(
                        &mut b,
                        &format!("{dir}/json"),
                        json!({"id": dir}).to_string().as_bytes(),
                    )?;
                    add_uncompressed_layer(&mut b, content, &p, l, scratch)?;
                }
                layer_paths.push(p);
            }
            if let Some(top) = diff_ids.last() {
                for n in &item.names {
                    if let Ok(r) = parse(n) {
                        if let Some(t) = r.tag() {
                            repositories
                                .entry(familiar_repository(&r))
                                .or_default()
                                .insert(t.to_string(), top.hex().to_string());
                        }
                    }
                }
            }
        }
        let tags: Vec<String> = item
            .names
            .iter()
            .filter(|n| parse(n).map(|r| r.tag().is_some()).unwrap_or(false))
            .map(|n| familiar(n))
            .collect();
        let cfg_path = if oci {
            format!("blobs/sha256/{}", config.hex())
        } else {
            format!("{}.json", config.hex())
        };
        manifest_json.push(json!({
            "Config": cfg_path,
            "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) },
            "Layers": layer_paths,
        }));
    }
    add_bytes(
        &mut b,
        "manifest.json",
        serde_json::to_string(&manifest_json)
            .expect("json")
            .as_bytes(),
    )?;
    if oci {
        let idx = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": index,
        });
        add_bytes(&mut b, "index.json", idx.to_string().as_bytes())?;
    } else if !repositories.is_empty() {
        add_bytes(
            &mut b,
            "repositories",
            serde_json::to_string(&repositories)
                .expect("json")
                .as_bytes(),
        )?;
    }
    b.into_inner().map_err(ArchiveError::write("the archive"))
}

/// docker-archive layers are plain tars: a compressed blob is decompressed
/// into a scratch file first (the tar header needs its size).
fn add_uncompressed_layer<W: Write>(
    b: &mut tar::Builder<W>,
    content: &ContentStore,
    path: &str,
    layer: &Digest,
    scratch: &std::path::Path,
) -> Result<(), ArchiveError> {
    let mut f = content.open_blob(layer)?;
    let mut head = [0u8; 8];
    let n = f.read(&mut head).map_err(ArchiveError::read(path))?;
    f.rewind().map_err(ArchiveError::read(path))?;
    if Compression::sniff(&head[..n]) == Compression::None {
        return add_blob(b, content, path, layer);
    }
    let tmp = scratch.join(crate::store::temp_name("layer.tar"));
    let res = (|| {
        let mut out = std::fs::File::options()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&tmp)
            .map_err(ArchiveError::write("a scratch file"))?;
        let mut dec =
            decompressor(BufReader::with_capacity(1 << 20, f)).map_err(ArchiveError::read(path))?;
        let size = std::io::copy(&mut dec, &mut out).map_err(ArchiveError::read(path))?;
        out.rewind().map_err(ArchiveError::read(path))?;
        b.append(
            &header(path, size, false),
            BufReader::with_capacity(1 << 20, out),
        )
        .map_err(ArchiveError::write("the archive"))
    })();
    let _ = std::fs::remove_file(&tmp);
    res
}

/// Names to write for an image given as `arg`: the name itself, or every name
/// of the image when it was given by id.
pub fn names_for(arg: &str, rec: &ImageRecord, all: &[ImageRecord]) -> Vec<String> {
    if crate::image::reference::normalize(arg).ok().as_deref() == Some(rec.name.as_str())
        && !is_dangling_name(&rec.name)
    {
        return vec![rec.name.clone()];
    }
    all.iter()
        .filter(|r| r.config == rec.config && !is_dangling_name(&r.name))
        .map(|r| r.name.clone())
        .collect()
}
