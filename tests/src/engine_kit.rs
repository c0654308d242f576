//! Shared pieces of the docker and podman end-to-end tests (tests/tests/docker.rs,
//! tests/tests/podman.rs): commands with time limits and captured output, a private
//! environment directory under /tmp with its own cgroup parent, and a watchdog process
//! that tears that environment down (daemon, containers, shims, monitors, mounts,
//! cgroups, files) when the test process exits, normally or not.
//!
//! The watchdog is a generated shell script (`<dir>/cleanup.sh`) started in its own
//! session with the read end of a pipe as stdin; the test process keeps the only write
//! end. At exit (atexit handler or drop) the test process closes it and waits for the
//! script; if the test process dies (panic=abort, SIGKILL, ...) the kernel closes it and
//! the script cleans up on its own. A later run also re-runs the scripts of dead
//! processes' environments (`sweep_stale`).
//!
//! The `Engine` trait is what docker and podman have in common (their CLI, `run`, force
//! remove, the runtime's state); on it stand the generic container guard `Ctr`, the
//! inspect/wait helpers and the shared environment of a test process (`shared`). The
//! scenarios both engines run are in engine_scenarios.rs.
//!
//! Included with `#[path = "../src/engine_kit.rs"] mod engine_kit;`.

#![allow(dead_code)]

use std::fmt;
use std::fs::{self, File};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Busybox image built locally by integration/containerd/build-busybox-image.sh.
pub const IMAGE: &str = "localhost/berth-e2e-busybox:latest";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A number unique in this process.
pub fn unique() -> u32 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// A readable name unique on this host (for containers and volumes).
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), unique())
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Is a program on $PATH (or an existing absolute path)?
pub fn which(prog: &str) -> Option<PathBuf> {
    if prog.starts_with('/') {
        return Path::new(prog).is_file().then(|| PathBuf::from(prog));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

pub use berth_tests::sys::wait_for;

/// Quote a string for /bin/sh.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

// ---------------------------------------------------------------------------------------
// commands

/// The result of one command.
#[derive(Clone)]
pub struct Out {
    pub cmd: String,
    /// Exit code (None if killed by a signal or by the time limit).
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "command: {}\nexit code: {:?} signal: {:?}{} ({:.2?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd,
            self.code,
            self.signal,
            if self.timed_out { " TIMED OUT" } else { "" },
            self.elapsed,
            self.stdout,
            self.stderr
        )
    }
}

impl fmt::Debug for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.ok(), "expected success\n{self}");
        self
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit code\n{self}");
        self
    }

    /// stderr contains `needle` (case-insensitive).
    #[track_caller]
    pub fn assert_stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.to_lowercase().contains(&needle.to_lowercase()),
            "expected stderr to contain {needle:?}\n{self}"
        );
        self
    }

    /// stdout, trimmed.
    pub fn out(&self) -> &str {
        self.stdout.trim()
    }

    /// stdout lines, trimmed.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().map(str::trim).collect()
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{self}"))
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Run `cmd` with stdin from /dev/null (unless set) and stdout/stderr captured through
/// files in `out_dir` (so that a daemonized grandchild holding them cannot block us);
/// SIGKILL it after `timeout`.
pub fn run(mut cmd: Command, out_dir: &Path, timeout: Duration) -> Out {
    let text = describe(&cmd);
    let n = unique();
    let out_path = out_dir.join(format!("cmd-{n}.out"));
    let err_path = out_dir.join(format!("cmd-{n}.err"));
    let out_file =
        File::create(&out_path).unwrap_or_else(|e| panic!("create {}: {e}", out_path.display()));
    let err_file =
        File::create(&err_path).unwrap_or_else(|e| panic!("create {}: {e}", err_path.display()));
    cmd.stdout(out_file).stderr(err_file);
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {text}: {e}"));
    let (status, timed_out) = match wait_child(&mut child, timeout) {
        Some(st) => (Some(st), false),
        None => {
            let _ = child.kill();
            (child.wait().ok(), true)
        }
    };
    let elapsed = start.elapsed();
    let read = |p: &Path| {
        let s = String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
        let _ = fs::remove_file(p);
        s
    };
    Out {
        cmd: text,
        code: if timed_out {
            None
        } else {
            status.and_then(|s| s.code())
        },
        signal: status.and_then(|s| s.signal()),
        timed_out,
        stdout: read(&out_path),
        stderr: read(&err_path),
        elapsed,
    }
}

