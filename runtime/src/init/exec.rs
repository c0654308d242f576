//! The child side of `exec`: a clone of the runtime that joins the running
//! container's namespaces and becomes the new process.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use oci_spec::runtime::{LinuxNamespaceType, Process};

use super::channel::{Channel, ToChild, ToParent};
use super::namespaces::NsPlan;
use super::{console, lsm, process};
use crate::error::{Error, Result, SysContext};

pub struct ExecConfig<'a> {
    pub process: &'a Process,
    /// The container's namespaces (all joined; pid and time by the parent).
    pub plan: &'a NsPlan,
    pub console: Option<OwnedFd>,
    pub preserve_fds: u32,
    /// The container's seccomp profile applies to exec'd processes too.
    pub seccomp: Option<crate::seccomp::Filter>,
    /// The process moves itself into the container's cgroup (see
    /// [`crate::cgroups::Cgroup::join_self`]); otherwise the parent moves it.
    pub join_cgroup: Option<(&'a crate::cgroups::Cgroup, super::SelfJoin)>,
}

pub fn child_main(cfg: &mut ExecConfig, chan: Channel) -> ! {
    crate::logging::silence();
    let mut own = vec![chan.as_fd().as_raw_fd()];
    own.extend(cfg.console.as_ref().map(|c| c.as_raw_fd()));
    own.extend(cfg.plan.joins.iter().map(|j| j.fd.as_raw_fd()));
    crate::sys::fds::close_all_except(cfg.preserve_fds, &own);
    let _ = nix::sys::prctl::set_dumpable(false);
    let joined = match cfg.join_cgroup {
        Some((cg, j)) => cg.join_self(j.in_unified).map_err(Error::from),
        None => Ok(()),
    };
    let prepared = match joined.and_then(|()| setup(cfg, &chan)) {
        Ok(p) => p,
        Err(e) => {
            let _ = chan.send(&ToParent::Failed(e.into()));
            super::exit(255)
        }
    };
    // The channel is close-on-exec: the parent sees EOF when exec succeeds.
    let e = prepared.exec();
    let _ = chan.send(&ToParent::Failed(e));
    super::exit(255)
}

fn setup(cfg: &mut ExecConfig, chan: &Channel) -> Result<super::Prepared> {
    match chan.recv::<ToChild>() {
        Ok(ToChild::Hello { .. }) => {}
        Ok(other) => {
            return Err(Error::Invalid(format!(
                "exec: unexpected message {other:?}"
            )))
        }
        Err(_) => super::exit(255),
    }
    cfg.plan
        .join(|t| !matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time))?;
    let in_userns = cfg.plan.joins_type(LinuxNamespaceType::User);
    if in_userns {
        super::become_ns_root()?;
    }
    // Joining the mount namespace put us at its root: the container's.
    nix::unistd::chdir("/").ctx(|| "chdir /")?;
    let p = cfg.process;
    if let Some(sock) = cfg.console.take() {
        nix::unistd::setsid().ctx(|| "setsid")?;
        console::setup(p, &sock, false)?;
    }
    if let Some(adj) = p.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .ctx(|| format!("set oom_score_adj {adj}"))?;
    }
    if let Some(l) = p.rlimits() {
        process::set_rlimits(l)?;
    }
    if let Some(a) = p.apparmor_profile().as_deref().filter(|a| !a.is_empty()) {
        lsm::apply_apparmor(a)?;
    }
    if let Some(l) = p.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        lsm::apply_selinux(l)?;
    }
    let (prepared, notify) = super::prepare_process(
        p,
        cfg.preserve_fds,
        &[],
        in_userns,
        cfg.seccomp.take(),
        chan,
    )?;
    let fds: Vec<i32> = notify.iter().map(|f| f.as_raw_fd()).collect();
    chan.send_with_fds(&ToParent::Ready, &fds)
        .map_err(|e| Error::Invalid(format!("exec: {e}")))?;
    match chan.recv::<ToChild>() {
        Ok(ToChild::Proceed) => Ok(prepared),
        Ok(other) => Err(Error::Invalid(format!(
            "exec: unexpected message {other:?}"
        ))),
        Err(_) => super::exit(255),
    }
}
