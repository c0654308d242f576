//! `berth stop`: the stop signal, then SIGKILL after the timeout.

use crate::cli::for_each_container;
use crate::cli::stop_flags::StopFlags;
use crate::container::{self, ContainerStore};
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub stop: StopFlags,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    Ok(for_each_container(&args.containers, |name| {
        let (timeout, signal) = args.stop.resolve()?;
        let c = container::lock_by_name(&store, name)?;
        container::stop(ctx, &c, timeout, signal)?;
        Ok(None)
    }))
}
