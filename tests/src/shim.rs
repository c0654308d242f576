//! Driving the real `berth-shim` binary: its directory and shim.json, the report, the
//! control socket and the attach protocol (see docs/shim.md).

use crate::sys::{self, TempDir};
use crate::{json, Ctx, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The shim under test: `$BERTH_SHIM`, else berth-shim in [`crate::release_dir`].
pub fn shim_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_SHIM").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let p = crate::release_dir().join("berth-shim");
    assert!(
        p.is_file(),
        "{} not found: cargo build --release -p berth-shim",
        p.display()
    );
    p
}

/// Attach frame kinds and framing, shared with the shim.
pub use berth_shim_protocol::{
    decode_exit, decode_header, frame, resize_payload, EXIT, HEADER_LEN, HELLO, RESIZE, STDERR,
    STDIN, STDIN_EOF, STDOUT,
};

/// One shim's directory and the container it supervises.
pub struct Shim {
    pub dir: TempDir,
    pub id: String,
    /// The supervisor's pid (0 until launched successfully).
    pub pid: i32,
    /// The container init's pid from the report.
    pub init_pid: i32,
}

impl Shim {
    /// A shim.json for `ctx`'s bundle and runtime, with `extra` merged in at top level.
    pub fn new(ctx: &Ctx, suffix: &str, extra: Value) -> Shim {
        let id = ctx.id(suffix);
        let dir = TempDir::new("shim");
        let mut cfg = json!({
            "id": id,
            "bundle": ctx.bundle.path(),
            "runtime": ctx.rt.bin,
            "runtime_root": ctx.rt.root(),
            "terminal": false,
            "stdin": false,
            "log": {"path": dir.join("log.json"), "max_size": 0, "max_files": 1},
            "restart": {"policy": "no", "max_retries": 0},
            "healthcheck": null,
            "exit_hook": null,
            "start": true,
        });
        if let (Some(o), Some(e)) = (cfg.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                o.insert(k.clone(), v.clone());
            }
        }
        ctx.bundle.save();
        ctx.rt.track(&id);
        std::fs::write(dir.join("shim.json"), cfg.to_string()).unwrap();
        Shim {
            dir,
            id,
            pid: 0,
            init_pid: 0,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Run `berth-shim --dir DIR`: (exit code, report line as JSON).
    pub fn launch(&mut self, ctx: &Ctx) -> (i32, Value) {
        let out = Command::new(shim_bin())
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .expect("spawn berth-shim");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let v: Value = serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("shim report is not JSON ({e}): {text:?}"));
        if let Some(p) = v["shim_pid"].as_i64() {
            self.pid = p as i32;
        }
        if let Some(p) = v["pid"].as_i64() {
            self.init_pid = p as i32;
            ctx.rt.track_pid(self.init_pid);
        }
        (out.status.code().unwrap_or(-1), v)
    }

    /// Launch and expect success.
    #[track_caller]
    pub fn start(&mut self, ctx: &Ctx) -> Value {
        let (code, v) = self.launch(ctx);
        assert_eq!(code, 0, "shim failed: {v}\nshim.log: {}", self.shim_log());
        assert!(self.pid > 0 && self.init_pid > 0, "{v}");
        v
    }

    pub fn shim_log(&self) -> String {
        std::fs::read_to_string(self.path("shim.log")).unwrap_or_default()
    }

    /// One control request; the response line.
    pub fn ctl(&self, req: Value) -> Value {
        self.ctl_timeout(req, Duration::from_secs(30))
    }

