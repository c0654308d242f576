//! `berth system prune`: stopped containers, dangling (`-a`: unused) images
//! and build cache, with `--volumes` unused anonymous volumes.

use crate::context::Context;
use crate::format::human_size;
use crate::system::prune::{prune_containers, prune_images, PruneFilter};
use crate::volume::{users, VolumeStore};
use std::io::{BufRead, Write};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Prune volumes
    #[arg(long)]
    pub volumes: bool,
    /// Provide filter values (e.g. 'label=<key>=<value>', 'until=24h')
    #[arg(long)]
    pub filter: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let f = PruneFilter::parse(&args.filter)?;
    if args.volumes && !args.filter.is_empty() {
        anyhow::bail!("system prune: --filter is not supported with --volumes");
    }
    if !args.force {
        let mut what = vec!["  - all stopped containers"];
        if args.volumes {
            what.push("  - all anonymous volumes not used by at least one container");
        }
        what.push(if args.all {
            "  - all images without at least one container associated to them"
        } else {
            "  - all dangling images"
        });
        what.push(if args.all {
            "  - all build cache"
        } else {
            "  - all dangling build cache"
        });
        print!(
            "WARNING! This will remove:\n{}\n\nAre you sure you want to continue? [y/N] ",
            what.join("\n")
        );
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let mut total = 0;
    let c = prune_containers(ctx, &f)?;
    if !c.deleted.is_empty() {
        println!("Deleted Containers:");
        c.deleted.iter().for_each(|d| println!("{d}"));
        println!();
    }
    total += c.bytes;
    if args.volumes {
        let store = VolumeStore::open(ctx)?;
        let mut deleted = Vec::new();
        for v in store.list()? {
            if !v.anonymous || !users(ctx, &v.name).is_empty() {
                continue;
            }
            let size = store.size(&v);
            if store.remove(&v.name, &[]).is_ok() {
                total += size;
                deleted.push(v.name);
            }
        }
        if !deleted.is_empty() {
            println!("Deleted Volumes:");
            deleted.iter().for_each(|d| println!("{d}"));
            println!();
        }
    }
    // The build cache before the images: the images' gc then takes its layers.
    let cache = crate::build::prune(
        ctx,
        &crate::build::cache::PruneOptions {
            all: args.all,
            until: f.until(),
            keep_storage: None,
        },
    )?;
    let i = prune_images(ctx, args.all, &f)?;
    if !i.untagged.is_empty() || !i.deleted.is_empty() {
        println!("Deleted Images:");
        i.untagged.iter().for_each(|u| println!("untagged: {u}"));
        i.deleted.iter().for_each(|d| println!("deleted: {d}"));
        println!();
    }
    total += i.bytes;
    if cache > 0 {
        println!("Deleted build cache objects: {cache}");
        println!();
    }
    println!("Total reclaimed space: {}", human_size(total));
    Ok(0)
}
