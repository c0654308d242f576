//! User namespace remapping, like docker's `userns-remap`: the config file's
//! `"userns-remap": "USER[:GROUP]"` (or `"default"`, the `berth` user) runs
//! every container (but those with `--userns=host`) in a user namespace whose
//! root is the first subordinate id range of USER in /etc/subuid and of GROUP
//! (USER when not given) in /etc/subgid. The rootfs is an idmapped mount
//! (the runtime's `org.berth.rootfs.idmap`), so the image's layers are
//! shared with unmapped containers and need no chown; the files berth itself
//! binds in (/etc/hosts..., volumes) are idmapped too. Host bind mounts are
//! not: there the container's root is the mapped uid, as with docker.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use super::SpecError;

/// The user `"default"` stands for.
pub const DEFAULT_USER: &str = "berth";
pub const SUBUID: &str = "/etc/subuid";
pub const SUBGID: &str = "/etc/subgid";
/// The runtime's annotation for an idmapped rootfs.
pub const ROOTFS_IDMAP_ANNOTATION: &str = "org.berth.rootfs.idmap";

/// The container's root's host ids and the size of the mapped ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remap {
    pub uid: u32,
    pub gid: u32,
    pub size: u32,
}

/// The subordinate id files: /etc/subuid and /etc/subgid, or the files named
/// by `BERTH_SUBUID` / `BERTH_SUBGID` (tests, and hosts that keep them apart).
pub fn subid_files() -> (PathBuf, PathBuf) {
    let f = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(default))
    };
    (f("BERTH_SUBUID", SUBUID), f("BERTH_SUBGID", SUBGID))
}

/// Let the container's root (an unprivileged uid on the host) reach the
/// rootfs: every directory from `/` down to `rootfs` gets the search bit for
/// others where it lacks it (only search: names stay unlistable). docker
/// does the same to its data root (0711) under userns-remap.
pub fn allow_traversal(rootfs: &Path) -> Result<(), SpecError> {
    use std::os::unix::fs::PermissionsExt;
    for dir in rootfs.ancestors() {
        let md = std::fs::symlink_metadata(dir).map_err(|e| SpecError::io("stat", dir, e))?;
        let mode = md.permissions().mode();
        if md.is_dir() && mode & 0o001 == 0 {
            std::fs::set_permissions(
                dir,
                std::fs::Permissions::from_mode((mode | 0o001) & 0o7777),
            )
            .map_err(|e| SpecError::io("chmod o+x", dir, e))?;
        }
    }
    Ok(())
}

/// `USER[:GROUP]` (names or numeric ids) or `default`.
pub fn parse_setting(v: &str) -> Result<(String, String), SpecError> {
    let v = v.trim();
    if v.is_empty() {
        return Err(SpecError::Invalid("userns-remap: empty user".into()));
    }
    let v = if v == "default" { DEFAULT_USER } else { v };
    let (u, g) = v.split_once(':').unwrap_or((v, v));
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'))
    };
    if !ok(u) || !ok(g) {
        return Err(SpecError::Invalid(format!(
            "userns-remap: {v:?} is not USER[:GROUP]"
        )));
    }
    Ok((u.to_string(), g.to_string()))
}

/// The first range of `who` (a name, or a numeric id matching `id`) in a
/// subordinate id file's text (`name:start:count` lines).
pub fn find_range(text: &str, file: &str, who: &str) -> Result<(u32, u32), SpecError> {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(':').collect();
        if f.len() != 3 || f[0] != who {
            continue;
        }
        let num = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| SpecError::Invalid(format!("{file}:{}: {s:?} is not a number", n + 1)))
        };
        let (start, count) = (num(f[1])?, num(f[2])?);
        if start == 0 || count == 0 || start.checked_add(count).is_none() {
            return Err(SpecError::Invalid(format!(
                "{file}:{}: range {start}:{count} is not usable (it must not start at 0 or be empty)",
                n + 1
            )));
        }
        return Ok((start, count));
    }
    Err(SpecError::Invalid(format!(
        "userns-remap: no subordinate id range for {who:?} in {file} \
         (add a line \"{who}:START:COUNT\", e.g. \"{who}:100000:65536\")"
    )))
}

/// Resolve the config's `userns-remap` value against the subordinate id files.
pub fn resolve(setting: &str, subuid: &Path, subgid: &Path) -> Result<Remap, SpecError> {
    let (user, group) = parse_setting(setting)?;
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| SpecError::io("read", p, e));
    let (uid, usize_) = find_range(&read(subuid)?, &subuid.display().to_string(), &user)?;
    let (gid, gsize) = find_range(&read(subgid)?, &subgid.display().to_string(), &group)?;
    Ok(Remap {
        uid,
        gid,
        // One size for both maps: the smaller range.
        size: usize_.min(gsize),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings() {
        assert_eq!(
            parse_setting("default").unwrap(),
            ("berth".into(), "berth".into())
        );
        assert_eq!(parse_setting("a:b").unwrap(), ("a".into(), "b".into()));
        assert!(parse_setting("").is_err());
        assert!(parse_setting("a:").is_err());
        assert!(parse_setting("a b").is_err());
    }

    #[test]
    fn ranges() {
        let t = "# c\nother:1000:10\nberth:100000:65536\nberth:300000:5\n";
        assert_eq!(find_range(t, "f", "berth").unwrap(), (100000, 65536));
        let e = find_range(t, "/etc/subuid", "nobody")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/etc/subuid") && e.contains("nobody"), "{e}");
        let e = find_range("x:0:5\n", "f", "x").unwrap_err().to_string();
        assert!(e.contains("f:1"), "{e}");
        let e = find_range("x:a:5\n", "f", "x").unwrap_err().to_string();
        assert!(e.contains("not a number"), "{e}");
        assert!(find_range("x:4294967295:5\n", "f", "x").is_err());
    }
}
