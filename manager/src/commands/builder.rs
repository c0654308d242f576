//! `berth builder prune`: drop the build cache, then the blobs and snapshots
//! only it kept.

use crate::context::Context;
use crate::format::human_size;
use crate::store::StoreLock;
use std::io::BufRead;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Remove build cache
    Prune(PruneArgs),
}

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Remove all build cache (berth's cache has no other kind)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let Sub::Prune(a) = args.command;
    if !a.force {
        eprint!(
            "WARNING! This will remove all build cache.\nAre you sure you want to continue? [y/N] "
        );
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let n = crate::build::prune(ctx)?;
    let lock = StoreLock::exclusive(&ctx.root)?;
    let stats = crate::gc::collect(&ctx.root, &lock)?;
    println!("Deleted build cache objects: {n}");
    println!("Total reclaimed space: {}", human_size(stats.bytes));
    Ok(0)
}
