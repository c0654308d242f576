//! berth-runtime under podman (`podman --runtime <berth-runtime path>`), with conmon.
//!
//! One private podman environment (storage, tmpdir, containers.conf, cgroup parent under
//! /tmp and /sys/fs/cgroup; cgroupfs; file events; no network) is shared by the tests of
//! this file and torn down at exit; see tests/src/podman.rs. `BERTH_RUNTIME=/usr/sbin/runc`
//! runs the same tests with runc. Needs root, podman, conmon, umoci, skopeo and
//! busybox-static.

#[path = "../src/engine_kit.rs"]
mod engine_kit;
#[path = "../src/podman.rs"]
mod podman;

use engine_kit::{cgroup_dir_of, cgroup_v2_only, read_trim, IMAGE};
use podman::{shared, Podman, RUNTIME_NAME};
use std::fs;
use std::path::Path;
use std::time::Duration;

fn p() -> &'static Podman {
    shared()
}

#[test]
fn run_output_and_exit_code() {
    let p = p();
    let out = p.run(&[
        "--rm",
        IMAGE,
        "sh",
        "-c",
        "echo to-stdout; echo to-stderr >&2; exit 7",
    ]);
    out.assert_code(7);
    assert_eq!(out.out(), "to-stdout", "{out}");
    out.assert_stderr_has("to-stderr");
    p.run(&["--rm", IMAGE, "true"]).assert_code(0);
    let out = p.run(&["--rm", IMAGE, "echo", "a b", "", "c"]);
    out.assert_ok();
    assert_eq!(out.stdout, "a b  c\n", "{out}");
}

#[test]
fn stdin_and_terminal() {
    let p = p();
    let cg = format!("--cgroup-parent=/{}", p.env.cg);
    let out = p.podman_stdin(
        &[
            "run",
            &cg,
            "--rm",
            "-i",
            IMAGE,
            "sh",
            "-c",
            "tr a-z A-Z; echo eof-seen",
        ],
        "hello stdin\n",
    );
    out.assert_ok();
    assert_eq!(out.stdout, "HELLO STDIN\neof-seen\n", "{out}");
    // -t: conmon passes --console-socket, the runtime sends the pty master back.
    let out = p.run(&["--rm", "-t", IMAGE, "sh", "-c", "tty; exit 3"]);
    out.assert_code(3);
    assert!(out.out().starts_with("/dev/pts/"), "{out}");
    assert!(
        out.stdout.contains("\r\n"),
        "no terminal line discipline: {out:?}"
    );
}

#[test]
fn run_rm_leaves_no_runtime_state() {
    let p = p();
    let cidfile = p.env.join(engine_kit::unique_name("cid"));
    let cid = cidfile.to_string_lossy().into_owned();
    p.run(&["--rm", "--cidfile", &cid, IMAGE, "true"])
        .assert_ok();
    let id = fs::read_to_string(&cidfile).unwrap();
    let id = id.trim();
    assert_eq!(id.len(), 64, "cid {id:?}");
    let state = p.runtime_root.join(id);
    let gone = engine_kit::wait_for(Duration::from_secs(10), || (!state.exists()).then_some(()));
    assert!(gone.is_some(), "{} left after run --rm", state.display());
    p.runtime_cmd(&["state", id])
        .assert_stderr_has("does not exist");
}

#[test]
fn missing_and_non_executable_commands() {
    let p = p();
    let cases: &[(&str, i32, &str)] = &[
        ("/nonexistent", 127, "no such file or directory"),
        ("nonexistent-cmd", 127, "executable file not found in $PATH"),
        ("/etc/passwd", 126, "permission denied"),
    ];
    for (cmd, code, msg) in cases {
        // Both ways podman reads runtime errors: from stderr (runtime given by path)
        // and from the JSON log (`berth` is in runtime_supports_json).
        let path = p.runtime.to_string_lossy().into_owned();
        for rt in [path.as_str(), RUNTIME_NAME] {
            let c = p.named("badcmd");
            let out = p.run_with(rt, &["--name", c.as_str(), IMAGE, cmd]);
            out.assert_code(*code);
            out.assert_stderr_has(msg);
            let id = p.inspect(c.as_str(), "{{.Id}}");
            assert!(
                !p.runtime_root.join(&id).exists(),
                "{cmd}: runtime state left for the failed container {id}"
            );
        }
    }
}

