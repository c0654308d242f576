//! The store lock: commands that change the store hold it exclusively; readers
//! that need a consistent view hold it shared. flock(2) is released by the
//! kernel when the holder dies, so kill -9 never leaves it held.

use super::{IoFailure, StoreError};
use crate::sys::fs::{flock, Lock};
use std::fs::File;
use std::path::Path;

/// A held flock (released on drop or when the holder dies).
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
        Ok(Self::at(path, how)?)
    }

    /// `how` (`libc::LOCK_EX` or `LOCK_SH`) on the file `path`, created if
    /// missing (its directory must exist).
    pub fn at(path: &Path, how: i32) -> Result<StoreLock, IoFailure> {
        lock_file(path, how).map(|file| StoreLock { _file: file })
    }
}

/// Open (creating) `path` read-write and flock it with `how`, waiting until it
/// is free; the open file holds the lock.
pub fn lock_file(path: &Path, how: i32) -> Result<File, IoFailure> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(IoFailure::at("open", path))?;
    let how = if how & libc::LOCK_SH != 0 {
        Lock::Shared
    } else {
        Lock::Exclusive
    };
    flock(&file, how, false).map_err(IoFailure::at("flock", path))?;
    Ok(file)
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
        assert!(flock(&f, Lock::Exclusive, true).is_err());
        drop(l);
        flock(&f, Lock::Exclusive, true).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
