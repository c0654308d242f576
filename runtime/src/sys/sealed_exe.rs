//! Protection of the runtime binary (CVE-2019-5736). The init is a fork of
//! the runtime, so until it execs, /proc/PID/exe is the runtime binary; a
//! container that makes the kernel exec /proc/self/exe could then reopen
//! the host binary for writing. Verbs that enter a container therefore run
//! from a read-only view of the binary: a detached overlayfs mount without
//! an upper layer (no copy; the page cache of the binary is shared; the
//! mount goes away with the last process that runs from it), or where the
//! kernel refuses that, a sealed memfd copy (one sendfile of the binary).
//! Writing to either fails whatever a container does. The overlay view
//! replaces the running image in place (`exe_remap`: no exec); the memfd
//! copy, or an overlay view that cannot be switched to, costs one exec.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::sync::Mutex;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, SealFlag};

use crate::error::{Error, Result, SysContext};

const SEALS: i32 = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

fn is_sealed(f: &File) -> bool {
    match fcntl(f, FcntlArg::F_GET_SEALS) {
        Ok(s) => s & libc::F_SEAL_WRITE != 0,
        Err(_) => false,
    }
}

/// Overlayfs without an upper layer is read-only in its superblock: no
/// remount or other mount of it can make the file writable.
fn is_readonly_overlay(f: &File) -> bool {
    const OVERLAYFS_SUPER_MAGIC: libc::c_long = 0x794c_7630;
    match nix::sys::statfs::fstatfs(f) {
        Ok(s) => {
            s.filesystem_type().0 as libc::c_long == OVERLAYFS_SUPER_MAGIC
                && nix::sys::statvfs::fstatvfs(f)
                    .is_ok_and(|v| v.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
        }
        Err(_) => false,
    }
}

/// Re-exec from a read-only view or a sealed copy unless already running
/// from one.
pub fn ensure_sealed() -> Result<()> {
    let exe = File::open("/proc/self/exe").ctx(|| "open /proc/self/exe")?;
    if is_sealed(&exe) || is_readonly_overlay(&exe) {
        return Ok(());
    }
    let dst = match readonly_view(&exe) {
        // Switched over in place: no exec needed (see `exe_remap`).
        Ok((f, mnt)) => match super::exe_remap::switch_exe(&exe, &f) {
            Ok(()) => {
                *VIEW_MOUNT.lock().unwrap_or_else(|e| e.into_inner()) = Some(mnt);
                return Ok(());
            }
            Err(e) => {
                log::debug!("switching to the read-only view in place: {e}; re-executing");
                Ok(f)
            }
        },
        Err(e) => {
            log::debug!("read-only overlay view of the runtime binary: {e}; copying it");
            Err(e)
        }
    };
    let dst = match dst.or_else(|_| sealed_copy(&exe, true)) {
        // The kernel refuses F_SEAL_WRITE (EBUSY) while pages of the memfd
        // are still referenced elsewhere; an in-kernel copy (splice) can
        // leave such references behind for a while under load. A copy
        // through our own buffer cannot.
        Err(Error::Sys {
            source: Errno::EBUSY,
            ..
        }) => sealed_copy(&exe, false)?,
        other => other?,
    };
    let argv: Vec<CString> = crate::sys::startup::args_os()
        .into_iter()
        .map(|a| CString::new(a.into_vec()).unwrap_or_default())
        .collect();
    let envp: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            CString::new(kv).unwrap_or_default()
        })
        .collect();
    let err = nix::unistd::fexecve(dst.as_fd(), &argv, &envp).unwrap_err();
    Err(Error::Sys {
        ctx: "exec sealed copy of the runtime binary".into(),
        source: err,
    })
}

/// `exe` opened through a detached read-only overlayfs mount of its
/// directory. Overlayfs wants two lower layers when it has no upper one:
/// the second is `/dev` as a data-only layer (`::`, kernel 6.5+), whose
/// content the view never shows (only metacopy redirects reach such a
/// layer, and this mount has no metacopy). Where that is refused, it is a
/// fresh empty tmpfs, which costs a superblock and, when its detached
/// mount is closed, an expedited RCU grace period (1-2 ms under load).
fn readonly_view(exe: &File) -> Result<(File, OwnedFd)> {
    let path = std::fs::read_link("/proc/self/exe").ctx(|| "readlink /proc/self/exe")?;
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Error::Invalid(format!(
            "runtime binary path {}",
            path.display()
        )));
    };
    let dir = nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("open {}", dir.display()))?;
    let mnt = match data_only_view(&dir) {
        Ok(m) => m,
        Err(e) => {
            log::debug!("overlay view with a data-only layer: {e}; using an empty tmpfs");
            let empty = mount_fs("tmpfs", &[])?;
            let lower = format!(
                "/proc/self/fd/{}:/proc/self/fd/{}",
                dir.as_raw_fd(),
                empty.as_raw_fd()
            );
            mount_fs("overlay", &[("lowerdir", lower.as_str())])?
        }
    };
    let f = File::from(
        nix::fcntl::openat(
            &mnt,
            name,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ctx(|| "open the runtime binary in its overlay view")?,
    );
    // The path may have been replaced since we started: run only the same
    // content (the overlay shows the lower file's size and mtime).
    let (a, b) = (
        exe.metadata().ctx(|| "stat /proc/self/exe")?,
        f.metadata().ctx(|| "stat the overlay view")?,
    );
    use std::os::unix::fs::MetadataExt;
    if a.size() != b.size() || a.mtime() != b.mtime() || a.mtime_nsec() != b.mtime_nsec() {
        return Err(Error::Invalid("the runtime binary changed on disk".into()));
    }
    Ok((f, mnt))
}

