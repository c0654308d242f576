//! `berth image prune`: remove dangling images (`-a`: every image no
//! container uses), then the blobs and snapshots nothing references.

use crate::context::Context;
use crate::format::human_size;
use crate::store::images::is_dangling_name;
use crate::store::{ImageStore, StoreLock};
use std::collections::BTreeSet;
use std::io::BufRead;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove all images not used by a container, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Filters (`until=`, `label=`): not supported yet, an error
    #[arg(long)]
    pub filter: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    if let Some(f) = args.filter.first() {
        anyhow::bail!("image prune --filter {f:?}: filters are not supported yet");
    }
    if !args.force {
        let what = if args.all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        };
        eprint!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let lock = StoreLock::exclusive(&ctx.root)?;
    let images = ImageStore::open(&ctx.root)?;
    let used = crate::gc::used_image_ids(&ctx.root);
    let mut untagged = Vec::new();
    let mut deleted = BTreeSet::new();
    images.update(|all| {
        all.retain(|r| {
            let remove = !used.contains(&r.config) && (args.all || is_dangling_name(&r.name));
            if remove {
                if !is_dangling_name(&r.name) {
                    untagged.push(crate::image::reference::familiar(&r.name));
                }
                deleted.insert(r.config.clone());
            }
            !remove
        });
        // An id that still has a record is not deleted.
        for r in all.iter() {
            deleted.remove(&r.config);
        }
        Ok(())
    })?;
    // The build cache goes too (its layers are then only kept by images).
    crate::build::cache::clear(&ctx.root)?;
    let stats = crate::gc::collect(&ctx.root, &lock)?;
    if !untagged.is_empty() || !deleted.is_empty() {
        println!("Deleted Images:");
        for u in &untagged {
            println!("untagged: {u}");
        }
        for d in &deleted {
            println!("deleted: {d}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(stats.bytes));
    Ok(0)
}
