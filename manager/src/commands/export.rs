//! `berth export`: a container's root filesystem as a tar.

use crate::container::{self, commit, ContainerStore};
use crate::context::Context;
use anyhow::{bail, Context as _};
use std::io::IsTerminal;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<String>,
    pub container: String,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    let c = container::lock_by_name(&store, &args.container)?;
    match &args.output {
        Some(path) => {
            let f = std::fs::File::create(path).with_context(|| format!("create {path}"))?;
            commit::export(ctx, &c, std::io::BufWriter::new(f))?;
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            commit::export(ctx, &c, std::io::BufWriter::new(std::io::stdout().lock()))?;
        }
    }
    Ok(0)
}
