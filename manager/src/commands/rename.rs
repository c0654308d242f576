//! `berth rename`: give a container another (unique) name.

use crate::container::{self, ContainerStore};
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub container: String,
    pub new_name: String,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    let c = container::lock_by_name(&store, &args.container)?;
    container::rename(&c, &args.new_name)?;
    // peers on its user networks resolve it by its new name
    crate::network::refresh_names(ctx, &c.record().id)?;
    Ok(0)
}
