//! Which namespaces a container creates and which it joins, and the
//! mechanics of both.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use nix::sched::{setns, unshare, CloneFlags};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::error::{Error, Result, SysContext};

pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The name of a namespace type under /proc/PID/ns.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

pub struct Join {
    pub typ: LinuxNamespaceType,
    pub fd: OwnedFd,
}

/// The namespace plan of one container.
pub struct NsPlan {
    /// Namespaces to create.
    pub new: CloneFlags,
    /// Namespaces to join, opened up front so a bad path fails early.
    pub joins: Vec<Join>,
}

impl NsPlan {
    pub fn from_spec(spec: &Spec) -> Result<NsPlan> {
        let mut plan = NsPlan {
            new: CloneFlags::empty(),
            joins: Vec::new(),
        };
        let namespaces = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        for ns in namespaces {
            match ns.path() {
                None => plan.new |= flag(ns.typ()),
                Some(p) => {
                    let f = File::open(p)
                        .ctx(|| format!("open {} namespace path {}", ns.typ(), p.display()))?;
                    plan.joins.push(Join {
                        typ: ns.typ(),
                        fd: f.into(),
                    });
                }
            }
        }
        Ok(plan)
    }

    pub fn creates(&self, t: LinuxNamespaceType) -> bool {
        self.new.contains(flag(t))
    }

    pub fn joins_type(&self, t: LinuxNamespaceType) -> bool {
        self.joins.iter().any(|j| j.typ == t)
    }

    pub fn has_mount_ns(&self) -> bool {
        self.creates(LinuxNamespaceType::Mount) || self.joins_type(LinuxNamespaceType::Mount)
    }

    pub fn has_user_ns(&self) -> bool {
        self.creates(LinuxNamespaceType::User) || self.joins_type(LinuxNamespaceType::User)
    }

    /// One clone3 with namespace flags suffices (no intermediate process)
    /// unless a user namespace is joined, or a new user namespace must own
    /// namespaces that are joined: both need the joins done before the user
    /// namespace is entered, and then pid/time namespaces need a fork.
    pub fn single_clone(&self) -> bool {
        let other_joins = self
            .joins
            .iter()
            .any(|j| !matches!(j.typ, LinuxNamespaceType::Pid | LinuxNamespaceType::Time));
        let needs_intermediate = self.joins_type(LinuxNamespaceType::User)
            || (self.creates(LinuxNamespaceType::User) && other_joins);
        !needs_intermediate
    }

    /// Join the namespaces selected by `pick`, user namespace last: joining
    /// it gives up the host's capabilities needed to join the others.
    pub fn join(&self, pick: impl Fn(LinuxNamespaceType) -> bool) -> Result<()> {
        let order = self
            .joins
            .iter()
            .filter(|j| j.typ != LinuxNamespaceType::User)
            .chain(
                self.joins
                    .iter()
                    .filter(|j| j.typ == LinuxNamespaceType::User),
            );
        for j in order.filter(|j| pick(j.typ)) {
            setns(j.fd.as_fd(), flag(j.typ)).ctx(|| format!("join {} namespace", j.typ))?;
        }
        Ok(())
    }
}

pub fn unshare_flags(flags: CloneFlags) -> Result<()> {
    if flags.is_empty() {
        return Ok(());
    }
    unshare(flags).ctx(|| format!("unshare namespaces {flags:?}"))
}

/// Write uid_map and gid_map of `pid` (the runtime is privileged, so the
/// maps are written directly; setgroups stays allowed).
pub fn write_id_maps(pid: i32, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let uid = linux
        .and_then(|l| l.uid_mappings().clone())
        .unwrap_or_default();
    let gid = linux
        .and_then(|l| l.gid_mappings().clone())
        .unwrap_or_default();
    write_map(pid, "uid_map", &uid)?;
    write_map(pid, "gid_map", &gid)
}

pub(crate) fn write_map(pid: i32, file: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    if maps.is_empty() {
        return Ok(());
    }
    let content: String = maps
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    let path = format!("/proc/{pid}/{file}");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .ctx(|| format!("open {path}"))?;
    // The kernel takes a map in exactly one write.
    f.write_all(content.as_bytes())
        .ctx(|| format!("write {path} ({})", content.trim().replace('\n', ", ")))
}

/// Enter a new time namespace for our children and set its offsets; the
/// offsets can only be written before any process lives in it.
pub fn new_time_ns(spec: &Spec) -> Result<()> {
    unshare_flags(flag(LinuxNamespaceType::Time))?;
    let offsets = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().clone())
        .unwrap_or_default();
    let mut content = String::new();
    for (clock, off) in &offsets {
        if clock != "monotonic" && clock != "boottime" {
            return Err(Error::Invalid(format!(
                "timeOffsets: unknown clock {clock:?} (expected monotonic or boottime)"
            )));
        }
        content.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    if !content.is_empty() {
        std::fs::write("/proc/self/timens_offsets", &content)
            .ctx(|| format!("write time offsets {:?}", content.trim()))?;
    }
    Ok(())
}

/// The namespaces this process gives its children (pid and time), saved
/// so they can be put back after cloning the init.
pub struct ChildrenNs {
    pid: File,
    time: Option<File>,
}

impl ChildrenNs {
    pub fn save() -> Result<ChildrenNs> {
        // A process is cloned into a container next (`exec`; `create` has
        // taken the fd already).
        crate::sys::sealed_exe::release_view_mount();
        Ok(ChildrenNs {
            pid: File::open("/proc/self/ns/pid_for_children")
                .ctx(|| "open /proc/self/ns/pid_for_children")?,
            time: File::open("/proc/self/ns/time_for_children").ok(),
        })
    }

    pub fn restore(&self) -> Result<()> {
        setns(self.pid.as_fd(), CloneFlags::CLONE_NEWPID)
            .ctx(|| "restore pid namespace for children")?;
        if let Some(t) = &self.time {
            setns(t.as_fd(), flag(LinuxNamespaceType::Time))
                .ctx(|| "restore time namespace for children")?;
        }
        Ok(())
    }
}
