//! `berth compose build`: build the services' images (through the build
//! library).

use super::ProjectFlags;
use crate::compose::build::BuildFlags;
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Don't print anything to stdout
    #[arg(short, long)]
    pub quiet: bool,
    /// Set build-time variables for services
    #[arg(long)]
    pub build_arg: Vec<String>,
    pub service: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let project = super::load(flags, &args.service)?;
    let bf = BuildFlags {
        no_cache: args.no_cache,
        pull: args.pull,
        quiet: args.quiet,
        build_args: args.build_arg,
    };
    crate::compose::build::build(ctx, &project, &args.service, &bf)?;
    Ok(0)
}
