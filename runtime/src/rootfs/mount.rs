//! Mounting one `mounts[]` entry inside the rootfs. Targets are resolved
//! with openat2(RESOLVE_IN_ROOT) and mounted through /proc/self/fd, so a
//! symlink in the rootfs can never redirect a mount onto the host.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::statvfs::{fstatvfs, FsFlags};
use oci_spec::runtime::Mount;

use super::options::{self, MountOptions};
use super::RootfsCtx;
use crate::error::{Error, Result, SysContext};
use crate::sys::resolve::{fd_path, mkdir_all_in_root, open_in_root, Leaf};

/// statvfs's ST_RELATIME (<sys/statvfs.h>, the kernel's MNT_RELATIME as
/// statfs reports it): nix names it for glibc only, and both libcs pass the
/// kernel's flags through.
const ST_RELATIME: FsFlags = FsFlags::from_bits_retain(0x1000);

/// `idmapped`: the entry's idmapped tree, made by `create` (see `idmap`).
pub fn mount_entry(ctx: &RootfsCtx, m: &Mount, idmapped: Option<BorrowedFd<'_>>) -> Result<()> {
    let dest = m.destination();
    let typ = m.typ().as_deref().unwrap_or("");
    let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
    if let Some(tree) = idmapped {
        return idmapped_entry(ctx, m, tree, &opts);
    }
    if opts.idmap {
        // `create` makes a tree for every idmapped entry it accepts.
        return Err(Error::Invalid(format!(
            "mount {} asks for idmap but no idmapped mount was prepared for it",
            dest.display()
        )));
    }
    if typ == "bind" || opts.bind() {
        return bind_entry(ctx, m, &opts);
    }
    match typ {
        "cgroup" | "cgroup2" => return super::cgroup::mount_cgroup(ctx, dest, &opts),
        "proc" | "sysfs" => refuse_symlink(ctx, dest, typ)?,
        _ => {}
    }
    let target = mkdir_all_in_root(ctx.root(), dest, Leaf::Dir)
        .ctx(|| format!("create mount point {}", dest.display()))?;
    let source = m
        .source()
        .as_ref()
        .map(|s| s.as_os_str().to_owned())
        .unwrap_or_else(|| typ.into());
    let mut data = opts.data_string();
    if let Some(label) = &ctx.mount_label {
        if !matches!(typ, "proc" | "sysfs" | "mqueue" | "cgroup" | "cgroup2") {
            let ctxopt = format!("context=\"{label}\"");
            data = Some(match data {
                Some(d) => format!("{d},{ctxopt}"),
                None => ctxopt,
            });
        }
    }
    let flags = opts.flags & !MsFlags::MS_REMOUNT;
    let r = mount(
        Some(source.as_os_str()),
        fd_path(target.as_fd()).as_str(),
        Some(typ),
        flags,
        data.as_deref(),
    );
    match r {
        Ok(()) => {}
        // Without its own network (or with a user) namespace sysfs cannot be
        // mounted afresh; a read-only recursive bind of the host's is the
        // standard fallback. Likewise for mqueue without an IPC namespace.
        Err(Errno::EPERM) if typ == "sysfs" || typ == "mqueue" => {
            let host = if typ == "sysfs" {
                "/sys"
            } else {
                "/dev/mqueue"
            };
            let mut o = opts.clone();
            o.flags |= MsFlags::MS_BIND | MsFlags::MS_REC;
            return bind_from(ctx, Path::new(host), dest, &o);
        }
        Err(e) => {
            return Err(Error::Sys {
                ctx: format!(
                    "mount {} ({typ}) on {}",
                    source.to_string_lossy(),
                    dest.display()
                ),
                source: e,
            })
        }
    }
    finish(ctx, dest, &opts)
}

/// Refuse /proc and /sys destinations that are symlinks or not directories: they must
/// be real directories, or the container could redirect them. runc's words.
fn refuse_symlink(ctx: &RootfsCtx, dest: &Path, typ: &str) -> Result<()> {
    match open_in_root(ctx.root(), dest, OFlag::O_PATH | OFlag::O_NOFOLLOW) {
        Ok(fd) => {
            let st =
                nix::sys::stat::fstat(fd.as_fd()).ctx(|| format!("stat {}", dest.display()))?;
            if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
                return Err(Error::Invalid(format!(
                    "error mounting {typ:?} to rootfs at {:?}: filesystem {typ:?} must be \
                     mounted on ordinary directory",
                    dest.display().to_string()
                )));
            }
            Ok(())
        }
        Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e).ctx(|| format!("open {}", dest.display())),
    }
}

fn bind_entry(ctx: &RootfsCtx, m: &Mount, opts: &MountOptions) -> Result<()> {
    let src = m.source().as_ref().ok_or_else(|| {
        Error::Invalid(format!(
            "bind mount {} has no source",
            m.destination().display()
        ))
    })?;
    let src: PathBuf = if src.is_absolute() {
        src.clone()
    } else {
        ctx.bundle.join(src)
    };
    bind_from(ctx, &src, m.destination(), opts)
}

