//! The state directory under `--root`: one directory per container, created
//! atomically (mkdir) so ids are unique, locked with flock while a verb
//! mutates it, and `state.json` replaced by rename so readers never see a
//! torn file.

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;

use super::state::{ContainerState, Status};
use super::validate_id;
use crate::error::{Error, Result, SysContext};

pub const STATE_FILE: &str = "state.json";
/// The bundle's config as it was at create (the bundle may change later).
pub const CONFIG_FILE: &str = "config.json";
/// The init listens here until `start`; its presence means "created".
pub const START_SOCKET: &str = "start.sock";

/// Emptied directories of deleted containers, kept under `--root` for the
/// next `create` (`@` never starts a container id, so `list` skips them).
/// Removing a directory frees its inode and data block, and on an ext4
/// mounted with `discard` and no journal (the root file system here) the
/// block's discard is issued synchronously when the last fd of the directory
/// is closed: 0.2-3.7 ms of `delete`; `mkdir` then pays ext4's inode
/// allocator again in `create`. A rename does neither. On tmpfs (`/run`,
/// runc's default root) it is simply a cheaper `mkdir`/`rmdir`.
const SPARE_PREFIX: &str = "@spare";
/// At most this many spare directories exist; a `delete` that finds every
/// slot taken removes its directory as before.
const SPARE_SLOTS: usize = 4;

pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: &Path) -> Store {
        Store {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn ensure_root(&self) -> Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .ctx(|| format!("create state root {}", self.root.display()))
    }

    /// Reserve the directory of a new container. Fails if the id is taken.
    pub fn create(&self, id: &str) -> Result<Container> {
        validate_id(id)?;
        self.ensure_root()?;
        let dir = self.root.join(id);
        let reused = self.take_spare(&dir, id)?;
        if !reused {
            match fs::DirBuilder::new().mode(0o711).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(Error::Exists(id.to_string()))
                }
                Err(e) => return Err(e).ctx(|| format!("create {}", dir.display())),
            }
        }
        let c = Container::open_dir(id, dir, true)?;
        if reused {
            // Spares are emptied before they are parked; make sure anyway,
            // since a stray start.sock would make the container "created".
            c.remove_entries()?;
        }
        Ok(c)
    }

    /// Move a spare directory to `dir`: true if one was taken, false if
    /// there is none (or the rename cannot be used here: then `mkdir`).
    fn take_spare(&self, dir: &Path, id: &str) -> Result<bool> {
        for slot in 0..SPARE_SLOTS {
            let spare = self.root.join(format!("{SPARE_PREFIX}{slot}"));
            match rename_noreplace(&spare, dir) {
                Ok(()) => return Ok(true),
                // Taken by a concurrent create, or never parked.
                Err(nix::errno::Errno::ENOENT) => continue,
                Err(nix::errno::Errno::EEXIST) | Err(nix::errno::Errno::ENOTEMPTY) => {
                    return Err(Error::Exists(id.to_string()))
                }
                Err(_) => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Open an existing container, locked exclusively.
    pub fn load(&self, id: &str) -> Result<Container> {
        validate_id(id)?;
        let dir = self.root.join(id);
        let c = Container::open_dir(id, dir, true)?;
        Ok(c)
    }

    /// Read a container's state without taking its lock (state is replaced
    /// atomically, so an unlocked read is consistent).
    pub fn read(&self, id: &str) -> Result<(ContainerState, Status)> {
        validate_id(id)?;
        let dir = self.root.join(id);
        let state = read_state(&dir, id)?;
        let status = compute_status(&dir, &state);
        Ok((state, status))
    }

    /// The container's saved config, read without its lock.
    pub fn read_config(&self, id: &str) -> Result<oci_spec::runtime::Spec> {
        validate_id(id)?;
        read_json(&self.root.join(id).join(CONFIG_FILE), id, "saved config")
    }

    pub fn ids(&self) -> Result<Vec<String>> {
        let rd = match fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).ctx(|| format!("read {}", self.root.display())),
        };
        let mut ids: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| validate_id(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

fn read_state(dir: &Path, id: &str) -> Result<ContainerState> {
    read_json(&dir.join(STATE_FILE), id, "state")
}

fn read_state_at(
    dirfd: std::os::fd::BorrowedFd<'_>,
    dir: &Path,
    id: &str,
) -> Result<ContainerState> {
    let path = dir.join(STATE_FILE);
    let fd = match nix::fcntl::openat(
        dirfd,
        STATE_FILE,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT) => return Err(Error::NotFound(id.to_string())),
        Err(e) => return Err(e).ctx(|| format!("open {}", path.display())),
    };
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut File::from(fd), &mut data)
        .ctx(|| format!("read {}", path.display()))?;
    serde_json::from_slice(&data).map_err(|e| Error::Config {
        path,
        msg: format!("corrupt state: {e}"),
    })
}

/// A JSON file of a container; missing means the container does not exist.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path, id: &str, what: &str) -> Result<T> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound(id.to_string()))
        }
        Err(e) => return Err(e).ctx(|| format!("read {}", path.display())),
    };
    serde_json::from_slice(&data).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        msg: format!("corrupt {what}: {e}"),
    })
}

