//! Loading docker-archive and OCI-layout tars (optionally compressed). The
//! archive is streamed once: large members go straight into the content store
//! (hashed on the way), small ones are kept in memory until the format is
//! known. Records are written last, so an interrupted load leaves only blobs
//! (collected later), never a record pointing at missing content.

use super::ArchiveError;
use crate::image::media::{self, Compression};
use crate::image::reference::normalize;
use crate::snapshot::extract::decompressor;
use crate::store::images::dangling_name;
use crate::store::{now_rfc3339, ContentStore, Digest, ImageRecord, ImageStore, StoreLock};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::path::Path;

/// Members up to this size stay in memory (manifests, configs, metadata).
const SMALL: u64 = 4 << 20;

enum Member {
    Small(Vec<u8>),
    Blob(Digest, u64),
    Link(String),
}

/// One image found in the archive: its names (possibly none) and record.
pub struct Loaded {
    pub names: Vec<String>,
    pub record: ImageRecord,
}

fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

pub fn load(root: &Path, input: impl Read) -> Result<Vec<Loaded>, ArchiveError> {
    let _lock = StoreLock::shared(root)?;
    let content = ContentStore::open(root)?;
    content.clean_ingest();
    let raw = BufReader::with_capacity(1 << 20, input);
    let plain = decompressor(raw).map_err(ArchiveError::read("the archive"))?;
    let mut ar = tar::Archive::new(plain);
    let mut members: HashMap<String, Member> = HashMap::new();
    let what = "the archive";
    for e in ar.entries().map_err(ArchiveError::read(what))? {
        let mut e = e.map_err(ArchiveError::read(what))?;
        let path = clean(&String::from_utf8_lossy(&e.path_bytes()));
        match e.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = e.size();
                if size <= SMALL {
                    let mut buf = Vec::with_capacity(size as usize);
                    e.read_to_end(&mut buf).map_err(ArchiveError::read(what))?;
                    members.insert(path, Member::Small(buf));
                } else {
                    let mut t = content.temp_blob()?;
                    std::io::copy(&mut e, &mut t).map_err(ArchiveError::read(what))?;
                    t.flush().map_err(ArchiveError::read(what))?;
                    let (d, n) = t.commit()?;
                    members.insert(path, Member::Blob(d, n));
                }
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = e
                    .link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default();
                let resolved = if e.header().entry_type() == tar::EntryType::Symlink {
                    let dir = path.rsplit_once('/').map(|p| p.0).unwrap_or("");
                    clean(&format!("{dir}/{target}"))
                } else {
                    clean(&target)
                };
                members.insert(path, Member::Link(resolved));
            }
            _ => {}
        }
    }
    let mut ctx = Members {
        members,
        content: &content,
    };
    let images = if ctx.has("index.json") && ctx.has("oci-layout") {
        load_oci(&mut ctx)?
    } else if ctx.has("manifest.json") {
        load_docker(&mut ctx)?
    } else {
        return Err(ArchiveError::Format(
            "not an image archive: it has neither manifest.json (docker-archive) nor index.json and oci-layout (OCI layout)".into(),
        ));
    };
    let store = ImageStore::open(root)?;
    for l in &images {
        if l.names.is_empty() {
            store.put(l.record.clone())?;
        }
        for n in &l.names {
            store.put(ImageRecord {
                name: n.clone(),
                ..l.record.clone()
            })?;
        }
        let name = l
            .names
            .first()
            .map(|n| crate::image::reference::familiar(n))
            .unwrap_or_else(|| l.record.config.to_string());
        crate::events::image(root, "load", l.record.config.as_str(), &name);
    }
    Ok(images)
}

struct Members<'a> {
    members: HashMap<String, Member>,
    content: &'a ContentStore,
}

