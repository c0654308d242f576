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
    Ok(0)
}
