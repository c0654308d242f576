//! Where a process's stdio goes under containerd: the FIFOs containerd (or ctr) made,
//! a `file://` log, or a `binary://` logging program (containerd's shim logging
//! protocol: the program gets the stdout and stderr readers as fds 3 and 4 and closes
//! or writes fd 5 when it is ready).
//!
//! The shim copies between the supervisor's pipes and these ends in its one event
//! loop, so the ends are opened non-blocking: a reader that stops reading costs the
//! data it does not read (after a bounded wait), never the shim.

use berth_shim::logs::Stream;
use berth_shim::sys;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How long one write waits for a FIFO reader that does not keep up.
const WRITE_WAIT_MS: i32 = 2000;

#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error("opening {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("log URI {uri:?}: {why}")]
    Uri { uri: String, why: String },
    #[error("starting the logging binary {bin}: {source}")]
    Logger { bin: PathBuf, source: io::Error },
}

/// The paths containerd gave for one process.
#[derive(Debug, Clone, Default)]
pub struct StdioPaths {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

/// The shim's open ends for one process.
#[derive(Default)]
pub struct ProcStdio {
    /// containerd's stdin FIFO, read by the event loop.
    pub stdin: Option<OwnedFd>,
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    /// The logging binary, reaped by the event loop's reaper.
    pub logger_pid: Option<i32>,
}

fn open_fifo(path: &str) -> Result<OwnedFd, StdioError> {
    // O_RDWR: opening never blocks on the other side, and a reader that comes and goes
    // never makes our end see EOF or EPIPE (stdin's end comes with CloseIO).
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| StdioError::Open {
            path: path.into(),
            source,
        })?;
    Ok(f.into())
}

impl ProcStdio {
    pub fn open(p: &StdioPaths, id: &str, namespace: &str) -> Result<ProcStdio, StdioError> {
        let mut s = ProcStdio::default();
        if !p.stdin.is_empty() {
            s.stdin = Some(open_fifo(&p.stdin)?);
        }
        match uri_scheme(&p.stdout) {
            Some(("binary", rest)) => {
                let (out, err, pid) = start_logger(&p.stdout, rest, id, namespace)?;
                s.out = Some(out);
                s.err = Some(err);
                s.logger_pid = Some(pid);
            }
            Some(("file", rest)) => {
                let path = uri_path(&p.stdout, rest)?;
                if let Some(dir) = Path::new(&path).parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(&path)
                    .map_err(|source| StdioError::Open {
                        path: path.clone().into(),
                        source,
                    })?;
                let f: OwnedFd = f.into();
                s.err = f.try_clone().ok();
                s.out = Some(f);
            }
            Some(("fifo", rest)) => s.out = Some(open_fifo(rest)?),
            Some((other, _)) => {
                return Err(StdioError::Uri {
                    uri: p.stdout.clone(),
                    why: format!(
                        "scheme {other:?} is not supported (fifo paths, binary:// and file:// are)"
                    ),
                })
            }
            None if p.stdout.is_empty() => {}
            None => s.out = Some(open_fifo(&p.stdout)?),
        }
        // With a terminal there is one stream; with a log URI both went above.
        if s.err.is_none() && !p.terminal && !p.stderr.is_empty() {
            s.err = Some(open_fifo(&p.stderr)?);
        }
        Ok(s)
    }

    /// Copy container output to its destination.
    pub fn write(&mut self, stream: Stream, mut data: &[u8]) {
        let slot = match stream {
            Stream::Stdout => &mut self.out,
            Stream::Stderr => &mut self.err,
        };
        let Some(fd) = slot.as_ref() else { return };
        while !data.is_empty() {
            match sys::write(fd.as_raw_fd(), data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !poll_out(fd.as_raw_fd(), WRITE_WAIT_MS) {
                        eprintln!(
                            "containerd-shim-berth-v2: stdio reader is not reading; output dropped"
                        );
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("containerd-shim-berth-v2: writing output: {e}; closing that stream");
                    *slot = None;
                    return;
                }
            }
        }
    }

