//! `berth inspect`: docker-shaped JSON for containers; names that are not
//! containers fall back to images, then volumes.

use crate::container::{self, ContainerRecord, ContainerStore};
use crate::context::Context;
use crate::format::{Style, Template};
use anyhow::anyhow;
use serde_json::{json, Value};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format the output using the given Go template
    #[arg(short, long)]
    pub format: Option<String>,
    /// Return JSON for the specified type (container, image, volume)
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Display total file sizes (accepted, not computed)
    #[arg(short, long)]
    pub size: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub fn container_json(ctx: &Context, rec: &ContainerRecord) -> anyhow::Result<Value> {
    let st = container::state(ctx, rec);
    let dir = rec.dir(ctx);
    let mut state = serde_json::to_value(&st)?;
    if st.health.is_none() {
        if let Some(o) = state.as_object_mut() {
            o.remove("Health");
        }
    }
    Ok(json!({
        "Id": rec.id,
        "Created": rec.created,
        "Path": rec.path,
        "Args": rec.args,
        "State": state,
        "Image": rec.image,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": rec.log_path(ctx),
        "Name": format!("/{}", rec.name),
        "RestartCount": st.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "HostConfig": rec.host_config,
        "GraphDriver": {
            "Name": "overlay2",
            "Data": {
                "MergedDir": rec.rootfs(ctx),
                "UpperDir": dir.join("upper"),
                "WorkDir": dir.join("work"),
            }
        },
        "Mounts": rec.mounts,
        "Config": rec.config,
        "NetworkSettings": crate::network::network_settings(ctx, rec, st.running),
    }))
}

fn image_json(ctx: &Context, name: &str) -> Option<Value> {
    let images = crate::store::ImageStore::open(&ctx.root).ok()?;
    let r = images.resolve(name).ok()?;
    let content = crate::store::ContentStore::open(&ctx.root).ok()?;
    let raw: Value = serde_json::from_slice(&content.read(&r.config).ok()?).ok()?;
    let tags: Vec<String> = images
        .list()
        .ok()?
        .into_iter()
        .filter(|i| i.config == r.config)
        .map(|i| i.name)
        .collect();
    Some(json!({
        "Id": r.config.to_string(),
        "RepoTags": tags,
        "Created": raw["created"],
        "Architecture": raw["architecture"],
        "Os": raw["os"],
        "Config": raw["config"],
        "RootFS": raw["rootfs"],
    }))
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let template = args
        .format
        .as_deref()
        .map(|f| Template::parse(f, Style::Go))
        .transpose()
        .map_err(|e| anyhow!(e))?;
    let store = ContainerStore::open(ctx)?;
    let kind = args.kind.as_deref().unwrap_or("");
    let mut out = Vec::new();
    let mut failed = false;
    for n in &args.names {
        let mut found = None;
        if kind.is_empty() || kind == "container" {
            match store.resolve(n) {
                Ok(rec) => found = Some(container_json(ctx, &rec)?),
                // a container that is there but unreadable: say which file
                Err(e @ crate::container::ContainerError::Corrupt { .. }) => {
                    eprintln!("Error: {e}");
                    failed = true;
                    continue;
                }
                Err(_) => {}
            }
        }
        if found.is_none() && (kind.is_empty() || kind == "image") {
            found = crate::image::view::inspect_json(ctx, n)
                .ok()
                .or_else(|| image_json(ctx, n));
        }
        if found.is_none() && (kind.is_empty() || kind == "volume") {
            if let Ok(Some(v)) = crate::volume::VolumeStore::open(ctx).and_then(|vs| vs.get(n)) {
                found = Some(v.inspect_json());
            }
        }
        match found {
            Some(v) => out.push(v),
            None => {
                eprintln!("Error: No such object: {n}");
                failed = true;
            }
        }
    }
    match template {
        Some(t) => {
            for v in &out {
                println!("{}", t.render(v).map_err(|e| anyhow!(e))?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&Value::Array(out))?),
    }
    Ok(if failed { 1 } else { 0 })
}
