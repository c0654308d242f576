//! The user process's identity and limits: rlimits, capabilities, uid/gid
//! and groups, and finding its executable.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use nix::errno::Errno;
use nix::sys::resource::{setrlimit, Resource};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::{Capabilities, LinuxCapabilities, PosixRlimit, PosixRlimitType, Process};

use crate::error::{Error, InitError, InitErrorKind, Result, SysContext};

/// nix's `Resource` rather than libc's constants: the resource argument's
/// type differs between glibc (an unsigned enum) and musl (`int`).
pub fn rlimit_resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => Resource::RLIMIT_CPU,
        RlimitFsize => Resource::RLIMIT_FSIZE,
        RlimitData => Resource::RLIMIT_DATA,
        RlimitStack => Resource::RLIMIT_STACK,
        RlimitCore => Resource::RLIMIT_CORE,
        RlimitRss => Resource::RLIMIT_RSS,
        RlimitNproc => Resource::RLIMIT_NPROC,
        RlimitNofile => Resource::RLIMIT_NOFILE,
        RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        RlimitAs => Resource::RLIMIT_AS,
        RlimitLocks => Resource::RLIMIT_LOCKS,
        RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        RlimitNice => Resource::RLIMIT_NICE,
        RlimitRtprio => Resource::RLIMIT_RTPRIO,
        RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

pub fn set_rlimits(limits: &[PosixRlimit]) -> Result<()> {
    for l in limits {
        setrlimit(rlimit_resource(l.typ()), l.soft(), l.hard())
            .ctx(|| format!("set rlimit {:?} to {}/{}", l.typ(), l.soft(), l.hard()))?;
    }
    Ok(())
}

fn mask(set: &Option<Capabilities>) -> Result<u64> {
    let mut m = 0u64;
    for c in set.iter().flatten() {
        let name = serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let cap = caps::Capability::from_str(&name)
            .map_err(|_| Error::Invalid(format!("unknown capability {name}")))?;
        m |= 1u64 << cap.index();
    }
    Ok(m)
}

pub struct CapSets {
    bounding: u64,
    effective: u64,
    permitted: u64,
    inheritable: u64,
    ambient: u64,
}

impl CapSets {
    pub fn from_spec(c: &LinuxCapabilities) -> Result<CapSets> {
        Ok(CapSets {
            bounding: mask(c.bounding())?,
            effective: mask(c.effective())?,
            permitted: mask(c.permitted())?,
            inheritable: mask(c.inheritable())?,
            ambient: mask(c.ambient())?,
        })
    }
}

fn last_cap() -> u8 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// Drop from the bounding set everything the container may not have. Done
/// while still privileged (it needs CAP_SETPCAP).
pub fn drop_bounding(c: &CapSets) -> Result<()> {
    for i in 0..=last_cap() {
        if c.bounding & (1 << i) == 0 {
            // SAFETY: prctl with integer arguments.
            if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, i as libc::c_ulong, 0, 0, 0) } < 0 {
                let e = Errno::last();
                if e != Errno::EINVAL {
                    return Err(e).ctx(|| format!("drop capability {i} from the bounding set"));
                }
            }
        }
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Set effective, permitted and inheritable in one capset(2) (separate
/// calls would have to be ordered around the kernel's subset rules), then
/// raise the ambient set.
pub fn apply_caps(c: &CapSets) -> Result<()> {
    let hdr = CapHeader {
        version: 0x20080522,
        pid: 0,
    };
    let data = [
        CapData {
            effective: c.effective as u32,
            permitted: c.permitted as u32,
            inheritable: c.inheritable as u32,
        },
        CapData {
            effective: (c.effective >> 32) as u32,
            permitted: (c.permitted >> 32) as u32,
            inheritable: (c.inheritable >> 32) as u32,
        },
    ];
    // SAFETY: v3 header with two data words, as the kernel expects.
    if unsafe { libc::syscall(libc::SYS_capset, &hdr as *const CapHeader, data.as_ptr()) } < 0 {
        return Err(Errno::last()).ctx(|| "set capabilities");
    }
    // The kernel only allows ambient capabilities that are permitted and
    // inheritable; like runc, others are skipped (runc's own default spec
    // lists ambient capabilities without inheritable ones).
    let ambient = c.ambient & c.permitted & c.inheritable;
    for i in 0..64u64 {
        if ambient & (1 << i) != 0 {
            // SAFETY: prctl with integer arguments.
            let r = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    i as libc::c_ulong,
                    0,
                    0,
                )
            };
            if r < 0 {
                return Err(Errno::last()).ctx(|| format!("raise ambient capability {i}"));
            }
        }
    }
    Ok(())
}