    /// A `wait` that finds the shim already gone (it exits once the container did)
    /// falls back to status.json, as the manager does.
    pub fn ctl_timeout(&self, req: Value, t: Duration) -> Value {
        let r = (|| -> std::io::Result<String> {
            let mut s = UnixStream::connect(self.path("ctl.sock"))?;
            s.set_read_timeout(Some(t))?;
            writeln!(s, "{req}")?;
            let mut line = String::new();
            BufReader::new(s).read_line(&mut line)?;
            if line.is_empty() {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            Ok(line)
        })();
        match r {
            Ok(line) => serde_json::from_str(line.trim())
                .unwrap_or_else(|e| panic!("ctl response {line:?} for {req}: {e}")),
            Err(e) if req["op"] == "wait" && self.status()["status"] == "exited" => {
                let _ = e;
                self.status()
            }
            Err(e) => panic!("ctl {req}: {e}\nshim.log: {}", self.shim_log()),
        }
    }

    pub fn status(&self) -> Value {
        let t = std::fs::read_to_string(self.path("status.json")).unwrap_or_default();
        serde_json::from_str(&t).unwrap_or(Value::Null)
    }

    /// Poll status.json until `f` holds.
    #[track_caller]
    pub fn wait_status(&self, timeout: Duration, f: impl Fn(&Value) -> bool) -> Value {
        let got = sys::wait_for(timeout, || {
            let s = self.status();
            f(&s).then_some(s)
        });
        got.unwrap_or_else(|| {
            panic!(
                "status condition not met in {timeout:?}: {}\nshim.log: {}",
                self.status(),
                self.shim_log()
            )
        })
    }

    /// Records of a log file (`log.json`, `log.json.1`, ...).
    pub fn log_records(&self, name: &str) -> Vec<Value> {
        let t = std::fs::read_to_string(self.path(name)).unwrap_or_default();
        t.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad log line {l:?}: {e}")))
            .collect()
    }

    /// The `log` fields of a stream concatenated.
    pub fn log_text(&self, stream: &str) -> String {
        self.log_records("log.json")
            .iter()
            .filter(|r| r["stream"] == stream)
            .map(|r| r["log"].as_str().unwrap().to_string())
            .collect()
    }

    /// Wait until the shim process is gone (reaping it: it is reparented to the test
    /// process, a subreaper) and assert it is.
    #[track_caller]
    pub fn assert_gone(&self) {
        if self.pid > 0 {
            assert!(
                sys::wait_pid_gone(self.pid, Duration::from_secs(10)),
                "shim {} still running; shim.log: {}",
                self.pid,
                self.shim_log()
            );
        }
        assert!(
            !self.path("ctl.sock").exists(),
            "ctl.sock left behind after the shim exited"
        );
    }

    pub fn attach(&self, sock: &str, hello: Value) -> Attach {
        let s = UnixStream::connect(self.path(sock))
            .unwrap_or_else(|e| panic!("connect {sock}: {e}\nshim.log: {}", self.shim_log()));
        let mut a = Attach { s };
        a.send(HELLO, hello.to_string().as_bytes());
        a
    }
}

/// A client of an attach socket.
pub struct Attach {
    pub s: UnixStream,
}

impl Attach {
    pub fn send(&mut self, kind: u8, payload: &[u8]) {
        let mut f = Vec::with_capacity(HEADER_LEN + payload.len());
        frame(&mut f, kind, payload);
        self.s.write_all(&f).unwrap();
    }

    pub fn resize(&mut self, rows: u16, cols: u16) {
        self.send(RESIZE, &resize_payload(rows, cols));
    }

    /// The next frame, or None at EOF / timeout.
    pub fn frame(&mut self, timeout: Duration) -> Option<(u8, Vec<u8>)> {
        self.s.set_read_timeout(Some(timeout)).unwrap();
        let mut h = [0u8; HEADER_LEN];
        self.s.read_exact(&mut h).ok()?;
        let (kind, len) = decode_header(&h)?;
        let mut p = vec![0u8; len];
        self.s.read_exact(&mut p).ok()?;
        Some((kind, p))
    }

    /// Read frames until the collected stdout+stderr contains `needle`; returns it.
    #[track_caller]
    pub fn read_until(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut got = String::new();
        while !got.contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "did not see {needle:?}; got {got:?}");
            match self.frame(left) {
                Some((STDOUT | STDERR, p)) => got.push_str(&String::from_utf8_lossy(&p)),
                Some((EXIT, p)) => panic!("exit {p:?} before {needle:?}; got {got:?}"),
                Some(_) => {}
                None => panic!("EOF before {needle:?}; got {got:?}"),
            }
        }
        got
    }

    /// Read until the exit frame: (output, exit code); None if EOF came first.
    pub fn read_to_exit(&mut self, timeout: Duration) -> (String, Option<i32>) {
        let deadline = Instant::now() + timeout;
        let mut got = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (got, None);
            }
            match self.frame(left) {
                Some((STDOUT | STDERR, p)) => got.push_str(&String::from_utf8_lossy(&p)),
                Some((EXIT, p)) => return (got, decode_exit(&p)),
                Some(_) => {}
                None => return (got, None),
            }
        }
    }

    /// True if the shim closed the connection (EOF) within `timeout`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.s.set_read_timeout(Some(left)).unwrap();
            let mut b = [0u8; 4096];
            match self.s.read(&mut b) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
    }
}

/// Is there any live process running the shim binary with this dir?
pub fn shim_processes(dir: &Path) -> Vec<i32> {
    let needle = dir.to_string_lossy().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd);
            if cmd.contains("berth-shim") && cmd.contains(&needle) {
                if let Some((state, _)) = sys::proc_stat(pid) {
                    if state != 'Z' {
                        out.push(pid);
                    }
                }
            }
        }
    }
    out
}
