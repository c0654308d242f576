//! containerd-shim-berth-v2 under a real containerd (1.6, Debian's package): berth as a
//! containerd runtime of its own, `ctr run --runtime io.containerd.berth.v2`, with no
//! Go shim in between. The scenarios of the drop-in tests (tests/containerd.rs) through
//! the new shim, plus the shim killed with SIGKILL and the events it publishes.
//!
//! containerd finds the shim binary on its PATH: the tests put the directory of the
//! built binaries (beside berth-runtime) first on PATH before starting the private
//! containerd of tests/src/engines.rs.
//!
//! Needs root, containerd, ctr, umoci, skopeo, busybox-static, and
//! target/.../release/containerd-shim-berth-v2 (tests/run.sh builds it).

#[path = "../src/engines.rs"]
mod engines;

use engines::*;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

const IMAGE: &str = "docker.io/library/busybox:latest";
const RUNTIME: &str = "io.containerd.berth.v2";
/// Where the shim keeps its supervisors' work directories and the runtime's state.
const WORK_ROOT: &str = "/run/berth-containerd";
const RUNTIME_ROOT: &str = "/run/containerd/berth";

fn shim_binary() -> PathBuf {
    let dir = berth_runtime().parent().expect("runtime dir").to_path_buf();
    let shim = dir.join("containerd-shim-berth-v2");
    assert!(
        shim.is_file(),
        "{} is missing: cargo build --release -p containerd-shim-berth-v2",
        shim.display()
    );
    shim
}

/// Put the shim's directory first on PATH (once, before any containerd starts: they
/// inherit the environment).
fn shim_on_path() {
    static PATH_SET: OnceLock<()> = OnceLock::new();
    PATH_SET.get_or_init(|| {
        let dir = shim_binary().parent().expect("dir").to_path_buf();
        let path = std::env::var("PATH").unwrap_or_default();
        // Before the shared containerd starts (it inherits the environment), while no
        // other thread of this test binary runs commands (they wait on this OnceLock).
        std::env::set_var("PATH", format!("{}:{path}", dir.display()));
    });
}

/// The shared containerd's namespace, for [`remove_runtime_root`].
static SHARED_NS: OnceLock<String> = OnceLock::new();

/// At exit, after the harness's teardown (registered later, so run earlier): the
/// runtime's `--root` for the shared namespace, empty by then.
extern "C" fn remove_runtime_root() {
    if let Some(ns) = SHARED_NS.get() {
        let _ = fs::remove_dir(Path::new(RUNTIME_ROOT).join(ns));
    }
}

fn ctd() -> &'static Containerd {
    static AT_EXIT: OnceLock<()> = OnceLock::new();
    AT_EXIT.get_or_init(|| {
        // SAFETY: registering a plain extern "C" function.
        unsafe { libc::atexit(remove_runtime_root) };
    });
    shim_on_path();
    let c = shared();
    SHARED_NS.get_or_init(|| c.namespace.clone());
    c
}

/// `ctr run --runtime io.containerd.berth.v2 [extra] IMAGE`.
fn run_args(c: &Containerd, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "run".into(),
        "--fifo-dir".into(),
        c.fifo_dir().display().to_string(),
        "--runtime".into(),
        RUNTIME.into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a.push(IMAGE.into());
    a
}

fn with(mut v: Vec<String>, tail: &[&str]) -> Vec<String> {
    v.extend(tail.iter().map(|s| s.to_string()));
    v
}

struct Cleanup<'a>(&'a Containerd, String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        self.0.remove(&self.1);
    }
}

fn run_detached(c: &Containerd, id: &str, script: &str) -> i32 {
    c.ctr(&with(run_args(c, &["-d"]), &[id, "sh", "-c", script]))
        .assert_ok();
    c.wait_status(id, "RUNNING")
}

