//! The `cgroup` mount type. On a cgroup v2 host with a cgroup namespace a
//! fresh cgroup2 mount shows the container's own subtree; otherwise (v1,
//! hybrid, or no cgroup namespace) a tmpfs holds read-only binds of the
//! container's cgroup directory in every hierarchy, as runc does.

use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::{mount, MsFlags};

use super::mount::remount_bind;
use super::options::MountOptions;
use super::RootfsCtx;
use crate::error::{Result, SysContext};
use crate::sys::resolve::{fd_path, mkdir_all_in_root, open_in_root, Leaf};

/// A cgroup hierarchy mounted on the host.
struct Hierarchy {
    mount_point: String,
    /// The cgroup2 hierarchy of a hybrid host: runc leaves it out of the
    /// container's view, and so do we.
    unified: bool,
    /// The container's (our) path inside that hierarchy.
    own_path: String,
}

pub fn mount_cgroup(ctx: &RootfsCtx, dest: &Path, opts: &MountOptions) -> Result<()> {
    let flags = opts.flags
        & (MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    let unified = is_cgroup2("/sys/fs/cgroup");
    let target = mkdir_all_in_root(ctx.root(), dest, Leaf::Dir)
        .ctx(|| format!("create mount point {}", dest.display()))?;
    if unified && ctx.new_cgroupns {
        return mount(
            Some("cgroup2"),
            fd_path(target.as_fd()).as_str(),
            Some("cgroup2"),
            flags,
            None::<&str>,
        )
        .ctx(|| format!("mount cgroup2 on {}", dest.display()));
    }
    let hierarchies = host_hierarchies();
    if unified {
        let own = hierarchies
            .first()
            .map(|h| h.own_path.clone())
            .unwrap_or_default();
        return bind_ro(ctx, &format!("/sys/fs/cgroup{own}"), dest, flags);
    }
    mount(
        Some("tmpfs"),
        fd_path(target.as_fd()).as_str(),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755"),
    )
    .ctx(|| format!("mount tmpfs on {}", dest.display()))?;
    for h in hierarchies.iter().filter(|h| !h.unified) {
        let name = match Path::new(&h.mount_point).file_name() {
            Some(n) => n.to_string_lossy().into_owned(),
            None => continue,
        };
        let sub = dest.join(&name);
        let src = format!("{}{}", h.mount_point, h.own_path);
        bind_ro(ctx, &src, &sub, flags)?;
        // Co-mounted controllers ("cpu,cpuacct") get a link per controller.
        if name.contains(',') {
            for part in name.split(',') {
                let link = dest.join(part);
                let parent = mkdir_all_in_root(ctx.root(), dest, Leaf::Dir)
                    .ctx(|| format!("open {}", dest.display()))?;
                let _ = nix::unistd::symlinkat(name.as_str(), parent.as_fd(), part);
                let _ = link;
            }
        }
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        let top = open_in_root(ctx.root(), dest, nix::fcntl::OFlag::O_PATH)
            .ctx(|| format!("reopen {}", dest.display()))?;
        remount_bind(top.as_fd(), flags, MsFlags::empty())
            .or_else(|_| {
                mount(
                    None::<&str>,
                    fd_path(top.as_fd()).as_str(),
                    None::<&str>,
                    MsFlags::MS_REMOUNT | flags,
                    None::<&str>,
                )
            })
            .ctx(|| format!("remount {} read-only", dest.display()))?;
    }
    Ok(())
}

fn bind_ro(ctx: &RootfsCtx, src: &str, dest: &Path, flags: MsFlags) -> Result<()> {
    let target = mkdir_all_in_root(ctx.root(), dest, Leaf::Dir)
        .ctx(|| format!("create mount point {}", dest.display()))?;
    mount(
        Some(src),
        fd_path(target.as_fd()).as_str(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("bind mount {src} on {}", dest.display()))?;
    let top = open_in_root(ctx.root(), dest, nix::fcntl::OFlag::O_PATH)
        .ctx(|| format!("reopen {}", dest.display()))?;
    remount_bind(top.as_fd(), flags, MsFlags::empty()).ctx(|| format!("remount {}", dest.display()))
}

fn is_cgroup2(path: &str) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

/// Our cgroup paths as the host sees them, read before the cgroup
/// namespace is entered (inside it they all read "/").
static OWN_CGROUPS: std::sync::OnceLock<String> = std::sync::OnceLock::new();

pub fn remember_own_cgroups() {
    let _ = OWN_CGROUPS.set(std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default());
}

/// Hierarchies from /proc/self/mountinfo joined with our paths from
/// /proc/self/cgroup.
fn host_hierarchies() -> Vec<Hierarchy> {
    let cgroup = OWN_CGROUPS
        .get()
        .cloned()
        .unwrap_or_else(|| std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default());
    let own = |controllers: &str| -> Option<String> {
        cgroup.lines().find_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
            if ctrls == controllers {
                Some(if path == "/" {
                    String::new()
                } else {
                    path.to_string()
                })
            } else {
                None
            }
        })
    };
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if fields.len() < 5 || post.len() < 3 {
            continue;
        }
        let (mount_point, fstype, super_opts) = (fields[4], post[0], post[2]);
        let key = match fstype {
            "cgroup2" => String::new(),
            "cgroup" => {
                let ctrls: Vec<&str> = super_opts
                    .split(',')
                    .filter(|o| {
                        !matches!(*o, "rw" | "ro") && !o.contains('=') || o.starts_with("name=")
                    })
                    .filter(|o| {
                        !matches!(
                            *o,
                            "nosuid"
                                | "nodev"
                                | "noexec"
                                | "relatime"
                                | "xattr"
                                | "clone_children"
                                | "cpuset_v2_mode"
                                | "noprefix"
                                | "memory_recursiveprot"
                                | "nsdelegate"
                                | "favordynmods"
                                | "memory_localevents"
                                | "memory_hugetlb_accounting"
                                | "pids_localevents"
                        )
                    })
                    .collect();
                ctrls.join(",")
            }
            _ => continue,
        };
        if let Some(own_path) = own(&key) {
            out.push(Hierarchy {
                mount_point: mount_point.to_string(),
                unified: fstype == "cgroup2",
                own_path,
            });
        }
    }
    out
}
