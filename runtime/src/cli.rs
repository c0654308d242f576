//! Command-line surface, shaped like runc's: global options, one subcommand
//! per container verb. Long options are accepted with one or two dashes
//! (containerd sends `-no-subreaper` literally), see [`normalize_args`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;

pub const DEFAULT_ROOT: &str = "/run/berth-runtime";

#[derive(Parser, Debug)]
#[command(
    name = "berth-runtime",
    about = "An OCI container runtime, drop-in compatible with runc",
    disable_version_flag = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Root directory for container state
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Append the runtime's log to this file
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Enable debug logging
    #[arg(long, global = true)]
    pub debug: bool,
    /// Manage cgroups through systemd
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode: auto, true or false (accepted for compatibility)
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Path to criu (accepted for compatibility, unused)
    #[arg(long, global = true)]
    pub criu: Option<PathBuf>,
    /// Print the version
    #[arg(short = 'v', long)]
    pub version: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct CreateOpts {
    /// Path to the bundle directory
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master of a terminal container
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the container's init
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// File to write the init's pid to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N additional fds (3..3+N) into the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
}

// Parsed once per process; boxing the big variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container (its init waits for `start`)
    Create {
        #[command(flatten)]
        opts: CreateOpts,
        id: String,
    },
    /// Start a created container
    Start { id: String },
    /// Create and start a container
    Run {
        #[command(flatten)]
        opts: CreateOpts,
        /// Detach from the container's process
        #[arg(short = 'd', long)]
        detach: bool,
        /// Keep the container's state after it exits
        #[arg(long)]
        keep: bool,
        /// Do not become a subreaper (accepted; the runtime always reaps its child)
        #[arg(long = "no-subreaper")]
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
        #[arg(short = 'a', long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container
    Delete {
        /// Kill the container if it still runs
        #[arg(short = 'f', long)]
        force: bool,
        id: String,
    },
    /// List containers
    #[command(alias = "ls")]
    List {
        /// table or json
        #[arg(short = 'f', long, default_value = "table")]
        format: String,
        /// Print only ids
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Write a default config.json
    Spec {
        #[arg(short = 'b', long, default_value = ".")]
        bundle: PathBuf,
        // `spec --rootless` is read from the global --rootless option.
    },
    /// Freeze all processes of a container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// List the processes of a container
    Ps {
        /// table or json
        #[arg(short = 'f', long, default_value = "table")]
        format: String,
        id: String,
        /// Options for ps(1) (table format)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Change the resource limits of a container
    Update(UpdateOpts),
    /// Resource statistics and OOM notifications
    Events {
        /// Print one stats event and exit
        #[arg(long)]
        stats: bool,
        /// Interval between stats events
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Print the runtime-spec features document
    Features,
    /// Verbs of runc that this build does not provide yet
    #[command(external_subcommand)]
    Other(Vec<String>),
}

#[derive(Args, Debug, Clone)]
pub struct ExecOpts {
    /// Unix socket that receives the pty master
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the process
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// Working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Extra environment variables (K=V)
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Allocate a pseudo-terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// uid[:gid] of the process
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional gids
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// A JSON process (runtime-spec `process`) to run instead of args
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Detach from the process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// File to write the process's pid to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// SELinux label of the process
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// AppArmor profile of the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privs
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Pass N additional fds (3..3+N) into the process
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Sub-cgroup (path or controller:path) to run the process in
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// Allow exec in a paused container
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    pub id: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct UpdateOpts {
    /// LinuxResources JSON file, or - for stdin
    #[arg(short = 'r', long)]
    pub resources: Option<PathBuf>,
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<u64>,
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    #[arg(long = "kernel-memory")]
    pub kernel_memory: Option<String>,
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    pub id: String,
}

/// Every long option the CLI knows, for [`normalize_args`].
const LONG_OPTIONS: &[&str] = &[
    "root",
    "log",
    "log-format",
    "debug",
    "systemd-cgroup",
    "rootless",
    "criu",
    "version",
    "bundle",
    "console-socket",
    "pidfd-socket",
    "pid-file",
    "no-pivot",
    "no-new-keyring",
    "preserve-fds",
    "detach",
    "keep",
    "no-subreaper",
    "all",
    "force",
    "format",
    "quiet",
    "help",
    "cwd",
    "env",
    "tty",
    "user",
    "additional-gids",
    "process",
    "process-label",
    "apparmor",
    "no-new-privs",
    "cap",
    "cgroup",
    "ignore-paused",
    "resources",
    "blkio-weight",
    "cpu-period",
    "cpu-quota",
    "cpu-burst",
    "cpu-share",
    "cpu-rt-period",
    "cpu-rt-runtime",
    "cpuset-cpus",
    "cpuset-mems",
    "kernel-memory",
    "kernel-memory-tcp",
    "memory",
    "memory-reservation",
    "memory-swap",
    "pids-limit",
    "l3-cache-schema",
    "mem-bw-schema",
    "stats",
    "interval",
];

/// Options of verbs whose arguments after the container id are a command
/// line; nothing after the id may be rewritten for those.
const COMMAND_VERBS: &[&str] = &["exec", "ps"];

/// runc (urfave/cli) accepts `-flag` for every long option; clap needs `--flag`.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut verb: Option<String> = None;
    let mut positional_seen = false;
    let mut rewrite = true;
    for (i, a) in args.into_iter().enumerate() {
        if i == 0 || !rewrite {
            out.push(a);
            continue;
        }
        if a == "--" {
            rewrite = false;
            out.push(a);
            continue;
        }
        if a.len() > 2 && a.starts_with('-') && !a.starts_with("--") {
            let name = a[1..].split('=').next().unwrap_or("");
            if LONG_OPTIONS.contains(&name) {
                out.push(format!("-{a}"));
                continue;
            }
        }
        if !a.starts_with('-') && !is_value_of_previous(&out) {
            if verb.is_none() {
                verb = Some(a.clone());
            } else if !positional_seen {
                positional_seen = true;
                if verb.as_deref().is_some_and(|v| COMMAND_VERBS.contains(&v)) {
                    rewrite = false;
                }
            }
        }
        out.push(a);
    }
    out
}

/// Whether the previous argument is an option that takes a separate value.
fn is_value_of_previous(out: &[String]) -> bool {
    const TAKES_VALUE: &[&str] = &[
        "--root",
        "--log",
        "--log-format",
        "--criu",
        "--bundle",
        "-b",
        "--console-socket",
        "--pidfd-socket",
        "--pid-file",
        "--preserve-fds",
        "--format",
        "-f",
        "--cwd",
        "--env",
        "-e",
        "--user",
        "-u",
        "--additional-gids",
        "-g",
        "--process",
        "-p",
        "--process-label",
        "--apparmor",
        "--cap",
        "-c",
        "--cgroup",
        "--resources",
        "-r",
        "--blkio-weight",
        "--cpu-period",
        "--cpu-quota",
        "--cpu-burst",
        "--cpu-share",
        "--cpu-rt-period",
        "--cpu-rt-runtime",
        "--cpuset-cpus",
        "--cpuset-mems",
        "--kernel-memory",
        "--kernel-memory-tcp",
        "--memory",
        "--memory-reservation",
        "--memory-swap",
        "--pids-limit",
        "--l3-cache-schema",
        "--mem-bw-schema",
        "--interval",
    ];
    out.last()
        .is_some_and(|p| TAKES_VALUE.contains(&p.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: &[&str]) -> Vec<String> {
        normalize_args(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn single_dash_long_options_become_double() {
        assert_eq!(
            n(&[
                "r",
                "-root",
                "/x",
                "run",
                "-no-subreaper",
                "-bundle=/b",
                "id"
            ]),
            [
                "r",
                "--root",
                "/x",
                "run",
                "--no-subreaper",
                "--bundle=/b",
                "id"
            ]
        );
    }

    #[test]
    fn short_options_and_unknown_words_are_kept() {
        assert_eq!(n(&["r", "list", "-q"]), ["r", "list", "-q"]);
        assert_eq!(
            n(&["r", "kill", "-a", "id", "KILL"]),
            ["r", "kill", "-a", "id", "KILL"]
        );
    }

    #[test]
    fn exec_command_is_not_rewritten() {
        assert_eq!(
            n(&["r", "exec", "-root", "id", "sh", "-debug"]),
            ["r", "exec", "--root", "id", "sh", "-debug"]
        );
    }
}