    /// The process exited: let readers see EOF.
    pub fn close_output(&mut self) {
        self.out = None;
        self.err = None;
    }
}

fn poll_out(fd: i32, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, ms) > 0 }
}

/// ("binary", "//path?query") for "binary://path?query"; None for a plain path.
fn uri_scheme(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once(':')?;
    if scheme.is_empty()
        || !scheme.chars().all(|c| c.is_ascii_alphanumeric())
        || !rest.starts_with("//")
    {
        return None;
    }
    Some((scheme, rest))
}

/// The path of "//path" or "///path" (percent-escapes are not decoded: containerd
/// writes plain paths).
fn uri_path(uri: &str, rest: &str) -> Result<String, StdioError> {
    let rest = rest.trim_start_matches("//");
    let path = rest.split('?').next().unwrap_or("");
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    if path == "/" {
        return Err(StdioError::Uri {
            uri: uri.into(),
            why: "no path".into(),
        });
    }
    Ok(path)
}

/// Query arguments of a binary:// URI, as containerd passes them: `key value` pairs
/// (a key with an empty value alone).
fn logger_args(rest: &str) -> Vec<String> {
    let Some((_, q)) = rest.split_once('?') else {
        return Vec::new();
    };
    let mut args = Vec::new();
    for kv in q.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        args.push(k.to_string());
        if !v.is_empty() {
            args.push(v.to_string());
        }
    }
    args
}

fn start_logger(
    uri: &str,
    rest: &str,
    id: &str,
    namespace: &str,
) -> Result<(OwnedFd, OwnedFd, i32), StdioError> {
    let bin = PathBuf::from(uri_path(uri, rest)?);
    let lerr = |source| StdioError::Logger {
        bin: bin.clone(),
        source,
    };
    let (out_r, out_w) = sys::pipe().map_err(lerr)?;
    let (err_r, err_w) = sys::pipe().map_err(lerr)?;
    let (ready_r, ready_w) = sys::pipe().map_err(lerr)?;
    let fds = [out_r.as_raw_fd(), err_r.as_raw_fd(), ready_w.as_raw_fd()];
    let mut cmd = Command::new(&bin);
    berth_shim::runtime::unblock_signals_in_child(&mut cmd);
    cmd.args(logger_args(rest))
        .env("CONTAINER_ID", id)
        .env("CONTAINER_NAMESPACE", namespace)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only dup2 (async-signal-safe) between fork and exec; the targets 3..5
    // are the logging protocol's fixed fds (dup2 clears close-on-exec on them).
    unsafe {
        cmd.pre_exec(move || {
            // Move the sources above 5 first so dup2 cannot clobber one with another.
            let mut hi = [0; 3];
            for (i, fd) in fds.iter().enumerate() {
                hi[i] = libc::fcntl(*fd, libc::F_DUPFD, 10);
                if hi[i] < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            for (i, fd) in hi.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(lerr)?;
    drop(ready_w);
    drop(out_r);
    drop(err_r);
    // Ready when the logger closes (or writes to) fd 5; a logger that never says so
    // still gets its output after the wait.
    if !sys::poll_in(ready_r.as_raw_fd(), 10_000) {
        eprintln!(
            "containerd-shim-berth-v2: logging binary {} did not signal readiness in 10s",
            bin.display()
        );
    }
    sys::set_nonblock(out_w.as_raw_fd());
    sys::set_nonblock(err_w.as_raw_fd());
    Ok((out_w, err_w, child.id() as i32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(uri_scheme("/run/fifo/x-stdout"), None);
        assert_eq!(
            uri_scheme("binary:///usr/bin/log?a=b"),
            Some(("binary", "///usr/bin/log?a=b"))
        );
        assert_eq!(
            uri_path("file:///var/log/x", "///var/log/x").unwrap(),
            "/var/log/x"
        );
        assert!(uri_path("file://", "//").is_err());
        assert_eq!(logger_args("///bin/l?id=1&flag"), ["id", "1", "flag"]);
    }
}
