//! Files of the container's root read and created without leaving it: every path
//! is resolved with openat2(RESOLVE_IN_ROOT), so a symlink in the image (say
//! /etc/passwd -> /etc/shadow on the host) resolves inside the rootfs.

use super::SpecError;
use crate::sys::fs as sys;
use nix::fcntl::OFlag;
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

fn open_root(rootfs: &Path) -> Result<OwnedFd, SpecError> {
    sys::open_dir_path(rootfs).map_err(|e| SpecError::io("open", rootfs, e))
}

/// Read a file of the rootfs; None if it does not exist.
pub fn read_in_root(rootfs: &Path, rel: &str) -> Result<Option<String>, SpecError> {
    let root = open_root(rootfs)?;
    match sys::open_in_root(&root, rel, OFlag::O_RDONLY) {
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
        if sys::open_in_root(&root, &cur, OFlag::O_PATH).is_ok() {
            continue;
        }
        let dir = sys::open_in_root(&root, &parent, OFlag::O_PATH | OFlag::O_DIRECTORY)
            .map_err(|e| SpecError::io("open", &rootfs.join(&parent), e))?;
        match sys::mkdirat(&dir, comp, 0o755) {
            // Best effort, as docker: a directory that cannot be chowned still works.
            Ok(()) => {
                let _ = sys::fchownat(&dir, comp, uid, gid);
            }
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(SpecError::io("mkdir", &rootfs.join(&cur), e)),
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
