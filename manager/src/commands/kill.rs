//! `berth kill`: send a signal to running containers.

use crate::cli::for_each_container;
use crate::container::{self, ContainerStore, Signal};
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let sig = Signal::parse(&args.signal)?;
    let store = ContainerStore::open(ctx)?;
    Ok(for_each_container(&args.containers, |name| {
        let c = container::lock_by_name(&store, name)?;
        container::kill(ctx, &c, sig)?;
        Ok(None)
    }))
}
