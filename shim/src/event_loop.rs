//! The single-threaded poll loop: signals (signalfd), the control socket, the attach
//! sockets and the supervisor's fds and timers. It is the only place where the
//! protocol front end (control + attach) meets the core supervisor.

use crate::attach::{Action, Hub, HubToken};
use crate::control::{Conn, Control, Pending, Request};
use crate::error::SupervisorError;
use crate::logs::Stream;
use crate::status::{Status, StatusExt};
use crate::supervisor::{Observer, Supervisor, Tok};
use crate::sys;
use serde_json::{json, Value};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The protocol side: control connections and attach hubs.
pub struct Front {
    dir: PathBuf,
    ctl: Control,
    hub: Hub,
    /// (key, sid, hub) per exec session.
    exec_hubs: Vec<(u64, String, Hub)>,
    next_key: u64,
}

impl Observer for Front {
    fn output(&mut self, sid: Option<&str>, stream: Stream, data: &[u8]) {
        match sid {
            None => self.hub.output(stream, data),
            Some(s) => {
                if let Some((_, _, h)) = self.exec_hubs.iter_mut().find(|(_, x, _)| x == s) {
                    h.output(stream, data);
                }
            }
        }
    }

    fn container_exited(&mut self, status: &Status) {
        let v = status.to_json();
        self.ctl.answer(&Pending::Exit, &v);
        self.hub.finish(status.exit_code.unwrap_or(-1));
    }

    fn exec_exited(&mut self, sid: &str, exit_code: i32) {
        self.ctl.answer(
            &Pending::ExecExit(sid.to_string()),
            &json!({"exit_code": exit_code}),
        );
        if let Some(i) = self.exec_hubs.iter().position(|(_, x, _)| x == sid) {
            let (_, _, mut h) = self.exec_hubs.remove(i);
            h.finish(exit_code);
        }
    }
}

#[derive(Clone, Copy)]
enum PTok {
    Signal,
    CtlListen,
    Ctl(u64),
    Hub(HubToken),
    ExecHub(u64, HubToken),
    Sup(Tok),
}

fn valid_sid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn result_json(r: Result<Value, SupervisorError>) -> Value {
    r.unwrap_or_else(|e| e.to_json())
}

impl Front {
    pub fn new(dir: PathBuf) -> std::io::Result<Front> {
        Ok(Front {
            ctl: Control::bind(&dir.join("ctl.sock"))?,
            hub: Hub::bind(&dir.join("attach.sock"))?,
            dir,
            exec_hubs: Vec::new(),
            next_key: 1,
        })
    }

    fn handle(&mut self, sup: &mut Supervisor, conn: Conn, req: Request) {
        let answer = |conn: Conn, v: Result<Value, SupervisorError>| conn.respond(&result_json(v));
        match req {
            Request::Start => answer(conn, sup.start().map(|pid| json!({ "pid": pid }))),
            Request::Kill { signal, all } => answer(conn, sup.kill(signal, all).map(|_| json!({}))),
            Request::Stop { signal, timeout_s } => {
                if sup.stop(signal, Duration::from_secs(timeout_s)) {
                    conn.respond(&sup.status.to_json());
                } else {
                    self.ctl.park(conn, Pending::Exit);
                }
            }
            Request::Wait => {
                if sup.is_running() {
                    self.ctl.park(conn, Pending::Exit);
                } else {
                    conn.respond(&sup.status.to_json());
                }
            }
            Request::Status => conn.respond(&sup.status.to_json()),
            Request::Exec {
                sid,
                process,
                terminal,
                stdin,
                detach,
            } => {
                let r = (|| {
                    if !valid_sid(&sid) {
                        return Err(SupervisorError::BadSid);
                    }
                    sup.exec_create(&sid, &process, terminal, stdin && !detach)?;
                    let path = self.dir.join(format!("exec-{sid}.sock"));
                    let hub = Hub::bind(&path).map_err(|source| SupervisorError::Bind {
                        path: path.clone(),
                        source,
                    })?;
                    self.exec_hubs.push((self.next_key, sid.clone(), hub));
                    self.next_key += 1;
                    Ok(json!({ "socket": path }))
                })();
                answer(conn, r)
            }
            Request::ExecStart { sid } => {
                answer(conn, sup.exec_start(&sid).map(|pid| json!({ "pid": pid })))
            }
            Request::ExecWait { sid } => match sup.exec_result(&sid) {
                None => answer(conn, Err(SupervisorError::NoExec(sid))),
                Some(Some(code)) => conn.respond(&json!({ "exit_code": code })),
                Some(None) => self.ctl.park(conn, Pending::ExecExit(sid)),
            },
            Request::Resize { sid, rows, cols } => answer(
                conn,
                sup.resize(sid.as_deref(), rows, cols).map(|_| json!({})),
            ),
            Request::Shutdown => answer(conn, sup.shutdown().map(|_| json!({}))),
            Request::SetRestart {
                policy,
                max_retries,
            } => answer(
                conn,
                sup.set_restart_policy(&policy, max_retries)
                    .map(|_| json!({})),
            ),
        }
    }

    fn apply(sup: &mut Supervisor, sid: Option<&str>, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Stdin(d) => sup.stdin(sid, &d),
                Action::StdinEof => sup.stdin_eof(sid),
                Action::Resize(r, c) => {
                    let _ = sup.resize(sid, r, c);
                }
            }
        }
    }
}

