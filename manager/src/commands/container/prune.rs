//! `berth container prune`: remove all stopped containers.

use crate::context::Context;
use crate::format::human_size;
use crate::system::prune::{prune_containers, PruneFilter};
use std::io::{BufRead, Write};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. 'until=<timestamp>', 'label=k=v')
    #[arg(long)]
    pub filter: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let f = PruneFilter::parse(&args.filter)?;
    if !args.force {
        print!("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let p = prune_containers(ctx, &f)?;
    if !p.deleted.is_empty() {
        println!("Deleted Containers:");
        p.deleted.iter().for_each(|d| println!("{d}"));
        println!();
    }
    println!("Total reclaimed space: {}", human_size(p.bytes));
    Ok(0)
}
