//! Scenarios that docker and podman run the same way (tests/tests/docker.rs and
//! tests/tests/podman.rs call each with their engine). What differs between the engines
//! is a parameter, so every difference stays visible at the call.
//!
//! Included with `#[path = "../src/engine_scenarios.rs"] mod engine_scenarios;` next to
//! engine_kit.

#![allow(dead_code)]

use crate::engine_kit::{self, cgroup_dir_of, cgroup_v2_only, read_trim, Engine, IMAGE};
use std::path::Path;
use std::time::Duration;

/// Output streams, exit codes and arguments of `run --rm`.
pub fn run_output_and_exit_code<E: Engine>(e: &E) {
    let out = e.run(&[
        "--rm",
        IMAGE,
        "sh",
        "-c",
        "echo to-stdout; echo to-stderr >&2; exit 7",
    ]);
    out.assert_code(7);
    assert_eq!(out.out(), "to-stdout", "{out}");
    out.assert_stderr_has("to-stderr");
    e.run(&["--rm", IMAGE, "true"]).assert_code(0);
    // Arguments arrive unchanged.
    let out = e.run(&["--rm", IMAGE, "echo", "a b", "", "c"]);
    out.assert_ok();
    assert_eq!(out.stdout, "a b  c\n", "{out}");
}

/// `--restart on-failure:2`: two restarts, then the container stays exited.
pub fn restart_policy_on_failure<E: Engine>(e: &E) {
    let c = e.named("restart");
    e.run(&[
        "-d",
        "--name",
        c.as_str(),
        "--restart",
        "on-failure:2",
        IMAGE,
        "sh",
        "-c",
        "echo run; exit 3",
    ])
    .assert_ok();
    e.wait_inspect(
        c.as_str(),
        "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}",
        "2 exited 3",
        Duration::from_secs(60),
    );
    let logs = e.cli(&["logs", c.as_str()]);
    assert_eq!(logs.lines(), vec!["run", "run", "run"], "{logs}");
}

/// The commands every engine reports the same way: (command, exit code, message).
pub const BAD_COMMANDS: &[(&str, i32, &str)] = &[
    ("/nonexistent", 127, "no such file or directory"),
    ("nonexistent-cmd", 127, "executable file not found in $PATH"),
    ("/etc/passwd", 126, "permission denied"),
];

/// A command that cannot be started fails `run` with the code and message of `cases`
/// (each run once per name in `runtimes`, as `run_with` takes them), and the failed
/// create leaves no runtime state; `check(cmd, id)` adds the engine's own checks.
pub fn missing_and_non_executable_commands<E: Engine>(
    e: &E,
    runtimes: &[&str],
    cases: &[(&str, i32, &str)],
    check: impl Fn(&str, &str),
) {
    for (cmd, code, msg) in cases {
        for rt in runtimes {
            let c = e.named("badcmd");
            let out = e.run_with(rt, &["--name", c.as_str(), IMAGE, cmd]);
            out.assert_code(*code);
            out.assert_stderr_has(msg);
            let id = e.inspect(c.as_str(), "{{.Id}}");
            assert!(
                !e.runtime_root().join(&id).exists(),
                "{cmd} ({rt}): runtime state left for failed container {id}"
            );
            check(cmd, &id);
        }
    }
}

/// pause freezes the container's cgroup and the runtime reports it paused; unpause
/// lets it run (and exec into it) again.
pub fn pause_and_unpause<E: Engine>(e: &E) {
    let c = e.start_detached("pause", &[IMAGE, "sleep", "300"]);
    let pid = e.pid(c.as_str());
    e.cli(&["pause", c.as_str()]).assert_ok();
    assert_eq!(e.state(c.as_str()), "paused");
    if cgroup_v2_only() {
        assert_eq!(
            read_trim(&cgroup_dir_of(pid, "").join("cgroup.freeze")),
            "1"
        );
    } else {
        assert_eq!(
            read_trim(&cgroup_dir_of(pid, "freezer").join("freezer.state")),
            "FROZEN"
        );
    }
    let id = e.inspect(c.as_str(), "{{.Id}}");
    let st = e.runtime_cmd(&["state", &id]);
    assert_eq!(st.json()["status"], "paused", "{st}");
    e.cli(&["unpause", c.as_str()]).assert_ok();
    assert_eq!(e.state(c.as_str()), "running");
    e.cli(&["exec", c.as_str(), "true"]).assert_ok();
}

