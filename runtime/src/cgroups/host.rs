//! What the host mounts: cgroup mode (v1, hybrid, v2), the v1 hierarchies and
//! the cgroup2 mount, read once per process (cached) from statfs and
//! statmount of /sys/fs/cgroup and its entries, or /proc/self/mountinfo
//! where the kernel lacks statmount or cgroups are mounted elsewhere.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
use serde::{Deserialize, Serialize};

use super::error::{CgroupError, Result};
use super::fsutil;

/// How cgroups are mounted on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgroupMode {
    /// Only v1 hierarchies.
    #[serde(rename = "v1")]
    V1,
    /// v1 controllers plus a (usually controller-less) cgroup2 mount that
    /// only tracks processes, e.g. /sys/fs/cgroup/unified.
    #[serde(rename = "hybrid")]
    Hybrid,
    /// Pure cgroup v2.
    #[serde(rename = "v2")]
    V2,
}

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    pub mountpoint: PathBuf,
    /// The cgroup of this hierarchy that is mounted at `mountpoint` ("/"
    /// unless a sub-tree was bind-mounted, as in some containers).
    pub root: String,
    /// v1: controllers and "name=..." of the hierarchy; empty for cgroup2.
    pub controllers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub mode: CgroupMode,
    pub v1: Vec<Mount>,
    pub unified: Option<Mount>,
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Mount options that are not controllers.
const V1_NON_CONTROLLER_OPTS: &[&str] = &[
    "rw",
    "ro",
    "noprefix",
    "clone_children",
    "xattr",
    "cpuset_v2_mode",
    "favordynmods",
    "nofavordynmods",
    "none",
    "all",
];

fn unescape_mount_path(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).and_then(|d| {
            d.iter()
                .all(|c| (b'0'..=b'7').contains(c))
                .then(|| d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0')))
        });
        if let (b'\\', Some(v)) = (b[i], octal.and_then(|v| u8::try_from(v).ok())) {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A v1 hierarchy's controllers (and "name=...") from its mount options.
fn v1_controllers(opts: &str) -> Vec<String> {
    opts.split(',')
        .filter(|o| {
            o.starts_with("name=") || (!o.contains('=') && !V1_NON_CONTROLLER_OPTS.contains(o))
        })
        .map(str::to_string)
        .collect()
}

/// Parse mountinfo into (v1 hierarchies, cgroup2 mounts). A hierarchy mounted
/// more than once is listed once, preferring a mount under /sys/fs/cgroup.
pub(crate) fn parse_mountinfo(text: &str) -> (Vec<Mount>, Vec<Mount>) {
    let mut v1: Vec<Mount> = Vec::new();
    let mut v2: Vec<Mount> = Vec::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            continue;
        }
        let root = unescape_mount_path(pre[3]);
        let mountpoint = PathBuf::from(unescape_mount_path(pre[4]));
        match post[0] {
            "cgroup2" => v2.push(Mount {
                mountpoint,
                root,
                controllers: Vec::new(),
            }),
            "cgroup" => {
                let controllers = v1_controllers(post[2]);
                if controllers.is_empty() {
                    continue;
                }
                let m = Mount {
                    mountpoint,
                    root,
                    controllers,
                };
                match v1.iter_mut().find(|o| o.controllers == m.controllers) {
                    Some(o) => {
                        if !o.mountpoint.starts_with(CGROUP_ROOT)
                            && m.mountpoint.starts_with(CGROUP_ROOT)
                        {
                            *o = m;
                        }
                    }
                    None => v1.push(m),
                }
            }
            _ => {}
        }
    }
    (v1, v2)
}

