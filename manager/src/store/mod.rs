//! The persistent image store under `--root`: content-addressed blobs
//! (`content/`), image names (`images.json`) and the store lock.
//!
//! Every write goes to a temporary file and is renamed into place, so a kill -9
//! at any point leaves either the old or the new state; leftover temporaries are
//! removed by the next writer.

pub mod content;
pub mod digest;
pub mod images;
pub mod lock;

pub use content::ContentStore;
pub use digest::{Digest, Hasher};
pub use images::{ImageRecord, ImageStore};
pub use lock::{lock_file, StoreLock};

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Digest(#[from] digest::DigestError),
    #[error("content {expected} failed verification: got {got} ({size} bytes)")]
    DigestMismatch {
        expected: Digest,
        got: Digest,
        size: u64,
    },
    #[error("content {digest}: expected {expected} bytes, got {got}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        got: u64,
    },
    #[error("blob {0} is not in the content store")]
    BlobNotFound(Digest),
    #[error("No such image: {0}")]
    ImageNotFound(String),
    #[error("image id prefix {0:?} is ambiguous: it matches several images")]
    Ambiguous(String),
    #[error("invalid reference format: {0}")]
    Reference(#[from] crate::image::reference::ReferenceError),
    #[error("{0}")]
    Conflict(String),
    #[error("{path} is corrupt: {why}")]
    Corrupt { path: PathBuf, why: String },
}

/// An I/O step that failed, and on which path; each store's error type has an
/// `Io` variant made from it.
#[derive(Debug)]
pub struct IoFailure {
    pub op: &'static str,
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl IoFailure {
    pub fn at(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> IoFailure {
        let path = path.to_path_buf();
        move |source| IoFailure { op, path, source }
    }
}

impl From<IoFailure> for StoreError {
    fn from(f: IoFailure) -> StoreError {
        StoreError::Io {
            op: f.op,
            path: f.path,
            source: f.source,
        }
    }
}

impl StoreError {
    pub fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.to_path_buf();
        move |source| StoreError::Io { op, path, source }
    }
}

/// A unique temporary name next to `path`'s directory: `.tmp-<pid>-<n>-<name>`.
/// The prefix lets cleaners recognise it.
pub fn temp_name(name: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{TEMP_PREFIX}{}-{n}-{name}", std::process::id())
}

pub const TEMP_PREFIX: &str = ".tmp-";

/// The pid that created a temporary name (to skip ones whose writer is alive).
pub fn temp_owner(name: &str) -> Option<i32> {
    name.strip_prefix(TEMP_PREFIX)?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// Whether the process that made temp `name` is gone (then the temp is garbage).
pub fn temp_is_stale(name: &str) -> bool {
    match temp_owner(name) {
        Some(pid) if pid == std::process::id() as i32 => false,
        Some(pid) => crate::sys::process::pid_gone(pid),
        None => true,
    }
}

/// Write `data` to `path` atomically: temp file, fsync, rename, fsync the
/// directory (which is created if missing).
pub fn atomic_write(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(StoreError::io("create", dir))?;
    Ok(replace_file(path, data, true)?)
}

/// Replace `path` (in an existing directory) with `data` through a temporary
/// next to it and a rename: readers see the old or the new content, never a
/// torn one. `durable` also fsyncs the data and the directory, so the new
/// content survives a power failure.
pub fn replace_file(path: &Path, data: &[u8], durable: bool) -> Result<(), IoFailure> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(temp_name(&name));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(IoFailure::at("create", &tmp))?;
        f.write_all(data).map_err(IoFailure::at("write", &tmp))?;
        if durable {
            f.sync_all().map_err(IoFailure::at("fsync", &tmp))?;
        }
        std::fs::rename(&tmp, path).map_err(IoFailure::at("rename", path))?;
        if durable {
            sync_dir(dir);
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// The digests that name entries of `dir` (blobs, snapshots), sorted; other
/// entries are skipped.
pub fn list_digests(dir: &Path) -> Result<Vec<Digest>, IoFailure> {
    let rd = std::fs::read_dir(dir).map_err(IoFailure::at("read", dir))?;
    let mut out: Vec<Digest> = rd
        .flatten()
        .filter_map(|e| Digest::from_hex(&e.file_name().to_string_lossy()).ok())
        .collect();
    out.sort();
    Ok(out)
}

/// fsync a directory so a rename in it is durable (best effort).
pub fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Remove stale temporaries (of dead writers) directly inside `dir`.
pub fn clean_temps(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        remove_if_stale_temp(&e, &e.file_name().to_string_lossy());
    }
}

/// Remove entry `e` (named `name`, which the caller has already built) if it
/// is a stale temporary (of a dead writer); whether it was a temporary at all
/// (stale or not), for listings that skip them.
pub fn remove_if_stale_temp(e: &std::fs::DirEntry, name: &str) -> bool {
    if !name.starts_with(TEMP_PREFIX) {
        return false;
    }
    if temp_is_stale(name) {
        let p = e.path();
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            let _ = remove_tree(&p);
        } else {
            let _ = std::fs::remove_file(&p);
        }
    }
    true
}

/// `rm -rf` that also copes with directories made read-only by an extracted layer.
pub fn remove_tree(p: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Now as RFC 3339 UTC with nanoseconds (Go's RFC3339Nano, as docker prints).
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

/// `secs` since the epoch as RFC 3339 UTC; nanos are printed when non-zero.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if nanos == 0 {
        format!("{base}Z")
    } else {
        let frac = format!("{nanos:09}");
        format!("{base}.{}Z", frac.trim_end_matches('0'))
    }
}

/// Parse an RFC 3339 timestamp into seconds since the epoch (fraction dropped).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        rest = &r[n..];
    }
    let off = if rest == "Z" || rest == "z" {
        0
    } else if rest.len() == 6 {
        let sign = if rest.starts_with('-') { -1 } else { 1 };
        sign * (rest[1..3].parse::<i64>().ok()? * 3600 + rest[4..6].parse::<i64>().ok()? * 60)
    } else {
        return None;
    };
    Some(days_from_civil(y, mo as u32, d as u32) * 86400 + h * 3600 + mi * 60 + se - off)
}

// Howard Hinnant's civil-date algorithms.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000, 5_000), "2023-11-14T22:13:20.000005Z");
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.000005Z"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20+01:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951782400));
        assert!(now_rfc3339().ends_with('Z'));
    }

    #[test]
    fn temp_names() {
        let n = temp_name("x");
        assert!(n.starts_with(TEMP_PREFIX));
        assert_eq!(temp_owner(&n), Some(std::process::id() as i32));
        assert!(!temp_is_stale(&n));
        assert!(temp_is_stale(".tmp-bogus"));
    }
}
