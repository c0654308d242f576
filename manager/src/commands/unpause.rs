//! `berth unpause`: thaw a paused container (`berth-runtime resume`).

use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    super::pause::pause_all(ctx, &args.containers, false)
}
