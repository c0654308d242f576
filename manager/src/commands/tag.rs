//! `berth tag`: give an image another name.

use crate::context::Context;
use crate::image::reference::normalize;
use crate::store::{now_rfc3339, ImageRecord, ImageStore, StoreLock};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// SOURCE_IMAGE[:TAG] (or an image id)
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let _lock = StoreLock::shared(&ctx.root)?;
    let images = ImageStore::open(&ctx.root)?;
    let src = images.resolve(&args.source)?;
    let name = normalize(&args.target)?;
    // A normalized name has a tag unless it names a digest.
    if name.contains('@') {
        anyhow::bail!(
            "refusing to create a tag with a digest reference: {}",
            args.target
        );
    }
    let id = src.config.to_string();
    let familiar = crate::image::reference::familiar(&name);
    images.put(ImageRecord {
        name,
        created: now_rfc3339(),
        ..src
    })?;
    crate::events::record(&ctx.root, "image", "tag", &id, &[("name", familiar)]);
    Ok(0)
}
