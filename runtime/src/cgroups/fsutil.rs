//! Small cgroupfs file helpers. Every cgroup file write is a single write(2):
//! the kernel parses each write as one command, so partial writes or
//! truncation (O_TRUNC) must never happen.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{CgroupError, Result};

pub(crate) fn is_not_found(e: &io::Error) -> bool {
    // ENODEV: the file of a controller that was disabled under our feet.
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENODEV)
}

pub(crate) fn read(path: &Path) -> Result<String> {
    let mut s = String::new();
    fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut s))
        .map_err(|e| CgroupError::fs("read", path, e))?;
    Ok(s)
}

/// `None` when the file does not exist (controller absent or not enabled).
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>> {
    let mut s = String::new();
    match fs::File::open(path).and_then(|mut f| f.read_to_string(&mut s)) {
        Ok(_) => Ok(Some(s)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(CgroupError::fs("read", path, e)),
    }
}

pub(crate) fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    write_all_once(&mut f, value)
}

/// One write(2) of the whole value: cgroup files take a value per write,
/// so a short write is an error rather than something to continue.
pub(crate) fn write_all_once(f: &mut fs::File, value: &str) -> io::Result<()> {
    let n = f.write(value.as_bytes())?;
    if n != value.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short write"));
    }
    Ok(())
}

pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    write_raw(&path, value).map_err(|source| CgroupError::Write {
        path,
        value: value.to_string(),
        source,
    })
}

pub(crate) fn exists(path: &Path) -> bool {
    // access(2) is the cheapest existence probe; no allocation of metadata.
    nix::unistd::access(path, nix::unistd::AccessFlags::F_OK).is_ok()
}

/// Parse a cgroup number; "max" (v2) is u64::MAX like runc does.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse::<u64>().ok().or_else(|| {
        // Some v1 files report negative values (e.g. -1 for "unlimited").
        s.parse::<i64>()
            .ok()
            .map(|v| if v < 0 { 0 } else { v as u64 })
    })
}

pub(crate) fn read_u64_opt(dir: &Path, file: &str) -> Result<Option<u64>> {
    let path = dir.join(file);
    match read_opt(&path)? {
        None => Ok(None),
        Some(s) => parse_u64(&s)
            .map(Some)
            .ok_or(CgroupError::Parse { path, content: s }),
    }
}

/// A value from a flat-keyed file ("key value" lines, e.g. memory.stat).
pub(crate) fn keyed_value(content: &str, key: &str) -> Option<u64> {
    content.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| parse_u64(v)).flatten()
    })
}

/// mkdir one level; records it in `created` when it is new, so a failing
/// `create` can undo exactly what it did.
pub(crate) fn mkdir(path: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    match fs::create_dir(path) {
        Ok(()) => {
            created.push(path.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(CgroupError::fs("mkdir", path, e)),
    }
}

/// mkdir -p of `path` below `base` (which must exist), one level at a time.
/// `each` runs after every level below `base`, with (level, parent).
pub(crate) fn mkdir_below(
    base: &Path,
    path: &Path,
    created: &mut Vec<PathBuf>,
    mut each: impl FnMut(&Path, &Path) -> Result<()>,
) -> Result<()> {
    let rel = path.strip_prefix(base).unwrap_or(path);
    let mut cur = base.to_path_buf();
    for c in rel.components() {
        let parent = cur.clone();
        cur.push(c);
        mkdir(&cur, created)?;
        each(&cur, &parent)?;
    }
    Ok(())
}

fn rmdir_retry(path: &Path) -> Result<()> {
    // EBUSY right after the last task exits is transient (the css is still
    // being offlined); runc retries ~1s with backoff, so do we.
    let mut delay = Duration::from_millis(1);
    for attempt in 0.. {
        match fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 10 => {
                std::thread::sleep(delay);
                delay *= 2;
            }
            Err(e) => return Err(CgroupError::fs("rmdir", path, e)),
        }
    }
    unreachable!()
}

/// Remove a cgroup directory and its sub-cgroups, deepest first. A missing
/// directory is fine. cgroupfs dirs only contain control files (which rmdir
/// ignores) and sub-cgroup dirs.
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir(path) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let entries = match fs::read_dir(path) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CgroupError::fs("readdir", path, e)),
    };
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_tree(&entry.path())?;
        }
    }
    rmdir_retry(path)
}

/// Sub-cgroup directories of `dir` (not recursive).
pub(crate) fn subdirs(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Pids listed in `dir/cgroup.procs` and in every sub-cgroup below it.
pub(crate) fn procs_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let path = dir.join("cgroup.procs");
    let content = match read_opt(&path)? {
        Some(c) => c,
        None => return Ok(()),
    };
    for l in content.lines().filter(|l| !l.is_empty()) {
        out.push(l.trim().parse().map_err(|_| CgroupError::Parse {
            path: path.clone(),
            content: l.to_string(),
        })?);
    }
    for sub in subdirs(dir) {
        procs_recursive(&sub, out)?;
    }
    Ok(())
}

/// Move a process: write its pid to `dir/cgroup.procs`.
pub(crate) fn write_pid(dir: &Path, pid: i32) -> Result<()> {
    let value = pid.to_string();
    let path = dir.join("cgroup.procs");
    let mut last = None;
    // EINVAL can be transient while the task is mid-exec/exit; runc retries.
    for _ in 0..5 {
        match write_raw(&path, &value) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                last = Some(e);
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                last = Some(e);
                break;
            }
        }
    }
    Err(CgroupError::Write {
        path,
        value,
        source: last.expect("at least one attempt"),
    })
}
