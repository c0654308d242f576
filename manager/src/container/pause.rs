//! `pause`/`unpause`: freeze and thaw the container's processes through the
//! runtime. Lock: the container's.

use super::error::LifecycleError;
use super::lock::Locked;
use super::record::ContainerRecord;
use super::runtime;
use super::state::{self, paused_marker};
use crate::context::Context;

pub fn pause(ctx: &Context, c: &Locked) -> Result<(), LifecycleError> {
    let st = state::state(ctx, c);
    if !st.running {
        return Err(LifecycleError::NotRunning(format!(
            "Container {} is not running",
            c.id
        )));
    }
    if st.paused {
        return Err(LifecycleError::Conflict(format!(
            "Container {} is already paused",
            c.id
        )));
    }
    set_paused(ctx, c, true)?;
    crate::events::container(ctx, c, "pause", &[]);
    Ok(())
}

pub fn unpause(ctx: &Context, c: &Locked) -> Result<(), LifecycleError> {
    let st = state::state(ctx, c);
    if !st.running {
        return Err(LifecycleError::NotRunning(format!(
            "Container {} is not running",
            c.id
        )));
    }
    if !st.paused {
        return Err(LifecycleError::Conflict(format!(
            "Container {} is not paused",
            c.id
        )));
    }
    set_paused(ctx, c, false)?;
    crate::events::container(ctx, c, "unpause", &[]);
    Ok(())
}

/// Pause or resume through the runtime; the shim does not track the freezer,
/// so a marker in the shim's directory records it for `ps`/`inspect`. The
/// caller holds the container's lock.
pub(crate) fn set_paused(
    ctx: &Context,
    rec: &ContainerRecord,
    pause: bool,
) -> Result<(), LifecycleError> {
    runtime::run(ctx, &[if pause { "pause" } else { "resume" }, &rec.id])?;
    let marker = paused_marker(ctx, rec);
    if pause {
        std::fs::write(&marker, b"").map_err(LifecycleError::io("write", &marker))?;
    } else {
        let _ = std::fs::remove_file(&marker);
    }
    Ok(())
}
