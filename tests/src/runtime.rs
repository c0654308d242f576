//! Running the runtime binary under test: per-test `--root`, timeouts, captured output.

use crate::bundle::Bundle;
use crate::sys::{self, TempDir};
use serde_json::Value;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default time limit for one runtime command; a hang fails the test instead of CI.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// The result of one runtime command.
#[derive(Clone)]
pub struct Output {
    pub cmd: String,
    /// Exit code (None if killed by a signal).
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "command: {}\nexit code: {:?} signal: {:?} ({:.2?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd, self.code, self.signal, self.elapsed, self.stdout, self.stderr
        )
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Output {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.ok(), "expected success\n{self}");
        self
    }

    /// Failure with exit code 1 (the runc convention).
    #[track_caller]
    pub fn assert_fail(&self) -> &Self {
        assert_eq!(
            self.code,
            Some(1),
            "expected failure with exit code 1\n{self}"
        );
        self
    }

    /// Failure with exit code 1 and `needle` in stderr (case-insensitive).
    #[track_caller]
    pub fn assert_fail_with(&self, needle: &str) -> &Self {
        self.assert_fail();
        assert!(
            self.stderr.to_lowercase().contains(&needle.to_lowercase()),
            "expected stderr to contain {needle:?}\n{self}"
        );
        self
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit code\n{self}");
        self
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{self}"))
    }

    /// The first line of stdout that parses as a JSON object or array.
    #[track_caller]
    pub fn json_line(&self) -> Value {
        find_json_line(&self.stdout).unwrap_or_else(|| panic!("no JSON line in stdout\n{self}"))
    }
}

/// Every line of `text` that parses as JSON.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l.trim()).ok())
        .collect()
}

pub fn find_json_line(text: &str) -> Option<Value> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with('{') || l.starts_with('['))
        .find_map(|l| serde_json::from_str(l).ok())
}

/// Where a command's stdin/stdout/stderr goes.
pub enum Io {
    Null,
    /// Captured through a temp file (never a pipe: a container init inherits the
    /// runtime's stdio, so a pipe would not see EOF until the container exits).
    Capture,
    File(PathBuf),
    Fd(OwnedFd),
    Inherit,
}

/// A runtime invocation being built.
pub struct Cmd<'a> {
    rt: &'a Runtime,
    args: Vec<OsString>,
    with_root: bool,
    stdin: Io,
    stdout: Io,
    stderr: Io,
    timeout: Duration,
    cwd: Option<PathBuf>,
    extra_fds: Vec<OwnedFd>,
    env: Vec<(OsString, OsString)>,
    reap: bool,
}

