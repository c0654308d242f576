//! Idmapped mounts: `mounts[].uidMappings/gidMappings` with the `idmap` /
//! `ridmap` options, and the rootfs itself when the annotation
//! [`ROOTFS_IDMAP_ANNOTATION`] asks for it (runtime-spec has no field for an
//! idmapped root; the manager's `--userns` sets it).
//!
//! Setting MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN over the source filesystem,
//! which the init no longer has once it is in its own user namespace. So
//! `create` makes every idmapped mount on the host, as a detached tree
//! (open_tree(OPEN_TREE_CLONE) + mount_setattr with a user namespace fd
//! holding the mappings); the init inherits the fds with the clone and
//! attaches them with move_mount at their destinations.
//!
//! The same path serves plain binds of a new user namespace whose source the
//! container's root cannot reach (a directory on the way it may not search):
//! the init could not open the source, `create` can, as runc's parent opens
//! such sources for its init.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, Mount, Spec};

use super::options;
use crate::error::{Error, Result, SysContext};
use crate::sys::clone::{self, Forked};

/// Annotation: "true" makes the rootfs an idmapped mount with the
/// container's own `linux.uidMappings/gidMappings`.
pub const ROOTFS_IDMAP_ANNOTATION: &str = "org.berth.rootfs.idmap";

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// A user namespace's uid and gid mappings.
type Mappings = (Vec<LinuxIdMapping>, Vec<LinuxIdMapping>);

/// Which mount a prepared tree is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Rootfs,
    /// Index into `mounts[]`.
    Mount(usize),
}

/// A detached, idmapped mount tree waiting to be attached by the init.
#[derive(Debug)]
pub struct Idmapped {
    pub target: Target,
    pub fd: OwnedFd,
}

/// The mappings of one mount entry, or None when it is not idmapped.
/// Mappings without an `idmap` option still mean an idmapped mount (older
/// spec versions had no option); the option without mappings takes the
/// container's own user namespace mappings.
pub(crate) fn mount_mappings(spec: &Spec, m: &Mount) -> Result<Option<(Mappings, bool)>> {
    let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
    let uid = m.uid_mappings().clone().filter(|v| !v.is_empty());
    let gid = m.gid_mappings().clone().filter(|v| !v.is_empty());
    if !opts.idmap && uid.is_none() && gid.is_none() {
        return Ok(None);
    }
    let dest = m.destination().display();
    let is_bind = m.typ().as_deref() == Some("bind") || opts.bind();
    if !is_bind {
        return Err(Error::Unsupported(
            "idmapped mounts of other than bind mounts",
            format!(
                "mount {dest} (type {}) asks for an idmap",
                m.typ().as_deref().unwrap_or("none")
            ),
        ));
    }
    let (uid, gid) = match (uid, gid) {
        (Some(u), Some(g)) => (u, g),
        (None, None) => container_mappings(spec).ok_or_else(|| {
            Error::Invalid(format!(
                "mount {dest} has the idmap option but neither uidMappings/gidMappings \
                 nor a user namespace with linux.uidMappings/gidMappings to take them from"
            ))
        })?,
        _ => {
            return Err(Error::Invalid(format!(
                "mount {dest}: uidMappings and gidMappings must be given together"
            )))
        }
    };
    Ok(Some(((uid, gid), opts.idmap_recursive)))
}

fn container_mappings(spec: &Spec) -> Option<Mappings> {
    let l = spec.linux().as_ref()?;
    let u = l.uid_mappings().clone().filter(|v| !v.is_empty())?;
    let g = l.gid_mappings().clone().filter(|v| !v.is_empty())?;
    Some((u, g))
}

/// Whether the spec asks for an idmapped rootfs.
pub fn rootfs_idmapped(spec: &Spec) -> bool {
    spec.annotations()
        .as_ref()
        .and_then(|a| a.get(ROOTFS_IDMAP_ANNOTATION))
        .is_some_and(|v| v == "true")
}

