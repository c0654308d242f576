//! cgroup helpers: the host's hierarchies, a process's cgroups, files of a container's
//! cgroup, and the leak check (no cgroup directory named after a container remains).
//!
//! Paths are resolved through `/proc/PID/cgroup` and the host's mountinfo, so they work
//! whatever cgroup path the runtime chose (runc 1.1.5 makes the default path relative
//! to its own cgroup, berth uses `/<id>`).

use crate::sys;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One mounted cgroup hierarchy of the host.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub mount_point: PathBuf,
    /// v1: the controllers (and `name=...`) of the hierarchy; v2: empty.
    pub controllers: Vec<String>,
    pub v2: bool,
}

impl Hierarchy {
    /// The key of this hierarchy in /proc/PID/cgroup ("memory", "cpu,cpuacct",
    /// "name=systemd"; "" for cgroup2).
    pub fn matches(&self, key: &str) -> bool {
        if self.v2 {
            key.is_empty()
        } else {
            !key.is_empty()
                && key
                    .split(',')
                    .all(|k| self.controllers.iter().any(|c| c == k))
        }
    }

    /// A short name for messages ("memory", "name=systemd", "unified").
    pub fn name(&self) -> String {
        if self.v2 {
            "unified".into()
        } else {
            self.controllers.join(",")
        }
    }
}

/// The cgroup hierarchies mounted on the host (from the test process's mountinfo).
pub fn hierarchies() -> Vec<Hierarchy> {
    const KNOWN: &[&str] = &[
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "blkio",
        "pids",
        "hugetlb",
        "net_cls",
        "net_prio",
        "perf_event",
        "rdma",
        "misc",
    ];
    let mut out: Vec<Hierarchy> = Vec::new();
    for m in sys::host_mounts() {
        let v2 = match m.fs_type.as_str() {
            "cgroup" => false,
            "cgroup2" => true,
            _ => continue,
        };
        if m.root != "/"
            || out
                .iter()
                .any(|h| h.mount_point == Path::new(&m.mount_point))
        {
            continue;
        }
        let controllers = if v2 {
            Vec::new()
        } else {
            m.super_options
                .split(',')
                .filter(|o| KNOWN.contains(o) || o.starts_with("name="))
                .map(str::to_string)
                .collect()
        };
        out.push(Hierarchy {
            mount_point: PathBuf::from(&m.mount_point),
            controllers,
            v2,
        });
    }
    out
}

/// Does the host mount a v1 hierarchy with this controller?
pub fn has_v1_controller(controller: &str) -> bool {
    hierarchies()
        .iter()
        .any(|h| !h.v2 && h.controllers.iter().any(|c| c == controller))
}

/// Does the v1 memory controller account swap (memory.memsw.* files)?
pub fn has_memsw() -> bool {
    hierarchies()
        .iter()
        .find(|h| !h.v2 && h.controllers.iter().any(|c| c == "memory"))
        .is_some_and(|h| h.mount_point.join("memory.memsw.limit_in_bytes").exists())
}

/// Parse /proc/PID/cgroup text into (key, path): key is the controller list
/// ("memory", "name=systemd") or "" for the cgroup2 line.
pub fn parse_proc_cgroup(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            let key = it.next()?.to_string();
            let path = it.next()?.to_string();
            Some((key, path))
        })
        .collect()
}

/// /proc/PID/cgroup of a host pid (panics if unreadable).
pub fn proc_cgroup(pid: i32) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/cgroup: {e}"));
    parse_proc_cgroup(&text)
}

/// The path of `pid` in the hierarchy with this controller ("memory", "name=systemd",
/// or "" for cgroup2), as listed in /proc/PID/cgroup.
pub fn cgroup_path_of(pid: i32, controller: &str) -> String {
    path_in(&proc_cgroup(pid), controller)
        .unwrap_or_else(|| panic!("pid {pid} has no {controller:?} cgroup"))
}

/// The path for `controller` in parsed /proc/PID/cgroup lines.
pub fn path_in(lines: &[(String, String)], controller: &str) -> Option<String> {
    lines
        .iter()
        .find(|(k, _)| {
            if controller.is_empty() {
                k.is_empty()
            } else {
                k.split(',').any(|c| c == controller)
            }
        })
        .map(|(_, p)| p.clone())
}

