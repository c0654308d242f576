//! Typed invocations of the OCI runtime CLI (berth-runtime, or any runc-compatible one).

use crate::sys;
use berth_shim_protocol::StartErrorKind;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("running {bin}: {source}")]
    Spawn {
        bin: PathBuf,
        source: std::io::Error,
    },
    /// The runtime's own error message (from its JSON log, else its stderr) and,
    /// from the JSON log's `kind`, why a process could not be started (None when the
    /// runtime logs no kind, as runc).
    #[error("{msg}")]
    Failed {
        msg: String,
        kind: Option<StartErrorKind>,
    },
}

/// The container's stdio for `create`/`exec`.
pub struct Stdio3 {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

pub struct Runtime {
    bin: PathBuf,
    root: PathBuf,
    id: String,
    /// `--log FILE --log-format json`: error messages are read back from here.
    log: PathBuf,
}

impl Runtime {
    pub fn new(bin: &Path, root: &Path, id: &str, log: PathBuf) -> Runtime {
        Runtime {
            bin: bin.to_owned(),
            root: root.to_owned(),
            id: id.to_owned(),
            log,
        }
    }

    fn command(&self, verb: &str) -> Command {
        let mut c = Command::new(&self.bin);
        unblock_signals_in_child(&mut c);
        c.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .arg("--log-format")
            .arg("json")
            .arg(verb);
        c
    }

    /// Run to completion. `err_read` is the read end of the command's stderr (drained
    /// for the fallback message); with None, stderr is captured through a fresh pipe.
    fn run(&self, mut cmd: Command, err_read: Option<&OwnedFd>) -> Result<(), RuntimeError> {
        let log_len = std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        let own_pipe = if err_read.is_none() {
            let (r, w) = sys::pipe().map_err(|source| self.spawn_err(source))?;
            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(w);
            Some(r)
        } else {
            None
        };
        let status = cmd.status().map_err(|source| self.spawn_err(source))?;
        if status.success() {
            return Ok(());
        }
        let mut stderr = Vec::new();
        if let Some(r) = err_read.or(own_pipe.as_ref()) {
            sys::set_nonblock(r.as_raw_fd());
            let mut buf = [0u8; 4096];
            while let Ok(n) = sys::read(r.as_raw_fd(), &mut buf) {
                if n == 0 || stderr.len() > 64 << 10 {
                    break;
                }
                stderr.extend_from_slice(&buf[..n]);
            }
        }
        let (msg, kind) = self
            .log_error_since(log_len)
            .or_else(|| {
                let s = String::from_utf8_lossy(&stderr).trim().to_string();
                (!s.is_empty()).then_some((s, None))
            })
            .unwrap_or_else(|| {
                let msg = format!("{} failed: {status}", self.bin.display());
                (msg, None)
            });
        Err(RuntimeError::Failed { msg, kind })
    }

    fn spawn_err(&self, source: std::io::Error) -> RuntimeError {
        RuntimeError::Spawn {
            bin: self.bin.clone(),
            source,
        }
    }

    /// "msg" and "kind" of the last error-level line the runtime logged after offset
    /// `from` (kind None from a runtime that logs none, like runc).
    fn log_error_since(&self, from: u64) -> Option<(String, Option<StartErrorKind>)> {
        let text = std::fs::read(&self.log).ok()?;
        let text = text.get(from as usize..)?;
        text.split(|&b| b == b'\n')
            .rev()
            .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
            .filter(|v| v["level"] == "error" || v["level"] == "fatal")
            .find_map(|v| {
                let msg = v["msg"].as_str()?.to_string();
                let kind = v["kind"].as_str().map(StartErrorKind::from_name);
                Some((msg, kind))
            })
    }

    /// `create --bundle B --pid-file F [--console-socket S] ID` with the given stdio.
    pub fn create(
        &self,
        bundle: &Path,
        pid_file: &Path,
        console: Option<&Path>,
        io: Stdio3,
        err_read: &OwnedFd,
    ) -> Result<(), RuntimeError> {
        let mut c = self.command("create");
        c.arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(pid_file);
        if let Some(s) = console {
            c.arg("--console-socket").arg(s);
        }
        c.arg(&self.id);
        c.stdin(io.stdin).stdout(io.stdout).stderr(io.stderr);
        self.run(c, Some(err_read))
    }

    pub fn start(&self) -> Result<(), RuntimeError> {
        let mut c = self.command("start");
        c.arg(&self.id);
        self.run(c, None)
    }

    pub fn kill(&self, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let mut c = self.command("kill");
        if all {
            c.arg("--all");
        }
        c.arg(&self.id).arg(signal.to_string());
        self.run(c, None)
    }

    pub fn delete(&self, force: bool) -> Result<(), RuntimeError> {
        let mut c = self.command("delete");
        if force {
            c.arg("--force");
        }
        c.arg(&self.id);
        self.run(c, None)
    }

    /// `exec --detach --pid-file F --process P [--console-socket S] ID`.
    pub fn exec(
        &self,
        process: &Path,
        pid_file: &Path,
        console: Option<&Path>,
        io: Stdio3,
        err_read: &OwnedFd,
    ) -> Result<(), RuntimeError> {
        let mut c = self.command("exec");
        c.arg("--detach")
            .arg("--pid-file")
            .arg(pid_file)
            .arg("--process")
            .arg(process);
        if let Some(s) = console {
            c.arg("--console-socket").arg(s);
        }
        c.arg(&self.id);
        c.stdin(io.stdin).stdout(io.stdout).stderr(io.stderr);
        self.run(c, Some(err_read))
    }
}

/// The shim blocks SIGCHLD/SIGTERM/... for its signalfd; children (and so the
/// container, which inherits the runtime's mask) must start with nothing blocked.
pub fn unblock_signals_in_child(c: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
}

/// Read a pid file written by the runtime.
pub fn read_pid_file(p: &Path) -> Option<i32> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}
