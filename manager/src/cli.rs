//! The command line: global options and the verbs (each verb's own options live
//! in its file under `commands/`), and what several verbs share: the loop over
//! several containers (`each`), the flags of `run` and `create`
//! (`container_flags`), and how to reach a registry (`registry_args`).

pub mod argv;
pub mod container_flags;
pub mod each;
pub mod registry_args;
pub mod run_flags;
pub mod stop_flags;

pub use each::for_each_container;

use crate::commands::Command;
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
    /// [default: the config file's data-root, else /var/lib/berth]
    #[arg(long, global = true, env = "BERTH_ROOT")]
    pub root: Option<PathBuf>,
    /// Runtime state: shim directories and the runtime's state (tmpfs)
    /// [default: the config file's exec-root, else /run/berth]
    #[arg(long, global = true, env = "BERTH_STATE")]
    pub state: Option<PathBuf>,
    /// The configuration file (docker's daemon.json keys)
    #[arg(long, global = true, env = "BERTH_CONFIG", default_value = crate::config::DEFAULT_CONFIG)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}
