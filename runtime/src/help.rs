//! `--help` text: static, so that it costs nothing at run time (the
//! runtime's `create` has a peak-RSS budget of 3 MiB; a generated help, as
//! clap's, made it exceed that).

const GLOBAL: &str = "\
berth-runtime: an OCI container runtime, drop-in compatible with runc

Usage: berth-runtime [global options] <command> [options] <container-id> ...

Commands:
  create     create a container (its process waits for `start`)
  start      start a created container
  run        create and start a container (foreground unless --detach)
  exec       run a new process in a running container
  state      print the state of a container as JSON
  kill       send a signal to the container's init (--all: every process)
  delete     delete a container (--force: kill it first)
  list       list containers (--format table|json, -q)
  pause      freeze every process of a container
  resume     thaw a paused container
  ps         list a container's processes (--format table|json)
  update     change a container's resource limits
  events     resource statistics and OOM notices (--stats, --interval)
  features   print the runtime-spec features document
  spec       write runc's default config.json (--rootless, --bundle)

Global options (one or two dashes):
  --root DIR              state directory (default /run/berth-runtime)
  --log FILE              append the log to FILE
  --log-format text|json  log line format (default text)
  --debug                 debug logging
  --systemd-cgroup        manage cgroups through systemd
  --rootless auto|true|false, --criu PATH   accepted for compatibility
  -v, --version           print the version

`berth-runtime <command> --help` describes a command's options.
";

fn command(name: &str) -> Option<&'static str> {
    Some(match name {
        "create" | "run" => "\
Usage: berth-runtime create|run [options] <container-id>

  -b, --bundle DIR        bundle directory (default .)
  --console-socket PATH   unix socket that receives the pty master
  --pidfd-socket PATH     unix socket that receives a pidfd of the init
  --pid-file PATH         write the init's pid here
  --no-pivot              MS_MOVE + chroot instead of pivot_root
  --no-new-keyring        keep the caller's session keyring
  --preserve-fds N        pass fds 3..3+N into the container
run only:
  -d, --detach            do not wait for the container
  --keep                  keep the container's state after it exits
  --no-subreaper          accepted for compatibility
",
        "exec" => "\
Usage: berth-runtime exec [options] <container-id> <command> [args...]
       berth-runtime exec [options] --process FILE <container-id>

  -p, --process FILE      runtime-spec process JSON to run
  -t, --tty               allocate a pseudo-terminal
  --console-socket PATH   unix socket that receives the pty master
  --cwd DIR               working directory
  -e, --env K=V           add an environment variable (repeatable)
  -u, --user UID[:GID]    user and group ids
  -g, --additional-gids G add a supplementary group (repeatable)
  -c, --cap CAP           add a capability (repeatable)
  --no-new-privs          set no_new_privs
  --apparmor PROFILE, --process-label LABEL   LSM labels
  -d, --detach            do not wait for the process
  --pid-file PATH         write the process's pid here
  --pidfd-socket PATH     unix socket that receives a pidfd of the process
  --preserve-fds N        pass fds 3..3+N into the process
  --cgroup [CTRL:]PATH    run in a sub-cgroup of the container
  --ignore-paused         allow exec into a paused container
",
        "kill" => "Usage: berth-runtime kill [-a|--all] <container-id> [SIGNAL]\n\nSIGNAL is a number or a name (9, KILL, SIGKILL); default SIGTERM.\n",
        "delete" => "Usage: berth-runtime delete [-f|--force] <container-id>\n",
        "list" => "Usage: berth-runtime list [-f|--format table|json] [-q|--quiet]\n",
        "ps" => "Usage: berth-runtime ps [-f|--format table|json] <container-id> [ps options]\n",
        "events" => "Usage: berth-runtime events [--stats] [--interval 5s] <container-id>\n",
        "update" => "\
Usage: berth-runtime update [options] <container-id>

  -r, --resources FILE|-  LinuxResources JSON (- for stdin)
  --memory, --memory-reservation, --memory-swap, --kernel-memory-tcp SIZE
  --cpu-share N, --cpu-period N, --cpu-quota N, --cpu-burst N
  --cpu-rt-period N, --cpu-rt-runtime N, --cpuset-cpus LIST, --cpuset-mems LIST
  --pids-limit N, --blkio-weight N
",
        "spec" => "Usage: berth-runtime spec [-b|--bundle DIR] [--rootless]\n",
        "start" | "state" | "pause" | "resume" => "Usage: berth-runtime <command> <container-id>\n",
        "features" => "Usage: berth-runtime features\n",
        _ => return None,
    })
}

/// If the arguments ask for help, print it and return true.
pub fn requested(args: &[String]) -> bool {
    let mut verb: Option<&str> = None;
    for a in args.iter().skip(1) {
        match a.as_str() {
            "--" => return false,
            "-h" | "--help" | "-help" => {
                print!("{}", verb.and_then(command).unwrap_or(GLOBAL));
                return true;
            }
            "help" if verb.is_none() => {
                print!("{GLOBAL}");
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
