//! The container's root filesystem, built in its mount namespace before the
//! root switch: propagation, the rootfs bind, every `mounts[]` entry, /dev.

pub mod cgroup;
pub mod devices;
pub mod finalize;
pub mod idmap;
pub mod mount;
pub mod options;
pub mod pivot;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::mount::{mount as mount2, MsFlags};
use nix::sys::stat::Mode;
use oci_spec::runtime::Spec;

use crate::error::{Error, Result, SysContext};
use crate::sys::resolve::{mkdir_all_in_root, Leaf};

pub struct RootfsCtx {
    pub bundle: PathBuf,
    root_fd: OwnedFd,
    pub in_userns: bool,
    pub new_cgroupns: bool,
    pub mount_label: Option<String>,
}

impl RootfsCtx {
    pub fn root(&self) -> BorrowedFd<'_> {
        self.root_fd.as_fd()
    }
}

pub fn propagation_flags(p: &str) -> Result<MsFlags> {
    Ok(match p {
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        other => {
            return Err(Error::Invalid(format!(
                "rootfsPropagation {other:?} is not one of shared, slave, private, unbindable (or their r- forms)"
            )))
        }
    })
}

/// Everything up to (not including) the root switch. `before_cgroup_mount`
/// runs before each mount of a cgroup filesystem (the init must be in its
/// cgroup and cgroup namespace by then).
// The init's set-up state, passed as it is; a struct for it would only move
// the same fields.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    spec: &Spec,
    rootfs: &Path,
    bundle: &Path,
    in_userns: bool,
    new_cgroupns: bool,
    terminal: bool,
    idmapped: &[idmap::Idmapped],
    before_cgroup_mount: &mut dyn FnMut() -> Result<()>,
) -> Result<()> {
    let tree_for = |t: idmap::Target| {
        idmapped
            .iter()
            .find(|i| i.target == t)
            .map(|i| i.fd.as_fd())
    };
    let linux = spec.linux().as_ref();
    let prop = match root_propagation(spec)? {
        // An unbindable / could not be bound as the new root: it is applied
        // after the root switch (see `apply_root_propagation`).
        Some(p) if !p.contains(MsFlags::MS_UNBINDABLE) => p,
        // Nothing mounted in the container may reach the host.
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    mount2(None::<&str>, "/", None::<&str>, prop, None::<&str>).ctx(|| "set propagation of /")?;
    make_parent_mount_private(rootfs)?;
    if let Some(tree) = tree_for(idmap::Target::Rootfs) {
        // The idmapped copy of the rootfs (made by `create`) goes where the
        // plain self-bind would.
        let at = open(
            rootfs,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("open rootfs {}", rootfs.display()))?;
        idmap::attach(tree, at.as_fd())
            .ctx(|| format!("attach the idmapped rootfs on {}", rootfs.display()))?;
    } else {
        mount2(
            Some(rootfs),
            rootfs,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .ctx(|| format!("bind mount rootfs {}", rootfs.display()))?;
    }
    let root_fd = open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open rootfs {}", rootfs.display()))?;
    let ctx = RootfsCtx {
        bundle: bundle.to_path_buf(),
        root_fd,
        in_userns,
        new_cgroupns,
        mount_label: linux
            .and_then(|l| l.mount_label().clone())
            .filter(|l| !l.is_empty() && crate::init::lsm::selinux_enabled()),
    };
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    // A read-only tmpfs or /dev is mounted writable and made read-only once the mounts
    // under it (and for /dev the device nodes and their symlinks) exist, as runc does.
    let deferred_ro = readonly_deferred(&mut mounts);
    for (i, m) in mounts.iter().enumerate() {
        if matches!(m.typ().as_deref(), Some("cgroup") | Some("cgroup2")) {
            before_cgroup_mount()?;
        }
        mount::mount_entry(&ctx, m, tree_for(idmap::Target::Mount(i)))?;
    }
    let dev_is_bind = mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && (m.typ().as_deref() == Some("bind")
                || m.options()
                    .as_ref()
                    .is_some_and(|o| o.iter().any(|x| x == "bind" || x == "rbind")))
    });
    let mut devs = Vec::new();
    if !dev_is_bind {
        devs = devices::default_devices();
    }
    for d in linux.and_then(|l| l.devices().clone()).unwrap_or_default() {
        let d = devices::from_spec(&d)?;
        devs.retain(|x| x.path != d.path);
        devs.push(d);
    }
    devices::create_all(&ctx, &devs)?;
    if !dev_is_bind {
        devices::create_symlinks(&ctx)?;
        if terminal {
            mkdir_all_in_root(ctx.root(), Path::new("/dev/console"), Leaf::File)
                .ctx(|| "create /dev/console")?;
        }
    }
    // The working directory exists before the user process needs it.
    if let Some(p) = spec.process() {
        mkdir_all_in_root(ctx.root(), p.cwd(), Leaf::Dir)
            .ctx(|| format!("create cwd {}", p.cwd().display()))?;
    }
    for dest in &deferred_ro {
        let fd = crate::sys::resolve::open_in_root(ctx.root(), dest, OFlag::O_PATH)
            .ctx(|| format!("reopen {}", dest.display()))?;
        mount::remount_bind(fd.as_fd(), MsFlags::MS_RDONLY, MsFlags::empty())
            .ctx(|| format!("remount {} read-only", dest.display()))?;
    }
    Ok(())
}

