//! cgroup manager with the semantics of runc's cgroupfs driver, for cgroup
//! v1, hybrid (v1 controllers plus a process-tracking cgroup2 mount) and
//! pure v2 hosts.
//!
//! [`Cgroup::resolve`] turns `linux.cgroupsPath` into one directory per
//! hierarchy without touching anything; the value is serialisable so the
//! runtime keeps it in its state file and later pauses, signals, inspects and
//! removes the cgroup without resolving again. The host layout is read once
//! per process (statfs + /proc/self/mountinfo).

mod bpf;
mod devices;
mod error;
mod fsutil;
mod host;
mod path;
mod resources;
pub mod stats;
mod systemd;
#[cfg(test)]
mod tests;
mod v1;
mod v2;

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

#[cfg(test)]
pub use devices::default_allowed_devices;
pub use error::CgroupError;
pub use host::{host_info, CgroupMode};

use error::Result;
use path::Inner;
use resources::Res;

/// The container's directory in one mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hierarchy {
    /// v1: the hierarchy's controllers ("cpu", "cpuacct", "name=systemd"...);
    /// empty for cgroup2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controllers: Vec<String>,
    pub mountpoint: PathBuf,
    pub path: PathBuf,
}

impl Hierarchy {
    fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// Hierarchies that only track processes; runc joins them best-effort.
    fn is_auxiliary(&self) -> bool {
        self.controllers
            .iter()
            .all(|c| c.starts_with("name=") || c == "misc")
    }
}

/// A container's cgroup, resolved in every hierarchy of the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    mode: CgroupMode,
    /// v1 and hybrid: one entry per mounted v1 hierarchy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    hierarchies: Vec<Hierarchy>,
    /// v2: the container's cgroup. Hybrid: its mirror in the cgroup2 mount,
    /// which tracks the processes (and offers cgroup.kill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unified: Option<Hierarchy>,
    /// The systemd driver's unit; kept in the state file so that `update`
    /// and `delete` talk to systemd whatever flags they are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    systemd: Option<SystemdScope>,
}

/// A container's transient unit and the slice it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SystemdScope {
    pub unit: String,
    pub slice: String,
}

enum Freezer<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

impl Cgroup {
    /// Resolve paths (no side effects). `systemd` selects the systemd driver.
    pub fn resolve(cgroups_path: Option<&Path>, id: &str, systemd: bool) -> Result<Cgroup> {
        let mut scope = None;
        let inner = if systemd {
            let unit = path::SystemdUnit::parse(cgroups_path, id)?;
            if !host::systemd_running() {
                return Err(CgroupError::SystemdUnavailable);
            }
            scope = Some(SystemdScope {
                unit: unit.unit_name(),
                slice: unit.slice.clone(),
            });
            Inner::Absolute(unit.cgroup_path()?)
        } else {
            path::inner_from(cgroups_path, id)?
        };
        let layout = host::layout()?;
        let own = match inner {
            Inner::Relative(_) => Some(host::own_cgroups()?),
            Inner::Absolute(_) => None,
        };
        let mut cg = path::place(layout, &inner, own.as_ref());
        cg.systemd = scope;
        Ok(cg)
    }

    /// The systemd unit, when the systemd driver manages this cgroup.
    pub fn systemd_unit(&self) -> Option<&str> {
        self.systemd.as_ref().map(|s| s.unit.as_str())
    }

    /// systemd driver: start the transient unit holding `pid` with the
    /// resources systemd knows, and wait until systemd has made it. The
    /// cgroupfs part ([`Cgroup::create`], [`Cgroup::apply`]) comes after,
    /// so that what systemd writes when it realises the unit does not
    /// override it. Without the driver: nothing.
    pub fn start_unit(&self, pid: i32, r: &LinuxResources) -> Result<()> {
        let Some(s) = &self.systemd else {
            return Ok(());
        };
        let res = Res::from_spec(r)?;
        let props = systemd::unit_properties(&s.unit, &s.slice, pid, self.mode, &res);
        systemd::Systemd::connect()?.start_unit(&s.unit, props)
    }

    /// systemd driver: SetUnitProperties with the resources systemd knows
    /// (`update`, before [`Cgroup::apply`] writes them all through cgroupfs).
    pub fn set_unit_properties(&self, r: &LinuxResources) -> Result<()> {
        let Some(s) = &self.systemd else {
            return Ok(());
        };
        let res = Res::from_spec(r)?;
        let props = systemd::resource_properties(self.mode, &res);
        systemd::Systemd::connect()?.set_properties(&s.unit, props)
    }

