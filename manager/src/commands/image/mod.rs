//! `berth image`: manage images (ls, inspect, history, prune, rm, tag, load,
//! save, import), and what the image verbs share.

pub mod inspect;
pub mod prune;

pub use inspect::inspect_json;

use crate::context::Context;
use crate::image::reference::display_parts;
use crate::store::{ContentStore, Digest, ImageRecord};
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// List images
    #[command(alias = "list")]
    Ls(super::images::Args),
    /// Show detailed information on images
    Inspect(inspect::Args),
    /// Show an image's history
    History(super::history::Args),
    /// Build an image from a Dockerfile
    Build(Box<super::build::Args>),
    /// Remove unused images
    Prune(prune::Args),
    /// Remove images
    #[command(alias = "remove")]
    Rm(super::rmi::Args),
    /// Give an image another name
    Tag(super::tag::Args),
    /// Load images from a docker-archive or OCI-layout tar
    Load(super::load::Args),
    /// Save images to a docker-archive or OCI-layout tar
    Save(super::save::Args),
    /// Create an image from a rootfs tarball
    Import(super::r#import::Args),
    /// Extract an image's layers into snapshots now (run does it on demand)
    #[command(hide = true)]
    Unpack(UnpackArgs),
}

#[derive(clap::Args, Debug)]
pub struct UnpackArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
}

fn unpack(ctx: &Context, args: UnpackArgs) -> anyhow::Result<i32> {
    let _lock = crate::store::StoreLock::shared(&ctx.root)?;
    let content = ContentStore::open(&ctx.root)?;
    let images = crate::store::ImageStore::open(&ctx.root)?;
    let snaps = crate::snapshot::SnapshotStore::open(&ctx.root)?;
    for name in &args.images {
        let img = crate::image::Image::load(&content, images.resolve(name)?)?;
        snaps.unpack(&content, &img)?;
        for d in snaps.lowerdirs(&img)? {
            println!("{}", d.display());
        }
    }
    Ok(0)
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    match args.command {
        Sub::Ls(a) => super::images::run(ctx, a),
        Sub::Inspect(a) => inspect::run(ctx, a),
        Sub::History(a) => super::history::run(ctx, a),
        Sub::Build(a) => super::build::run(ctx, *a),
        Sub::Prune(a) => prune::run(ctx, a),
        Sub::Rm(a) => super::rmi::run(ctx, a),
        Sub::Tag(a) => super::tag::run(ctx, a),
        Sub::Load(a) => super::load::run(ctx, a),
        Sub::Save(a) => super::save::run(ctx, a),
        Sub::Import(a) => super::r#import::run(ctx, a),
        Sub::Unpack(a) => unpack(ctx, a),
    }
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
    pub fn load(content: &ContentStore, record: ImageRecord) -> anyhow::Result<View> {
        let manifest: Value = serde_json::from_slice(&content.read(&record.manifest)?)?;
        let manifest = if manifest.get("manifests").is_some() {
            // An index: show the platform manifest the image resolves to.
            let img = crate::image::Image::load(content, record.clone())?;
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

/// Go's `time.Time.String()` for an RFC 3339 UTC time: `2024-01-02 03:04:05 +0000 UTC`.
pub fn go_time(rfc3339: &str) -> String {
    match crate::store::parse_rfc3339(rfc3339) {
        Some(t) => {
            let s = crate::store::rfc3339(t, 0);
            format!("{} +0000 UTC", s.trim_end_matches('Z').replace('T', " "))
        }
        None => rfc3339.to_string(),
    }
}

/// Every view, newest first (docker's order).
pub fn all_views(ctx: &Context) -> anyhow::Result<Vec<View>> {
    let content = ContentStore::open(&ctx.root)?;
    let images = crate::store::ImageStore::open(&ctx.root)?;
    let mut out = Vec::new();
    for r in images.list()? {
        match View::load(&content, r.clone()) {
            Ok(v) => out.push(v),
            Err(e) => eprintln!("berth: image {}: {e:#}", r.name),
        }
    }
    out.sort_by(|a, b| {
        let ta = crate::store::parse_rfc3339(&a.created).unwrap_or(0);
        let tb = crate::store::parse_rfc3339(&b.created).unwrap_or(0);
        tb.cmp(&ta).then_with(|| a.record.name.cmp(&b.record.name))
    });
    Ok(out)
}