/// Decide the mode. `root_is_cgroup2`: statfs(/sys/fs/cgroup) says cgroup2.
pub(crate) fn detect(root_is_cgroup2: bool, v1: Vec<Mount>, v2: Vec<Mount>) -> Option<Layout> {
    let pick_v2 = |v2: &[Mount], preferred: &str| -> Option<Mount> {
        v2.iter()
            .find(|m| m.mountpoint == Path::new(preferred))
            .or_else(|| v2.iter().find(|m| m.mountpoint.starts_with(CGROUP_ROOT)))
            .or_else(|| v2.first())
            .cloned()
    };
    if root_is_cgroup2 {
        return Some(Layout {
            mode: CgroupMode::V2,
            v1: Vec::new(),
            unified: pick_v2(&v2, CGROUP_ROOT).or_else(|| {
                Some(Mount {
                    mountpoint: PathBuf::from(CGROUP_ROOT),
                    root: "/".into(),
                    controllers: Vec::new(),
                })
            }),
        });
    }
    if !v1.is_empty() {
        let unified = pick_v2(&v2, "/sys/fs/cgroup/unified");
        let mode = if unified.is_some() {
            CgroupMode::Hybrid
        } else {
            CgroupMode::V1
        };
        return Some(Layout { mode, v1, unified });
    }
    pick_v2(&v2, CGROUP_ROOT).map(|u| Layout {
        mode: CgroupMode::V2,
        v1: Vec::new(),
        unified: Some(u),
    })
}

fn load_layout() -> std::result::Result<Layout, String> {
    let root_is_cgroup2 = statfs(CGROUP_ROOT)
        .map(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC)
        .unwrap_or(false);
    match layout_from_statmount(root_is_cgroup2) {
        Ok(Some(l)) => Ok(l),
        // No statmount, or hierarchies this look does not see: mountinfo.
        Ok(None) | Err(_) => layout_from_mountinfo(root_is_cgroup2),
    }
}

pub(crate) fn layout_from_mountinfo(root_is_cgroup2: bool) -> std::result::Result<Layout, String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("read /proc/self/mountinfo: {e}"))?;
    let (v1, v2) = parse_mountinfo(&text);
    detect(root_is_cgroup2, v1, v2)
        .ok_or_else(|| "no cgroup or cgroup2 mount in /proc/self/mountinfo".to_string())
}

/// The layout from the cgroup mounts at /sys/fs/cgroup and one level below
/// it, each looked up by statx + statmount: a few syscalls however many
/// mounts the host has, where mountinfo grows by two lines per container.
/// None when this is not the whole picture (a v1 hierarchy of
/// /proc/self/cgroup not found there, or v1 without a cgroup2 mount there,
/// which mountinfo may find elsewhere); the caller then reads mountinfo.
pub(crate) fn layout_from_statmount(
    root_is_cgroup2: bool,
) -> std::result::Result<Option<Layout>, crate::sys::mountinfo::MountInfoError> {
    use crate::sys::mountinfo::{mount_id, statmount, Want};
    let want = Want {
        root: true,
        opts: true,
        ..Want::default()
    };
    let cgroup_mount = |p: &Path| -> std::result::Result<Option<(u64, Mount)>, _> {
        let (id, is_root) = match mount_id(p, false) {
            Ok(v) => v,
            Err(crate::sys::mountinfo::MountInfoError::Sys { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        if !is_root {
            return Ok(None);
        }
        let f = statmount(id, want)?;
        let controllers = match f.magic {
            m if m == libc::CGROUP2_SUPER_MAGIC as u64 => Vec::new(),
            m if m == libc::CGROUP_SUPER_MAGIC as u64 => v1_controllers(&f.opts),
            _ => return Ok(None),
        };
        Ok(Some((
            f.magic,
            Mount {
                mountpoint: p.to_path_buf(),
                root: f.root,
                controllers,
            },
        )))
    };
    let root = Path::new(CGROUP_ROOT);
    if root_is_cgroup2 {
        return Ok(cgroup_mount(root)?.and_then(|(_, m)| detect(true, Vec::new(), vec![m])));
    }
    let mut v1: Vec<Mount> = Vec::new();
    let mut v2: Vec<Mount> = Vec::new();
    let Ok(dir) = std::fs::read_dir(root) else {
        return Ok(None);
    };
    let mut entries: Vec<PathBuf> = dir
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    // The order mountinfo would not give anyway; a stable one at least.
    entries.sort();
    for p in entries {
        match cgroup_mount(&p)? {
            Some((magic, m)) if magic == libc::CGROUP2_SUPER_MAGIC as u64 => v2.push(m),
            Some((_, m))
                if !m.controllers.is_empty()
                    && !v1.iter().any(|o| o.controllers == m.controllers) =>
            {
                v1.push(m)
            }
            _ => {}
        }
    }
    // A v1 mount without options (a kernel without them) is left out above;
    // the check against /proc/self/cgroup below then sends the look to
    // mountinfo.
    if v1.is_empty() || v2.is_empty() {
        // Pure v1 (rare), or not mounted here: mountinfo knows more.
        return Ok(None);
    }
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    if !v1_hierarchies_of(&own).iter().all(|h| {
        v1.iter().any(|m| {
            let mut c = m.controllers.clone();
            c.sort();
            &c == h
        })
    }) {
        return Ok(None);
    }
    Ok(detect(false, v1, v2))
}

/// The v1 hierarchies /proc/self/cgroup names, each as its sorted
/// controllers (and "name=...").
pub(crate) fn v1_hierarchies_of(proc_cgroup: &str) -> Vec<Vec<String>> {
    proc_cgroup
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let (id, ctrls) = (it.next()?, it.next()?);
            if id == "0" || ctrls.is_empty() {
                return None;
            }
            let mut c: Vec<String> = ctrls.split(',').map(str::to_string).collect();
            c.sort();
            Some(c)
        })
        .collect()
}

/// The host layout, computed once per process.
pub(crate) fn layout() -> Result<&'static Layout> {
    static LAYOUT: OnceLock<std::result::Result<Layout, String>> = OnceLock::new();
    LAYOUT
        .get_or_init(load_layout)
        .as_ref()
        .map_err(|e| CgroupError::NoCgroupFs(e.clone()))
}

