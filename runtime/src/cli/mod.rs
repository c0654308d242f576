//! Command-line surface, shaped like runc's: global options, one subcommand
//! per container verb. Long options are accepted with one or two dashes
//! (containerd sends `-no-subreaper` literally), see [`normalize_args`].
//!
//! The parser is hand-written on top of `lexopt` rather than derived with
//! clap: the workspace's manager enables clap's help/usage/suggestions/env
//! features, Cargo unifies features across a build, and with them the
//! runtime's `create` grew past its peak-RSS budget (3 MiB). The types here
//! are plain data; [`parse`] fills them and mirrors the clap parser it
//! replaced (see `parser.rs` for the rules).

mod normalize;
mod parser;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use crate::logging::LogFormat;

pub use normalize::normalize_args;
pub use parser::parse;

pub const DEFAULT_ROOT: &str = "/run/berth-runtime";

#[derive(Debug)]
pub struct Cli {
    pub global: GlobalOpts,
    pub command: Option<Command>,
}

/// Options accepted before or after the verb (`--version` only before).
#[derive(Debug, Clone)]
pub struct GlobalOpts {
    /// Root directory for container state
    pub root: PathBuf,
    /// Append the runtime's log to this file
    pub log: Option<PathBuf>,
    /// Log format: text or json
    pub log_format: LogFormat,
    /// Enable debug logging
    pub debug: bool,
    /// Manage cgroups through systemd
    pub systemd_cgroup: bool,
    /// Rootless mode: auto, true or false (accepted for compatibility)
    pub rootless: Option<String>,
    /// Path to criu (accepted for compatibility, unused)
    pub criu: Option<PathBuf>,
    /// Print the version
    pub version: bool,
}

impl Default for GlobalOpts {
    fn default() -> Self {
        GlobalOpts {
            root: PathBuf::from(DEFAULT_ROOT),
            log: None,
            log_format: LogFormat::Text,
            debug: false,
            systemd_cgroup: false,
            rootless: None,
            criu: None,
            version: false,
        }
    }
}

/// Options shared by `create` and `run`.
#[derive(Debug, Clone)]
pub struct CreateOpts {
    /// Path to the bundle directory
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master of a terminal container
    pub console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the container's init
    pub pidfd_socket: Option<PathBuf>,
    /// File to write the init's pid to
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root
    pub no_pivot: bool,
    /// Do not create a new session keyring
    pub no_new_keyring: bool,
    /// Pass N additional fds (3..3+N) into the container
    pub preserve_fds: u32,
}

impl Default for CreateOpts {
    /// The values of options not given on the command line.
    fn default() -> Self {
        CreateOpts {
            bundle: PathBuf::from("."),
            console_socket: None,
            pidfd_socket: None,
            pid_file: None,
            no_pivot: false,
            no_new_keyring: false,
            preserve_fds: 0,
        }
    }
}

// Parsed once per process; boxing the big variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Command {
    /// Create a container (its init waits for `start`)
    Create { opts: CreateOpts, id: String },
    /// Start a created container
    Start { id: String },
    /// Create and start a container
    Run {
        opts: CreateOpts,
        /// Detach from the container's process
        detach: bool,
        /// Keep the container's state after it exits
        keep: bool,
        /// Do not become a subreaper (accepted; the runtime always reaps its child)
        #[allow(dead_code)]
        no_subreaper: bool,
        id: String,
    },
    /// Run a process in a running container
    Exec(ExecOpts),
    /// Print the state of a container
    State { id: String },
    /// Send a signal to the container's init (or all its processes)
    Kill {
        /// Signal all processes of the container
        all: bool,
        id: String,
        /// Default SIGTERM
        signal: String,
    },
    /// Delete a container
    Delete {
        /// Kill the container if it still runs
        force: bool,
        id: String,
    },
    /// List containers (alias `ls`)
    List {
        /// table (default) or json
        format: String,
        /// Print only ids
        quiet: bool,
    },
    /// Write a default config.json
    Spec {
        bundle: PathBuf,
        // `spec --rootless` is read from the global --rootless option.
    },
    /// Freeze all processes of a container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// List the processes of a container
    Ps {
        /// table (default) or json
        format: String,
        id: String,
        /// Options for ps(1) (table format)
        ps_args: Vec<String>,
    },
    /// Change the resource limits of a container
    Update(UpdateOpts),
    /// Resource statistics and OOM notifications
    Events {
        /// Print one stats event and exit
        stats: bool,
        /// Interval between stats events (default 5s)
        interval: String,
        id: String,
    },
    /// Print the runtime-spec features document
    Features,
    /// Any other verb, with the arguments after it unparsed: runc's verbs
    /// that this build does not provide yet get a clear error.
    Other(Vec<String>),
}

#[derive(Debug, Clone, Default)]
pub struct ExecOpts {
    /// Unix socket that receives the pty master
    pub console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the process
    pub pidfd_socket: Option<PathBuf>,
    /// Working directory in the container
    pub cwd: Option<PathBuf>,
    /// Extra environment variables (K=V)
    pub env: Vec<String>,
    /// Allocate a pseudo-terminal
    pub tty: bool,
    /// uid[:gid] of the process
    pub user: Option<String>,
    /// Additional gids
    pub additional_gids: Vec<u32>,
    /// A JSON process (runtime-spec `process`) to run instead of args
    pub process: Option<PathBuf>,
    /// Detach from the process
    pub detach: bool,
    /// File to write the process's pid to
    pub pid_file: Option<PathBuf>,
    /// SELinux label of the process
    pub process_label: Option<String>,
    /// AppArmor profile of the process
    pub apparmor: Option<String>,
    /// Set no_new_privs
    pub no_new_privs: bool,
    /// Add a capability
    pub cap: Vec<String>,
    /// Pass N additional fds (3..3+N) into the process
    pub preserve_fds: u32,
    /// Sub-cgroup (path or controller:path) to run the process in
    pub cgroup: Vec<String>,
    /// Allow exec in a paused container
    pub ignore_paused: bool,
    pub id: String,
    /// The command and its arguments
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UpdateOpts {
    /// LinuxResources JSON file, or - for stdin
    pub resources: Option<PathBuf>,
    pub blkio_weight: Option<u16>,
    pub cpu_period: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_burst: Option<u64>,
    pub cpu_idle: Option<i64>,
    pub cpu_share: Option<u64>,
    pub cpu_rt_period: Option<u64>,
    pub cpu_rt_runtime: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub kernel_memory: Option<String>,
    pub kernel_memory_tcp: Option<String>,
    pub memory: Option<String>,
    pub memory_reservation: Option<String>,
    pub memory_swap: Option<String>,
    pub pids_limit: Option<i64>,
    pub l3_cache_schema: Option<String>,
    pub mem_bw_schema: Option<String>,
    pub id: String,
}
