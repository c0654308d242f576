//! The core supervisor: creates and starts the container through the runtime, copies
//! its output into the log, reaps every child, records the exit, applies the restart
//! policy, runs healthchecks and exec processes. It knows nothing about the control
//! and attach protocols: it reports output and exits to an [`Observer`] and exposes
//! plain methods, so another front end (containerd's shim v2 API) can drive it.

use crate::config::{Config, ConfigExt, HealthConfig, RestartPolicy};
use crate::error::SupervisorError;
use crate::health::{self, Health, HealthResult};
use crate::logs::{LineSplitter, LogWriter, Stream};
use crate::oom::OomProbe;
use crate::restart::{self, Backoff};
use crate::runtime::{self, Runtime, Stdio3};
use crate::status::{ExecStatus, Status, StatusExt};
use crate::sys;
use crate::time::{format_rfc3339_nano, now_unix_ns, rfc3339_nano};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Size of the read buffer for container output (allocated untouched: an idle shim
/// does not pay for it in RSS).
const READ_BUF: usize = 256 << 10;
/// Container stdin queued beyond this is dropped.
const MAX_STDIN_QUEUE: usize = 1 << 20;
/// How long the shim waits for its exit hook before exiting anyway.
const HOOK_WAIT: Duration = Duration::from_secs(30);

/// Receives what the supervisor produces.
pub trait Observer {
    /// Output of the container (`sid` None) or of an exec session.
    fn output(&mut self, sid: Option<&str>, stream: Stream, data: &[u8]);
    /// The container exited; the status file already says so.
    fn container_exited(&mut self, status: &Status);
    /// An exec session's process exited; the status file already says so.
    fn exec_exited(&mut self, sid: &str, exit_code: i32);
}

/// What a supervisor fd is in the poll set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tok {
    Out(Stream),
    Master,
    Stdin,
    ExecOut(u64, Stream),
    ExecMaster(u64),
    ExecStdin(u64),
    Probe,
}

/// Bytes queued for a process's stdin (pipe or pty master), written without blocking.
struct Sink {
    fd: OwnedFd,
    q: Vec<u8>,
    close_when_empty: bool,
}

impl Sink {
    fn new(fd: OwnedFd) -> Sink {
        sys::set_nonblock(fd.as_raw_fd());
        Sink {
            fd,
            q: Vec::new(),
            close_when_empty: false,
        }
    }

    fn push(&mut self, data: &[u8]) {
        if self.q.len() + data.len() <= MAX_STDIN_QUEUE {
            self.q.extend_from_slice(data);
        }
        self.flush();
    }