/// The mount point of the hierarchy with this controller ("" for cgroup2).
pub fn mount_of(controller: &str) -> PathBuf {
    hierarchies()
        .into_iter()
        .find(|h| h.matches(controller))
        .map(|h| h.mount_point)
        .unwrap_or_else(|| panic!("no cgroup hierarchy with controller {controller:?}"))
}

/// The directory of `pid`'s cgroup for `controller` on the host.
pub fn cgroup_dir_of(pid: i32, controller: &str) -> PathBuf {
    let p = cgroup_path_of(pid, controller);
    mount_of(controller).join(p.trim_start_matches('/'))
}

/// The test process's own cgroup path for `controller` (the runtime it spawns starts
/// there too).
pub fn own_cgroup_path(controller: &str) -> String {
    cgroup_path_of(std::process::id() as i32, controller)
}

/// Read a cgroup file (trimmed); panics with the path on error.
pub fn read_file(dir: &Path, file: &str) -> String {
    let p = dir.join(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// The pids listed in a cgroup's cgroup.procs.
pub fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Every directory named `name` in any cgroup hierarchy (searched recursively).
pub fn dirs_named(name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return out;
    }
    for h in hierarchies() {
        walk(&h.mount_point, name, 0, &mut out);
    }
    out
}

fn walk(dir: &Path, name: &str, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > 12 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let p = e.path();
        if e.file_name() == name {
            out.push(p.clone());
        }
        walk(&p, name, depth + 1, out);
    }
}

/// Wait (briefly) until no cgroup directory named after any of `ids` remains; returns
/// the ones still there.
pub fn leftover_dirs(ids: &[String], timeout: Duration) -> Vec<PathBuf> {
    let mut left = Vec::new();
    let gone = sys::wait_for(timeout, || {
        left = ids.iter().flat_map(|id| dirs_named(id)).collect();
        left.is_empty().then_some(())
    });
    if gone.is_some() {
        Vec::new()
    } else {
        left
    }
}

/// Removes cgroup directories (deepest first) on drop, in every hierarchy: for tests
/// that create cgroup parents or sub-cgroups themselves.
pub struct CgroupDirsGuard {
    rel: Vec<String>,
}

impl CgroupDirsGuard {
    /// `rel` are paths relative to each hierarchy's mount point; parents before
    /// children.
    pub fn new(rel: &[&str]) -> CgroupDirsGuard {
        CgroupDirsGuard {
            rel: rel
                .iter()
                .map(|s| s.trim_start_matches('/').to_string())
                .collect(),
        }
    }
}

impl Drop for CgroupDirsGuard {
    fn drop(&mut self) {
        for h in hierarchies() {
            for r in self.rel.iter().rev() {
                let _ = std::fs::remove_dir(h.mount_point.join(r));
            }
        }
    }
}

/// A whole-disk block device of the host as (major, minor), for blkio throttles.
pub fn some_block_device() -> Option<(u32, u32)> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("loop") && !n.starts_with("ram"))
        .collect();
    names.sort_by_key(|n| {
        !(n.starts_with("vd")
            || n.starts_with("sd")
            || n.starts_with("nvme")
            || n.starts_with("xvd"))
    });
    names.into_iter().find_map(|n| {
        let dev = std::fs::read_to_string(format!("/sys/block/{n}/dev")).ok()?;
        let (ma, mi) = dev.trim().split_once(':')?;
        Some((ma.parse().ok()?, mi.parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_cgroup_parsing() {
        let l = parse_proc_cgroup("9:name=systemd:/a\n4:memory:/x/y\n2:cpu,cpuacct:/c\n0::/u\n");
        assert_eq!(path_in(&l, "memory").as_deref(), Some("/x/y"));
        assert_eq!(path_in(&l, "cpuacct").as_deref(), Some("/c"));
        assert_eq!(path_in(&l, "name=systemd").as_deref(), Some("/a"));
        assert_eq!(path_in(&l, "").as_deref(), Some("/u"));
        assert_eq!(path_in(&l, "pids"), None);
    }
}
