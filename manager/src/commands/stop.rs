//! `berth stop`: the stop signal, then SIGKILL after the timeout.

use crate::cli::for_each_container;
use crate::container::{self, stop::timeout_from_secs, ContainerStore, Signal};
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        alias = "timeout",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,
    /// Signal to send to the container
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    Ok(for_each_container(&args.containers, |name| {
        let signal = args.signal.as_deref().map(Signal::parse).transpose()?;
        let c = container::lock_by_name(&store, name)?;
        container::stop(ctx, &c, args.time.map(timeout_from_secs), signal)?;
        Ok(None)
    }))
}