/// Attach an idmapped bind (a detached tree made by `create`) at its
/// destination, then apply flags as for any bind.
fn idmapped_entry(
    ctx: &RootfsCtx,
    m: &Mount,
    tree: BorrowedFd<'_>,
    opts: &MountOptions,
) -> Result<()> {
    let dest = m.destination();
    let st = nix::sys::stat::fstat(tree).ctx(|| format!("stat the tree for {}", dest.display()))?;
    let leaf = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        Leaf::Dir
    } else {
        Leaf::File
    };
    let target = mkdir_all_in_root(ctx.root(), dest, leaf)
        .ctx(|| format!("create mount point {}", dest.display()))?;
    super::idmap::attach(tree, target.as_fd())
        .ctx(|| format!("attach the idmapped mount on {}", dest.display()))?;
    after_bind(ctx, dest, opts)
}

/// Bind `src` (a host path) onto `dest` in the rootfs, then apply flags.
pub fn bind_from(ctx: &RootfsCtx, src: &Path, dest: &Path, opts: &MountOptions) -> Result<()> {
    let meta = std::fs::metadata(src).ctx(|| format!("bind mount source {}", src.display()))?;
    let leaf = if meta.is_dir() { Leaf::Dir } else { Leaf::File };
    let target = mkdir_all_in_root(ctx.root(), dest, leaf)
        .ctx(|| format!("create mount point {}", dest.display()))?;
    let bind_flags = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
    mount(
        Some(src),
        fd_path(target.as_fd()).as_str(),
        None::<&str>,
        bind_flags,
        None::<&str>,
    )
    .ctx(|| format!("bind mount {} on {}", src.display(), dest.display()))?;
    after_bind(ctx, dest, opts)
}

/// The flags of a bind (a remount), then propagation and attributes.
fn after_bind(ctx: &RootfsCtx, dest: &Path, opts: &MountOptions) -> Result<()> {
    let extra = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    if !extra.is_empty() {
        let top = open_in_root(ctx.root(), dest, OFlag::O_PATH)
            .ctx(|| format!("reopen {}", dest.display()))?;
        remount_bind(top.as_fd(), extra, opts.cleared)
            .ctx(|| format!("remount {} with {extra:?}", dest.display()))?;
    }
    finish(ctx, dest, opts)
}

/// Change the flags of the bind mount at `fd`. Flags the kernel locks on
/// the source mount (nosuid, nodev, noexec, atime) are kept unless the
/// options clear them explicitly, or the remount fails with EPERM.
pub fn remount_bind(fd: BorrowedFd<'_>, flags: MsFlags, cleared: MsFlags) -> nix::Result<()> {
    let current = fstatvfs(fd)?.flags();
    let mut locked = MsFlags::empty();
    for (st, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if current.contains(st) && !cleared.contains(ms) {
            locked |= ms;
        }
    }
    // An atime mode the options name (`relatime` over a `noatime` source) replaces the
    // source's, as with runc; only a user namespace, where it is locked, keeps it.
    let atime = MsFlags::MS_NOATIME | MsFlags::MS_RELATIME | MsFlags::MS_STRICTATIME;
    let source_atime = locked & (atime | MsFlags::MS_NODIRATIME);
    if flags.intersects(atime) {
        locked &= !atime;
    }
    let path = fd_path(fd);
    let attempt = |f: MsFlags| {
        mount(
            None::<&str>,
            path.as_str(),
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | f,
            None::<&str>,
        )
    };
    match attempt(flags | locked) {
        Err(Errno::EPERM) => {
            // Inside a user namespace every flag of the source is locked.
            let mut all = locked | source_atime;
            if current.contains(FsFlags::ST_RDONLY) {
                all |= MsFlags::MS_RDONLY;
            }
            let f = if flags.intersects(atime) {
                flags & !atime
            } else {
                flags
            };
            attempt(f | all)
        }
        r => r,
    }
}

/// Propagation and recursive attributes, applied after the mount exists.
fn finish(ctx: &RootfsCtx, dest: &Path, opts: &MountOptions) -> Result<()> {
    if opts.propagation.is_empty() && opts.attr_set == 0 && opts.attr_clr == 0 {
        return Ok(());
    }
    let top = open_in_root(ctx.root(), dest, OFlag::O_PATH)
        .ctx(|| format!("reopen {}", dest.display()))?;
    for p in &opts.propagation {
        mount(
            None::<&str>,
            fd_path(top.as_fd()).as_str(),
            None::<&str>,
            *p,
            None::<&str>,
        )
        .ctx(|| format!("set propagation {p:?} on {}", dest.display()))?;
    }
    if opts.attr_set != 0 || opts.attr_clr != 0 {
        set_attr_recursive(top.as_fd(), opts.attr_set, opts.attr_clr)
            .ctx(|| format!("set recursive mount attributes on {}", dest.display()))?;
    }
    Ok(())
}

fn set_attr_recursive(fd: BorrowedFd<'_>, set: u64, clr: u64) -> nix::Result<()> {
    super::idmap::mount_setattr(fd, true, set, clr, None)
}
