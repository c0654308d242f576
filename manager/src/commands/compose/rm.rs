//! `berth compose rm`: remove the services' stopped containers.

use super::ProjectFlags;
use crate::compose::engine;
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Don't ask to confirm removal
    #[arg(short, long)]
    pub force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short, long)]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short, long)]
    pub volumes: bool,
    pub service: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let name = super::project_name(flags)?;
    let members = engine::select(ctx, &name, &args.service)?;
    if args.stop {
        engine::stop(ctx, members.clone(), None)?;
    }
    // berth never prompts: -f is accepted for docker's command lines.
    let members = engine::select(ctx, &name, &args.service)?;
    if members.iter().all(|m| m.running) {
        eprintln!("No stopped containers");
        return Ok(0);
    }
    engine::remove(ctx, members, false, args.volumes)?;
    Ok(0)
}
