//! `berth restart`: stop (if running), then start.

use crate::container::ContainerStore;
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
    let mut failed = false;
    for c in &args.containers {
        let r = (|| -> anyhow::Result<()> {
            let rec = store.resolve(c)?;
            super::stop::stop_container(ctx, &rec, args.signal.as_deref(), args.time)?;
            let _lock = store.lock(&rec.id)?;
            let rec = store.load(&rec.id)?;
            super::start::start_container(ctx, &rec, None, true)?;
            Ok(())
        })();
        match r {
            Ok(()) => println!("{c}"),
            Err(e) => {
                eprintln!("Error: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