/// The whole life of a detached container as `podman ps -a` and the runtime's own
/// `state` (called as podman calls it, without --root) see it.
#[test]
fn lifecycle_ps_state_exec_stop_rm() {
    let p = p();
    let c = p.start_detached(
        "life",
        &[
            IMAGE,
            "sh",
            "-c",
            "trap 'echo got-term; exit 9' TERM; echo ready; while :; do sleep 0.1; done",
        ],
    );
    p.wait_logs(c.as_str(), "ready");
    let id = p.inspect(c.as_str(), "{{.Id}}");
    let pid: i64 = p.inspect(c.as_str(), "{{.State.Pid}}").parse().unwrap();
    assert!(pid > 0);
    assert_eq!(
        p.inspect(c.as_str(), "{{.OCIRuntime}}"),
        p.runtime.to_string_lossy()
    );

    let e = p.ps_entry(c.as_str());
    assert_eq!(e["State"], "running", "{e}");
    assert!(e["Status"].as_str().unwrap_or("").starts_with("Up"), "{e}");
    let st = p.runtime_cmd(&["state", &id]);
    st.assert_ok();
    let st = st.json();
    assert_eq!(st["status"], "running", "{st}");
    assert_eq!(st["pid"].as_i64(), Some(pid), "{st}");

    // exec
    let out = p.podman(&[
        "exec",
        c.as_str(),
        "sh",
        "-c",
        "echo in-exec; echo err >&2; exit 4",
    ]);
    out.assert_code(4);
    assert_eq!(out.out(), "in-exec", "{out}");
    out.assert_stderr_has("err");
    let out = p.podman(&[
        "exec",
        "-u",
        "65534:65534",
        "-w",
        "/tmp",
        "-e",
        "X=exec-env",
        c.as_str(),
        "sh",
        "-c",
        "id -u; pwd; echo $X",
    ]);
    out.assert_ok();
    assert_eq!(out.lines(), vec!["65534", "/tmp", "exec-env"], "{out}");
    // exec with a terminal (conmon's --console-socket on `exec`) and detached
    let out = p.podman(&["exec", "-t", c.as_str(), "sh", "-c", "tty; exit 6"]);
    out.assert_code(6);
    assert!(out.out().starts_with("/dev/pts/"), "{out}");
    p.podman(&[
        "exec",
        "-d",
        c.as_str(),
        "sh",
        "-c",
        "echo detached > /tmp/d",
    ])
    .assert_ok();
    let seen = engine_kit::wait_for(Duration::from_secs(10), || {
        let o = p.podman(&["exec", c.as_str(), "cat", "/tmp/d"]);
        (o.ok() && o.out() == "detached").then_some(())
    });
    assert!(seen.is_some(), "detached exec did not run");
    let out = p.podman(&["exec", c.as_str(), "/nonexistent"]);
    out.assert_code(127);
    out.assert_stderr_has("no such file or directory");
    let out = p.podman(&["exec", c.as_str(), "/etc/passwd"]);
    out.assert_code(126);
    out.assert_stderr_has("permission denied");
    let out = p.podman(&["top", c.as_str(), "pid", "args"]);
    out.assert_ok();
    assert!(out.stdout.contains("while"), "{out}");

    // stop: SIGTERM, the container exits with its own code
    p.podman(&["stop", "-t", "20", c.as_str()]).assert_ok();
    let e = p.wait_ps_state(c.as_str(), "exited");
    assert_eq!(e["ExitCode"], 9, "{e}");
    assert!(
        e["Status"].as_str().unwrap_or("").starts_with("Exited (9)"),
        "{e}"
    );
    assert!(p.podman(&["logs", c.as_str()]).stdout.contains("got-term"));
    // The runtime no longer reports it running (stopped, or already deleted).
    let st = p.runtime_cmd(&["state", &id]);
    if st.ok() {
        assert_eq!(st.json()["status"], "stopped", "{st}");
        assert_eq!(st.json()["pid"], 0, "{st}");
    } else {
        st.assert_stderr_has("does not exist");
    }

    // start again, kill
    p.podman(&["start", c.as_str()]).assert_ok();
    p.wait_inspect(
        c.as_str(),
        "{{.State.Status}}",
        "running",
        Duration::from_secs(10),
    );
    let st = p.runtime_cmd(&["state", &id]);
    assert_eq!(st.json()["status"], "running", "{st}");
    p.podman(&["kill", c.as_str()]).assert_ok();
    p.wait_inspect(
        c.as_str(),
        "{{.State.ExitCode}}",
        "137",
        Duration::from_secs(10),
    );
    // "stopped" until podman's cleanup (runtime delete) ran, then "exited".
    p.wait_ps_state(c.as_str(), "exited");

    // rm: the runtime forgets it
    p.podman(&["rm", c.as_str()]).assert_ok();
    p.runtime_cmd(&["state", &id])
        .assert_stderr_has("does not exist");
    assert!(!p.runtime_root.join(&id).exists());
    let out = p.podman(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!out.stdout.contains(c.as_str()), "{out}");
}

