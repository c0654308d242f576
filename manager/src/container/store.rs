//! The container store: one directory per container under `<root>/containers`,
//! a name index of symlinks `<root>/containers/.names/<name> -> <id>` guarded by
//! a names lock, and a flock per container.
//!
//! Crash safety: a container is assembled in a `.tmp-<pid>-...` directory and
//! renamed into place; its name link is made before the rename, so a kill -9
//! leaves at worst a stale temp dir (removed by the next listing of the store:
//! `ps`, an id prefix, a prune) or a name link to nothing (treated as free).

use super::record::ContainerRecord;
use super::ContainerError;
use crate::context::Context;
use std::path::{Path, PathBuf};

pub struct ContainerStore {
    dir: PathBuf,
}

/// A held flock (released on drop or when the holder dies).
pub type Lock = crate::store::StoreLock;

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ContainerError {
    let path = path.to_path_buf();
    move |source| ContainerError::Io { op, path, source }
}

fn flock(path: &Path, how: i32) -> Result<Lock, ContainerError> {
    Ok(Lock::at(path, how)?)
}

pub fn is_full_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

/// Fill `buf` from the kernel's random pool (getrandom(2), which blocks only
/// until the pool is first initialised at boot).
fn fill_random(buf: &mut [u8]) {
    let mut got = 0;
    while got < buf.len() {
        let rest = &mut buf[got..];
        // SAFETY: getrandom writes at most `rest.len()` bytes to `rest`, a live,
        // writable slice that nothing else borrows.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            got += n as usize;
        }
    }
}

