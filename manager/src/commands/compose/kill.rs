//! `berth compose kill`: signal the services' running containers.

use super::ProjectFlags;
use crate::compose::engine;
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// SIGNAL to send to the container
    #[arg(short, long, default_value = "SIGKILL")]
    pub signal: String,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    pub service: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    if args.remove_orphans {
        anyhow::bail!(
            "kill --remove-orphans is not supported by berth (use down --remove-orphans)"
        );
    }
    let name = super::project_name(flags)?;
    let members = engine::select(ctx, &name, &args.service)?;
    engine::kill(ctx, members, &args.signal)?;
    Ok(0)
}
