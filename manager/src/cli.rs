//! The command line: global options and the verbs (each verb's own options live
//! in its file under `commands/`), and what several verbs share: the loop over
//! several containers (`each`), the flags of `run` and `create`
//! (`container_flags`), and how to reach a registry (`registry_args`).

pub mod argv;
pub mod container_flags;
pub mod each;
pub mod registry_args;
pub mod run_flags;

pub use each::for_each_container;

use crate::commands::Command;
use crate::context::{DEFAULT_ROOT, DEFAULT_STATE};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "berth: images, volumes and containers without a daemon",
    propagate_version = true
)]
pub struct Cli {
    /// Persistent store: images, snapshots, container records, logs, volumes
    #[arg(long, global = true, env = "BERTH_ROOT", default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Runtime state: shim directories and the runtime's state (tmpfs)
    #[arg(long, global = true, env = "BERTH_STATE", default_value = DEFAULT_STATE)]
    pub state: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}
