//! `berth compose pause`: freeze the services' containers.

use super::ProjectFlags;
use crate::compose::engine;
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub service: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let name = super::project_name(flags)?;
    let members = engine::select(ctx, &name, &args.service)?
        .into_iter()
        .filter(|m| m.running && m.state != "paused")
        .collect();
    engine::pause(ctx, members, true)?;
    Ok(0)
}