    /// systemd driver: stop (and reset) the unit. Without it: nothing.
    pub fn stop_unit(&self) -> Result<()> {
        let Some(s) = &self.systemd else {
            return Ok(());
        };
        systemd::Systemd::connect()?.stop_unit(&s.unit)
    }

    #[cfg(test)]
    pub fn mode(&self) -> CgroupMode {
        self.mode
    }

    /// The directory that stands for the cgroup: the v2 cgroup, or on v1 the
    /// devices one (as runc), else freezer, memory, or the first.
    pub fn path(&self) -> &Path {
        if self.mode == CgroupMode::V2 {
            if let Some(u) = &self.unified {
                return &u.path;
            }
        }
        ["devices", "freezer", "memory", "pids", "cpu"]
            .iter()
            .find_map(|c| self.v1_dir(c))
            .or_else(|| self.hierarchies.first().map(|h| h.path.as_path()))
            .or_else(|| self.unified.as_ref().map(|u| u.path.as_path()))
            .unwrap_or(Path::new(""))
    }

    /// runc's `cgroup_paths`: controller (or "name=..."; "" for cgroup2) →
    /// directory.
    #[cfg(test)]
    pub fn paths(&self) -> std::collections::BTreeMap<String, PathBuf> {
        let mut m = std::collections::BTreeMap::new();
        for h in &self.hierarchies {
            for c in &h.controllers {
                m.insert(c.clone(), h.path.clone());
            }
        }
        if let Some(u) = &self.unified {
            m.insert(String::new(), u.path.clone());
        }
        m
    }

    fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.hierarchies
            .iter()
            .find(|h| h.has(controller))
            .map(|h| h.path.as_path())
    }

    fn v2(&self) -> Result<&Hierarchy> {
        self.unified
            .as_ref()
            .ok_or_else(|| CgroupError::NoCgroupFs("no cgroup2 directory recorded".into()))
    }

    /// A state file naming a hierarchy root (corrupted or hand-edited) must
    /// never make us signal every process or remove every cgroup.
    fn refuse_root(&self, what: &str) -> Result<()> {
        for h in self.hierarchies.iter().chain(self.unified.iter()) {
            if path::clean(&h.path.to_string_lossy())
                == path::clean(&h.mountpoint.to_string_lossy())
            {
                return Err(CgroupError::InvalidPath {
                    path: h.path.display().to_string(),
                    reason: format!("refusing to {what} a root cgroup"),
                });
            }
        }
        Ok(())
    }

    fn dirs(&self) -> Vec<&Path> {
        let mut v: Vec<&Path> = Vec::new();
        for p in self
            .hierarchies
            .iter()
            .chain(self.unified.iter())
            .map(|h| h.path.as_path())
        {
            if !v.contains(&p) {
                v.push(p);
            }
        }
        v
    }

    /// mkdir in every hierarchy (and the cpuset/subtree_control preparation).
    /// On failure, the directories this call created are removed again.
    pub fn create(&self) -> Result<()> {
        let mut created = Vec::new();
        let r = self.create_dirs(&mut created);
        if r.is_err() {
            for d in created.iter().rev() {
                let _ = std::fs::remove_dir(d);
            }
        }
        r
    }

    fn create_dirs(&self, created: &mut Vec<PathBuf>) -> Result<()> {
        if self.mode == CgroupMode::V2 {
            return v2::create(self.v2()?, created);
        }
        for h in &self.hierarchies {
            let r = if h.has("cpuset") {
                let before = created.len();
                let r =
                    fsutil::mkdir_below(&h.mountpoint, &h.path, created, v1::cpuset_copy_if_empty);
                // the parents made here hand their cpus and mems to every
                // later container below them at its mkdir
                for d in created[before..].iter().filter(|d| **d != h.path) {
                    v1::cpuset_clone_children(d);
                }
                r
            } else {
                fsutil::mkdir_below(&h.mountpoint, &h.path, created, |_, _| Ok(()))
            };
            match r {
                Err(e) if h.is_auxiliary() => log::warn!("cgroup {}: {e}", h.controllers.join(",")),
                r => r?,
            }
        }
        if let Some(u) = &self.unified {
            // Hybrid: the cgroup2 mirror only tracks processes; runc ignores
            // failures there.
            if let Err(e) = fsutil::mkdir_below(&u.mountpoint, &u.path, created, |_, _| Ok(())) {
                log::warn!("cgroup2 (hybrid): {e}");
            }
        }
        Ok(())
    }

    /// Apply all of linux.resources (also used by `update`). `devices: None`
    /// means "no rules", i.e. deny-all plus the defaults, so `update` must pass
    /// the container's device rules along with the new limits.
    ///
    /// On v2, a refused eBPF device filter is reported as
    /// [`CgroupError::DeviceFilter`] after everything else has been applied.
    pub fn apply(&self, r: &LinuxResources) -> Result<()> {
        self.refuse_root("configure")?;
        let res = Res::from_spec(r)?;
        match self.mode {
            CgroupMode::V2 => v2::apply(self.v2()?, &res),
            _ => v1::apply(self, &res),
        }
    }

    /// Move a process in (write to cgroup.procs in every hierarchy).
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        self.add_pid_at(pid, false, |_| "")
    }

    /// As [`Cgroup::add_pid`], for a process clone3 may already have
    /// started in the cgroup2 directory (`in_unified`).
    pub fn add_pid_placed(&self, pid: i32, in_unified: bool) -> Result<()> {
        self.add_pid_at(pid, in_unified, |_| "")
    }

    /// `exec --cgroup`: move a process into existing sub-cgroups of the
    /// container's cgroup. Each entry is "path" (every hierarchy) or
    /// "controller[,controller]:path" (those v1 controllers); on v2 only a
    /// plain path is accepted.
    pub fn add_pid_sub(&self, pid: i32, subs: &[String]) -> Result<()> {
        let mut all = String::new();
        let mut by_controller: HashMap<&str, String> = HashMap::new();
        for s in subs {
            let (ctrls, p) = match s.split_once(':') {
                Some((c, p)) => (Some(c), p),
                None => (None, s.as_str()),
            };
            if p.split('/').any(|c| c == "..") {
                return Err(CgroupError::Invalid(format!(
                    "bad sub cgroup path {s:?}: it must stay inside the container's cgroup"
                )));
            }
            let p = path::clean(p);
            match ctrls {
                None => all = p,
                Some(_) if self.mode == CgroupMode::V2 => {
                    return Err(CgroupError::Invalid(format!(
                        "sub cgroup {s:?}: controller-specific paths need cgroup v1"
                    )))
                }
                Some(c) => {
                    for c in c.split(',') {
                        by_controller.insert(c, p.clone());
                    }
                }
            }
        }
        self.add_pid_at(pid, false, |h| {
            h.controllers
                .iter()
                .find_map(|c| by_controller.get(c.as_str()))
                .unwrap_or(&all)
                .as_str()
        })
    }

    fn add_pid_at<'s>(
        &self,
        pid: i32,
        in_unified: bool,
        sub: impl Fn(&Hierarchy) -> &'s str,
    ) -> Result<()> {
        for h in &self.hierarchies {
            match fsutil::write_pid(&path::join(&h.path, sub(h)), pid) {
                Err(e) if h.is_auxiliary() => log::warn!("{e}"),
                r => r?,
            }
        }
        if let (Some(u), false) = (&self.unified, in_unified) {
            match fsutil::write_pid(&path::join(&u.path, sub(u)), pid) {
                Err(e) if self.mode == CgroupMode::Hybrid => log::warn!("cgroup2 (hybrid): {e}"),
                r => r?,
            }
        }
        Ok(())
    }

    /// The cgroup2 directory (pure v2, or the hybrid host's process-tracking
    /// mirror), opened for clone3's CLONE_INTO_CGROUP: a child started there
    /// needs no migration, whose write lock waits for an RCU grace period
    /// (milliseconds, the largest part of `create` when measured).
    pub fn open_unified(&self) -> Option<OwnedFd> {
        let u = self.unified.as_ref()?;
        nix::fcntl::open(
            &u.path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ok()
    }

    /// Move the calling process into every v1 hierarchy, and into cgroup2
    /// unless it was started there (`in_unified`). The caller must be
    /// single-threaded (a fresh clone) and still see the host's cgroup mounts
    /// with the privileges to write there (no new user namespace yet).
    ///
    /// On v1 a thread that writes "0" to `tasks` moves itself without the
    /// global threadgroup lock a write to `cgroup.procs` takes (the kernel
    /// skips it for the current thread); for a single-threaded process that
    /// thread is the whole process. cgroup2 has no such path (cgroup.threads
    /// only works inside a threaded subtree), so it gets cgroup.procs.
    pub fn join_self(&self, in_unified: bool) -> Result<()> {
        for h in &self.hierarchies {
            match fsutil::write(&h.path, "tasks", "0") {
                Err(e) if h.is_auxiliary() => log::warn!("{e}"),
                r => r?,
            }
        }
        if let (Some(u), false) = (&self.unified, in_unified) {
            match fsutil::write(&u.path, "cgroup.procs", "0") {
                Err(e) if self.mode == CgroupMode::Hybrid => log::warn!("cgroup2 (hybrid): {e}"),
                r => r?,
            }
        }
        Ok(())
    }

    /// Pids of all processes in the container's cgroup, sub-cgroups included.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut out = Vec::new();
        if self.path().as_os_str().is_empty() {
            return Ok(out);
        }
        fsutil::procs_recursive(self.path(), &mut out)?;
        Ok(out)
    }

    fn freezer(&self) -> Result<Freezer<'_>> {
        if self.mode == CgroupMode::V2 {
            return Ok(Freezer::V2(&self.v2()?.path));
        }
        self.v1_dir("freezer")
            .map(Freezer::V1)
            .ok_or_else(|| CgroupError::ControllerUnavailable("freezer".into()))
    }

    /// Freeze and wait until every task is frozen.
    pub fn freeze(&self) -> Result<()> {
        match self.freezer()? {
            Freezer::V1(d) => v1::freeze(d),
            Freezer::V2(d) => v2::freeze(d),
        }
    }

    pub fn thaw(&self) -> Result<()> {
        match self.freezer()? {
            Freezer::V1(d) => fsutil::write(d, "freezer.state", "THAWED"),
            Freezer::V2(d) => v2::thaw(d),
        }
    }

    /// Whether the cgroup itself is frozen (one or two small reads).
    pub fn is_frozen(&self) -> bool {
        match self.freezer() {
            Ok(Freezer::V1(d)) => v1::is_frozen(d),
            Ok(Freezer::V2(d)) => fsutil::read_opt(&d.join("cgroup.freeze"))
                .ok()
                .flatten()
                .is_some_and(|s| s.trim() == "1"),
            Err(_) => false,
        }
    }

    /// Whether processes put here would be frozen, by this cgroup's own
    /// state or an ancestor's: a new init would then hang for ever.
    pub fn is_effectively_frozen(&self) -> bool {
        match self.freezer() {
            Ok(Freezer::V1(d)) => fsutil::read_opt(&d.join("freezer.state"))
                .ok()
                .flatten()
                .is_some_and(|s| s.trim() != "THAWED"),
            Ok(Freezer::V2(d)) => {
                let own = fsutil::read_opt(&d.join("cgroup.freeze"))
                    .ok()
                    .flatten()
                    .is_some_and(|s| s.trim() == "1");
                own || fsutil::read_opt(&d.join("cgroup.events"))
                    .ok()
                    .flatten()
                    .is_some_and(|s| fsutil::keyed_value(&s, "frozen") == Some(1))
            }
            Err(_) => false,
        }
    }

    pub fn stats(&self) -> Result<stats::Stats> {
        match self.mode {
            CgroupMode::V2 => stats::collect_v2(&self.v2()?.path),
            _ => stats::collect_v1(|c| self.v1_dir(c)),
        }
    }

    /// Count of OOM kills so far (0 when unknown).
    pub fn oom_kill_count(&self) -> u64 {
        let (dir, file) = match self.mode {
            CgroupMode::V2 => match &self.unified {
                Some(u) => (u.path.as_path(), "memory.events"),
                None => return 0,
            },
            _ => match self.v1_dir("memory") {
                Some(d) => (d, "memory.oom_control"),
                None => return 0,
            },
        };
        fsutil::read_opt(&dir.join(file))
            .ok()
            .flatten()
            .and_then(|s| fsutil::keyed_value(&s, "oom_kill"))
            .unwrap_or(0)
    }

    /// Send `signal` to every process. SIGKILL uses cgroup.kill where the
    /// kernel has it (v2, and the cgroup2 mirror of hybrid hosts), thaws a
    /// frozen cgroup and waits until it is empty. Other signals are sent
    /// with the cgroup frozen, so that no fork escapes, and the previous
    /// freezer state is restored.
    pub fn kill_all(&self, signal: i32) -> Result<()> {
        if signal <= 0 {
            return Err(CgroupError::Invalid(format!("invalid signal {signal}")));
        }
        self.refuse_root("signal")?;
        if !self.exists() {
            return Ok(());
        }
        if signal == libc::SIGKILL {
            let mut killed = false;
            if let Some(u) = &self.unified {
                match fsutil::write_raw(&u.path.join("cgroup.kill"), "1") {
                    Ok(()) => killed = true,
                    Err(e) if fsutil::is_not_found(&e) => {}
                    Err(e) if self.mode == CgroupMode::Hybrid => {
                        log::debug!("cgroup.kill in {}: {e}", u.path.display())
                    }
                    Err(source) => {
                        return Err(CgroupError::Write {
                            path: u.path.join("cgroup.kill"),
                            value: "1".into(),
                            source,
                        })
                    }
                }
            }
            // On hybrid hosts a process may be missing from the mirror.
            if !(killed && self.mode == CgroupMode::V2) {
                self.signal_each(libc::SIGKILL)?;
            }
            if self.is_frozen() {
                // v1-frozen tasks only act on SIGKILL once thawed.
                self.thaw()?;
            }
            return self.wait_empty(Duration::from_secs(10));
        }
        let was_frozen = self.is_frozen();
        let freeze = !was_frozen && self.freezer().is_ok();
        if freeze {
            if let Err(e) = self.freeze() {
                log::warn!("signalling without freezing first: {e}");
            }
        }
        let r = self.signal_each(signal);
        if freeze {
            self.thaw()?;
        }
        r
    }

    fn signal_each(&self, signal: i32) -> Result<()> {
        for pid in self.pids()? {
            // The raw signal number: 0 and real-time signals have no nix Signal.
            if let Err(e) = crate::sys::signal::kill_raw(pid, signal) {
                if e.raw_os_error() != Some(libc::ESRCH) {
                    return Err(CgroupError::Signal {
                        signal,
                        pid,
                        source: e,
                    });
                }
            }
        }
        Ok(())
    }

    fn wait_empty(&self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let mut last_kill = start;
        let mut delay = Duration::from_micros(500);
        loop {
            let pids = self.pids()?;
            if pids.is_empty() {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(CgroupError::Timeout {
                    what: format!(
                        "the {} remaining processes of {} to exit",
                        pids.len(),
                        self.path().display()
                    ),
                    after: timeout,
                });
            }
            if last_kill.elapsed() >= Duration::from_millis(100) {
                // Children forked while the first pass ran.
                for &pid in &pids {
                    let _ = crate::sys::signal::kill_raw(pid, libc::SIGKILL);
                }
                if self.is_frozen() {
                    let _ = self.thaw();
                }
                last_kill = Instant::now();
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(20));
        }
    }

    /// Remove the cgroup directories (sub-cgroups first, retrying EBUSY
    /// briefly). Missing directories are fine; ancestors are left alone.
    pub fn destroy(&self) -> Result<()> {
        self.refuse_root("remove")?;
        // systemd removes the directories of the hierarchies it manages;
        // the others (v1 cpuset, freezer...) are ours.
        let mut first = self.stop_unit().err();
        for d in self.dirs() {
            if let Err(e) = fsutil::remove_tree(d) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Whether this cgroup "exists" (its main dir is there).
    pub fn exists(&self) -> bool {
        fsutil::exists(self.path())
    }
}

/// A process's cgroup in one mounted hierarchy, as a host directory.
#[derive(Debug, Clone)]
pub struct HierarchyDir {
    pub mountpoint: PathBuf,
    pub dir: PathBuf,
}

/// Where the cgroups of a process are on the host: one entry per mounted
/// v1 hierarchy and the cgroup2 one (on v2 and hybrid hosts).
/// `proc_cgroup` is the text of /proc/PID/cgroup, read outside any cgroup
/// namespace.
pub fn process_dirs(
    proc_cgroup: &str,
) -> Result<(CgroupMode, Vec<HierarchyDir>, Option<HierarchyDir>)> {
    let layout = host::layout()?;
    let own = host::parse_proc_cgroup(proc_cgroup);
    let at = |m: &host::Mount, key: &str| {
        own.get(key).map(|p| HierarchyDir {
            mountpoint: m.mountpoint.clone(),
            dir: m.mountpoint.join(path::under_root(&m.root, p)),
        })
    };
    let v1 = layout
        .v1
        .iter()
        .filter_map(|m| at(m, m.controllers.first()?))
        .collect();
    let unified = layout.unified.as_ref().and_then(|m| at(m, ""));
    Ok((layout.mode, v1, unified))
}

/// Whether the systemd driver can reach systemd here (`features`).
pub fn systemd_reachable() -> bool {
    systemd::reachable()
}
