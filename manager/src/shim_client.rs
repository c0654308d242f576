//! Talking to berth-shim: starting one (`berth-shim --dir DIR`), its control
//! socket (one JSON line each way per connection) and its attach sockets
//! (frames `kind u8, len u32 BE, payload`; a hello first; see docs/shim.md).
//! The attach client puts a terminal in raw mode and forwards SIGWINCH as resizes.

use serde::de::DeserializeOwned;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("starting {bin}: {source}")]
    Spawn {
        bin: PathBuf,
        source: std::io::Error,
    },
    /// The runtime's (or shim's) own message.
    #[error("{0}")]
    Failed(String),
    /// The runtime could not start the process; `kind` says why (docker's exit code).
    #[error("{0}")]
    Start(StartError),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<ErrorResponse> for ShimError {
    /// A shim's error answer: with a start-error kind when the runtime gave one.
    fn from(e: ErrorResponse) -> ShimError {
        match e.kind {
            Some(kind) => ShimError::Start(StartError { kind, msg: e.error }),
            None => ShimError::Failed(e.error),
        }
    }
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ShimError {
    let path = path.to_path_buf();
    move |source| ShimError::Io { op, path, source }
}

use berth_shim_protocol::{
    decode_exit, decode_header, frame, resize_payload, Answer, ErrorResponse, Hello, EXIT,
    HEADER_LEN, HELLO, RESIZE, STDERR, STDIN, STDIN_EOF, STDOUT,
};
/// shim.json and the wire types live in the protocol crate.
pub use berth_shim_protocol::{
    Ack, Config as ShimConfig, ExecResponse, ExecWaitResponse, HealthSection, LogSection,
    PidResponse, Request, RestartSection, StartError, StartErrorKind,
};

/// What the shim reported on start: the container init's pid.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    pub pid: i32,
}

/// Write DIR/shim.json and run `berth-shim --dir DIR`; returns once the shim has
/// created (and, with `start`, started) the container.
pub fn spawn(shim: &Path, dir: &Path, cfg: &ShimConfig) -> Result<Started, ShimError> {
    let data = serde_json::to_vec(cfg).map_err(|e| ShimError::Failed(e.to_string()))?;
    let p = dir.join("shim.json");
    std::fs::write(&p, data).map_err(io("write", &p))?;
    let mut child = Command::new(shim)
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| ShimError::Spawn {
            bin: shim.to_path_buf(),
            source,
        })?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let _ = child.wait();
    let answer: Answer<PidResponse> = serde_json::from_str(line.trim()).map_err(|_| {
        ShimError::Failed(format!(
            "berth-shim gave no report (see {})",
            dir.join("shim.log").display()
        ))
    })?;
    match answer {
        Answer::Ok(r) => Ok(Started { pid: r.pid }),
        Answer::Failed(e) => Err(ShimError::from(e)),
    }
}

/// One control request and its typed answer (`T`: `PidResponse` for `start`
/// and `exec_start`, `ShimStatus` for `stop`, `wait` and `status`,
/// `ExecResponse`, `ExecWaitResponse`, `Ack` for the rest); an error answer
/// becomes `Failed`.
pub fn request<T: DeserializeOwned>(dir: &Path, req: &Request) -> Result<T, ShimError> {
    let path = dir.join("ctl.sock");
    let mut s = UnixStream::connect(&path).map_err(io("connect", &path))?;
    let mut line = serde_json::to_vec(req).map_err(|e| ShimError::Failed(e.to_string()))?;
    line.push(b'\n');
    s.write_all(&line).map_err(io("write", &path))?;
    let mut resp = String::new();
    BufReader::new(&s)
        .read_line(&mut resp)
        .map_err(io("read", &path))?;
    if resp.trim().is_empty() {
        return Err(ShimError::Failed(format!(
            "the shim closed {} without answering",
            path.display()
        )));
    }
    match serde_json::from_str::<Answer<T>>(resp.trim()) {
        Ok(Answer::Ok(v)) => Ok(v),
        Ok(Answer::Failed(e)) => Err(ShimError::from(e)),
        Err(e) => Err(ShimError::Failed(format!(
            "bad answer from the shim ({e}): {}",
            resp.trim()
        ))),
    }
}

