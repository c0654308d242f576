//! berth-runtime under a real containerd (1.6, Debian's package): containerd's runc shim
//! (`io.containerd.runc.v2`) with berth-runtime as its runc binary (`ctr run
//! --runc-binary`, i.e. the shim option `BinaryName`; the CRI test uses `BinaryName` from
//! config.toml).
//!
//! The tests share one private containerd per test process (own config, root, state and
//! socket under /tmp/berth-ctd-*, unique namespace), started on first use and torn down
//! at exit together with its shims, containers, mounts and cgroups. The restart and CRI
//! tests use containerds of their own. `BERTH_RUNTIME=/usr/sbin/runc` runs the same
//! tests with runc for comparison.
//!
//! Needs root, containerd, ctr, containerd-shim-runc-v2, umoci, skopeo, busybox-static,
//! and python3-grpcio for /usr/bin/python3 (task update and CRI, which ctr 1.6 lacks).

#[path = "../src/engines.rs"]
mod engines;

use engines::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const IMAGE: &str = "docker.io/library/busybox:latest";

/// Prints `size=ROWS COLS` of the terminal. ctr sets the console size only after the
/// process started (with runc too), so wait until it is non-zero (busybox `stty size`
/// exits 0 even when it fails).
const STTY_SIZE: &str = "for i in $(seq 50); do s=$(stty size 2>/dev/null); \
     case \"$s\" in [1-9]*) break;; esac; sleep 0.1; done; echo \"size=$s\"";

fn ctd() -> &'static Containerd {
    shared()
}

/// `ctr run` arguments with berth-runtime up to (and including) the image.
fn run_args(c: &Containerd, extra: &[&str]) -> Vec<String> {
    let mut a = c.run_prefix(&c.runtime);
    a.extend(extra.iter().map(|s| s.to_string()));
    a.push(IMAGE.into());
    a
}

fn with(mut v: Vec<String>, tail: &[&str]) -> Vec<String> {
    v.extend(tail.iter().map(|s| s.to_string()));
    v
}

/// Removes a container (task and all) when the test ends, even on failure.
struct Cleanup<'a>(&'a Containerd, String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        self.0.remove(&self.1);
    }
}

/// Start `sh -c SCRIPT` detached with berth-runtime; returns the init pid.
fn run_detached(c: &Containerd, id: &str, script: &str) -> i32 {
    let args = with(run_args(c, &["-d"]), &[id, "sh", "-c", script]);
    c.ctr(&args).assert_ok();
    c.wait_status(id, "RUNNING")
}

/// `<runtime> --root <shim root> <args>`: the runtime's own view of a container that
/// containerd's shim created.
fn runtime_cmd(c: &Containerd, args: &[&str]) -> Out {
    let mut cmd = Command::new(&c.runtime);
    cmd.arg("--root").arg(c.runtime_root()).args(args);
    cmd.stdin(Stdio::null());
    run(cmd, Duration::from_secs(20))
}

/// The container was made by our runtime binary: the shim got `BinaryName` (options.json)
/// and the runtime, asked with the shim's `--root`, knows the container with that pid.
#[track_caller]
fn assert_made_by_runtime(c: &Containerd, id: &str, pid: i32, status: &str) {
    let opts = read(c.bundle(id).join("options.json"));
    let opts: Value = serde_json::from_str(&opts)
        .unwrap_or_else(|e| panic!("options.json of {id} is not JSON ({e}): {opts:?}"));
    assert_eq!(
        opts["binary_name"].as_str().map(PathBuf::from),
        Some(c.runtime.clone()),
        "the shim was not given our runtime as BinaryName: {opts}"
    );
    let st = runtime_cmd(c, &["state", id]);
    st.assert_ok();
    let st = st.json();
    assert_eq!(st["id"], id, "{st}");
    assert_eq!(
        st["pid"], pid,
        "runtime state pid differs from containerd's: {st}"
    );
    assert_eq!(st["status"], status, "{st}");
    assert_eq!(
        st["bundle"].as_str().map(PathBuf::from),
        Some(c.bundle(id)),
        "{st}"
    );
}

