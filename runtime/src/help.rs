//! `--help` text: static, so that it costs nothing at run time (the
//! runtime's `create` has a peak-RSS budget of 3 MiB; a generated help, as
//! clap's, made it exceed that).

/// One command's help: runc's sections (NAME, USAGE, OPTIONS), which tools
/// and people read the same way for either runtime.
struct Help {
    name: &'static str,
    about: &'static str,
    usage: &'static str,
    /// (flags as runc lists them, what they do)
    options: &'static [(&'static str, &'static str)],
}

const CREATE_OPTS: &[(&str, &str)] = &[
    ("--bundle value, -b value", "path to the root of the bundle directory, defaults to the current directory"),
    ("--console-socket value", "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"),
    ("--pidfd-socket value", "path to an AF_UNIX socket which will receive a pidfd of the container's init"),
    ("--pid-file value", "specify the file to write the process id to"),
    ("--no-pivot", "do not use pivot root to jail process inside rootfs (MS_MOVE and chroot instead)"),
    ("--no-new-keyring", "do not create a new session keyring for the container"),
    ("--preserve-fds value", "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total) (default: 0)"),
];

const RUN_OPTS: &[(&str, &str)] = &[
    ("--bundle value, -b value", "path to the root of the bundle directory, defaults to the current directory"),
    ("--console-socket value", "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"),
    ("--pidfd-socket value", "path to an AF_UNIX socket which will receive a pidfd of the container's init"),
    ("--detach, -d", "detach from the container's process"),
    ("--keep", "do not delete the container after it exits"),
    ("--pid-file value", "specify the file to write the process id to"),
    ("--no-subreaper", "disable the use of the subreaper used to reap reparented processes"),
    ("--no-pivot", "do not use pivot root to jail process inside rootfs (MS_MOVE and chroot instead)"),
    ("--no-new-keyring", "do not create a new session keyring for the container"),
    ("--preserve-fds value", "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total) (default: 0)"),
];

const EXEC_OPTS: &[(&str, &str)] = &[
    ("--console-socket value", "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"),
    ("--pidfd-socket value", "path to an AF_UNIX socket which will receive a pidfd of the process"),
    ("--cwd value", "current working directory in the container"),
    ("--env value, -e value", "set environment variables (repeatable)"),
    ("--tty, -t", "allocate a pseudo-TTY"),
    ("--user value, -u value", "UID (format: <uid>[:<gid>])"),
    ("--additional-gids value, -g value", "additional gids (repeatable)"),
    ("--process value, -p value", "path to the process.json"),
    ("--detach, -d", "detach from the container's process"),
    ("--pid-file value", "specify the file to write the process id to"),
    ("--process-label value", "set the asm process label for the process commonly used with selinux"),
    ("--apparmor value", "set the apparmor profile for the process"),
    ("--no-new-privs", "set the no new privileges value for the process"),
    ("--cap value, -c value", "add a capability to the bounding set for the process (repeatable)"),
    ("--preserve-fds value", "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total) (default: 0)"),
    ("--cgroup value", "run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup> (repeatable)"),
    ("--ignore-paused", "allow exec in a paused container"),
];

const UPDATE_OPTS: &[(&str, &str)] = &[
    ("--resources value, -r value", "path to the file containing the resources to update or '-' to read from the standard input"),
    ("--blkio-weight value", "Specifies per cgroup weight, range is from 10 to 1000 (default: 0)"),
    ("--cpu-period value", "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default"),
    ("--cpu-quota value", "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period"),
    ("--cpu-burst value", "CPU CFS burst limit (in usecs)"),
    ("--cpu-idle value", "set cgroup SCHED_IDLE or not, 0: default behavior, 1: SCHED_IDLE"),
    ("--cpu-share value", "CPU shares (relative weight vs. other containers)"),
    ("--cpu-rt-period value", "CPU realtime period to be used for hardcapping (in usecs). 0 to use system default"),
    ("--cpu-rt-runtime value", "CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period"),
    ("--cpuset-cpus value", "CPU(s) to use"),
    ("--cpuset-mems value", "Memory node(s) to use"),
    ("--kernel-memory-tcp value", "Kernel memory limit (in bytes) for tcp buffer"),
    ("--memory value", "Memory limit (in bytes)"),
    ("--memory-reservation value", "Memory reservation or soft_limit (in bytes)"),
    ("--memory-swap value", "Total memory usage (memory + swap); set '-1' to enable unlimited swap"),
    ("--pids-limit value", "Maximum number of pids allowed in the container (default: 0)"),
    ("--l3-cache-schema value", "The string of Intel RDT/CAT L3 cache schema"),
    ("--mem-bw-schema value", "The string of Intel RDT/MBA memory bandwidth schema"),
];

