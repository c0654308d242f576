//! `berth network disconnect NETWORK CONTAINER`.

use crate::container::ContainerStore;
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub network: String,
    pub container: String,
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    let rec = store.resolve(&args.container)?;
    let _lock = store.lock(&rec.id)?;
    let mut rec = store.load(&rec.id)?;
    crate::network::disconnect(ctx, &mut rec, &args.network)?;
    Ok(0)
}
