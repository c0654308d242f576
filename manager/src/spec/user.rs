//! Files of the container's root read and created without leaving it: every path
//! is resolved with openat2(RESOLVE_IN_ROOT), so a symlink in the image (say
//! /etc/passwd -> /etc/shadow on the host) resolves inside the rootfs.

use super::SpecError;
use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_IN_ROOT: u64 = 0x10;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;

fn open_root(rootfs: &Path) -> Result<OwnedFd, SpecError> {
    let c = CString::new(rootfs.as_os_str().as_encoded_bytes())
        .map_err(|_| SpecError::Invalid("rootfs path has a NUL byte".into()))?;
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(SpecError::io(
            "open",
            rootfs,
            std::io::Error::last_os_error(),
        ));
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// openat2(root, rel, flags, RESOLVE_IN_ROOT).
fn openat_in_root(root: &OwnedFd, rel: &str, flags: i32) -> std::io::Result<OwnedFd> {
    let c = CString::new(rel.trim_start_matches('/')).map_err(std::io::Error::other)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Read a file of the rootfs; None if it does not exist.
pub fn read_in_root(rootfs: &Path, rel: &str) -> Result<Option<String>, SpecError> {
    let root = open_root(rootfs)?;
    match openat_in_root(
        &root,
        if rel.is_empty() { "." } else { rel },
        libc::O_RDONLY,
    ) {
        Ok(fd) => {
            let mut s = String::new();
            File::from(fd)
                .read_to_string(&mut s)
                .map_err(|e| SpecError::io("read", &rootfs.join(rel), e))?;
            Ok(Some(s))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(SpecError::io("open", &rootfs.join(rel), e)),
    }
}

/// `mkdir -p` of an absolute container path inside the rootfs (for WorkingDir);
/// new directories are owned by uid:gid, as docker does.
pub fn mkdir_in_root(rootfs: &Path, path: &str, uid: u32, gid: u32) -> Result<(), SpecError> {
    let root = open_root(rootfs)?;
    let mut cur = String::new();
    for comp in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let parent = if cur.is_empty() { "." } else { cur.as_str() }.to_string();
        cur = if cur.is_empty() {
            comp.to_string()
        } else {
            format!("{cur}/{comp}")
        };
        if openat_in_root(&root, &cur, libc::O_PATH).is_ok() {
            continue;
        }
        let dir = openat_in_root(&root, &parent, libc::O_PATH | libc::O_DIRECTORY)
            .map_err(|e| SpecError::io("open", &rootfs.join(&parent), e))?;
        let name = CString::new(comp).map_err(|_| SpecError::Invalid("NUL in path".into()))?;
        let r = unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o755) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(SpecError::io("mkdir", &rootfs.join(&cur), e));
            }
        } else {
            unsafe {
                libc::fchownat(
                    dir.as_raw_fd(),
                    name.as_ptr(),
                    uid,
                    gid,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            };
        }
    }
    Ok(())
}

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 || l.starts_with('#') {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f.get(5).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// (name, gid, members)
fn parse_group(text: &str) -> Vec<(String, u32, Vec<String>)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 || l.starts_with('#') {
                return None;
            }
            let members = f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            Some((f[0].to_string(), f[2].parse().ok()?, members))
        })
        .collect()
}

/// Resolve docker's `user[:group]` (names or numbers) against the image's
/// /etc/passwd and /etc/group, like runc's libcontainer/user.
pub fn resolve(user: &str, passwd: Option<&str>, group: Option<&str>) -> Result<User, SpecError> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let users = passwd.map(parse_passwd).unwrap_or_default();
    let groups = group.map(parse_group).unwrap_or_default();
    let mut out = User {
        home: "/".into(),
        ..Default::default()
    };
    let mut name = None;
    if u.is_empty() {
        // root by default; take its home from passwd when listed
        if let Some(e) = users.iter().find(|e| e.uid == 0) {
            out.home = e.home.clone();
            name = Some(e.name.clone());
        }
    } else if let Some(e) = users.iter().find(|e| e.name == u) {
        out.uid = e.uid;
        out.gid = e.gid;
        out.home = e.home.clone();
        name = Some(e.name.clone());
    } else if let Ok(uid) = u.parse::<u32>() {
        out.uid = uid;
        if let Some(e) = users.iter().find(|e| e.uid == uid) {
            out.gid = e.gid;
            out.home = e.home.clone();
            name = Some(e.name.clone());
        }
    } else {
        return Err(SpecError::Invalid(format!(
            "unable to find user {u}: no matching entries in passwd file"
        )));
    }
    if let Some(g) = g.filter(|g| !g.is_empty()) {
        if let Some((_, gid, _)) = groups.iter().find(|(n, _, _)| n == g) {
            out.gid = *gid;
        } else if let Ok(gid) = g.parse::<u32>() {
            out.gid = gid;
        } else {
            return Err(SpecError::Invalid(format!(
                "unable to find group {g}: no matching entries in group file"
            )));
        }
    } else if let Some(n) = &name {
        // supplementary groups only when the group was not given explicitly
        for (_, gid, members) in &groups {
            if members.iter().any(|m| m == n) && *gid != out.gid {
                out.additional_gids.push(*gid);
            }
        }
    }
    if out.home.is_empty() {
        out.home = "/".into();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str =
        "root:x:0:0:root:/root:/bin/sh\nberthuser:x:1000:1000::/home/berthuser:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:berthuser\nberthuser:x:1000:\n";

    #[test]
    fn users() {
        let u = resolve("berthuser", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone()),
            (1000, 1000, vec![10])
        );
        assert_eq!(u.home, "/home/berthuser");
        let u = resolve("1000:10", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 10));
        assert!(u.additional_gids.is_empty());
        let u = resolve("4242", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        let u = resolve("", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((u.uid, u.home.as_str()), (0, "/root"));
        let u = resolve("root:wheel", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!(u.gid, 10);
        assert!(resolve("nobody", Some(PASSWD), Some(GROUP)).is_err());
        assert!(resolve("root:nogroup", Some(PASSWD), Some(GROUP)).is_err());
    }
}
