//! Content-addressed blobs: `content/blobs/sha256/<hex>`, verified on the way in.
//! Partial writes live in `content/ingest/<hex>` and are resumed by the next
//! writer of the same digest; a flock on the ingest file keeps two writers of
//! one blob apart.

use super::digest::{Digest, Hasher};
use super::{sync_dir, temp_name, StoreError};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

impl ContentStore {
    /// The store under `root` (`--root`); creates its directories.
    pub fn open(root: &Path) -> Result<ContentStore, StoreError> {
        let blobs = root.join("content/blobs/sha256");
        let ingest = root.join("content/ingest");
        for d in [&blobs, &ingest] {
            std::fs::create_dir_all(d).map_err(StoreError::io("create", d))?;
        }
        Ok(ContentStore { blobs, ingest })
    }

    pub fn contains(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs.join(d.hex())
    }

    /// The whole blob, verified against its digest (manifests and configs are small).
    pub fn read(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let mut data = Vec::new();
        self.open_blob(d)?
            .read_to_end(&mut data)
            .map_err(StoreError::io("read", &self.blob_path(d)))?;
        let got = Digest::sha256(&data);
        if &got != d {
            return Err(StoreError::DigestMismatch {
                expected: d.clone(),
                got,
                size: data.len() as u64,
            });
        }
        Ok(data)
    }

    pub fn open_blob(&self, d: &Digest) -> Result<File, StoreError> {
        let p = self.blob_path(d);
        File::open(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::BlobNotFound(d.clone())
            } else {
                StoreError::io("open", &p)(e)
            }
        })
    }

    /// Size of a stored blob.
    pub fn size(&self, d: &Digest) -> Result<u64, StoreError> {
        let p = self.blob_path(d);
        match std::fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::BlobNotFound(d.clone()))
            }
            Err(e) => Err(StoreError::io("stat", &p)(e)),
        }
    }

    /// Store `data`; a blob that is already there is left alone.
    pub fn put(&self, data: &[u8]) -> Result<Digest, StoreError> {
        let d = Digest::sha256(data);
        if self.contains(&d) {
            return Ok(d);
        }
        let mut t = self.temp_blob()?;
        t.write_all(data)
            .map_err(StoreError::io("write", &t.path.clone()))?;
        t.commit()?;
        Ok(d)
    }

    /// A writer for blob `expected`, resuming a partial ingest of it: write from
    /// `offset()` on, then `commit()`. If the blob is already stored, `offset()`
    /// is its size, writes are discarded and `commit()` does nothing.
    pub fn writer(&self, expected: &Digest, size: Option<u64>) -> Result<BlobWriter, StoreError> {
        let path = self.ingest.join(expected.hex());
        loop {
            if self.contains(expected) {
                let have = self.size(expected)?;
                return Ok(BlobWriter {
                    store: self.clone(),
                    expected: expected.clone(),
                    size,
                    path,
                    file: None,
                    hasher: Hasher::new(),
                    offset: have,
                    written: have,
                });
            }
            let file = super::lock_file(&path, libc::LOCK_EX)?;
            // The previous holder may have committed (renamed) or discarded the
            // file we opened: start again with whatever is at the path now.
            let fm = file.metadata().map_err(StoreError::io("stat", &path))?;
            match std::fs::metadata(&path) {
                Ok(pm) if pm.ino() == fm.ino() && pm.dev() == fm.dev() => {}
                _ => continue,
            }
            let mut have = fm.len();
            if size.is_some_and(|s| have > s) {
                file.set_len(0).map_err(StoreError::io("truncate", &path))?;
                have = 0;
            }
            // Re-hash what is already there so the final digest covers all of it.
            let mut hasher = Hasher::new();
            let mut f = &file;
            let mut buf = vec![0u8; 1 << 20];
            let mut seen = 0u64;
            while seen < have {
                let n = f.read(&mut buf).map_err(StoreError::io("read", &path))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                seen += n as u64;
            }
            if seen != have {
                file.set_len(seen)
                    .map_err(StoreError::io("truncate", &path))?;
                have = seen;
            }
            return Ok(BlobWriter {
                store: self.clone(),
                expected: expected.clone(),
                size,
                path,
                file: Some(file),
                hasher,
                offset: have,
                written: have,
            });
        }
    }

    /// A blob whose digest is learnt while writing it (import, save of a new layer).
    pub fn temp_blob(&self) -> Result<TempBlob, StoreError> {
        let path = self.ingest.join(temp_name("blob"));
        let file = File::create(&path).map_err(StoreError::io("create", &path))?;
        Ok(TempBlob {
            store: self.clone(),
            path,
            file: Some(std::io::BufWriter::with_capacity(1 << 20, file)),
            hasher: Hasher::new(),
            size: 0,
            kicked: 0,
        })
    }

    pub fn delete(&self, d: &Digest) -> Result<(), StoreError> {
        let p = self.blob_path(d);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("remove", &p)(e)),
        }
    }

    pub fn list(&self) -> Result<Vec<Digest>, StoreError> {
        Ok(super::list_digests(&self.blobs)?)
    }

    /// Remove temporaries of dead writers from the ingest directory. Partial
    /// ingests named by digest are kept: they are what a later pull resumes.
    pub fn clean_ingest(&self) {
        super::clean_temps(&self.ingest);
    }

    /// The ingest directory (partial downloads).
    pub fn ingest_dir(&self) -> &Path {
        &self.ingest
    }

    fn install(&self, from: &Path, d: &Digest) -> Result<(), StoreError> {
        crate::sys::fault::crash_point("blob:before-install");
        let to = self.blob_path(d);
        std::fs::rename(from, &to).map_err(StoreError::io("rename", &to))?;
        sync_dir(&self.blobs);
        Ok(())
    }
}

