//! `berth network prune`: remove user networks no container uses (and repair
//! what crashes left: stale endpoints, veths, namespaces, rules).

use crate::context::Context;
use std::io::{BufRead, Write};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Filter: label=key[=value], label!=key[=value]
    #[arg(long = "filter")]
    pub filters: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let mut want: Vec<(bool, String)> = Vec::new();
    for f in &args.filters {
        match f.split_once('=') {
            Some(("label", v)) => want.push((true, v.to_string())),
            Some(("label!", v)) => want.push((false, v.to_string())),
            _ => anyhow::bail!("invalid filter {f:?} (label=..., label!=...)"),
        }
    }
    if !args.force {
        print!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let removed = crate::network::prune(ctx, |n| {
        !want.iter().all(|(pos, l)| {
            let has = match l.split_once('=') {
                Some((k, v)) => n.labels.get(k).is_some_and(|x| x == v),
                None => n.labels.contains_key(l.as_str()),
            };
            has == *pos
        })
    })?;
    if !removed.is_empty() {
        println!("Deleted Networks:");
        for n in &removed {
            println!("{n}");
        }
    }
    Ok(0)
}