fn compute_status(dir: &Path, state: &ContainerState) -> Status {
    // One read of /proc/PID/stat, and the freezer only for a live init.
    if !state.init_alive() {
        return Status::Stopped;
    }
    if state.cgroup.as_ref().is_some_and(|c| c.is_frozen()) {
        return Status::Paused;
    }
    if dir.join(START_SOCKET).exists() {
        return Status::Created;
    }
    Status::Running
}

/// An open, locked container directory. The lock is released on drop.
pub struct Container {
    pub id: String,
    pub dir: PathBuf,
    dirfd: Flock<File>,
    pub state: Option<ContainerState>,
}

impl Container {
    fn open_dir(id: &str, dir: PathBuf, exclusive: bool) -> Result<Container> {
        let f = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(&dir)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(e).ctx(|| format!("open {}", dir.display())),
        };
        let arg = if exclusive {
            FlockArg::LockExclusive
        } else {
            FlockArg::LockShared
        };
        let dirfd = Flock::lock(f, arg)
            .map_err(|(_, e)| e)
            .ctx(|| format!("lock {}", dir.display()))?;
        // Through the locked fd, and only if it names this id: the path may
        // have been deleted (its directory parked as a spare, even reused by
        // another container) while this verb waited for the lock.
        let state = match read_state_at(dirfd.as_fd(), &dir, id) {
            Ok(s) if s.id == id => Some(s),
            Ok(_) | Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        Ok(Container {
            id: id.to_string(),
            dir,
            dirfd,
            state,
        })
    }

    /// The state, or "does not exist" for a directory whose create never
    /// finished (it is treated as absent, and removed by `delete`).
    pub fn state(&self) -> Result<&ContainerState> {
        self.state
            .as_ref()
            .ok_or_else(|| Error::NotFound(self.id.clone()))
    }

    pub fn status(&self) -> Status {
        match &self.state {
            Some(s) => compute_status(&self.dir, s),
            None => Status::Stopped,
        }
    }