/// A resumable, verified write of one blob (see [`ContentStore::writer`]).
pub struct BlobWriter {
    store: ContentStore,
    expected: Digest,
    size: Option<u64>,
    path: PathBuf,
    file: Option<File>,
    hasher: Hasher,
    offset: u64,
    written: u64,
}

impl BlobWriter {
    /// Bytes already present: the caller resumes from here (e.g. an HTTP Range).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes present so far (offset plus what was written through this writer).
    #[allow(dead_code)] // API for resumable downloads
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Verify size and digest, fsync, and move the blob into place. On a
    /// mismatch the ingest is deleted (it can never become right).
    pub fn commit(self) -> Result<(), StoreError> {
        let Some(file) = self.file else {
            return Ok(());
        };
        let got = self.hasher.finish();
        if let Some(size) = self.size {
            if size != self.written {
                if self.written > size {
                    let _ = std::fs::remove_file(&self.path);
                }
                return Err(StoreError::SizeMismatch {
                    digest: self.expected,
                    expected: size,
                    got: self.written,
                });
            }
        }
        if got != self.expected {
            let _ = std::fs::remove_file(&self.path);
            return Err(StoreError::DigestMismatch {
                expected: self.expected,
                got,
                size: self.written,
            });
        }
        file.sync_all()
            .map_err(StoreError::io("fsync", &self.path))?;
        self.store.install(&self.path, &self.expected)
    }

