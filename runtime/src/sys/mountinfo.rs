//! One mount's facts without reading /proc/self/mountinfo: statx gives the
//! unique id of the mount holding a path (STATX_MNT_ID_UNIQUE, Linux 6.8) and
//! statmount(2) (6.8; mount options 6.10) that mount's propagation, root and
//! options. Both are O(1) in the host's mount count, where a mountinfo read
//! grows with every container's overlay and netns pin.
//!
//! `Unsupported` says the kernel (or a seccomp filter) lacks a piece: the
//! callers then fall back to parsing mountinfo, as on Debian 12's 6.1.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

/// What a mount lookup can fail with.
#[derive(Debug, thiserror::Error)]
pub enum MountInfoError {
    /// The kernel or a seccomp filter lacks statmount or the unique mount id.
    #[error("statmount/STATX_MNT_ID_UNIQUE not available")]
    Unsupported,
    #[error("{what}: {errno}")]
    Sys { what: String, errno: Errno },
}

pub type Result<T> = std::result::Result<T, MountInfoError>;

// The uapi constants below are from include/uapi/linux/mount.h and
// asm-generic/unistd.h (Linux 6.10); the libc crate has them only for m68k.
const SYS_STATMOUNT: libc::c_long = 457;
const STATMOUNT_SB_BASIC: u64 = 0x1;
const STATMOUNT_MNT_BASIC: u64 = 0x2;
const STATMOUNT_MNT_ROOT: u64 = 0x8;
const STATMOUNT_MNT_POINT: u64 = 0x10;
const STATMOUNT_FS_TYPE: u64 = 0x20;
const STATMOUNT_MNT_OPTS: u64 = 0x80;
const MNT_ID_REQ_SIZE_VER0: u32 = 24;

/// `struct mnt_id_req`, first published version (24 bytes).
#[repr(C)]
struct MntIdReq {
    size: u32,
    spare: u32,
    mnt_id: u64,
    param: u64,
}

/// The fixed part of `struct statmount` as in include/uapi/linux/mount.h
/// (6.10: `mnt_opts` took the place of `__spare1`). The kernel keeps it 512
/// bytes long (later fields come out of `__spare2`), and the strings follow
/// it in `str[]`, addressed by offsets from there.
#[repr(C)]
#[derive(Clone, Copy)]
// The uapi layout: not every field is read.
#[allow(dead_code)]
struct StatmountHead {
    size: u32,
    mnt_opts: u32,
    mask: u64,
    sb_dev_major: u32,
    sb_dev_minor: u32,
    sb_magic: u64,
    sb_flags: u32,
    fs_type: u32,
    mnt_id: u64,
    mnt_parent_id: u64,
    mnt_id_old: u32,
    mnt_parent_id_old: u32,
    mnt_attr: u64,
    mnt_propagation: u64,
    mnt_peer_group: u64,
    mnt_master: u64,
    propagate_from: u64,
    mnt_root: u32,
    mnt_point: u32,
    spare2: [u64; 50],
}

const HEAD: usize = std::mem::size_of::<StatmountHead>();
const _: () = assert!(HEAD == 512);

/// Whether an errno means "this kernel (or a seccomp profile) does not have it".
fn missing(e: Errno) -> bool {
    matches!(e, Errno::ENOSYS | Errno::EPERM | Errno::EOPNOTSUPP)
}

/// The mount holding `path` (the topmost one when `path` is a mount point):
/// its unique 64-bit id, and whether `path` is that mount's root.
pub fn mount_id(path: &Path, follow: bool) -> Result<(u64, bool)> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| MountInfoError::Sys {
        what: format!("statx {}", path.display()),
        errno: Errno::EINVAL,
    })?;
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    let mut st = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: `c` is NUL-terminated and `st` a writable statx buffer that
    // outlives the call; statx writes only into it.
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            flags | libc::AT_STATX_DONT_SYNC,
            libc::STATX_MNT_ID_UNIQUE,
            st.as_mut_ptr(),
        )
    };
    if r != 0 {
        let e = Errno::last();
        return Err(if missing(e) {
            MountInfoError::Unsupported
        } else {
            MountInfoError::Sys {
                what: format!("statx {}", path.display()),
                errno: e,
            }
        });
    }
    // SAFETY: statx succeeded, so it filled the (zeroed) buffer.
    let st = unsafe { st.assume_init() };
    // Before 6.8 the kernel ignores the bit and fills at most the old,
    // reusable id, which statmount does not take.
    if st.stx_mask & libc::STATX_MNT_ID_UNIQUE == 0 {
        return Err(MountInfoError::Unsupported);
    }
    let root = st.stx_attributes_mask & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0
        && st.stx_attributes & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0;
    Ok((st.stx_mnt_id, root))
}

/// One mount as statmount describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountFacts {
    /// MS_SHARED / MS_SLAVE / MS_PRIVATE / MS_UNBINDABLE bits.
    pub propagation: u64,
    /// The filesystem's magic number (statfs's f_type).
    pub magic: u64,
    /// The filesystem type ("cgroup", "cgroup2", ...), when asked for.
    pub fs_type: String,
    /// The mounted directory of the filesystem ("/" unless a sub-tree was
    /// bound), unescaped; when asked for.
    pub root: String,
    /// Where it is mounted (relative to this process's root), unescaped;
    /// when asked for.
    pub point: String,
    /// The superblock's options without rw/ro ("memory", "name=systemd"...),
    /// when asked for.
    pub opts: String,
}