    /// False once the sink should be closed.
    fn flush(&mut self) -> bool {
        while !self.q.is_empty() {
            match sys::write(self.fd.as_raw_fd(), &self.q) {
                Ok(n) => {
                    self.q.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
        if self.q.capacity() > 64 << 10 {
            self.q = Vec::new();
        }
        !self.close_when_empty
    }
}

/// The shim's ends of a process's stdio.
#[derive(Default)]
struct ProcIo {
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    master: Option<OwnedFd>,
    stdin: Option<Sink>,
}

impl ProcIo {
    fn poll_fds(&self, out: &mut Vec<(i32, i16, Tok)>, key: Option<u64>) {
        let t = |local: Tok| match (key, local) {
            (None, t) => t,
            (Some(k), Tok::Out(s)) => Tok::ExecOut(k, s),
            (Some(k), Tok::Master) => Tok::ExecMaster(k),
            (Some(k), _) => Tok::ExecStdin(k),
        };
        if let Some(fd) = &self.out {
            out.push((fd.as_raw_fd(), libc::POLLIN, t(Tok::Out(Stream::Stdout))));
        }
        if let Some(fd) = &self.err {
            out.push((fd.as_raw_fd(), libc::POLLIN, t(Tok::Out(Stream::Stderr))));
        }
        if let Some(fd) = &self.master {
            out.push((fd.as_raw_fd(), libc::POLLIN, t(Tok::Master)));
        }
        if let Some(s) = &self.stdin {
            if !s.q.is_empty() {
                out.push((s.fd.as_raw_fd(), libc::POLLOUT, t(Tok::Stdin)));
            }
        }
    }

    fn fd_mut(&mut self, tok: Tok) -> &mut Option<OwnedFd> {
        match tok {
            Tok::Out(Stream::Stdout) | Tok::ExecOut(_, Stream::Stdout) => &mut self.out,
            Tok::Out(Stream::Stderr) | Tok::ExecOut(_, Stream::Stderr) => &mut self.err,
            _ => &mut self.master,
        }
    }

    fn close(&mut self, tok: Tok) {
        *self.fd_mut(tok) = None;
        if matches!(tok, Tok::Master | Tok::ExecMaster(_)) {
            self.stdin = None;
        }
    }

    fn stdin_eof(&mut self) {
        if let Some(s) = &mut self.stdin {
            s.close_when_empty = true;
            if !s.flush() {
                self.stdin = None;
            }
        }
    }
}

struct ExecProc {
    key: u64,
    sid: String,
    process: PathBuf,
    terminal: bool,
    stdin: bool,
    pid: i32,
    io: ProcIo,
}

struct Probe {
    pid: i32,
    out: Option<OwnedFd>,
    output: Vec<u8>,
    start_ns: i128,
    start: Instant,
    deadline: Instant,
}

/// Result of reading one fd.
enum ReadResult {
    Data,
    Again,
    Eof,
}

pub struct Supervisor {
    cfg: Config,
    dir: PathBuf,
    rt: Runtime,
    policy: RestartPolicy,
    health_cfg: Option<HealthConfig>,
    pub status: Status,
    init_pid: i32,
    io: ProcIo,
    log: LogWriter,
    split: [LineSplitter; 2],
    rbuf: Vec<u8>,
    oom: Option<OomProbe>,
    backoff: Backoff,
    started: Instant,
    restart_at: Option<Instant>,
    stop_deadline: Option<Instant>,
    health: Option<Health>,
    probe: Option<Probe>,
    execs: Vec<ExecProc>,
    next_key: u64,
    hook_pid: i32,
    hook_deadline: Option<Instant>,
    done: bool,
    /// The owner runs `runtime delete` itself after an exit (containerd's shim overlaps
    /// it with containerd's Wait/Delete round trips); else it runs before the exit is
    /// reported.
    defer_delete: bool,
    /// Write `status.json` at each state change (berth's `ps` and `inspect` read it).
    status_file: bool,
    /// The published ports relayed in userland (on [::1]), for the
    /// container's life: closed when it will not run again.
    relays: Option<crate::relay::Relays>,
}

fn stream_idx(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

impl Supervisor {
    pub fn new(cfg: Config, dir: &Path) -> Result<Supervisor, SupervisorError> {
        let log = LogWriter::open(cfg.log_config()).map_err(|source| SupervisorError::Log {
            path: cfg.log.path.clone(),
            source,
        })?;
        let rt = Runtime::new(
            &cfg.runtime,
            &cfg.runtime_root,
            &cfg.id,
            dir.join("runtime.log"),
        );
        let policy = cfg
            .restart_policy()
            .map_err(|source| SupervisorError::Config {
                what: "restart.policy",
                source,
            })?;
        let health_cfg = cfg.health();
        let status = Status {
            id: cfg.id.clone(),
            status: "created".into(),
            shim_pid: std::process::id() as i32,
            ..Default::default()
        };
        Ok(Supervisor {
            cfg,
            dir: dir.to_owned(),
            rt,
            policy,
            health_cfg,
            status,
            init_pid: 0,
            io: ProcIo::default(),
            log,
            split: Default::default(),
            rbuf: vec![0u8; READ_BUF],
            oom: None,
            backoff: Backoff::default(),
            started: Instant::now(),
            restart_at: None,
            stop_deadline: None,
            health: None,
            probe: None,
            execs: Vec::new(),
            next_key: 1,
            hook_pid: 0,
            hook_deadline: None,
            done: false,
            defer_delete: false,
            status_file: true,
            relays: None,
        })
    }

    fn save(&mut self) {
        if !self.status_file {
            return;
        }
        if let Some(h) = &self.health {
            self.status.health = Some(h.state.clone());
        }
        if let Err(e) = self.status.save(&self.dir) {
            eprintln!("berth-shim: writing status.json: {e}");
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self.status.status.as_str(), "created" | "running")
    }

    /// True once the shim has nothing left to do and may exit.
    pub fn finished(&self) -> bool {
        self.done
            && self.hook_pid == 0
            && self.probe.is_none()
            && self.execs.iter().all(|e| e.pid == 0)
    }

    /// `runtime create` (and `start` if configured); the init's pid.
    pub fn launch(&mut self) -> Result<i32, SupervisorError> {
        self.create()?;
        if self.cfg.start {
            self.start()?;
        }
        Ok(self.init_pid)
    }

    /// A unix listener for `--console-socket`, at a fixed path in DIR (create and exec
    /// run one at a time).
    fn console_listener(&self) -> Result<(UnixListener, PathBuf), SupervisorError> {
        let path = self.dir.join("console.sock");
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).map_err(|source| SupervisorError::Bind {
            path: path.clone(),
            source,
        })?;
        Ok((l, path))
    }

    fn receive_master(l: &UnixListener, path: &Path) -> Result<OwnedFd, SupervisorError> {
        let r = (|| {
            if !sys::poll_in(l.as_raw_fd(), 5000) {
                return Err(SupervisorError::NoTerminal);
            }
            let (conn, _) = l.accept().map_err(SupervisorError::ReceiveTerminal)?;
            sys::recv_fd(conn.as_raw_fd()).map_err(SupervisorError::ReceiveTerminal)
        })();
        let _ = std::fs::remove_file(path);
        let fd = r?;
        sys::set_nonblock(fd.as_raw_fd());
        Ok(fd)
    }

    /// Pipes (or /dev/null) for a process: (runtime-side stdio, shim side, a second
    /// handle on the stderr reader from which the runtime's error message is read).
    fn make_pipes(stdin: bool) -> io::Result<(Stdio3, ProcIo, OwnedFd)> {
        let (out_r, out_w) = sys::pipe()?;
        let (err_r, err_w) = sys::pipe()?;
        sys::grow_pipe(&out_r);
        sys::grow_pipe(&err_r);
        sys::set_nonblock(out_r.as_raw_fd());
        sys::set_nonblock(err_r.as_raw_fd());
        let (in_r, sink) = if stdin {
            let (r, w) = sys::pipe()?;
            (r, Some(Sink::new(w)))
        } else {
            (sys::open_devnull(libc::O_RDONLY)?, None)
        };
        let err_read = err_r.try_clone()?;
        Ok((
            Stdio3 {
                stdin: in_r,
                stdout: out_w,
                stderr: err_w,
            },
            ProcIo {
                out: Some(out_r),
                err: Some(err_r),
                master: None,
                stdin: sink,
            },
            err_read,
        ))
    }

    fn create(&mut self) -> Result<(), SupervisorError> {
        let pid_file = self.dir.join("init.pid");
        let _ = std::fs::remove_file(&pid_file);
        let io_err = |source: io::Error| SupervisorError::Stdio {
            what: "container",
            source,
        };
        if self.cfg.terminal {
            let (l, path) = self.console_listener()?;
            let (err_r, err_w) = sys::pipe().map_err(io_err)?;
            let stdio = Stdio3 {
                stdin: sys::open_devnull(libc::O_RDONLY).map_err(io_err)?,
                stdout: sys::open_devnull(libc::O_WRONLY).map_err(io_err)?,
                stderr: err_w,
            };
            let r = self
                .rt
                .create(&self.cfg.bundle, &pid_file, Some(&path), stdio, &err_r);
            if let Err(e) = r {
                let _ = std::fs::remove_file(&path);
                return Err(e.into());
            }
            let master = Self::receive_master(&l, &path)?;
            let sink = master.try_clone().ok().map(Sink::new);
            self.io = ProcIo {
                out: None,
                err: None,
                master: Some(master),
                stdin: sink,
            };
        } else {
            let (stdio, io, err_r) = Self::make_pipes(self.cfg.stdin).map_err(io_err)?;
            self.rt
                .create(&self.cfg.bundle, &pid_file, None, stdio, &err_r)?;
            self.io = io;
        }
        self.init_pid =
            runtime::read_pid_file(&pid_file).ok_or(SupervisorError::NoPid(pid_file))?;
        sys::crash_point("shim:created");
        self.oom = OomProbe::for_pid(self.init_pid);
        self.status.status = "created".into();
        self.status.pid = self.init_pid;
        self.status.exit_code = None;
        self.status.finished_at = None;
        self.status.oom_killed = false;
        self.save();
        Ok(())
    }

    /// `runtime start` for a created container.
    pub fn start(&mut self) -> Result<i32, SupervisorError> {
        if self.status.status != "created" {
            return Err(SupervisorError::NotCreated(self.status.status.clone()));
        }
        self.rt.start()?;
        sys::crash_point("shim:started");
        self.status.status = "running".into();
        self.status.started_at = Some(rfc3339_nano(now_unix_ns()));
        self.started = Instant::now();
        self.health = self
            .health_cfg
            .clone()
            .map(|h| Health::new(h, self.started));
        self.save();
        Ok(self.init_pid)
    }

    /// Delete a half-made container after a failed launch.
    /// Open the relays of shim.json (before the container starts).
    pub fn publish_relays(&mut self) -> Result<(), SupervisorError> {
        if !self.cfg.relays.is_empty() {
            self.relays = Some(crate::relay::start(&self.cfg.relays)?);
        }
        Ok(())
    }

    pub fn abandon(&mut self) {
        let _ = self.rt.delete(true);
    }

    pub fn kill(&mut self, signal: i32, all: bool) -> Result<(), SupervisorError> {
        if !self.is_running() {
            return Err(SupervisorError::NotRunning(self.status.status.clone()));
        }
        Ok(self.rt.kill(signal, all)?)
    }

    /// Stop as the user: no restart afterwards; SIGKILL after `timeout`. True when the
    /// container is already not running (answer at once).
    pub fn stop(&mut self, signal: i32, timeout: Duration) -> bool {
        self.status.user_stopped = true;
        if self.status.status == "restarting" {
            self.restart_at = None;
            self.status.status = "exited".into();
            self.save();
            self.finish();
            return true;
        }
        self.save();
        if !self.is_running() {
            return true;
        }
        if self.rt.kill(signal, false).is_err() {
            let _ = self.rt.kill(libc::SIGKILL, true);
        }
        self.stop_deadline = Some(Instant::now() + timeout);
        false
    }

    /// End the shim without waiting for a pending restart (the container is not
    /// running).
    pub fn shutdown(&mut self) -> Result<(), SupervisorError> {
        if self.is_running() {
            return Err(SupervisorError::Running);
        }
        if !self.done {
            self.restart_at = None;
            self.status.status = "exited".into();
            self.save();
            self.finish();
        }
        Ok(())
    }

    /// A new restart policy for the running container (`berth update
    /// --restart`), decided on at its next exit. The restart count and the
    /// backoff carry on, as docker's do.
    pub fn set_restart_policy(
        &mut self,
        policy: &str,
        max_retries: u32,
    ) -> Result<(), SupervisorError> {
        self.policy =
            restart::parse(policy, max_retries).map_err(|source| SupervisorError::Config {
                what: "restart policy",
                source,
            })?;
        Ok(())
    }

    // ---- poll integration

    pub fn poll_fds(&self, out: &mut Vec<(i32, i16, Tok)>) {
        self.io.poll_fds(out, None);
        for e in &self.execs {
            e.io.poll_fds(out, Some(e.key));
        }
        if let Some(fd) = self.probe.as_ref().and_then(|p| p.out.as_ref()) {
            out.push((fd.as_raw_fd(), libc::POLLIN, Tok::Probe));
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let health = match (&self.health, &self.probe) {
            (_, Some(p)) => Some(p.deadline),
            (Some(h), None) if self.status.status == "running" => Some(h.next_at),
            _ => None,
        };
        [
            self.restart_at,
            self.stop_deadline,
            self.hook_deadline,
            health,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn on_fd(&mut self, tok: Tok, obs: &mut dyn Observer) {
        match tok {
            Tok::Out(s) => {
                let fd = self.io.fd_mut(tok).as_ref().map(|f| f.as_raw_fd());
                if let Some(fd) = fd {
                    sys::let_pipe_fill(fd);
                    if let ReadResult::Eof = self.read_container(fd, s, obs, 4) {
                        *self.io.fd_mut(tok) = None;
                    }
                }
            }
            Tok::Master => {
                if let Some(fd) = self.io.master.as_ref().map(|f| f.as_raw_fd()) {
                    if let ReadResult::Eof = self.read_container(fd, Stream::Stdout, obs, 4) {
                        self.io.master = None;
                        self.io.stdin = None;
                    }
                }
            }
            Tok::Stdin => {
                if let Some(s) = &mut self.io.stdin {
                    if !s.flush() {
                        self.io.stdin = None;
                    }
                }
            }
            Tok::ExecOut(k, _) | Tok::ExecMaster(k) => {
                let Some(i) = self.execs.iter().position(|e| e.key == k) else {
                    return;
                };
                self.read_exec(i, tok, obs, 4);
            }
            Tok::ExecStdin(k) => {
                if let Some(e) = self.execs.iter_mut().find(|e| e.key == k) {
                    if let Some(s) = &mut e.io.stdin {
                        if !s.flush() {
                            e.io.stdin = None;
                        }
                    }
                }
            }
            Tok::Probe => {
                if let Some(p) = &mut self.probe {
                    read_capped(&mut p.out, &mut p.output);
                }
            }
        }
    }

    /// Read up to `rounds` chunks of container output into the log (one write(2) per
    /// chunk) and to the observer.
    fn read_container(
        &mut self,
        fd: i32,
        stream: Stream,
        obs: &mut dyn Observer,
        rounds: usize,
    ) -> ReadResult {
        for _ in 0..rounds {
            let n = match sys::read(fd, &mut self.rbuf) {
                Ok(0) => return ReadResult::Eof,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadResult::Again,
                // EIO: the pty's slave side is gone
                Err(_) => return ReadResult::Eof,
            };
            let data = &self.rbuf[..n];
            let mut ts = [0u8; 30];
            format_rfc3339_nano(now_unix_ns(), &mut ts);
            let log = &mut self.log;
            self.split[stream_idx(stream)].feed(data, |m| log.record(m, stream, &ts));
            if let Err(e) = self.log.flush() {
                eprintln!("berth-shim: writing the log: {e}");
            }
            obs.output(None, stream, data);
        }
        ReadResult::Data
    }

    /// Drain all container output (at exit) and write out partial last lines.
    fn drain_container(&mut self, obs: &mut dyn Observer) {
        for tok in [
            Tok::Out(Stream::Stdout),
            Tok::Out(Stream::Stderr),
            Tok::Master,
        ] {
            let stream = match tok {
                Tok::Out(s) => s,
                _ => Stream::Stdout,
            };
            while let Some(fd) = self.io.fd_mut(tok).as_ref().map(|f| f.as_raw_fd()) {
                match self.read_container(fd, stream, obs, 16) {
                    ReadResult::Data => continue,
                    _ => break,
                }
            }
        }
        let mut ts = [0u8; 30];
        format_rfc3339_nano(now_unix_ns(), &mut ts);
        for s in [Stream::Stdout, Stream::Stderr] {
            let log = &mut self.log;
            self.split[stream_idx(s)].flush(|m| log.record(m, s, &ts));
        }
        let _ = self.log.flush();
    }

    fn read_exec(&mut self, i: usize, tok: Tok, obs: &mut dyn Observer, rounds: usize) -> bool {
        let stream = match tok {
            Tok::ExecOut(_, s) => s,
            _ => Stream::Stdout,
        };
        for _ in 0..rounds {
            let e = &mut self.execs[i];
            let Some(fd) = e.io.fd_mut(tok).as_ref().map(|f| f.as_raw_fd()) else {
                return false;
            };
            match sys::read(fd, &mut self.rbuf) {
                Ok(0) => {
                    e.io.close(tok);
                    return false;
                }
                Ok(n) => obs.output(Some(&e.sid), stream, &self.rbuf[..n]),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => {
                    e.io.close(tok);
                    return false;
                }
            }
        }
        true
    }

    pub fn on_timer(&mut self, obs: &mut dyn Observer) {
        let now = Instant::now();
        if self.restart_at.is_some_and(|t| t <= now) {
            self.restart_at = None;
            self.restart(obs);
        }
        if self.stop_deadline.is_some_and(|t| t <= now) {
            // SIGKILL through the runtime, and to the init directly (our child,
            // so its pid cannot be reused before we reap it): a runtime kill can
            // fail (its state left half-made by a killed command), and a stop
            // that never ends hangs its caller. Again each second until the exit.
            let _ = self.rt.kill(libc::SIGKILL, true);
            if self.init_pid > 0 {
                sys::kill(self.init_pid, libc::SIGKILL);
            }
            self.stop_deadline = Some(now + Duration::from_secs(1));
        }
        if self.hook_deadline.is_some_and(|t| t <= now) {
            self.hook_deadline = None;
            self.hook_pid = 0;
        }
        if let Some(p) = self.probe.take_if(|p| p.deadline <= now) {
            sys::kill(p.pid, libc::SIGKILL);
            let timeout = self
                .health
                .as_ref()
                .map(|h| h.cfg.timeout)
                .unwrap_or_default();
            self.record_probe(
                &p,
                -1,
                format!(
                    "Health check exceeded timeout ({})",
                    health::go_duration(timeout)
                ),
            );
        } else if self.probe.is_none()
            && self.status.status == "running"
            && self.health.as_ref().is_some_and(|h| h.next_at <= now)
        {
            self.run_probe();
        }
    }

    fn restart(&mut self, _obs: &mut dyn Observer) {
        self.status.restart_count += 1;
        let r = self.create().and_then(|_| self.start());
        match r {
            Ok(_) => self.status.error = None,
            Err(e) => {
                eprintln!("berth-shim: restart failed: {e}");
                let _ = self.rt.delete(true);
                self.io = ProcIo::default();
                self.init_pid = 0;
                self.status.error = Some(e.to_string());
                self.status.status = "exited".into();
                self.save();
                self.finish();
            }
        }
    }

    // ---- children

    pub fn on_sigchld(&mut self, obs: &mut dyn Observer) {
        while let Some((pid, code)) = sys::reap_any() {
            // anything not ours: a reparented orphan, now reaped
            self.on_child_exit(pid, code, obs);
        }
    }

    /// One reaped child's exit, for a front end that reaps for several supervisors in
    /// one process (containerd's shim serves all containers of a pod). False when `pid`
    /// is none of this supervisor's children.
    pub fn on_child_exit(&mut self, pid: i32, code: i32, obs: &mut dyn Observer) -> bool {
        if pid == self.init_pid && pid > 0 {
            self.container_exited(code, obs);
        } else if let Some(i) = self.execs.iter().position(|e| e.pid == pid) {
            self.exec_exited(i, code, obs);
        } else if let Some(mut p) = self.probe.take_if(|p| p.pid == pid) {
            read_capped(&mut p.out, &mut p.output);
            let out = health::output_text(&p.output);
            self.record_probe(&p, code, out);
        } else if pid == self.hook_pid && pid > 0 {
            self.hook_pid = 0;
            self.hook_deadline = None;
        } else {
            return false;
        }
        true
    }

    /// Leave `runtime delete` after the container's exit to the owner (no restart
    /// policy may be set then: a restart needs the old container deleted first).
    // Used through the library by containerd-shim-berth-v2; berth-shim's binary, which
    // compiles this module too, never defers.
    #[allow(dead_code)]
    pub fn defer_runtime_delete(&mut self) {
        self.defer_delete = true;
    }

    /// No `status.json`: an owner that keeps the state itself (containerd-shim-berth-v2)
    /// spares the create, start and exit paths a file write and rename each.
    // Used through the library by containerd-shim-berth-v2 only, as above.
    #[allow(dead_code)]
    pub fn no_status_file(&mut self) {
        self.status_file = false;
    }

    fn container_exited(&mut self, code: i32, obs: &mut dyn Observer) {
        self.drain_container(obs);
        let oom = self.oom.take().is_some_and(|o| o.killed());
        self.init_pid = 0;
        self.stop_deadline = None;
        if let Some(p) = self.probe.take() {
            sys::kill(p.pid, libc::SIGKILL);
        }
        self.status.status = "exited".into();
        self.status.exit_code = Some(code);
        self.status.finished_at = Some(rfc3339_nano(now_unix_ns()));
        self.status.oom_killed = oom;
        sys::crash_point("shim:exit-seen");
        self.save();
        self.health = None;
        let deleted = if self.defer_delete {
            Ok(())
        } else {
            self.rt.delete(false)
        };
        if let Err(e) = deleted {
            eprintln!("berth-shim: delete: {e}; retrying with --force");
            let _ = self.rt.delete(true);
        }
        self.io = ProcIo::default();
        obs.container_exited(&self.status);
        if restart::should_restart(
            self.policy,
            code,
            self.status.restart_count,
            self.status.user_stopped,
        ) {
            let delay = self.backoff.next(self.started.elapsed());
            self.restart_at = Some(Instant::now() + delay);
            self.status.status = "restarting".into();
            self.save();
        } else {
            self.finish();
        }
    }

    /// No more restarts: run the exit hook and let the shim exit.
    fn finish(&mut self) {
        self.done = true;
        // the published [::1] ports close with the container
        self.relays = None;
        // shim.json's validation refuses an empty hook; nothing to run if one slips by.
        let Some((prog, args)) = self
            .cfg
            .exit_hook
            .as_deref()
            .and_then(<[String]>::split_first)
        else {
            return;
        };
        let code = self.status.exit_code.unwrap_or(-1);
        let mut cmd = Command::new(prog);
        runtime::unblock_signals_in_child(&mut cmd);
        let r = cmd
            .args(args)
            .env("BERTH_EXIT_CODE", code.to_string())
            .env("BERTH_CONTAINER_ID", &self.cfg.id)
            .env(
                "BERTH_OOM_KILLED",
                if self.status.oom_killed { "1" } else { "0" },
            )
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn();
        match r {
            // reaped by on_sigchld; the Child is dropped without waiting
            Ok(child) => {
                self.hook_pid = child.id() as i32;
                self.hook_deadline = Some(Instant::now() + HOOK_WAIT);
            }
            Err(e) => eprintln!("berth-shim: exit hook {prog}: {e}"),
        }
    }

    // ---- health

    fn run_probe(&mut self) {
        let Some(h) = &self.health else { return };
        let timeout = h.cfg.timeout;
        let argv = h.cfg.argv.clone();
        let start_ns = now_unix_ns();
        let start = Instant::now();
        let r = (|| -> Result<Probe, SupervisorError> {
            let process = self.process_file("health", &argv, false)?;
            let (r, w) = sys::pipe().map_err(SupervisorError::Io)?;
            sys::set_nonblock(r.as_raw_fd());
            let w2 = w.try_clone().map_err(SupervisorError::Io)?;
            let pid_file = self.dir.join("health.pid");
            let stdio = Stdio3 {
                stdin: sys::open_devnull(libc::O_RDONLY).map_err(SupervisorError::Io)?,
                stdout: w,
                stderr: w2,
            };
            self.rt.exec(&process, &pid_file, None, stdio, &r)?;
            let pid = runtime::read_pid_file(&pid_file).ok_or(SupervisorError::NoProbePid)?;
            Ok(Probe {
                pid,
                out: Some(r),
                output: Vec::new(),
                start_ns,
                start,
                deadline: start + timeout,
            })
        })();
        match r {
            Ok(p) => self.probe = Some(p),
            Err(e) => {
                let p = Probe {
                    pid: 0,
                    out: None,
                    output: Vec::new(),
                    start_ns,
                    start,
                    deadline: start,
                };
                self.record_probe(&p, -1, e.to_string());
            }
        }
    }

    fn record_probe(&mut self, p: &Probe, code: i32, output: String) {
        let Some(h) = &mut self.health else { return };
        let result = HealthResult {
            start: rfc3339_nano(p.start_ns),
            end: rfc3339_nano(now_unix_ns()),
            exit_code: code,
            output,
        };
        h.record(p.start, result, Instant::now());
        self.save();
    }

    /// Write a process.json for exec from the bundle's process (env, cwd, user...)
    /// with other args.
    fn process_file(
        &self,
        name: &str,
        argv: &[String],
        terminal: bool,
    ) -> Result<PathBuf, SupervisorError> {
        let path = self.dir.join(format!("{name}-process.json"));
        if path.exists() {
            return Ok(path);
        }
        let text = std::fs::read(self.cfg.bundle.join("config.json"))
            .map_err(SupervisorError::ReadBundle)?;
        let mut v: serde_json::Value =
            serde_json::from_slice(&text).map_err(SupervisorError::ParseBundle)?;
        let mut p = v["process"].take();
        p["args"] = serde_json::json!(argv);
        p["terminal"] = serde_json::json!(terminal);
        if let Some(o) = p.as_object_mut() {
            o.remove("consoleSize");
        }
        std::fs::write(&path, serde_json::to_vec(&p).unwrap_or_default()).map_err(|source| {
            SupervisorError::Write {
                path: path.clone(),
                source,
            }
        })?;
        Ok(path)
    }

    // ---- stdin, resize

    pub fn stdin(&mut self, sid: Option<&str>, data: &[u8]) {
        let sink = match sid {
            None => self.io.stdin.as_mut(),
            Some(s) => self
                .execs
                .iter_mut()
                .find(|e| e.sid == s)
                .and_then(|e| e.io.stdin.as_mut()),
        };
        if let Some(s) = sink {
            s.push(data);
        }
    }

    pub fn stdin_eof(&mut self, sid: Option<&str>) {
        match sid {
            None if !self.cfg.terminal => self.io.stdin_eof(),
            None => {}
            Some(s) => {
                if let Some(e) = self.execs.iter_mut().find(|e| e.sid == s && !e.terminal) {
                    e.io.stdin_eof();
                }
            }
        }
    }

    pub fn resize(
        &mut self,
        sid: Option<&str>,
        rows: u16,
        cols: u16,
    ) -> Result<(), SupervisorError> {
        let master = match sid {
            None => self.io.master.as_ref(),
            Some(s) => self
                .execs
                .iter()
                .find(|e| e.sid == s)
                .and_then(|e| e.io.master.as_ref()),
        };
        let m = master.ok_or(SupervisorError::NoTerminalToResize)?;
        sys::set_winsize(m.as_raw_fd(), rows, cols);
        Ok(())
    }

    // ---- exec sessions

    pub fn exec_create(
        &mut self,
        sid: &str,
        process: &Path,
        terminal: bool,
        stdin: bool,
    ) -> Result<(), SupervisorError> {
        if self.status.execs.contains_key(sid) {
            return Err(SupervisorError::ExecExists(sid.to_string()));
        }
        if !process.is_absolute() {
            return Err(SupervisorError::ExecProcessPath);
        }
        self.execs.push(ExecProc {
            key: self.next_key,
            sid: sid.to_string(),
            process: process.to_owned(),
            terminal,
            stdin,
            pid: 0,
            io: ProcIo::default(),
        });
        self.next_key += 1;
        self.status
            .execs
            .insert(sid.to_string(), ExecStatus::default());
        Ok(())
    }

    pub fn exec_start(&mut self, sid: &str) -> Result<i32, SupervisorError> {
        if self.status.status != "running" {
            return Err(SupervisorError::NotRunning(self.status.status.clone()));
        }
        let i = self
            .execs
            .iter()
            .position(|e| e.sid == sid)
            .ok_or_else(|| SupervisorError::NoExec(sid.to_string()))?;
        if self.execs[i].pid != 0 {
            return Err(SupervisorError::ExecStarted(sid.to_string()));
        }
        let pid_file = self.dir.join(format!("exec-{sid}.pid"));
        let _ = std::fs::remove_file(&pid_file);
        let io_err = |source: io::Error| SupervisorError::Stdio {
            what: "exec",
            source,
        };
        let (process, terminal, want_stdin) = {
            let e = &self.execs[i];
            (e.process.clone(), e.terminal, e.stdin)
        };
        let r: Result<ProcIo, SupervisorError> = if terminal {
            let (l, path) = self.console_listener()?;
            let (err_r, err_w) = sys::pipe().map_err(io_err)?;
            let stdio = Stdio3 {
                stdin: sys::open_devnull(libc::O_RDONLY).map_err(io_err)?,
                stdout: sys::open_devnull(libc::O_WRONLY).map_err(io_err)?,
                stderr: err_w,
            };
            match self
                .rt
                .exec(&process, &pid_file, Some(&path), stdio, &err_r)
            {
                Err(e) => {
                    let _ = std::fs::remove_file(&path);
                    Err(e.into())
                }
                Ok(()) => Self::receive_master(&l, &path).map(|m| ProcIo {
                    stdin: if want_stdin {
                        m.try_clone().ok().map(Sink::new)
                    } else {
                        None
                    },
                    master: Some(m),
                    out: None,
                    err: None,
                }),
            }
        } else {
            let (stdio, io, err_r) = Self::make_pipes(want_stdin).map_err(io_err)?;
            self.rt
                .exec(&process, &pid_file, None, stdio, &err_r)
                .map_err(SupervisorError::from)
                .map(|_| io)
        };
        let io = r?;
        let pid = runtime::read_pid_file(&pid_file).ok_or(SupervisorError::NoExecPid)?;
        let e = &mut self.execs[i];
        e.pid = pid;
        e.io = io;
        self.status.execs.insert(
            sid.to_string(),
            ExecStatus {
                pid,
                running: true,
                exit_code: None,
            },
        );
        self.save();
        Ok(pid)
    }

    /// None: unknown session; Some(None): not exited yet; Some(Some(code)).
    pub fn exec_result(&self, sid: &str) -> Option<Option<i32>> {
        self.status.execs.get(sid).map(|e| e.exit_code)
    }

    fn exec_exited(&mut self, i: usize, code: i32, obs: &mut dyn Observer) {
        let key = self.execs[i].key;
        for tok in [
            Tok::ExecOut(key, Stream::Stdout),
            Tok::ExecOut(key, Stream::Stderr),
            Tok::ExecMaster(key),
        ] {
            while self.read_exec(i, tok, obs, 16) {}
        }
        let e = self.execs.remove(i);
        if let Some(s) = self.status.execs.get_mut(&e.sid) {
            s.running = false;
            s.exit_code = Some(code);
        }
        self.status.trim_execs();
        self.save();
        obs.exec_exited(&e.sid, code);
    }

    /// Sessions created but never started (answered when the shim exits).
    pub fn unstarted_execs(&self) -> Vec<String> {
        self.execs
            .iter()
            .filter(|e| e.pid == 0)
            .map(|e| e.sid.clone())
            .collect()
    }
}

/// Read what is available into `out`, keeping at most health::MAX_OUTPUT bytes;
/// closes the fd at EOF.
fn read_capped(fd: &mut Option<OwnedFd>, out: &mut Vec<u8>) {
    let mut buf = [0u8; 4096];
    while let Some(f) = fd.as_ref() {
        match sys::read(f.as_raw_fd(), &mut buf) {
            Ok(0) => *fd = None,
            Ok(n) => {
                let room = health::MAX_OUTPUT.saturating_sub(out.len());
                out.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => *fd = None,
        }
    }
}