    pub fn dir_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.dirfd.as_fd()
    }

    pub fn save(&mut self, state: ContainerState) -> Result<()> {
        let data = serde_json::to_vec(&state).map_err(|e| Error::Invalid(e.to_string()))?;
        write_atomic(self.dirfd.as_fd(), &self.dir, STATE_FILE, &data)?;
        self.state = Some(state);
        Ok(())
    }

    pub fn save_config(&self, spec: &oci_spec::runtime::Spec) -> Result<()> {
        let data = serde_json::to_vec(spec).map_err(|e| Error::Invalid(e.to_string()))?;
        write_atomic(self.dirfd.as_fd(), &self.dir, CONFIG_FILE, &data)
    }

    /// Remove everything in the container's directory, through its fd.
    fn remove_entries(&self) -> Result<()> {
        let mut d = nix::dir::Dir::from_fd(
            nix::unistd::dup(self.dirfd.as_fd()).ctx(|| format!("dup {}", self.dir.display()))?,
        )
        .ctx(|| format!("read {}", self.dir.display()))?;
        let mut names = Vec::new();
        for e in d.iter() {
            let e = e.ctx(|| format!("read {}", self.dir.display()))?;
            let name = e.file_name();
            if name != c"." && name != c".." {
                names.push((name.to_owned(), e.file_type()));
            }
        }
        for (name, typ) in names {
            if typ == Some(nix::dir::Type::Directory) {
                let path = self.dir.join(std::ffi::OsStr::from_bytes(name.to_bytes()));
                fs::remove_dir_all(&path).ctx(|| format!("remove {}", path.display()))?;
                continue;
            }
            match nix::unistd::unlinkat(
                self.dirfd.as_fd(),
                name.as_c_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            ) {
                Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
                // d_type unknown on this file system: a directory after all.
                Err(nix::errno::Errno::EISDIR) => {
                    let path = self.dir.join(std::ffi::OsStr::from_bytes(name.to_bytes()));
                    fs::remove_dir_all(&path).ctx(|| format!("remove {}", path.display()))?;
                }
                Err(e) => {
                    return Err(e).ctx(|| {
                        format!(
                            "remove {}",
                            self.dir.join(name.to_string_lossy().as_ref()).display()
                        )
                    })
                }
            }
        }
        Ok(())
    }

    /// `delete`'s end: empty the directory and park it as a spare for the
    /// next `create` (see `SPARE_PREFIX`), or remove it when every slot is
    /// taken. The lock is held until the directory no longer has the id.
    pub fn recycle(self) -> Result<()> {
        self.remove_entries()?;
        let root = self.dir.parent().unwrap_or(Path::new("/"));
        for slot in 0..SPARE_SLOTS {
            let spare = root.join(format!("{SPARE_PREFIX}{slot}"));
            match rename_noreplace(&self.dir, &spare) {
                Ok(()) => return Ok(()),
                Err(nix::errno::Errno::EEXIST) | Err(nix::errno::Errno::ENOTEMPTY) => continue,
                Err(_) => break,
            }
        }
        self.destroy()
    }

    /// Remove the container's directory and everything in it.
    pub fn destroy(self) -> Result<()> {
        let dir = self.dir.clone();
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).ctx(|| format!("remove {}", dir.display())),
        }
    }
}

/// rename(2) that fails with EEXIST instead of replacing `to`. The raw
/// syscall: nix wraps `renameat2` for glibc only, and the musl that Rust's
/// musl target links (1.2.3) has no wrapper yet.
fn rename_noreplace(from: &Path, to: &Path) -> nix::Result<()> {
    use nix::NixPath;
    let r = from.with_nix_path(|from| {
        to.with_nix_path(|to| {
            // SAFETY: both are NUL-terminated paths that outlive the call;
            // renameat2 takes (int, const char *, int, const char *, unsigned).
            unsafe {
                libc::syscall(
                    libc::SYS_renameat2,
                    libc::AT_FDCWD,
                    from.as_ptr(),
                    libc::AT_FDCWD,
                    to.as_ptr(),
                    libc::RENAME_NOREPLACE,
                )
            }
        })
    })??;
    nix::errno::Errno::result(r).map(drop)
}

