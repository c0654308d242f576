//! `berth internal` (hidden): callbacks from the shim. `exited <id>` is the
//! shim's exit hook: unmount the rootfs of a container that will not restart
//! and auto-remove a `--rm` container.

use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Internal,
}

#[derive(clap::Subcommand, Debug)]
pub enum Internal {
    /// The container exited for good (the shim's exit hook)
    Exited { id: String },
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    match args.command {
        Internal::Exited { id } => {
            // Under the container's lock this re-reads the state: a hook that comes
            // late, after a new start, finds the container running and does nothing.
            super::start::handle_exited(ctx, &id, None)?;
            Ok(0)
        }
    }
}
