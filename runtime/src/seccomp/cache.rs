//! A cache of compiled filters under the runtime's `--root`.
//!
//! Engines give every container the same profile (docker's default costs
//! libseccomp ~15 ms to compile), so `create` keeps each compiled program in
//! `<root>/@seccomp/<hash>` and reuses it. An entry stores the exact key it
//! was compiled from (the profile as JSON, this runtime's version, the
//! kernel release) and is used only when that key matches byte for byte:
//! the hash picks the file, it never decides a hit. `@` cannot start a
//! container id, so `list` and friends never see the directory.
//!
//! The filter is what confines the container, so an entry is trusted only
//! as much as `--root` itself: the directory and the entry must be owned by
//! this process's effective user and writable by nobody else, and neither
//! may be a symlink (checked on the opened fd, so nothing can be swapped in
//! between). Anything else is ignored and the profile compiled afresh.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;

use super::{Filter, Result};

pub const DIR: &str = "@seccomp";
const MAGIC: &[u8; 8] = b"BSECCMP1";
/// Entries beyond this many are not written (a guard against unbounded
/// growth when every container has its own profile).
const MAX_ENTRIES: usize = 64;

/// `build`, through the cache in `root`. Cache problems are never errors:
/// the filter is then compiled as if there were no cache.
pub fn build_cached(s: &LinuxSeccomp, root: &Path) -> Result<Filter> {
    let Some(key) = cache_key(s) else {
        return super::build(s);
    };
    let path = entry_path(root, &key);
    if let Some(f) = read_trusted(root, &path).and_then(|d| decode(&d, &key)) {
        log::debug!("seccomp: compiled filter from cache {}", path.display());
        return Ok(f);
    }
    let filter = super::build(s)?;
    if let Err(e) = store(root, &path, &encode(&filter, &key)) {
        log::debug!("seccomp: not cached ({e})");
    }
    Ok(filter)
}

/// Whether `m` (of an opened file or directory) can be trusted: owned by
/// us, writable by no one else.
fn trusted(m: &std::fs::Metadata) -> bool {
    m.uid() == nix::unistd::geteuid().as_raw() && m.mode() & 0o022 == 0
}

/// The entry's bytes, if the directory and the entry are trusted (see the
/// module's comment). `O_NOFOLLOW` refuses a symlink as the last component;
/// the directory is checked by `lstat` so that a symlinked `@seccomp` is
/// refused too.
fn read_trusted(root: &Path, path: &Path) -> Option<Vec<u8>> {
    let dir = std::fs::symlink_metadata(root.join(DIR)).ok()?;
    if !dir.is_dir() || !trusted(&dir) {
        log::debug!("seccomp: cache directory not trusted, ignored");
        return None;
    }
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let m = f.metadata().ok()?;
    if !m.is_file() || !trusted(&m) {
        log::debug!(
            "seccomp: cache entry {} not trusted, ignored",
            path.display()
        );
        return None;
    }
    let mut data = Vec::with_capacity(m.len() as usize);
    f.read_to_end(&mut data).ok()?;
    Some(data)
}

fn cache_key(s: &LinuxSeccomp) -> Option<Vec<u8>> {
    let mut key = serde_json::to_vec(s).ok()?;
    let uts = nix::sys::utsname::uname().ok()?;
    key.extend_from_slice(b"\0");
    key.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    key.extend_from_slice(b"\0");
    key.extend_from_slice(uts.release().as_encoded_bytes());
    Some(key)
}

fn entry_path(root: &Path, key: &[u8]) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    root.join(DIR).join(format!("{:016x}", h.finish()))
}

fn encode(f: &Filter, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + key.len() + f.prog.len() * 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&f.flags.to_le_bytes());
    out.push(f.notify as u8);
    out.extend_from_slice(&(f.prog.len() as u32).to_le_bytes());
    for i in &f.prog {
        out.extend_from_slice(&i.code.to_le_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_le_bytes());
    }
    out
}

