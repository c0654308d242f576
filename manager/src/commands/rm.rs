//! `berth rm`: remove containers (`-f` kills a running one first, `-v` removes
//! its anonymous volumes). Also repairs what a killed `berth` left: a rootfs
//! still mounted, runtime state without a shim, a stray shim.

use crate::cli::for_each_container;
use crate::container::{self, ContainerStore, RemoveOptions};
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    let opts = RemoveOptions {
        force: args.force,
        volumes: args.volumes,
    };
    Ok(for_each_container(&args.containers, |name| {
        container::remove::remove_by_name(ctx, &store, name, opts)?;
        Ok(None)
    }))
}
