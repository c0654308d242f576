//! Copying directory trees as tar streams, confined to a root.
//!
//! A `Scope` is a directory fd plus openat2 resolve flags: for a container's root
//! (`RESOLVE_IN_ROOT`) every path, symlinks included, resolves inside it, so nothing is
//! ever read or written outside the container; the host scope resolves normally. Only
//! the named path and the parents of extracted entries are resolved through the scope;
//! below that, trees are walked one component at a time with `O_NOFOLLOW`, so a
//! symlink inside a copied tree is copied as a symlink, never followed.
//!
//! Hand-written on top of the `tar` crate's header handling because no crate extracts
//! relative to a dirfd with openat2 confinement.

use crate::sys::fs::{self as sys, Stat};
use nix::fcntl::{OFlag, ResolveFlag};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// Where paths are resolved: a root directory fd and how to resolve below it.
pub struct Scope {
    root: OwnedFd,
    resolve: ResolveFlag,
}

impl Scope {
    /// Paths resolve inside `dir` as if it were `/` (a container's or image's rootfs).
    pub fn in_root(dir: &Path) -> io::Result<Scope> {
        Ok(Self::in_root_fd(sys::open_dir_path(dir)?))
    }

    /// As `in_root`, from an already open directory (e.g. `/proc/<pid>/root`).
    pub fn in_root_fd(fd: OwnedFd) -> Scope {
        Scope {
            root: fd,
            resolve: sys::IN_ROOT,
        }
    }

    /// The host: absolute paths, ordinary resolution.
    pub fn host() -> io::Result<Scope> {
        Ok(Scope {
            root: sys::open_dir_path(Path::new("/"))?,
            resolve: ResolveFlag::empty(),
        })
    }

    /// Open `path` (taken relative to the scope's root) with `flags`.
    pub fn open(&self, path: &Path, flags: OFlag) -> io::Result<OwnedFd> {
        sys::openat2(&self.root, relative(path).as_path(), flags, self.resolve)
    }