/// Wait for a child, polling (1 ms at first, so short commands are timed accurately).
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    let mut polls = 0u32;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            return None;
        }
        polls += 1;
        std::thread::sleep(Duration::from_millis(if polls < 200 { 1 } else { 10 }));
    }
}

// ---------------------------------------------------------------------------------------
// host inspection

/// Mount points at or below `dir` (host mount namespace).
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy().into_owned();
    let prefix = format!("{d}/");
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| m.replace("\\040", " "))
        .filter(|m| *m == d || m.starts_with(&prefix))
        .collect()
}

/// Host pids whose command line contains `needle` (excluding this process).
pub fn pids_with_cmdline(needle: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(raw) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) && !is_zombie(pid) {
            v.push((pid, cmdline.trim().to_string()));
        }
    }
    v
}

/// Is `pid` a zombie (or gone)?
pub fn is_zombie(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(") ")
            .map(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X'))
            .unwrap_or(true),
        Err(_) => true,
    }
}

/// Every cgroup directory named `name` directly below a hierarchy root (v1 controller
/// mounts, the hybrid unified mount, or the v2 root).
pub fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    for e in fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        roots.push(e.path());
    }
    let mut v: Vec<PathBuf> = roots
        .into_iter()
        .map(|r| r.join(name))
        .filter(|p| p.join("cgroup.procs").is_file())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The cgroup paths of a process: (controllers, path) per /proc/PID/cgroup line.
