//! The rootfs mounts containerd's snapshotter hands to Create (overlay, bind), mounted
//! on `<bundle>/rootfs` as the runc shim does, and unmounted at Delete.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("mounting {kind} {source_path} on {target}: {err}")]
    Mount {
        kind: String,
        source_path: String,
        target: String,
        err: io::Error,
    },
    #[error("rootfs mount: {0} contains a NUL byte")]
    Nul(String),
    #[error("creating {0}: {1}")]
    Mkdir(String, io::Error),
}

/// A containerd mount: type, source, options (the target is the rootfs).
pub struct Mount<'a> {
    pub kind: &'a str,
    pub source: &'a str,
    pub options: &'a [String],
}

/// mount(2) flags and the data string for containerd's option list.
fn parse_options(options: &[String]) -> (libc::c_ulong, String) {
    let mut flags: libc::c_ulong = 0;
    let mut data = Vec::new();
    for o in options {
        let (set, bit) = match o.as_str() {
            "ro" => (true, libc::MS_RDONLY),
            "rw" => (false, libc::MS_RDONLY),
            "nosuid" => (true, libc::MS_NOSUID),
            "suid" => (false, libc::MS_NOSUID),
            "nodev" => (true, libc::MS_NODEV),
            "dev" => (false, libc::MS_NODEV),
            "noexec" => (true, libc::MS_NOEXEC),
            "exec" => (false, libc::MS_NOEXEC),
            "sync" => (true, libc::MS_SYNCHRONOUS),
            "async" => (false, libc::MS_SYNCHRONOUS),
            "noatime" => (true, libc::MS_NOATIME),
            "atime" => (false, libc::MS_NOATIME),
            "nodiratime" => (true, libc::MS_NODIRATIME),
            "relatime" => (true, libc::MS_RELATIME),
            "strictatime" => (true, libc::MS_STRICTATIME),
            "remount" => (true, libc::MS_REMOUNT),
            "bind" => (true, libc::MS_BIND),
            "rbind" => (true, libc::MS_BIND | libc::MS_REC),
            "defaults" => (false, 0),
            _ => {
                data.push(o.as_str());
                continue;
            }
        };
        if set {
            flags |= bit;
        } else {
            flags &= !bit;
        }
    }
    (flags, data.join(","))
}

fn cstr(s: &[u8]) -> Result<CString, MountError> {
    CString::new(s).map_err(|_| MountError::Nul(String::from_utf8_lossy(s).into_owned()))
}

/// Mount each of `mounts` on `target` in order (creating `target`).
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<(), MountError> {
    std::fs::create_dir_all(target)
        .map_err(|e| MountError::Mkdir(target.display().to_string(), e))?;
    for (i, m) in mounts.iter().enumerate() {
        if let Err(e) = mount_one(m, target) {
            if i > 0 {
                unmount_all(target);
            }
            return Err(e);
        }
    }
    Ok(())
}

fn mount_one(m: &Mount, target: &Path) -> Result<(), MountError> {
    let (flags, data) = parse_options(m.options);
    let src = cstr(m.source.as_bytes())?;
    let tgt = cstr(target.as_os_str().as_bytes())?;
    let kind = cstr(m.kind.as_bytes())?;
    let data_c = cstr(data.as_bytes())?;
    let err = |err| MountError::Mount {
        kind: m.kind.to_string(),
        source_path: m.source.to_string(),
        target: target.display().to_string(),
        err,
    };
    // A read-only bind needs a second, remounting call.
    let first = if flags & libc::MS_BIND != 0 {
        flags & !libc::MS_RDONLY
    } else {
        flags
    };
    // SAFETY: all pointers are valid NUL-terminated strings for the call's duration.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            kind.as_ptr(),
            first,
            if data.is_empty() {
                std::ptr::null()
            } else {
                data_c.as_ptr().cast()
            },
        )
    };
    if r != 0 {
        return Err(err(io::Error::last_os_error()));
    }
    if flags & libc::MS_BIND != 0 && flags & libc::MS_RDONLY != 0 {
        // SAFETY: as above.
        let r = unsafe {
            libc::mount(
                std::ptr::null(),
                tgt.as_ptr(),
                std::ptr::null(),
                flags | libc::MS_REMOUNT,
                std::ptr::null(),
            )
        };
        if r != 0 {
            let e = io::Error::last_os_error();
            unmount_all(target);
            return Err(err(e));
        }
    }
    Ok(())
}

/// Unmount everything stacked on `target` (detaching busy mounts).
pub fn unmount_all(target: &Path) {
    let Ok(t) = CString::new(target.as_os_str().as_bytes()) else {
        return;
    };
    for _ in 0..64 {
        // SAFETY: valid path string.
        let r = unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) };
        if r != 0 {
            break;
        }
    }
}

/// Unmount everything stacked on `target` on a thread of its own, then call `done`.
///
/// Dropping an overlay's last reference shuts its superblock down, which syncs the
/// whole upper filesystem (`ovl_sync_fs`: the writeback of everything dirty on the
/// disk that holds containerd's snapshots and a journal commit, 7-77 ms on a busy
/// ext4). On the event loop's thread that would stall, for as long, the output and the
/// exits of the other containers of a pod; here only Delete waits for it.
pub fn unmount_all_on_thread<F>(target: PathBuf, done: F) -> io::Result<()>
where
    F: FnOnce() + Send + 'static,
{
    std::thread::Builder::new()
        .name("rootfs-umount".into())
        .stack_size(64 << 10)
        .spawn(move || {
            unmount_all(&target);
            done();
        })
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let o: Vec<String> = ["ro", "rbind", "lowerdir=/a:/b", "upperdir=/u", "nosuid"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (f, d) = parse_options(&o);
        assert_eq!(
            f,
            libc::MS_RDONLY | libc::MS_BIND | libc::MS_REC | libc::MS_NOSUID
        );
        assert_eq!(d, "lowerdir=/a:/b,upperdir=/u");
        let (f, _) = parse_options(&["ro".to_string(), "rw".to_string()]);
        assert_eq!(f, 0);
    }

    fn mounted(dir: &Path) -> bool {
        let d = dir.display().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(d.as_str()))
    }

    /// Two overlays stacked on one target are both unmounted before the callback runs.
    #[test]
    fn unmount_on_thread_unmounts_before_the_callback() {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root to mount");
            return;
        }
        let base = std::env::temp_dir().join(format!("berth-v2-umount-{}", std::process::id()));
        let target = base.join("rootfs");
        for d in ["l", "u1", "w1", "u2", "w2"] {
            std::fs::create_dir_all(base.join(d)).expect("mkdir");
        }
        std::fs::write(base.join("l/f"), b"x").expect("write");
        for (u, w) in [("u1", "w1"), ("u2", "w2")] {
            let opts = vec![format!(
                "lowerdir={},upperdir={},workdir={}",
                base.join("l").display(),
                base.join(u).display(),
                base.join(w).display()
            )];
            let m = Mount {
                kind: "overlay",
                source: "overlay",
                options: &opts,
            };
            mount_all(&[m], &target).expect("mounting an overlay");
        }
        assert!(mounted(&target));
        let (tx, rx) = std::sync::mpsc::channel();
        let t = target.clone();
        unmount_all_on_thread(target.clone(), move || {
            let _ = tx.send(mounted(&t));
        })
        .expect("starting the unmount thread");
        let still = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the unmount was reported");
        assert!(
            !still,
            "{} still mounted when reported unmounted",
            target.display()
        );
        std::fs::remove_dir_all(&base).expect("removing the test directory");
    }
}
