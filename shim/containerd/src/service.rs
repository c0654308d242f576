//! containerd's shim v2 Task service (ttrpc), on the supervisors in [`crate::task`].

use crate::events::{now, Event};
use crate::mounts::{self, Mount};
use crate::rtcmd::RtCmd;
use crate::stdio::{ProcStdio, StdioPaths};
use crate::task::{Cleanup, Container, Proc, Shim, State};
use crate::{layout, stats};
use berth_shim::supervisor::Supervisor;
use berth_shim::sys;
use berth_shim_protocol::{Config, LogSection, RestartSection};
use containerd_shim_protos::api;
use containerd_shim_protos::events::task as ev;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::well_known_types::empty::Empty;
use containerd_shim_protos::protobuf::{Message, MessageField};
use containerd_shim_protos::shim::oci::{Options, ProcessDetails};
use containerd_shim_protos::types::task::{ProcessInfo, Status as TaskStatus};
use containerd_shim_protos::Task;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use ttrpc::{Code, TtrpcContext};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Give freed heap back to the kernel after a container or exec is gone: a long-lived
/// shim would otherwise keep the high-water mark of every exec it served. glibc only:
/// musl's allocator (mallocng) unmaps freed groups by itself and has no malloc_trim.
fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0)
    };
}

fn status(code: Code, msg: impl Into<String>) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, msg.into()))
}

fn not_found(what: &str) -> ttrpc::Error {
    status(Code::NOT_FOUND, format!("{what}: not found"))
}

/// Where the runtime binary and its state are for one container (also written to
/// `<bundle>/berth-shim.json` so that `delete` can clean up after a dead shim).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub runtime: PathBuf,
    pub root: PathBuf,
    pub workdir: PathBuf,
}

pub struct Service {
    pub shim: Arc<Shim>,
    pub default_runtime: PathBuf,
}

fn container<'a>(st: &'a mut State, id: &str) -> ttrpc::Result<&'a mut Container> {
    st.containers
        .get_mut(id)
        .ok_or_else(|| not_found(&format!("container {id}")))
}

/// The init (`exec_id` empty) or an exec of `c`.
fn proc_of<'a>(c: &'a mut Container, exec_id: &str) -> ttrpc::Result<&'a mut Proc> {
    if exec_id.is_empty() {
        Ok(&mut c.init)
    } else {
        c.execs
            .get_mut(exec_id)
            .ok_or_else(|| not_found(&format!("exec {exec_id} of {}", c.id)))
    }
}

/// The runc shim options (`containerd.runc.v1.Options`) the task was given, if any.
fn runc_options(any: &MessageField<Any>) -> ttrpc::Result<Option<Options>> {
    let Some(a) = any.as_ref() else {
        return Ok(None);
    };
    if a.type_url.is_empty() {
        return Ok(None);
    }
    if a.type_url.ends_with("containerd.runc.v1.Options") {
        let o = Options::parse_from_bytes(&a.value)
            .map_err(|e| status(Code::INVALID_ARGUMENT, format!("task options: {e}")))?;
        let unsupported = [
            (o.systemd_cgroup, "SystemdCgroup"),
            (!o.shim_cgroup.is_empty(), "ShimCgroup"),
            (o.no_pivot_root, "NoPivotRoot"),
            (o.no_new_keyring, "NoNewKeyring"),
            (o.io_uid != 0 || o.io_gid != 0, "IoUid/IoGid"),
            (
                !o.criu_image_path.is_empty() || !o.criu_work_path.is_empty(),
                "CriuImagePath/CriuWorkPath",
            ),
        ];
        if let Some((_, name)) = unsupported.iter().find(|(set, _)| *set) {
            return Err(status(
                Code::INVALID_ARGUMENT,
                format!("runtime option {name} is not supported by containerd-shim-berth-v2"),
            ));
        }
        return Ok(Some(o));
    }
    // The CRI plugin's generic options for non-runc runtimes carry only a config path.
    if a.type_url.ends_with("runtimeoptions.v1.Options") {
        return Ok(None);
    }
    Err(status(
        Code::INVALID_ARGUMENT,
        format!(
            "task options of type {:?} are not supported (containerd.runc.v1.Options are)",
            a.type_url
        ),
    ))
}

