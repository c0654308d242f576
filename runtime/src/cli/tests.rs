//! Parser tests. The rules were checked against the clap parser this one
//! replaced, on a few hundred thousand generated command lines; these keep
//! the important ones.

use std::path::PathBuf;

use super::parser::ParseError;
use super::*;

fn parse_ok(args: &[&str]) -> Cli {
    let mut v = vec!["berth-runtime".to_string()];
    v.extend(args.iter().map(|s| s.to_string()));
    match parse(normalize_args(v)) {
        Ok(c) => c,
        Err(e) => panic!("{args:?}: {e}"),
    }
}

fn parse_err(args: &[&str]) -> ParseError {
    let mut v = vec!["berth-runtime".to_string()];
    v.extend(args.iter().map(|s| s.to_string()));
    match parse(normalize_args(v)) {
        Ok(c) => panic!("{args:?} parsed: {c:?}"),
        Err(e) => e,
    }
}

fn command(args: &[&str]) -> Command {
    parse_ok(args).command.expect("a command")
}

fn exec(args: &[&str]) -> ExecOpts {
    match command(args) {
        Command::Exec(o) => o,
        c => panic!("{c:?}"),
    }
}

#[test]
fn globals_and_defaults() {
    let c = parse_ok(&[]);
    assert!(c.command.is_none());
    assert_eq!(c.global.root, PathBuf::from(DEFAULT_ROOT));
    assert_eq!(c.global.log_format, LogFormat::Text);
    assert!(!c.global.debug && !c.global.systemd_cgroup && !c.global.version);

    let c = parse_ok(&[
        "--root",
        "/r",
        "--log=/l",
        "--log-format",
        "json",
        "--debug",
        "--systemd-cgroup",
        "--criu",
        "/c",
        "--rootless=false",
        "list",
    ]);
    let g = &c.global;
    assert_eq!(g.root, PathBuf::from("/r"));
    assert_eq!(g.log.as_deref(), Some(std::path::Path::new("/l")));
    assert_eq!(g.log_format, LogFormat::Json);
    assert!(g.debug && g.systemd_cgroup);
    assert_eq!(g.criu, Some(PathBuf::from("/c")));
    assert_eq!(g.rootless.as_deref(), Some("false"));
}

#[test]
fn single_dash_long_options() {
    let c = parse_ok(&[
        "-root",
        "/r",
        "-debug",
        "-log-format=json",
        "list",
        "-format",
        "json",
    ]);
    assert_eq!(c.global.root, PathBuf::from("/r"));
    assert!(c.global.debug);
    assert_eq!(c.global.log_format, LogFormat::Json);
    assert!(matches!(c.command, Some(Command::List { format, .. }) if format == "json"));
}

#[test]
fn options_given_twice_take_the_last_value() {
    let c = parse_ok(&["--root", "/a", "-root", "/b", "list"]);
    assert_eq!(c.global.root, PathBuf::from("/b"));
    let c = parse_ok(&["--log-format", "json", "--log-format", "text", "list"]);
    assert!(matches!(c.global.log_format, LogFormat::Text));
    assert!(matches!(
        command(&["kill", "-a", "--all", "c"]),
        Command::Kill { all: true, .. }
    ));
    assert!(
        matches!(command(&["create", "-b", "/x", "--bundle", "/y", "c"]),
        Command::Create { opts, .. } if opts.bundle == std::path::Path::new("/y"))
    );
}

#[test]
fn globals_after_the_verb_win() {
    let c = parse_ok(&["--root", "/a", "state", "id", "--root", "/b", "--debug"]);
    assert_eq!(c.global.root, PathBuf::from("/b"));
    assert!(c.global.debug);
    let c = parse_ok(&["-root", "/a", "delete", "-force", "id", "-log", "/l"]);
    assert_eq!(c.global.root, PathBuf::from("/a"));
    assert_eq!(c.global.log, Some(PathBuf::from("/l")));
    assert!(matches!(
        c.command,
        Some(Command::Delete { force: true, .. })
    ));
}

#[test]
fn version_only_before_the_verb() {
    assert!(parse_ok(&["-v"]).global.version);
    assert!(parse_ok(&["--version", "list"]).global.version);
    assert_eq!(
        parse_err(&["list", "-v"]),
        ParseError::UnexpectedArgument("-v".into())
    );
}