impl Members<'_> {
    fn has(&self, p: &str) -> bool {
        self.members.contains_key(p)
    }

    fn resolve(&self, p: &str) -> Result<&Member, ArchiveError> {
        let mut p = clean(p);
        for _ in 0..16 {
            match self.members.get(&p) {
                Some(Member::Link(t)) => p = t.clone(),
                Some(m) => return Ok(m),
                None => break,
            }
        }
        Err(ArchiveError::Format(format!(
            "the archive has no file {p:?}"
        )))
    }

    fn bytes(&self, p: &str) -> Result<Vec<u8>, ArchiveError> {
        match self.resolve(p)? {
            Member::Small(b) => Ok(b.clone()),
            Member::Blob(d, _) => Ok(self.content.read(d)?),
            Member::Link(_) => unreachable!("links are resolved"),
        }
    }

    fn json(&self, p: &str) -> Result<Value, ArchiveError> {
        serde_json::from_slice(&self.bytes(p)?)
            .map_err(|e| ArchiveError::Format(format!("{p} in the archive is not valid JSON: {e}")))
    }

    /// Put member `p` into the content store; returns its digest and size.
    fn store(&self, p: &str) -> Result<(Digest, u64), ArchiveError> {
        match self.resolve(p)? {
            Member::Small(b) => Ok((self.content.put(b)?, b.len() as u64)),
            Member::Blob(d, n) => Ok((d.clone(), *n)),
            Member::Link(_) => unreachable!("links are resolved"),
        }
    }

    /// Store `blobs/sha256/<hex>` and check that its content has that digest.
    fn store_verified(&self, d: &Digest) -> Result<u64, ArchiveError> {
        let p = format!("blobs/{}/{}", d.algorithm(), d.hex());
        if !self.has(&p) && self.content.contains(d) {
            return Ok(self.content.size(d)?);
        }
        let (got, n) = self.store(&p)?;
        if &got != d {
            return Err(ArchiveError::Format(format!(
                "{p} in the archive is corrupt: its content has digest {got}"
            )));
        }
        Ok(n)
    }

    fn head(&self, p: &str) -> Result<Vec<u8>, ArchiveError> {
        Ok(match self.resolve(p)? {
            Member::Small(b) => b[..b.len().min(8)].to_vec(),
            Member::Blob(d, _) => {
                let mut f = self.content.open_blob(d)?;
                let mut h = [0u8; 8];
                let n = f.read(&mut h).map_err(ArchiveError::read(p))?;
                h[..n].to_vec()
            }
            Member::Link(_) => unreachable!("links are resolved"),
        })
    }
}

fn parse_digest(v: &Value, what: &str) -> Result<Digest, ArchiveError> {
    v.as_str()
        .unwrap_or("")
        .parse()
        .map_err(|e| ArchiveError::Format(format!("{what}: {e}")))
}

