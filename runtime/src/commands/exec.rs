//! `exec`: run a new process in a running container, in all of its
//! namespaces, with the container's process settings as the base (like
//! runc, inline flags extend them; `--process` replaces them).

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;

use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{Capability, LinuxNamespaceType, Process, Spec};

use crate::cli::{ExecOpts, GlobalOpts};
use crate::container::store::write_pid_file;
use crate::container::{Status, Store};
use crate::error::{Error, Result, SysContext};
use crate::init::channel::{self, ToChild, ToParent};
use crate::init::exec::{self as exec_child, ExecConfig};
use crate::init::namespaces::{self, ChildrenNs, Join, NsPlan};
use crate::init::SelfJoin;
use crate::sys::clone::{self, Forked};
use crate::sys::pidfd::PidFd;

use super::kill::init_pidfd;
use super::run::{recv_fd, wait_foreground};

/// Exit code of a foreground exec that could not run its process.
pub const EXEC_FAILED: i32 = 255;

pub fn run(g: &GlobalOpts, o: &ExecOpts) -> Result<i32> {
    let store = Store::new(&g.root);
    let (state, status) = store.read(&o.id)?;
    match status {
        Status::Stopped => return Err(Error::Invalid("cannot exec in a stopped container".into())),
        Status::Creating => {
            return Err(Error::Invalid(
                "cannot exec in a container that is being created".into(),
            ))
        }
        _ => {}
    }
    if status == Status::Paused && !o.ignore_paused {
        return Err(Error::Invalid(
            "cannot exec in a paused container (use --ignore-paused to override)".into(),
        ));
    }
    let spec = store.read_config(&o.id)?;
    let seccomp = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(|s| crate::seccomp::build_cached(s, store.root()))
        .transpose()?;
    let process = build_process(&spec, o)?;
    let terminal = process.terminal().unwrap_or(false);
    let (console, our_end) = match (terminal, &o.console_socket) {
        (true, Some(p)) => (
            Some(OwnedFd::from(UnixStream::connect(p).ctx(|| {
                format!("connect to console socket {}", p.display())
            })?)),
            None,
        ),
        (true, None) if o.detach => {
            return Err(Error::Invalid(
                "cannot allocate tty if runc will detach without setting console socket".into(),
            ))
        }
        (true, None) => {
            let (a, b) = UnixStream::pair().ctx(|| "socketpair for console")?;
            (Some(OwnedFd::from(a)), Some(b))
        }
        (false, Some(_)) => {
            return Err(Error::Invalid(
                "cannot use console socket if runc will not detach or allocate tty".into(),
            ))
        }
        (false, None) => (None, None),
    };
    let plan = container_namespaces(&spec, state.pid)?;
    // The namespaces are opened; make sure they belong to our init.
    let Some(_init) = init_pidfd(&state)? else {
        return Err(Error::Invalid("cannot exec in a stopped container".into()));
    };
    if !o.detach {
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
    let (parent, child) = channel::pair().ctx(|| "socketpair")?;
    // The process starts on its initial CPUs (inherited from us) until it
    // is in the container's cgroup.
    crate::init::sched::apply_initial_affinity(&process)?;
    let restore = ChildrenNs::save()?;
    plan.join(|t| matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time))?;
    // Into the container's own cgroup (not `--cgroup` sub-cgroups) the
    // process is started by clone3 (cgroup2) and moves itself (v1), which
    // spares the global cgroup lock a migration by the parent waits for.
    let self_join = state.cgroup.as_ref().filter(|_| o.cgroup.is_empty());
    let unified = self_join.and_then(|cg| cg.open_unified());
    let forked = clone::clone3_into(0, unified.as_ref().map(|f| f.as_fd()));
    drop(unified);
    if !matches!(forked, Ok((Forked::Child, _))) {
        restore.restore()?;
    }
    let (pid, pidfd) = match forked.ctx(|| "clone3")? {
        (Forked::Child, in_unified) => {
            drop(parent);
            let mut cfg = ExecConfig {
                process: &process,
                plan: &plan,
                console,
                preserve_fds: o.preserve_fds,
                seccomp,
                join_cgroup: self_join.map(|cg| (cg, SelfJoin { in_unified })),
            };
            exec_child::child_main(&mut cfg, child)
        }
        (Forked::Parent { pid, pidfd }, _) => (pid, PidFd::from_owned(pidfd)),
    };
    drop(child);
    drop(console);
    let fail = |e: Error| {
        let _ = pidfd.kill();
        let _ = waitpid(Pid::from_raw(pid), None);
        e
    };
    // Into the container's cgroup (or the sub-cgroups asked for) before it
    // runs anything.
    if let (Some(cg), None) = (&state.cgroup, self_join) {
        cg.add_pid_sub(pid, &o.cgroup).map_err(|e| fail(e.into()))?;
    }
    log::debug!("exec in {}: process pid {pid}", o.id);
    parent
        .send(&ToChild::Hello { pid })
        .map_err(|e| fail(Error::Invalid(e.to_string())))?;
    loop {
        match parent.recv_with_fds::<ToParent>() {
            Ok((ToParent::SeccompListener, fds)) => {
                let Some(fd) = fds.first() else {
                    return Err(fail(Error::Invalid(
                        "seccomp listener message without fd".into(),
                    )));
                };
                crate::launcher::send_seccomp_fd(&spec, &state, Status::Running, pid, fd)
                    .map_err(fail)?;
                parent
                    .send(&ToChild::SeccompListenerSent)
                    .map_err(|e| fail(Error::Invalid(e.to_string())))?;
            }
            Ok((ToParent::Ready, fds)) => {
                if let Some(fd) = fds.first() {
                    crate::launcher::send_seccomp_fd(&spec, &state, Status::Running, pid, fd)
                        .map_err(fail)?;
                }
                break;
            }
            Ok((ToParent::Failed(e), _)) => return Err(fail(Error::Init(e))),
            Ok((other, _)) => {
                return Err(fail(Error::Invalid(format!(
                    "unexpected message {other:?}"
                ))))
            }
            Err(e) => {
                return Err(fail(Error::Invalid(format!(
                    "exec process died during set-up: {e}"
                ))))
            }
        }
    }
    if let Some(p) = &o.pid_file {
        write_pid_file(p, pid).map_err(fail)?;
    }
    if let Some(p) = &o.pidfd_socket {
        crate::launcher::send_pidfd(p, &pidfd).map_err(fail)?;
    }
    let master = match our_end {
        Some(s) => Some(recv_fd(&s).map_err(fail)?),
        None => None,
    };
    parent
        .send(&ToChild::Proceed)
        .map_err(|e| fail(Error::Invalid(e.to_string())))?;
    // EOF: the channel closed on exec. A message: exec itself failed.
    match parent.recv::<ToParent>() {
        Err(channel::ChannelError::Closed) => {}
        Ok(ToParent::Failed(e)) => {
            let _ = waitpid(Pid::from_raw(pid), None);
            return Err(Error::Init(e));
        }
        Ok(other) => {
            return Err(fail(Error::Invalid(format!(
                "unexpected message {other:?}"
            ))))
        }
        Err(e) => return Err(fail(Error::Invalid(e.to_string()))),
    }
    if o.detach {
        return Ok(0);
    }
    wait_foreground(pid, master.as_ref().map(|m| m.as_fd()))
}

