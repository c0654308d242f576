//! Hardened layer extraction.
//!
//! The tar crate only parses; every write is ours and is made relative to a
//! directory fd, one path component at a time with O_NOFOLLOW, so nothing is
//! ever resolved through a symlink and nothing lands outside the layer
//! directory: absolute names, `..` components, writes through symlinks and
//! hard links to outside targets are refused with an error naming the entry.
//! Whiteouts become overlayfs whiteouts (char 0:0) and opaque markers the
//! `trusted.overlay.opaque` xattr, so the directory is a ready overlay lowerdir.
//!
//! One pass: blob -> sha256 (blob digest) -> decompress -> sha256 (diff id) ->
//! tar entries -> files.

use super::SnapshotError;
use crate::image::media::Compression;
use crate::store::{Digest, Hasher};
use crate::sys::fs as sys;
use nix::fcntl::OFlag;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// What extraction learnt about a layer.
#[derive(Debug, Clone)]
pub struct LayerStats {
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// Bytes of regular-file content.
    pub size: u64,
}

/// A reader that hashes what passes through into a borrowed hasher.
pub struct HashRef<'a, R> {
    pub inner: R,
    pub hasher: &'a mut Hasher,
    pub count: &'a mut u64,
}

impl<R: Read> Read for HashRef<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        *self.count += n as u64;
        Ok(n)
    }
}

/// A decompressing reader over `r`, by the stream's magic number.
pub fn decompressor<'a, R: BufRead + 'a>(mut r: R) -> io::Result<Box<dyn Read + 'a>> {
    let head = r.fill_buf()?;
    Ok(match Compression::sniff(head) {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        Compression::None => Box::new(r),
    })
}

const BUF: usize = 1 << 20;

/// Extract the layer blob `file` into the empty directory `dest`, checking the
/// blob's digest (`layer`) and, when given, the uncompressed digest `diff_id`.
pub fn extract_layer(
    file: &File,
    layer: &Digest,
    diff_id: Option<&Digest>,
    dest: &Path,
) -> Result<LayerStats, SnapshotError> {
    extract_inner(file, layer, diff_id, dest).map_err(|e| match e {
        // A damaged blob usually breaks decompression or tar parsing before
        // its digest can be compared: say it is corrupt rather than why.
        SnapshotError::LayerRead { .. } | SnapshotError::Extract { .. } => match rehash(file) {
            Ok(got) if &got != layer => SnapshotError::BlobCorrupt {
                layer: layer.clone(),
                got,
            },
            _ => e,
        },
        e => e,
    })
}

fn rehash(file: &File) -> io::Result<Digest> {
    use std::os::unix::fs::FileExt;
    let mut h = Hasher::new();
    let mut buf = vec![0u8; BUF];
    let mut off = 0u64;
    loop {
        let n = file.read_at(&mut buf, off)?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
        off += n as u64;
    }
}