/// Write `name` in `dir` through a temp file and rename, so a crash leaves
/// either the old or the new content.
pub fn write_atomic(
    dirfd: std::os::fd::BorrowedFd<'_>,
    dir: &Path,
    name: &str,
    data: &[u8],
) -> Result<()> {
    let tmp = format!(".{name}.{}", std::process::id());
    let fd: OwnedFd = nix::fcntl::openat(
        dirfd,
        tmp.as_str(),
        OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )
    .ctx(|| format!("create {}", dir.join(&tmp).display()))?;
    let mut f = File::from(fd);
    f.write_all(data)
        .ctx(|| format!("write {}", dir.join(&tmp).display()))?;
    nix::fcntl::renameat(dirfd, tmp.as_str(), dirfd, name)
        .ctx(|| format!("rename to {}", dir.join(name).display()))?;
    Ok(())
}

/// Write a pid file atomically (temp file + rename in the same directory),
/// as the bare decimal pid without a newline.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ctx(|| "getcwd")?.join(path)
    };
    let dir = abs.parent().unwrap_or(Path::new("/"));
    let name = abs
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("invalid pid file {}", path.display())))?
        .to_string_lossy()
        .into_owned();
    let d = File::open(dir).ctx(|| format!("open {}", dir.display()))?;
    write_atomic(d.as_fd(), dir, &name, pid.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(id: &str) -> ContainerState {
        ContainerState {
            oci_version: "1.2.0".into(),
            id: id.into(),
            pid: 0,
            init_start_time: 0,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: String::new(),
            annotations: Default::default(),
            hooks: None,
            own_pid_ns: true,
            cgroup: None,
        }
    }

    fn entries(root: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn deleted_directories_are_reused_and_bounded() {
        let root = std::env::temp_dir().join(format!("berth-store-spare-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let store = Store::new(&root);
        let mut a = store.create("a").unwrap();
        a.save(state("a")).unwrap();
        a.save_config(&oci_spec::runtime::Spec::default()).unwrap();
        fs::write(a.dir.join(START_SOCKET), b"").unwrap();
        a.recycle().unwrap();
        assert_eq!(entries(&root), ["@spare0"]);
        assert!(fs::read_dir(root.join("@spare0")).unwrap().next().is_none());
        assert!(matches!(store.read("a"), Err(Error::NotFound(_))));
        assert!(store.ids().unwrap().is_empty());

        // A stray file in a spare does not reach the next container.
        fs::write(root.join("@spare0").join(START_SOCKET), b"").unwrap();
        let b = store.create("b").unwrap();
        assert_eq!(entries(&root), ["b"]);
        assert!(b.state.is_none());
        assert!(!root.join("b").join(START_SOCKET).exists());
        assert!(matches!(store.create("b"), Err(Error::Exists(_))));
        drop(b);

        // At most SPARE_SLOTS spares; the rest are removed.
        let ids: Vec<String> = (0..SPARE_SLOTS + 2).map(|i| format!("c{i}")).collect();
        for id in &ids {
            store.create(id).unwrap();
        }
        for id in &ids {
            store.load(id).unwrap().recycle().unwrap();
        }
        let left = entries(&root);
        assert_eq!(left.len(), SPARE_SLOTS + 1, "{left:?}");
        assert!(left.iter().filter(|n| n.starts_with(SPARE_PREFIX)).count() == SPARE_SLOTS);
        assert_eq!(store.ids().unwrap(), ["b"]);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_reused_directory_is_not_the_old_container() {
        let root = std::env::temp_dir().join(format!("berth-store-reuse-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let store = Store::new(&root);
        store.create("old").unwrap().recycle().unwrap();
        let mut new = store.create("new").unwrap();
        new.save(state("new")).unwrap();
        // What a verb that opened "old" before the rename would read
        // through its fd: another container's state, so none.
        let fd = fs::File::open(root.join("new")).unwrap();
        let s = read_state_at(fd.as_fd(), &root.join("new"), "old").unwrap();
        assert_ne!(s.id, "old");
        assert!(matches!(store.load("old"), Err(Error::NotFound(_))));
        drop(new);
        assert_eq!(store.load("new").unwrap().state.unwrap().id, "new");
        fs::remove_dir_all(&root).unwrap();
    }
}