fn cgroup_file(pid: i32, controller: &str, v1_file: &str, v2_file: &str) -> String {
    let dir = cgroup_dir(pid, controller)
        .unwrap_or_else(|| panic!("no {controller} cgroup for pid {pid}"));
    let file = if cgroup_v2_only() { v2_file } else { v1_file };
    fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(file).display()))
        .trim()
        .to_string()
}

fn system_python_with_grpc() -> PathBuf {
    let py = PathBuf::from("/usr/bin/python3");
    let ok = Command::new(&py)
        .args(["-c", "import grpc"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "/usr/bin/python3 cannot import grpc: apt-get install python3-grpcio \
         (ctr 1.6 has no `task update`, so the test calls containerd's API directly)"
    );
    py
}

fn ctrpc() -> PathBuf {
    workspace().join("integration/containerd/ctrpc.py")
}

// ---------------------------------------------------------------------------------------

#[test]
fn run_prints_output_and_returns_exit_code() {
    let c = ctd();
    let id = unique_id("run");
    let _g = Cleanup(c, id.clone());
    let o = c.ctr(&with(
        run_args(c, &["--rm"]),
        &[&id, "sh", "-c", "echo hi; echo oops >&2; exit 3"],
    ));
    o.assert_code(3);
    assert_eq!(o.stdout.trim(), "hi", "{o}");
    assert!(
        o.stderr.contains("oops"),
        "container stderr not forwarded\n{o}"
    );
    // stdin is forwarded (ctr 1.6 does not close it at EOF, with runc either, so the
    // container reads one line instead of waiting for EOF).
    let input = scratch().join(format!("stdin-{}", unique()));
    fs::write(&input, "line-from-stdin\n").unwrap();
    let id_in = unique_id("run-stdin");
    let _g_in = Cleanup(c, id_in.clone());
    let mut cmd = c.ctr_command(&with(
        run_args(c, &["--rm"]),
        &[&id_in, "sh", "-c", "read x; echo got=$x"],
    ));
    cmd.stdin(fs::File::open(&input).unwrap());
    let o = run(cmd, CTR_TIMEOUT);
    o.assert_ok();
    assert_eq!(o.stdout.trim(), "got=line-from-stdin", "{o}");

    // --rm removed the container, and the runtime forgot it.
    assert!(!c.ctr(&["containers", "ls", "-q"]).stdout.contains(&id));
    let list = runtime_cmd(c, &["list", "-q"]);
    assert!(
        !list.stdout.contains(&id),
        "runtime still lists {id}\n{list}"
    );
}

#[test]
fn shim_invokes_the_runtime_binary_with_its_flags() {
    // A wrapper logging each invocation, then exec'ing the runtime: proves which binary
    // containerd's shim runs and with which global flags.
    let c = ctd();
    let log = scratch().join(format!("invocations-{}.log", unique()));
    let wrapper = scratch().join(format!("runtime-wrapper-{}.sh", unique()));
    write_script(
        &wrapper,
        &format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            c.runtime.display()
        ),
    );
    let id = unique_id("wrap");
    let _g = Cleanup(c, id.clone());
    let mut args = c.run_prefix(&wrapper);
    args.extend(["--rm".into(), IMAGE.into(), id.clone(), "true".into()]);
    c.ctr(&args).assert_ok();

    let text = read(&log);
    let lines: Vec<&str> = text.lines().collect();
    let bundle = c.bundle(&id);
    let global = format!(
        "--root {} --log {}/log.json --log-format json",
        c.runtime_root().display(),
        bundle.display()
    );
    let find = |cmd: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("{global} {cmd}")))
            .unwrap_or_else(|| panic!("no `{global} {cmd} ...` invocation in:\n{text}"))
    };
    let create = find("create");
    assert!(
        create.contains(&format!("--bundle {}", bundle.display()))
            && create.contains(&format!("--pid-file {}/init.pid", bundle.display()))
            && create.ends_with(&format!(" {id}")),
        "unexpected create invocation: {create}"
    );
    assert!(find("start").ends_with(&format!("start {id}")));
    assert!(find("delete").ends_with(&format!(" {id}")));
}

