//! runc's option spelling. runc (urfave/cli) accepts `-flag` for every long
//! option; the parser (like getopt) reads `-flag` as a cluster of short
//! options, so single-dash long options are rewritten to `--flag` first.

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
    "cpu-idle",
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

/// Rewrites runc's single-dash long options (`-root`, `-bundle=B`) to `--root`,
/// `--bundle=B`; short options and everything after `--` or after the container
/// id of `exec`/`ps` (the command line of the process) are left alone.
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
        "--cpu-idle",
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