/// Run until the supervisor is finished.
pub fn run(mut sup: Supervisor, mut front: Front, sigfd: OwnedFd) {
    let mut pfds: Vec<libc::pollfd> = Vec::new();
    let mut toks: Vec<PTok> = Vec::new();
    let mut sup_fds: Vec<(i32, i16, Tok)> = Vec::new();
    let mut hub_fds: Vec<(i32, i16, HubToken)> = Vec::new();
    let mut ctl_fds: Vec<(i32, u64)> = Vec::new();
    loop {
        if sup.finished() {
            break;
        }
        pfds.clear();
        toks.clear();
        let mut push = |fd: i32, events: i16, t: PTok| {
            pfds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            toks.push(t);
        };
        push(sigfd.as_raw_fd(), libc::POLLIN, PTok::Signal);
        push(front.ctl.listener_fd(), libc::POLLIN, PTok::CtlListen);
        ctl_fds.clear();
        front.ctl.poll_fds(&mut ctl_fds);
        for (fd, id) in &ctl_fds {
            push(*fd, libc::POLLIN, PTok::Ctl(*id));
        }
        hub_fds.clear();
        front.hub.poll_fds(&mut hub_fds);
        for (fd, ev, t) in &hub_fds {
            push(*fd, *ev, PTok::Hub(*t));
        }
        for (key, _, h) in &front.exec_hubs {
            hub_fds.clear();
            h.poll_fds(&mut hub_fds);
            for (fd, ev, t) in &hub_fds {
                push(*fd, *ev, PTok::ExecHub(*key, *t));
            }
        }
        sup_fds.clear();
        sup.poll_fds(&mut sup_fds);
        for (fd, ev, t) in &sup_fds {
            push(*fd, *ev, PTok::Sup(*t));
        }
        let timeout = sup.next_deadline().map_or(-1, |d| {
            let left = d.saturating_duration_since(Instant::now());
            // round up so a deadline is not polled for in a busy loop
            (left.as_micros().div_ceil(1000)).min(i32::MAX as u128) as i32
        });
        if sys::poll(&mut pfds, timeout).is_err() {
            continue; // EINTR
        }
        // Signals first: an exit reaped now is seen before its fds' EOFs are handled.
        for i in 0..pfds.len() {
            let rev = pfds[i].revents;
            if rev == 0 {
                continue;
            }
            match toks[i] {
                PTok::Signal => {
                    for sig in sys::read_signals(&sigfd) {
                        match sig as i32 {
                            libc::SIGCHLD => {}
                            // SIGTERM/SIGINT to the shim: stop the container as the user would
                            libc::SIGTERM | libc::SIGINT => {
                                let _ = sup.stop(libc::SIGTERM, Duration::from_secs(10));
                            }
                            _ => {} // SIGHUP: the manager's terminal went away; ignore
                        }
                    }
                    sup.on_sigchld(&mut front);
                }
                PTok::CtlListen => front.ctl.accept(),
                PTok::Ctl(id) => {
                    let Some(mut conn) = front.ctl.take(id) else {
                        continue;
                    };
                    if conn.pending.is_some() {
                        // a parked client hung up (or sent more): drop it if gone
                        match conn.read_request() {
                            Err(()) => {}
                            Ok(_) => {
                                if let Some(p) = conn.pending.clone() {
                                    front.ctl.park(conn, p);
                                }
                            }
                        }
                        continue;
                    }
                    match conn.read_request() {
                        Err(()) => {}
                        Ok(None) => front.ctl.conns.push(conn),
                        Ok(Some(Err(e))) => conn.respond(&e.to_json()),
                        Ok(Some(Ok(req))) => front.handle(&mut sup, conn, req),
                    }
                }
                PTok::Hub(t) => {
                    let mut actions = Vec::new();
                    front.hub.on_event(t, rev, &mut actions);
                    Front::apply(&mut sup, None, actions);
                }
                PTok::ExecHub(key, t) => {
                    let Some((_, sid, h)) = front.exec_hubs.iter_mut().find(|(k, _, _)| *k == key)
                    else {
                        continue;
                    };
                    let mut actions = Vec::new();
                    h.on_event(t, rev, &mut actions);
                    let sid = sid.clone();
                    Front::apply(&mut sup, Some(&sid), actions);
                }
                PTok::Sup(t) => sup.on_fd(t, &mut front),
            }
        }
        sup.on_timer(&mut front);
    }
    // Answer whoever still waits, including requests already queued on the socket
    // (a `wait` racing with the exit), then remove the sockets (Drop).
    let v = sup.status.to_json();
    front.ctl.answer(&Pending::Exit, &v);
    front.ctl.accept();
    let deadline = Instant::now() + Duration::from_millis(200);
    for mut conn in std::mem::take(&mut front.ctl.conns) {
        if conn.pending.is_some() {
            front.ctl.conns.push(conn);
            continue;
        }
        let req = loop {
            match conn.read_request() {
                Ok(Some(r)) => break Some(r),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => break None,
            }
        };
        let answer = match req {
            Some(Ok(Request::Wait | Request::Status | Request::Stop { .. })) => v.clone(),
            Some(Ok(Request::ExecWait { sid })) => match sup.exec_result(&sid) {
                Some(Some(code)) => json!({ "exit_code": code }),
                _ => json!({"error": format!("exec session {sid:?} did not run")}),
            },
            Some(Ok(_)) => json!({"error": "the container has exited and the shim is exiting"}),
            Some(Err(e)) => e.to_json(),
            None => continue,
        };
        conn.respond(&answer);
    }
    for sid in sup.unstarted_execs() {
        front.ctl.answer(
            &Pending::ExecExit(sid.clone()),
            &json!({"error": format!("exec session {sid:?} was never started")}),
        );
    }
    front.hub.finish(sup.status.exit_code.unwrap_or(-1));
}
