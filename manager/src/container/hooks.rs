//! The seam where other subsystems (networking first) take resources for a
//! container and give them back, like netavark's drivers: `prepare` runs in
//! `start` before the shim starts (the container's lock held) and may edit the
//! OCI spec; `release` runs in `on_exit`, in `remove` and when a start fails
//! after `prepare`. See docs/lifecycle.md.

use super::error::HookError;
use super::lock::Locked;
use crate::context::Context;

pub trait Hook {
    /// A short name for errors ("network").
    fn name(&self) -> &'static str;
    /// Take what the container needs and edit its spec (e.g. point the network
    /// namespace at a prepared one). Called with the container's lock held.
    fn prepare(
        &self,
        ctx: &Context,
        c: &Locked,
        spec: &mut oci_spec::runtime::Spec,
    ) -> Result<(), HookError>;
    /// Give back what `prepare` took. Idempotent: after a crash or a second
    /// exit it may find nothing to release, which is not an error.
    fn release(&self, ctx: &Context, c: &Locked) -> Result<(), HookError>;
}

/// The registry of hooks, in the order `prepare` runs (`release` runs in
/// reverse).
pub fn hooks() -> Vec<Box<dyn Hook>> {
    vec![Box::new(crate::network::hook::NetworkHook)]
}
