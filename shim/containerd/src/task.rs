//! The shim's state (its containers, each driven by one berth-shim `Supervisor`, and
//! their processes as containerd sees them) and the event loop that feeds the
//! supervisors: container output to containerd's FIFOs, containerd's stdin FIFOs to the
//! container, children's exits to waiters and to containerd as events.
//!
//! ttrpc requests run on the server's worker threads; they and the loop share the state
//! behind one mutex, and every call that runs the runtime or reaps children holds it, so
//! that the loop's reaping (waitpid(-1)) never takes the status of a runtime process a
//! request is waiting for.

use crate::events::{now, Event, Publisher};
use crate::rtcmd::RtCmd;
use crate::stdio::{ProcStdio, StdioPaths};
use berth_shim::logs::Stream;
use berth_shim::status::Status;
use berth_shim::supervisor::{Observer, Supervisor, Tok};
use berth_shim::sys;
use containerd_shim_protos::events::task as ev;
use containerd_shim_protos::protobuf::well_known_types::timestamp::Timestamp;
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// One process as containerd sees it: the init or an exec.
pub struct Proc {
    pub paths: StdioPaths,
    pub stdio: ProcStdio,
    pub pid: u32,
    /// (exit status, when).
    pub exit: Option<(u32, Timestamp)>,
}

impl Proc {
    pub fn new(paths: StdioPaths, stdio: ProcStdio) -> Proc {
        Proc {
            paths,
            stdio,
            pid: 0,
            exit: None,
        }
    }
}

/// The cleanup after the init's exit (`runtime delete`, the rootfs unmount), which the
/// loop starts as soon as the exit is reported and `Delete` waits for: it overlaps with
/// containerd's Wait reply, State and Delete calls instead of preceding them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// The init has not exited.
    NotDue,
    /// Exited; the loop starts the cleanup after waking the waiters.
    Due,
    /// `runtime delete` runs as this child (the rootfs is unmounted meanwhile).
    Deleting(u32),
    /// Done; false when `runtime delete` failed (Delete retries with --force).
    Done(bool),
}

pub struct Container {
    pub id: String,
    pub bundle: PathBuf,
    /// Short private directory for the supervisor (pid files, console socket).
    pub workdir: PathBuf,
    /// `<bundle>/rootfs` when this shim mounted it.
    pub rootfs: Option<PathBuf>,
    pub sup: Supervisor,
    pub init: Proc,
    pub execs: BTreeMap<String, Proc>,
    pub paused: bool,
    pub rt: RtCmd,
    pub cleanup: Cleanup,
    /// The work directory is being removed by a thread the exit's cleanup started
    /// (Delete waits for it).
    pub removing_workdir: bool,
    /// The rootfs is being unmounted by a thread the exit's cleanup started (Delete
    /// waits for it).
    pub unmounting_rootfs: bool,
}

#[derive(Default)]
pub struct State {
    pub containers: BTreeMap<String, Container>,
    pub shutdown: bool,
}

pub struct Shim {
    state: Mutex<State>,
    /// Signalled after every exit.
    pub exited: Condvar,
    wake_w: OwnedFd,
    pub events: Publisher,
    pub namespace: String,
}

impl Shim {
    pub fn new(events: Publisher, namespace: String) -> std::io::Result<(Arc<Shim>, OwnedFd)> {
        let (r, w) = sys::pipe()?;
        sys::set_nonblock(r.as_raw_fd());
        sys::set_nonblock(w.as_raw_fd());
        Ok((
            Arc::new(Shim {
                state: Mutex::new(State::default()),
                exited: Condvar::new(),
                wake_w: w,
                events,
                namespace,
            }),
            r,
        ))
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Make the loop rebuild its poll set (new fds, shutdown).
    pub fn wake(&self) {
        let _ = sys::write(self.wake_w.as_raw_fd(), b"w");
    }

    pub fn wait_exit<'a>(&self, g: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.exited.wait(g).unwrap_or_else(|e| e.into_inner())
    }
}

