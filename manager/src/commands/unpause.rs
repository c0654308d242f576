//! `berth unpause`: thaw paused containers.

use crate::cli::for_each_container;
use crate::container::{self, ContainerStore};
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    Ok(for_each_container(&args.containers, |name| {
        let c = container::lock_by_name(&store, name)?;
        container::unpause(ctx, &c)?;
        Ok(None)
    }))
}
