//! `berth compose wait`: block until the services' containers stop; their
//! exit codes.

use super::ProjectFlags;
use crate::compose::engine;
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Drops project when the first container stops
    #[arg(long)]
    pub down_project: bool,
    pub service: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    if args.down_project {
        anyhow::bail!("wait --down-project is not supported by berth yet");
    }
    let name = super::project_name(flags)?;
    let members = engine::select(ctx, &name, &args.service)?;
    let mut last = 0;
    for (_, code) in engine::wait(ctx, &members)? {
        println!("{code}");
        last = code;
    }
    Ok(last)
}
