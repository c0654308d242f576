//! `berth wait`: block until containers stop, print their exit codes.

use crate::container::{self, ContainerRecord, ContainerStore};
use crate::context::Context;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// The exit code once the container is not running (or will not restart).
pub fn wait_exit(ctx: &Context, rec: &ContainerRecord) -> anyhow::Result<i32> {
    loop {
        let st = container::state(ctx, rec)?;
        if !st.running && st.status != "created" {
            return Ok(st.exit_code);
        }
        if st.status == "created" && !st.shim_alive {
            // never started: docker waits for it to start and exit; so do we
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        if st.shim_alive && !st.restarting {
            if let Ok(v) =
                crate::shim_client::request(&rec.shim_dir(ctx), &crate::shim_client::Request::Wait)
            {
                if v["status"] != "restarting" && v["status"] != "running" {
                    return Ok(v["exit_code"].as_i64().unwrap_or(0) as i32);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    Ok(super::for_each_container(&args.containers, |c| {
        let rec = store.resolve(c)?;
        Ok(Some(wait_exit(ctx, &rec)?.to_string()))
    }))
}