/// The pid of the shim serving `id` (written by `start` into the bundle).
fn shim_pid(c: &Containerd, id: &str) -> i32 {
    read(c.bundle(id).join("shim.pid"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("shim.pid of {id}: {e}"))
}

fn runtime_state_dir(c: &Containerd, id: &str) -> PathBuf {
    Path::new(RUNTIME_ROOT).join(&c.namespace).join(id)
}

/// The number of threads of process `pid` (0 when it is gone).
fn threads(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The supervisor work directory of container `id` if it exists: WORK_ROOT/ the first 24
/// hex digits of sha256("<namespace>/<id>") (the shim's layout::workdir).
fn work_dir_of(c: &Containerd, id: &str) -> Option<PathBuf> {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{}/{id}", c.namespace).as_bytes())
        .expect("writing to sha256sum");
    let out = child.wait_with_output().expect("sha256sum");
    let hex = String::from_utf8_lossy(&out.stdout);
    let d = Path::new(WORK_ROOT).join(hex.get(..24).expect("a sha256 in hex"));
    d.exists().then_some(d)
}

/// Nothing of container `id` is left: no shim, no runtime state, no work directory,
/// no mount under its bundle, no process in its cgroup.
#[track_caller]
fn assert_no_leaks(c: &Containerd, id: &str, shim: Option<i32>) {
    let gone = wait_for(Duration::from_secs(10), || {
        let shim_alive = shim.is_some_and(alive);
        let state = runtime_state_dir(c, id).exists();
        let mounts = !mounts_under(&c.bundle(id)).is_empty();
        let procs = !pids_in_cgroup_tree(&format!("{}/{id}", c.namespace)).is_empty();
        let work = work_dir_of(c, id).is_some();
        (!shim_alive && !state && !mounts && !procs && !work).then_some(())
    });
    assert!(
        gone.is_some(),
        "{id} left: shim alive={:?} work dir={:?} runtime state={} mounts={:?} pids={:?}",
        shim.map(alive),
        work_dir_of(c, id),
        runtime_state_dir(c, id).exists(),
        mounts_under(&c.bundle(id)),
        pids_in_cgroup_tree(&format!("{}/{id}", c.namespace))
    );
    let shims: Vec<(i32, String)> = processes()
        .into_iter()
        .filter(|(_, cmd)| {
            cmd.contains("containerd-shim-berth-v2")
                && cmd.contains(&format!("-id {id} "))
                && cmd.contains(&c.namespace)
        })
        .collect();
    assert!(shims.is_empty(), "shims of {id} still running: {shims:?}");
}

// ---------------------------------------------------------------------------------------

#[test]
fn run_prints_output_and_returns_exit_code() {
    let c = ctd();
    let id = unique_id("sv2-run");
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

    // true exits 0, and the shim is gone with the container.
    let id_true = unique_id("sv2-true");
    let _g2 = Cleanup(c, id_true.clone());
    c.ctr(&with(run_args(c, &["--rm"]), &[&id_true, "true"]))
        .assert_code(0);
    assert_no_leaks(c, &id_true, None);

    // stdin is forwarded through containerd's FIFO.
    let input = scratch().join(format!("stdin-{}", unique()));
    fs::write(&input, "line-from-stdin\n").unwrap();
    let id_in = unique_id("sv2-stdin");
    let _g3 = Cleanup(c, id_in.clone());
    let mut cmd = c.ctr_command(&with(
        run_args(c, &["--rm"]),
        &[&id_in, "sh", "-c", "read x; echo got=$x"],
    ));
    cmd.stdin(fs::File::open(&input).unwrap());
    let o = run(cmd, CTR_TIMEOUT);
    o.assert_ok();
    assert_eq!(o.stdout.trim(), "got=line-from-stdin", "{o}");
    assert!(!c.ctr(&["containers", "ls", "-q"]).stdout.contains(&id));
    assert_no_leaks(c, &id, None);
}

#[test]
fn run_with_a_terminal() {
    let c = ctd();
    let id = unique_id("sv2-tty");
    let _g = Cleanup(c, id.clone());
    let script = "tty; for i in $(seq 50); do s=$(stty size 2>/dev/null); \
                  case \"$s\" in [1-9]*) break;; esac; sleep 0.1; done; echo \"size=$s\"; exit 5";
    let cmd = c.ctr_command(&with(
        run_args(c, &["--rm", "-t"]),
        &[&id, "sh", "-c", script],
    ));
    let o = run_in_pty(cmd, 33, 111, b"", CTR_TIMEOUT);
    assert_eq!(o.code, Some(5), "{o}");
    assert!(
        o.stdout.contains("/dev/pts/"),
        "no terminal in the container\n{o}"
    );
    assert!(
        o.stdout.contains("size=33 111"),
        "the pty size did not reach the container\n{o}"
    );
}

#[test]
fn detached_task_exec_ps_pause_resume_metrics_kill() {
    let c = ctd();
    let id = unique_id("sv2-det");
    let _g = Cleanup(c, id.clone());
    let pid = run_detached(c, &id, "trap 'exit 7' TERM; while true; do sleep 0.1; done");
    // the kill below must find the trap set: a TERM before it is dropped by the init
    assert!(berth_tests::sys::wait_caught(
        pid,
        berth_tests::sys::sig_bit(libc::SIGTERM),
        Duration::from_secs(20)
    ));
    assert!(alive(pid));
    let shim = shim_pid(c, &id);
    assert!(alive(shim));

    // exec: output, exit code, and a terminal exec.
    let o = c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        &id,
        "sh",
        "-c",
        "echo in-exec; exit 4",
    ]);
    o.assert_code(4);
    assert_eq!(o.stdout.trim(), "in-exec", "{o}");
    let cmd = c.ctr_command(&["task", "exec", "-t", "--exec-id", "e2", &id, "tty"]);
    let o = run_in_pty(cmd, 24, 80, b"", CTR_TIMEOUT);
    assert_eq!(o.code, Some(0), "{o}");
    assert!(o.stdout.contains("/dev/pts/"), "{o}");

    // ps lists the init and a running exec.
    let o = c.ctr(&["task", "exec", "-d", "--exec-id", "e3", &id, "sleep", "30"]);
    o.assert_ok();
    let ps = c.ctr(&["task", "ps", &id]);
    ps.assert_ok();
    let pids: Vec<i32> = ps
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert!(pids.contains(&pid), "init {pid} not in ps\n{ps}");
    assert!(pids.len() >= 3, "the exec is not in ps\n{ps}");

    // pause/resume: containerd and the cgroup freezer agree.
    c.ctr(&["task", "pause", &id]).assert_ok();
    assert_eq!(c.task(&id).map(|t| t.1), Some("PAUSED".into()));
    let st = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    assert!(st.lines().any(|l| l.starts_with("State:")), "{st}");
    c.ctr(&["task", "resume", &id]).assert_ok();
    assert_eq!(c.task(&id).map(|t| t.1), Some("RUNNING".into()));

    // metrics from the container's cgroup (v1 or v2 types).
    let m = c.ctr(&["task", "metrics", &id]);
    m.assert_ok();
    assert!(
        m.stdout.contains("memory.usage_in_bytes") || m.stdout.contains("memory.usage"),
        "{m}"
    );
    assert!(m.stdout.contains("pids.current"), "{m}");

    // kill (SIGTERM: the trap's exit code), then delete reports it.
    c.ctr(&["task", "kill", &id]).assert_ok();
    c.wait_status(&id, "STOPPED");
    let o = c.ctr(&["task", "delete", &id]);
    o.assert_ok();
    assert!(!alive(pid));
    c.ctr(&["containers", "rm", &id]).assert_ok();
    assert_no_leaks(c, &id, Some(shim));
}

