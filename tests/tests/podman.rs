//! berth-runtime under podman (`podman --runtime <berth-runtime path>`), with conmon.
//!
//! One private podman environment (storage, tmpdir, containers.conf, cgroup parent under
//! /tmp and /sys/fs/cgroup; cgroupfs; file events; no network) is shared by the tests of
//! this file and torn down at exit; see tests/src/podman.rs. `BERTH_RUNTIME=/usr/sbin/runc`
//! runs the same tests with runc. Needs root, podman, conmon, umoci, skopeo and
//! busybox-static.

#[path = "../src/engine_kit.rs"]
mod engine_kit;
#[path = "../src/engine_scenarios.rs"]
mod engine_scenarios;
#[path = "../src/podman.rs"]
mod podman;

use engine_kit::{Engine, IMAGE};
use podman::{shared, Podman, RUNTIME_NAME};
use std::fs;
use std::time::Duration;

fn p() -> &'static Podman {
    shared()
}

#[test]
fn run_output_and_exit_code() {
    engine_scenarios::run_output_and_exit_code(p());
}

#[test]
fn stdin_and_terminal() {
    let p = p();
    let cg = format!("--cgroup-parent=/{}", p.env.cg);
    let out = p.cli_stdin(
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
    // Both ways podman reads runtime errors: from stderr (runtime given by path) and
    // from the JSON log (`berth` is in runtime_supports_json).
    let path = p.runtime.to_string_lossy().into_owned();
    engine_scenarios::missing_and_non_executable_commands(
        p,
        &[path.as_str(), RUNTIME_NAME],
        engine_scenarios::BAD_COMMANDS,
        |_, _| {},
    );
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
    engine_scenarios::exec_streams_user_workdir_env(p, c.as_str(), 4, None);
    // exec with a terminal (conmon's --console-socket on `exec`), and detached
    let out = p.podman(&["exec", "-t", c.as_str(), "sh", "-c", "tty; exit 6"]);
    out.assert_code(6);
    assert!(out.out().starts_with("/dev/pts/"), "{out}");
    engine_scenarios::exec_detached(p, c.as_str());
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
    p.wait_status(c.as_str(), "running");
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
    engine_scenarios::pause_and_unpause(p());
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
    let args = [engine_scenarios::LIMITS, &[IMAGE, "sleep", "300"]].concat();
    let c = p.start_detached("limits", &args);
    let pid = p.pid(c.as_str());
    let cgs = engine_kit::proc_cgroups(pid);
    assert!(
        cgs.iter()
            .all(|(_, path)| path.starts_with(&format!("/{}/", p.env.cg))),
        "not below the cgroup parent: {cgs:?}"
    );
    engine_scenarios::check_limits(pid, 64 << 20, 50_000, 50, None);
    let out = p.podman(&["stats", "--no-stream", "--format", "{{.PIDs}}", c.as_str()]);
    out.assert_ok();
    assert_eq!(out.out(), "1", "{out}");
}

#[test]
fn restart_policy_on_failure() {
    engine_scenarios::restart_policy_on_failure(p());
}

/// A second environment with a running, a paused and a created container: the
/// teardown must need no force and leave nothing behind.
#[test]
fn teardown_leaves_nothing_behind() {
    engine_scenarios::teardown_leaves_nothing_behind::<Podman>(|_| Vec::new());
}