/// Drops `ro` from tmpfs entries and a (non-bind) /dev entry, and returns their
/// destinations, to be made read-only after every mount is in place.
fn readonly_deferred(mounts: &mut [oci_spec::runtime::Mount]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for m in mounts.iter_mut() {
        let Some(opts) = m.options().clone() else {
            continue;
        };
        let bind =
            m.typ().as_deref() == Some("bind") || opts.iter().any(|o| o == "bind" || o == "rbind");
        let deferred = m.typ().as_deref() == Some("tmpfs") || m.destination() == Path::new("/dev");
        if bind || !deferred || !opts.iter().any(|o| o == "ro") {
            continue;
        }
        m.set_options(Some(opts.into_iter().filter(|o| o != "ro").collect()));
        out.push(m.destination().clone());
    }
    out
}

fn root_propagation(spec: &Spec) -> Result<Option<MsFlags>> {
    match spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
    {
        Some(p) if !p.is_empty() => Ok(Some(propagation_flags(p)?)),
        _ => Ok(None),
    }
}

/// After the root switch, give the container's / the configured
/// propagation (the rootfs bind took that of its private parent).
pub fn apply_root_propagation(spec: &Spec) -> Result<()> {
    if let Some(p) = root_propagation(spec)? {
        mount2(None::<&str>, "/", None::<&str>, p, None::<&str>)
            .ctx(|| format!("set rootfsPropagation {p:?} on /"))?;
    }
    Ok(())
}

/// pivot_root refuses a new root whose parent mount is shared; make just
/// that mount private (in our namespace only).
fn make_parent_mount_private(rootfs: &Path) -> Result<()> {
    if let Some(mp) = shared_mount_holding(rootfs, true)? {
        mount2(
            None::<&str>,
            mp.as_str(),
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .ctx(|| format!("make {mp} private"))?;
    }
    Ok(())
}

/// The mount point of the mount holding `path` when that mount is shared.
/// statx + statmount cost the same however many mounts the host has (each
/// container adds two); mountinfo is read where the kernel lacks them
/// (before 6.8) or when `fast` is false (tests).
fn shared_mount_holding(path: &Path, fast: bool) -> Result<Option<String>> {
    use crate::sys::mountinfo::{mount_id, statmount, MountInfoError, Want};
    if fast {
        let facts = mount_id(path, true).and_then(|(id, _)| {
            statmount(
                id,
                Want {
                    point: true,
                    ..Want::default()
                },
            )
        });
        match facts {
            Ok(f) => {
                let shared = f.propagation & MsFlags::MS_SHARED.bits() != 0;
                return Ok(shared.then_some(f.point));
            }
            // Missing (older kernel, seccomp) or refused: mountinfo
            // still answers.
            Err(MountInfoError::Unsupported | MountInfoError::Sys { .. }) => {}
        }
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo").ctx(|| "read mountinfo")?;
    Ok(match mount_holding(&info, path) {
        Some((mp, true)) => Some(mp),
        _ => None,
    })
}

/// From mountinfo: the mount point of the mount holding `path` (the
/// longest prefix; the last of stacked mounts) and whether it is shared.
fn mount_holding(info: &str, path: &Path) -> Option<(String, bool)> {
    let mut best: Option<(String, bool)> = None;
    for line in info.lines() {
        let Some((pre, _)) = line.split_once(" - ") else {
            continue;
        };
        let f: Vec<&str> = pre.split(' ').collect();
        if f.len() < 6 {
            continue;
        }
        let mp = unescape(f[4]);
        if path.starts_with(&mp) && best.as_ref().is_none_or(|(b, _)| mp.len() >= b.len()) {
            let shared = f[6..].iter().any(|o| o.starts_with("shared:"));
            best = Some((mp, shared));
        }
    }
    best
}

pub(super) fn unescape(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v as char);
                i += 4;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

#[cfg(test)]
mod parent_mount_tests {
    use super::{mount_holding, shared_mount_holding};
    use std::path::Path;

    #[test]
    fn mountinfo_fallback_finds_the_deepest_mount() {
        let info = "\
21 1 8:1 / / rw shared:1 - ext4 /dev/sda1 rw
30 21 0:40 / /var/lib rw - tmpfs tmpfs rw
31 30 0:41 / /var/lib/b\\040x/rootfs rw shared:7 - overlay overlay rw
";
        assert_eq!(
            mount_holding(info, Path::new("/var/lib/b x/rootfs")),
            Some(("/var/lib/b x/rootfs".into(), true))
        );
        assert_eq!(
            mount_holding(info, Path::new("/var/lib/c")),
            Some(("/var/lib".into(), false))
        );
        assert_eq!(
            mount_holding(info, Path::new("/etc")),
            Some(("/".into(), true))
        );
    }

    /// The statmount path and the forced mountinfo fallback agree on this
    /// host's mounts.
    #[test]
    fn statmount_and_mountinfo_agree() {
        let tmp = std::env::temp_dir();
        for p in [
            Path::new("/"),
            Path::new("/proc/self"),
            Path::new("/sys/fs/cgroup"),
            &tmp,
        ] {
            let slow = shared_mount_holding(p, false).expect("mountinfo");
            let fast = shared_mount_holding(p, true).expect("statmount");
            assert_eq!(fast, slow, "{}", p.display());
            // A kernel without statmount (ENOSYS) gets the same from mountinfo.
            let fallback =
                crate::sys::mountinfo::without_statmount(|| shared_mount_holding(p, true))
                    .expect("fallback");
            assert_eq!(fallback, slow, "{}", p.display());
        }
    }
}