/// The fd of the view's detached mount, kept open after the switch.
static VIEW_MOUNT: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// The fd of the view's detached mount (the open view keeps the mount
/// itself alive). Its last close dissolves the mount under an expedited
/// RCU grace period, 0.3-1.5 ms here under load, mostly waiting for the
/// grace-period kthread to get a CPU: `create` takes the fd and closes it
/// once the init is cloned (which closes its copy first thing), so that
/// the wait overlaps the init's set-up instead of preceding it.
pub fn take_view_mount() -> Option<OwnedFd> {
    VIEW_MOUNT.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// Close the view's mount fd now unless `take_view_mount` took it: before
/// a process is cloned into a container's namespaces (`exec`), which
/// should not inherit it even until it closes its fds.
pub fn release_view_mount() {
    drop(take_view_mount());
}

/// The overlay of `dir` with `/dev` as its data-only second layer.
fn data_only_view(dir: &OwnedFd) -> Result<OwnedFd> {
    let dev = nix::fcntl::open(
        "/dev",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| "open /dev")?;
    let lower = format!(
        "/proc/self/fd/{}::/proc/self/fd/{}",
        dir.as_raw_fd(),
        dev.as_raw_fd()
    );
    mount_fs("overlay", &[("lowerdir", lower.as_str())])
}

/// A detached mount (fsopen/fsconfig/fsmount) of `fstype` with string
/// options, read-only, nosuid, nodev; the new mount API has no wrapper in
/// nix or libc, hence the raw syscalls.
fn mount_fs(fstype: &str, opts: &[(&str, &str)]) -> Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    const MOUNT_ATTR_RDONLY: libc::c_uint = 1;
    const MOUNT_ATTR_NOSUID: libc::c_uint = 2;
    const MOUNT_ATTR_NODEV: libc::c_uint = 4;
    let cstr =
        |s: &str| CString::new(s).map_err(|_| Error::Invalid(format!("NUL in mount option {s:?}")));
    let ty = cstr(fstype)?;
    // SAFETY: NUL-terminated name, integer flags; the result is checked.
    let ctx = unsafe { libc::syscall(libc::SYS_fsopen, ty.as_ptr(), FSOPEN_CLOEXEC) };
    if ctx < 0 {
        return Err(Errno::last()).ctx(|| format!("fsopen {fstype}"));
    }
    // SAFETY: a fresh fd from the kernel, owned from here on.
    let ctx = unsafe { OwnedFd::from_raw_fd(ctx as i32) };
    for (k, v) in opts {
        let (ck, cv) = (cstr(k)?, cstr(v)?);
        // SAFETY: valid fd, NUL-terminated key and value.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                ctx.as_raw_fd(),
                FSCONFIG_SET_STRING,
                ck.as_ptr(),
                cv.as_ptr(),
                0,
            )
        };
        if r < 0 {
            return Err(Errno::last()).ctx(|| format!("fsconfig {fstype} {k}"));
        }
    }
    // SAFETY: valid fd, no key or value for this command.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    };
    if r < 0 {
        return Err(Errno::last()).ctx(|| format!("create {fstype} superblock"));
    }
    // SAFETY: valid fs context fd, integer flags.
    let m = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            ctx.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        )
    };
    if m < 0 {
        return Err(Errno::last()).ctx(|| format!("fsmount {fstype}"));
    }
    // SAFETY: a fresh fd from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(m as i32) })
}

/// A sealed memfd copy of `exe`, copied in the kernel (`std::io::copy` uses
/// copy_file_range/sendfile between files) or through a user-space buffer.
fn sealed_copy(exe: &File, in_kernel: bool) -> Result<File> {
    let mut dst = File::from(memfd()?);
    let mut src = exe;
    src.seek(SeekFrom::Start(0))
        .ctx(|| "rewind /proc/self/exe")?;
    let copied = if in_kernel {
        std::io::copy(&mut src, &mut dst)
    } else {
        let mut buf = vec![0u8; 256 << 10];
        let mut total = 0u64;
        loop {
            match src.read(&mut buf) {
                Ok(0) => break Ok(total),
                Ok(n) => {
                    if let Err(e) = dst.write_all(&buf[..n]) {
                        break Err(e);
                    }
                    total += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        }
    };
    copied.ctx(|| "copy runtime binary into memfd")?;
    fcntl(
        &dst,
        FcntlArg::F_ADD_SEALS(SealFlag::from_bits_retain(SEALS)),
    )
    .ctx(|| "seal runtime binary copy")?;
    Ok(dst)
}

fn memfd() -> Result<OwnedFd> {
    let name = c"berth-runtime";
    const MFD_EXEC: libc::c_uint = 0x10;
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    for flags in [base | MFD_EXEC, base] {
        // SAFETY: NUL-terminated name, integer flags.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
        if fd >= 0 {
            // SAFETY: fresh fd from the kernel.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        if Errno::last() != Errno::EINVAL {
            break;
        }
    }
    Err(Errno::last()).ctx(|| "memfd_create")
}
