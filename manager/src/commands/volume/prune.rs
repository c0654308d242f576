//! `berth volume prune [-f] [-a]`: docker >= 23: only anonymous unused volumes unless
//! `-a`.

use super::Filter;
use crate::context::Context;
use crate::format::human_size;
use crate::volume::{users, VolumeStore};
use std::io::{BufRead, Write};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Filter: label=key[=value]
    #[arg(long = "filter")]
    pub filters: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let filter = Filter::parse(&args.filters)?;
    if !args.force {
        let what = if args.all {
            "all volumes not used by at least one container"
        } else {
            "all anonymous local volumes not used by at least one container"
        };
        print!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let store = VolumeStore::open(ctx)?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0;
    for v in store.list()? {
        if !(args.all || v.anonymous) || !filter.matches(&v, false) {
            continue;
        }
        let in_use = users(ctx, &v.name);
        if !in_use.is_empty() {
            continue;
        }
        let size = store.size(&v);
        match store.remove(&v.name, &in_use) {
            Ok(()) => {
                reclaimed += size;
                deleted.push(v.name);
            }
            Err(e) => eprintln!("berth: {e}"),
        }
    }
    if !deleted.is_empty() {
        println!("Deleted Volumes:");
        for n in &deleted {
            println!("{n}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(0)
}
