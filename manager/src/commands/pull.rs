//! `berth pull`: download an image from a registry.

use crate::cli::registry_args::RegistryArgs;
use crate::context::Context;
use crate::registry;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Pull this platform of a multi-platform image (os/arch[/variant]; default: this host's)
    #[arg(long)]
    pub platform: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Suppress the progress output (print only the image name)
    #[arg(short, long)]
    pub quiet: bool,
    /// Image name: NAME[:TAG|@DIGEST]
    pub name: String,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let opts = args.registry.options(args.platform, args.quiet);
    let record = registry::pull(ctx, &args.name, &opts)?;
    println!("{}", record.name);
    Ok(0)
}