const COMMANDS: &[Help] = &[
    Help { name: "checkpoint", about: "checkpoint a running container (not supported yet: an error)", usage: "<container-id>", options: &[] },
    Help { name: "create", about: "create a container", usage: "<container-id>", options: CREATE_OPTS },
    Help { name: "delete", about: "delete any resources held by the container often used with detached container", usage: "<container-id>", options: &[("--force, -f", "Forcibly deletes the container if it is still running (uses SIGKILL)")] },
    Help { name: "events", about: "display container events such as OOM notifications, cpu, memory, and IO usage statistics", usage: "<container-id>", options: &[("--interval value", "set the stats collection interval (default: 5s)"), ("--stats", "display the container's stats then exit")] },
    Help { name: "exec", about: "execute new process inside the container", usage: "<container-id> <command> [command options]  || -p process.json <container-id>", options: EXEC_OPTS },
    Help { name: "kill", about: "kill sends the specified signal (default: SIGTERM) to the container's init process", usage: "<container-id> [signal]", options: &[("--all, -a", "send the specified signal to all processes inside the container")] },
    Help { name: "list", about: "lists containers started by berth-runtime with the given root", usage: "", options: &[("--format value, -f value", "select one of: table or json (default: \"table\")"), ("--quiet, -q", "display only container IDs")] },
    Help { name: "pause", about: "pause suspends all processes inside the container", usage: "<container-id>", options: &[] },
    Help { name: "ps", about: "ps displays the processes running inside a container", usage: "<container-id> [ps options]", options: &[("--format value, -f value", "select one of: table or json (default: \"table\")")] },
    Help { name: "restore", about: "restore a container from a previous checkpoint (not supported yet: an error)", usage: "<container-id>", options: &[] },
    Help { name: "resume", about: "resumes all processes that have been previously paused", usage: "<container-id>", options: &[] },
    Help { name: "run", about: "create and run a container", usage: "<container-id>", options: RUN_OPTS },
    Help { name: "spec", about: "create a new specification file", usage: "", options: &[("--bundle value, -b value", "path to the root of the bundle directory"), ("--rootless", "generate a configuration for a rootless container")] },
    Help { name: "start", about: "executes the user defined process in a created container", usage: "<container-id>", options: &[] },
    Help { name: "state", about: "output the state of a container", usage: "<container-id>", options: &[] },
    Help { name: "update", about: "update container resource constraints", usage: "<container-id>", options: UPDATE_OPTS },
    Help { name: "features", about: "show the enabled features", usage: "", options: &[] },
];

const GLOBAL_OPTS: &[(&str, &str)] = &[
    ("--debug", "enable debug logging"),
    ("--log value", "set the log file to write berth-runtime logs to (default is '/dev/stderr')"),
    ("--log-format value", "set the log format ('text' (default), or 'json') (default: \"text\")"),
    ("--root value", "root directory for storage of container state (this should be located in tmpfs) (default: \"/run/berth-runtime\")"),
    ("--criu value", "accepted for compatibility (checkpoint/restore is not supported)"),
    ("--systemd-cgroup", "enable systemd cgroup support, expects cgroupsPath to be of form \"slice:prefix:name\" for e.g. \"system.slice:runc:434234\""),
    ("--rootless value", "ignore cgroup permission errors ('true', 'false', or 'auto') (default: \"auto\")"),
    ("--help, -h", "show help"),
    ("--version, -v", "print the version"),
];

fn options(out: &mut String, opts: &[(&str, &str)]) {
    let width = opts.iter().map(|(f, _)| f.len()).max().unwrap_or(0);
    for (f, what) in opts {
        out.push_str(&format!("   {f:width$}  {what}\n"));
    }
}

fn render_command(h: &Help) -> String {
    let mut out = format!(
        "NAME:\n   berth-runtime {} - {}\n\nUSAGE:\n   berth-runtime {}{}{}\n",
        h.name,
        h.about,
        h.name,
        if h.options.is_empty() {
            ""
        } else {
            " [command options]"
        },
        if h.usage.is_empty() {
            String::new()
        } else {
            format!(" {}", h.usage)
        },
    );
    if !h.options.is_empty() {
        out.push_str("\nOPTIONS:\n");
        options(&mut out, h.options);
    }
    out
}

pub fn render_global() -> String {
    let mut out = String::from(
        "NAME:\n   berth-runtime - Open Container Initiative runtime\n\n\
berth-runtime runs containers from OCI bundles (a config.json and a root\n\
filesystem) and is a drop-in replacement for runc.\n\n\
USAGE:\n   berth-runtime [global options] command [command options] [arguments...]\n\n",
    );
    out.push_str(&format!(
        "VERSION:\n   {}\n\nCOMMANDS:\n",
        crate::version_text()
            .trim_end()
            .replacen("berth-runtime version ", "", 1)
    ));
    let width = COMMANDS
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0)
        .max("help, h".len());
    for c in COMMANDS {
        out.push_str(&format!("   {:width$}  {}\n", c.name, c.about));
    }
    out.push_str(&format!(
        "   {:width$}  {}\n",
        "help, h", "Shows a list of commands or help for one command"
    ));
    out.push_str("\nGLOBAL OPTIONS:\n");
    options(&mut out, GLOBAL_OPTS);
    out
}

fn command(name: &str) -> Option<&'static Help> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// If the arguments ask for help, print it and return true.
pub fn requested(args: &[String]) -> bool {
    let mut verb: Option<&str> = None;
    for a in args.iter().skip(1) {
        match a.as_str() {
            "--" => return false,
            "-h" | "--help" | "-help" => {
                match verb.and_then(command) {
                    Some(h) => print!("{}", render_command(h)),
                    None => print!("{}", render_global()),
                }
                return true;
            }
            "help" | "h" if verb.is_none() => {
                // `help VERB` as runc: that command's help.
                let next = args
                    .iter()
                    .skip_while(|a| a.as_str() != "help" && a.as_str() != "h")
                    .nth(1);
                match next.and_then(|n| command(n)) {
                    Some(h) => print!("{}", render_command(h)),
                    None => print!("{}", render_global()),
                }
                return true;
            }
            s if !s.starts_with('-') && verb.is_none() && command(s).is_some() => {
                verb = Some(s);
            }
            // After exec's or ps's container id, everything is the command.
            s if !s.starts_with('-') && matches!(verb, Some("exec" | "ps")) => return false,
            _ => {}
        }
    }
    false
}