/// The container's namespaces, opened through its init (skipping those we
/// already share).
fn container_namespaces(spec: &Spec, pid: i32) -> Result<NsPlan> {
    let types = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let mut joins = Vec::new();
    for ns in types {
        let name = namespaces::proc_name(ns.typ());
        let theirs = format!("/proc/{pid}/ns/{name}");
        let ours = format!("/proc/self/ns/{name}");
        let (Ok(a), Ok(b)) = (std::fs::metadata(&theirs), std::fs::metadata(&ours)) else {
            return Err(Error::Invalid("cannot exec in a stopped container".into()));
        };
        if a.ino() == b.ino() && a.dev() == b.dev() {
            continue;
        }
        let f = std::fs::File::open(&theirs).ctx(|| format!("open {theirs}"))?;
        joins.push(Join {
            typ: ns.typ(),
            fd: f.into(),
        });
    }
    Ok(NsPlan {
        new: nix::sched::CloneFlags::empty(),
        joins,
    })
}

fn build_process(spec: &Spec, o: &ExecOpts) -> Result<Process> {
    if let Some(path) = &o.process {
        let data = std::fs::read(path).ctx(|| format!("read process file {}", path.display()))?;
        let p: Process = crate::bundle::parse_lenient(&data, |v| {
            // runc runs a process without `user` as 0:0.
            let mut fixed = false;
            if let Some(o) = v.as_object_mut() {
                if !o.contains_key("user") {
                    o.insert("user".into(), serde_json::json!({"uid": 0, "gid": 0}));
                    fixed = true;
                }
            }
            crate::bundle::drop_unknown_capabilities(v)
                | crate::bundle::scheduler_flag_names(v)
                | fixed
        })
        .map_err(|e| Error::Config {
            path: path.clone(),
            msg: format!("invalid process: {e}"),
        })?;
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::Config {
                path: path.clone(),
                msg: "process.args must not be empty".into(),
            });
        }
        return Ok(p);
    }
    if o.command.is_empty() {
        return Err(Error::Invalid(
            "exec: no command given (args or --process)".into(),
        ));
    }
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(o.command.clone()));
    p.set_terminal(Some(o.tty));
    if let Some(cwd) = &o.cwd {
        if !cwd.is_absolute() {
            // runc's words.
            return Err(Error::Invalid(format!(
                "--cwd {:?}: Cwd must be an absolute path",
                cwd.display().to_string()
            )));
        }
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &o.env {
        // A variable given to exec replaces the container's (as runc).
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    let mut user = p.user().clone();
    if let Some(u) = &o.user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        let num = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| Error::Invalid(format!("--user {u:?}: expected uid[:gid] as numbers")))
        };
        user.set_uid(num(uid)?);
        if let Some(g) = gid {
            user.set_gid(num(g)?);
        }
    }
    if !o.additional_gids.is_empty() {
        user.set_additional_gids(Some(o.additional_gids.clone()));
    }
    p.set_user(user);
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(a) = &o.apparmor {
        p.set_apparmor_profile(Some(a.clone()));
    }
    if let Some(l) = &o.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    if !o.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for c in &o.cap {
            let name = if c.to_ascii_uppercase().starts_with("CAP_") {
                c.to_ascii_uppercase()
            } else {
                format!("CAP_{}", c.to_ascii_uppercase())
            };
            // An unknown name is skipped with a warning, as in process.capabilities and
            // as runc does: engines may name capabilities newer than this build.
            let Ok(cap) =
                serde_json::from_value::<Capability>(serde_json::Value::String(name.clone()))
            else {
                log::warn!("ignoring unknown or unavailable capabilities: [{name}]");
                continue;
            };
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
            // Ambient needs inheritable; like runc, only when the spec has some.
            if caps.inheritable().as_ref().is_some_and(|i| !i.is_empty()) {
                caps.set_ambient(add(caps.ambient()));
            }
        }
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}
