//! Filesystem calls relative to a directory fd: `*at` calls on one path component
//! (never resolved through a symlink), openat2 with `RESOLVE_IN_ROOT` for paths
//! inside a container's root, xattrs, device nodes and flock.
//!
//! nix provides all of it except the xattr calls and a flock on a borrowed fd
//! (nix's `Flock` takes the file by value), which are small unsafe helpers below.

use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags};
use nix::NixPath;
use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

pub use nix::fcntl::AT_FDCWD;
pub use nix::sys::stat::FileStat as Stat;

/// `f` again while it fails with EINTR.
fn retry<T>(mut f: impl FnMut() -> nix::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(nix::errno::Errno::EINTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

fn cstring(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

/// The file type bits of a stat.
pub fn file_type(st: &Stat) -> u32 {
    st.st_mode & libc::S_IFMT
}

pub fn is_dir(st: &Stat) -> bool {
    file_type(st) == libc::S_IFDIR
}

pub fn is_symlink(st: &Stat) -> bool {
    file_type(st) == libc::S_IFLNK
}

/// openat(dir, name, flags | O_CLOEXEC, mode).
pub fn openat<P: ?Sized + NixPath>(
    dir: impl AsFd,
    name: &P,
    flags: OFlag,
    mode: u32,
) -> io::Result<OwnedFd> {
    let dir = dir.as_fd();
    retry(|| {
        nix::fcntl::openat(
            dir,
            name,
            flags | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(mode),
        )
    })
}

/// A directory as an O_PATH fd, refusing to follow a symlink at `name`.
pub fn open_dir_nofollow<P: ?Sized + NixPath>(dir: impl AsFd, name: &P) -> io::Result<OwnedFd> {
    openat(
        dir,
        name,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
        0,
    )
}

/// The directory `p` (resolved normally) as an O_PATH fd.
pub fn open_dir_path(p: &Path) -> io::Result<OwnedFd> {
    openat(AT_FDCWD, p, OFlag::O_PATH | OFlag::O_DIRECTORY, 0)
}

/// openat2(root, rel, flags | O_CLOEXEC, resolve).
pub fn openat2<P: ?Sized + NixPath>(
    root: impl AsFd,
    rel: &P,
    flags: OFlag,
    resolve: ResolveFlag,
) -> io::Result<OwnedFd> {
    let root = root.as_fd();
    retry(|| {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(resolve);
        nix::fcntl::openat2(root, rel, how)
    })
}

/// How paths resolve inside a container's root: `..` and absolute symlinks stop at
/// the root, and /proc magic links are refused.
pub const IN_ROOT: ResolveFlag =
    ResolveFlag::RESOLVE_IN_ROOT.union(ResolveFlag::RESOLVE_NO_MAGICLINKS);

/// openat2 of `rel` inside `root` as if `root` were `/` (a leading `/` is dropped).
pub fn open_in_root(root: impl AsFd, rel: &str, flags: OFlag) -> io::Result<OwnedFd> {
    let rel = rel.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    openat2(root, rel, flags, IN_ROOT)
}

pub fn fstat(fd: impl AsFd) -> io::Result<Stat> {
    Ok(nix::sys::stat::fstat(fd)?)
}

/// lstat of `name` in `dir`.
pub fn lstatat<P: ?Sized + NixPath>(dir: impl AsFd, name: &P) -> io::Result<Stat> {
    Ok(nix::sys::stat::fstatat(
        dir,
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )?)
}

/// lstat of `name` in `dir`; None when it does not exist.
pub fn lstatat_opt<P: ?Sized + NixPath>(dir: impl AsFd, name: &P) -> io::Result<Option<Stat>> {
    match lstatat(dir, name) {
        Ok(st) => Ok(Some(st)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn mkdirat<P: ?Sized + NixPath>(dir: impl AsFd, name: &P, mode: u32) -> io::Result<()> {
    Ok(nix::sys::stat::mkdirat(
        dir,
        name,
        Mode::from_bits_truncate(mode),
    )?)
}

/// A symlink `name` in `dir` pointing at `target` (stored, never resolved).
pub fn symlinkat<T: ?Sized + NixPath, P: ?Sized + NixPath>(
    target: &T,
    dir: impl AsFd,
    name: &P,
) -> io::Result<()> {
    Ok(nix::unistd::symlinkat(target, dir, name)?)
}

/// A hard link; a link to a symlink links the symlink itself (no AT_SYMLINK_FOLLOW).
pub fn linkat<P1: ?Sized + NixPath, P2: ?Sized + NixPath>(
    odir: impl AsFd,
    oname: &P1,
    ndir: impl AsFd,
    nname: &P2,
) -> io::Result<()> {
    Ok(nix::unistd::linkat(
        odir,
        oname,
        ndir,
        nname,
        nix::fcntl::AtFlags::empty(),
    )?)
}

/// mknodat with `mode` holding both the file type (S_IFCHR...) and permissions.
pub fn mknodat<P: ?Sized + NixPath>(
    dir: impl AsFd,
    name: &P,
    mode: u32,
    dev: u64,
) -> io::Result<()> {
    Ok(nix::sys::stat::mknodat(
        dir,
        name,
        SFlag::from_bits_truncate(mode & libc::S_IFMT),
        Mode::from_bits_truncate(mode & !libc::S_IFMT),
        dev,
    )?)
}

pub fn makedev(major: u32, minor: u32) -> u64 {
    nix::sys::stat::makedev(major as u64, minor as u64)
}

pub fn major(dev: u64) -> u64 {
    nix::sys::stat::major(dev)
}

pub fn minor(dev: u64) -> u64 {
    nix::sys::stat::minor(dev)
}

/// Remove the non-directory `name` in `dir`.
pub fn unlinkat<P: ?Sized + NixPath>(dir: impl AsFd, name: &P) -> io::Result<()> {
    Ok(nix::unistd::unlinkat(
        dir,
        name,
        UnlinkatFlags::NoRemoveDir,
    )?)
}

/// chown of `name` in `dir` itself (a symlink is not followed).
pub fn fchownat<P: ?Sized + NixPath>(
    dir: impl AsFd,
    name: &P,
    uid: u32,
    gid: u32,
) -> io::Result<()> {
    Ok(nix::unistd::fchownat(
        dir,
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )?)
}

/// chmod of `name` in `dir` (callers pass names that are not symlinks).
pub fn fchmodat<P: ?Sized + NixPath>(dir: impl AsFd, name: &P, mode: u32) -> io::Result<()> {
    Ok(nix::sys::stat::fchmodat(
        dir,
        name,
        Mode::from_bits_truncate(mode),
        FchmodatFlags::FollowSymlink,
    )?)
}

pub fn fchown(fd: impl AsFd, uid: u32, gid: u32) -> io::Result<()> {
    Ok(nix::unistd::fchown(
        fd,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
    )?)
}

pub fn fchmod(fd: impl AsFd, mode: u32) -> io::Result<()> {
    Ok(nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(mode))?)
}

/// Set the mtime (whole seconds) of `name` in `dir`, leaving atime alone; a symlink
/// itself, never its target.
pub fn set_mtime_at<P: ?Sized + NixPath>(dir: impl AsFd, name: &P, mtime: i64) -> io::Result<()> {
    Ok(nix::sys::stat::utimensat(
        dir,
        name,
        &TimeSpec::UTIME_OMIT,
        &TimeSpec::new(mtime, 0),
        UtimensatFlags::NoFollowSymlink,
    )?)
}

/// Set the mtime (whole seconds) of an open file, leaving atime alone.
pub fn set_mtime(fd: impl AsFd, mtime: i64) -> io::Result<()> {
    Ok(nix::sys::stat::futimens(
        fd,
        &TimeSpec::UTIME_OMIT,
        &TimeSpec::new(mtime, 0),
    )?)
}

pub fn readlinkat<P: ?Sized + NixPath>(dir: impl AsFd, name: &P) -> io::Result<OsString> {
    Ok(nix::fcntl::readlinkat(dir, name)?)
}

/// Re-open an O_PATH fd with `flags` (through /proc/self/fd, which names this exact
/// file, not whatever is at its path now).
pub fn reopen(fd: impl AsFd, flags: OFlag) -> io::Result<OwnedFd> {
    let p = format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd());
    openat(AT_FDCWD, p.as_str(), flags, 0)
}

/// Names in a directory (without `.` and `..`), read through a duplicate of `dir`.
pub fn list_dir(dir: impl AsFd) -> io::Result<Vec<OsString>> {
    use std::os::unix::ffi::OsStringExt;
    let dup = dir.as_fd().try_clone_to_owned()?;
    let mut d = nix::dir::Dir::from_fd(dup)?;
    let mut out = Vec::new();
    for e in d.iter() {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(OsString::from_vec(n.to_vec()));
        }
    }
    Ok(out)
}

/// The path naming `name` in the directory `dir` through /proc/self/fd: the xattr
/// calls have no `*at` form, and this works for O_PATH directory fds.
fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<CString> {
    let mut p = format!("/proc/self/fd/{}", dir.as_raw_fd()).into_bytes();
    if !name.is_empty() {
        p.push(b'/');
        p.extend_from_slice(name);
    }
    cstring(&p)
}

fn check(r: libc::ssize_t) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// setxattr on `name` in `dir` (`name` empty: `dir` itself). The caller makes sure
/// `name` is not a symlink (setxattr follows one; xattrs are never set on them).
pub fn setxattr_at(dir: impl AsFd, name: &[u8], key: &[u8], value: &[u8]) -> io::Result<()> {
    let p = proc_path(dir.as_fd(), name)?;
    let k = cstring(key)?;
    // SAFETY: `p` and `k` are NUL-terminated strings and `value` a live slice whose
    // length is passed with it; setxattr only reads them during the call.
    let r = unsafe {
        libc::setxattr(
            p.as_ptr(),
            k.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    check(r as libc::ssize_t).map(drop)
}

pub fn fsetxattr(fd: impl AsFd, key: &[u8], value: &[u8]) -> io::Result<()> {
    let k = cstring(key)?;
    // SAFETY: `fd` is a live descriptor borrowed for the call, `k` NUL-terminated,
    // `value` a live slice passed with its length; nothing is retained.
    let r = unsafe {
        libc::fsetxattr(
            fd.as_fd().as_raw_fd(),
            k.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    check(r as libc::ssize_t).map(drop)
}

/// The value of xattr `key` of the file at `path` (a symlink itself, never its
/// target: lgetxattr), None when unset.
pub fn getxattr(path: &Path, key: &std::ffi::CStr) -> io::Result<Option<Vec<u8>>> {
    use std::os::unix::ffi::OsStrExt;
    let p = cstring(path.as_os_str().as_bytes())?;
    let mut val = vec![0u8; 65536];
    // SAFETY: `p` and `key` are NUL-terminated; `val` is a writable buffer of exactly
    // `val.len()` bytes, which bounds what the kernel writes.
    let r =
        unsafe { libc::lgetxattr(p.as_ptr(), key.as_ptr(), val.as_mut_ptr().cast(), val.len()) };
    match check(r) {
        Ok(n) => {
            val.truncate(n);
            Ok(Some(val))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENODATA) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Extended attributes of an open file (empty when unsupported or unreadable).
pub fn xattrs(fd: impl AsFd) -> Vec<(String, Vec<u8>)> {
    let fd = fd.as_fd().as_raw_fd();
    let mut names = vec![0u8; 4096];
    // SAFETY: `fd` is borrowed live for the call; `names` is a writable buffer of
    // `names.len()` bytes, which bounds what the kernel writes.
    let r = unsafe { libc::flistxattr(fd, names.as_mut_ptr().cast(), names.len()) };
    let Ok(n) = check(r) else {
        return Vec::new();
    };
    names.truncate(n);
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(cname) = CString::new(name) else {
            continue;
        };
        let mut val = vec![0u8; 65536];
        // SAFETY: as above; `cname` is NUL-terminated and `val` bounds the write.
        let r = unsafe { libc::fgetxattr(fd, cname.as_ptr(), val.as_mut_ptr().cast(), val.len()) };
        if let Ok(m) = check(r) {
            val.truncate(m);
            out.push((String::from_utf8_lossy(name).into_owned(), val));
        }
    }
    out
}

/// How `flock` locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    Shared,
    Exclusive,
}

/// flock(fd, how), waiting until free (EINTR retried). `nonblock`: fail with
/// EWOULDBLOCK instead of waiting. The lock belongs to the open file description,
/// so it lasts while the caller keeps the file open (the kernel drops it on exit).
pub fn flock(fd: impl AsFd, how: Lock, nonblock: bool) -> io::Result<()> {
    let mut op = match how {
        Lock::Shared => libc::LOCK_SH,
        Lock::Exclusive => libc::LOCK_EX,
    };
    if nonblock {
        op |= libc::LOCK_NB;
    }
    let fd = fd.as_fd().as_raw_fd();
    loop {
        // SAFETY: flock takes a plain descriptor (borrowed live for the call) and an
        // integer operation; no memory is passed.
        let r = unsafe { libc::flock(fd, op) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Start writing back `len` bytes of `fd` from `offset` without waiting
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`), so a later fsync finds most of
/// a large file already on its way to the disk. nix has no wrapper for it.
pub fn start_writeback(fd: impl AsFd, offset: u64, len: u64) -> io::Result<()> {
    // SAFETY: sync_file_range takes a descriptor borrowed live for the call and
    // plain integers; it touches no memory of this process.
    let r = unsafe {
        libc::sync_file_range(
            fd.as_fd().as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
    check(r as libc::ssize_t).map(drop)
}

/// Whether `p` is the root of a mount (statx's STATX_ATTR_MOUNT_ROOT, Linux
/// 5.8+): one call, where reading /proc/self/mountinfo costs a line per
/// mount on the host. None when the kernel does not report the attribute.
pub fn is_mount_root(p: &Path) -> io::Result<Option<bool>> {
    let c = cstring(p.as_os_str().as_encoded_bytes())?;
    let mut st = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: `c` is a NUL-terminated path and `st` a writable statx buffer
    // that lives across the call; statx writes only into it.
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_STATX_DONT_SYNC,
            libc::STATX_BASIC_STATS,
            st.as_mut_ptr(),
        )
    };
    check(r as libc::ssize_t)?;
    // SAFETY: statx succeeded, so it filled the buffer (and it was zeroed).
    let st = unsafe { st.assume_init() };
    let attr = libc::STATX_ATTR_MOUNT_ROOT as u64;
    Ok((st.stx_attributes_mask & attr != 0).then_some(st.stx_attributes & attr != 0))
}

#[cfg(test)]
mod tests {
    use super::is_mount_root;
    use std::path::Path;

    /// statx's mount-root attribute: / and /proc are mount roots, a
    /// directory made now is not (None only on a kernel older than 5.8).
    #[test]
    fn mount_root_by_statx() {
        let dir = std::env::temp_dir().join(format!("berth-mountroot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plain = is_mount_root(&dir).unwrap();
        let _ = std::fs::remove_dir(&dir);
        let Some(plain) = plain else {
            return; // the kernel does not report it: the callers fall back
        };
        assert!(!plain, "{} is not a mount point", dir.display());
        assert_eq!(is_mount_root(Path::new("/")).unwrap(), Some(true));
        assert_eq!(is_mount_root(Path::new("/proc")).unwrap(), Some(true));
        assert!(is_mount_root(Path::new("/nonexistent-berth-path")).is_err());
    }
}
