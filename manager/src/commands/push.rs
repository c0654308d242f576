//! `berth push`: upload an image to a registry.

use crate::cli::registry_args::RegistryArgs;
use crate::context::Context;
use crate::registry;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Suppress the progress output
    #[arg(short, long)]
    pub quiet: bool,
    /// Image name: NAME[:TAG] (give a local image this name first with `berth tag`)
    pub name: String,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let opts = args.registry.options(None, args.quiet);
    registry::push(ctx, &args.name, &opts)?;
    Ok(0)
}
