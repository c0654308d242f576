//! The state directory under `--root`: one directory per container, created
//! atomically (mkdir) so ids are unique, locked with flock while a verb
//! mutates it, and `state.json` replaced by rename so readers never see a
//! torn file.

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
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
        match fs::DirBuilder::new().mode(0o711).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.to_string()))
            }
            Err(e) => return Err(e).ctx(|| format!("create {}", dir.display())),
        }
        Container::open_dir(id, dir, true)
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
    if state.cgroup.as_ref().is_some_and(|c| c.is_frozen()) && state.init_alive() {
        return Status::Paused;
    }
    if !state.init_alive() {
        return Status::Stopped;
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
        let state = match read_state(&dir, id) {
            Ok(s) => Some(s),
            Err(Error::NotFound(_)) => None,
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