impl<'a> Cmd<'a> {
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Do not prepend `--root <dir>`.
    pub fn no_root(mut self) -> Self {
        self.with_root = false;
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    pub fn cwd(mut self, p: impl AsRef<Path>) -> Self {
        self.cwd = Some(p.as_ref().to_owned());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn stdin(mut self, io: Io) -> Self {
        self.stdin = io;
        self
    }

    pub fn stdout(mut self, io: Io) -> Self {
        self.stdout = io;
        self
    }

    pub fn stderr(mut self, io: Io) -> Self {
        self.stderr = io;
        self
    }

    /// Reap the runtime's tracked pids that become zombie children of the test process
    /// while the command runs (e.g. `delete --force` waits for a pid namespace's init,
    /// which cannot finish exiting while an exec'd process of that namespace, reparented
    /// to us, is an unreaped zombie).
    pub fn reaping(mut self) -> Self {
        self.reap = true;
        self
    }

    /// Pass these fds as 3, 4, ... (for --preserve-fds and leak tests).
    pub fn extra_fds(mut self, fds: Vec<OwnedFd>) -> Self {
        self.extra_fds = fds;
        self
    }

    /// Run to completion (killing the process group after the timeout, which panics).
    #[track_caller]
    pub fn run(self) -> Output {
        match self.execute() {
            Ok(o) => o,
            Err(e) => panic!("{e}"),
        }
    }

    /// Run without capturing output and without panicking (for cleanup code that may
    /// run while a test is already panicking): None on spawn failure or timeout.
    pub fn run_quiet(mut self) -> Option<Output> {
        self.stdout = Io::Null;
        self.stderr = Io::Null;
        self.execute().ok()
    }

    /// Run with captured output, without panicking: None on spawn failure or timeout.
    pub fn try_run(self) -> Option<Output> {
        self.execute().ok()
    }

    fn execute(self) -> Result<Output, String> {
        let rt = self.rt;
        let reap = self.reap;
        let n = sys::unique();
        let out_path = rt.io_dir.join(format!("{n}.stdout"));
        let err_path = rt.io_dir.join(format!("{n}.stderr"));
        let mut cmd = Command::new(&rt.bin);
        let mut all_args: Vec<OsString> = Vec::new();
        if self.with_root {
            all_args.push("--root".into());
            all_args.push(rt.root.path().into());
        }
        all_args.extend(self.args);
        cmd.args(&all_args);
        let desc = format!(
            "{} {}",
            rt.bin.display(),
            all_args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );
        if let Some(c) = &self.cwd {
            cmd.current_dir(c);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut stdout_file = None;
        let mut stderr_file = None;
        cmd.stdin(to_stdio(
            self.stdin,
            &rt.io_dir.join(format!("{n}.stdin")),
            &mut None,
        ));
        cmd.stdout(to_stdio(self.stdout, &out_path, &mut stdout_file));
        cmd.stderr(to_stdio(self.stderr, &err_path, &mut stderr_file));
        let fds: Vec<i32> = self.extra_fds.iter().map(|f| f.as_raw_fd()).collect();
        unsafe {
            cmd.pre_exec(move || {
                // After fork in a multi-threaded process: no allocation here.
                // Move the extra fds out of the way first, then into 3, 4, ...
                let base = 1000 + fds.len() as i32;
                for (i, fd) in fds.iter().enumerate() {
                    if libc::dup2(*fd, base + i as i32) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                for i in 0..fds.len() as i32 {
                    if libc::dup2(base + i, 3 + i) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::close(base + i);
                }
                Ok(())
            });
        }
        cmd.process_group(0);
        let start = Instant::now();
        let mut child = cmd.spawn().map_err(|e| format!("spawning {desc}: {e}"))?;
        drop(self.extra_fds);
        let deadline = start + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) => {}
                Err(e) => return Err(format!("waiting for {desc}: {e}")),
            }
            if Instant::now() >= deadline {
                let pid = child.id() as i32;
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                    libc::kill(pid, libc::SIGKILL);
                }
                let _ = child.wait();
                let o = Output {
                    cmd: desc,
                    code: None,
                    signal: Some(9),
                    stdout: read_lossy(&out_path),
                    stderr: read_lossy(&err_path),
                    elapsed: start.elapsed(),
                };
                return Err(format!("TIMEOUT after {:?}, killed\n{o}", self.timeout));
            }
            if reap {
                rt.reap();
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let elapsed = start.elapsed();
        Ok(Output {
            cmd: desc,
            code: status.code(),
            signal: status.signal(),
            stdout: if stdout_file.is_some() {
                read_lossy(&out_path)
            } else {
                String::new()
            },
            stderr: if stderr_file.is_some() {
                read_lossy(&err_path)
            } else {
                String::new()
            },
            elapsed,
        })
    }
}

fn read_lossy(p: &Path) -> String {
    std::fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn to_stdio(io: Io, capture_path: &Path, captured: &mut Option<PathBuf>) -> Stdio {
    match io {
        Io::Null => Stdio::null(),
        Io::Inherit => Stdio::inherit(),
        Io::Capture => {
            let f = File::create(capture_path).expect("create capture file");
            *captured = Some(capture_path.to_owned());
            Stdio::from(f)
        }
        Io::File(p) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .unwrap_or_else(|e| panic!("open {}: {e}", p.display()));
            Stdio::from(f)
        }
        Io::Fd(fd) => Stdio::from(fd),
    }
}

/// The runtime under test with its own `--root` directory. Dropping it force-deletes
/// every container it created and kills/reaps their inits.
pub struct Runtime {
    pub bin: PathBuf,
    root: TempDir,
    io_dir: TempDir,
    ids: Mutex<Vec<String>>,
    /// (pid, seen gone)
    pids: Mutex<Vec<(i32, bool)>>,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime {
    /// The runtime from `BERTH_RUNTIME` (default: target/release/berth-runtime).
    pub fn new() -> Runtime {
        Self::with_bin(crate::runtime_bin())
    }

    pub fn with_bin(bin: PathBuf) -> Runtime {
        crate::init();
        let root = TempDir::new("root");
        // runc wants to create its root itself in some versions; an empty 0700 dir is fine.
        sys::set_mode(root.path(), 0o700);
        Runtime {
            bin,
            root,
            io_dir: TempDir::new("io"),
            ids: Mutex::new(Vec::new()),
            pids: Mutex::new(Vec::new()),
        }
    }

    /// The `--root` directory.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A scratch directory for this test (not the root, not the bundle).
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.io_dir.join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// A new command with `--root` and captured stdout/stderr.
    pub fn cmd(&self) -> Cmd<'_> {
        Cmd {
            rt: self,
            args: Vec::new(),
            with_root: true,
            stdin: Io::Null,
            stdout: Io::Capture,
            stderr: Io::Capture,
            timeout: DEFAULT_TIMEOUT,
            cwd: None,
            extra_fds: Vec::new(),
            env: Vec::new(),
            reap: false,
        }
    }

    /// Run with the given args (after `--root X`).
    #[track_caller]
    pub fn exec(&self, args: &[&str]) -> Output {
        self.cmd().args(args).run()
    }

    /// Remember an id (and later its pid) for cleanup and leak checks.
    pub fn track(&self, id: &str) {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }

    /// Every container id used with this runtime so far.
    pub fn tracked_ids(&self) -> Vec<String> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn track_pid(&self, pid: i32) {
        let mut pids = self.pids.lock().unwrap_or_else(|e| e.into_inner());
        if pid > 0 && !pids.iter().any(|(p, _)| *p == pid) {
            pids.push((pid, false));
        }
    }

    /// Container init pids seen so far that have not been observed gone.
    pub fn tracked_pids(&self) -> Vec<i32> {
        self.reap();
        self.pids
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, gone)| !gone)
            .map(|(p, _)| *p)
            .collect()
    }