impl Service {
    fn placement(&self, id: &str, opts: Option<&Options>) -> Placement {
        let ns = &self.shim.namespace;
        let runtime = opts
            .map(|o| o.binary_name.as_str())
            .filter(|b| !b.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| self.default_runtime.clone());
        let root = opts
            .map(|o| o.root.as_str())
            .filter(|r| !r.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(layout::RUNTIME_ROOT))
            .join(ns);
        Placement {
            runtime,
            root,
            workdir: layout::workdir(ns, id),
        }
    }

    /// Runs with the state locked (the caller's guard): the loop must not reap the
    /// runtime processes this starts.
    fn do_create(&self, req: &api::CreateTaskRequest) -> ttrpc::Result<Container> {
        let t0 = std::time::Instant::now();
        if !req.checkpoint.is_empty() || !req.parent_checkpoint.is_empty() {
            return Err(status(
                Code::UNIMPLEMENTED,
                "restoring from a checkpoint is not supported by containerd-shim-berth-v2",
            ));
        }
        let opts = runc_options(&req.options)?;
        let pl = self.placement(&req.id, opts.as_ref());
        let bundle = PathBuf::from(&req.bundle);
        let fail =
            |what: &str, e: &dyn std::fmt::Display| status(Code::INTERNAL, format!("{what}: {e}"));
        std::fs::create_dir_all(&pl.workdir)
            .map_err(|e| fail("creating the shim's work directory", &e))?;
        // Only where `delete` (after a dead shim) could not derive it: a file write and
        // rename fewer on the Create path, an unlink fewer on Delete's.
        if pl != self.placement(&req.id, None) {
            let text = serde_json::to_vec(&pl).map_err(|e| fail("placement", &e))?;
            sys::write_atomic(&bundle.join(layout::PLACEMENT_FILE), &text)
                .map_err(|e| fail("writing berth-shim.json", &e))?;
        }

        let rootfs = bundle.join("rootfs");
        let mut mounted = None;
        if !req.rootfs.is_empty() {
            let ms: Vec<Mount> = req
                .rootfs
                .iter()
                .map(|m| Mount {
                    kind: &m.type_,
                    source: &m.source,
                    options: &m.options,
                })
                .collect();
            if let Err(e) = mounts::mount_all(&ms, &rootfs) {
                let _ = std::fs::remove_dir_all(&pl.workdir);
                return Err(fail("rootfs", &e));
            }
            mounted = Some(rootfs.clone());
        }
        let undo = |sup: Option<&mut Supervisor>| {
            if let Some(s) = sup {
                s.abandon();
            }
            if let Some(r) = &mounted {
                mounts::unmount_all(r);
            }
            let _ = std::fs::remove_dir_all(&pl.workdir);
        };
        let paths = StdioPaths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        let stdio = match ProcStdio::open(&paths, &req.id, &self.shim.namespace) {
            Ok(s) => s,
            Err(e) => {
                undo(None);
                return Err(fail("stdio", &e));
            }
        };
        let cfg = Config {
            id: req.id.clone(),
            bundle: bundle.clone(),
            runtime: pl.runtime.clone(),
            runtime_root: pl.root.clone(),
            terminal: req.terminal,
            stdin: !req.stdin.is_empty(),
            // containerd's stdio is the FIFOs above; the supervisor's json-file log
            // has no reader here.
            log: LogSection {
                path: PathBuf::from("/dev/null"),
                max_size: 0,
                max_files: 1,
            },
            restart: RestartSection::default(),
            healthcheck: None,
            exit_hook: None,
            start: false,
            relays: Vec::new(),
        };
        let mut sup = match Supervisor::new(cfg, &pl.workdir) {
            Ok(s) => s,
            Err(e) => {
                undo(None);
                return Err(fail("supervisor", &e));
            }
        };
        // `runtime delete` after the exit: the loop starts it once Wait has its answer.
        sup.defer_runtime_delete();
        // The state is the shim's (and containerd's): no status.json written at each
        // state change, on the path of the Create, Start and Wait replies.
        sup.no_status_file();
        crate::debug!(
            "create {}: rootfs and stdio ready after {:?}",
            req.id,
            t0.elapsed()
        );
        let pid = match sup.launch() {
            Ok(p) => p as u32,
            Err(e) => {
                undo(Some(&mut sup));
                return Err(status(Code::UNKNOWN, format!("create {}: {e}", req.id)));
            }
        };
        crate::debug!(
            "create {}: runtime create done after {:?}",
            req.id,
            t0.elapsed()
        );
        let mut init = Proc::new(paths.clone(), stdio);
        init.pid = pid;
        let c = Container {
            id: req.id.clone(),
            bundle: bundle.clone(),
            workdir: pl.workdir.clone(),
            rootfs: mounted,
            sup,
            init,
            execs: Default::default(),
            paused: false,
            rt: RtCmd {
                bin: pl.runtime.clone(),
                root: pl.root.clone(),
                log: pl.workdir.join("runtime.log"),
                id: req.id.clone(),
            },
            cleanup: Cleanup::NotDue,
            removing_workdir: false,
            unmounting_rootfs: false,
        };
        self.shim.events.publish(Event::Create(ev::TaskCreate {
            container_id: req.id.clone(),
            bundle: req.bundle.clone(),
            rootfs: req.rootfs.clone(),
            io: Some(ev::TaskIO {
                stdin: paths.stdin,
                stdout: paths.stdout,
                stderr: paths.stderr,
                terminal: paths.terminal,
                ..Default::default()
            })
            .into(),
            pid,
            ..Default::default()
        }));
        Ok(c)
    }
}

