//! Protection of the runtime binary (CVE-2019-5736). The init is a fork of
//! the runtime, so until it execs, /proc/PID/exe is the runtime binary; a
//! container that makes the kernel exec /proc/self/exe could then reopen
//! the host binary for writing. Verbs that enter a container therefore run
//! from a sealed memfd copy: writing to it fails whatever a container does.
//! The copy costs one sendfile of the binary and one exec.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;

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

/// Re-exec from a sealed copy unless already running from one.
pub fn ensure_sealed() -> Result<()> {
    let exe = File::open("/proc/self/exe").ctx(|| "open /proc/self/exe")?;
    if is_sealed(&exe) {
        return Ok(());
    }
    let dst = match sealed_copy(&exe, true) {
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
    let argv: Vec<CString> = std::env::args_os()
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