    /// Reap tracked container inits that became zombie children of the test process
    /// (they were reparented to us, the subreaper) and mark the ones that are gone.
    /// A stopped init must be reaped: e.g. a pid namespace's init cannot finish exiting
    /// while a zombie of another container that joined its namespace is unreaped.
    /// Pids are touched only until first seen gone, so a reused pid is never reaped.
    pub fn reap(&self) {
        let mut pids = self.pids.lock().unwrap_or_else(|e| e.into_inner());
        for (pid, gone) in pids.iter_mut().filter(|(_, g)| !*g) {
            sys::reap_if_zombie_child(*pid);
            if !sys::pid_exists(*pid) {
                *gone = true;
            }
        }
    }

    /// The file that receives the stdout of `create`/`run -d` for `id` (and so the
    /// container's stdout, which it inherits).
    pub fn stdout_path(&self, id: &str) -> PathBuf {
        self.io_dir
            .join(format!("container-{}.stdout", id.replace('/', "_")))
    }

    pub fn stderr_path(&self, id: &str) -> PathBuf {
        self.io_dir
            .join(format!("container-{}.stderr", id.replace('/', "_")))
    }

    /// What the container (and the command that created it) wrote to stdout so far.
    pub fn container_stdout(&self, id: &str) -> String {
        read_lossy(&self.stdout_path(id))
    }

    pub fn container_stderr(&self, id: &str) -> String {
        read_lossy(&self.stderr_path(id))
    }

    fn save_config(bundle: &Bundle) {
        if bundle.autosave {
            bundle.save();
        }
    }