#[test]
fn terminal_run() {
    let c = ctd();
    let id = unique_id("tty");
    let _g = Cleanup(c, id.clone());
    let args = with(
        run_args(c, &["--rm", "-t"]),
        &[
            &id,
            "sh",
            "-c",
            &format!(
                "tty; {STTY_SIZE}; [ -t 0 ] && [ -t 1 ] && echo both-tty; \
                 read x; echo got=$x; exit 4"
            ),
        ],
    );
    let o = run_in_pty(
        c.ctr_command(&args),
        30,
        100,
        b"typed-line\r",
        Duration::from_secs(60),
    );
    o.assert_code(4);
    assert!(
        o.stdout.contains("got=typed-line"),
        "pty input not forwarded\n{o}"
    );
    assert!(
        o.stdout.contains("/dev/pts/0"),
        "tty did not name a pty\n{o}"
    );
    assert!(
        o.stdout.contains("size=30 100"),
        "console size not passed through containerd\n{o}"
    );
    assert!(o.stdout.contains("both-tty"), "{o}");

    // Without -t the container's stdio is not a terminal.
    let id2 = unique_id("notty");
    let _g2 = Cleanup(c, id2.clone());
    let o = c.ctr(&with(run_args(c, &["--rm"]), &[&id2, "tty"]));
    o.assert_code(1);
    assert!(o.stdout.contains("not a tty"), "{o}");
}

#[test]
fn detached_task_kill_and_exit_status() {
    let c = ctd();
    let id = unique_id("detach");
    let _g = Cleanup(c, id.clone());
    let pid = run_detached(c, &id, "trap 'exit 7' TERM; while :; do sleep 0.1; done");
    // the kill below must find the trap set: a TERM before it is dropped by the init
    assert!(berth_tests::sys::wait_caught(
        pid,
        berth_tests::sys::sig_bit(libc::SIGTERM),
        Duration::from_secs(20)
    ));
    assert!(alive(pid));
    assert_made_by_runtime(c, &id, pid, "running");

    c.ctr(&["task", "kill", &id]).assert_ok(); // SIGTERM by default
    c.wait_status(&id, "STOPPED");
    // ctr task delete reports the exit status of the init process.
    let o = c.ctr(&["task", "delete", &id]);
    o.assert_ok();
    assert!(
        o.stderr.contains("exit with non-zero exit code 7"),
        "exit status 7 not reported\n{o}"
    );
    assert!(c.task(&id).is_none());
    // The runtime deleted its state and the container's cgroup.
    let st = runtime_cmd(c, &["state", &id]);
    assert!(!st.ok(), "runtime still knows {id}\n{st}");
    assert!(
        cgroup_trees(&c.namespace)
            .iter()
            .all(|t| !t.join(&id).exists()),
        "cgroup of {id} left behind"
    );
    c.ctr(&["containers", "rm", &id]).assert_ok();

    // SIGKILL of a process that ignores TERM: 137.
    let id2 = unique_id("detach-kill");
    let _g2 = Cleanup(c, id2.clone());
    run_detached(c, &id2, "trap '' TERM; while :; do sleep 0.1; done");
    c.ctr(&["task", "kill", "-s", "SIGKILL", &id2]).assert_ok();
    c.wait_status(&id2, "STOPPED");
    let o = c.ctr(&["task", "delete", &id2]);
    o.assert_ok();
    assert!(
        o.stderr.contains("exit with non-zero exit code 137"),
        "exit status 137 not reported\n{o}"
    );
}

