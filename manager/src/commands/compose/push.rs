//! `berth compose push`: push the images of services that build.

use super::ProjectFlags;
use crate::compose::registry;
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Push without printing progress information
    #[arg(short, long)]
    pub quiet: bool,
    /// Push what it can and ignore images with push failures
    #[arg(long)]
    pub ignore_push_failures: bool,
    pub service: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let project = super::load(flags, &args.service)?;
    registry::push(
        ctx,
        &project,
        &args.service,
        args.quiet,
        args.ignore_push_failures,
    )?;
    Ok(0)
}