/// Make every idmapped mount the spec asks for (on the host, before the
/// init is cloned). Nothing is attached anywhere yet: dropping the result
/// releases the trees.
pub fn prepare(spec: &Spec, rootfs: &Path, bundle: &Path) -> Result<Vec<Idmapped>> {
    let mut out = Vec::new();
    let mut userns: Vec<(Mappings, OwnedFd)> = Vec::new();
    let mut ns_for =
        |uid: Vec<LinuxIdMapping>, gid: Vec<LinuxIdMapping>| -> Result<std::os::fd::RawFd> {
            let key = (uid, gid);
            if let Some((_, fd)) = userns.iter().find(|(k, _)| *k == key) {
                return Ok(fd.as_raw_fd());
            }
            let fd = userns_fd(&key.0, &key.1)?;
            let raw = fd.as_raw_fd();
            userns.push((key, fd));
            Ok(raw)
        };
    if rootfs_idmapped(spec) {
        let (uid, gid) = container_mappings(spec).ok_or_else(|| {
            Error::Invalid(format!(
                "annotation {ROOTFS_IDMAP_ANNOTATION} needs a user namespace with \
                 linux.uidMappings and linux.gidMappings"
            ))
        })?;
        let fd = match overlay_at(rootfs)? {
            // overlayfs cannot be idmapped itself, its layers can: a new
            // overlay of the same layers, each idmapped.
            Some(layers) => {
                let ns = ns_for(with_mounter(&uid), with_mounter(&gid))?;
                // SAFETY: ns is an open fd owned by `userns`, alive for this call.
                idmapped_overlay(&layers, unsafe { BorrowedFd::borrow_raw(ns) })?
            }
            None => {
                let ns = ns_for(uid, gid)?;
                let fd = clone_tree(rootfs, true)
                    .ctx(|| format!("open_tree of the rootfs {}", rootfs.display()))?;
                // SAFETY: as above.
                set_idmap(fd.as_fd(), unsafe { BorrowedFd::borrow_raw(ns) }, true)
                    .map_err(|e| idmap_error(e, "the rootfs", rootfs))?;
                fd
            }
        };
        out.push(Idmapped {
            target: Target::Rootfs,
            fd,
        });
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let Some(((uid, gid), recursive)) = mount_mappings(spec, m)? else {
            continue;
        };
        let src = m.source().as_ref().ok_or_else(|| {
            Error::Invalid(format!(
                "bind mount {} has no source",
                m.destination().display()
            ))
        })?;
        let src: PathBuf = if src.is_absolute() {
            src.clone()
        } else {
            bundle.join(src)
        };
        let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
        let ns = ns_for(uid, gid)?;
        let rec_tree = opts.flags.contains(nix::mount::MsFlags::MS_REC);
        let fd = clone_tree(&src, rec_tree)
            .ctx(|| format!("open_tree of the bind source {}", src.display()))?;
        // SAFETY: as above.
        set_idmap(fd.as_fd(), unsafe { BorrowedFd::borrow_raw(ns) }, recursive)
            .map_err(|e| idmap_error(e, &m.destination().display().to_string(), &src))?;
        out.push(Idmapped {
            target: Target::Mount(i),
            fd,
        });
    }
    if let Some((uid, gid)) = container_mappings(spec) {
        for (i, m) in spec.mounts().iter().flatten().enumerate() {
            let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
            let bind = m.typ().as_deref() == Some("bind") || opts.bind();
            if !bind || out.iter().any(|t| t.target == Target::Mount(i)) {
                continue;
            }
            let Some(src) = m.source().as_ref() else {
                continue;
            };
            let src: PathBuf = if src.is_absolute() {
                src.clone()
            } else {
                bundle.join(src)
            };
            if reachable_by_root_of(&src, &uid, &gid) {
                continue;
            }
            let rec_tree = opts.flags.contains(nix::mount::MsFlags::MS_REC);
            let fd = clone_tree(&src, rec_tree)
                .ctx(|| format!("open_tree of the bind source {}", src.display()))?;
            out.push(Idmapped {
                target: Target::Mount(i),
                fd,
            });
        }
    }
    Ok(out)
}

/// Host id of the user namespace's id 0 (None: 0 is not mapped).
fn host_root(maps: &[LinuxIdMapping]) -> Option<u32> {
    maps.iter()
        .find(|m| m.container_id() == 0 && m.size() > 0)
        .map(|m| m.host_id())
}

fn is_mapped(id: u32, maps: &[LinuxIdMapping]) -> bool {
    maps.iter()
        .any(|m| id >= m.host_id() && id - m.host_id() < m.size())
}

