//! `berth volume create [NAME]`.

use crate::context::Context;
use crate::volume::VolumeStore;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Volume name (a random 64-hex name when omitted)
    pub name: Option<String>,
    /// Volume driver (only "local")
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Set metadata (key=value)
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Driver options: type=tmpfs,device=tmpfs,o=size=64m or type=none,o=bind,device=/path
    #[arg(short = 'o', long = "opt")]
    pub opts: Vec<String>,
    /// Volume name (docker's alternative to the argument)
    #[arg(long = "name", conflicts_with = "name")]
    pub name_flag: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = VolumeStore::open(ctx)?;
    let name = args.name.or(args.name_flag);
    let vol = store.create_with_driver(
        name.as_deref(),
        &args.driver,
        super::key_values(&args.labels),
        super::key_values(&args.opts),
        false,
    )?;
    println!("{}", vol.name);
    Ok(0)
}