#[test]
fn kill_all_reaches_every_process() {
    let c = ctd();
    let id = unique_id("sv2-killall");
    let _g = Cleanup(c, id.clone());
    let pid = run_detached(c, &id, "sleep 1000 & sleep 1000 & wait");
    let shim = shim_pid(c, &id);
    let o = c.ctr(&["task", "kill", "-a", "-s", "SIGKILL", &id]);
    o.assert_ok();
    c.wait_status(&id, "STOPPED");
    assert!(!alive(pid));
    c.ctr(&["task", "delete", &id]).assert_ok();
    c.ctr(&["containers", "rm", &id]).assert_ok();
    assert_no_leaks(c, &id, Some(shim));
}

#[test]
fn shim_killed_with_sigkill_is_cleaned_up_by_delete() {
    let c = ctd();
    let id = unique_id("sv2-shimkill");
    let _g = Cleanup(c, id.clone());
    let pid = run_detached(c, &id, "sleep 1000");
    let shim = shim_pid(c, &id);
    // SAFETY: plain kill of the shim we started through containerd.
    unsafe { libc::kill(shim, libc::SIGKILL) };
    // containerd notices the dead shim and runs `containerd-shim-berth-v2 delete`,
    // which removes the container (killing its processes) and unmounts the rootfs.
    let gone = wait_for(Duration::from_secs(20), || {
        (!alive(pid) && c.task(&id).is_none()).then_some(())
    });
    assert!(
        gone.is_some(),
        "after the shim's SIGKILL: init alive={} task={:?}\n{}",
        alive(pid),
        c.task(&id),
        c.log_tail(20)
    );
    c.ctr(&["containers", "rm", &id]).assert_ok();
    assert_no_leaks(c, &id, Some(shim));
}

