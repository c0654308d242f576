//! User namespace remapping, like docker's `userns-remap`: the config file's
//! `"userns-remap": "USER[:GROUP]"` (or `"default"`, the `berth` user) runs
//! every container (but those with `--userns=host`) in a user namespace whose
//! root is the first subordinate id range of USER in /etc/subuid and of GROUP
//! (USER when not given) in /etc/subgid. The rootfs is an idmapped mount
//! (the runtime's `org.berth.rootfs.idmap`), so the image's layers are
//! shared with unmapped containers and need no chown; the files berth itself
//! binds in (/etc/hosts..., volumes) are idmapped too. Host bind mounts are
//! not: there the container's root is the mapped uid, as with docker.
//!
//! `--userns=auto[:size=N,uidmapping=C:H:N,gidmapping=C:H:N]` (podman's)
//! gives one container a range of its own, carved from the subordinate
//! ranges (every line) of the pool user: the config's userns-remap user
//! when it is set, else `berth`. Carving skips the ranges of every other
//! container of the store (running or stopped) and the config's shared
//! remap range; see `container::userns` for the lock and the image scan.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use super::SpecError;

/// The user `"default"` stands for.
pub const DEFAULT_USER: &str = "berth";
pub const SUBUID: &str = "/etc/subuid";
pub const SUBGID: &str = "/etc/subgid";
/// The runtime's annotation for an idmapped rootfs.
pub const ROOTFS_IDMAP_ANNOTATION: &str = "org.berth.rootfs.idmap";

/// The smallest range `--userns=auto` gives without `size=` (podman's
/// minimum): enough for the usual system users (nobody at 65534 aside).
pub const AUTO_MIN_SIZE: u32 = 1024;

/// A host id range, `[start, end)` (u64: an end may be 2^32).
pub type Span = (u64, u64);

/// One line of a uid or gid map: container ids `container..container+size`
/// are host ids `host..host+size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

impl IdMap {
    fn host_range(&self) -> (u64, u64) {
        (self.host as u64, self.host as u64 + self.size as u64)
    }
}

/// The container's root's host ids and the size of the mapped ranges
/// (userns-remap: one map line each); `--userns=auto` records its whole
/// maps in `uid_map`/`gid_map` (then `uid`/`gid`/`size` are the carved
/// range: what `rm` gives back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remap {
    pub uid: u32,
    pub gid: u32,
    pub size: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uid_map: Vec<IdMap>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gid_map: Vec<IdMap>,
}

impl Remap {
    /// The uid map the container's user namespace gets.
    pub fn uid_mappings(&self) -> Vec<IdMap> {
        if self.uid_map.is_empty() {
            vec![IdMap {
                container: 0,
                host: self.uid,
                size: self.size,
            }]
        } else {
            self.uid_map.clone()
        }
    }

    /// The gid map the container's user namespace gets.
    pub fn gid_mappings(&self) -> Vec<IdMap> {
        if self.gid_map.is_empty() {
            vec![IdMap {
                container: 0,
                host: self.gid,
                size: self.size,
            }]
        } else {
            self.gid_map.clone()
        }
    }

    /// The host uid of container uid `id` (None: unmapped).
    #[cfg(test)]
    pub fn host_uid(&self, id: u32) -> Option<u32> {
        to_host(&self.uid_mappings(), id)
    }

    /// The host gid of container gid `id` (None: unmapped).
    #[cfg(test)]
    pub fn host_gid(&self, id: u32) -> Option<u32> {
        to_host(&self.gid_mappings(), id)
    }
}

#[cfg(test)]
fn to_host(maps: &[IdMap], id: u32) -> Option<u32> {
    maps.iter()
        .find(|m| id >= m.container && (id - m.container) < m.size)
        .map(|m| m.host + (id - m.container))
}

/// What `--userns` (or compose's `userns_mode`) asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Not given: the config file's userns-remap if any, else none.
    Default,
    /// `host`: no user namespace, whatever the config file says.
    Host,
    /// `auto[:...]`: a range of the container's own.
    Auto(AutoOptions),
}

/// `--userns=auto`'s options (podman's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutoOptions {
    /// `size=N`: exactly N ids; else from the image (see `auto_size`).
    pub size: Option<u32>,
    /// `uidmapping=C:H:N`: container uids C.. are host uids H.. (not carved).
    pub uid_maps: Vec<IdMap>,
    /// `gidmapping=C:H:N`.
    pub gid_maps: Vec<IdMap>,
}