/// Whether the root of a user namespace with these mappings can look up
/// `path` (search permission on every directory on the way). Its
/// capabilities count only for inodes whose owner and group are both mapped;
/// otherwise the mode bits decide, for its host uid and gid. An estimate
/// (ACLs and supplementary groups are not read): a source it calls
/// unreachable is opened by `create` instead, which the init's own bind
/// could not have done better; one it calls reachable is bound as before.
fn reachable_by_root_of(path: &Path, uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> bool {
    let (ruid, rgid) = (host_root(uid), host_root(gid));
    let mut dir = PathBuf::new();
    let mut components = path.components().peekable();
    while let Some(c) = components.next() {
        dir.push(c);
        if components.peek().is_none() {
            break; // the source itself needs no search permission
        }
        let Ok(st) = nix::sys::stat::stat(&dir) else {
            return true; // let the bind report it
        };
        if is_mapped(st.st_uid, uid) && is_mapped(st.st_gid, gid) {
            continue;
        }
        let mode = st.st_mode;
        let ok = if Some(st.st_uid) == ruid {
            mode & 0o100 != 0
        } else if Some(st.st_gid) == rgid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !ok {
            return false;
        }
    }
    true
}

/// The layers of the overlay mounted at `path`, from mountinfo.
#[derive(Debug, PartialEq)]
struct OverlayLayers {
    lower: Vec<PathBuf>,
    upper: PathBuf,
    work: PathBuf,
    volatile: bool,
}

fn overlay_at(path: &Path) -> Result<Option<OverlayLayers>> {
    let path = std::fs::canonicalize(path).ctx(|| format!("resolve {}", path.display()))?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ctx(|| "read mountinfo")?;
    // The last mount at the path is the one seen there.
    let line = info.lines().rev().find(|l| {
        l.split(' ')
            .nth(4)
            .is_some_and(|mp| Path::new(&super::unescape(mp)) == path)
    });
    Ok(line.and_then(parse_overlay_line))
}

/// One mountinfo line's overlay layers (None: another filesystem, or no
/// upper layer).
fn parse_overlay_line(line: &str) -> Option<OverlayLayers> {
    let (_, post) = line.split_once(" - ")?;
    let mut f = post.split(' ');
    if f.next()? != "overlay" {
        return None;
    }
    let opts = f.nth(1)?;
    let mut l = OverlayLayers {
        lower: Vec::new(),
        upper: PathBuf::new(),
        work: PathBuf::new(),
        volatile: false,
    };
    for o in split_unescaped(opts, ',') {
        let (k, v) = o.split_once('=').unwrap_or((o.as_str(), ""));
        let unesc =
            |v: &str| PathBuf::from(super::unescape(&v.replace("\\:", ":").replace("\\,", ",")));
        match k {
            "lowerdir" => l
                .lower
                .extend(split_unescaped(v, ':').iter().map(|p| unesc(p))),
            "lowerdir+" => l.lower.push(unesc(v)),
            "upperdir" => l.upper = unesc(v),
            "workdir" => l.work = unesc(v),
            "volatile" => l.volatile = true,
            _ => {}
        }
    }
    (!l.lower.is_empty() && !l.upper.as_os_str().is_empty()).then_some(l)
}

/// Split at `sep` where it is not escaped by a backslash (escapes are kept).
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut esc = false;
    for c in s.chars() {
        if c == sep && !esc {
            out.push(String::new());
            continue;
        }
        esc = c == '\\' && !esc;
        if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}

/// The container's mappings plus one for the overlay's mounter (host root,
/// which `create` is): overlayfs makes its work directories and copies up
/// with the mounter's credentials, which an idmapped upper layer must be able
/// to map. Host root maps to the first id above the container's ranges, so it
/// never owns anything the container sees as its own.
fn with_mounter(maps: &[LinuxIdMapping]) -> Vec<LinuxIdMapping> {
    let mut v = maps.to_vec();
    if maps.iter().any(|m| m.host_id() == 0) {
        return v;
    }
    let above = maps
        .iter()
        .map(|m| m.container_id().saturating_add(m.size()))
        .max()
        .unwrap_or(0);
    if let Ok(m) = oci_spec::runtime::LinuxIdMappingBuilder::default()
        .container_id(above)
        .host_id(0u32)
        .size(1u32)
        .build()
    {
        v.push(m);
    }
    v
}

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_SET_FD: libc::c_uint = 5;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;

/// A detached overlay of `layers`, each layer an idmapped mount (`ns`).
fn idmapped_overlay(layers: &OverlayLayers, ns: BorrowedFd<'_>) -> Result<OwnedFd> {
    let idmapped = |p: &Path| -> Result<OwnedFd> {
        let fd = clone_tree(p, false).ctx(|| format!("open_tree of the layer {}", p.display()))?;
        set_idmap(fd.as_fd(), ns, false).map_err(|e| idmap_error(e, "an overlay layer", p))?;
        Ok(fd)
    };
    // upperdir and workdir must be on one mount: their common parent's.
    let parent = layers
        .upper
        .parent()
        .filter(|p| Some(*p) == layers.work.parent());
    let (Some(parent), Some(up), Some(wk)) =
        (parent, layers.upper.file_name(), layers.work.file_name())
    else {
        return Err(Error::Unsupported(
            "an idmapped rootfs whose overlay upperdir and workdir are not siblings",
            format!("{} and {}", layers.upper.display(), layers.work.display()),
        ));
    };
    let lowers = layers
        .lower
        .iter()
        .map(|p| idmapped(p))
        .collect::<Result<Vec<_>>>()?;
    let top = idmapped(parent)?;
    let sub = |name: &std::ffi::OsStr| {
        nix::fcntl::openat(
            top.as_fd(),
            name,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| {
            format!(
                "open {} in the idmapped {}",
                name.to_string_lossy(),
                parent.display()
            )
        })
    };
    let (upper, work) = (sub(up)?, sub(wk)?);
    let fs = FsContext::open("overlay").ctx(|| "fsopen overlay")?;
    for l in &lowers {
        fs.set_fd("lowerdir+", l.as_fd())?;
    }
    fs.set_fd("upperdir", upper.as_fd())?;
    fs.set_fd("workdir", work.as_fd())?;
    // The manager's own overlay of the same upper layer stays mounted on
    // the host; `index` would refuse a second user of it.
    fs.set_string("index", "off")?;
    if layers.volatile {
        fs.set_flag("volatile")?;
    }
    fs.create()?;
    fs.mount()
}

/// A filesystem context (fsopen), with the kernel's own message on failure.
struct FsContext(OwnedFd);

impl FsContext {
    fn open(fstype: &str) -> nix::Result<FsContext> {
        let c = std::ffi::CString::new(fstype).map_err(|_| Errno::EINVAL)?;
        // SAFETY: a valid C string and flags; the result is a new fd or -1.
        let r = unsafe { libc::syscall(libc::SYS_fsopen, c.as_ptr(), FSOPEN_CLOEXEC) };
        if r < 0 {
            return Err(Errno::last());
        }
        // SAFETY: fsopen returned a fresh fd that nothing else owns.
        Ok(FsContext(unsafe { OwnedFd::from_raw_fd(r as i32) }))
    }

    fn config(
        &self,
        cmd: libc::c_uint,
        key: Option<&str>,
        value: Option<&str>,
        aux: i32,
    ) -> Result<()> {
        let k = key
            .map(std::ffi::CString::new)
            .transpose()
            .map_err(|_| Error::Invalid("NUL in an overlay option".into()))?;
        let v = value
            .map(std::ffi::CString::new)
            .transpose()
            .map_err(|_| Error::Invalid("NUL in an overlay option".into()))?;
        // SAFETY: a valid fd, C strings (or NULL) that outlive the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.0.as_raw_fd(),
                cmd,
                k.as_ref().map_or(std::ptr::null(), |k| k.as_ptr()),
                v.as_ref().map_or(std::ptr::null(), |v| v.as_ptr()),
                aux,
            )
        };
        if r < 0 {
            let e = Errno::last();
            return Err(Error::Sys {
                ctx: format!(
                    "overlay of the idmapped rootfs: {}{}",
                    key.unwrap_or("create"),
                    self.kernel_message()
                ),
                source: e,
            });
        }
        Ok(())
    }

    fn set_fd(&self, key: &str, fd: BorrowedFd<'_>) -> Result<()> {
        self.config(FSCONFIG_SET_FD, Some(key), None, fd.as_raw_fd())
    }
    fn set_string(&self, key: &str, value: &str) -> Result<()> {
        self.config(FSCONFIG_SET_STRING, Some(key), Some(value), 0)
    }
    fn set_flag(&self, key: &str) -> Result<()> {
        self.config(FSCONFIG_SET_FLAG, Some(key), None, 0)
    }
    fn create(&self) -> Result<()> {
        self.config(FSCONFIG_CMD_CREATE, None, None, 0)
    }

    fn mount(&self) -> Result<OwnedFd> {
        // SAFETY: a valid fs context fd; the result is a new fd or -1.
        let r = unsafe { libc::syscall(libc::SYS_fsmount, self.0.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
        if r < 0 {
            return Err(Errno::last()).ctx(|| "fsmount of the idmapped rootfs overlay");
        }
        // SAFETY: fsmount returned a fresh fd that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
    }

    /// The kernel's messages about this context (`e overlayfs: ...`).
    fn kernel_message(&self) -> String {
        let mut buf = [0u8; 512];
        match nix::unistd::read(&self.0, &mut buf) {
            Ok(n) if n > 0 => format!(" ({})", String::from_utf8_lossy(&buf[..n]).trim()),
            _ => String::new(),
        }
    }
}

fn idmap_error(e: Errno, what: &str, src: &Path) -> Error {
    match e {
        // The filesystem (or the kernel) cannot idmap this mount.
        Errno::EINVAL | Errno::EOPNOTSUPP | Errno::ENOSYS => Error::Unsupported(
            "idmapped mounts on this filesystem or kernel",
            format!(
                "cannot idmap {what} (source {}): {}",
                src.display(),
                e.desc()
            ),
        ),
        e => Error::Sys {
            ctx: format!("idmap {what} (source {})", src.display()),
            source: e,
        },
    }
}

/// open_tree(OPEN_TREE_CLONE): a detached copy of the mount at `path`
/// (with its submounts when `recursive`).
pub(crate) fn clone_tree(path: &Path, recursive: bool) -> nix::Result<OwnedFd> {
    let c =
        std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: a valid C string and flags; the result is a new fd or -1.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: open_tree returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
}

/// Whether the kernel has mount_setattr (Linux 5.12), which idmapped mounts
/// need; `features` reports idmap support from this. An invalid fd tells
/// EBADF (the call exists) from ENOSYS without touching any mount.
pub fn kernel_supports_idmap() -> bool {
    // SAFETY: mount_setattr with fd -1 and a null attr of size 0 fails before
    // reading anything.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            std::ptr::null::<libc::mount_attr>(),
            0usize,
        )
    };
    !(r < 0 && Errno::last() == Errno::ENOSYS)
}

