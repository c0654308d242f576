//! The store lock: commands that change the store hold it exclusively; readers
//! that need a consistent view hold it shared. flock(2) is released by the
//! kernel when the holder dies, so kill -9 never leaves it held.

use super::StoreError;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// Exclusive lock on `<root>/store.lock` (blocks until free).
    pub fn exclusive(root: &Path) -> Result<StoreLock, StoreError> {
        Self::take(&root.join("store.lock"), libc::LOCK_EX)
    }

    /// Shared lock on `<root>/store.lock`.
    pub fn shared(root: &Path) -> Result<StoreLock, StoreError> {
        Self::take(&root.join("store.lock"), libc::LOCK_SH)
    }

    /// Exclusive lock on any lock file.
    pub fn exclusive_file(path: &Path) -> Result<StoreLock, StoreError> {
        Self::take(path, libc::LOCK_EX)
    }

    fn take(path: &Path, how: i32) -> Result<StoreLock, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(StoreError::io("create", dir))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(StoreError::io("open", path))?;
        loop {
            if unsafe { libc::flock(file.as_raw_fd(), how) } == 0 {
                return Ok(StoreLock { _file: file });
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(StoreError::io("flock", path)(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes() {
        let dir = std::env::temp_dir().join(format!("berth-lock-{}", std::process::id()));
        let l = StoreLock::exclusive(&dir).unwrap();
        // A second open file description cannot take it while the first holds it.
        let f = File::open(dir.join("store.lock")).unwrap();
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(r, -1);
        drop(l);
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(r, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