/// An attach connection (to attach.sock or an exec's socket), hello sent.
pub struct Attach {
    sock: UnixStream,
    path: PathBuf,
}

/// How an attach session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachEnd {
    /// The process exited with this code.
    Exited(i32),
    /// Detached (detach keys) or the shim closed the stream.
    Detached,
}

static WINCH: AtomicBool = AtomicBool::new(false);

extern "C" fn on_winch(_: libc::c_int) {
    WINCH.store(true, Ordering::Relaxed);
}

/// The terminal size of fd 0 (rows, cols), if it is a terminal.
pub fn term_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which points
    // at a live, writable `winsize` on our stack; fd 0 is only read.
    let r = unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

pub fn stdin_is_tty() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdin())
}

/// Raw mode on stdin while alive (restored on drop).
pub struct RawMode {
    saved: Option<nix::sys::termios::Termios>,
}

impl RawMode {
    pub fn enable() -> RawMode {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(stdin.as_fd()) else {
            return RawMode { saved: None };
        };
        let mut t = saved.clone();
        cfmakeraw(&mut t);
        // keep output post-processing so "\n" from a non-tty stream still renders
        t.output_flags = saved.output_flags;
        let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &t);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin().as_fd(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
    }
}

/// Route SIGWINCH to `on_winch` (which only sets an atomic flag).
fn catch_winch() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let act = SigAction::new(
        SigHandler::Handler(on_winch),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe;
    // nothing else in berth handles SIGWINCH, so no handler is displaced.
    let _ = unsafe { sigaction(Signal::SIGWINCH, &act) };
}

impl Attach {
    /// Connect and say hello.
    pub fn connect(
        path: &Path,
        stdin: bool,
        detach_keys: Option<&str>,
    ) -> Result<Attach, ShimError> {
        let mut sock = UnixStream::connect(path).map_err(io("connect", path))?;
        let hello = Hello {
            stdin,
            stdout: true,
            stderr: true,
            detach_keys: detach_keys.map(str::to_string),
        };
        let hello = serde_json::to_vec(&hello).map_err(|e| ShimError::Failed(e.to_string()))?;
        let mut f = Vec::new();
        frame(&mut f, HELLO, &hello);
        sock.write_all(&f).map_err(io("write", path))?;
        Ok(Attach {
            sock,
            path: path.to_path_buf(),
        })
    }

    /// Send the current terminal size.
    pub fn resize(&self, rows: u16, cols: u16) {
        let mut f = Vec::new();
        frame(&mut f, RESIZE, &resize_payload(rows, cols));
        let _ = (&self.sock).write_all(&f);
    }

