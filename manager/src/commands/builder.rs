//! `berth builder prune`: drop the build cache (dangling entries; `-a` all;
//! `--filter until=`, `--keep-storage`), then the blobs and snapshots only it kept.

use crate::build::cache::PruneOptions;
use crate::context::Context;
use crate::format::human_size;
use crate::store::StoreLock;
use crate::system::prune::parse_time;
use anyhow::{anyhow, bail};
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
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. 'until=24h')
    #[arg(long)]
    pub filter: Vec<String>,
    /// Amount of disk space to keep for cache (e.g. 512m)
    #[arg(long)]
    pub keep_storage: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let Sub::Prune(a) = args.command;
    let mut opts = PruneOptions {
        all: a.all,
        ..Default::default()
    };
    for f in &a.filter {
        match f.split_once('=') {
            Some(("until", v)) => {
                opts.until = Some(parse_time(v).ok_or_else(|| {
                    anyhow!("invalid filter until={v:?}: not a timestamp or a duration")
                })?)
            }
            _ => bail!("invalid filter {f:?} (builder prune takes until=)"),
        }
    }
    if let Some(k) = &a.keep_storage {
        let n = crate::spec::parse_size(k)?;
        opts.keep_storage =
            Some(u64::try_from(n).map_err(|_| anyhow!("invalid --keep-storage {k:?}"))?);
    }
    if !a.force {
        let what = if a.all {
            "all build cache"
        } else {
            "all dangling build cache"
        };
        eprint!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let n = crate::build::prune(ctx, &opts)?;
    let lock = StoreLock::exclusive(&ctx.root)?;
    let stats = crate::gc::collect(&ctx.root, &lock)?;
    println!("Deleted build cache objects: {n}");
    println!("Total reclaimed space: {}", human_size(stats.bytes));
    Ok(0)
}