pub fn proc_cgroups(pid: i32) -> Vec<(String, String)> {
    fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _ = it.next()?;
            Some((it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect()
}

/// Is this host cgroup v2 only?
pub fn cgroup_v2_only() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").is_file()
}

/// The host directory of `pid`'s cgroup for a v1 `controller`, or its v2 cgroup when the
/// host is v2 only.
pub fn cgroup_dir_of(pid: i32, controller: &str) -> PathBuf {
    let cgs = proc_cgroups(pid);
    if cgroup_v2_only() {
        let (_, p) = cgs
            .iter()
            .find(|(c, _)| c.is_empty())
            .unwrap_or_else(|| panic!("no v2 cgroup for pid {pid}: {cgs:?}"));
        return PathBuf::from(format!("/sys/fs/cgroup{p}"));
    }
    let (ctrls, p) = cgs
        .iter()
        .find(|(c, _)| c.split(',').any(|x| x == controller))
        .unwrap_or_else(|| panic!("no {controller} cgroup for pid {pid}: {cgs:?}"));
    PathBuf::from(format!("/sys/fs/cgroup/{ctrls}{p}"))
}

/// Read a cgroup file, trimmed.
#[track_caller]
pub fn read_trim(p: &Path) -> String {
    fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// The effective capability set of this (host) process.
pub fn host_cap_bounding() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// All capabilities the kernel knows (from /proc/sys/kernel/cap_last_cap).
pub fn all_caps_mask() -> u64 {
    let last: u32 = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    if last >= 63 {
        u64::MAX
    } else {
        (1u64 << (last + 1)) - 1
    }
}

// ---------------------------------------------------------------------------------------
// the busybox image

/// Build the busybox image as a docker archive at `out` (tagged IMAGE) with the
/// containerd helper's generic script.
pub fn build_image_archive(out: &Path, scratch: &Path) {
    let script = workspace().join("integration/containerd/build-busybox-image.sh");
    assert!(
        script.is_file(),
        "{} is missing (it builds the busybox test image)",
        script.display()
    );
    for tool in ["umoci", "skopeo"] {
        assert!(
            which(tool).is_some(),
            "{tool} is missing: apt-get install umoci skopeo busybox-static"
        );
    }
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .arg("--docker-archive")
        .arg(out)
        .arg("--name")
        .arg(IMAGE)
        .stdin(Stdio::null());
    run(cmd, scratch, Duration::from_secs(120)).assert_ok();
}

// ---------------------------------------------------------------------------------------
// private environment + watchdog

/// Shell functions shared by the cleanup scripts. Expects DIR and CG to be set; the
/// engine part defines `engine_start` and `engine_stop`.
pub const COMMON_SH: &str = r#"
note() { echo "LEFTOVER: $*"; }
alive() { # pid exists and is not a zombie
  [ -r "/proc/$1/stat" ] || return 1
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null; }
is_ours() { # alive and its command line mentions our directory
  alive "$1" && cmdline "$1" | grep -qF -- "$DIR"
}
wait_gone() { # pid seconds
  i=0
  while alive "$1"; do
    i=$((i + 1)); [ "$i" -gt $(($2 * 10)) ] && return 1
    sleep 0.1
  done
  wait "$1" 2>/dev/null
  return 0
}
matching() { # pids (not ours) whose command line contains $1
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = "$$" ] && continue
    alive "$p" || continue
    case "$(cmdline "$p")" in *"$1"*) echo "$p" ;; esac
  done
}
reap_matching() { # pattern seconds: wait for such processes to end, then SIGKILL them
  i=0
  while [ -n "$(matching "$1")" ] && [ "$i" -lt $(($2 * 10)) ]; do sleep 0.1; i=$((i + 1)); done
  for p in $(matching "$1"); do
    note "process $p still running, killed: $(cmdline "$p")"
    on_kill "$p"
    kill -KILL "$p" 2>/dev/null
  done
}
on_kill() { :; }
cg_dirs() {
  for h in /sys/fs/cgroup /sys/fs/cgroup/*; do
    [ -f "$h/$CG/cgroup.procs" ] && echo "$h/$CG"
  done
}
cg_procs() {
  for d in $(cg_dirs); do find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null; done | sort -u
}
thaw() {
  for d in $(cg_dirs); do
    find "$d" -name freezer.state 2>/dev/null | while read -r f; do echo THAWED >"$f" 2>/dev/null; done
    find "$d" -name cgroup.freeze 2>/dev/null | while read -r f; do echo 0 >"$f" 2>/dev/null; done
  done
}
mounts() {
  awk -v d="$DIR" '{ m = $5; gsub(/\\040/, " ", m); if (m == d || index(m, d "/") == 1) print m }' /proc/self/mountinfo | sort -r
}
common_cleanup() {
  pids=$(cg_procs)
  if [ -n "$pids" ]; then
    note "processes left in cgroup $CG (killed): $(echo $pids)"
    i=0
    while [ -n "$pids" ] && [ "$i" -lt 50 ]; do
      thaw
      kill -KILL $pids 2>/dev/null
      sleep 0.1
      pids=$(cg_procs); i=$((i + 1))
    done
    [ -n "$pids" ] && note "unkillable processes in cgroup $CG: $(echo $pids)"
  fi
  m=$(mounts)
  if [ -n "$m" ]; then
    # docker's and podman's own mounts (netns files, storage) are expected to be gone
    # once the engine stopped; unmount whatever is left and report it.
    echo "$m" | while IFS= read -r x; do note "mount $x"; umount -l "$x" 2>/dev/null; done
  fi
  i=0
  while [ -n "$(cg_dirs)" ] && [ "$i" -lt 30 ]; do
    for d in $(cg_dirs); do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
    [ -n "$(cg_dirs)" ] && sleep 0.1
    i=$((i + 1))
  done
  for d in $(cg_dirs); do note "cgroup $d"; done
  if [ -z "$(mounts)" ]; then
    rm -rf --one-file-system "$DIR"
  fi
  [ -e "$DIR" ] && note "directory $DIR"
  echo "cleanup finished"
}
"#;

/// A private engine environment: `/tmp/berth-<kind>-<pid>-<n>` and cgroup parent
/// `/berth-<kind>-<pid>-<n>`, torn down by its watchdog.
pub struct Env {
    pub kind: String,
    pub dir: PathBuf,
    /// Cgroup parent name (a top-level cgroup in every hierarchy).
    pub cg: String,
    log: PathBuf,
    watchdog: Mutex<Option<(Child, OwnedFd)>>,
}

impl Env {
    /// Create the directory (after re-running the cleanup of stale environments of the
    /// same kind left by dead test processes).
    pub fn new(kind: &str) -> Env {
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "the {kind} tests must run as root"
        );
        sweep_stale(kind);
        let base = format!("berth-{kind}-{}-{}", std::process::id(), unique());
        let dir = PathBuf::from("/tmp").join(&base);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("out")).expect("create environment dir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
        Env {
            kind: kind.to_string(),
            log: PathBuf::from(format!("/tmp/{base}.cleanup.log")),
            dir,
            cg: base,
            watchdog: Mutex::new(None),
        }
    }

    /// Where command output files go.
    pub fn out_dir(&self) -> PathBuf {
        self.dir.join("out")
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.dir.join(p)
    }

    /// Write `<dir>/cleanup.sh` (variables, COMMON_SH, the engine part) and start it as
    /// the watchdog: `sh cleanup.sh watch` runs `engine_start`, then blocks reading its
    /// stdin until EOF and tears everything down.
    pub fn start_watchdog(&self, vars: &[(&str, String)], engine_sh: &str) {
        let mut s = String::from(
            "#!/bin/sh\n# Generated by berth-tests: tears down a private test environment.\n",
        );
        s.push_str(&format!(
            "DIR={}\nCG={}\nLOG={}\n",
            sh_quote(&self.dir.to_string_lossy()),
            sh_quote(&self.cg),
            sh_quote(&self.log.to_string_lossy())
        ));
        for (k, v) in vars {
            s.push_str(&format!("{k}={}\n", sh_quote(v)));
        }
        s.push_str(COMMON_SH);
        s.push_str(engine_sh);
        s.push_str(
            r#"
if [ "$1" = watch ]; then
  engine_start
  trap '' INT HUP TERM PIPE
  echo "watchdog ready"
  while read -r _; do :; done
fi
trap '' INT HUP TERM PIPE
engine_stop
common_cleanup
# Nobody will read the log if the test process died: keep it only if it reports a problem.
if [ "$1" = watch ] && ! alive "$PPID" && ! grep -q '^LEFTOVER:' "$LOG"; then
  rm -f "$LOG"
fi
"#,
        );
        let script = self.dir.join("cleanup.sh");
        fs::write(&script, s).expect("write cleanup.sh");
        let mut fds = [0; 2];
        let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
        assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let log = File::create(&self.log).expect("create cleanup log");
        let mut cmd = Command::new("/bin/sh");
        cmd.arg(&script)
            .arg("watch")
            .stdin(Stdio::from(rd))
            .stdout(log.try_clone().expect("dup"))
            .stderr(log);
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn watchdog");
        *self.watchdog.lock().unwrap() = Some((child, wr));
    }

    /// Is the watchdog (and so, for docker, the daemon's parent) still running?
    pub fn watchdog_alive(&self) -> bool {
        match self.watchdog.lock().unwrap().as_mut() {
            Some((c, _)) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The watchdog's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Tear down now (idempotent): close the pipe, wait for the script, return the
    /// `LEFTOVER:` lines it printed (things that had to be forced or could not be
    /// removed). The log file is removed unless something was left over.
    pub fn teardown(&self) -> Vec<String> {
        let Some((mut child, wr)) = self.watchdog.lock().unwrap().take() else {
            return Vec::new();
        };
        drop(wr);
        if wait_child(&mut child, Duration::from_secs(240)).is_none() {
            let _ = child.kill();
            let _ = child.wait();
            return vec![format!(
                "LEFTOVER: cleanup script timed out (log {})",
                self.log.display()
            )];
        }
        let log = self.log();
        let mut left: Vec<String> = log
            .lines()
            .filter(|l| l.starts_with("LEFTOVER:"))
            .map(str::to_string)
            .collect();
        if !log.contains("cleanup finished") {
            left.push(format!("LEFTOVER: cleanup did not finish:\n{log}"));
        }
        if left.is_empty() {
            let _ = fs::remove_file(&self.log);
        }
        left
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for l in self.teardown() {
            eprintln!("{} teardown: {l}", self.kind);
        }
    }
}

/// Re-run the cleanup script of every `/tmp/berth-<kind>-<pid>-<n>` whose test process is
/// gone (its watchdog should have done it; this covers a killed watchdog).
pub fn sweep_stale(kind: &str) {
    let prefix = format!("berth-{kind}-");
    for e in fs::read_dir("/tmp").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if pid == std::process::id() as i32 || !is_zombie(pid) {
            continue;
        }
        let path = e.path();
        if name.ends_with(".cleanup.log") {
            continue;
        }
        let script = path.join("cleanup.sh");
        if !script.is_file() {
            if mounts_under(&path).is_empty() {
                let _ = fs::remove_dir_all(&path);
            }
            continue;
        }
        // Only if no watchdog of that environment is still at work.
        if pids_with_cmdline(&script.to_string_lossy()).is_empty() {
            eprintln!("{kind}: cleaning up stale {}", path.display());
            let mut cmd = Command::new("/bin/sh");
            cmd.arg(&script).stdin(Stdio::null());
            let out = run(cmd, Path::new("/tmp"), Duration::from_secs(240));
            eprintln!("{}", out.stdout.trim());
            if out.stdout.contains("cleanup finished") && !out.stdout.contains("LEFTOVER:") {
                let _ = fs::remove_file(format!("{}.cleanup.log", path.display()));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// engines

/// Time limit for one engine CLI command.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(120);

/// A container engine (docker, podman) driving the runtime under test in a private
/// environment. What differs between engines is in the required items; the provided
/// methods are written once on top of them.
pub trait Engine: Sized {
    /// The engine's name, for messages ("docker", "podman").
    const NAME: &'static str;
    /// The engine's force remove, without the name (`rm -f -v`, `rm -f -t 0`).
    const RM_FORCE: &'static [&'static str];

    /// Set up a new private environment with the busybox image loaded.
    fn start() -> Self;
    fn env(&self) -> &Env;
    /// An engine CLI command for this environment (stdin /dev/null).
    fn command(&self, args: &[&str]) -> Command;
    /// `<engine> run` with the options that select the runtime under test (and, where
    /// the engine needs them, this environment's network/cgroup parent), then ARGS.
    fn run_with(&self, runtime: &str, args: &[&str]) -> Out;
    /// The runtime under test as `run_with` names it by default.
    fn default_runtime(&self) -> String;
    /// `<engine> create` like `run` (the container is created, not started).
    fn create(&self, args: &[&str]) -> Out;
    /// The runtime binary under test.
    fn runtime(&self) -> &Path;
    /// Where the runtime keeps the state of this engine's containers.
    fn runtime_root(&self) -> PathBuf;
    /// The `--root` the engine gives the runtime (None: the runtime's default).
    fn runtime_root_arg(&self) -> Option<PathBuf>;
    /// A container's state as the engine's usual view shows it (docker: inspect's
    /// State.Status; podman: the `ps -a` State).
    fn state(&self, name: &str) -> String;

    /// `<engine> ARGS...`
    fn cli(&self, args: &[&str]) -> Out {
        run(self.command(args), &self.env().out_dir(), CLI_TIMEOUT)
    }

    /// `<engine> ARGS...` with `input` on stdin.
    fn cli_stdin(&self, args: &[&str], input: &str) -> Out {
        let path = self.env().out_dir().join(format!("stdin-{}", unique()));
        fs::write(&path, input).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        let mut cmd = self.command(args);
        cmd.stdin(File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display())));
        let out = run(cmd, &self.env().out_dir(), CLI_TIMEOUT);
        let _ = fs::remove_file(&path);
        out
    }

    /// `run_with` the default runtime.
    fn run(&self, args: &[&str]) -> Out {
        self.run_with(&self.default_runtime(), args)
    }

    /// `<runtime> [--root ROOT] ARGS...` as the engine calls it.
    fn runtime_cmd(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(self.runtime());
        if let Some(root) = self.runtime_root_arg() {
            cmd.arg("--root").arg(root);
        }
        cmd.args(args).stdin(Stdio::null());
        run(cmd, &self.env().out_dir(), Duration::from_secs(20))
    }

    /// `<engine> inspect -f FORMAT NAME`, trimmed; panics on failure.
    #[track_caller]
    fn inspect(&self, name: &str, format: &str) -> String {
        let out = self.cli(&["inspect", "-f", format, name]);
        out.assert_ok();
        out.out().to_string()
    }

    /// The host pid of a running container's init.
    #[track_caller]
    fn pid(&self, name: &str) -> i32 {
        let pid = self.inspect(name, "{{.State.Pid}}");
        let pid: i32 = pid
            .parse()
            .unwrap_or_else(|e| panic!("{name}: pid {pid:?}: {e}"));
        assert!(pid > 0, "container {name} is not running");
        pid
    }

    /// A unique container name, force-removed when the guard drops.
    fn named(&self, prefix: &str) -> Ctr<'_, Self> {
        Ctr {
            engine: self,
            name: unique_name(prefix),
        }
    }

    /// `run -d --name NAME ARGS...`, removed when the guard drops.
    #[track_caller]
    fn start_detached(&self, prefix: &str, args: &[&str]) -> Ctr<'_, Self> {
        let c = self.named(prefix);
        let mut a = vec!["-d", "--name", c.as_str()];
        a.extend_from_slice(args);
        self.run(&a).assert_ok();
        c
    }

    /// Poll `inspect -f FORMAT` until it prints `want`.
    #[track_caller]
    fn wait_inspect(&self, name: &str, format: &str, want: &str, timeout: Duration) {
        let mut last = String::new();
        let ok = wait_for(timeout, || {
            last = self.cli(&["inspect", "-f", format, name]).out().to_string();
            (last == want).then_some(())
        });
        assert!(
            ok.is_some(),
            "{name}: {format} is {last:?}, expected {want:?} within {timeout:?}"
        );
    }

    /// Poll `inspect` until the container's State.Status is `want` (within 10 s).
    #[track_caller]
    fn wait_status(&self, name: &str, want: &str) {
        self.wait_inspect(name, "{{.State.Status}}", want, Duration::from_secs(10));
    }

    /// Wait until `<engine> logs` shows `needle` on stdout.
    #[track_caller]
    fn wait_logs(&self, name: &str, needle: &str) {
        let ok = wait_for(Duration::from_secs(10), || {
            self.cli(&["logs", name])
                .stdout
                .contains(needle)
                .then_some(())
        });
        assert!(ok.is_some(), "{name}: {needle:?} not in the logs");
    }
}

/// A container name; the container is force-removed (`E::RM_FORCE`) on drop.
pub struct Ctr<'a, E: Engine> {
    engine: &'a E,
    pub name: String,
}

impl<E: Engine> Ctr<'_, E> {
    pub fn as_str(&self) -> &str {
        &self.name
    }
}

impl<E: Engine> Drop for Ctr<'_, E> {
    fn drop(&mut self) {
        let mut a = E::RM_FORCE.to_vec();
        a.push(&self.name);
        let _ = self.engine.cli(&a);
    }
}

/// The environment shared by all tests of a process, in `cell`: started on first use;
/// `teardown` (which calls [`teardown_shared`] on the same cell) is registered with
/// atexit so it is torn down when the process exits.
#[track_caller]
pub fn shared<E: Engine>(
    cell: &'static OnceLock<Result<E, String>>,
    teardown: extern "C" fn(),
) -> &'static E {
    let r = cell.get_or_init(|| {
        // SAFETY: registers a plain function without arguments; it only reads `cell`.
        unsafe { libc::atexit(teardown) };
        std::panic::catch_unwind(E::start).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into())
        })
    });
    match r {
        Ok(e) => e,
        Err(e) => panic!(
            "the shared {} environment could not be set up: {e}",
            E::NAME
        ),
    }
}

/// Tear down the shared environment in `cell`, if it was set up (the atexit handler).
pub fn teardown_shared<E: Engine>(cell: &OnceLock<Result<E, String>>) {
    if let Some(Ok(e)) = cell.get() {
        for l in e.env().teardown() {
            eprintln!("{} teardown: {l}", E::NAME);
        }
    }
}
