//! `berth restart`: stop (if running), then start.

use crate::container::ContainerStore;
use crate::context::Context;

/// `stop`'s flags: the stop half of a restart takes them.
pub use super::stop::Args;

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    Ok(super::for_each_container(&args.containers, |c| {
        let rec = store.resolve(c)?;
        super::stop::stop_container(ctx, &rec, args.signal.as_deref(), args.time)?;
        let _lock = store.lock(&rec.id)?;
        let rec = store.load(&rec.id)?;
        super::start::start_container(ctx, &rec, None, true)?;
        Ok(None)
    }))
}