#[test]
fn rootless_takes_an_optional_value() {
    let r = |args: &[&str]| parse_ok(args).global.rootless;
    assert_eq!(r(&["--rootless", "--debug"]).as_deref(), Some("true"));
    assert_eq!(r(&["spec", "--rootless"]).as_deref(), Some("true"));
    assert_eq!(r(&["--rootless", "auto", "spec"]).as_deref(), Some("auto"));
    assert_eq!(r(&["--rootless="]).as_deref(), Some(""));
    // clap's num_args = 0..=1 takes the next word, even a verb.
    let c = parse_ok(&["--rootless", "list"]);
    assert_eq!(c.global.rootless.as_deref(), Some("list"));
    assert!(c.command.is_none());
}

#[test]
fn create_and_run() {
    let Command::Create { opts, id } = command(&[
        "create",
        "--bundle",
        "/b",
        "--console-socket=/s",
        "--pidfd-socket",
        "/p",
        "--pid-file",
        "/pf",
        "--no-pivot",
        "--no-new-keyring",
        "--preserve-fds",
        "3",
        "c1",
    ]) else {
        panic!()
    };
    assert_eq!(id, "c1");
    assert_eq!(opts.bundle, PathBuf::from("/b"));
    assert_eq!(opts.console_socket, Some(PathBuf::from("/s")));
    assert_eq!(opts.pidfd_socket, Some(PathBuf::from("/p")));
    assert_eq!(opts.pid_file, Some(PathBuf::from("/pf")));
    assert!(opts.no_pivot && opts.no_new_keyring);
    assert_eq!(opts.preserve_fds, 3);

    let Command::Create { opts, .. } = command(&["create", "c1"]) else {
        panic!()
    };
    assert_eq!(opts.bundle, PathBuf::from("."));
    assert_eq!(opts.preserve_fds, 0);
    for b in [&["-b", "/x"][..], &["-b/x"], &["-b=/x"], &["-bundle=/x"]] {
        let mut args = vec!["create"];
        args.extend_from_slice(b);
        args.push("c");
        let Command::Create { opts, .. } = command(&args) else {
            panic!()
        };
        assert_eq!(opts.bundle, PathBuf::from("/x"), "{args:?}");
    }

    let Command::Run {
        opts,
        detach,
        keep,
        no_subreaper,
        id,
    } = command(&["run", "-d", "--keep", "-no-subreaper", "-b", "/b", "r1"])
    else {
        panic!()
    };
    assert!(detach && keep && no_subreaper);
    assert_eq!((opts.bundle, id.as_str()), (PathBuf::from("/b"), "r1"));
    // run's own options are not create's.
    assert!(matches!(
        parse_err(&["create", "-d", "c"]),
        ParseError::UnexpectedArgument(_)
    ));
}

#[test]
fn exec_options() {
    let o = exec(&[
        "exec",
        "--console-socket",
        "/s",
        "--pidfd-socket",
        "/p",
        "--cwd",
        "/w",
        "-e",
        "A=1",
        "--env=B=2",
        "-t",
        "-u",
        "1:2",
        "-g",
        "5",
        "--additional-gids",
        "6",
        "-p",
        "/proc.json",
        "-d",
        "--pid-file",
        "/pf",
        "--process-label",
        "l",
        "--apparmor",
        "a",
        "--no-new-privs",
        "-c",
        "CAP_A",
        "--cap",
        "CAP_B",
        "--preserve-fds",
        "2",
        "--cgroup",
        "sub",
        "--cgroup",
        "cpu:x",
        "--ignore-paused",
        "c1",
        "sh",
        "-c",
        "echo hi",
    ]);
    assert_eq!(o.console_socket, Some(PathBuf::from("/s")));
    assert_eq!(o.pidfd_socket, Some(PathBuf::from("/p")));
    assert_eq!(o.cwd, Some(PathBuf::from("/w")));
    assert_eq!(o.env, ["A=1", "B=2"]);
    assert!(o.tty && o.detach && o.no_new_privs && o.ignore_paused);
    assert_eq!(o.user.as_deref(), Some("1:2"));
    assert_eq!(o.additional_gids, [5, 6]);
    assert_eq!(o.process, Some(PathBuf::from("/proc.json")));
    assert_eq!(o.pid_file, Some(PathBuf::from("/pf")));
    assert_eq!(o.process_label.as_deref(), Some("l"));
    assert_eq!(o.apparmor.as_deref(), Some("a"));
    assert_eq!(o.cap, ["CAP_A", "CAP_B"]);
    assert_eq!(o.preserve_fds, 2);
    assert_eq!(o.cgroup, ["sub", "cpu:x"]);
    assert_eq!(o.id, "c1");
    assert_eq!(o.command, ["sh", "-c", "echo hi"]);

    let o = exec(&["exec", "-td", "-eA=1", "c1"]);
    assert!(o.tty && o.detach);
    assert_eq!(o.env, ["A=1"]);
    assert!(o.command.is_empty());
}

