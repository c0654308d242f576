//! `berth restart`: stop (if running), then start, under one hold of the
//! container's lock.

use crate::cli::for_each_container;
use crate::cli::stop_flags::StopFlags;
use crate::container::{self, ContainerStore, StartMode};
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
        if !store.exists(&c.id) {
            // a `--rm` container is gone once stopped
            anyhow::bail!("No such container: {name}");
        }
        container::start(ctx, &c, StartMode::Now)?;
        Ok(None)
    }))
}