/// Parse a `--userns` value. podman's other modes are refused by name.
pub fn parse_mode(v: &str) -> Result<Mode, SpecError> {
    const KNOWN: &str = "berth knows host and auto[:size=N,uidmapping=C:H:N,gidmapping=C:H:N]";
    let (name, rest) = match v.split_once(':') {
        Some((n, r)) => (n, Some(r)),
        None => (v, None),
    };
    match (name, rest) {
        ("", None) => Ok(Mode::Default),
        ("host", None) => Ok(Mode::Host),
        ("auto", None) => Ok(Mode::Auto(AutoOptions::default())),
        ("auto", Some(opts)) => parse_auto(opts).map(Mode::Auto),
        ("keep-id" | "nomap" | "private" | "container" | "ns" | "remap", _) => Err(
            SpecError::Invalid(format!("--userns={v}: {name} is not supported ({KNOWN})")),
        ),
        _ => Err(SpecError::Invalid(format!(
            "--userns={v}: unknown user namespace mode ({KNOWN})"
        ))),
    }
}

fn parse_auto(opts: &str) -> Result<AutoOptions, SpecError> {
    let bad = |what: String| SpecError::Invalid(format!("--userns=auto:{opts}: {what}"));
    let mut out = AutoOptions::default();
    for o in opts.split(',') {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| bad(format!("{o:?} is not KEY=VALUE")))?;
        match k {
            "size" => {
                let n: u32 = v
                    .parse()
                    .map_err(|_| bad(format!("size {v:?} is not a number")))?;
                if n == 0 {
                    return Err(bad("size must be at least 1".into()));
                }
                out.size = Some(n);
            }
            "uidmapping" | "gidmapping" => {
                let f: Vec<&str> = v.split(':').collect();
                let nums: Option<Vec<u32>> = (f.len() == 3)
                    .then(|| f.iter().map(|x| x.parse().ok()).collect())
                    .flatten();
                let Some(n) = nums else {
                    return Err(bad(format!("{k} {v:?} is not CONTAINER_ID:HOST_ID:SIZE")));
                };
                let m = IdMap {
                    container: n[0],
                    host: n[1],
                    size: n[2],
                };
                if m.size == 0
                    || m.container.checked_add(m.size).is_none()
                    || m.host.checked_add(m.size).is_none()
                {
                    return Err(bad(format!("{k} {v:?}: an empty or overflowing range")));
                }
                let list = if k == "uidmapping" {
                    &mut out.uid_maps
                } else {
                    &mut out.gid_maps
                };
                if list
                    .iter()
                    .any(|x| overlaps(x.container, x.size, m.container, m.size))
                {
                    return Err(bad(format!("{k} {v:?} overlaps another {k}")));
                }
                list.push(m);
            }
            _ => {
                return Err(bad(format!(
                    "unknown option {k:?} (size, uidmapping, gidmapping)"
                )))
            }
        }
    }
    Ok(out)
}

fn overlaps(a: u32, an: u32, b: u32, bn: u32) -> bool {
    let (a, an, b, bn) = (a as u64, an as u64, b as u64, bn as u64);
    a < b + bn && b < a + an
}

/// The size `--userns=auto` gives without `size=`: one more than the
/// highest id the image uses (its files, /etc/passwd and /etc/group), as
/// podman; never under [`AUTO_MIN_SIZE`].
pub fn auto_size(max_id: u32) -> u32 {
    max_id.saturating_add(1).max(AUTO_MIN_SIZE)
}

/// The container ids in `0..size` no forced mapping covers, as
/// `[start, end)` runs.
fn uncovered(size: u32, forced: &[IdMap]) -> Vec<(u64, u64)> {
    let mut runs = vec![(0u64, size as u64)];
    for m in forced {
        let (fs, fe) = (m.container as u64, m.container as u64 + m.size as u64);
        runs = runs
            .into_iter()
            .flat_map(|(s, e)| {
                let mut v = Vec::new();
                if s < fs.min(e) {
                    v.push((s, fs.min(e)));
                }
                if fe.max(s) < e {
                    v.push((fe.max(s), e));
                }
                v
            })
            .collect();
    }
    runs
}

/// The first `n` free ids of `pool` (`[start, end)` ranges) that no range
/// of `used` touches, as one contiguous run.
fn carve(pool: &[(u64, u64)], used: &[(u64, u64)], n: u64) -> Option<u64> {
    let mut pool = pool.to_vec();
    pool.sort_unstable();
    let mut used = used.to_vec();
    used.sort_unstable();
    for &(ps, pe) in &pool {
        let mut at = ps;
        for &(us, ue) in &used {
            if ue <= at || us >= pe {
                continue;
            }
            if us >= at + n {
                break;
            }
            at = at.max(ue);
        }
        if at + n <= pe {
            return Some(at);
        }
    }
    None
}

