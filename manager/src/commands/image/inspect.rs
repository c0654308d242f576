//! `berth image inspect`: docker-shaped JSON.

use super::View;
use crate::context::Context;
use crate::format::{Style, Template};
use crate::image::reference::{familiar, familiar_repository_and_tag};
use crate::store::images::is_dangling_name;
use crate::store::{ContentStore, ImageStore};
use serde_json::{json, Map, Value};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format the output using a Go-template subset ({{.Id}}, {{json .Config}})
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for name in &args.images {
        match inspect_json(ctx, name) {
            Ok(v) => out.push(v),
            Err(e) => missing.push(format!("{e:#}")),
        }
    }
    match &args.format {
        Some(f) => {
            let t = Template::parse(f, Style::Strict).map_err(anyhow::Error::msg)?;
            for v in &out {
                println!("{}", t.render(v).map_err(anyhow::Error::msg)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&Value::Array(out))?),
    }
    if !missing.is_empty() {
        anyhow::bail!("{}", missing.join("\n"));
    }
    Ok(0)
}

/// The docker-shaped inspect object of one image (by name or id). Also used by
/// `berth inspect` when its argument names an image.
pub fn inspect_json(ctx: &Context, name: &str) -> anyhow::Result<Value> {
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
