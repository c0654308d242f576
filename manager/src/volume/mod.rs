//! Volumes: `<root>/volumes/<name>/_data` plus `volume.json`, docker's "local" driver.
//!
//! Options follow the local driver: `type=tmpfs,device=tmpfs,o=size=64m` mounts a tmpfs
//! and `type=none,o=bind,device=/path` binds a host directory at `_data` on first use
//! (`VolumeStore::mount`); callers unmount with `VolumeStore::unmount` when the last
//! container using it stops. An empty volume is seeded once from the image's content at
//! its mount point (`seed_from`, docker's copy-up).

pub mod tree;

use crate::context::Context;
use crate::sys::mountinfo::is_mountpoint;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("get {0}: no such volume")]
    NotFound(String),
    #[error("remove {name}: volume is in use - [{}]", users.join(", "))]
    InUse { name: String, users: Vec<String> },
    #[error(
        "{0:?} includes invalid characters for a local volume name, only \
         \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host \
         directory, use absolute path"
    )]
    InvalidName(String),
    #[error("volume driver {0:?} is not supported (only \"local\")")]
    Driver(String),
    #[error("invalid option {key:?} for the local volume driver: {why}")]
    Option { key: String, why: String },
    #[error("volume {name}: invalid volume.json: {why}")]
    Corrupt { name: String, why: String },
    #[error("copying the image's content into volume {name}: {why}")]
    Seed { name: String, why: String },
}

impl From<crate::store::IoFailure> for VolumeError {
    fn from(f: crate::store::IoFailure) -> VolumeError {
        VolumeError::Io {
            op: f.op,
            path: f.path,
            source: f.source,
        }
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> VolumeError + 'a {
    move |source| VolumeError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// A volume as `volume.json` records it (plus the derived mount point).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    #[serde(skip)]
    pub mountpoint: PathBuf,
    pub created: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub anonymous: bool,
    /// Set once the volume has been used by a container (copy-up happens only before).
    #[serde(default)]
    pub seeded: bool,
}

impl Volume {
    /// docker's `volume inspect` object.
    pub fn inspect_json(&self) -> serde_json::Value {
        serde_json::json!({
            "CreatedAt": self.created,
            "Driver": self.driver,
            "Labels": self.labels,
            "Mountpoint": self.mountpoint.to_string_lossy(),
            "Name": self.name,
            "Options": self.options,
            "Scope": "local",
        })
    }

    /// Whether `VolumeStore::mount` mounts something for it (local-driver
    /// `type=` options), i.e. whether it should be unmounted when unused.
    pub fn is_driver_mounted(&self) -> bool {
        !matches!(self.mount_kind(), MountKind::Plain)
    }