/// Parse /proc/<pid>/cgroup: controller (or "name=x", or "" for v2) → path.
pub(crate) fn parse_proc_cgroup(text: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if ctrls.is_empty() {
            map.insert(String::new(), path.to_string());
        } else {
            for c in ctrls.split(',') {
                map.insert(c.to_string(), path.to_string());
            }
        }
    }
    map
}

pub(crate) fn own_cgroups() -> Result<HashMap<String, String>> {
    let text = fsutil::read(Path::new("/proc/self/cgroup"))?;
    Ok(parse_proc_cgroup(&text))
}

pub(crate) fn systemd_running() -> bool {
    // The same test as sd_booted(3) and runc.
    std::fs::symlink_metadata("/run/systemd/system")
        .map(|m| m.is_dir())
        .unwrap_or(false)
}

/// What this host supports, for `features`.
#[derive(Debug, Clone, Serialize)]
pub struct HostInfo {
    /// None when no cgroup filesystem is mounted.
    pub mode: Option<CgroupMode>,
    /// Controllers a container can use (v2: the root's cgroup.controllers plus
    /// the eBPF-based "devices" and the built-in "freezer"; v1/hybrid: the
    /// mounted v1 controllers).
    pub controllers: Vec<String>,
    /// Mounted v1 hierarchies' controllers, including "name=..." ones.
    pub v1_controllers: Vec<String>,
    /// Controllers of the cgroup2 root (on hybrid hosts, those not bound to v1).
    pub v2_controllers: Vec<String>,
    pub systemd_running: bool,
    /// Whether a BPF_PROG_TYPE_CGROUP_DEVICE program can be loaded.
    pub bpf_device_filter: bool,
    /// Why not, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bpf_device_filter_error: Option<String>,
}

pub fn host_info() -> HostInfo {
    let layout = layout().ok();
    let mut v1_controllers: Vec<String> = layout
        .map(|l| l.v1.iter().flat_map(|m| m.controllers.clone()).collect())
        .unwrap_or_default();
    v1_controllers.sort();
    let v2_controllers: Vec<String> = layout
        .and_then(|l| l.unified.as_ref())
        .and_then(|u| {
            fsutil::read_opt(&u.mountpoint.join("cgroup.controllers"))
                .ok()
                .flatten()
        })
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let bpf = super::bpf::probe();
    let controllers = match layout.map(|l| l.mode) {
        Some(CgroupMode::V2) => {
            let mut c = v2_controllers.clone();
            c.push("freezer".into());
            if bpf.is_ok() {
                c.push("devices".into());
            }
            c.sort();
            c
        }
        Some(_) => v1_controllers
            .iter()
            .filter(|c| !c.starts_with("name="))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    HostInfo {
        mode: layout.map(|l| l.mode),
        controllers,
        v1_controllers,
        v2_controllers,
        systemd_running: systemd_running(),
        bpf_device_filter: bpf.is_ok(),
        bpf_device_filter_error: bpf.as_ref().err().cloned(),
    }
}