/// The maps of one kind (uid or gid): `size` container ids, those the
/// forced maps do not cover from a run carved out of `pool` past `used`.
fn auto_maps(
    kind: &str,
    size: u32,
    forced: &[IdMap],
    pool: &[(u64, u64)],
    used: &[(u64, u64)],
) -> Result<(u32, u32, Vec<IdMap>), SpecError> {
    let runs = uncovered(size, forced);
    let need: u64 = runs.iter().map(|(s, e)| e - s).sum();
    let mut used = used.to_vec();
    // podman: the forced host ids are not handed out as well
    used.extend(forced.iter().map(IdMap::host_range));
    let mut maps = forced.to_vec();
    if need == 0 {
        maps.sort_by_key(|m| m.container);
        return Ok((0, 0, maps));
    }
    let free: u64 = pool.iter().map(|(s, e)| e - s).sum();
    let start = carve(pool, &used, need).ok_or_else(|| {
        SpecError::Invalid(format!(
            "--userns=auto: no free run of {need} subordinate {kind}s left \
             (the pool holds {free}; other containers hold the rest: remove some, \
             ask for less with size=N, or add a range to the pool user's line)"
        ))
    })?;
    let mut host = start;
    for (s, e) in runs {
        maps.push(IdMap {
            container: s as u32,
            host: host as u32,
            size: (e - s) as u32,
        });
        host += e - s;
    }
    maps.sort_by_key(|m| m.container);
    Ok((start as u32, need as u32, maps))
}

/// A `--userns=auto` range: `size` ids (uids and gids) carved from the
/// pool's ranges past those `used_*` already holds.
pub fn allocate(
    opts: &AutoOptions,
    size: u32,
    pool: (&[Span], &[Span]),
    used: (&[Span], &[Span]),
) -> Result<Remap, SpecError> {
    let (uid, usize_, uid_map) = auto_maps("uid", size, &opts.uid_maps, pool.0, used.0)?;
    let (gid, gsize, gid_map) = auto_maps("gid", size, &opts.gid_maps, pool.1, used.1)?;
    Ok(Remap {
        uid,
        gid,
        size: usize_.max(gsize),
        uid_map,
        gid_map,
    })
}

/// The host ranges (`[start, end)`) a container's maps hold: uids, gids.
pub fn held(r: &Remap) -> (Vec<Span>, Vec<Span>) {
    (
        r.uid_mappings().iter().map(IdMap::host_range).collect(),
        r.gid_mappings().iter().map(IdMap::host_range).collect(),
    )
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
        if let Some(r) = parse_line(line, file, n + 1, who)? {
            return Ok(r);
        }
    }
    Err(no_range(file, who))
}

fn no_range(file: &str, who: &str) -> SpecError {
    SpecError::Invalid(format!(
        "no subordinate id range for {who:?} in {file} \
         (add a line \"{who}:START:COUNT\", e.g. \"{who}:100000:65536\")"
    ))
}

/// `who`'s (start, count) on one line of a subordinate id file, if the
/// line is `who`'s.
fn parse_line(
    line: &str,
    file: &str,
    n: usize,
    who: &str,
) -> Result<Option<(u32, u32)>, SpecError> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let f: Vec<&str> = line.split(':').collect();
    if f.len() != 3 || f[0] != who {
        return Ok(None);
    }
    let num = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| SpecError::Invalid(format!("{file}:{n}: {s:?} is not a number")))
    };
    let (start, count) = (num(f[1])?, num(f[2])?);
    if start == 0 || count == 0 || start.checked_add(count).is_none() {
        return Err(SpecError::Invalid(format!(
            "{file}:{n}: range {start}:{count} is not usable (it must not start at 0 or be empty)"
        )));
    }
    Ok(Some((start, count)))
}

/// The id ranges (`[start, end)`) every line of `who` holds in a
/// subordinate id file's text.
pub fn find_ranges(text: &str, file: &str, who: &str) -> Result<Vec<(u64, u64)>, SpecError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if let Some((start, count)) = parse_line(line, file, n + 1, who)? {
            out.push((start as u64, start as u64 + count as u64));
        }
    }
    if out.is_empty() {
        return Err(no_range(file, who));
    }
    Ok(out)
}