#[test]
fn exec_with_and_without_terminal() {
    let c = ctd();
    let id = unique_id("exec");
    let _g = Cleanup(c, id.clone());
    run_detached(c, &id, "echo started > /tmp/marker; exec sleep 1000");

    let o = c.ctr(&[
        "task",
        "exec",
        "--fifo-dir",
        &c.fifo_dir().display().to_string(),
        "--exec-id",
        "e1",
        &id,
        "sh",
        "-c",
        "cat /tmp/marker; echo to-stderr >&2; exit 5",
    ]);
    o.assert_code(5);
    assert_eq!(
        o.stdout.trim(),
        "started",
        "exec does not see the container\n{o}"
    );
    assert!(o.stderr.contains("to-stderr"), "{o}");

    let args: Vec<String> = [
        "task",
        "exec",
        "-t",
        "--fifo-dir",
        &c.fifo_dir().display().to_string(),
        "--exec-id",
        "e2",
        &id,
        "sh",
        "-c",
        &format!("tty; {STTY_SIZE}; exit 6"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let o = run_in_pty(c.ctr_command(&args), 20, 70, b"", Duration::from_secs(60));
    o.assert_code(6);
    assert!(o.stdout.contains("/dev/pts/"), "exec -t got no pty\n{o}");
    assert!(o.stdout.contains("size=20 70"), "exec console size\n{o}");

    // A missing executable: the runtime's message reaches the user, exit code non-zero.
    let o = c.ctr(&[
        "task",
        "exec",
        "--fifo-dir",
        &c.fifo_dir().display().to_string(),
        "--exec-id",
        "e3",
        &id,
        "no-such-command",
    ]);
    assert_ne!(o.code, Some(0), "{o}");
    assert!(
        o.stderr.contains("executable file not found in $PATH"),
        "exec error does not carry the runtime's message\n{o}"
    );

    // The container is unaffected.
    assert_eq!(c.task(&id).map(|t| t.1), Some("RUNNING".into()));
}

#[test]
fn pause_and_resume() {
    let c = ctd();
    let id = unique_id("pause");
    let _g = Cleanup(c, id.clone());
    let pid = run_detached(c, &id, "exec sleep 1000");

    c.ctr(&["task", "pause", &id]).assert_ok();
    assert_eq!(c.task(&id).map(|t| t.1), Some("PAUSED".into()));
    let frozen = cgroup_file(pid, "freezer", "freezer.state", "cgroup.freeze");
    assert!(frozen == "FROZEN" || frozen == "1", "freezer: {frozen}");
    assert_made_by_runtime(c, &id, pid, "paused");

    c.ctr(&["task", "resume", &id]).assert_ok();
    assert_eq!(c.task(&id).map(|t| t.1), Some("RUNNING".into()));
    let thawed = cgroup_file(pid, "freezer", "freezer.state", "cgroup.freeze");
    assert!(thawed == "THAWED" || thawed == "0", "freezer: {thawed}");
    assert_made_by_runtime(c, &id, pid, "running");
    let o = c.ctr(&[
        "task",
        "exec",
        "--fifo-dir",
        &c.fifo_dir().display().to_string(),
        "--exec-id",
        "after-resume",
        &id,
        "true",
    ]);
    o.assert_ok();
}

#[test]
fn ps_lists_the_container_pids() {
    let c = ctd();
    let id = unique_id("ps");
    let _g = Cleanup(c, id.clone());
    let pid = run_detached(c, &id, "sleep 1000 & sleep 1001 & wait");
    let dir = cgroup_dir(pid, "pids").expect("pids cgroup");
    let procs = wait_for(Duration::from_secs(10), || {
        let set: BTreeSet<i32> = read(dir.join("cgroup.procs"))
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        (set.len() == 3).then_some(set)
    })
    .expect("three processes in the container's cgroup");
    assert!(procs.contains(&pid));

    let o = c.ctr(&["task", "ps", &id]);
    o.assert_ok();
    let listed: BTreeSet<i32> = o
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(listed, procs, "ctr task ps != cgroup.procs\n{o}");

    // And the runtime's own `ps`, which the shim calls for this.
    let o = runtime_cmd(c, &["ps", "--format", "json", &id]);
    o.assert_ok();
    let pids: BTreeSet<i32> = serde_json::from_str::<Vec<i32>>(o.stdout.trim())
        .unwrap_or_else(|e| panic!("ps json: {e}\n{o}"))
        .into_iter()
        .collect();
    assert_eq!(pids, procs);
}

#[test]
fn metrics() {
    let c = ctd();
    let id = unique_id("metrics");
    let _g = Cleanup(c, id.clone());
    run_detached(c, &id, "sleep 1000 & exec sleep 1001");
    // The shell forks the first sleep right after start: poll until both are counted.
    let mut last = Value::Null;
    let m = wait_for(Duration::from_secs(10), || {
        let o = c.ctr(&["task", "metrics", "--format", "json", &id]);
        o.assert_ok();
        last = o.json();
        (last["pids"]["current"].as_u64().unwrap_or(0) >= 2).then(|| last.clone())
    })
    .unwrap_or_else(|| panic!("pids.current never reached 2: {last}"));
    let mem = m["memory"]["usage"]["usage"]
        .as_u64()
        .or_else(|| m["memory"]["usage"].as_u64())
        .unwrap_or(0);
    assert!(mem > 0, "memory usage: {m}");
}

#[test]
fn update_resources() {
    let c = ctd();
    let py = system_python_with_grpc();
    let id = unique_id("update");
    let _g = Cleanup(c, id.clone());
    let pid = run_detached(c, &id, "exec sleep 1000");

    let mut cmd = Command::new(py);
    cmd.arg(ctrpc())
        .arg("update")
        .arg("--address")
        .arg(&c.address)
        .args(["--namespace", &c.namespace])
        .args(["--memory-limit", "67108864", "--pids-limit", "77", &id]);
    run(cmd, Duration::from_secs(60)).assert_ok();

    let mem = cgroup_file(pid, "memory", "memory.limit_in_bytes", "memory.max");
    assert_eq!(mem, "67108864", "memory limit not applied");
    let pids = cgroup_file(pid, "pids", "pids.max", "pids.max");
    assert_eq!(pids, "77", "pids limit not applied");

    // ... and it is enforced: forks beyond 77 processes fail.
    let o = c.ctr(&[
        "task",
        "exec",
        "--fifo-dir",
        &c.fifo_dir().display().to_string(),
        "--exec-id",
        "fork",
        &id,
        "sh",
        "-c",
        "for i in $(seq 90); do sleep 2 & done; wait",
    ]);
    assert!(
        o.stderr.contains("can't fork") || o.stderr.contains("Resource temporarily unavailable"),
        "90 forks succeeded despite pids.max 77\n{o}"
    );
}

#[test]
fn missing_executable_fails_with_the_runtime_message() {
    let c = ctd();
    for (cmd, needle) in [
        ("no-such-command", "executable file not found in $PATH"),
        ("/no/such/file", "no such file or directory"),
    ] {
        let id = unique_id("noexec");
        let _g = Cleanup(c, id.clone());
        let o = c.ctr(&with(run_args(c, &["--rm"]), &[&id, cmd]));
        assert_eq!(o.code, Some(1), "{o}");
        assert!(
            o.stderr.contains(needle) && o.stderr.contains("OCI runtime create failed"),
            "containerd does not show the runtime's error ({needle:?})\n{o}"
        );
        // Nothing left: not in containerd, not in the runtime, no cgroup, no bundle.
        assert!(!c.ctr(&["containers", "ls", "-q"]).stdout.contains(&id));
        assert!(!runtime_cmd(c, &["list", "-q"]).stdout.contains(&id));
        assert!(
            cgroup_trees(&c.namespace)
                .iter()
                .all(|t| !t.join(&id).exists()),
            "cgroup of the failed container left behind"
        );
        assert!(!c.bundle(&id).exists(), "bundle left behind");
        assert!(mounts_under(&c.bundle(&id)).is_empty());
    }
}

#[test]
fn containerd_restart_keeps_the_task() {
    // Own containerd: restarting the shared one would disturb the other tests.
    let c = Containerd::start("restart");
    c.import(busybox_image());
    let id = unique_id("restart");
    let pid = run_detached(&c, &id, "exec sleep 1000");
    let shim_pids = |c: &Containerd| -> Vec<i32> {
        let addr = c.address.display().to_string();
        processes()
            .into_iter()
            .filter(|(_, cmd)| cmd.contains("containerd-shim") && cmd.contains(&addr))
            .map(|(p, _)| p)
            .collect()
    };
    let shims = shim_pids(&c);
    assert_eq!(shims.len(), 1, "one shim expected: {shims:?}");

    c.stop_daemon();
    assert!(alive(pid), "container died with containerd");
    assert!(alive(shims[0]), "shim died with containerd");
    let st = runtime_cmd(&c, &["state", &id]);
    st.assert_ok();
    assert_eq!(st.json()["status"], "running");

    c.start_daemon();
    assert_eq!(c.task(&id), Some((pid, "RUNNING".into())));
    assert_made_by_runtime(&c, &id, pid, "running");
    // The reconnected shim still drives the runtime.
    c.ctr(&[
        "task",
        "exec",
        "--fifo-dir",
        &c.fifo_dir().display().to_string(),
        "--exec-id",
        "after-restart",
        &id,
        "true",
    ])
    .assert_ok();
    c.ctr(&["task", "kill", "-s", "SIGKILL", &id]).assert_ok();
    c.wait_status(&id, "STOPPED");
    c.ctr(&["task", "delete", &id]);
    assert!(c.task(&id).is_none());
    c.ctr(&["containers", "rm", &id]).assert_ok();
    assert!(!alive(pid));
    assert!(
        wait_for(Duration::from_secs(10), || shim_pids(&c)
            .is_empty()
            .then_some(()))
        .is_some(),
        "shim still running after delete"
    );

    let dir = c.dir.clone();
    let ns = c.namespace.clone();
    let problems = c.teardown();
    assert!(problems.is_empty(), "teardown left: {problems:?}");
    assert!(!dir.exists());
    assert!(cgroup_trees(&ns).is_empty());
    assert!(!Path::new(SHIM_RUNC_ROOT).join(&ns).exists());
}

#[test]
fn cri_pod_through_runtime_handler() {
    // The Kubernetes path: containerd's CRI plugin with a runtime handler `berth`
    // (runtime_type io.containerd.runc.v2, options.BinaryName = berth-runtime), driven
    // through the CRI gRPC API like the kubelet does (crictl is not packaged in Debian
    // bookworm; ctrpc.py speaks CRI v1 with python3-grpcio).
    let py = system_python_with_grpc();
    let pause = build_image(
        "docker.io/library/berth-pause:latest",
        "sleep 2147483647",
        "pause",
    );
    let c = Containerd::start_with(
        "cri",
        ContainerdOpts {
            cri_handler: Some("berth".into()),
            sandbox_image: Some(pause.name.clone()),
        },
    );
    c.import_into("k8s.io", &busybox_image().docker_archive);
    c.import_into("k8s.io", &pause.docker_archive);

    let mut cmd = Command::new(py);
    cmd.arg(ctrpc())
        .arg("cri-smoke")
        .arg("--address")
        .arg(&c.address)
        .args(["--handler", "berth", "--image", IMAGE])
        .args(["--cgroup-parent", &format!("/{}-cri", c.namespace)])
        .args(["--name", &unique_id("pod")]);
    let o = run(cmd, Duration::from_secs(180));
    assert!(
        o.ok(),
        "CRI scenario failed\n{o}\n--- containerd log ---\n{}",
        c.log_tail(30)
    );
    let r: Value = serde_json::from_str(o.stdout.trim()).unwrap_or_else(|e| panic!("{e}\n{o}"));

    assert_eq!(r["pod_state"], "SANDBOX_READY", "{r}");
    assert_eq!(r["pod_runtime_handler"], "berth", "{r}");
    assert_eq!(
        r["pod_runtime_options"]["binary_name"]
            .as_str()
            .map(PathBuf::from),
        Some(c.runtime.clone()),
        "{r}"
    );
    assert_eq!(r["container_state"], "CONTAINER_RUNNING", "{r}");
    assert!(r["container_pid"].as_i64().unwrap_or(0) > 0, "{r}");
    assert_eq!(r["exec"]["stdout"], "out-3\n", "{r}");
    assert_eq!(r["exec"]["stderr"], "err\n", "{r}");
    assert_eq!(r["exec"]["exit_code"], 3, "{r}");
    assert_eq!(r["stopped_state"], "CONTAINER_EXITED", "{r}");
    // Stopped with SIGTERM (the container shares the pod's pid namespace, so sleep is
    // not pid 1 and dies of it).
    assert_eq!(r["stopped_exit_code"], 143, "{r}");

    let dir = c.dir.clone();
    let problems = c.teardown();
    assert!(problems.is_empty(), "teardown left: {problems:?}");
    assert!(!dir.exists());
}
