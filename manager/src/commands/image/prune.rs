//! `berth image prune`: remove dangling images (`-a`: every image no
//! container uses) that pass the filters (`until=`, `label=`, `label!=`),
//! then the blobs and snapshots nothing references.

use crate::context::Context;
use crate::format::human_size;
use crate::system::prune::{prune_images, PruneFilter};
use std::io::BufRead;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove all images not used by a container, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. 'until=<timestamp>', 'label=k=v', 'label!=k')
    #[arg(long)]
    pub filter: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let f = PruneFilter::parse(&args.filter)?;
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
    // As docker's: the build cache stays (`builder prune` / `system prune` take it).
    let p = prune_images(ctx, args.all, &f)?;
    if !p.untagged.is_empty() || !p.deleted.is_empty() {
        println!("Deleted Images:");
        for u in &p.untagged {
            println!("untagged: {u}");
        }
        for d in &p.deleted {
            println!("deleted: {d}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(p.bytes));
    Ok(0)
}