/// 64 random hex digits.
pub fn new_id() -> String {
    let mut buf = [0u8; 32];
    fill_random(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

const ADJECTIVES: &[&str] = &[
    "admiring",
    "brave",
    "clever",
    "dreamy",
    "eager",
    "festive",
    "gallant",
    "happy",
    "jolly",
    "keen",
    "lucid",
    "modest",
    "nifty",
    "optimistic",
    "quirky",
    "relaxed",
    "serene",
    "tender",
    "upbeat",
    "vibrant",
    "wizardly",
    "youthful",
    "zealous",
    "bold",
    "calm",
];
const NAMES: &[&str] = &[
    "lovelace", "turing", "hopper", "curie", "noether", "euler", "gauss", "kepler", "tesla",
    "darwin", "fermi", "galileo", "hypatia", "knuth", "lamport", "mccarthy", "newton", "pascal",
    "ritchie", "shannon", "thompson", "wozniak", "yalow", "babbage", "dijkstra",
];

/// A docker-style random name (`adjective_scientist`).
pub fn random_name() -> String {
    let id = new_id();
    let n = u64::from_str_radix(&id[..12], 16).unwrap_or(0);
    let a = ADJECTIVES[(n % ADJECTIVES.len() as u64) as usize];
    let b = NAMES[((n / 64) % NAMES.len() as u64) as usize];
    format!("{a}_{b}")
}

impl ContainerStore {
    pub fn open(ctx: &Context) -> Result<ContainerStore, ContainerError> {
        let dir = ctx.root.join("containers");
        std::fs::create_dir_all(dir.join(".names")).map_err(io("create", &dir))?;
        Ok(ContainerStore { dir })
    }

    /// The store's root (`<root>` of `<root>/containers`).
    pub fn root(&self) -> std::path::PathBuf {
        self.dir.parent().map(Path::to_path_buf).unwrap_or_default()
    }

    /// `<root>/containers/<id>`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    fn names_dir(&self) -> PathBuf {
        self.dir.join(".names")
    }

    /// Remove the temp directories of creates and removals whose berth died.
    pub fn clean(&self) {
        crate::store::clean_temps(&self.dir);
    }

    /// The lock serialising name changes (create, rename, remove).
    pub fn names_lock(&self) -> Result<Lock, ContainerError> {
        flock(&self.dir.join(".names.lock"), libc::LOCK_EX)
    }

    /// The per-container lock (start/stop/rm/exit handling). Callers re-check that
    /// the container still exists after taking it.
    pub fn lock(&self, id: &str) -> Result<Lock, ContainerError> {
        let locks = self.dir.join(".locks");
        std::fs::create_dir_all(&locks).map_err(io("create", &locks))?;
        flock(&locks.join(id), libc::LOCK_EX)
    }

    /// Unlink the lock file of a container that does not exist (its lock held).
    pub fn forget_lock(&self, id: &str) {
        let _ = std::fs::remove_file(self.dir.join(".locks").join(id));
    }

    /// How many lock files the store holds (one per container at most).
    #[cfg(test)]
    pub fn lock_files(&self) -> usize {
        std::fs::read_dir(self.dir.join(".locks")).map_or(0, |d| d.count())
    }

    pub fn exists(&self, id: &str) -> bool {
        self.dir(id).join("container.json").is_file()
    }

    /// Read one record by full id.
    pub fn load(&self, id: &str) -> Result<ContainerRecord, ContainerError> {
        let path = self.dir(id).join("container.json");
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ContainerError::NotFound(id.to_string()))
            }
            Err(e) => return Err(io("read", &path)(e)),
        };
        serde_json::from_slice(&data).map_err(|e| ContainerError::Corrupt {
            path,
            why: e.to_string(),
        })
    }

    /// Rewrite a record atomically.
    pub fn save(&self, rec: &ContainerRecord) -> Result<(), ContainerError> {
        let path = self.dir(&rec.id).join("container.json");
        write_json(&path, rec)
    }

    /// The name linked to container `id` (a stand-in for what a record that
    /// cannot be read would say).
    pub fn name_of(&self, id: &str) -> Option<String> {
        let rd = std::fs::read_dir(self.names_dir()).ok()?;
        rd.flatten()
            .find(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.as_os_str() == id))
            .map(|e| e.file_name().to_string_lossy().into_owned())
    }

    /// The container a name points at (a link to a missing container is stale).
    fn name_owner(&self, name: &str) -> Option<String> {
        let target = std::fs::read_link(self.names_dir().join(name)).ok()?;
        let id = target.to_string_lossy().into_owned();
        self.exists(&id).then_some(id)
    }

    /// Docker's resolution order: full id, exact name, unique id prefix.
    pub fn resolve(&self, name_or_id: &str) -> Result<ContainerRecord, ContainerError> {
        let s = name_or_id.strip_prefix('/').unwrap_or(name_or_id);
        if s.is_empty() {
            return Err(ContainerError::NotFound(name_or_id.to_string()));
        }
        if is_full_id(s) && self.exists(s) {
            return self.load(s);
        }
        if !s.contains('/') {
            if let Some(id) = self.name_owner(s) {
                return self.load(&id);
            }
        }
        if s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            let mut found: Option<String> = None;
            for id in self.ids()? {
                if id.starts_with(s) {
                    if found.is_some() {
                        return Err(ContainerError::Ambiguous(s.to_string()));
                    }
                    found = Some(id);
                }
            }
            if let Some(id) = found {
                return self.load(&id);
            }
        }
        Err(ContainerError::NotFound(name_or_id.to_string()))
    }

    /// Full ids of all containers (directories with a record). The stale
    /// temporaries of creates and removals whose berth died go on the way:
    /// every listing (`ps`, an id prefix, prune) sees them anyway, and
    /// `create` need not read the whole directory for them.
    pub fn ids(&self) -> Result<Vec<String>, ContainerError> {
        let rd = std::fs::read_dir(&self.dir).map_err(io("read", &self.dir))?;
        let mut ids = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if crate::store::remove_if_stale_temp(&e, &name) {
                continue;
            }
            if is_full_id(&name) {
                ids.push(name);
            }
        }
        Ok(ids)
    }

    /// All containers, newest first.
    pub fn list(&self) -> Result<Vec<ContainerRecord>, ContainerError> {
        let mut out = Vec::new();
        for id in self.ids()? {
            match self.load(&id) {
                Ok(r) => out.push(r),
                // Removed meanwhile, or a directory whose record never got written.
                Err(ContainerError::NotFound(_)) => {}
                // One unreadable record must not hide (or block the management
                // of) all the others: name it and go on; `rm -f` removes it.
                Err(e @ ContainerError::Corrupt { .. }) => {
                    eprintln!(
                        "berth: skipping container {id}: {e} (remove it with `berth rm -f {id}`)"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(out)
    }

    /// Create a container: reserve the name, assemble the directory (the record
    /// and whatever `fill` puts there) in a temp dir, rename it into place.
    pub fn create(
        &self,
        rec: &mut ContainerRecord,
        fill: impl FnOnce(&Path) -> Result<(), ContainerError>,
    ) -> Result<(), ContainerError> {
        // (no sweep of stale temporaries here: a read of every container's
        // entry on each create; `ids` and `clean` do it)
        if rec.id.is_empty() {
            rec.id = new_id();
        }
        let _names = self.names_lock()?;
        if rec.name.is_empty() {
            loop {
                let n = random_name();
                if self.name_owner(&n).is_none() {
                    rec.name = n;
                    break;
                }
            }
        } else {
            if !valid_name(&rec.name) {
                return Err(ContainerError::InvalidName(rec.name.clone()));
            }
            if let Some(id) = self.name_owner(&rec.name) {
                return Err(ContainerError::NameInUse {
                    name: rec.name.clone(),
                    id,
                });
            }
        }
        let tmp = self.dir.join(crate::store::temp_name(&rec.id));
        let res = (|| {
            std::fs::create_dir(&tmp).map_err(io("create", &tmp))?;
            write_json(&tmp.join("container.json"), rec)?;
            fill(&tmp)?;
            self.link_name(&rec.name, &rec.id)?;
            crate::sys::fault::crash_point("create:name-linked");
            let dst = self.dir(&rec.id);
            std::fs::rename(&tmp, &dst).map_err(io("rename", &dst))?;
            Ok(())
        })();
        if res.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        res
    }

    fn link_name(&self, name: &str, id: &str) -> Result<(), ContainerError> {
        let link = self.names_dir().join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(id, &link).map_err(io("symlink", &link))
    }

    /// Rename (docker's rules: the new name must be free).
    pub fn rename(&self, id: &str, new_name: &str) -> Result<(), ContainerError> {
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
        if !valid_name(new_name) {
            return Err(ContainerError::InvalidName(new_name.to_string()));
        }
        let _names = self.names_lock()?;
        let mut rec = self.load(id)?;
        if let Some(owner) = self.name_owner(new_name) {
            if owner != id {
                return Err(ContainerError::NameInUse {
                    name: new_name.to_string(),
                    id: owner,
                });
            }
            return Ok(());
        }
        let old = std::mem::replace(&mut rec.name, new_name.to_string());
        self.link_name(new_name, id)?;
        self.save(&rec)?;
        let _ = std::fs::remove_file(self.names_dir().join(&old));
        Ok(())
    }

    /// Remove the record and directory (the caller has unmounted and stopped it).
    /// The directory is first renamed to a temp name so a crash mid-way leaves
    /// garbage the next listing cleans, never a half-removed container.
    pub fn remove(&self, rec: &ContainerRecord) -> Result<(), ContainerError> {
        let _names = self.names_lock()?;
        let dir = self.dir(&rec.id);
        let tmp = self.dir.join(crate::store::temp_name(&rec.id));
        match std::fs::rename(&dir, &tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("rename", &dir)(e)),
        }
        // Only drop the name link if it still points at this container.
        let link = self.names_dir().join(&rec.name);
        if std::fs::read_link(&link).is_ok_and(|t| t.as_os_str() == rec.id.as_str()) {
            let _ = std::fs::remove_file(&link);
        }
        let _ = std::fs::remove_file(self.dir.join(".locks").join(&rec.id));
        drop(_names);
        std::fs::remove_dir_all(&tmp)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(io("remove", &tmp))
    }
}

/// Atomic JSON write (temp + rename); no fsync: container records are cheap to
/// lose on power failure but must never be torn.
pub fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> Result<(), ContainerError> {
    let data = serde_json::to_vec_pretty(v).map_err(|e| ContainerError::Corrupt {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    Ok(crate::store::replace_file(path, &data, false)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids() {
        assert!(valid_name("web-1"));
        assert!(valid_name("a.b_c"));
        assert!(!valid_name("x"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a/b"));
        let id = new_id();
        assert!(is_full_id(&id));
        assert_ne!(id, new_id());
        assert!(random_name().contains('_'));
    }

    /// A dead writer's temp entry goes with the next listing; a live one's
    /// (this process's) stays; neither is listed as a container.
    #[test]
    fn listing_sweeps_stale_temps_only() {
        let root = std::env::temp_dir().join(format!("berth-ctemps-{}", std::process::id()));
        let ctx = Context::new(root.clone(), root.join("state"));
        let s = ContainerStore::open(&ctx).unwrap();
        let mut r = ContainerRecord::default();
        s.create(&mut r, |_| Ok(())).unwrap();
        // pid 0x7fffffff: no such process
        let dead = s.dir.join(".tmp-2147483647-0-x");
        std::fs::create_dir_all(dead.join("sub")).unwrap();
        let live = s.dir.join(crate::store::temp_name("y"));
        std::fs::write(&live, b"").unwrap();
        assert_eq!(s.ids().unwrap(), vec![r.id.clone()]);
        assert!(!dead.exists(), "a dead writer's temp stays");
        assert!(live.exists(), "a live writer's temp went");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn create_resolve_rename_remove() {
        let root = std::env::temp_dir().join(format!("berth-cstore-{}", std::process::id()));
        let ctx = Context::new(root.clone(), root.join("state"));
        let s = ContainerStore::open(&ctx).unwrap();
        let mut r = ContainerRecord {
            name: "web".into(),
            ..Default::default()
        };
        s.create(&mut r, |_| Ok(())).unwrap();
        assert_eq!(s.resolve("web").unwrap().id, r.id);
        assert_eq!(s.resolve("/web").unwrap().id, r.id);
        assert_eq!(s.resolve(&r.id[..6]).unwrap().id, r.id);
        let mut dup = ContainerRecord {
            name: "web".into(),
            ..Default::default()
        };
        let e = s.create(&mut dup, |_| Ok(())).unwrap_err().to_string();
        assert!(e.contains("is already in use by container"), "{e}");
        s.rename(&r.id, "app").unwrap();
        assert!(s.resolve("web").is_err());
        assert_eq!(s.resolve("app").unwrap().name, "app");
        assert_eq!(s.list().unwrap().len(), 1);
        s.remove(&s.resolve("app").unwrap()).unwrap();
        assert!(matches!(s.resolve("app"), Err(ContainerError::NotFound(_))));
        assert!(s.list().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&root);
    }
}
