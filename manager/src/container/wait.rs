//! `wait`: block until a container reaches a condition; its exit code. Takes
//! no lock (it only reads).

use super::error::LifecycleError;
use super::state::{self, ShimStatus, Status};
use super::store::ContainerStore;
use crate::context::Context;
use crate::shim_client::{self, Request};
use std::time::Duration;

/// docker's `wait --condition`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WaitCondition {
    /// Until it is not running (a created container: until it ran and exited).
    #[default]
    NotRunning,
    /// Until it exits after running next (waits for a start first when it is
    /// not running).
    NextExit,
    /// Until it is removed.
    Removed,
}

/// Wait for container `id` (a full id); its exit code.
pub fn wait(ctx: &Context, id: &str, cond: WaitCondition) -> Result<i32, LifecycleError> {
    let store = ContainerStore::open(ctx)?;
    match cond {
        WaitCondition::NotRunning => wait_exit(ctx, &store, id),
        WaitCondition::NextExit => {
            loop {
                let rec = store.load(id)?;
                if state::state(ctx, &rec).running {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            wait_exit(ctx, &store, id)
        }
        WaitCondition::Removed => {
            let mut code = 0;
            loop {
                match store.load(id) {
                    Ok(rec) => code = state::state(ctx, &rec).exit_code,
                    Err(super::ContainerError::NotFound(_)) => return Ok(code),
                    Err(e) => return Err(e.into()),
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The exit code once the container is not running (or will not restart).
fn wait_exit(ctx: &Context, store: &ContainerStore, id: &str) -> Result<i32, LifecycleError> {
    let rec = store.load(id)?;
    loop {
        let st = state::state(ctx, &rec);
        if !st.running && st.status != Status::Created {
            return Ok(st.exit_code);
        }
        if st.status == Status::Created && !st.shim_alive {
            // never started: docker waits for it to start and exit; so do we
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        if st.shim_alive && !st.restarting {
            if let Ok(s) = shim_client::request::<ShimStatus>(&rec.shim_dir(ctx), &Request::Wait) {
                if s.status != "restarting" && s.status != "running" {
                    return Ok(s.exit_code.unwrap_or(0));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
