//! `berth compose create`: create the project's containers without starting
//! them.

use super::ProjectFlags;
use crate::compose::engine::{self, UpFlags};
use crate::compose::planner::UpOptions;
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Build images before starting containers
    #[arg(long)]
    pub build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long)]
    pub no_build: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long)]
    pub pull: Option<String>,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long)]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long)]
    pub no_recreate: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    pub service: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let project = super::load(flags, &args.service)?;
    let up = UpFlags {
        plan: UpOptions {
            force_recreate: args.force_recreate,
            no_recreate: args.no_recreate,
            remove_orphans: args.remove_orphans,
            services: args.service,
            ..UpOptions::default()
        },
        no_start: true,
        pull: args.pull,
        build: args.build,
        no_build: args.no_build,
        ..UpFlags::default()
    };
    engine::up(ctx, &project, &up)?;
    Ok(0)
}