/// Switch to the process's uid/gid and supplementary groups, keeping the
/// permitted capabilities across the uid change so they can be set after.
pub fn switch_user(process: &Process, in_userns: bool) -> Result<()> {
    let user = process.user();
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    let setgroups_allowed = !in_userns
        || std::fs::read_to_string("/proc/self/setgroups")
            .map(|s| s.trim() != "deny")
            .unwrap_or(true);
    if setgroups_allowed {
        setgroups(&groups).ctx(|| format!("setgroups {:?}", user.additional_gids()))?;
    } else if !groups.is_empty() {
        return Err(Error::Invalid(
            "additionalGids cannot be set: setgroups is denied in this user namespace".into(),
        ));
    }
    let _ = nix::sys::prctl::set_keepcaps(true);
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).ctx(|| format!("setgid {}", user.gid()))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).ctx(|| format!("setuid {}", user.uid()))?;
    let _ = nix::sys::prctl::set_keepcaps(false);
    Ok(())
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn not_found(msg: String) -> Error {
    Error::Init(InitError {
        kind: InitErrorKind::NotFound,
        message: msg,
    })
}

/// Find args[0] the way exec.LookPath does, with runc's error wording
/// (engines match on it to choose exit codes 127 and 126).
pub fn find_executable(arg0: &str, env: &[String]) -> Result<PathBuf> {
    let is_exec = |p: &Path| -> std::result::Result<(), Errno> {
        let c = CString::new(p.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
        let st = nix::sys::stat::stat(p)?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            return Err(Errno::EACCES);
        }
        // With the effective ids and capabilities (AT_EACCESS), as execve
        // checks: CAP_DAC_OVERRIDE runs a file any x bit is set on, which
        // access(2), using the real uid, would refuse.
        // SAFETY: NUL-terminated path.
        if unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::X_OK, libc::AT_EACCESS) } < 0
        {
            return match Errno::last() {
                // glibc makes this faccessat2, which a seccomp profile that
                // predates it (5.8) answers with EPERM, and emulates it only
                // on ENOSYS: then any x bit will do and execve decides.
                Errno::EPERM | Errno::ENOSYS if st.st_mode & 0o111 != 0 => Ok(()),
                Errno::EPERM | Errno::ENOSYS => Err(Errno::EACCES),
                e => Err(e),
            };
        }
        Ok(())
    };
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return match is_exec(&p) {
            Ok(()) => Ok(p),
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => Err(not_found(format!(
                "exec: {arg0:?}: stat {arg0}: no such file or directory"
            ))),
            Err(Errno::EACCES) | Err(Errno::EPERM) => Err(Error::Init(InitError {
                kind: InitErrorKind::PermissionDenied,
                message: format!("exec: {arg0:?}: permission denied"),
            })),
            Err(e) => Err(Error::Init(InitError::other(format!(
                "exec: {arg0:?}: {e}"
            )))),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let mut denied = false;
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(arg0);
        match is_exec(&cand) {
            Ok(()) => return Ok(cand),
            Err(Errno::EACCES) | Err(Errno::EPERM) => denied = true,
            Err(_) => {}
        }
    }
    if denied {
        return Err(Error::Init(InitError {
            kind: InitErrorKind::PermissionDenied,
            message: format!("exec: {arg0:?}: permission denied"),
        }));
    }
    Err(not_found(format!(
        "exec: {arg0:?}: executable file not found in $PATH"
    )))
}

/// Give the process's uid the stdio it inherits (a pty slave, pipes), as
/// runc does, so that it can reopen them through /proc/self/fd; /dev/null
/// stays root's. The group is left alone (devpts gives ptys the tty group).
pub fn fix_stdio_owner(uid: u32) -> Result<()> {
    for fd in 0..3 {
        // SAFETY: fds 0..2 are open for the duration of this call.
        let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let st = match nix::sys::stat::fstat(bfd) {
            Ok(st) => st,
            Err(nix::errno::Errno::EBADF) => continue,
            Err(e) => return Err(e).ctx(|| format!("stat fd {fd}")),
        };
        let is_null =
            st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3);
        if st.st_uid == uid || is_null {
            continue;
        }
        match nix::unistd::fchown(bfd, Some(nix::unistd::Uid::from_raw(uid)), None) {
            // Not ours to change (an fd from outside a user namespace).
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::EPERM) => {}
            Err(e) => return Err(e).ctx(|| format!("chown fd {fd} to uid {uid}")),
        }
    }
    Ok(())
}

/// The environment as runc builds it: a key given twice keeps its first
/// position and its last value.
pub fn merge_env<'a>(entries: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in entries {
        let key = e.split_once('=').map_or(e, |(k, _)| k);
        match out
            .iter_mut()
            .find(|o| o.split_once('=').map_or(o.as_str(), |(k, _)| k) == key)
        {
            Some(o) => *o = e.to_string(),
            None => out.push(e.to_string()),
        }
    }
    out
}

/// HOME from the container's /etc/passwd when the config does not set it.
pub fn home_for(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
            })
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".to_string())
}

#[cfg(test)]
mod env_tests {
    use super::merge_env;

    #[test]
    fn duplicate_keys_keep_first_position_and_last_value() {
        assert_eq!(
            merge_env(["A=1", "B=2", "A=3", "C", "C=4"]),
            vec!["A=3", "B=2", "C=4"]
        );
        assert_eq!(merge_env(["X=a=b", "Y="]), vec!["X=a=b", "Y="]);
    }
}
