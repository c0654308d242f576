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
fn mount_mappings(spec: &Spec, m: &Mount) -> Result<Option<(Mappings, bool)>> {
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
        let ns = ns_for(uid, gid)?;
        let fd = clone_tree(rootfs, true)
            .ctx(|| format!("open_tree of the rootfs {}", rootfs.display()))?;
        // SAFETY: ns is an open fd owned by `userns`, alive for this call.
        set_idmap(fd.as_fd(), unsafe { BorrowedFd::borrow_raw(ns) }, true)
            .map_err(|e| idmap_error(e, "the rootfs", rootfs))?;
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
    Ok(out)
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
fn clone_tree(path: &Path, recursive: bool) -> nix::Result<OwnedFd> {
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

/// mount_setattr(MOUNT_ATTR_IDMAP) with the mappings of the user namespace `ns`.
fn set_idmap(tree: BorrowedFd<'_>, ns: BorrowedFd<'_>, recursive: bool) -> nix::Result<()> {
    // SAFETY: mount_attr is plain integers; all-zero is its neutral value.
    let mut attr: libc::mount_attr = unsafe { std::mem::zeroed() };
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = ns.as_raw_fd() as u64;
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: valid fds, an empty path with AT_EMPTY_PATH, an initialised attr.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
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
    let forked = clone::clone3(libc::CLONE_NEWUSER as u64).ctx(|| "clone a user namespace")?;
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