    /// lstat (or stat with `follow`) of `path`; None when it does not exist.
    pub fn stat(&self, path: &Path, follow: bool) -> io::Result<Option<Stat>> {
        let mut flags = OFlag::O_PATH;
        if !follow {
            flags |= OFlag::O_NOFOLLOW;
        }
        match self.open(path, flags) {
            Ok(fd) => sys::fstat(&fd).map(Some),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// `path` without its root and `.` components ("." for the root itself); `..` stays
/// (openat2 confines it).
fn relative(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

pub fn is_dir(st: &Stat) -> bool {
    sys::is_dir(st)
}

fn fmt(st: &Stat) -> u32 {
    sys::file_type(st)
}

/// How `write_tar` names and reads the tree.
pub struct TarSource<'a> {
    pub scope: &'a Scope,
    pub path: &'a Path,
    /// Follow a symlink at `path` itself (`cp -L`), inside the scope.
    pub follow: bool,
    /// The archive name of `path` ("." to archive the contents only).
    pub top_name: &'a str,
}

/// Write `src` (recursively) to `out` as a tar stream.
pub fn write_tar<W: Write>(src: &TarSource<'_>, out: W) -> io::Result<()> {
    let mut flags = OFlag::O_PATH;
    if !src.follow {
        flags |= OFlag::O_NOFOLLOW;
    }
    let fd = src.scope.open(src.path, flags)?;
    let st = sys::fstat(&fd)?;
    let mut b = tar::Builder::new(out);
    let name = PathBuf::from(src.top_name);
    match fmt(&st) {
        libc::S_IFREG => {
            let f = sys::reopen(&fd, OFlag::O_RDONLY)?;
            append_file(&mut b, &name, &st, f)?;
        }
        libc::S_IFDIR => {
            let d = sys::reopen(&fd, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
            append_dir(&mut b, &name, &st, d)?;
        }
        libc::S_IFLNK => {
            let target = sys::readlinkat(&fd, "")?;
            append_special(&mut b, &name, &st, Some(&target))?;
        }
        _ => append_special(&mut b, &name, &st, None)?,
    }
    b.into_inner()?.flush()
}

fn header(st: &Stat, ty: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(ty);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(size);
    h
}

fn append_xattrs<W: Write>(b: &mut tar::Builder<W>, fd: BorrowedFd<'_>) -> io::Result<()> {
    let xs = sys::xattrs(fd);
    if xs.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = xs
        .iter()
        .map(|(k, _)| format!("SCHILY.xattr.{k}"))
        .collect();
    b.append_pax_extensions(
        keys.iter()
            .zip(&xs)
            .map(|(k, (_, v))| (k.as_str(), v.as_slice())),
    )
}

fn append_file<W: Write>(
    b: &mut tar::Builder<W>,
    name: &Path,
    st: &Stat,
    fd: OwnedFd,
) -> io::Result<()> {
    append_xattrs(b, fd.as_fd())?;
    let mut h = header(st, tar::EntryType::Regular, st.st_size as u64);
    // The file could change size while read; the header's size is what is written.
    let f = File::from(fd).take(st.st_size as u64);
    b.append_data(&mut h, name, PadTo(f, st.st_size as u64))
}

/// A reader padded with zeros up to `.1` bytes (a file that shrank while archived).
struct PadTo<R>(R, u64);

impl<R: Read> Read for PadTo<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.1 == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.1 as usize);
        let mut n = self.0.read(&mut buf[..want])?;
        if n == 0 {
            buf[..want].fill(0);
            n = want;
        }
        self.1 -= n as u64;
        Ok(n)
    }
}

fn append_special<W: Write>(
    b: &mut tar::Builder<W>,
    name: &Path,
    st: &Stat,
    link: Option<&OsStr>,
) -> io::Result<()> {
    let ty = match fmt(st) {
        libc::S_IFLNK => tar::EntryType::Symlink,
        libc::S_IFCHR => tar::EntryType::Char,
        libc::S_IFBLK => tar::EntryType::Block,
        libc::S_IFIFO => tar::EntryType::Fifo,
        // Sockets cannot be archived (docker skips them too).
        _ => return Ok(()),
    };
    let mut h = header(st, ty, 0);
    if matches!(ty, tar::EntryType::Char | tar::EntryType::Block) {
        h.set_device_major(sys::major(st.st_rdev) as u32)?;
        h.set_device_minor(sys::minor(st.st_rdev) as u32)?;
    }
    match link {
        Some(target) => b.append_link(&mut h, name, Path::new(target)),
        None => b.append_data(&mut h, name, io::empty()),
    }
}

fn append_dir<W: Write>(
    b: &mut tar::Builder<W>,
    name: &Path,
    st: &Stat,
    dir: OwnedFd,
) -> io::Result<()> {
    append_xattrs(b, dir.as_fd())?;
    let mut h = header(st, tar::EntryType::Directory, 0);
    b.append_data(&mut h, name, io::empty())?;
    let dfd = dir.as_fd();
    let mut children = sys::list_dir(&dir)?;
    children.sort();
    for child in children {
        let Some(cst) = sys::lstatat_opt(dfd, child.as_os_str())? else {
            continue; // vanished meanwhile
        };
        let cname = name.join(&child);
        match fmt(&cst) {
            libc::S_IFREG => {
                let f = sys::openat(
                    dfd,
                    child.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW,
                    0,
                )?;
                append_file(b, &cname, &cst, f)?;
            }
            libc::S_IFDIR => {
                let d = sys::openat(
                    dfd,
                    child.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
                    0,
                )?;
                append_dir(b, &cname, &cst, d)?;
            }
            libc::S_IFLNK => {
                let target = sys::readlinkat(dfd, child.as_os_str())?;
                append_special(b, &cname, &cst, Some(&target))?;
            }
            _ => append_special(b, &cname, &cst, None)?,
        }
    }
    Ok(())
}

/// How `extract_tar` writes.
#[derive(Default, Clone, Copy)]
pub struct ExtractOptions {
    /// Keep the archive's uid/gid (else the files belong to the caller: root).
    pub same_owner: bool,
    /// Apply the archive's "." entry (mode, owner) to the destination directory itself.
    pub root_meta: bool,
}

/// Extract a tar stream into `dest_dir` (resolved in `scope`). Each entry's parent is
/// resolved through the scope (so symlinks never lead outside it); the entry itself is
/// created with `*at` calls and never followed.
pub fn extract_tar<R: Read>(
    scope: &Scope,
    dest_dir: &Path,
    input: R,
    opts: ExtractOptions,
) -> io::Result<()> {
    let mut ar = tar::Archive::new(input);
    let mut dir_times: Vec<(PathBuf, u64)> = Vec::new();
    for entry in ar.entries()? {
        let mut e = entry?;
        let raw = e.path()?.into_owned();
        let mut rel = PathBuf::new();
        for c in raw.components() {
            match c {
                Component::Normal(n) => rel.push(n),
                Component::ParentDir => {
                    return Err(io::Error::other(format!(
                        "archive entry {} contains \"..\"",
                        raw.display()
                    )))
                }
                _ => {}
            }
        }
        let xattrs: Vec<(String, Vec<u8>)> = match e.pax_extensions()? {
            Some(exts) => exts
                .flatten()
                .filter_map(|x| {
                    let k = x.key().ok()?.strip_prefix("SCHILY.xattr.")?.to_string();
                    Some((k, x.value_bytes().to_vec()))
                })
                .collect(),
            None => Vec::new(),
        };
        let h = e.header().clone();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let owner = if opts.same_owner {
            Some((h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32))
        } else {
            None
        };
        let mtime = h.mtime().unwrap_or(0);
        let full = dest_dir.join(&rel);
        let ty = h.entry_type();
        let Some(name) = rel.file_name().map(OsStr::to_os_string) else {
            // The destination directory itself.
            if opts.root_meta && ty.is_dir() {
                let d = scope.open(dest_dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
                finish(d.as_fd(), mode, owner, &xattrs)?;
                dir_times.push((full, mtime));
            }
            continue;
        };
        let parent = full.parent().unwrap_or(dest_dir).to_path_buf();
        let pfd = scope.open(&parent, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        let p = pfd.as_fd();
        let name = name.as_os_str();
        let existing = sys::lstatat_opt(p, name)?;
        let ctx = |err: io::Error| io::Error::new(err.kind(), format!("{}: {err}", full.display()));
        match ty {
            tar::EntryType::Directory => {
                match existing {
                    Some(st) if is_dir(&st) => {}
                    Some(_) => {
                        sys::unlinkat(p, name).map_err(ctx)?;
                        sys::mkdirat(p, name, 0o700).map_err(ctx)?;
                    }
                    None => sys::mkdirat(p, name, 0o700).map_err(ctx)?,
                }
                let d = sys::openat(
                    p,
                    name,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
                    0,
                )
                .map_err(ctx)?;
                finish(d.as_fd(), mode, owner, &xattrs).map_err(ctx)?;
                dir_times.push((full.clone(), mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                replace_non_dir(p, name, existing.as_ref(), &full)?;
                let fd = sys::openat(
                    p,
                    name,
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_NOFOLLOW,
                    0o600,
                )
                .map_err(ctx)?;
                let mut f = File::from(fd);
                io::copy(&mut e, &mut f).map_err(ctx)?;
                finish(f.as_fd(), mode, owner, &xattrs).map_err(ctx)?;
                // Best effort, as tar: a time that cannot be set leaves the content right.
                let _ = sys::set_mtime(&f, mtime as i64);
            }
            tar::EntryType::Symlink => {
                let target = h
                    .link_name()?
                    .ok_or_else(|| io::Error::other("symlink entry without a target"))?
                    .into_owned();
                replace_non_dir(p, name, existing.as_ref(), &full)?;
                sys::symlinkat(target.as_path(), p, name).map_err(ctx)?;
                if let Some((u, g)) = owner {
                    sys::fchownat(p, name, u, g).map_err(ctx)?;
                }
                let _ = sys::set_mtime_at(p, name, mtime as i64);
            }
            tar::EntryType::Link => {
                let target = h
                    .link_name()?
                    .ok_or_else(|| io::Error::other("hard link entry without a target"))?
                    .into_owned();
                let tfull = dest_dir.join(relative(&target));
                let tname = tfull.file_name().unwrap_or(OsStr::new("."));
                let tparent = scope.open(
                    tfull.parent().unwrap_or(dest_dir),
                    OFlag::O_PATH | OFlag::O_DIRECTORY,
                )?;
                replace_non_dir(p, name, existing.as_ref(), &full)?;
                sys::linkat(&tparent, tname, p, name).map_err(ctx)?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                replace_non_dir(p, name, existing.as_ref(), &full)?;
                let kind = match ty {
                    tar::EntryType::Char => libc::S_IFCHR,
                    tar::EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let dev = sys::makedev(
                    h.device_major()?.unwrap_or(0),
                    h.device_minor()?.unwrap_or(0),
                );
                sys::mknodat(p, name, kind | mode, dev).map_err(ctx)?;
                if let Some((u, g)) = owner {
                    sys::fchownat(p, name, u, g).map_err(ctx)?;
                }
            }
            // PAX/GNU metadata entries are consumed by the iterator; others are skipped.
            _ => {}
        }
    }
    // Directory times last: creating entries inside changed them.
    for (dir, mtime) in dir_times.into_iter().rev() {
        if let Ok(d) = scope.open(&dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY) {
            let _ = sys::set_mtime(&d, mtime as i64);
        }
    }
    Ok(())
}

/// Make room for a non-directory entry: remove an existing non-directory, refuse to
/// replace a directory (docker: "cannot overwrite directory with non-directory").
fn replace_non_dir(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    existing: Option<&Stat>,
    full: &Path,
) -> io::Result<()> {
    match existing {
        None => Ok(()),
        Some(st) if is_dir(st) => Err(io::Error::other(format!(
            "cannot overwrite directory {:?} with non-directory",
            full
        ))),
        Some(_) => sys::unlinkat(dir, name),
    }
}

/// Mode, owner and xattrs of a created file or directory (by fd, so never a symlink).
fn finish(
    fd: BorrowedFd<'_>,
    mode: u32,
    owner: Option<(u32, u32)>,
    xattrs: &[(String, Vec<u8>)],
) -> io::Result<()> {
    if let Some((u, g)) = owner {
        sys::fchown(fd, u, g)?;
    }
    // After chown, which clears setuid/setgid bits.
    sys::fchmod(fd, mode)?;
    for (k, v) in xattrs {
        // Best effort: the target filesystem may not support the namespace.
        let _ = sys::fsetxattr(fd, k.as_bytes(), v);
    }
    Ok(())
}

/// Stream `src` into `extract` through a pipe: the archive is written by a second
/// thread while this one extracts, so nothing is buffered whole.
pub fn pipe_copy(
    src: &TarSource<'_>,
    dst: &Scope,
    dest_dir: &Path,
    opts: ExtractOptions,
) -> io::Result<()> {
    let (r, w) = nix::unistd::pipe()?;
    std::thread::scope(|s| {
        let writer = s.spawn(move || write_tar(src, File::from(w)));
        let res = extract_tar(dst, dest_dir, File::from(r), opts);
        let wres = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the tar writer thread panicked")));
        // A writer error explains a reader error (broken archive), so it comes first;
        // a reader error makes the writer see EPIPE, which is not the interesting one.
        match (wres, res) {
            // EPIPE: the reader stopped first; its error is the reason
            (Err(we), Err(re)) if we.kind() == io::ErrorKind::BrokenPipe => Err(re),
            (Err(we), Err(_)) => Err(we),
            (_, Err(re)) => Err(re),
            (Err(we), Ok(())) => Err(we),
            (Ok(()), Ok(())) => Ok(()),
        }
    })
}

/// Copy the contents of directory `src_path` (in `src`, following symlinks inside it) into
/// the root of `dst`, keeping owners, modes, symlinks and xattrs. A missing source or a
/// non-directory copies nothing.
pub fn copy_contents(src: &Scope, src_path: &str, dst: &Scope) -> io::Result<()> {
    match src.stat(Path::new(src_path), true)? {
        Some(st) if is_dir(&st) => {}
        _ => return Ok(()),
    }
    let source = TarSource {
        scope: src,
        path: Path::new(src_path),
        follow: true,
        top_name: ".",
    };
    pipe_copy(
        &source,
        dst,
        Path::new("/"),
        ExtractOptions {
            same_owner: true,
            root_meta: true,
        },
    )
}

/// Apparent size of a tree (files' lengths), without following symlinks.
pub fn disk_usage(path: &Path) -> u64 {
    let Ok(md) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !md.is_dir() {
        return md.len();
    }
    std::fs::read_dir(path)
        .map(|rd| rd.flatten().map(|e| disk_usage(&e.path())).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("berth-tree-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn copy_keeps_symlinks_and_stays_inside() {
        let src = tmp("src");
        std::fs::create_dir_all(src.join("d/e")).unwrap();
        std::fs::write(src.join("d/e/f"), b"hello").unwrap();
        std::os::unix::fs::symlink("/etc", src.join("d/etc")).unwrap();
        let dst = tmp("dst");
        let s = Scope::in_root(&src).unwrap();
        let d = Scope::in_root(&dst).unwrap();
        copy_contents(&s, "/d", &d).unwrap();
        assert_eq!(std::fs::read(dst.join("e/f")).unwrap(), b"hello");
        assert_eq!(
            std::fs::read_link(dst.join("etc")).unwrap(),
            Path::new("/etc")
        );
        // Extracting through the symlink lands inside dst, not in the host's /etc.
        let mut buf = Vec::new();
        {
            let mut b = tar::Builder::new(&mut buf);
            let mut h = tar::Header::new_gnu();
            h.set_size(2);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, "x-berth-test", &b"hi"[..]).unwrap();
            b.finish().unwrap();
        }
        extract_tar(&d, Path::new("/etc"), &buf[..], ExtractOptions::default()).unwrap_err();
        std::fs::create_dir(dst.join("etc2")).unwrap();
        std::os::unix::fs::symlink("/", dst.join("up")).unwrap();
        extract_tar(
            &d,
            Path::new("/up/etc2"),
            &buf[..],
            ExtractOptions::default(),
        )
        .unwrap();
        assert!(dst.join("etc2/x-berth-test").exists());
        assert!(!Path::new("/etc2/x-berth-test").exists());
        std::fs::remove_dir_all(&src).unwrap();
        std::fs::remove_dir_all(&dst).unwrap();
    }
}