    /// A command whose stdout/stderr go to the per-container files (read back into
    /// the Output after it exits).
    fn container_cmd(&self, id: &str) -> Cmd<'_> {
        self.cmd()
            .stdout(Io::File(self.stdout_path(id)))
            .stderr(Io::File(self.stderr_path(id)))
    }

    fn finish_container_cmd(&self, id: &str, mut o: Output, before: (usize, usize)) -> Output {
        let out = read_lossy(&self.stdout_path(id));
        let err = read_lossy(&self.stderr_path(id));
        o.stdout = out.get(before.0..).unwrap_or("").to_string();
        o.stderr = err.get(before.1..).unwrap_or("").to_string();
        o
    }

    fn io_sizes(&self, id: &str) -> (usize, usize) {
        let len = |p: PathBuf| std::fs::metadata(p).map(|m| m.len() as usize).unwrap_or(0);
        (len(self.stdout_path(id)), len(self.stderr_path(id)))
    }

    /// `create --bundle B [extra...] ID`. The container inherits stdio: stdin /dev/null,
    /// stdout/stderr the files behind [`Runtime::container_stdout`].
    #[track_caller]
    pub fn create(&self, id: &str, bundle: &Bundle) -> Output {
        self.create_with(id, bundle, &[])
    }

    #[track_caller]
    pub fn create_with(&self, id: &str, bundle: &Bundle, extra: &[&str]) -> Output {
        Self::save_config(bundle);
        self.track(id);
        let before = self.io_sizes(id);
        let o = self
            .container_cmd(id)
            .arg("create")
            .arg("--bundle")
            .arg(bundle.path())
            .args(extra)
            .arg(id)
            .run();
        let o = self.finish_container_cmd(id, o, before);
        if o.ok() {
            self.remember_pid(id);
        }
        o
    }

    fn remember_pid(&self, id: &str) {
        let s = self.exec(&["state", id]);
        if s.ok() {
            if let Ok(v) = serde_json::from_str::<Value>(s.stdout.trim()) {
                if let Some(pid) = v["pid"].as_i64() {
                    self.track_pid(pid as i32);
                }
            }
        }
    }

    #[track_caller]
    pub fn start(&self, id: &str) -> Output {
        self.exec(&["start", id])
    }

    #[track_caller]
    pub fn state(&self, id: &str) -> Output {
        self.exec(&["state", id])
    }

    /// `state ID` parsed; panics if it fails.
    #[track_caller]
    pub fn state_json(&self, id: &str) -> Value {
        self.state(id).assert_ok().json()
    }

    /// The init's pid from `state ID`; panics if it fails.
    #[track_caller]
    pub fn pid_of(&self, id: &str) -> i32 {
        self.state_json(id)["pid"].as_i64().expect("pid in state") as i32
    }

    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state_json(id)["status"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    #[track_caller]
    pub fn kill(&self, id: &str, sig: &str) -> Output {
        self.exec(&["kill", id, sig])
    }

    #[track_caller]
    pub fn delete(&self, id: &str) -> Output {
        self.reap();
        self.cmd().args(["delete", id]).reaping().run()
    }

    #[track_caller]
    pub fn delete_force(&self, id: &str) -> Output {
        self.reap();
        self.cmd().args(["delete", "--force", id]).reaping().run()
    }

    /// Foreground `run --bundle B [extra...] ID`; the Output's stdout includes the
    /// container's stdout.
    #[track_caller]
    pub fn run(&self, id: &str, bundle: &Bundle) -> Output {
        self.run_with(id, bundle, &[])
    }

    #[track_caller]
    pub fn run_with(&self, id: &str, bundle: &Bundle, extra: &[&str]) -> Output {
        Self::save_config(bundle);
        self.track(id);
        let before = self.io_sizes(id);
        let detach = extra.iter().any(|a| *a == "-d" || *a == "--detach");
        let o = self
            .container_cmd(id)
            .arg("run")
            .arg("--bundle")
            .arg(bundle.path())
            .args(extra)
            .arg(id)
            .run();
        let o = self.finish_container_cmd(id, o, before);
        if o.ok() && detach {
            self.remember_pid(id);
        }
        o
    }

    /// `run --detach`; asserts success.
    #[track_caller]
    pub fn run_detached(&self, id: &str, bundle: &Bundle) -> Output {
        let o = self.run_with(id, bundle, &["--detach"]);
        o.assert_ok();
        o
    }

    /// Run `/checker report` in the foreground and return its JSON.
    #[track_caller]
    pub fn run_checker_report(&self, bundle: &mut Bundle) -> Value {
        bundle.checker(&["report"]);
        let id = format!("report-{}-{}", std::process::id(), sys::unique());
        let o = self.run(&id, bundle);
        o.assert_ok();
        o.json_line()
    }

    /// Run the checker with `args` in the foreground, assert success, return stdout's
    /// first JSON line.
    #[track_caller]
    pub fn run_checker_json(&self, bundle: &mut Bundle, args: &[&str]) -> Value {
        bundle.checker(args);
        let id = format!("chk-{}-{}", std::process::id(), sys::unique());
        let o = self.run(&id, bundle);
        o.assert_ok();
        o.json_line()
    }

    /// Run `/bin/sh -c script` (busybox) in the foreground; assert success and return
    /// every stdout line that parses as JSON (e.g. one per checker invocation).
    #[track_caller]
    pub fn run_script_json(&self, bundle: &mut Bundle, script: &str) -> Vec<Value> {
        bundle.args(&["/bin/sh", "-c", script]);
        let id = format!("sh-{}-{}", std::process::id(), sys::unique());
        let o = self.run(&id, bundle);
        o.assert_ok();
        json_lines(&o.stdout)
    }

    /// Poll `state` until the status is `want` (panics after the timeout).
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) -> Value {
        let mut last = Value::Null;
        let got = sys::wait_for(timeout, || {
            self.reap();
            let s = self.exec(&["state", id]);
            if s.ok() {
                last = serde_json::from_str(s.stdout.trim()).unwrap_or(Value::Null);
                if last["status"] == want {
                    self.reap();
                    return Some(last.clone());
                }
            }
            None
        });
        got.unwrap_or_else(|| {
            panic!("container {id} did not reach status {want}; last state: {last}")
        })
    }

    /// Names in the root directory (a container leaves a directory named after its id).
    pub fn root_entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.root())
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Force-delete all tracked containers and make sure their inits are gone.
    pub fn cleanup(&self) {
        self.reap();
        let ids = self.ids.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for id in ids {
            let _ = self
                .cmd()
                .args(["delete", "--force", &id])
                .timeout(Duration::from_secs(10))
                .reaping()
                .run_quiet();
            self.reap();
        }
        let me = std::process::id() as i32;
        for pid in self.tracked_pids() {
            if let Some((state, ppid)) = sys::proc_stat(pid) {
                if state != 'Z' && ppid == me {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            sys::wait_pid_gone(pid, Duration::from_secs(2));
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Assert that nothing is left behind: no container directory under the root, no mount
/// below the bundle, no tracked container pid alive (zombie children are reaped first),
/// no process carrying the bundle's marker env var, and no cgroup directory named after
/// a container id used with this runtime in any cgroup hierarchy.
#[track_caller]
pub fn assert_no_leaks(rt: &Runtime, bundle: &Bundle) {
    let dirs: Vec<String> = rt
        .root_entries()
        .into_iter()
        // `@...` entries are the runtime's caches (never a container id).
        .filter(|n| !n.starts_with('@') && rt.root().join(n).is_dir())
        .collect();
    assert!(
        dirs.is_empty(),
        "container dirs left under --root {}: {dirs:?}",
        rt.root().display()
    );
    let mounts = sys::mounts_under(bundle.path());
    assert!(
        mounts.is_empty(),
        "mounts left under the bundle {}: {:#?}",
        bundle.path().display(),
        mounts
    );
    for pid in rt.tracked_pids() {
        assert!(
            sys::wait_pid_gone(pid, Duration::from_secs(5)),
            "container process {pid} still exists: {:?}",
            sys::proc_stat(pid)
        );
    }
    let leaked = sys::wait_for(Duration::from_secs(5), || {
        let l = bundle.leaked_pids();
        l.is_empty().then_some(())
    });
    assert!(
        leaked.is_some(),
        "processes of this bundle still running: {:?}",
        bundle.leaked_pids()
    );
    let cgroups = crate::cgroup::leftover_dirs(&rt.tracked_ids(), Duration::from_secs(10));
    assert!(
        cgroups.is_empty(),
        "cgroup directories left behind: {cgroups:#?}"
    );
}