    /// Copy stdin to the stream (when `stdin`), the stream's stdout/stderr frames
    /// to our stdout/stderr, until the exit frame or the stream's end. With `tty`
    /// our terminal is raw meanwhile and SIGWINCH becomes resizes.
    pub fn pump(self, stdin: bool, tty: bool) -> Result<AttachEnd, ShimError> {
        let _raw = (tty && stdin && stdin_is_tty()).then(RawMode::enable);
        if tty && stdin_is_tty() {
            catch_winch();
            if let Some((r, c)) = term_size() {
                self.resize(r, c);
            }
        }
        if stdin {
            let mut w = self.sock.try_clone().map_err(io("dup", &self.path))?;
            // A thread: stdin reads block, and the process ends once the
            // container's exit arrives, whatever stdin is doing.
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let mut stdin = std::io::stdin().lock();
                loop {
                    match stdin.read(&mut buf) {
                        Ok(0) | Err(_) => {
                            let mut f = Vec::new();
                            frame(&mut f, STDIN_EOF, &[]);
                            let _ = w.write_all(&f);
                            break;
                        }
                        Ok(n) => {
                            let mut f = Vec::with_capacity(n + 5);
                            frame(&mut f, STDIN, &buf[..n]);
                            if w.write_all(&f).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
        let mut out = std::io::stdout();
        let mut err = std::io::stderr();
        let mut r = BufReader::with_capacity(64 << 10, &self.sock);
        loop {
            if tty && WINCH.swap(false, Ordering::Relaxed) {
                if let Some((rows, cols)) = term_size() {
                    self.resize(rows, cols);
                }
            }
            if tty && r.buffer().is_empty() && !wait_readable(&self.sock, 200) {
                continue;
            }
            let mut hdr = [0u8; HEADER_LEN];
            match r.read_exact(&mut hdr) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(AttachEnd::Detached)
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io("read", &self.path)(e)),
            }
            let (kind, len) = decode_header(&hdr).unwrap_or_default();
            let mut payload = vec![0u8; len];
            if let Err(e) = r.read_exact(&mut payload) {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    return Ok(AttachEnd::Detached);
                }
                return Err(io("read", &self.path)(e));
            }
            match kind {
                STDOUT => {
                    let _ = out.write_all(&payload);
                    let _ = out.flush();
                }
                STDERR => {
                    let _ = err.write_all(&payload);
                    let _ = err.flush();
                }
                EXIT => {
                    if let Some(code) = decode_exit(&payload) {
                        return Ok(AttachEnd::Exited(code));
                    }
                }
                _ => {}
            }
        }
    }
}

fn wait_readable(fd: &impl AsFd, ms: u16) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::from(ms)).is_ok_and(|n| n > 0)
}

/// docker's exit code for a process the runtime could not start: 127 for a missing
/// command, 126 for one that cannot be executed; None for other failures (berth's
/// 125). Read from the error's kind; only an error without one (a runtime that logs
/// no kind, such as runc, or a shim from before kinds) falls back to its text.
pub fn exec_error_code(err: &ShimError) -> Option<i32> {
    match err {
        ShimError::Start(e) if e.kind == StartErrorKind::Other => None,
        ShimError::Start(e) => Some(e.kind.exit_code()),
        other => exec_error_code_from_text(&other.to_string()),
    }
}

/// runc's messages, for errors that carry no kind.
fn exec_error_code_from_text(msg: &str) -> Option<i32> {
    let m = msg.to_ascii_lowercase();
    if m.contains("executable file not found")
        || m.contains("no such file or directory")
        || m.contains("not found in $path")
    {
        Some(127)
    } else if m.contains("permission denied")
        || m.contains("not executable")
        || m.contains("exec format error")
    {
        Some(126)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_codes() {
        // Errors without a kind (runc, older shims): the text decides.
        let text = |m: &str| exec_error_code(&ShimError::Failed(m.into()));
        assert_eq!(
            text("exec failed: exec: \"nope\": executable file not found in $PATH"),
            Some(127)
        );
        assert_eq!(text("exec: \"/etc\": permission denied"), Some(126));
        assert_eq!(text("cgroup: no memory controller"), None);
    }

    #[test]
    fn exec_codes_from_the_kind_not_the_text() {
        let answer = |json: &str| -> ShimError {
            match serde_json::from_str::<Answer<Ack>>(json).unwrap() {
                Answer::Failed(e) => ShimError::from(e),
                Answer::Ok(_) => panic!("not an error answer: {json}"),
            }
        };
        let e = answer(r#"{"error": "something unusual", "kind": "not-found"}"#);
        assert_eq!(e.to_string(), "something unusual");
        assert_eq!(exec_error_code(&e), Some(127));
        let e = answer(r#"{"error": "no such file or directory", "kind": "other"}"#);
        assert_eq!(exec_error_code(&e), None);
        let e = answer(r#"{"error": "x", "kind": "permission-denied"}"#);
        assert_eq!(exec_error_code(&e), Some(126));
        // Without a kind (runc, older shims) the text decides.
        let e = answer(r#"{"error": "exec: \"/x\": permission denied"}"#);
        assert_eq!(exec_error_code(&e), Some(126));
    }
}