type Exit = (
    u32,
    containerd_shim_protos::protobuf::well_known_types::timestamp::Timestamp,
);

fn state_of<'a>(
    c: &'a Container,
    exec_id: &str,
) -> (TaskStatus, u32, Option<&'a Exit>, &'a StdioPaths) {
    if exec_id.is_empty() {
        let st = match c.sup.status.status.as_str() {
            _ if c.init.exit.is_some() => TaskStatus::STOPPED,
            "created" => TaskStatus::CREATED,
            "running" if c.paused => TaskStatus::PAUSED,
            "running" => TaskStatus::RUNNING,
            _ => TaskStatus::STOPPED,
        };
        return (st, c.init.pid, c.init.exit.as_ref(), &c.init.paths);
    }
    match c.execs.get(exec_id) {
        Some(p) => {
            let st = if p.exit.is_some() {
                TaskStatus::STOPPED
            } else if p.pid != 0 {
                TaskStatus::RUNNING
            } else {
                TaskStatus::CREATED
            };
            (st, p.pid, p.exit.as_ref(), &p.paths)
        }
        None => (TaskStatus::UNKNOWN, 0, None, &c.init.paths),
    }
}

impl Task for Service {
    fn state(
        &self,
        _ctx: &TtrpcContext,
        req: api::StateRequest,
    ) -> ttrpc::Result<api::StateResponse> {
        crate::debug!("State {} {}: request", req.id, req.exec_id);
        let mut st = self.shim.lock();
        let c = container(&mut st, &req.id)?;
        if !req.exec_id.is_empty() && !c.execs.contains_key(&req.exec_id) {
            return Err(not_found(&format!("exec {}", req.exec_id)));
        }
        let (s, pid, exit, paths) = state_of(c, &req.exec_id);
        Ok(api::StateResponse {
            id: if req.exec_id.is_empty() {
                req.id.clone()
            } else {
                req.exec_id.clone()
            },
            bundle: c.bundle.display().to_string(),
            pid,
            status: s.into(),
            stdin: paths.stdin.clone(),
            stdout: paths.stdout.clone(),
            stderr: paths.stderr.clone(),
            terminal: paths.terminal,
            exit_status: exit.map(|e| e.0).unwrap_or(0),
            exited_at: exit.map(|e| e.1.clone()).into(),
            exec_id: req.exec_id.clone(),
            ..Default::default()
        })
    }

