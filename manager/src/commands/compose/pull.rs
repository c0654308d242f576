//! `berth compose pull`: pull the services' images.

use super::ProjectFlags;
use crate::compose::registry;
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Pull without printing progress information
    #[arg(short, long)]
    pub quiet: bool,
    /// Pull what it can and ignore images with pull failures
    #[arg(long)]
    pub ignore_pull_failures: bool,
    /// Also pull services declared as dependencies
    #[arg(long)]
    pub include_deps: bool,
    pub service: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let project = super::load(flags, &args.service)?;
    let services: Vec<String> = if args.include_deps && !args.service.is_empty() {
        crate::compose::planner::with_dependencies(&project, &args.service)
            .into_iter()
            .collect()
    } else {
        args.service
    };
    registry::pull(
        ctx,
        &project,
        &services,
        args.quiet,
        args.ignore_pull_failures,
    )?;
    Ok(0)
}
