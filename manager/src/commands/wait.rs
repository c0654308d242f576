//! `berth wait`: block until containers stop, print their exit codes.

use crate::cli::for_each_container;
use crate::container::{self, ContainerStore, WaitCondition};
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Wait until the container is not-running (default), next-exit or removed
    #[arg(long, default_value = "not-running")]
    pub condition: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let cond = match args.condition.as_str() {
        "not-running" => WaitCondition::NotRunning,
        "next-exit" => WaitCondition::NextExit,
        "removed" => WaitCondition::Removed,
        other => {
            anyhow::bail!("invalid --condition {other:?}: use not-running, next-exit or removed")
        }
    };
    let store = ContainerStore::open(ctx)?;
    Ok(for_each_container(&args.containers, |name| {
        let rec = store.resolve(name)?;
        Ok(Some(container::wait(ctx, &rec.id, cond)?.to_string()))
    }))
}