#[test]
fn exec_command_after_the_id() {
    // Options of exec are still options right after the id...
    let o = exec(&["exec", "c", "--tty", "--cwd=/w", "sh"]);
    assert!(o.tty);
    assert_eq!(o.cwd, Some(PathBuf::from("/w")));
    assert_eq!(o.command, ["sh"]);
    // ...anything else starts the command, which takes the rest verbatim.
    assert_eq!(exec(&["exec", "c", "-x", "-t"]).command, ["-x", "-t"]);
    assert_eq!(exec(&["exec", "c", "--bogus"]).command, ["--bogus"]);
    assert_eq!(exec(&["exec", "c", "-eA=1"]).command, ["-eA=1"]);
    assert_eq!(exec(&["exec", "c", "-h"]).command, ["-h"]);
    assert_eq!(
        exec(&["exec", "c", "sh", "--root", "/x", "-debug", "--", "y"]).command,
        ["sh", "--root", "/x", "-debug", "--", "y"]
    );
    assert_eq!(exec(&["exec", "c", "--", "-t"]).command, ["-t"]);
    assert_eq!(exec(&["exec", "--", "c", "sh"]).command, ["sh"]);
    // There, a foreign option-looking word is the value of a pending option.
    let o = exec(&["exec", "c", "-e", "--x", "sh"]);
    assert_eq!(
        (o.env, o.command),
        (vec!["--x".to_string()], vec!["sh".to_string()])
    );
    // Before the id, it is an error.
    assert!(matches!(
        parse_err(&["exec", "-e", "--x", "c"]),
        ParseError::MissingValue(_)
    ));
}

#[test]
fn small_verbs() {
    assert!(matches!(command(&["start", "c"]), Command::Start { id } if id == "c"));
    assert!(matches!(command(&["state", "c"]), Command::State { id } if id == "c"));
    assert!(matches!(command(&["pause", "c"]), Command::Pause { id } if id == "c"));
    assert!(matches!(command(&["resume", "c"]), Command::Resume { id } if id == "c"));
    assert!(matches!(command(&["features"]), Command::Features));

    assert!(matches!(command(&["kill", "c"]),
        Command::Kill { all: false, id, signal } if id == "c" && signal == "SIGTERM"));
    assert!(matches!(command(&["kill", "-a", "c", "KILL"]),
        Command::Kill { all: true, signal, .. } if signal == "KILL"));
    assert!(matches!(command(&["kill", "c", "9", "--all"]),
        Command::Kill { all: true, signal, .. } if signal == "9"));

    assert!(matches!(
        command(&["delete", "c"]),
        Command::Delete { force: false, .. }
    ));
    assert!(matches!(
        command(&["delete", "-f", "c"]),
        Command::Delete { force: true, .. }
    ));

    assert!(matches!(command(&["list"]),
        Command::List { format, quiet: false } if format == "table"));
    assert!(matches!(command(&["ls", "-qf", "json"]),
        Command::List { format, quiet: true } if format == "json"));
    assert!(matches!(command(&["list", "--format=json"]),
        Command::List { format, .. } if format == "json"));

    assert!(matches!(command(&["spec"]), Command::Spec { bundle } if bundle.as_os_str() == "."));
    assert!(matches!(command(&["spec", "-b", "/b"]),
        Command::Spec { bundle } if bundle.as_os_str() == "/b"));

    assert!(matches!(command(&["events", "c"]),
        Command::Events { stats: false, interval, id } if interval == "5s" && id == "c"));
    assert!(
        matches!(command(&["events", "--stats", "--interval=1s", "c"]),
        Command::Events { stats: true, interval, .. } if interval == "1s")
    );
}

