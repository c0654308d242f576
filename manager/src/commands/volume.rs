//! `berth volume`: manage volumes.

use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_ctx: &Context, _args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`berth volume` is not available in this build yet")
}
