//! `boot`: what a daemon did at its start, run once at boot by an init unit
//! (`integration/boot/`): containers with `--restart always`, and those with
//! `unless-stopped` that were not stopped by a user, are started again. A
//! reboot emptied the state dir (shims, runtime state); the records and each
//! container's last status (`last-status.json`) are in the store.

use super::error::LifecycleError;
use super::lock;
use super::record::RestartPolicy;
use super::start::{start, StartMode};
use super::state::{read_last_status, state};
use super::store::ContainerStore;
use crate::context::Context;

/// What `boot` did with one container.
pub struct Booted {
    pub name: String,
    pub result: Result<(), LifecycleError>,
}

/// Start every container its restart policy brings back; already running
/// ones are left alone. One failure does not stop the others.
pub fn boot(ctx: &Context) -> Result<Vec<Booted>, LifecycleError> {
    let store = ContainerStore::open(ctx)?;
    let mut out = Vec::new();
    for rec in store.list()? {
        let wanted = match rec.host_config.restart_policy {
            RestartPolicy::Always => true,
            RestartPolicy::UnlessStopped => {
                !read_last_status(ctx, &rec).is_some_and(|s| s.user_stopped)
            }
            RestartPolicy::No | RestartPolicy::OnFailure(_) => false,
        };
        if !wanted || state(ctx, &rec).running {
            continue;
        }
        let result = (|| {
            let c = lock::lock(&store, &rec.id)?;
            // Checked again under the lock: another boot may have started it.
            if state(ctx, &c).running {
                return Ok(());
            }
            start(ctx, &c, StartMode::Now).map(drop)
        })();
        out.push(Booted {
            name: rec.name.clone(),
            result,
        });
    }
    Ok(out)
}