    fn mount_kind(&self) -> MountKind {
        match self.options.get("type").map(String::as_str) {
            Some("none") => MountKind::Bind(PathBuf::from(&self.options["device"])),
            Some(fstype) => MountKind::Fs {
                fstype: fstype.to_string(),
                device: self.options.get("device").cloned().unwrap_or_default(),
                data: self.options.get("o").cloned().unwrap_or_default(),
            },
            None => MountKind::Plain,
        }
    }
}

enum MountKind {
    Plain,
    Bind(PathBuf),
    Fs {
        fstype: String,
        device: String,
        data: String,
    },
}

/// docker's rule for local volume names.
pub use crate::container::store::valid_name;

/// Validate local-driver options the way docker's local driver does: `type`, `device`,
/// `o`, and the combinations berth can mount.
pub fn validate_options(opts: &BTreeMap<String, String>) -> Result<(), VolumeError> {
    let bad = |key: &str, why: &str| VolumeError::Option {
        key: key.to_string(),
        why: why.to_string(),
    };
    for key in opts.keys() {
        if !matches!(key.as_str(), "type" | "device" | "o") {
            return Err(bad(key, "unknown option (expected type, device or o)"));
        }
    }
    let Some(ty) = opts.get("type") else {
        if opts.is_empty() {
            return Ok(());
        }
        return Err(bad("type", "missing: device and o need a type"));
    };
    match ty.as_str() {
        "none" => {
            let o = opts.get("o").map(String::as_str).unwrap_or("");
            if !o.split(',').any(|x| x == "bind" || x == "rbind") {
                return Err(bad("o", "type=none needs o=bind"));
            }
            for x in o.split(',') {
                if !matches!(x, "bind" | "rbind" | "ro" | "rw") {
                    return Err(bad("o", &format!("unsupported bind option {x:?}")));
                }
            }
            match opts.get("device") {
                Some(d) if Path::new(d).is_absolute() => Ok(()),
                Some(d) => Err(bad("device", &format!("{d:?} is not an absolute path"))),
                None => Err(bad("device", "type=none needs device=/host/path")),
            }
        }
        "tmpfs" => Ok(()),
        "" => Err(bad("type", "empty")),
        other => {
            // Other filesystems need a device; the kernel decides the rest at mount time.
            if !matches!(opts.get("device"), Some(d) if !d.is_empty()) {
                return Err(bad("device", &format!("type={other} needs a device")));
            }
            Ok(())
        }
    }
}

/// The store: `<root>/volumes/`, a lock file `.lock` in it (never a valid volume name).
pub struct VolumeStore {
    dir: PathBuf,
}

/// An exclusive flock on the store's lock file, released on drop (and by the kernel if
/// the holder dies).
pub type VolumeLock = crate::store::StoreLock;

impl VolumeStore {
    pub fn open(ctx: &Context) -> Result<VolumeStore, VolumeError> {
        Self::open_at(&ctx.root)
    }

    pub fn open_at(root: &Path) -> Result<VolumeStore, VolumeError> {
        let dir = root.join("volumes");
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        Ok(VolumeStore { dir })
    }

    /// Exclusive lock around changes to the store.
    pub fn lock(&self) -> Result<VolumeLock, VolumeError> {
        Ok(VolumeLock::at(&self.dir.join(".lock"), libc::LOCK_EX)?)
    }

    fn vol_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Create a volume; an existing name returns the existing volume (docker semantics).
    pub fn create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<Volume, VolumeError> {
        self.create_with_driver(name, "local", labels, options, anonymous)
    }

