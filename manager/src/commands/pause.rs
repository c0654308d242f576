//! `berth pause`: freeze the container's processes (`berth-runtime pause`).

use crate::container::{self, ContainerRecord, ContainerStore};
use crate::context::Context;
use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Pause or resume through the runtime; the shim does not track the freezer, so
/// a marker in the shim's directory records it for `ps`/`inspect`.
pub fn set_paused(ctx: &Context, rec: &ContainerRecord, pause: bool) -> anyhow::Result<()> {
    super::stop::runtime(ctx, &[if pause { "pause" } else { "resume" }, &rec.id])?;
    let marker = container::paused_marker(ctx, rec);
    if pause {
        std::fs::write(&marker, b"")?;
    } else {
        let _ = std::fs::remove_file(&marker);
    }
    Ok(())
}

pub fn pause_all(ctx: &Context, names: &[String], pause: bool) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    Ok(super::for_each_container(names, |c| {
        let rec = store.resolve(c)?;
        let _lock = store.lock(&rec.id)?;
        let st = container::state(ctx, &rec)?;
        if !st.running {
            bail!("Container {} is not running", rec.id);
        }
        if pause && st.paused {
            bail!("Container {} is already paused", rec.id);
        }
        if !pause && !st.paused {
            bail!("Container {} is not paused", rec.id);
        }
        set_paused(ctx, &rec, pause)?;
        Ok(None)
    }))
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    pause_all(ctx, &args.containers, true)
}