/// `ctr events` of the daemon, recorded to a file while the guard lives: what containerd
/// received from the shims, whatever its log format (1.6 and 1.7 differ).
struct EventLog {
    child: std::process::Child,
    path: PathBuf,
}

impl EventLog {
    fn start(c: &Containerd) -> EventLog {
        use std::os::unix::process::CommandExt;
        let path = scratch().join(format!("events-{}.txt", unique()));
        let mut cmd = c.ctr_command(&["events"]);
        cmd.stdin(std::process::Stdio::null())
            .stdout(fs::File::create(&path).unwrap())
            .stderr(std::process::Stdio::null())
            .process_group(0);
        let child = cmd.spawn().expect("spawn ctr events");
        let log = EventLog { child, path };
        // Subscribed once a marker container's creation shows up.
        let marker = unique_id("sv2-marker");
        let seen = wait_for(Duration::from_secs(20), || {
            let _ = c.ctr(&["containers", "create", IMAGE, &marker]);
            let _ = c.ctr(&["containers", "rm", &marker]);
            read(&log.path).contains(&marker).then_some(())
        });
        assert!(seen.is_some(), "ctr events shows nothing");
        log
    }

    /// Topics of the events about container `id`, in order.
    fn topics(&self, id: &str) -> Vec<String> {
        let needle = format!("\"container_id\":\"{id}\"");
        read(&self.path)
            .lines()
            .filter(|l| l.contains(&needle))
            .filter_map(|l| l.split_whitespace().nth(5).map(str::to_string))
            .collect()
    }

