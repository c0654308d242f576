//! `berth compose restart`: stop then start the services' containers.

use super::ProjectFlags;
use crate::compose::engine;
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long)]
    pub timeout: Option<i64>,
    /// Don't restart dependent services
    #[arg(long)]
    pub no_deps: bool,
    pub service: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let name = super::project_name(flags)?;
    let members = engine::select(ctx, &name, &args.service)?;
    engine::stop(ctx, members.clone(), super::up::timeout(args.timeout))?;
    engine::start(ctx, members)?;
    Ok(0)
}
