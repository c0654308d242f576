//! `berth commit`: a container's changes as a new image.

use crate::container::{self, commit, ContainerStore};
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit (default true; `--pause=false` not to)
    #[arg(short, long, num_args = 0..=1, default_value = "true", default_missing_value = "true",
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG] of the new image
    pub reference: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    let c = container::lock_by_name(&store, &args.container)?;
    let opts = commit::CommitOptions {
        reference: args.reference,
        message: args.message,
        author: args.author,
        changes: args.change,
        pause: args.pause,
    };
    let rec = commit::commit(ctx, &c, &opts)?;
    println!("{}", rec.config);
    Ok(0)
}