/// What to ask statmount for beyond the basic facts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Want {
    pub fs_type: bool,
    pub root: bool,
    pub point: bool,
    pub opts: bool,
}

/// statmount(2) of the mount with unique id `id` (in this mount namespace).
pub fn statmount(id: u64, want: Want) -> Result<MountFacts> {
    let mut mask = STATMOUNT_SB_BASIC | STATMOUNT_MNT_BASIC;
    if want.fs_type {
        mask |= STATMOUNT_FS_TYPE;
    }
    if want.root {
        mask |= STATMOUNT_MNT_ROOT;
    }
    if want.point {
        mask |= STATMOUNT_MNT_POINT;
    }
    if want.opts {
        mask |= STATMOUNT_MNT_OPTS;
    }
    let req = MntIdReq {
        size: MNT_ID_REQ_SIZE_VER0,
        spare: 0,
        mnt_id: id,
        param: mask,
    };
    // u64 words keep the head aligned; grown on EOVERFLOW (long options).
    let mut buf: Vec<u64> = vec![0; (HEAD + 1024) / 8];
    loop {
        let len = buf.len() * 8;
        // SAFETY: `req` is a valid mnt_id_req of the size it states, and `buf`
        // a writable, 8-aligned buffer of `len` bytes that outlives the call;
        // the kernel writes at most `len` bytes into it.
        let r = unsafe {
            libc::syscall(
                SYS_STATMOUNT,
                &req as *const MntIdReq,
                buf.as_mut_ptr(),
                len,
                0u32,
            )
        };
        if r == 0 {
            break;
        }
        match Errno::last() {
            Errno::EOVERFLOW if len < (1 << 20) => buf.resize(buf.len() * 4, 0),
            e if missing(e) => return Err(MountInfoError::Unsupported),
            // A kernel that knows statmount but not one of the asked bits
            // (6.8/6.9 and mount options).
            Errno::EINVAL if want.opts => return Err(MountInfoError::Unsupported),
            e => {
                return Err(MountInfoError::Sys {
                    what: format!("statmount of mount {id:#x}"),
                    errno: e,
                })
            }
        }
    }
    let bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_ne_bytes()).collect();
    // SAFETY: `bytes` holds at least HEAD bytes, StatmountHead is plain old
    // data (any bit pattern is valid) and read_unaligned needs no alignment.
    let head = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<StatmountHead>()) };
    // An older kernel leaves out a part it does not know. Options are the
    // exception: an empty string is not marked in `mask`, and a kernel
    // without them (6.8, 6.9) gives none, which the callers check.
    let needed = mask & !STATMOUNT_MNT_OPTS;
    if head.mask & needed != needed {
        return Err(MountInfoError::Unsupported);
    }
    let strings = &bytes[HEAD..(head.size as usize).clamp(HEAD, bytes.len())];
    let string = |on: bool, off: u32| -> String {
        if !on {
            return String::new();
        }
        let s = strings.get(off as usize..).unwrap_or_default();
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        String::from_utf8_lossy(&s[..end]).into_owned()
    };
    Ok(MountFacts {
        propagation: head.mnt_propagation,
        magic: head.sb_magic,
        fs_type: string(want.fs_type, head.fs_type),
        root: string(want.root, head.mnt_root),
        point: string(want.point, head.mnt_point),
        opts: string(want.opts, head.mnt_opts),
    })
}

/// Runs `f` on a thread where statmount fails with ENOSYS, as on a kernel
/// before 6.8 (a seccomp filter of that thread only; it goes with it).
#[cfg(test)]
pub(crate) fn without_statmount<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use libseccomp::{ScmpAction, ScmpFilterContext, ScmpSyscall};
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut ctx = ScmpFilterContext::new(ScmpAction::Allow).expect("seccomp filter");
            ctx.add_rule(
                ScmpAction::Errno(libc::ENOSYS),
                ScmpSyscall::from(SYS_STATMOUNT as i32),
            )
            .expect("seccomp rule");
            ctx.load().expect("load seccomp filter");
            f()
        })
        .join()
        .expect("thread")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enosys_is_unsupported() {
        let (id, _) = match mount_id(Path::new("/"), true) {
            Ok(v) => v,
            Err(MountInfoError::Unsupported) => return,
            Err(e) => panic!("{e}"),
        };
        let r = without_statmount(|| statmount(id, Want::default()));
        assert!(matches!(r, Err(MountInfoError::Unsupported)), "{r:?}");
    }

    #[test]
    fn root_mount_facts() {
        let (id, is_root) = match mount_id(Path::new("/proc"), true) {
            Ok(v) => v,
            Err(MountInfoError::Unsupported) => return, // pre-6.8 kernel
            Err(e) => panic!("{e}"),
        };
        assert!(is_root, "/proc is a mount root");
        let f = statmount(
            id,
            Want {
                fs_type: true,
                root: true,
                point: true,
                opts: true,
            },
        )
        .expect("statmount /proc");
        assert_eq!(f.fs_type, "proc");
        assert_eq!(f.magic, libc::PROC_SUPER_MAGIC as u64);
        assert_eq!(f.root, "/");
        assert_eq!(f.point, "/proc");
        assert_ne!(f.propagation, 0);
        // A directory inside /proc is not a mount root.
        let (id2, r2) = mount_id(Path::new("/proc/self/fd"), true).expect("statx");
        assert!(!r2);
        assert_ne!(id2, 0);
    }
}