/// A second, private environment with a running (started with `running_args` too), a
/// paused and a created container: the teardown must need no force (no `LEFTOVER:`
/// report) and leave no process, mount, cgroup, file, directory or runtime state behind.
pub fn teardown_leaves_nothing_behind<E: Engine>(running_args: impl FnOnce(&E) -> Vec<String>) {
    let e = E::start();
    let running = engine_kit::unique_name("td-running");
    let extra = running_args(&e);
    let mut a = vec!["-d", "--name", running.as_str()];
    a.extend(extra.iter().map(String::as_str));
    a.extend([IMAGE, "sleep", "300"]);
    e.run(&a).assert_ok();
    let paused = engine_kit::unique_name("td-paused");
    e.run(&["-d", "--name", &paused, IMAGE, "sleep", "300"])
        .assert_ok();
    e.cli(&["pause", &paused]).assert_ok();
    let created = engine_kit::unique_name("td-created");
    e.create(&["--name", &created, IMAGE, "true"]).assert_ok();
    let ids: Vec<String> = [&running, &paused, &created]
        .iter()
        .map(|n| e.inspect(n, "{{.Id}}"))
        .collect();
    let pids = [e.pid(&running), e.pid(&paused)];
    let dir = e.env().dir.clone();
    let cg = e.env().cg.clone();
    let runtime_root = e.runtime_root();

    let left = e.env().teardown();
    assert!(left.is_empty(), "teardown had to force things: {left:#?}");
    assert!(!dir.exists(), "{} still exists", dir.display());
    assert!(engine_kit::mounts_under(&dir).is_empty());
    assert!(engine_kit::cgroup_dirs(&cg).is_empty(), "cgroup {cg} left");
    for pid in pids {
        assert!(
            engine_kit::is_zombie(pid),
            "container process {pid} still alive"
        );
    }
    for id in ids {
        assert!(
            !runtime_root.join(&id).exists(),
            "runtime state of {id} left"
        );
    }
    let procs = engine_kit::pids_with_cmdline(&dir.to_string_lossy());
    assert!(procs.is_empty(), "processes left: {procs:?}");
    assert!(!Path::new(&format!("/tmp/{cg}.cleanup.log")).exists());
}

/// `exec` into the running container `name`, a step of a larger test: stdout, stderr and
/// the exit code `code` come back; then `-u`, `-w` and `-e` apply to an exec running
/// `id -u; pwd; echo $X` plus `more` (a shell command and the line it must print).
pub fn exec_streams_user_workdir_env<E: Engine>(
    e: &E,
    name: &str,
    code: i32,
    more: Option<(&str, &str)>,
) {
    let script = format!("echo in-exec; echo err >&2; exit {code}");
    let out = e.cli(&["exec", name, "sh", "-c", &script]);
    out.assert_code(code);
    assert_eq!(out.out(), "in-exec", "{out}");
    out.assert_stderr_has("err");
    let mut script = String::from("id -u; pwd; echo $X");
    let mut want = vec!["65534", "/tmp", "exec-env"];
    if let Some((cmd, line)) = more {
        script.push_str("; ");
        script.push_str(cmd);
        want.push(line);
    }
    let out = e.cli(&[
        "exec",
        "-u",
        "65534:65534",
        "-w",
        "/tmp",
        "-e",
        "X=exec-env",
        name,
        "sh",
        "-c",
        &script,
    ]);
    out.assert_ok();
    assert_eq!(out.lines(), want, "{out}");
}

/// `exec -d` into the running container `name` (a step): the detached process runs.
pub fn exec_detached<E: Engine>(e: &E, name: &str) {
    e.cli(&["exec", "-d", name, "sh", "-c", "echo detached > /tmp/d"])
        .assert_ok();
    let seen = engine_kit::wait_for(Duration::from_secs(10), || {
        let o = e.cli(&["exec", name, "cat", "/tmp/d"]);
        (o.ok() && o.out() == "detached").then_some(())
    });
    assert!(seen.is_some(), "detached exec did not run");
}

/// The limits both engines' limits tests set; `check_limits(pid, 64 << 20, 50_000, 50,
/// ...)` expects them.
pub const LIMITS: &[&str] = &["--memory", "64m", "--cpus", "0.5", "--pids-limit", "50"];

/// The memory, CPU quota (period 100 ms), pids and (on cgroup v1, if given) CPU shares
/// limits of the cgroup of `pid`, read on the host (a step).
pub fn check_limits(pid: i32, mem: u64, quota: u64, pids: u64, shares: Option<u64>) {
    if cgroup_v2_only() {
        let dir = cgroup_dir_of(pid, "");
        assert_eq!(read_trim(&dir.join("memory.max")), mem.to_string());
        assert_eq!(read_trim(&dir.join("cpu.max")), format!("{quota} 100000"));
        assert_eq!(read_trim(&dir.join("pids.max")), pids.to_string());
    } else {
        let mem_dir = cgroup_dir_of(pid, "memory");
        let cpu_dir = cgroup_dir_of(pid, "cpu");
        let pids_dir = cgroup_dir_of(pid, "pids");
        assert_eq!(
            read_trim(&mem_dir.join("memory.limit_in_bytes")),
            mem.to_string()
        );
        assert_eq!(
            read_trim(&cpu_dir.join("cpu.cfs_quota_us")),
            quota.to_string()
        );
        assert_eq!(read_trim(&cpu_dir.join("cpu.cfs_period_us")), "100000");
        assert_eq!(read_trim(&pids_dir.join("pids.max")), pids.to_string());
        if let Some(s) = shares {
            assert_eq!(read_trim(&cpu_dir.join("cpu.shares")), s.to_string());
        }
    }
}
