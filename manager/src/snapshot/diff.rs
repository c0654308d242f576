//! A container's changes: its overlay upper directory read as a list of
//! changes (`berth diff`) and written as an OCI layer (`berth commit`).
//! overlayfs marks a removed file with a 0:0 character device and a directory
//! that hides the lower one with `trusted.overlay.opaque=y`; an OCI layer says
//! the same with `.wh.NAME` and `.wh..wh..opq` entries. The layer is a plain
//! tar (its blob digest is its diff_id, nothing to compress or hash twice),
//! as the build's layers (`build/layer.rs` on the build branch) are, so that
//! one writer can later serve both.

use crate::store::{ContentStore, Digest, StoreError};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("reading the container's changes at {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("writing the layer: {0}")]
    Write(io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// docker's change kinds: `C`hanged, `A`dded, `D`eleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Changed,
    Added,
    Deleted,
}

impl Kind {
    pub fn letter(self) -> char {
        match self {
            Kind::Changed => 'C',
            Kind::Added => 'A',
            Kind::Deleted => 'D',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: Kind,
    /// Absolute in the container (`/etc/passwd`).
    pub path: String,
}

/// Whether an overlay upper entry is a whiteout (a 0:0 character device).
pub(crate) fn is_whiteout(md: &std::fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

/// Whether an overlay upper directory is opaque (`trusted.overlay.opaque=y`).
pub(crate) fn is_opaque(path: &Path) -> bool {
    let key = c"trusted.overlay.opaque";
    matches!(crate::sys::fs::getxattr(path, key), Ok(Some(v)) if v == b"y")
}

/// A mount point the runtime made in the upper layer at start (an empty
/// `/dev`, `/proc`, `/sys`; empty `/etc/hosts`, `/etc/hostname`,
/// `/etc/resolv.conf` that berth binds over): docker keeps these in an init
/// layer under the container's, so they are neither changes nor committed.
fn is_stub(rel: &Path, md: &std::fs::Metadata, path: &Path) -> bool {
    let Some(r) = rel.to_str() else {
        return false;
    };
    match r {
        "dev" | "proc" | "sys" => {
            md.is_dir() && std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
        }
        "etc/hosts" | "etc/hostname" | "etc/resolv.conf" => md.is_file() && md.len() == 0,
        _ => false,
    }
}

fn read_err(path: &Path) -> impl FnOnce(io::Error) -> DiffError + '_ {
    move |source| DiffError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// Entries of `dir`, sorted by name (the order docker prints and archives).
fn entries(dir: &Path) -> Result<Vec<(PathBuf, std::fs::Metadata)>, DiffError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(read_err(dir))? {
        let e = e.map_err(read_err(dir))?;
        let p = e.path();
        let md = std::fs::symlink_metadata(&p).map_err(read_err(&p))?;
        out.push((p, md));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The changes in `upper` against the image's `lowers` (a path that exists in
/// a lower directory is changed, else added). Depth first, parents first.
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<Change>, DiffError> {
    let mut out = Vec::new();
    walk_changes(upper, upper, lowers, false, &mut out)?;
    Ok(out)
}

fn walk_changes(
    upper: &Path,
    dir: &Path,
    lowers: &[PathBuf],
    under_new: bool,
    out: &mut Vec<Change>,
) -> Result<(), DiffError> {
    for (p, md) in entries(dir)? {
        let rel = p.strip_prefix(upper).unwrap_or(&p);
        let path = format!("/{}", rel.display());
        if is_whiteout(&md) {
            out.push(Change {
                kind: Kind::Deleted,
                path,
            });
            continue;
        }
        if is_stub(rel, &md, &p) {
            continue;
        }
        let in_lower = !under_new
            && lowers
                .iter()
                .any(|l| l.join(rel).symlink_metadata().is_ok());
        let at = out.len();
        out.push(Change {
            kind: if in_lower { Kind::Changed } else { Kind::Added },
            path,
        });
        if md.is_dir() {
            walk_changes(upper, &p, lowers, under_new || !in_lower, out)?;
            // A directory copied up only for the stubs in it is no change.
            if in_lower && out.len() == at + 1 && !is_opaque(&p) {
                let changed = entries(&p)?
                    .iter()
                    .any(|(c, cmd)| !is_stub(c.strip_prefix(upper).unwrap_or(c), cmd, c));
                if !changed {
                    out.truncate(at);
                }
            }
        }
    }
    Ok(())
}

/// What a layer entry carries of a file's metadata.
fn header(ty: tar::EntryType, md: &std::fs::Metadata, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(ty);
    h.set_mode(md.mode() & 0o7777);
    h.set_uid(md.uid() as u64);
    h.set_gid(md.gid() as u64);
    h.set_mtime(md.mtime().max(0) as u64);
    h.set_size(size);
    h
}

/// The read size for a file's data in a layer.
const COPY_BUF: usize = 1 << 20;

/// Write `upper` as an uncompressed OCI layer into the content store; returns
/// its digest (= its diff_id) and size.
pub fn write_layer(content: &ContentStore, upper: &Path) -> Result<(Digest, u64), DiffError> {
    let mut tar = tar::Builder::new(content.temp_blob()?);
    tar.follow_symlinks(false);
    // Hard links inside the layer stay hard links (by inode).
    let mut links = std::collections::HashMap::new();
    append_dir(&mut tar, upper, upper, &mut links)?;
    let blob = tar.into_inner().map_err(DiffError::Write)?;
    Ok(blob.commit()?)
}

fn append_dir<W: io::Write>(
    tar: &mut tar::Builder<W>,
    upper: &Path,
    dir: &Path,
    links: &mut std::collections::HashMap<(u64, u64), PathBuf>,
) -> Result<(), DiffError> {
    for (p, md) in entries(dir)? {
        let rel = p.strip_prefix(upper).unwrap_or(&p).to_path_buf();
        let w = DiffError::Write;
        let ft = md.file_type();
        if is_stub(&rel, &md, &p) {
            continue;
        }
        if is_whiteout(&md) {
            let name = rel
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let wh = rel.with_file_name(format!(".wh.{name}"));
            let mut h = header(tar::EntryType::Regular, &md, 0);
            h.set_mode(0o644);
            tar.append_data(&mut h, wh, io::empty()).map_err(w)?;
        } else if ft.is_dir() {
            let mut h = header(tar::EntryType::Directory, &md, 0);
            tar.append_data(&mut h, &rel, io::empty()).map_err(w)?;
            if is_opaque(&p) {
                let mut h = header(tar::EntryType::Regular, &md, 0);
                h.set_mode(0o644);
                tar.append_data(&mut h, rel.join(".wh..wh..opq"), io::empty())
                    .map_err(w)?;
            }
            append_dir(tar, upper, &p, links)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&p).map_err(read_err(&p))?;
            let mut h = header(tar::EntryType::Symlink, &md, 0);
            tar.append_link(&mut h, &rel, target).map_err(w)?;
        } else if ft.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = links.get(&(md.dev(), md.ino())) {
                    let mut h = header(tar::EntryType::Link, &md, 0);
                    tar.append_link(&mut h, &rel, first).map_err(w)?;
                    continue;
                }
                links.insert((md.dev(), md.ino()), rel.clone());
            }
            let f = std::fs::File::open(&p).map_err(read_err(&p))?;
            let mut h = header(tar::EntryType::Regular, &md, md.len());
            // io::copy moves a BufReader's own buffer: 1 MiB reads and
            // writes (that pass the blob's BufWriter without a copy) instead
            // of 8 KiB ones, for the large files a commit is mostly made of.
            let f = io::BufReader::with_capacity(COPY_BUF.min(md.len().max(1) as usize), f);
            tar.append_data(&mut h, &rel, f).map_err(w)?;
        } else {
            let ty = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else if ft.is_fifo() {
                tar::EntryType::Fifo
            } else {
                // Sockets are not archived (docker skips them too).
                continue;
            };
            let mut h = header(ty, &md, 0);
            h.set_device_major(libc::major(md.rdev())).map_err(w)?;
            h.set_device_minor(libc::minor(md.rdev())).map_err(w)?;
            tar.append_data(&mut h, &rel, io::empty()).map_err(w)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_and_layer_from_an_upper_dir() {
        let base = std::env::temp_dir().join(format!("berth-diff-{}", std::process::id()));
        let (upper, lower) = (base.join("upper"), base.join("lower"));
        std::fs::create_dir_all(lower.join("etc")).unwrap();
        std::fs::write(lower.join("etc/passwd"), "root").unwrap();
        std::fs::write(lower.join("gone"), "x").unwrap();
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/passwd"), "root\nme").unwrap();
        std::fs::create_dir_all(upper.join("new/sub")).unwrap();
        // The runtime's mount points: no changes.
        std::fs::create_dir_all(upper.join("proc")).unwrap();
        std::fs::write(upper.join("etc/hosts"), "").unwrap();
        std::fs::write(upper.join("new/sub/f"), "hello").unwrap();
        // overlay's whiteout: a 0:0 character device.
        nix::sys::stat::mknod(
            &upper.join("gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            0,
        )
        .unwrap();
        let got: Vec<String> = changes(&upper, std::slice::from_ref(&lower))
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path))
            .collect();
        assert_eq!(
            got,
            [
                "C /etc",
                "C /etc/passwd",
                "D /gone",
                "A /new",
                "A /new/sub",
                "A /new/sub/f"
            ]
        );
        let ctx_root = base.join("root");
        let content = ContentStore::open(&ctx_root).unwrap();
        let (d, size) = write_layer(&content, &upper).unwrap();
        assert!(size > 0);
        let mut ar = tar::Archive::new(content.open_blob(&d).unwrap());
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "etc",
                "etc/passwd",
                ".wh.gone",
                "new",
                "new/sub",
                "new/sub/f"
            ]
        );
        let _ = std::fs::remove_dir_all(&base);
    }
}