#[test]
fn pause_and_unpause() {
    let p = p();
    let c = p.start_detached("pause", &[IMAGE, "sleep", "300"]);
    let id = p.inspect(c.as_str(), "{{.Id}}");
    p.podman(&["pause", c.as_str()]).assert_ok();
    assert_eq!(p.ps_entry(c.as_str())["State"], "paused");
    let st = p.runtime_cmd(&["state", &id]);
    assert_eq!(st.json()["status"], "paused", "{st}");
    p.podman(&["unpause", c.as_str()]).assert_ok();
    assert_eq!(p.ps_entry(c.as_str())["State"], "running");
    p.podman(&["exec", c.as_str(), "true"]).assert_ok();
}

#[test]
fn runtime_by_name_from_containers_conf() {
    let p = p();
    let c = p.named("byname");
    let out = p.run_with(
        RUNTIME_NAME,
        &[
            "--name",
            c.as_str(),
            IMAGE,
            "sh",
            "-c",
            "echo by-name; exit 3",
        ],
    );
    out.assert_code(3);
    assert_eq!(out.out(), "by-name", "{out}");
    assert_eq!(p.inspect(c.as_str(), "{{.OCIRuntime}}"), RUNTIME_NAME);
}

#[test]
fn env_volumes_user_and_workdir() {
    let p = p();
    let host = p.env.join(engine_kit::unique_name("bind"));
    fs::create_dir_all(&host).unwrap();
    fs::write(host.join("in.txt"), "from-host\n").unwrap();
    let bind = format!("{}:/data", host.display());
    let vol = engine_kit::unique_name("vol");
    let v = format!("{vol}:/vol");
    let out = p.run(&[
        "--rm",
        "-e",
        "FOO=bar",
        "-v",
        &bind,
        "-v",
        &v,
        IMAGE,
        "sh",
        "-c",
        "echo $FOO; cat /data/in.txt; echo out > /data/out.txt; echo persisted > /vol/f",
    ]);
    out.assert_ok();
    assert_eq!(out.lines(), vec!["bar", "from-host"], "{out}");
    assert_eq!(fs::read_to_string(host.join("out.txt")).unwrap(), "out\n");
    let out = p.run(&[
        "--rm",
        "-v",
        &v,
        "--user",
        "65534:65534",
        "-w",
        "/tmp",
        IMAGE,
        "sh",
        "-c",
        "cat /vol/f; id -u; pwd",
    ]);
    out.assert_ok();
    assert_eq!(out.lines(), vec!["persisted", "65534", "/tmp"], "{out}");
    p.podman(&["volume", "rm", "-f", &vol]).assert_ok();
}