/// The supervisor's observer for one container.
struct Obs<'a> {
    id: &'a str,
    init: &'a mut Proc,
    execs: &'a mut BTreeMap<String, Proc>,
    events: &'a Publisher,
}

impl Observer for Obs<'_> {
    fn output(&mut self, sid: Option<&str>, stream: Stream, data: &[u8]) {
        let p = match sid {
            None => Some(&mut *self.init),
            Some(s) => self.execs.get_mut(s),
        };
        if let Some(p) = p {
            p.stdio.write(stream, data);
        }
    }

    fn container_exited(&mut self, status: &Status) {
        crate::debug!("{}: init exit reaped", self.id);
        let code = status.exit_code.unwrap_or(255) as u32;
        let at = now();
        self.init.exit = Some((code, at.clone()));
        self.init.stdio.close_output();
        self.init.stdio.stdin = None;
        if status.oom_killed {
            self.events.publish(Event::Oom(ev::TaskOOM {
                container_id: self.id.to_string(),
                ..Default::default()
            }));
        }
        self.events.publish(Event::Exit(ev::TaskExit {
            container_id: self.id.to_string(),
            id: self.id.to_string(),
            pid: self.init.pid,
            exit_status: code,
            exited_at: Some(at).into(),
            ..Default::default()
        }));
    }

    fn exec_exited(&mut self, sid: &str, exit_code: i32) {
        let Some(p) = self.execs.get_mut(sid) else {
            return;
        };
        let at = now();
        p.exit = Some((exit_code as u32, at.clone()));
        p.stdio.close_output();
        p.stdio.stdin = None;
        self.events.publish(Event::Exit(ev::TaskExit {
            container_id: self.id.to_string(),
            id: sid.to_string(),
            pid: p.pid,
            exit_status: exit_code as u32,
            exited_at: Some(at).into(),
            ..Default::default()
        }));
    }
}

impl Container {
    /// Run `f` on the supervisor with this container's observer.
    pub fn with_sup<R>(
        &mut self,
        events: &Publisher,
        f: impl FnOnce(&mut Supervisor, &mut dyn Observer) -> R,
    ) -> R {
        let Container {
            id,
            sup,
            init,
            execs,
            ..
        } = self;
        let mut obs = Obs {
            id,
            init,
            execs,
            events,
        };
        f(sup, &mut obs)
    }