fn extract_inner(
    file: &File,
    layer: &Digest,
    diff_id: Option<&Digest>,
    dest: &Path,
) -> Result<LayerStats, SnapshotError> {
    let mut chash = Hasher::new();
    let mut ccount = 0u64;
    let mut dhash = Hasher::new();
    let mut dcount = 0u64;
    let read_err = |source: io::Error| SnapshotError::LayerRead {
        layer: layer.clone(),
        source,
    };
    let root = sys::open_dir_path(dest).map_err(|source| SnapshotError::Io {
        op: "open",
        path: dest.to_path_buf(),
        source,
    })?;
    let mut ex = Extractor {
        root,
        cache: None,
        layer: layer.clone(),
        dirs: Vec::new(),
        buf: vec![0u8; BUF],
        size: 0,
        is_root: crate::sys::is_root(),
    };
    {
        let compressed = BufReader::with_capacity(
            BUF,
            HashRef {
                inner: file,
                hasher: &mut chash,
                count: &mut ccount,
            },
        );
        let plain = decompressor(compressed).map_err(read_err)?;
        let hashed = BufReader::with_capacity(
            256 << 10,
            HashRef {
                inner: plain,
                hasher: &mut dhash,
                count: &mut dcount,
            },
        );
        let mut ar = tar::Archive::new(hashed);
        for (i, entry) in ar.entries().map_err(read_err)?.enumerate() {
            let entry = entry.map_err(read_err)?;
            ex.entry(entry)?;
            if i == 8 {
                crate::sys::fault::crash_point("layer:mid-extract");
            }
        }
        // Whatever follows the end-of-archive blocks is part of the diff id.
        let mut rest = ar.into_inner();
        io::copy(&mut rest, &mut io::sink()).map_err(read_err)?;
    }
    // Bytes after the compressed stream's end (padding) still count for the blob digest.
    let mut tail = HashRef {
        inner: file,
        hasher: &mut chash,
        count: &mut ccount,
    };
    io::copy(&mut tail, &mut io::sink()).map_err(read_err)?;
    ex.finish_dirs()?;
    let blob = chash.finish();
    if &blob != layer {
        return Err(SnapshotError::BlobCorrupt {
            layer: layer.clone(),
            got: blob,
        });
    }
    let got = dhash.finish();
    if let Some(want) = diff_id {
        if &got != want {
            return Err(SnapshotError::DiffIdMismatch {
                layer: layer.clone(),
                expected: want.clone(),
                got,
            });
        }
    }
    Ok(LayerStats {
        diff_id: got,
        size: ex.size,
    })
}

/// Split a tar name into components: absolute names and `..` are refused,
/// `.` and empty components dropped.
pub fn components(raw: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    if raw.first() == Some(&b'/') {
        return Err("absolute path");
    }
    let mut out = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("'..' path component"),
            c => out.push(c),
        }
    }
    Ok(out)
}

struct Extractor {
    root: OwnedFd,
    /// The last parent directory opened (entries come grouped by directory).
    cache: Option<(Vec<u8>, OwnedFd)>,
    layer: Digest,
    /// Directories whose mtime is set at the end (creating children changes it).
    dirs: Vec<(Vec<u8>, i64)>,
    buf: Vec<u8>,
    size: u64,
    is_root: bool,
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

impl Extractor {
    fn refuse(&self, entry: &[u8], why: impl Into<String>) -> SnapshotError {
        SnapshotError::Unsafe {
            layer: self.layer.clone(),
            entry: String::from_utf8_lossy(entry).into_owned(),
            why: why.into(),
        }
    }

    fn fail(&self, entry: &[u8], source: io::Error) -> SnapshotError {
        SnapshotError::Extract {
            layer: self.layer.clone(),
            entry: String::from_utf8_lossy(entry).into_owned(),
            source,
        }
    }

    /// The directory holding the last component of `comps` (a dup'd O_PATH fd),
    /// creating missing directories when `create`. Never follows a symlink.
    fn parent(
        &mut self,
        entry: &[u8],
        comps: &[&[u8]],
        create: bool,
    ) -> Result<OwnedFd, SnapshotError> {
        let dirs = &comps[..comps.len().saturating_sub(1)];
        let key = dirs.join(&b'/');
        if let Some((k, fd)) = &self.cache {
            if *k == key {
                return fd.try_clone().map_err(|e| self.fail(entry, e));
            }
        }
        let mut cur = self.root.try_clone().map_err(|e| self.fail(entry, e))?;
        for (i, c) in dirs.iter().enumerate() {
            let next = match sys::open_dir_nofollow(cur.as_fd(), *c) {
                Ok(fd) => fd,
                Err(e) if errno(&e) == libc::ENOENT && create => {
                    match sys::mkdirat(cur.as_fd(), *c, 0o755) {
                        Ok(()) => {}
                        Err(e) if errno(&e) == libc::EEXIST => {}
                        Err(e) => return Err(self.fail(entry, e)),
                    }
                    sys::open_dir_nofollow(cur.as_fd(), *c).map_err(|e| self.fail(entry, e))?
                }
                Err(e) if matches!(errno(&e), libc::ELOOP | libc::ENOTDIR) => {
                    let so_far = String::from_utf8_lossy(&dirs[..=i].join(&b'/')).into_owned();
                    let is_link = sys::lstatat(cur.as_fd(), *c)
                        .map(|st| sys::is_symlink(&st))
                        .unwrap_or(false);
                    return Err(if is_link {
                        self.refuse(
                            entry,
                            format!("its path goes through the symlink {so_far:?}"),
                        )
                    } else {
                        self.refuse(entry, format!("{so_far:?} is not a directory"))
                    });
                }
                Err(e) => return Err(self.fail(entry, e)),
            };
            cur = next;
        }
        let ret = cur.try_clone().map_err(|e| self.fail(entry, e))?;
        self.cache = Some((key, cur));
        Ok(ret)
    }