#[test]
fn resource_limits_in_cgroups() {
    let p = p();
    let c = p.start_detached(
        "limits",
        &[
            "--memory",
            "64m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "50",
            IMAGE,
            "sleep",
            "300",
        ],
    );
    let pid: i32 = p.inspect(c.as_str(), "{{.State.Pid}}").parse().unwrap();
    let cgs = engine_kit::proc_cgroups(pid);
    assert!(
        cgs.iter()
            .all(|(_, path)| path.starts_with(&format!("/{}/", p.env.cg))),
        "not below the cgroup parent: {cgs:?}"
    );
    if cgroup_v2_only() {
        let dir = cgroup_dir_of(pid, "");
        assert_eq!(read_trim(&dir.join("memory.max")), "67108864");
        assert_eq!(read_trim(&dir.join("cpu.max")), "50000 100000");
        assert_eq!(read_trim(&dir.join("pids.max")), "50");
    } else {
        assert_eq!(
            read_trim(&cgroup_dir_of(pid, "memory").join("memory.limit_in_bytes")),
            "67108864"
        );
        assert_eq!(
            read_trim(&cgroup_dir_of(pid, "cpu").join("cpu.cfs_quota_us")),
            "50000"
        );
        assert_eq!(
            read_trim(&cgroup_dir_of(pid, "pids").join("pids.max")),
            "50"
        );
    }
    let out = p.podman(&["stats", "--no-stream", "--format", "{{.PIDs}}", c.as_str()]);
    out.assert_ok();
    assert_eq!(out.out(), "1", "{out}");
}

#[test]
fn restart_policy_on_failure() {
    let p = p();
    let c = p.named("restart");
    p.run(&[
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
    p.wait_inspect(
        c.as_str(),
        "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}",
        "2 exited 3",
        Duration::from_secs(60),
    );
    let logs = p.podman(&["logs", c.as_str()]);
    assert_eq!(logs.lines(), vec!["run", "run", "run"], "{logs}");
}

/// A second environment with a running, a paused and a created container: the
/// teardown must need no force and leave nothing behind.
#[test]
fn teardown_leaves_nothing_behind() {
    let p = Podman::start();
    let running = engine_kit::unique_name("td-running");
    p.run(&["-d", "--name", &running, IMAGE, "sleep", "300"])
        .assert_ok();
    let paused = engine_kit::unique_name("td-paused");
    p.run(&["-d", "--name", &paused, IMAGE, "sleep", "300"])
        .assert_ok();
    p.podman(&["pause", &paused]).assert_ok();
    let created = engine_kit::unique_name("td-created");
    let cg = format!("--cgroup-parent=/{}", p.env.cg);
    p.podman(&["create", &cg, "--name", &created, IMAGE, "true"])
        .assert_ok();
    let ids: Vec<String> = [&running, &paused, &created]
        .iter()
        .map(|n| p.inspect(n, "{{.Id}}"))
        .collect();
    let pids: Vec<i32> = [&running, &paused]
        .iter()
        .map(|n| p.inspect(n, "{{.State.Pid}}").parse().unwrap())
        .collect();
    let dir = p.dir().to_path_buf();
    let cgname = p.env.cg.clone();

    let left = p.env.teardown();
    assert!(left.is_empty(), "teardown had to force things: {left:#?}");
    assert!(!dir.exists(), "{} still exists", dir.display());
    assert!(engine_kit::mounts_under(&dir).is_empty());
    assert!(
        engine_kit::cgroup_dirs(&cgname).is_empty(),
        "cgroup {cgname} left"
    );
    for pid in pids {
        assert!(
            engine_kit::is_zombie(pid),
            "container process {pid} still alive"
        );
    }
    for id in ids {
        assert!(
            !p.runtime_root.join(&id).exists(),
            "runtime state of {id} left"
        );
    }
    let procs = engine_kit::pids_with_cmdline(&dir.to_string_lossy());
    assert!(procs.is_empty(), "processes left: {procs:?}");
    assert!(!Path::new(&format!("/tmp/{cgname}.cleanup.log")).exists());
}