    #[track_caller]
    fn wait_for_topics(&self, id: &str, wanted: &[&str]) -> Vec<String> {
        let got = wait_for(Duration::from_secs(10), || {
            let t = self.topics(id);
            wanted.iter().all(|w| t.iter().any(|x| x == w)).then_some(t)
        });
        got.unwrap_or_else(|| {
            panic!(
                "events of {id}: {:?}, wanted all of {wanted:?}",
                self.topics(id)
            )
        })
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        // SAFETY: plain kill of the process group we started.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

#[test]
fn events_are_published_to_containerd() {
    let c = ctd();
    let events = EventLog::start(c);
    let id = unique_id("sv2-events");
    let _g = Cleanup(c, id.clone());
    run_detached(c, &id, "sleep 1000");
    c.ctr(&["task", "exec", "--exec-id", "ev1", &id, "true"])
        .assert_ok();
    c.ctr(&["task", "pause", &id]).assert_ok();
    c.ctr(&["task", "resume", &id]).assert_ok();
    c.ctr(&["task", "kill", "-s", "SIGKILL", &id]).assert_ok();
    c.wait_status(&id, "STOPPED");
    c.ctr(&["task", "delete", &id]).assert_ok();
    let wanted = [
        "/tasks/create",
        "/tasks/start",
        "/tasks/exec-added",
        "/tasks/exec-started",
        "/tasks/paused",
        "/tasks/resumed",
        "/tasks/exit",
        "/tasks/delete",
    ];
    let got = events.wait_for_topics(&id, &wanted);
    // The task's life in order: create first, delete last.
    assert_eq!(
        got.first().map(String::as_str),
        Some("/tasks/create"),
        "{got:?}"
    );
    assert_eq!(
        got.last().map(String::as_str),
        Some("/tasks/delete"),
        "{got:?}"
    );
    // Two exits: the exec's and the init's.
    assert_eq!(
        got.iter().filter(|t| *t == "/tasks/exit").count(),
        2,
        "{got:?}"
    );
}

#[test]
fn checkpoint_is_refused_clearly() {
    let c = ctd();
    let id = unique_id("sv2-ckpt");
    let _g = Cleanup(c, id.clone());
    run_detached(c, &id, "sleep 1000");
    let o = c.ctr(&["task", "checkpoint", &id]);
    assert_ne!(o.code, Some(0), "{o}");
    assert!(o.stderr.contains("not supported"), "{o}");
}

#[test]
fn cri_pod_through_the_berth_shim() {
    // The Kubernetes path: containerd's CRI plugin with a runtime handler whose
    // runtime_type is io.containerd.berth.v2, driven through the CRI gRPC API like the
    // kubelet does (integration/containerd/ctrpc.py, python3-grpcio): a pod sandbox and
    // two containers in it, ExecSync, stop, removal of one, then of the pod.
    shim_on_path();
    let py = PathBuf::from("/usr/bin/python3");
    let pause = build_image(
        "docker.io/library/berth-pause:latest",
        "sleep 2147483647",
        "pause",
    );
    let c = Containerd::start_with(
        "cri-sv2",
        ContainerdOpts {
            cri_handler: Some("berth-shim".into()),
            sandbox_image: Some(pause.name.clone()),
        },
    );
    // The harness registers the handler for the runc shim; re-point it at ours (the
    // runc options do not apply to it) and restart the daemon.
    c.stop_daemon();
    let toml = read(&c.config);
    let mut out = String::new();
    let mut skip_options = false;
    for line in toml.lines() {
        let t = line.trim();
        if t.starts_with(
            "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.berth-shim.options]",
        ) {
            skip_options = true;
            continue;
        }
        if skip_options && (t.starts_with("BinaryName") || t.starts_with("Root")) {
            continue;
        }
        skip_options = false;
        out.push_str(&line.replace("io.containerd.runc.v2", RUNTIME));
        out.push('\n');
    }
    assert!(out.contains(RUNTIME), "{out}");
    fs::write(&c.config, out).unwrap();
    c.start_daemon();
    c.import_into("k8s.io", &busybox_image().docker_archive);
    c.import_into("k8s.io", &pause.docker_archive);

    let mut cmd = Command::new(py);
    cmd.arg(workspace().join("integration/containerd/ctrpc.py"))
        .arg("cri-smoke")
        .arg("--address")
        .arg(&c.address)
        .args(["--handler", "berth-shim", "--image", IMAGE])
        .args(["--cgroup-parent", &format!("/{}-cri", c.namespace)])
        .args(["--name", &unique_id("pod")]);
    // Watch the shim daemons while the pod lives: one serves the whole pod.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        let address = c.address.display().to_string();
        std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                for (pid, cmd) in processes() {
                    // The daemon is a fork of the `start` command (the same command
                    // line); it alone has threads (its ttrpc server's).
                    if cmd.contains("containerd-shim-berth-v2")
                        && cmd.contains(&address)
                        && threads(pid) > 1
                    {
                        seen.insert(pid);
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            seen
        })
    };
    let o = run(cmd, Duration::from_secs(180));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    // (a daemon's child between its spawn and the runtime's exec shows the daemon's
    // command line, with one thread: not a daemon of its own)
    let daemons: std::collections::BTreeSet<i32> = watcher.join().expect("watcher");
    assert!(
        o.ok(),
        "CRI scenario failed\n{o}\n--- containerd log ---\n{}",
        c.log_tail(30)
    );
    let r: serde_json::Value =
        serde_json::from_str(o.stdout.trim()).unwrap_or_else(|e| panic!("{e}\n{o}"));
    assert_eq!(r["pod_state"], "SANDBOX_READY", "{r}");
    assert_eq!(r["pod_runtime_handler"], "berth-shim", "{r}");
    assert_eq!(r["container_state"], "CONTAINER_RUNNING", "{r}");
    assert!(r["container_pid"].as_i64().unwrap_or(0) > 0, "{r}");
    assert_eq!(r["exec"]["stdout"], "out-3\n", "{r}");
    assert_eq!(r["exec"]["stderr"], "err\n", "{r}");
    assert_eq!(r["exec"]["exit_code"], 3, "{r}");
    assert_eq!(r["stopped_state"], "CONTAINER_EXITED", "{r}");
    assert_eq!(r["stopped_exit_code"], 143, "{r}");
    // The pod's second container: its own process, exec works, it outlives the first
    // one's removal and stops with the pod.
    assert_eq!(r["side_state"], "CONTAINER_RUNNING", "{r}");
    let side_pid = r["side_pid"].as_i64().unwrap_or(0);
    assert!(
        side_pid > 0 && Some(side_pid) != r["container_pid"].as_i64(),
        "{r}"
    );
    assert_eq!(r["side_exec"]["stdout"], "side\n", "{r}");
    assert_eq!(r["side_exec"]["exit_code"], 0, "{r}");
    assert_eq!(
        r["side_state_after_main_removed"], "CONTAINER_RUNNING",
        "{r}"
    );
    assert_eq!(r["side_state_after_pod_stopped"], "CONTAINER_EXITED", "{r}");
    assert_eq!(r["StopPodSandbox"], "ok", "{r}");
    assert_eq!(r["RemovePodSandbox"], "ok", "{r}");
    assert_eq!(
        daemons.len(),
        1,
        "the pod's sandbox and two containers were not served by one shim: {daemons:?}"
    );
    // The pod's shims were ours (containerd runs its shims with -debug at this log level,
    // and ours logs each create), and they are gone.
    let log = read(&c.log);
    assert!(
        log.contains("containerd-shim-berth-v2: create"),
        "no berth shim created the pod's containers\n{}",
        c.log_tail(30)
    );
    assert!(
        !log.contains("runtime=io.containerd.runc.v2"),
        "a runc shim ran\n{}",
        c.log_tail(30)
    );
    let dir = c.dir.clone();
    let problems = c.teardown();
    assert!(problems.is_empty(), "teardown left: {problems:?}");
    assert!(!dir.exists());
    let shims: Vec<(i32, String)> = processes()
        .into_iter()
        .filter(|(_, cmd)| {
            cmd.contains("containerd-shim-berth-v2") && cmd.contains(&dir.display().to_string())
        })
        .collect();
    assert!(shims.is_empty(), "shims left: {shims:?}");
    let _ = fs::remove_dir(Path::new(RUNTIME_ROOT).join("k8s.io"));
}

#[test]
fn log_uris_binary_and_file() {
    let c = ctd();
    // containerd's binary logging protocol: the program gets stdout on fd 3 and stderr
    // on fd 4, and closes fd 5 when ready.
    let out = scratch().join(format!("logger-{}", unique()));
    let logger = scratch().join(format!("logger-{}.sh", unique()));
    write_script(
        &logger,
        "#!/bin/sh\nout=\"$1\"\ncat <&3 > \"$out.stdout\" &\ncat <&4 > \"$out.stderr\" &\n\
         exec 5>&-\necho \"$CONTAINER_ID $CONTAINER_NAMESPACE\" > \"$out.env\"\nwait\n",
    );
    let id = unique_id("sv2-binlog");
    let _g = Cleanup(c, id.clone());
    let uri = format!("binary://{}?{}", logger.display(), out.display());
    let o = c.ctr(&with(
        run_args(c, &["--rm", "--log-uri", &uri]),
        &[&id, "sh", "-c", "echo out1; echo err1 >&2; exit 2"],
    ));
    o.assert_code(2);
    let file = |ext: &str| {
        let p = PathBuf::from(format!("{}.{ext}", out.display()));
        wait_for(Duration::from_secs(10), || {
            fs::read_to_string(&p).ok().filter(|s| s.ends_with('\n'))
        })
        .unwrap_or_else(|| panic!("{} not written by the logger", p.display()))
    };
    assert_eq!(file("stdout"), "out1\n");
    assert_eq!(file("stderr"), "err1\n");
    assert_eq!(file("env").trim(), format!("{id} {}", c.namespace));

    // file:// appends both streams to one file.
    let log = scratch().join(format!("file-log-{}.txt", unique()));
    let id2 = unique_id("sv2-filelog");
    let _g2 = Cleanup(c, id2.clone());
    let uri = format!("file://{}", log.display());
    c.ctr(&with(
        run_args(c, &["--rm", "--log-uri", &uri]),
        &[&id2, "sh", "-c", "echo out2; echo err2 >&2"],
    ))
    .assert_ok();
    let text = read(&log);
    assert!(
        text.contains("out2\n") && text.contains("err2\n"),
        "{text:?}"
    );
    assert_no_leaks(c, &id, None);
    assert_no_leaks(c, &id2, None);
}

#[test]
fn oom_kill_is_reported_as_an_event() {
    let c = ctd();
    let events = EventLog::start(c);
    let id = unique_id("sv2-oom");
    let _g = Cleanup(c, id.clone());
    let o = c.ctr(&with(
        run_args(c, &["--rm", "--memory-limit", "20000000"]),
        &[
            &id,
            "sh",
            "-c",
            "a=$(head -c 200000000 /dev/zero | tr '\\0' x); echo ${#a}",
        ],
    ));
    assert_ne!(o.code, Some(0), "the memory hog was not killed\n{o}");
    events.wait_for_topics(&id, &["/tasks/oom", "/tasks/exit"]);
    assert_no_leaks(c, &id, None);
}

/// The value of a cgroup file of `pid` (v1 file where the controller is on v1).
fn cgroup_file(pid: i32, controller: &str, v1_file: &str, v2_file: &str) -> String {
    let dir = cgroup_dir(pid, controller)
        .unwrap_or_else(|| panic!("no {controller} cgroup for pid {pid}"));
    let file = if cgroup_v2_only() { v2_file } else { v1_file };
    read(dir.join(file)).trim().to_string()
}

#[test]
fn update_sets_the_cgroup_limits() {
    // ctr 1.6 has no `task update`: containerd's Tasks.Update through ctrpc.py.
    let c = ctd();
    let id = unique_id("sv2-update");
    let _g = Cleanup(c, id.clone());
    let pid = run_detached(c, &id, "exec sleep 1000");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(workspace().join("integration/containerd/ctrpc.py"))
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
}

#[test]
fn containerd_restarted_while_tasks_run() {
    // containerd restarts (an upgrade, a crash): the shims and their tasks live on, and
    // the new containerd finds each shim again through the bundle's address file and
    // drives it: state, exec, kill, delete. A private containerd: the shared one must
    // not go away under the other tests.
    shim_on_path();
    let c = Containerd::start("sv2-restart");
    c.import(busybox_image());
    let a = unique_id("sv2-ra");
    let b = unique_id("sv2-rb");
    let pa = run_detached(&c, &a, "trap 'exit 5' TERM; while true; do sleep 0.1; done");
    // the kill below must find the trap set: a TERM before it is dropped by the init
    assert!(berth_tests::sys::wait_caught(
        pa,
        berth_tests::sys::sig_bit(libc::SIGTERM),
        Duration::from_secs(20)
    ));
    let pb = run_detached(&c, &b, "exec sleep 1000");
    let (sa, sb) = (shim_pid(&c, &a), shim_pid(&c, &b));
    assert_ne!(sa, sb, "two containers outside a pod share a shim");
    let before = c.daemon_pid();

    c.stop_daemon();
    assert!(c.daemon_pid().is_none());
    for (what, pid) in [
        ("task a", pa),
        ("task b", pb),
        ("shim a", sa),
        ("shim b", sb),
    ] {
        assert!(alive(pid), "{what} ({pid}) died with containerd");
    }
    c.start_daemon();
    assert_ne!(c.daemon_pid(), before);

    // The restarted containerd reconnected to both shims (no cleanup of dead shims).
    let tasks = c.tasks();
    for (id, pid) in [(&a, pa), (&b, pb)] {
        assert!(
            tasks
                .iter()
                .any(|(t, p, s)| t == id && *p == pid && s == "RUNNING"),
            "{id} (pid {pid}) not RUNNING after the restart: {tasks:?}\n{}",
            c.log_tail(30)
        );
    }
    // exec through the reconnected shim: output and exit code.
    let o = c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "after",
        &a,
        "sh",
        "-c",
        "echo after-restart; exit 2",
    ]);
    o.assert_code(2);
    assert_eq!(o.stdout.trim(), "after-restart", "{o}");
    // kill: the trap's exit code reaches the new containerd, then delete.
    c.ctr(&["task", "kill", &a]).assert_ok();
    c.wait_status(&a, "STOPPED");
    c.ctr(&["task", "delete", &a]).assert_ok();
    assert!(!alive(pa));
    c.ctr(&["task", "kill", "-s", "SIGKILL", &b]).assert_ok();
    c.wait_status(&b, "STOPPED");
    c.ctr(&["task", "delete", &b]).assert_ok();
    assert!(!alive(pb));
    for id in [&a, &b] {
        c.ctr(&["containers", "rm", id]).assert_ok();
    }
    assert_no_leaks(&c, &a, Some(sa));
    assert_no_leaks(&c, &b, Some(sb));
    let ns_root = Path::new(RUNTIME_ROOT).join(&c.namespace);
    let problems = c.teardown();
    assert!(problems.is_empty(), "teardown left: {problems:?}");
    let _ = fs::remove_dir(ns_root);
}