    pub fn create_with_driver(
        &self,
        name: Option<&str>,
        driver: &str,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<Volume, VolumeError> {
        if driver != "local" {
            return Err(VolumeError::Driver(driver.to_string()));
        }
        validate_options(&options)?;
        let (name, anonymous) = match name {
            Some(n) if !n.is_empty() => {
                if !valid_name(n) {
                    return Err(VolumeError::InvalidName(n.to_string()));
                }
                (n.to_string(), anonymous)
            }
            _ => (crate::container::store::new_id(), true),
        };
        let _lock = self.lock()?;
        if let Some(v) = self.get(&name)? {
            return Ok(v);
        }
        let dir = self.vol_dir(&name);
        let data = dir.join("_data");
        std::fs::create_dir_all(&data).map_err(io_err("create", &data))?;
        let vol = Volume {
            name,
            driver: driver.to_string(),
            mountpoint: data,
            created: now_rfc3339(),
            labels,
            options,
            anonymous,
            seeded: false,
        };
        self.save(&vol)?;
        self.event("create", &vol);
        Ok(vol)
    }

    /// docker's volume event in the store's event log (`berth events`).
    fn event(&self, action: &str, vol: &Volume) {
        if let Some(root) = self.dir.parent() {
            crate::events::record(
                root,
                "volume",
                action,
                &vol.name,
                &[("driver", vol.driver.clone())],
            );
        }
    }

    /// Write volume.json atomically (temp file + fsync + rename).
    fn save(&self, vol: &Volume) -> Result<(), VolumeError> {
        let path = self.vol_dir(&vol.name).join("volume.json");
        let body = serde_json::to_vec_pretty(vol).expect("volume serializes");
        Ok(crate::store::replace_file(&path, &body, true)?)
    }

    pub fn get(&self, name: &str) -> Result<Option<Volume>, VolumeError> {
        if !valid_name(name) {
            return Ok(None);
        }
        let dir = self.vol_dir(name);
        let path = dir.join("volume.json");
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        let mut vol: Volume = serde_json::from_slice(&text).map_err(|e| VolumeError::Corrupt {
            name: name.to_string(),
            why: e.to_string(),
        })?;
        vol.mountpoint = dir.join("_data");
        Ok(Some(vol))
    }

    /// `get`, or docker's "no such volume" error.
    pub fn require(&self, name: &str) -> Result<Volume, VolumeError> {
        self.get(name)?
            .ok_or_else(|| VolumeError::NotFound(name.to_string()))
    }

    /// All volumes, sorted by name.
    pub fn list(&self) -> Result<Vec<Volume>, VolumeError> {
        let rd = std::fs::read_dir(&self.dir).map_err(io_err("read", &self.dir))?;
        let mut out = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(v) = self.get(&name)? {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Remove a volume; refuses when `in_use_by` (container ids) is not empty.
    pub fn remove(&self, name: &str, in_use_by: &[String]) -> Result<(), VolumeError> {
        let _lock = self.lock()?;
        let vol = self.require(name)?;
        if !in_use_by.is_empty() {
            return Err(VolumeError::InUse {
                name: name.to_string(),
                users: in_use_by.to_vec(),
            });
        }
        self.unmount(&vol)?;
        let dir = self.vol_dir(name);
        std::fs::remove_dir_all(&dir).map_err(io_err("remove", &dir))?;
        self.event("destroy", &vol);
        Ok(())
    }

    /// Make the volume's content available at its mount point and return the host path
    /// to bind into a container: mounts the local driver's tmpfs/bind on first use
    /// (idempotent).
    pub fn mount(&self, vol: &Volume) -> Result<PathBuf, VolumeError> {
        let target = &vol.mountpoint;
        std::fs::create_dir_all(target).map_err(io_err("create", target))?;
        if is_mountpoint(target) {
            return Ok(target.clone());
        }
        let res = match vol.mount_kind() {
            MountKind::Plain => return Ok(target.clone()),
            MountKind::Bind(src) => {
                let o = vol.options.get("o").map(String::as_str).unwrap_or("");
                let rbind = o.split(',').any(|x| x == "rbind");
                let ro = o.split(',').any(|x| x == "ro");
                crate::sys::mount::bind(Path::new(&src), target, rbind, ro)
            }
            MountKind::Fs {
                fstype,
                device,
                data,
            } => {
                let (flags, data) = split_mount_flags(&data);
                crate::sys::mount::filesystem(&device, target, &fstype, flags, &data)
            }
        };
        res.map_err(io_err("mount volume at", target))?;
        Ok(target.clone())
    }

    /// Undo `mount` (no-op for a plain volume or when not mounted).
    pub fn unmount(&self, vol: &Volume) -> Result<(), VolumeError> {
        if matches!(vol.mount_kind(), MountKind::Plain) {
            return Ok(());
        }
        while is_mountpoint(&vol.mountpoint) {
            crate::sys::mount::detach(&vol.mountpoint)
                .map_err(io_err("unmount", &vol.mountpoint))?;
        }
        Ok(())
    }

    /// docker's copy-up: when the volume is empty and was never used, copy the image's
    /// content at `dest_in_container` (resolved inside `image_rootfs_dir`, never following
    /// a symlink out of it) into the volume, keeping ownership, modes, symlinks and
    /// xattrs. Marks the volume used either way. Call after `mount`.
    pub fn seed_from(
        &self,
        vol: &Volume,
        image_rootfs_dir: &Path,
        dest_in_container: &str,
    ) -> Result<(), VolumeError> {
        let _lock = self.lock()?;
        let mut cur = self.require(&vol.name)?;
        if cur.seeded {
            return Ok(());
        }
        let seed_err = |why: String| VolumeError::Seed {
            name: vol.name.clone(),
            why,
        };
        let empty = std::fs::read_dir(&cur.mountpoint)
            .map_err(io_err("read", &cur.mountpoint))?
            .next()
            .is_none();
        if empty {
            let src = tree::Scope::in_root(image_rootfs_dir)
                .map_err(|e| seed_err(format!("{}: {e}", image_rootfs_dir.display())))?;
            let dst = tree::Scope::in_root(&cur.mountpoint)
                .map_err(|e| seed_err(format!("{}: {e}", cur.mountpoint.display())))?;
            tree::copy_contents(&src, dest_in_container, &dst)
                .map_err(|e| seed_err(format!("{dest_in_container}: {e}")))?;
        }
        cur.seeded = true;
        self.save(&cur)
    }

    /// Bytes used under the volume's directory (for prune's "reclaimed space").
    pub fn size(&self, vol: &Volume) -> u64 {
        tree::disk_usage(&vol.mountpoint)
    }
}

/// `o=` of a filesystem volume: flags the kernel wants as MS_* bits, the rest as data.
fn split_mount_flags(o: &str) -> (nix::mount::MsFlags, String) {
    use nix::mount::MsFlags;
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for x in o.split(',').filter(|x| !x.is_empty()) {
        match x {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => {}
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            other => data.push(other),
        }
    }
    (flags, data.join(","))
}

/// Ids of the containers whose record mounts volume `name`. Reads
/// `<root>/containers/*/container.json` as plain JSON so it works whatever else the
/// record holds (`mounts[]` entries with `Type` "volume" and `Name`).
pub fn users(ctx: &Context, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(ctx.root.join("containers")) else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(text) = std::fs::read(e.path().join("container.json")) else {
            continue;
        };
        let Ok(rec) = serde_json::from_slice::<serde_json::Value>(&text) else {
            continue;
        };
        let mounts = rec.get("mounts").or_else(|| rec.get("Mounts"));
        let uses = mounts
            .and_then(|m| m.as_array())
            .is_some_and(|ms| ms.iter().any(|m| mount_uses(m, name)));
        if uses {
            let id = rec
                .get("id")
                .or_else(|| rec.get("Id"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| e.file_name().to_string_lossy().into_owned());
            out.push(id);
        }
    }
    out.sort();
    out
}

fn mount_uses(m: &serde_json::Value, name: &str) -> bool {
    let field = |k: &str, k2: &str| {
        m.get(k)
            .or_else(|| m.get(k2))
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    field("Type", "type") == "volume" && field("Name", "name") == name
}

/// Now as RFC 3339 UTC with seconds (docker's `CreatedAt` for volumes).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    crate::store::rfc3339(secs, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("data"));
        assert!(valid_name("a.b-c_d"));
        assert!(!valid_name("a"));
        assert!(!valid_name(".lock"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("-x"));
    }

    #[test]
    fn options() {
        let m = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert!(validate_options(&m(&[])).is_ok());
        assert!(validate_options(&m(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=64m")
        ]))
        .is_ok());
        assert!(
            validate_options(&m(&[("type", "none"), ("o", "bind"), ("device", "/srv")])).is_ok()
        );
        let e = validate_options(&m(&[("colour", "red")])).unwrap_err();
        assert!(e.to_string().contains("\"colour\""), "{e}");
        let e = validate_options(&m(&[("type", "none"), ("device", "/srv")])).unwrap_err();
        assert!(e.to_string().contains("\"o\""), "{e}");
    }

    #[test]
    fn store_roundtrip() {
        let root = std::env::temp_dir().join(format!("berth-vol-{}", std::process::id()));
        let st = VolumeStore::open_at(&root).unwrap();
        let v = st
            .create(Some("data"), BTreeMap::new(), BTreeMap::new(), false)
            .unwrap();
        assert_eq!(st.get("data").unwrap().unwrap(), v);
        let a = st
            .create(None, BTreeMap::new(), BTreeMap::new(), false)
            .unwrap();
        assert!(a.anonymous && a.name.len() == 64);
        assert_eq!(st.list().unwrap().len(), 2);
        let e = st.remove("data", &["abc".into()]).unwrap_err();
        assert!(e.to_string().contains("volume is in use - [abc]"), "{e}");
        st.remove("data", &[]).unwrap();
        assert!(st.get("data").unwrap().is_none());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