    /// Move what containerd's stdin FIFO holds to the process (`sid` None: the init).
    /// False when the FIFO is gone.
    pub fn pump_stdin(&mut self, sid: Option<&str>) -> bool {
        let p = match sid {
            None => &mut self.init,
            Some(s) => match self.execs.get_mut(s) {
                Some(p) => p,
                None => return false,
            },
        };
        let Some(fd) = p.stdio.stdin.as_ref().map(|f| f.as_raw_fd()) else {
            return false;
        };
        let mut buf = [0u8; 16 << 10];
        for _ in 0..16 {
            match sys::read(fd, &mut buf) {
                Ok(0) => return false,
                Ok(n) => self.sup.stdin(sid, &buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }
}

/// Reap every exited child and hand each exit to the supervisor whose child it was (a
/// pod's containers share this process and its one reaper; anything else is an orphan
/// reparented to us, or a logging binary).
pub fn reap_children(st: &mut State, events: &Publisher) {
    while let Some((pid, code)) = sys::reap_any() {
        for c in st.containers.values_mut() {
            if c.cleanup == Cleanup::Deleting(pid as u32) {
                crate::debug!("{}: runtime delete exited", c.id);
                c.cleanup = Cleanup::Done(code == 0);
                break;
            }
            if c.with_sup(events, |s, o| s.on_child_exit(pid, code, o)) {
                if c.init.exit.is_some() && c.cleanup == Cleanup::NotDue {
                    c.cleanup = Cleanup::Due;
                }
                break;
            }
        }
    }
}

/// Start the cleanup of every container whose init exited (see `Cleanup`). Runs
/// without the state lock held: the waiters woken by the exit are not kept waiting
/// for a fork and an unmount. The rootfs unmount and the work directory's removal go
/// first, on threads of their own (they take milliseconds, mostly waiting for a busy
/// disk), then the runtime's delete is spawned from here (the spawn waits for the
/// child's exec); Delete waits for all three.
fn start_cleanups(shim: &Arc<Shim>) {
    let due: Vec<(String, RtCmd, Option<PathBuf>, PathBuf)> = {
        let mut st = shim.lock();
        st.containers
            .values_mut()
            .filter(|c| c.cleanup == Cleanup::Due)
            .map(|c| {
                c.removing_workdir = true;
                c.unmounting_rootfs = c.rootfs.is_some();
                (
                    c.id.clone(),
                    c.rt.clone(),
                    c.rootfs.clone(),
                    c.workdir.clone(),
                )
            })
            .collect()
    };
    for (id, rt, rootfs, workdir) in due {
        if let Some(r) = rootfs {
            let done = {
                let (shim, id) = (shim.clone(), id.clone());
                move || {
                    crate::debug!("{id}: rootfs unmounted");
                    if let Some(c) = shim.lock().containers.get_mut(&id) {
                        c.unmounting_rootfs = false;
                        c.rootfs = None;
                    }
                    shim.exited.notify_all();
                }
            };
            if let Err(e) = crate::mounts::unmount_all_on_thread(r.clone(), done) {
                // No thread: unmount here.
                crate::debug!("{id}: rootfs unmount thread: {e}");
                crate::mounts::unmount_all(&r);
                if let Some(c) = shim.lock().containers.get_mut(&id) {
                    c.unmounting_rootfs = false;
                    c.rootfs = None;
                }
            }
        }
        // The work directory (pid files, the runtime's log: the delete below logs
        // nowhere): a handful of unlinks, milliseconds where /run is on a busy disk.
        let remove = {
            let (shim, id, workdir) = (shim.clone(), id.clone(), workdir.clone());
            std::thread::Builder::new()
                .name("rm-workdir".into())
                .stack_size(64 << 10)
                .spawn(move || {
                    let _ = std::fs::remove_dir_all(&workdir);
                    crate::debug!("{id}: work directory removed");
                    if let Some(c) = shim.lock().containers.get_mut(&id) {
                        c.removing_workdir = false;
                    }
                    shim.exited.notify_all();
                })
        };
        if remove.is_err() {
            // No thread: Delete removes it.
            if let Some(c) = shim.lock().containers.get_mut(&id) {
                c.removing_workdir = false;
            }
        }
        // Spawned here, reaped by this loop (under the lock) on a later round: the
        // pid is recorded before the loop can see its exit.
        crate::debug!("{id}: spawning runtime delete");
        let child = rt.spawn_delete();
        crate::debug!("{id}: runtime delete spawned");
        if let Err(e) = &child {
            eprintln!("containerd-shim-berth-v2: delete {id}: {e}");
        }
        let mut st = shim.lock();
        if let Some(c) = st.containers.get_mut(&id) {
            c.cleanup = match child {
                Ok(pid) => Cleanup::Deleting(pid),
                Err(_) => Cleanup::Done(false),
            };
        }
    }
}

enum Ev {
    Signal,
    Wake,
    Sup(usize, Tok),
    Stdin(usize, Option<String>),
}

/// The event loop; returns when the shim is told to shut down.
pub fn run(shim: &Arc<Shim>, sigfd: OwnedFd, wake_r: OwnedFd) {
    let mut fds: Vec<libc::pollfd> = Vec::new();
    let mut evs: Vec<Ev> = Vec::new();
    let mut sup_fds = Vec::new();
    loop {
        fds.clear();
        evs.clear();
        fds.push(pollfd(sigfd.as_raw_fd(), libc::POLLIN));
        evs.push(Ev::Signal);
        fds.push(pollfd(wake_r.as_raw_fd(), libc::POLLIN));
        evs.push(Ev::Wake);
        let (ids, deadline) = {
            let st = shim.lock();
            if st.shutdown {
                return;
            }
            let mut deadline: Option<Instant> = None;
            let ids: Vec<String> = st.containers.keys().cloned().collect();
            for (i, c) in st.containers.values().enumerate() {
                sup_fds.clear();
                c.sup.poll_fds(&mut sup_fds);
                for (fd, events, tok) in sup_fds.drain(..) {
                    fds.push(pollfd(fd, events));
                    evs.push(Ev::Sup(i, tok));
                }
                if let Some(fd) = &c.init.stdio.stdin {
                    fds.push(pollfd(fd.as_raw_fd(), libc::POLLIN));
                    evs.push(Ev::Stdin(i, None));
                }
                for (sid, p) in &c.execs {
                    if let (Some(fd), true) = (&p.stdio.stdin, p.pid != 0) {
                        fds.push(pollfd(fd.as_raw_fd(), libc::POLLIN));
                        evs.push(Ev::Stdin(i, Some(sid.clone())));
                    }
                }
                deadline = match (deadline, c.sup.next_deadline()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            (ids, deadline)
        };
        let timeout = deadline
            .map(|d| {
                d.saturating_duration_since(Instant::now())
                    .as_millis()
                    .min(60_000) as i32
            })
            .unwrap_or(-1);
        // SAFETY: fds is a valid array of pollfd for the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            continue;
        }
        let mut guard = shim.lock();
        let st = &mut *guard;
        let mut any_exit = false;
        for (p, ev) in fds.iter().zip(evs.iter()) {
            if p.revents == 0 {
                continue;
            }
            match ev {
                Ev::Signal => {
                    let sigs = sys::read_signals(&sigfd);
                    let term = [libc::SIGTERM as u32, libc::SIGINT as u32];
                    if sigs.iter().any(|s| term.contains(s)) && st.containers.is_empty() {
                        // Nothing to supervise: leave as if told to shut down.
                        st.shutdown = true;
                        return;
                    }
                    if sigs.contains(&(libc::SIGCHLD as u32)) {
                        any_exit = true;
                        reap_children(st, &shim.events);
                    }
                }
                Ev::Wake => {
                    let mut b = [0u8; 64];
                    while matches!(sys::read(wake_r.as_raw_fd(), &mut b), Ok(n) if n > 0) {}
                }
                Ev::Sup(i, tok) => {
                    if let Some(c) = ids.get(*i).and_then(|id| st.containers.get_mut(id)) {
                        c.with_sup(&shim.events, |s, o| s.on_fd(*tok, o));
                    }
                }
                Ev::Stdin(i, sid) => {
                    if let Some(c) = ids.get(*i).and_then(|id| st.containers.get_mut(id)) {
                        if !c.pump_stdin(sid.as_deref()) {
                            c.sup.stdin_eof(sid.as_deref());
                            match sid {
                                None => c.init.stdio.stdin = None,
                                Some(s) => {
                                    if let Some(p) = c.execs.get_mut(s) {
                                        p.stdio.stdin = None;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let now_i = Instant::now();
        for c in st.containers.values_mut() {
            if c.sup.next_deadline().is_some_and(|d| d <= now_i) {
                c.with_sup(&shim.events, |s, o| s.on_timer(o));
            }
        }
        if any_exit {
            shim.exited.notify_all();
        }
        drop(guard);
        if any_exit {
            start_cleanups(shim);
            // Delete may wait for a failed spawn's Done.
            shim.exited.notify_all();
        }
    }
}

fn pollfd(fd: i32, events: i16) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}