/// mount_setattr adding `attr_set` (MOUNT_ATTR_RDONLY, _NOSUID, ...) to
/// the top mount of a detached tree; the flags it already has stay.
pub(crate) fn set_attrs(tree: BorrowedFd<'_>, attr_set: u64) -> nix::Result<()> {
    mount_setattr(tree, false, attr_set, 0, None)
}

/// mount_setattr(MOUNT_ATTR_IDMAP) with the mappings of the user namespace `ns`.
fn set_idmap(tree: BorrowedFd<'_>, ns: BorrowedFd<'_>, recursive: bool) -> nix::Result<()> {
    mount_setattr(tree, recursive, MOUNT_ATTR_IDMAP, 0, Some(ns))
}

/// mount_setattr(2) on the mount `fd` (AT_EMPTY_PATH; AT_RECURSIVE when
/// `recursive`): sets `set`, clears `clr`, with `userns` for MOUNT_ATTR_IDMAP.
pub(crate) fn mount_setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    set: u64,
    clr: u64,
    userns: Option<BorrowedFd<'_>>,
) -> nix::Result<()> {
    // SAFETY: mount_attr is plain integers; all-zero is its neutral value (and
    // what the kernel expects in the fields not set here).
    let mut attr: libc::mount_attr = unsafe { std::mem::zeroed() };
    attr.attr_set = set;
    attr.attr_clr = clr;
    if let Some(ns) = userns {
        attr.userns_fd = ns.as_raw_fd() as u64;
    }
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: valid fds, an empty path with AT_EMPTY_PATH, an initialised attr
    // of the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Attach the detached tree `tree` on the mount point `target` (an O_PATH fd).
pub fn attach(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> nix::Result<()> {
    // SAFETY: valid fds and empty paths with the *_EMPTY_PATH flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// A user namespace holding `uid`/`gid` mappings, as an fd: a child made in
/// a new user namespace lives just long enough for its maps to be written
/// and its namespace opened.
fn userns_fd(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<OwnedFd> {
    let forked =
        clone::clone3(libc::CLONE_NEWUSER as u64, None).ctx(|| "clone a user namespace")?;
    let (pid, pidfd) = match forked {
        Forked::Child => {
            // Dies with us if the runtime is killed meanwhile; otherwise
            // waits to be killed below.
            // SAFETY: prctl, getppid and pause are async-signal-safe and
            // touch no memory of ours.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                loop {
                    libc::pause();
                }
            }
        }
        Forked::Parent { pid, pidfd } => (pid, crate::sys::pidfd::PidFd::from_owned(pidfd)),
    };
    let r = (|| {
        crate::init::namespaces::write_map(pid, "uid_map", uid)?;
        crate::init::namespaces::write_map(pid, "gid_map", gid)?;
        let path = format!("/proc/{pid}/ns/user");
        open(
            path.as_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("open {path}"))
    })();
    let _ = pidfd.kill();
    let _ = waitpid(Pid::from_raw(pid), None);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).expect("spec")
    }

    #[test]
    fn mappings_from_the_mount_or_the_container() {
        let s = spec(
            r#"{"ociVersion":"1.1.0","root":{"path":"rootfs"},
               "linux":{"uidMappings":[{"containerID":0,"hostID":1000,"size":10}],
                        "gidMappings":[{"containerID":0,"hostID":2000,"size":10}]},
               "mounts":[
                 {"destination":"/a","type":"bind","source":"/tmp","options":["rbind","idmap"]},
                 {"destination":"/b","type":"bind","source":"/tmp","options":["bind","ridmap"],
                  "uidMappings":[{"containerID":0,"hostID":5,"size":1}],
                  "gidMappings":[{"containerID":0,"hostID":6,"size":1}]},
                 {"destination":"/c","type":"bind","source":"/tmp","options":["bind"]}
               ]}"#,
        );
        let m = s.mounts().clone().unwrap_or_default();
        let ((u, g), rec) = mount_mappings(&s, &m[0]).unwrap().unwrap();
        assert_eq!((u[0].host_id(), g[0].host_id(), rec), (1000, 2000, false));
        let ((u, g), rec) = mount_mappings(&s, &m[1]).unwrap().unwrap();
        assert_eq!((u[0].host_id(), g[0].host_id(), rec), (5, 6, true));
        assert!(mount_mappings(&s, &m[2]).unwrap().is_none());
    }

    #[test]
    fn overlay_layers_from_mountinfo() {
        let l = parse_overlay_line(
            "36 35 0:40 / /b/rootfs rw,relatime - overlay overlay \
             rw,lowerdir=/s/a\\:x:/s/b,upperdir=/c/upper,workdir=/c/work,volatile",
        )
        .unwrap();
        assert_eq!(
            l,
            OverlayLayers {
                lower: vec!["/s/a:x".into(), "/s/b".into()],
                upper: "/c/upper".into(),
                work: "/c/work".into(),
                volatile: true,
            }
        );
        assert!(parse_overlay_line("36 35 8:1 / /b rw - ext4 /dev/vda rw").is_none());
    }

    #[test]
    fn the_mounter_gets_an_id_above_the_container_ranges() {
        let m: Vec<LinuxIdMapping> =
            serde_json::from_str(r#"[{"containerID":0,"hostID":100000,"size":65536}]"#).unwrap();
        let v = with_mounter(&m);
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[1].container_id(), v[1].host_id(), v[1].size()),
            (65536, 0, 1)
        );
    }

    #[test]
    fn idmap_of_a_non_bind_mount_or_without_mappings_is_an_error() {
        let s = spec(
            r#"{"ociVersion":"1.1.0","root":{"path":"rootfs"},
               "mounts":[
                 {"destination":"/t","type":"tmpfs","source":"tmpfs","options":["idmap"]},
                 {"destination":"/a","type":"bind","source":"/tmp","options":["bind","idmap"]},
                 {"destination":"/b","type":"bind","source":"/tmp","options":["bind"],
                  "uidMappings":[{"containerID":0,"hostID":5,"size":1}]}
               ]}"#,
        );
        let m = s.mounts().clone().unwrap_or_default();
        let e = mount_mappings(&s, &m[0]).unwrap_err().to_string();
        assert!(e.contains("/t") && e.contains("bind"), "{e}");
        let e = mount_mappings(&s, &m[1]).unwrap_err().to_string();
        assert!(e.contains("/a") && e.contains("uidMappings"), "{e}");
        let e = mount_mappings(&s, &m[2]).unwrap_err().to_string();
        assert!(e.contains("together"), "{e}");
    }
}