    /// Throw away the partial ingest (the caller wants a fresh start).
    #[allow(dead_code)] // API for resumable downloads
    pub fn discard(self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Some(f) = self.file.as_mut() else {
            return Ok(buf.len());
        };
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

/// A blob being written whose digest is known only at the end.
pub struct TempBlob {
    store: ContentStore,
    path: PathBuf,
    file: Option<std::io::BufWriter<File>>,
    hasher: Hasher,
    size: u64,
    /// Bytes already handed to writeback (`WRITEBACK_STEP` at a time).
    kicked: u64,
}

/// A large blob's pages are sent to the disk every this many bytes while it
/// is written, so its final fsync overlaps the writing instead of following it.
const WRITEBACK_STEP: u64 = 8 << 20;

impl TempBlob {
    /// fsync and move into place; returns the digest and size.
    pub fn commit(mut self) -> Result<(Digest, u64), StoreError> {
        let d = std::mem::take(&mut self.hasher).finish();
        let path = self.path.clone();
        let file = self
            .file
            .take()
            .expect("not yet committed")
            .into_inner()
            .map_err(|e| StoreError::io("write", &path)(e.into_error()))?;
        if self.store.contains(&d) {
            let _ = std::fs::remove_file(&path);
            return Ok((d, self.size));
        }
        file.sync_all().map_err(StoreError::io("fsync", &path))?;
        self.store.install(&path, &d)?;
        Ok((d, self.size))
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        // Committed blobs were renamed away; anything left is an abandoned temp.
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Write for TempBlob {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let f = self.file.as_mut().expect("not yet committed");
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        if self.size - self.kicked >= WRITEBACK_STEP {
            f.flush()?;
            // Best effort: only a head start for the fsync in `commit`.
            let _ =
                crate::sys::fs::start_writeback(f.get_ref(), self.kicked, self.size - self.kicked);
            self.kicked = self.size;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("berth-content-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn put_read_list_delete() {
        let root = tmp("put");
        let cs = ContentStore::open(&root).unwrap();
        let d = cs.put(b"hello").unwrap();
        assert_eq!(d, Digest::sha256(b"hello"));
        assert!(cs.contains(&d));
        assert_eq!(cs.put(b"hello").unwrap(), d);
        assert_eq!(cs.read(&d).unwrap(), b"hello");
        assert_eq!(cs.list().unwrap(), vec![d.clone()]);
        // A corrupted blob is detected on read.
        std::fs::write(cs.blob_path(&d), b"hellO").unwrap();
        let e = cs.read(&d).unwrap_err().to_string();
        assert!(
            e.contains("failed verification") && e.contains(d.as_str()),
            "{e}"
        );
        cs.delete(&d).unwrap();
        assert!(!cs.contains(&d));
        assert!(matches!(cs.read(&d), Err(StoreError::BlobNotFound(_))));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn resumable_writer() {
        let root = tmp("resume");
        let cs = ContentStore::open(&root).unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let d = Digest::sha256(&data);
        let mut w = cs.writer(&d, Some(data.len() as u64)).unwrap();
        assert_eq!(w.offset(), 0);
        w.write_all(&data[..40_000]).unwrap();
        drop(w); // interrupted
        let mut w = cs.writer(&d, Some(data.len() as u64)).unwrap();
        assert_eq!(w.offset(), 40_000);
        w.write_all(&data[40_000..]).unwrap();
        w.commit().unwrap();
        assert_eq!(cs.read(&d).unwrap(), data);
        // Already stored: offset is the size and commit is a no-op.
        let w = cs.writer(&d, None).unwrap();
        assert_eq!(w.offset(), data.len() as u64);
        w.commit().unwrap();
        // A wrong digest is refused and the ingest removed.
        let bad = Digest::sha256(b"other");
        let mut w = cs.writer(&bad, None).unwrap();
        w.write_all(b"not other").unwrap();
        let e = w.commit().unwrap_err().to_string();
        assert!(e.contains(bad.as_str()), "{e}");
        assert!(!cs.ingest_dir().join(bad.hex()).exists());
        // Size mismatch is reported.
        let mut w = cs.writer(&bad, Some(3)).unwrap();
        w.write_all(b"other").unwrap();
        assert!(matches!(w.commit(), Err(StoreError::SizeMismatch { .. })));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn temp_blob() {
        let root = tmp("temp");
        let cs = ContentStore::open(&root).unwrap();
        let mut t = cs.temp_blob().unwrap();
        t.write_all(b"abc").unwrap();
        let (d, n) = t.commit().unwrap();
        assert_eq!((d.clone(), n), (Digest::sha256(b"abc"), 3));
        assert!(cs.contains(&d));
        let t = cs.temp_blob().unwrap();
        drop(t);
        assert_eq!(std::fs::read_dir(cs.ingest_dir()).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(&root);
    }
}