    fn create(
        &self,
        _ctx: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> ttrpc::Result<api::CreateTaskResponse> {
        crate::debug!("Create {}: request", req.id);
        let mut st = self.shim.lock();
        if st.containers.contains_key(&req.id) {
            return Err(status(
                Code::ALREADY_EXISTS,
                format!("container {} exists", req.id),
            ));
        }
        let c = self.do_create(&req)?;
        let pid = c.init.pid;
        st.containers.insert(req.id.clone(), c);
        drop(st);
        self.shim.wake();
        Ok(api::CreateTaskResponse {
            pid,
            ..Default::default()
        })
    }

    fn start(
        &self,
        _ctx: &TtrpcContext,
        req: api::StartRequest,
    ) -> ttrpc::Result<api::StartResponse> {
        crate::debug!("Start {} {}: request", req.id, req.exec_id);
        let mut st = self.shim.lock();
        let c = container(&mut st, &req.id)?;
        let pid = if req.exec_id.is_empty() {
            let pid = c
                .sup
                .start()
                .map_err(|e| status(Code::UNKNOWN, format!("start {}: {e}", req.id)))?
                as u32;
            self.shim.events.publish(Event::Start(ev::TaskStart {
                container_id: req.id.clone(),
                pid,
                ..Default::default()
            }));
            pid
        } else {
            if !c.execs.contains_key(&req.exec_id) {
                return Err(not_found(&format!("exec {}", req.exec_id)));
            }
            let pid = c
                .sup
                .exec_start(&req.exec_id)
                .map_err(|e| status(Code::UNKNOWN, format!("exec {}: {e}", req.exec_id)))?
                as u32;
            if let Some(p) = c.execs.get_mut(&req.exec_id) {
                p.pid = pid;
            }
            self.shim
                .events
                .publish(Event::ExecStarted(ev::TaskExecStarted {
                    container_id: req.id.clone(),
                    exec_id: req.exec_id.clone(),
                    pid,
                    ..Default::default()
                }));
            pid
        };
        drop(st);
        self.shim.wake();
        Ok(api::StartResponse {
            pid,
            ..Default::default()
        })
    }

    fn delete(
        &self,
        _ctx: &TtrpcContext,
        req: api::DeleteRequest,
    ) -> ttrpc::Result<api::DeleteResponse> {
        crate::debug!("Delete {} {}: request", req.id, req.exec_id);
        let mut st = self.shim.lock();
        let c = container(&mut st, &req.id)?;
        if !req.exec_id.is_empty() {
            let p = c
                .execs
                .get(&req.exec_id)
                .ok_or_else(|| not_found(&format!("exec {}", req.exec_id)))?;
            if p.pid != 0 && p.exit.is_none() {
                return Err(status(
                    Code::FAILED_PRECONDITION,
                    format!("exec {} is running", req.exec_id),
                ));
            }
            let p = c.execs.remove(&req.exec_id).map(|p| (p.pid, p.exit));
            drop(st);
            trim_heap();
            let (pid, exit) = p.unwrap_or((0, None));
            let (code, at) = exit.unwrap_or((0, now()));
            return Ok(api::DeleteResponse {
                pid,
                exit_status: code,
                exited_at: Some(at).into(),
                ..Default::default()
            });
        }
        if c.init.exit.is_none() {
            if c.sup.status.status != "created" {
                return Err(status(
                    Code::FAILED_PRECONDITION,
                    format!(
                        "container {} is {}: kill it first",
                        req.id, c.sup.status.status
                    ),
                ));
            }
            // Created, never started: the runtime kills its init; collect the exit.
            c.sup.abandon();
            c.cleanup = crate::task::Cleanup::Done(true);
            for _ in 0..200 {
                crate::task::reap_children(&mut st, &self.shim.events);
                let waiting = st
                    .containers
                    .get(&req.id)
                    .is_some_and(|c| c.init.exit.is_none());
                if !waiting {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        // The loop's cleanup after the exit (task::Cleanup) must be over.
        crate::debug!("Delete {}: waiting for the cleanup", req.id);
        loop {
            let c = container(&mut st, &req.id)?;
            match c.cleanup {
                Cleanup::Due | Cleanup::Deleting(_) => st = self.shim.wait_exit(st),
                _ if c.removing_workdir || c.unmounting_rootfs => st = self.shim.wait_exit(st),
                Cleanup::Done(true) => break,
                Cleanup::NotDue | Cleanup::Done(false) => {
                    // The runtime logs into the work directory, which the exit's
                    // cleanup may have removed.
                    let _ = std::fs::create_dir_all(&c.workdir);
                    if let Err(e) = c.rt.force_delete() {
                        crate::debug!("delete {}: {e}", req.id);
                    }
                    break;
                }
            }
        }
        crate::debug!("Delete {}: cleanup done", req.id);
        let Some(mut c) = st.containers.remove(&req.id) else {
            return Err(not_found(&req.id));
        };
        drop(st);
        crate::debug!("Delete {}: unlocked", req.id);
        c.init.stdio.close_output();
        for p in c.execs.values_mut() {
            p.stdio.close_output();
        }
        crate::debug!("Delete {}: output closed", req.id);
        if let Some(r) = &c.rootfs {
            mounts::unmount_all(r);
        }
        let _ = std::fs::remove_dir_all(&c.workdir);
        crate::debug!("Delete {}: workdir removed", req.id);
        let _ = std::fs::remove_file(c.bundle.join(layout::PLACEMENT_FILE));
        crate::debug!("Delete {}: files removed", req.id);
        let (code, at) = c.init.exit.clone().unwrap_or((137, now()));
        let c_pid = c.init.pid;
        self.shim.events.publish(Event::Delete(ev::TaskDelete {
            container_id: req.id.clone(),
            pid: c.init.pid,
            exit_status: code,
            exited_at: Some(at.clone()).into(),
            ..Default::default()
        }));
        self.shim.wake();
        crate::debug!("Delete {}: reply", req.id);
        // Waiters on this container learn that it is gone.
        self.shim.exited.notify_all();
        drop(c);
        trim_heap();
        Ok(api::DeleteResponse {
            pid: c_pid,
            exit_status: code,
            exited_at: Some(at).into(),
            ..Default::default()
        })
    }

    fn pids(&self, _ctx: &TtrpcContext, req: api::PidsRequest) -> ttrpc::Result<api::PidsResponse> {
        let mut st = self.shim.lock();
        let c = container(&mut st, &req.id)?;
        let pids =
            c.rt.ps()
                .map_err(|e| status(Code::UNKNOWN, e.to_string()))?;
        let processes = pids
            .into_iter()
            .map(|pid| {
                let exec = c
                    .execs
                    .iter()
                    .find(|(_, p)| p.pid == pid && p.exit.is_none());
                let info = exec.and_then(|(sid, _)| {
                    let d = ProcessDetails {
                        exec_id: sid.clone(),
                        ..Default::default()
                    };
                    Some(Any {
                        type_url: "containerd.runc.v1.ProcessDetails".into(),
                        value: d.write_to_bytes().ok()?,
                        ..Default::default()
                    })
                });
                ProcessInfo {
                    pid,
                    info: info.into(),
                    ..Default::default()
                }
            })
            .collect();
        Ok(api::PidsResponse {
            processes,
            ..Default::default()
        })
    }

    fn pause(&self, _ctx: &TtrpcContext, req: api::PauseRequest) -> ttrpc::Result<Empty> {
        let mut st = self.shim.lock();
        let c = container(&mut st, &req.id)?;
        c.rt.pause()
            .map_err(|e| status(Code::UNKNOWN, e.to_string()))?;
        c.paused = true;
        self.shim.events.publish(Event::Paused(ev::TaskPaused {
            container_id: req.id.clone(),
            ..Default::default()
        }));
        Ok(Empty::new())
    }

    fn resume(&self, _ctx: &TtrpcContext, req: api::ResumeRequest) -> ttrpc::Result<Empty> {
        let mut st = self.shim.lock();
        let c = container(&mut st, &req.id)?;
        c.rt.resume()
            .map_err(|e| status(Code::UNKNOWN, e.to_string()))?;
        c.paused = false;
        self.shim.events.publish(Event::Resumed(ev::TaskResumed {
            container_id: req.id.clone(),
            ..Default::default()
        }));
        Ok(Empty::new())
    }

    fn checkpoint(
        &self,
        _ctx: &TtrpcContext,
        _req: api::CheckpointTaskRequest,
    ) -> ttrpc::Result<Empty> {
        Err(status(
            Code::UNIMPLEMENTED,
            "checkpoint is not supported by containerd-shim-berth-v2 (berth-runtime has no checkpoint/restore)",
        ))
    }

    fn kill(&self, _ctx: &TtrpcContext, req: api::KillRequest) -> ttrpc::Result<Empty> {
        crate::debug!("Kill {} {}: request", req.id, req.exec_id);
        let mut st = self.shim.lock();
        let c = container(&mut st, &req.id)?;
        let signal = req.signal as i32;
        if req.exec_id.is_empty() {
            if c.init.exit.is_some() {
                return Err(not_found(&format!("process {}: already finished", req.id)));
            }
            c.sup
                .kill(signal, req.all)
                .map_err(|e| status(Code::UNKNOWN, format!("kill {}: {e}", req.id)))?;
        } else {
            let p = proc_of(c, &req.exec_id)?;
            if p.pid == 0 || p.exit.is_some() {
                return Err(not_found(&format!("exec {}: not running", req.exec_id)));
            }
            sys::kill(p.pid as i32, signal);
        }
        Ok(Empty::new())
    }

    fn exec(&self, _ctx: &TtrpcContext, req: api::ExecProcessRequest) -> ttrpc::Result<Empty> {
        let mut st = self.shim.lock();
        let c = container(&mut st, &req.id)?;
        if c.execs.contains_key(&req.exec_id) {
            return Err(status(
                Code::ALREADY_EXISTS,
                format!("exec {} exists", req.exec_id),
            ));
        }
        if c.init.exit.is_some() {
            return Err(status(
                Code::FAILED_PRECONDITION,
                format!("container {} has exited", req.id),
            ));
        }
        let spec = req
            .spec
            .as_ref()
            .map(|a| a.value.as_slice())
            .unwrap_or_default();
        if serde_json::from_slice::<serde_json::Value>(spec).is_err() {
            return Err(status(
                Code::INVALID_ARGUMENT,
                "exec: the process spec is not OCI process JSON",
            ));
        }
        let path = c.workdir.join(format!("exec-{}.json", req.exec_id));
        std::fs::write(&path, spec)
            .map_err(|e| status(Code::INTERNAL, format!("writing {}: {e}", path.display())))?;
        let paths = StdioPaths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        let stdio = ProcStdio::open(&paths, &req.id, &self.shim.namespace)
            .map_err(|e| status(Code::INTERNAL, format!("exec stdio: {e}")))?;
        c.sup
            .exec_create(&req.exec_id, &path, req.terminal, !req.stdin.is_empty())
            .map_err(|e| status(Code::INVALID_ARGUMENT, format!("exec {}: {e}", req.exec_id)))?;
        c.execs.insert(req.exec_id.clone(), Proc::new(paths, stdio));
        self.shim
            .events
            .publish(Event::ExecAdded(ev::TaskExecAdded {
                container_id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                ..Default::default()
            }));
        Ok(Empty::new())
    }

    fn resize_pty(&self, _ctx: &TtrpcContext, req: api::ResizePtyRequest) -> ttrpc::Result<Empty> {
        let mut st = self.shim.lock();
        let c = container(&mut st, &req.id)?;
        let sid = (!req.exec_id.is_empty()).then_some(req.exec_id.as_str());
        c.sup
            .resize(
                sid,
                req.height.min(u16::MAX as u32) as u16,
                req.width.min(u16::MAX as u32) as u16,
            )
            .map_err(|e| status(Code::FAILED_PRECONDITION, format!("resize: {e}")))?;
        Ok(Empty::new())
    }

    fn close_io(&self, _ctx: &TtrpcContext, req: api::CloseIORequest) -> ttrpc::Result<Empty> {
        let mut st = self.shim.lock();
        let c = container(&mut st, &req.id)?;
        let sid = (!req.exec_id.is_empty()).then_some(req.exec_id.as_str());
        proc_of(c, &req.exec_id)?;
        if req.stdin {
            // What containerd wrote before closing still goes in, then EOF.
            c.pump_stdin(sid);
            c.sup.stdin_eof(sid);
            if let Ok(p) = proc_of(c, &req.exec_id) {
                p.stdio.stdin = None;
            }
        }
        drop(st);
        self.shim.wake();
        Ok(Empty::new())
    }

    fn update(&self, _ctx: &TtrpcContext, req: api::UpdateTaskRequest) -> ttrpc::Result<Empty> {
        let mut st = self.shim.lock();
        let c = container(&mut st, &req.id)?;
        let res = req
            .resources
            .as_ref()
            .map(|a| a.value.as_slice())
            .unwrap_or_default();
        if serde_json::from_slice::<serde_json::Value>(res).is_err() {
            return Err(status(
                Code::INVALID_ARGUMENT,
                "update: resources are not OCI LinuxResources JSON",
            ));
        }
        c.rt.update(res)
            .map_err(|e| status(Code::UNKNOWN, e.to_string()))?;
        Ok(Empty::new())
    }

    fn wait(&self, _ctx: &TtrpcContext, req: api::WaitRequest) -> ttrpc::Result<api::WaitResponse> {
        crate::debug!("Wait {} {}: request", req.id, req.exec_id);
        let mut st = self.shim.lock();
        loop {
            let c = container(&mut st, &req.id)?;
            let p = proc_of(c, &req.exec_id)?;
            if let Some((code, at)) = &p.exit {
                crate::debug!("Wait {} {}: reply", req.id, req.exec_id);
                return Ok(api::WaitResponse {
                    exit_status: *code,
                    exited_at: Some(at.clone()).into(),
                    ..Default::default()
                });
            }
            st = self.shim.wait_exit(st);
        }
    }

    fn stats(
        &self,
        _ctx: &TtrpcContext,
        req: api::StatsRequest,
    ) -> ttrpc::Result<api::StatsResponse> {
        let pid = {
            let mut st = self.shim.lock();
            let c = container(&mut st, &req.id)?;
            if c.init.exit.is_some() {
                return Err(not_found(&format!("container {}: not running", req.id)));
            }
            c.init.pid
        };
        let any =
            stats::collect(pid as i32).map_err(|e| status(Code::UNKNOWN, format!("stats: {e}")))?;
        Ok(api::StatsResponse {
            stats: Some(any).into(),
            ..Default::default()
        })
    }

    fn connect(
        &self,
        _ctx: &TtrpcContext,
        req: api::ConnectRequest,
    ) -> ttrpc::Result<api::ConnectResponse> {
        let mut st = self.shim.lock();
        let task_pid = container(&mut st, &req.id).map(|c| c.init.pid).unwrap_or(0);
        Ok(api::ConnectResponse {
            shim_pid: std::process::id(),
            task_pid,
            version: VERSION.into(),
            ..Default::default()
        })
    }

    fn shutdown(&self, _ctx: &TtrpcContext, req: api::ShutdownRequest) -> ttrpc::Result<Empty> {
        crate::debug!("Shutdown {} {}: request", req.id, "");
        let mut st = self.shim.lock();
        if !st.containers.is_empty() && !req.now {
            return Ok(Empty::new());
        }
        st.shutdown = true;
        drop(st);
        self.shim.wake();
        Ok(Empty::new())
    }
}

/// Is `p` one of ours (for the bundle cleanup of `delete`).
pub fn read_placement(bundle: &Path) -> Option<Placement> {
    serde_json::from_slice(&std::fs::read(bundle.join(layout::PLACEMENT_FILE)).ok()?).ok()
}