/// Resolve the config's `userns-remap` value against the subordinate id files.
pub fn resolve(setting: &str, subuid: &Path, subgid: &Path) -> Result<Remap, SpecError> {
    let (user, group) = parse_setting(setting)?;
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| SpecError::io("read", p, e));
    let ctx = |e: SpecError| SpecError::Invalid(format!("userns-remap: {e}"));
    let (uid, usize_) =
        find_range(&read(subuid)?, &subuid.display().to_string(), &user).map_err(ctx)?;
    let (gid, gsize) =
        find_range(&read(subgid)?, &subgid.display().to_string(), &group).map_err(ctx)?;
    Ok(Remap {
        uid,
        gid,
        // One size for both maps: the smaller range.
        size: usize_.min(gsize),
        uid_map: Vec::new(),
        gid_map: Vec::new(),
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
        let t = "berth:100000:10\nx:1:1\nberth:500:5\n";
        assert_eq!(
            find_ranges(t, "f", "berth").unwrap(),
            vec![(100000, 100010), (500, 505)]
        );
        let e = find_ranges("x:1:1\nberth:0:5\n", "f", "berth")
            .unwrap_err()
            .to_string();
        assert!(e.contains("f:2"), "{e}");
        assert!(find_ranges("x:1:1\n", "f", "berth").is_err());
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("").unwrap(), Mode::Default);
        assert_eq!(parse_mode("host").unwrap(), Mode::Host);
        assert_eq!(
            parse_mode("auto").unwrap(),
            Mode::Auto(AutoOptions::default())
        );
        let Mode::Auto(a) =
            parse_mode("auto:size=2048,uidmapping=0:1000:1,gidmapping=0:1000:1").unwrap()
        else {
            panic!()
        };
        assert_eq!(a.size, Some(2048));
        assert_eq!(
            a.uid_maps,
            vec![IdMap {
                container: 0,
                host: 1000,
                size: 1
            }]
        );
        for (bad, says) in [
            ("keep-id", "keep-id is not supported"),
            ("keep-id:uid=1", "keep-id is not supported"),
            ("nomap", "nomap is not supported"),
            ("container:abc", "container is not supported"),
            ("bogus", "unknown user namespace mode"),
            ("auto:size=0", "at least 1"),
            ("auto:size=x", "not a number"),
            ("auto:size", "not KEY=VALUE"),
            ("auto:color=red", "unknown option"),
            ("auto:uidmapping=0:1", "CONTAINER_ID:HOST_ID:SIZE"),
            ("auto:uidmapping=0:1:0", "empty"),
            ("auto:uidmapping=0:1:5,uidmapping=4:100:1", "overlaps"),
        ] {
            let e = parse_mode(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(auto_size(0), 1024);
        assert_eq!(auto_size(1023), 1024);
        assert_eq!(auto_size(65534), 65535);
        assert_eq!(auto_size(u32::MAX), u32::MAX);
    }

    #[test]
    fn allocation_skips_used_ranges_and_forced_ids() {
        let pool = [(100000u64, 110000u64)];
        let a = AutoOptions::default();
        let r = allocate(&a, 1024, (&pool, &pool), (&[], &[])).unwrap();
        assert_eq!((r.uid, r.gid, r.size), (100000, 100000, 1024));
        assert_eq!(r.host_uid(0), Some(100000));
        assert_eq!(r.host_uid(1023), Some(101023));
        assert_eq!(r.host_uid(1024), None);
        // the next one starts where the first ends; a hole is reused
        let (hu, hg) = held(&r);
        let r2 = allocate(&a, 1024, (&pool, &pool), (&hu, &hg)).unwrap();
        assert_eq!(r2.uid, 101024);
        let used = [(100000u64, 100010u64), (100500, 101000)];
        let r3 = allocate(&a, 490, (&pool, &pool), (&used, &used)).unwrap();
        assert_eq!(r3.uid, 100010);
        // too big for what is left: refused, saying why
        let e = allocate(&a, 20000, (&pool, &pool), (&[], &[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no free run of 20000"), "{e}");
        // a second pool line is used when the first is full
        let two = [(100000u64, 100100u64), (200000, 300000)];
        let r4 = allocate(&a, 1024, (&two, &two), (&[], &[])).unwrap();
        assert_eq!(r4.uid, 200000);
        // forced: container 0 is host 1000; 1..1024 come from the pool
        let f = AutoOptions {
            size: None,
            uid_maps: vec![IdMap {
                container: 0,
                host: 1000,
                size: 1,
            }],
            gid_maps: vec![],
        };
        let r5 = allocate(&f, 1024, (&pool, &pool), (&[], &[])).unwrap();
        assert_eq!(r5.host_uid(0), Some(1000));
        assert_eq!(r5.host_uid(1), Some(100000));
        assert_eq!(r5.host_uid(1023), Some(101022));
        assert_eq!(r5.host_gid(0), Some(100000));
        assert_eq!(r5.uid_map.len(), 2);
        // a forced mapping in the middle splits the carved run
        let f = AutoOptions {
            size: None,
            uid_maps: vec![IdMap {
                container: 10,
                host: 5,
                size: 2,
            }],
            gid_maps: vec![],
        };
        let r6 = allocate(&f, 20, (&pool, &pool), (&[], &[])).unwrap();
        assert_eq!(r6.host_uid(9), Some(100009));
        assert_eq!(r6.host_uid(10), Some(5));
        assert_eq!(r6.host_uid(12), Some(100010));
    }
}
