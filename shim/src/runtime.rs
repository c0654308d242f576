//! Typed invocations of the OCI runtime CLI (berth-runtime, or any runc-compatible one).

use crate::sys;
use berth_shim_protocol::StartErrorKind;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;

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

    /// The global flags and `verb`: the start of every invocation's arguments.
    fn args(&self, verb: &str) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec!["--root".into(), self.root.clone().into()];
        a.extend(["--log".into(), self.log.clone().into()]);
        a.extend(["--log-format".into(), "json".into(), verb.into()]);
        a
    }

    /// Run to completion with `io` as the command's stdio (None: /dev/null, and stderr
    /// a fresh pipe); `err_read` is the read end of `io`'s stderr (drained for the
    /// fallback message). Started with posix_spawn (`sys::spawn`), not Command: no
    /// fork of the shim on the path of create and start.
    fn run(
        &self,
        args: Vec<OsString>,
        io: Option<Stdio3>,
        err_read: Option<&OwnedFd>,
    ) -> Result<(), RuntimeError> {
        let log_len = std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        let (io, own_pipe) = match io {
            Some(io) => (io, None),
            None => {
                let (r, w) = sys::pipe().map_err(|source| self.spawn_err(source))?;
                let null = |flags| sys::open_devnull(flags).map_err(|s| self.spawn_err(s));
                let io = Stdio3 {
                    stdin: null(libc::O_RDONLY)?,
                    stdout: null(libc::O_WRONLY)?,
                    stderr: w,
                };
                (io, Some(r))
            }
        };
        let argv: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
        let stdio = [
            io.stdin.as_raw_fd(),
            io.stdout.as_raw_fd(),
            io.stderr.as_raw_fd(),
        ];
        let pid = sys::spawn(&self.bin, &argv, stdio).map_err(|source| self.spawn_err(source))?;
        // Our copies of the child's ends: a reader of the stderr pipe sees EOF once the
        // child (and what it started) closed theirs.
        drop(io);
        let code = sys::wait_child(pid).map_err(|source| self.spawn_err(source))?;
        if code == 0 {
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
                let msg = format!("{} failed: exit status {code}", self.bin.display());
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
        let mut a = self.args("create");
        a.extend(["--bundle".into(), bundle.into()]);
        a.extend(["--pid-file".into(), pid_file.into()]);
        if let Some(s) = console {
            a.extend(["--console-socket".into(), s.into()]);
        }
        a.push(self.id.clone().into());
        self.run(a, Some(io), Some(err_read))
    }

    pub fn start(&self) -> Result<(), RuntimeError> {
        let mut a = self.args("start");
        a.push(self.id.clone().into());
        self.run(a, None, None)
    }

    pub fn kill(&self, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let mut a = self.args("kill");
        if all {
            a.push("--all".into());
        }
        a.extend([self.id.clone().into(), signal.to_string().into()]);
        self.run(a, None, None)
    }

    pub fn delete(&self, force: bool) -> Result<(), RuntimeError> {
        let mut a = self.args("delete");
        if force {
            a.push("--force".into());
        }
        a.push(self.id.clone().into());
        self.run(a, None, None)
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
        let mut a = self.args("exec");
        a.extend(["--detach".into(), "--pid-file".into(), pid_file.into()]);
        a.extend(["--process".into(), process.into()]);
        if let Some(s) = console {
            a.extend(["--console-socket".into(), s.into()]);
        }
        a.push(self.id.clone().into());
        self.run(a, Some(io), Some(err_read))
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