/// The filter in `data` if it is a well-formed entry for exactly `key`.
fn decode(data: &[u8], key: &[u8]) -> Option<Filter> {
    let mut r = Reader(data);
    if r.take(8)? != MAGIC {
        return None;
    }
    let klen = u32::from_le_bytes(r.take(4)?.try_into().ok()?) as usize;
    if r.take(klen)? != key {
        return None;
    }
    let flags = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
    let notify = r.take(1)?[0] != 0;
    let n = u32::from_le_bytes(r.take(4)?.try_into().ok()?) as usize;
    if n == 0 || n > super::bpf::MAX_INSNS || r.0.len() != n * 8 {
        return None;
    }
    let prog =
        r.0.chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_le_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
    Some(Filter {
        prog,
        flags: flags as libc::c_ulong, // c_ulong is u64 on the supported targets
        notify,
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
}

/// Write by temp file + rename, so a reader sees a whole entry or none.
fn store(root: &Path, path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = root.join(DIR);
    match std::fs::read_dir(&dir).map(Iterator::count) {
        Ok(n) if n >= MAX_ENTRIES => return Ok(()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::os::unix::fs::DirBuilderExt;
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    }
    let m = std::fs::symlink_metadata(&dir)?;
    if !m.is_dir() || !trusted(&m) {
        return Err(std::io::Error::other(format!(
            "{} is not a directory owned by us and writable only by us",
            dir.display()
        )));
    }
    // Unique per writer (a pid writes one entry at a time), created afresh
    // (never through a symlink or into someone's file), mode 0600.
    let tmp = dir.join(format!(".tmp.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp); // left by a writer killed before its rename
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    let res = f.write_all(data).and_then(|_| std::fs::rename(&tmp, path));
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> Filter {
        Filter {
            prog: vec![
                libc::sock_filter {
                    code: 0x20,
                    jt: 0,
                    jf: 0,
                    k: 4,
                },
                libc::sock_filter {
                    code: 0x06,
                    jt: 1,
                    jf: 2,
                    k: 0x7fff_0000,
                },
            ],
            flags: 8,
            notify: true,
        }
    }

    #[test]
    fn round_trip_and_exact_key() {
        let f = filter();
        let data = encode(&f, b"key-a");
        let back = decode(&data, b"key-a").expect("decodes");
        assert_eq!(back.prog.len(), 2);
        assert_eq!(back.prog[1].k, 0x7fff_0000);
        assert_eq!((back.prog[1].jt, back.prog[1].jf), (1, 2));
        assert_eq!(back.flags, 8);
        assert!(back.notify);
        assert!(decode(&data, b"key-b").is_none(), "another key never hits");
        assert!(
            decode(&data[..data.len() - 1], b"key-a").is_none(),
            "truncated"
        );
        let mut bad = data.clone();
        bad[0] ^= 1;
        assert!(decode(&bad, b"key-a").is_none(), "bad magic");
    }

    fn profile() -> LinuxSeccomp {
        serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
                "syscalls":[{"names":["mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
        )
        .unwrap()
    }

    /// An entry (or directory) that others could have written, or a symlink, is
    /// never read: the profile is compiled afresh, whatever the entry says.
    #[test]
    fn untrusted_entries_are_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let root = std::env::temp_dir().join(format!("berth-seccomp-trust-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let p = profile();
        let key = cache_key(&p).unwrap();
        let path = entry_path(&root, &key);
        build_cached(&p, &root).unwrap();
        assert!(read_trusted(&root, &path).is_some(), "own entry is read");

        // A forged entry for the same key: a filter that allows everything.
        let forged = Filter {
            prog: vec![libc::sock_filter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: libc::SECCOMP_RET_ALLOW,
            }],
            flags: 0,
            notify: false,
        };
        std::fs::write(&path, encode(&forged, &key)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(read_trusted(&root, &path).is_none(), "world-writable entry");
        let f = build_cached(&p, &root).unwrap();
        assert!(f.prog.len() > 1, "compiled afresh, not the forged entry");

        std::fs::remove_file(&path).unwrap();
        let elsewhere = root.join("elsewhere");
        std::fs::write(&elsewhere, encode(&forged, &key)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert!(read_trusted(&root, &path).is_none(), "symlinked entry");

        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, encode(&forged, &key)).unwrap();
        std::fs::set_permissions(root.join(DIR), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(
            read_trusted(&root, &path).is_none(),
            "world-writable directory"
        );
        assert!(
            store(&root, &path, b"x").is_err(),
            "nothing written into an untrusted directory"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn cached_build_matches_fresh_build() {
        let profile: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
                "syscalls":[{"names":["mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
        )
        .unwrap();
        let root = std::env::temp_dir().join(format!("berth-seccomp-cache-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let fresh = super::super::build(&profile).unwrap();
        let first = build_cached(&profile, &root).unwrap();
        let entries = std::fs::read_dir(root.join(DIR)).unwrap().count();
        let second = build_cached(&profile, &root).unwrap();
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(entries, 1, "one entry written");
        for f in [&first, &second] {
            assert_eq!(f.prog.len(), fresh.prog.len());
            assert!(f
                .prog
                .iter()
                .zip(&fresh.prog)
                .all(|(a, b)| (a.code, a.jt, a.jf, a.k) == (b.code, b.jt, b.jf, b.k)));
            assert_eq!(f.flags, fresh.flags);
        }
    }
}