    /// Make room for a new entry `name` in `dir`: an existing directory is
    /// kept when the new entry is a directory, anything else is removed.
    /// Returns whether a directory was kept.
    fn clear(
        &mut self,
        entry: &[u8],
        dir: BorrowedFd<'_>,
        name: &[u8],
        want_dir: bool,
    ) -> Result<bool, SnapshotError> {
        let st = match sys::lstatat(dir, name) {
            Ok(st) => st,
            Err(e) if errno(&e) == libc::ENOENT => return Ok(false),
            Err(e) => return Err(self.fail(entry, e)),
        };
        let is_dir = sys::is_dir(&st);
        if is_dir && want_dir {
            return Ok(true);
        }
        if is_dir {
            // std's remove_dir_all does not follow symlinks inside the tree.
            let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
            p.extend_from_slice(name);
            use std::os::unix::ffi::OsStrExt;
            std::fs::remove_dir_all(std::ffi::OsStr::from_bytes(&p))
                .map_err(|e| self.fail(entry, e))?;
            self.cache = None;
        } else {
            sys::unlinkat(dir, name).map_err(|e| self.fail(entry, e))?;
        }
        Ok(false)
    }

    fn entry<R: Read>(&mut self, mut e: tar::Entry<'_, R>) -> Result<(), SnapshotError> {
        let raw = e.path_bytes().into_owned();
        let comps = components(&raw).map_err(|why| self.refuse(&raw, why))?;
        let hdr = e.header();
        let kind = hdr.entry_type();
        let mode = hdr.mode().unwrap_or(0o644) & 0o7777;
        let mut uid = hdr.uid().unwrap_or(0) as u32;
        let mut gid = hdr.gid().unwrap_or(0) as u32;
        let mtime = hdr.mtime().unwrap_or(0) as i64;
        let link = e.link_name_bytes().map(|l| l.into_owned());
        let dev = (
            hdr.device_major().ok().flatten().unwrap_or(0),
            hdr.device_minor().ok().flatten().unwrap_or(0),
        );
        let mut xattrs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        if let Ok(Some(pax)) = e.pax_extensions() {
            for ext in pax.flatten() {
                let k = ext.key_bytes();
                if let Some(name) = k.strip_prefix(b"SCHILY.xattr.") {
                    // Overlay's own attributes come only from our whiteout conversion.
                    if !name.starts_with(b"trusted.overlay.") {
                        xattrs.push((name.to_vec(), ext.value_bytes().to_vec()));
                    }
                } else if k == b"uid" {
                    uid = ext.value().ok().and_then(|v| v.parse().ok()).unwrap_or(uid);
                } else if k == b"gid" {
                    gid = ext.value().ok().and_then(|v| v.parse().ok()).unwrap_or(gid);
                }
            }
        }
        use tar::EntryType as T;
        if comps.is_empty() {
            // The layer root itself ("./"): only its metadata applies.
            if kind == T::Directory {
                let root = self.root.as_fd();
                self.meta(&raw, root, b".", uid, gid, Some(mode), &xattrs, true)?;
                self.dirs.push((Vec::new(), mtime));
            }
            return Ok(());
        }
        let name = *comps.last().expect("non-empty");
        // Whiteouts.
        if let Some(target) = name.strip_prefix(b".wh.") {
            let dir = self.parent(&raw, &comps, true)?;
            if target == b".wh..opq" {
                sys::setxattr_at(dir.as_fd(), b"", b"trusted.overlay.opaque", b"y")
                    .map_err(|e| self.fail(&raw, e))?;
            } else if target.starts_with(b".wh.") {
                // aufs metadata (.wh..wh.plnk etc.): not part of the filesystem.
            } else if target.is_empty() {
                return Err(self.refuse(&raw, "empty whiteout name"));
            } else {
                self.clear(&raw, dir.as_fd(), target, false)?;
                sys::mknodat(dir.as_fd(), target, libc::S_IFCHR, 0)
                    .map_err(|e| self.fail(&raw, e))?;
            }
            return Ok(());
        }
        match kind {
            T::Directory => {
                let dir = self.parent(&raw, &comps, true)?;
                let d = dir.as_fd();
                if !self.clear(&raw, d, name, true)? {
                    sys::mkdirat(d, name, 0o700).map_err(|e| self.fail(&raw, e))?;
                }
                self.meta(&raw, d, name, uid, gid, Some(mode), &xattrs, false)?;
                self.dirs.push((comps.join(&b'/'), mtime));
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                let dir = self.parent(&raw, &comps, true)?;
                let d = dir.as_fd();
                self.clear(&raw, d, name, false)?;
                let fd = sys::openat(
                    d,
                    name,
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW,
                    0o600,
                )
                .map_err(|err| self.fail(&raw, err))?;
                let mut f = File::from(fd);
                loop {
                    let n = match e.read(&mut self.buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                        Err(err) => {
                            return Err(SnapshotError::LayerRead {
                                layer: self.layer.clone(),
                                source: err,
                            })
                        }
                    };
                    f.write_all(&self.buf[..n])
                        .map_err(|err| self.fail(&raw, err))?;
                    self.size += n as u64;
                }
                let fd = OwnedFd::from(f);
                // chown before chmod: chown clears set-id bits.
                sys::fchown(&fd, uid, gid).map_err(|err| self.fail(&raw, err))?;
                sys::fchmod(&fd, mode).map_err(|err| self.fail(&raw, err))?;
                for (k, v) in &xattrs {
                    sys::fsetxattr(&fd, k, v).map_err(|err| self.fail(&raw, err))?;
                }
                sys::set_mtime(&fd, mtime).map_err(|err| self.fail(&raw, err))?;
            }
            T::Symlink => {
                let target = link.unwrap_or_default();
                let dir = self.parent(&raw, &comps, true)?;
                let d = dir.as_fd();
                self.clear(&raw, d, name, false)?;
                // The target is stored, never followed: any value is safe.
                sys::symlinkat(target.as_slice(), d, name).map_err(|err| self.fail(&raw, err))?;
                sys::fchownat(d, name, uid, gid).map_err(|err| self.fail(&raw, err))?;
                sys::set_mtime_at(d, name, mtime).map_err(|err| self.fail(&raw, err))?;
            }
            T::Link => {
                let target = link.unwrap_or_default();
                let tcomps = components(&target).map_err(|why| {
                    self.refuse(
                        &raw,
                        format!(
                            "hard link target {:?}: {why}",
                            String::from_utf8_lossy(&target)
                        ),
                    )
                })?;
                if tcomps.is_empty() {
                    return Err(self.refuse(&raw, "hard link to the layer root"));
                }
                let tdir = self.parent(&raw, &tcomps, false).map_err(|err| match err {
                    SnapshotError::Extract { source, .. } => self.refuse(
                        &raw,
                        format!(
                            "hard link target {:?}: {source}",
                            String::from_utf8_lossy(&target)
                        ),
                    ),
                    other => other,
                })?;
                let tname = *tcomps.last().expect("non-empty");
                let dir = self.parent(&raw, &comps, true)?;
                let d = dir.as_fd();
                if tcomps == comps {
                    return Ok(());
                }
                self.clear(&raw, d, name, false)?;
                sys::linkat(tdir.as_fd(), tname, d, name).map_err(|err| {
                    if errno(&err) == libc::ENOENT {
                        self.refuse(
                            &raw,
                            format!(
                                "hard link target {:?} is not in this layer",
                                String::from_utf8_lossy(&target)
                            ),
                        )
                    } else {
                        self.fail(&raw, err)
                    }
                })?;
            }
            T::Char | T::Block | T::Fifo => {
                let fmt = match kind {
                    T::Char => libc::S_IFCHR,
                    T::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                if fmt != libc::S_IFIFO && !self.is_root {
                    // Device nodes need CAP_MKNOD; unprivileged unpacks skip them.
                    return Ok(());
                }
                let dir = self.parent(&raw, &comps, true)?;
                let d = dir.as_fd();
                self.clear(&raw, d, name, false)?;
                let rdev = sys::makedev(dev.0, dev.1);
                sys::mknodat(d, name, fmt | 0o600, rdev).map_err(|err| self.fail(&raw, err))?;
                self.meta(&raw, d, name, uid, gid, Some(mode), &xattrs, false)?;
                sys::set_mtime_at(d, name, mtime).map_err(|err| self.fail(&raw, err))?;
            }
            // pax/GNU headers are folded into entries by the tar crate; other
            // kinds carry nothing for the filesystem.
            _ => {}
        }
        Ok(())
    }

    /// Owner, mode and xattrs of a non-symlink `name` in `dir`.
    #[allow(clippy::too_many_arguments)]
    fn meta(
        &self,
        entry: &[u8],
        dir: BorrowedFd<'_>,
        name: &[u8],
        uid: u32,
        gid: u32,
        mode: Option<u32>,
        xattrs: &[(Vec<u8>, Vec<u8>)],
        is_root: bool,
    ) -> Result<(), SnapshotError> {
        sys::fchownat(dir, name, uid, gid).map_err(|e| self.fail(entry, e))?;
        if let Some(m) = mode {
            sys::fchmodat(dir, name, m).map_err(|e| self.fail(entry, e))?;
        }
        let xname: &[u8] = if is_root { b"" } else { name };
        for (k, v) in xattrs {
            sys::setxattr_at(dir, xname, k, v).map_err(|e| self.fail(entry, e))?;
        }
        Ok(())
    }

    fn finish_dirs(&mut self) -> Result<(), SnapshotError> {
        let dirs = std::mem::take(&mut self.dirs);
        for (path, mtime) in dirs.iter().rev() {
            if path.is_empty() {
                sys::set_mtime_at(self.root.as_fd(), ".", *mtime)
                    .map_err(|e| self.fail(b".", e))?;
                continue;
            }
            let comps = components(path).map_err(|why| self.refuse(path, why))?;
            // A directory removed by a later entry of the layer is simply gone.
            let Ok(dir) = self.parent(path, &comps, false) else {
                continue;
            };
            let _ = sys::set_mtime_at(dir.as_fd(), comps[comps.len() - 1], *mtime);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_refuse_escapes() {
        assert_eq!(components(b"./a/b/").unwrap(), vec![&b"a"[..], b"b"]);
        assert!(components(b"./").unwrap().is_empty());
        assert!(components(b"/etc/passwd").is_err());
        assert!(components(b"a/../../x").is_err());
        assert!(components(b"..").is_err());
    }
}
