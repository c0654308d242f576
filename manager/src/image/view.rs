//! What the image verbs show of an image: the listing view (`images`,
//! `history`) and docker's inspect object (`image inspect`, `inspect`).

use super::reference::{display_parts, familiar, familiar_repository_and_tag};
use crate::context::Context;
use crate::store::images::is_dangling_name;
use crate::store::{ContentStore, Digest, ImageRecord, ImageStore, StoreError};
use serde_json::{json, Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Image(#[from] super::ImageError),
    #[error("decoding a stored manifest or config: {0}")]
    Json(#[from] serde_json::Error),
}

/// What the listing verbs show of one image record.
pub struct View {
    pub record: ImageRecord,
    pub repository: String,
    pub tag: String,
    /// The config blob as JSON (docker's shape, with fields oci-spec drops).
    pub config: Value,
    pub manifest: Value,
    pub created: String,
    pub size: u64,
}

impl View {
    pub fn load(content: &ContentStore, record: ImageRecord) -> Result<View, ViewError> {
        let manifest: Value = serde_json::from_slice(&content.read(&record.manifest)?)?;
        let manifest = if manifest.get("manifests").is_some() {
            // An index: show the platform manifest the image resolves to.
            let img = super::Image::load(content, record.clone())?;
            serde_json::to_value(&img.manifest)?
        } else {
            manifest
        };
        let config: Value = serde_json::from_slice(&content.read(&record.config)?)?;
        let size = manifest["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["size"].as_u64())
            .sum();
        let (repository, tag) = display_parts(&record.name);
        let created = config["created"]
            .as_str()
            .unwrap_or(&record.created)
            .to_string();
        Ok(View {
            record,
            repository,
            tag,
            config,
            manifest,
            created,
            size,
        })
    }

    pub fn id(&self) -> &Digest {
        &self.record.config
    }
}

/// Every view, newest first (docker's order).
pub fn all_views(ctx: &Context) -> Result<Vec<View>, ViewError> {
    let content = ContentStore::open(&ctx.root)?;
    let images = crate::store::ImageStore::open(&ctx.root)?;
    let mut out = Vec::new();
    for r in images.list()? {
        match View::load(&content, r.clone()) {
            Ok(v) => out.push(v),
            // one unreadable image must not hide the others: say so, go on
            Err(e) => eprintln!("berth: image {}: {e}", r.name),
        }
    }
    out.sort_by(|a, b| {
        let ta = crate::store::parse_rfc3339(&a.created).unwrap_or(0);
        let tb = crate::store::parse_rfc3339(&b.created).unwrap_or(0);
        tb.cmp(&ta).then_with(|| a.record.name.cmp(&b.record.name))
    });
    Ok(out)
}

/// The docker-shaped inspect object of one image (by name or id). Also used by
/// `berth inspect` when its argument names an image.
pub fn inspect_json(ctx: &Context, name: &str) -> Result<Value, ViewError> {
    let content = ContentStore::open(&ctx.root)?;
    let images = ImageStore::open(&ctx.root)?;
    let rec = images.resolve(name)?;
    let view = View::load(&content, rec.clone())?;
    let names: Vec<_> = images
        .by_id(&rec.config)?
        .into_iter()
        .filter(|r| !is_dangling_name(&r.name))
        .collect();
    let repo_tags: Vec<String> = names
        .iter()
        .filter(|r| familiar_repository_and_tag(&r.name).is_some_and(|(_, t)| t.is_some()))
        .map(|r| familiar(&r.name))
        .collect();
    let mut repo_digests: Vec<String> = names
        .iter()
        .filter_map(|r| {
            let (repo, _) = familiar_repository_and_tag(&r.name)?;
            Some(format!("{repo}@{}", r.manifest))
        })
        .collect();
    repo_digests.sort();
    repo_digests.dedup();
    let c = &view.config;
    let mut cfg: Map<String, Value> = c["config"].as_object().cloned().unwrap_or_default();
    for (k, default) in [
        ("Hostname", json!("")),
        ("Domainname", json!("")),
        ("User", json!("")),
        ("AttachStdin", json!(false)),
        ("AttachStdout", json!(false)),
        ("AttachStderr", json!(false)),
        ("Tty", json!(false)),
        ("OpenStdin", json!(false)),
        ("StdinOnce", json!(false)),
        ("Env", Value::Null),
        ("Cmd", Value::Null),
        ("Image", json!("")),
        ("Volumes", Value::Null),
        ("WorkingDir", json!("")),
        ("Entrypoint", Value::Null),
        ("OnBuild", Value::Null),
        ("Labels", Value::Null),
    ] {
        cfg.entry(k).or_insert(default);
    }
    if !cfg.contains_key("ExposedPorts") {
        // docker omits ExposedPorts when empty; keep the key for scripts' sake.
        cfg.insert("ExposedPorts".into(), Value::Null);
    }
    let layers = c["rootfs"]["diff_ids"].clone();
    Ok(json!({
        "Id": rec.config.to_string(),
        "RepoTags": repo_tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": c["comment"].as_str().unwrap_or(""),
        "Created": view.created,
        "DockerVersion": c["docker_version"].as_str().unwrap_or(""),
        "Author": c["author"].as_str().unwrap_or(""),
        "Config": Value::Object(cfg),
        "Architecture": c["architecture"].as_str().unwrap_or(""),
        "Os": c["os"].as_str().unwrap_or(""),
        "Size": view.size,
        "RootFS": {"Type": c["rootfs"]["type"].as_str().unwrap_or("layers"), "Layers": layers},
        "Metadata": {"LastTagTime": rec.created},
        "Descriptor": {
            "mediaType": rec.manifest_media_type,
            "digest": rec.manifest.to_string(),
            "size": rec.manifest_size,
        },
    }))
}
