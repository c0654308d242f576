//! `berth compose start`: start the services' existing containers.

use super::ProjectFlags;
use crate::compose::engine;
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub service: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let name = super::project_name(flags)?;
    let members = engine::select(ctx, &name, &args.service)?;
    if members.is_empty() {
        anyhow::bail!("service(s) {:?} have no container to start", args.service);
    }
    engine::start(ctx, members)?;
    Ok(0)
}
