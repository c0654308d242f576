//! The verbs only `berth image` has (inspect, prune, unpack); the group itself
//! (`berth image ls` is `berth images`, ...) is dispatched in `commands/mod.rs`.

pub mod inspect;
pub mod prune;

use crate::context::Context;
use crate::store::ContentStore;

#[derive(clap::Args, Debug)]
pub struct UnpackArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `berth image unpack`.
pub fn unpack(ctx: &Context, args: UnpackArgs) -> anyhow::Result<i32> {
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
