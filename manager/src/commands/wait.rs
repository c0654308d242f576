//! `berth wait`: wait for containers to stop and print their exit codes.

use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_ctx: &Context, _args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`berth wait` is not available in this build yet")
}