fn load_oci(m: &mut Members) -> Result<Vec<Loaded>, ArchiveError> {
    let index = m.json("index.json")?;
    let mut out = Vec::new();
    for desc in index["manifests"].as_array().into_iter().flatten() {
        let d = parse_digest(&desc["digest"], "index.json manifest digest")?;
        let size = m.store_verified(&d)?;
        let manifest: Value = serde_json::from_slice(&m.content.read(&d)?)
            .map_err(|e| ArchiveError::Format(format!("manifest {d}: {e}")))?;
        let mt = desc["mediaType"]
            .as_str()
            .or(manifest["mediaType"].as_str())
            .unwrap_or(media::OCI_MANIFEST)
            .to_string();
        let manifests: Vec<Value> = if manifest.get("manifests").is_some() {
            manifest["manifests"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        } else {
            vec![json!({"digest": d.to_string()})]
        };
        let mut config = None;
        for sub in &manifests {
            let sd = parse_digest(&sub["digest"], "manifest digest")?;
            let sp = format!("blobs/sha256/{}", sd.hex());
            if sd != d && !m.has(&sp) && !m.content.contains(&sd) {
                continue; // other platforms may be left out of the archive
            }
            if sd != d {
                m.store_verified(&sd)?;
            }
            let sm: Value = serde_json::from_slice(&m.content.read(&sd)?)
                .map_err(|e| ArchiveError::Format(format!("manifest {sd}: {e}")))?;
            let cd = parse_digest(&sm["config"]["digest"], "config digest")?;
            m.store_verified(&cd)?;
            for l in sm["layers"].as_array().into_iter().flatten() {
                let ld = parse_digest(&l["digest"], "layer digest")?;
                m.store_verified(&ld)?;
            }
            config.get_or_insert(cd);
        }
        let config = config.ok_or_else(|| {
            ArchiveError::Format(format!("index entry {d} has no manifest in the archive"))
        })?;
        let ann = &desc["annotations"];
        let name = ann["io.containerd.image.name"]
            .as_str()
            .or(ann["org.opencontainers.image.ref.name"].as_str())
            .filter(|n| n.contains(':') || n.contains('/'))
            .and_then(|n| normalize(n).ok());
        let record = ImageRecord {
            name: name.clone().unwrap_or_else(|| dangling_name(&config)),
            manifest: d,
            manifest_media_type: mt,
            manifest_size: size,
            config,
            created: now_rfc3339(),
        };
        out.push(Loaded {
            names: name.into_iter().collect(),
            record,
        });
    }
    if out.is_empty() {
        return Err(ArchiveError::Format("index.json lists no images".into()));
    }
    Ok(out)
}

fn load_docker(m: &mut Members) -> Result<Vec<Loaded>, ArchiveError> {
    let manifest = m.json("manifest.json")?;
    let mut out = Vec::new();
    for item in manifest.as_array().into_iter().flatten() {
        let cpath = item["Config"]
            .as_str()
            .ok_or_else(|| ArchiveError::Format("manifest.json: an entry has no Config".into()))?;
        let (config, csize) = m.store(cpath)?;
        let cfg: Value = serde_json::from_slice(&m.content.read(&config)?)
            .map_err(|e| ArchiveError::Format(format!("{cpath}: {e}")))?;
        let diff_ids: Vec<Digest> = cfg["rootfs"]["diff_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| parse_digest(d, "diff_id"))
            .collect::<Result<_, _>>()?;
        let paths: Vec<&str> = item["Layers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str())
            .collect();
        if paths.len() != diff_ids.len() {
            return Err(ArchiveError::Format(format!(
                "manifest.json: {} layers but the config {cpath} has {} diff_ids",
                paths.len(),
                diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (p, want) in paths.iter().zip(&diff_ids) {
            let (d, size) = m.store(p)?;
            let comp = Compression::sniff(&m.head(p)?);
            // An uncompressed layer's digest is its diff_id: check it now.
            if comp == Compression::None && &d != want {
                return Err(ArchiveError::Format(format!(
                    "layer {p} in the archive is corrupt: its content has digest {d}, the config says {want}"
                )));
            }
            // Blobs named by digest (docker 25's layout) must match their name.
            if let Some(hex) = p.strip_prefix("blobs/sha256/") {
                if d.hex() != hex {
                    return Err(ArchiveError::Format(format!(
                        "{p} in the archive is corrupt: its content has digest {d}"
                    )));
                }
            }
            layers.push(
                json!({"mediaType": comp.oci_layer_type(), "digest": d.to_string(), "size": size}),
            );
        }
        let om = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": media::OCI_CONFIG, "digest": config.to_string(), "size": csize},
            "layers": layers,
        });
        let mbytes = serde_json::to_vec(&om).expect("serializable");
        let md = m.content.put(&mbytes)?;
        let mut names = Vec::new();
        for t in item["RepoTags"].as_array().into_iter().flatten() {
            if let Some(t) = t.as_str() {
                names.push(normalize(t)?);
            }
        }
        out.push(Loaded {
            record: ImageRecord {
                name: names
                    .first()
                    .cloned()
                    .unwrap_or_else(|| dangling_name(&config)),
                manifest: md,
                manifest_media_type: media::OCI_MANIFEST.into(),
                manifest_size: mbytes.len() as u64,
                config,
                created: now_rfc3339(),
            },
            names,
        });
    }
    if out.is_empty() {
        return Err(ArchiveError::Format("manifest.json lists no images".into()));
    }
    Ok(out)
}
