//! berth: the daemonless container manager. Images, volumes and containers,
//! driven through berth-shim and berth-runtime the way containerd drives its
//! shim and runc.

// Every unsafe block says why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]

mod archive;
mod build;
mod cli;
mod commands;
mod compose;
mod config;
mod container;
mod context;
mod events;
mod format;
#[cfg(test)]
mod fuzz;
mod gc;
mod image;
mod network;
mod registry;
mod shim_client;
mod snapshot;
mod spec;
mod store;
mod sys;
mod system;
mod timing;
mod volume;

use clap::FromArgMatches;

// jemalloc, not musl's malloc: see manager/Cargo.toml.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use std::process::ExitCode;

/// docker's convention: the container's own status when there is one, 125 when
/// berth itself failed.
const EXIT_BERTH_ERROR: u8 = 125;

fn main() -> ExitCode {
    timing::mark("main");
    // The command tree is built once (thousands of allocations): the
    // normalizer and the parser share it.
    let command = <cli::Cli as clap::CommandFactory>::command();
    let argv = cli::argv::normalize(&command, std::env::args_os().collect());
    let parsed = command
        .try_get_matches_from(argv)
        .and_then(|matches| cli::Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        // Help and version are not errors; a bad flag or argument is one of
        // berth's errors (125, as docker), not clap's usual 2.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("berth: {}", cli::argv::short_error(&e));
            return ExitCode::from(EXIT_BERTH_ERROR);
        }
    };
    let explicit = cli.config.as_os_str() != config::DEFAULT_CONFIG;
    let settings = match config::Settings::load(&cli.config, explicit) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("berth: config: {e}");
            return ExitCode::from(EXIT_BERTH_ERROR);
        }
    };
    // Flags and environment win over the file, the file over the defaults.
    let root = cli
        .root
        .clone()
        .or_else(|| settings.data_root.clone())
        .unwrap_or_else(|| context::DEFAULT_ROOT.into());
    let state = cli
        .state
        .clone()
        .or_else(|| settings.exec_root.clone())
        .unwrap_or_else(|| context::DEFAULT_STATE.into());
    let mut ctx = context::Context::new(root, state);
    ctx.settings = settings;
    match commands::dispatch(&ctx, cli.command) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(err) => {
            eprintln!("berth: {err:#}");
            ExitCode::from(EXIT_BERTH_ERROR)
        }
    }
}
