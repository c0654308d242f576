//! `berth compose stop`: stop the services' containers (dependents first).

use super::ProjectFlags;
use crate::compose::engine;
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long)]
    pub timeout: Option<i64>,
    pub service: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let name = super::project_name(flags)?;
    let members = engine::select(ctx, &name, &args.service)?;
    engine::stop(ctx, members, super::up::timeout(args.timeout))?;
    Ok(0)
}