#[test]
fn ps_arguments() {
    let Command::Ps {
        format,
        id,
        ps_args,
    } = command(&["ps", "-f", "json", "c", "-ef"])
    else {
        panic!()
    };
    assert_eq!((format.as_str(), id.as_str()), ("json", "c"));
    assert_eq!(ps_args, ["-ef"]);
    // -f is ps's own option, also after the id.
    assert!(matches!(command(&["ps", "c", "-f", "json"]),
        Command::Ps { format, ps_args, .. } if format == "json" && ps_args.is_empty()));
    assert!(matches!(command(&["ps", "c", "aux", "-f"]),
        Command::Ps { format, ps_args, .. } if format == "table" && ps_args == ["aux", "-f"]));
}

#[test]
fn update_values_may_be_negative() {
    let Command::Update(o) = command(&[
        "update",
        "--memory",
        "-1",
        "--memory-swap=-1",
        "--pids-limit",
        "-1",
        "--cpu-quota",
        "-1",
        "--cpu-period",
        "100",
        "--cpu-share",
        "2",
        "--cpuset-cpus",
        "0-1",
        "--blkio-weight",
        "500",
        "--cpu-idle",
        "1",
        "-r",
        "-",
        "c",
    ]) else {
        panic!()
    };
    assert_eq!(o.memory.as_deref(), Some("-1"));
    assert_eq!(o.memory_swap.as_deref(), Some("-1"));
    assert_eq!(o.pids_limit, Some(-1));
    assert_eq!(o.cpu_quota, Some(-1));
    assert_eq!(o.cpu_period, Some(100));
    assert_eq!(o.cpu_share, Some(2));
    assert_eq!(o.cpuset_cpus.as_deref(), Some("0-1"));
    assert_eq!(o.blkio_weight, Some(500));
    assert_eq!(o.cpu_idle, Some(1));
    assert_eq!(o.resources, Some(PathBuf::from("-")));
    assert_eq!(o.id, "c");
    // Not where clap had no allow_hyphen_values.
    assert!(matches!(
        parse_err(&["update", "--cpu-period", "-5", "c"]),
        ParseError::MissingValue(_)
    ));
}

#[test]
fn unknown_verbs_are_passed_on() {
    assert!(
        matches!(command(&["checkpoint", "--image-path", "/x", "c"]),
        Command::Other(v) if v == ["checkpoint", "--image-path", "/x", "c"])
    );
    assert!(matches!(command(&["--", "state"]), Command::Other(v) if v == ["state"]));
}

#[test]
fn errors() {
    use ParseError::*;
    let e = parse_err;
    assert_eq!(e(&["--bogus"]), UnexpectedArgument("--bogus".into()));
    assert_eq!(e(&["list", "-x"]), UnexpectedArgument("-x".into()));
    assert_eq!(e(&["state", "a", "b"]), UnexpectedArgument("b".into()));
    assert_eq!(e(&["kill", "-9", "c"]), UnexpectedArgument("-9".into()));
    assert_eq!(e(&["state"]), MissingArgument("ID"));
    assert_eq!(e(&["create", "--bundle", "/b"]), MissingArgument("ID"));
    assert_eq!(e(&["list", "-f"]), MissingValue("--format <FORMAT>".into()));
    assert_eq!(
        e(&["--root=", "list"]),
        MissingValue("--root <ROOT>".into())
    );
    assert_eq!(
        e(&["--root", "-x", "list"]),
        MissingValue("--root <ROOT>".into())
    );
    assert_eq!(
        e(&["--debug=true", "list"]),
        UnexpectedValue {
            option: "--debug".into(),
            value: "true".into()
        }
    );
    assert!(matches!(
        e(&["create", "--preserve-fds", "x", "c"]),
        InvalidValue { option, value, .. } if option == "--preserve-fds <PRESERVE_FDS>" && value == "x"
    ));
    assert!(matches!(e(&["--log-format", "xml"]), InvalidValue { .. }));
    assert!(matches!(e(&["exec", "-g", "x", "c"]), InvalidValue { .. }));
    // The messages are clap's.
    assert_eq!(
        e(&["state"]).to_string(),
        "the following required arguments were not provided:\n  <ID>"
    );
    assert_eq!(
        e(&["--log-format", "xml"]).to_string(),
        "invalid value 'xml' for '--log-format <LOG_FORMAT>': [possible values: text, json]"
    );
}
