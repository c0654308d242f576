//! berth: the daemonless container manager. Images, volumes and containers,
//! driven through berth-shim and berth-runtime the way containerd drives its
//! shim and runc.

mod archive;
mod cli;
mod commands;
mod container;
mod context;
mod gc;
mod image;
mod registry;
mod shim_client;
mod snapshot;
mod spec;
mod store;
mod volume;

use clap::Parser;
use std::process::ExitCode;

/// docker's convention: the container's own status when there is one, 125 when
/// berth itself failed.
const EXIT_BERTH_ERROR: u8 = 125;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let ctx = context::Context::new(cli.root.clone(), cli.state.clone());
    match commands::dispatch(&ctx, cli.command) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(err) => {
            eprintln!("berth: {err:#}");
            ExitCode::from(EXIT_BERTH_ERROR)
        }
    }
}
