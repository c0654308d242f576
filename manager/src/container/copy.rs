//! Copying files between a container and the host (`berth cp`, `compose cp`),
//! docker's semantics: `CONTAINER:PATH` on one side, a host path or `-` (a tar
//! stream on stdin/stdout) on the other; a trailing `/.` copies a directory's
//! contents; an existing directory target receives the source by its base name.
//!
//! A running container is reached through `/proc/<pid>/root` (its mounts, volumes
//! included, are seen there); a stopped one through its rootfs overlay, mounted for the
//! copy in a private mount namespace of this process so it vanishes when berth exits.
//! Paths inside the container are resolved with openat2(RESOLVE_IN_ROOT): a symlink in
//! the container can never lead a read or a write to the host.
//!
//! Mounting a stopped container's rootfs enters a private mount namespace: call
//! `copy` while the process has a single thread.

use super::{ContainerError, ContainerRecord, ContainerStore, MountKind};
use crate::context::Context;
use crate::volume::tree::{self, ExtractOptions, Scope, TarSource};
use nix::fcntl::OFlag;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// What was asked cannot be done (docker's message).
    #[error("{0}")]
    Invalid(String),
    /// A step failed: what it was, and why.
    #[error("{what}: {source}")]
    Failed {
        what: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// `return Err(CopyError::Invalid(format!(...)))`.
macro_rules! invalid {
    ($($t:tt)*) => {
        return Err(CopyError::Invalid(format!($($t)*)))
    };
}

type Result<T, E = CopyError> = std::result::Result<T, E>;

/// Says which step failed (the source error is kept).
trait Ctx<T> {
    fn context(self, what: &str) -> Result<T>;
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<Box<dyn std::error::Error + Send + Sync>>> Ctx<T> for std::result::Result<T, E> {
    fn context(self, what: &str) -> Result<T> {
        self.with_context(|| what.to_string())
    }
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| CopyError::Failed {
            what: what(),
            source: e.into(),
        })
    }
}

/// `archive` (`-a`: keep uid/gid) and `follow_link` (`-L`); `src`/`dest` are
/// the endpoints as the user wrote them (for messages).
#[derive(Clone, Debug, Default)]
pub struct CopyOptions {
    pub archive: bool,
    pub follow_link: bool,
    pub src: String,
    pub dest: String,
}

/// One side of the copy.
pub enum Endpoint {
    Stream,
    Host(String),
    Container(String, String),
}

/// docker's split: a path starting with `/` or `.` is local; otherwise `NAME:PATH` names a
/// container.
pub fn parse_endpoint(s: &str) -> Endpoint {
    if s == "-" {
        return Endpoint::Stream;
    }
    if s.starts_with('/') || s.starts_with('.') {
        return Endpoint::Host(s.to_string());
    }
    match s.split_once(':') {
        Some((c, p)) if !c.is_empty() => Endpoint::Container(c.to_string(), p.to_string()),
        _ => Endpoint::Host(s.to_string()),
    }
}

pub fn copy(
    ctx: &Context,
    src: &Endpoint,
    dst: &Endpoint,
    args: &CopyOptions,
) -> Result<(), CopyError> {
    let (src, dst) = (src, dst);
    match (src, dst) {
        (Endpoint::Container(..), Endpoint::Container(..)) => {
            invalid!("copying between containers is not supported")
        }
        (Endpoint::Container(..), _) | (_, Endpoint::Container(..)) => {}
        _ => invalid!("must specify at least one container source"),
    }
    // Mounting a stopped container's rootfs needs a private mount namespace, which must
    // be entered while this process has a single thread (before the copy's threads).
    let (src_scope, src_path) = side(ctx, src, &args.src)?;
    let (dst_scope, dst_path) = side(ctx, dst, &args.dest)?;
    let opts = ExtractOptions {
        same_owner: args.archive,
        root_meta: false,
    };
    match (src_scope, dst_scope) {
        (Some(s), None) => {
            // Container (or host) to stdout.
            let info = source_info(&s, &src_path, args.follow_link, &args.src)?;
            let top = if info.contents_only { "." } else { &info.base };
            let child = in_userns(&s, &[], || {
                tree::write_tar(
                    &TarSource {
                        scope: &s.scope,
                        path: Path::new(&src_path),
                        follow: args.follow_link,
                        top_name: top,
                    },
                    std::io::stdout().lock(),
                )
            })
            .and_then(wait_child)
            .with_context(|| format!("archiving {}", args.src));
            child?;
        }
        (None, Some(d)) => {
            // A tar stream on stdin into an existing directory.
            match d.scope.stat(Path::new(&dst_path), true)? {
                Some(st) if tree::is_dir(&st) => {}
                Some(_) => invalid!("destination \"{}\" must be a directory", args.dest),
                None => invalid!("Could not find the file {dst_path} in container {}", d.name),
            }
            in_userns(&d, &[], || {
                tree::extract_tar(
                    &d.scope,
                    Path::new(&dst_path),
                    std::io::stdin().lock(),
                    opts,
                )
            })
            .and_then(wait_child)
            .with_context(|| format!("extracting into {}", args.dest))?;
        }
        (Some(s), Some(d)) => copy_between(&s, &src_path, &d, &dst_path, args, opts)?,
        (None, None) => invalid!("must specify at least one container source"),
    }
    Ok(())
}

/// A resolved side: where paths resolve, a name for messages, and what keeps it open.
struct Side {
    scope: Scope,
    name: String,
    _mount: Option<TempRootfs>,
    /// A running container with its own user namespace: its root (an
    /// idmapped mount) is written and read as the container's root, from a
    /// child in that namespace (see `in_userns`).
    userns: Option<std::os::fd::OwnedFd>,
}

fn side(ctx: &Context, e: &Endpoint, raw: &str) -> Result<(Option<Side>, String)> {
    match e {
        Endpoint::Stream => Ok((None, String::new())),
        Endpoint::Host(p) => {
            // Relative host paths are taken from the current directory; a trailing
            // "/" or "/." matters, so the text is kept and only made absolute.
            let abs = if p.starts_with('/') {
                p.clone()
            } else {
                let cwd = std::env::current_dir()?;
                format!("{}/{}", cwd.display(), p)
            };
            let scope = Scope::host()?;
            Ok((
                Some(Side {
                    scope,
                    name: "the host".into(),
                    _mount: None,
                    userns: None,
                }),
                abs,
            ))
        }
        Endpoint::Container(c, p) => {
            let store = ContainerStore::open(ctx)?;
            let rec = store.resolve(c)?;
            let (scope, mount, userns) = container_scope(ctx, &rec)?;
            let path = if p.is_empty() {
                invalid!("invalid path: empty container path in {raw:?}")
            } else if p.starts_with('/') {
                p.clone()
            } else {
                // docker: relative container paths are relative to the root.
                format!("/{p}")
            };
            Ok((
                Some(Side {
                    scope,
                    name: c.clone(),
                    _mount: mount,
                    userns,
                }),
                path,
            ))
        }
    }
}

/// The container's root: `/proc/<pid>/root` of a running (or paused) container, else
/// its rootfs overlay (mounted here when it is not). A running container with a user
/// namespace of its own also gives that namespace: its root is an idmapped mount, where
/// host root can create nothing and sees the host's shifted ids. A stopped one's
/// overlay is not idmapped: there the files have the container's ids already.
type ContainerScope = (Scope, Option<TempRootfs>, Option<std::os::fd::OwnedFd>);

fn container_scope(ctx: &Context, rec: &ContainerRecord) -> Result<ContainerScope> {
    let st = super::state(ctx, rec);
    if st.pid > 0 && st.status.is_active() {
        let proc_root = format!("/proc/{}/root", st.pid);
        if let Ok(fd) = nix::fcntl::open(
            proc_root.as_str(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        ) {
            let userns = match rec.userns_remap {
                Some(_) => {
                    let p = format!("/proc/{}/ns/user", st.pid);
                    Some(
                        nix::fcntl::open(
                            p.as_str(),
                            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                            nix::sys::stat::Mode::empty(),
                        )
                        .with_context(|| format!("opening {p}"))?,
                    )
                }
                None => None,
            };
            return Ok((Scope::in_root_fd(fd), None, userns));
        }
    }
    let rootfs = rec.rootfs(ctx);
    if crate::sys::mountinfo::is_mountpoint(&rootfs) {
        return Ok((Scope::in_root(&rootfs)?, None, None));
    }
    let m = TempRootfs::mount(ctx, rec)?;
    Ok((Scope::in_root(&m.target)?, Some(m), None))
}

/// Run `f` as the root of `side`'s user namespace when it has one (in a child
/// process; `close` are pipe ends the child must not hold), else here.
fn in_userns(
    side: &Side,
    close: &[std::os::fd::RawFd],
    f: impl FnOnce() -> std::io::Result<()>,
) -> std::io::Result<Option<crate::sys::process::UsernsChild>> {
    use std::os::fd::AsFd;
    match &side.userns {
        Some(ns) => crate::sys::process::spawn_in_userns(ns.as_fd(), close, f).map(Some),
        None => f().map(|()| None),
    }
}

fn wait_child(c: Option<crate::sys::process::UsernsChild>) -> std::io::Result<()> {
    c.map_or(Ok(()), |c| c.wait())
}

/// A stopped container's rootfs overlay, mounted in a private mount namespace of this
/// process (so no other process sees it and it cannot outlive berth); unmounted on drop.
struct TempRootfs {
    target: PathBuf,
}

impl TempRootfs {
    fn mount(ctx: &Context, rec: &ContainerRecord) -> Result<TempRootfs> {
        use nix::mount::{mount, MsFlags};
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
            .context("entering a private mount namespace")?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .context("making mounts private")?;
        let image = super::image::load(ctx, &rec.image)
            .with_context(|| format!("the image of container {}", rec.name))?;
        let snaps = crate::snapshot::SnapshotStore::open(&ctx.root)?;
        let dir = rec.dir(ctx);
        let target = rec.rootfs(ctx);
        snaps
            .mount_rootfs(
                &image,
                &dir.join("upper"),
                &dir.join("work"),
                &target,
                false,
            )
            .context("mounting the stopped container's rootfs")?;
        let m = TempRootfs { target };
        m.bind_mounts(rec)?;
        Ok(m)
    }

    /// The container's volumes and binds at their destinations, as when it runs. Each
    /// destination is resolved inside the rootfs (openat2 RESOLVE_IN_ROOT) and mounted
    /// on through its fd, so a symlink in the image cannot redirect the mount.
    fn bind_mounts(&self, rec: &ContainerRecord) -> Result<()> {
        use nix::mount::{mount, MsFlags};
        let scope = Scope::in_root(&self.target)?;
        for m in &rec.mounts {
            if m.r#type == MountKind::Tmpfs || m.source.is_empty() {
                continue;
            }
            let flags = if Path::new(&m.source).is_dir() {
                OFlag::O_PATH | OFlag::O_DIRECTORY
            } else {
                OFlag::O_PATH
            };
            // A destination the container never created has nothing to show.
            let Ok(fd) = scope.open(Path::new(&m.destination), flags) else {
                continue;
            };
            let on = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
            mount(
                Some(m.source.as_str()),
                on.as_str(),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .with_context(|| format!("mounting {} at {}", m.source, m.destination))?;
        }
        Ok(())
    }
}

impl Drop for TempRootfs {
    fn drop(&mut self) {
        let _ = crate::snapshot::SnapshotStore::unmount_rootfs(&self.target);
    }
}

/// What the source is: a directory or not, its base name, and whether `/.` asked for
/// its contents.
struct SourceInfo {
    is_dir: bool,
    base: String,
    contents_only: bool,
}

fn source_info(s: &Side, path: &str, follow: bool, raw: &str) -> Result<SourceInfo> {
    let trailing_slash = path.ends_with('/');
    let contents_only = path.ends_with("/.") || path == ".";
    // A trailing "/" (or "/.") requires a directory, following a symlink to it.
    let st = s
        .scope
        .stat(Path::new(path), follow || trailing_slash || contents_only)?
        .ok_or_else(|| match s.name.as_str() {
            "the host" => CopyError::Invalid(format!("lstat {path}: no such file or directory")),
            c => CopyError::Invalid(format!("Could not find the file {path} in container {c}")),
        })?;
    let is_dir = tree::is_dir(&st);
    if (trailing_slash || contents_only) && !is_dir {
        invalid!("{raw}: not a directory");
    }
    let base = Path::new(path.trim_end_matches("/.").trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".into());
    Ok(SourceInfo {
        is_dir,
        contents_only: contents_only || (is_dir && base == "."),
        base,
    })
}

fn copy_between(
    s: &Side,
    src_path: &str,
    d: &Side,
    dst_path: &str,
    args: &CopyOptions,
    opts: ExtractOptions,
) -> Result<(), CopyError> {
    let info = source_info(s, src_path, args.follow_link, &args.src)?;
    let dest = Path::new(dst_path);
    // The destination's final symlink is followed (inside the scope), as docker does.
    let dst_st = d.scope.stat(dest, true)?;
    let (dest_dir, top): (PathBuf, String) = match dst_st {
        Some(st) if tree::is_dir(&st) => {
            if info.contents_only {
                (dest.to_path_buf(), ".".into())
            } else {
                (dest.to_path_buf(), info.base.clone())
            }
        }
        Some(_) => {
            if info.is_dir {
                invalid!("cannot copy a directory to a file: {}", args.dest);
            }
            if dst_path.ends_with('/') {
                invalid!("{}: not a directory", args.dest);
            }
            (parent_of(dest), base_of(dest))
        }
        None => {
            if !info.is_dir && (dst_path.ends_with('/') || dst_path.ends_with("/.")) {
                invalid!("destination directory {} must exist", args.dest);
            }
            let parent = parent_of(dest);
            match d.scope.stat(&parent, true)? {
                Some(st) if tree::is_dir(&st) => {}
                _ => invalid!(
                    "Could not find the file {} in {}",
                    parent.display(),
                    match d.name.as_str() {
                        "the host" => "the host".to_string(),
                        c => format!("container {c}"),
                    }
                ),
            }
            (parent, base_of(dest))
        }
    };
    // Read the source through its scope, write under the destination directory: a new
    // top-level name renames the copy (docker's rebase).
    d.scope
        .open(&dest_dir, OFlag::O_PATH | OFlag::O_DIRECTORY)
        .with_context(|| format!("{}: not a directory", dest_dir.display()))?;
    let src = TarSource {
        scope: &s.scope,
        path: Path::new(src_path),
        follow: args.follow_link,
        top_name: &top,
    };
    if s.userns.is_none() && d.userns.is_none() {
        return tree::pipe_copy(&src, &d.scope, &dest_dir, opts)
            .with_context(|| format!("copying {} to {}", args.src, args.dest));
    }
    // One side is a user namespace's: that side's half runs in a child as
    // the container's root, the archive going through a pipe.
    userns_pipe_copy(s, &src, d, &dest_dir, opts)
        .with_context(|| format!("copying {} to {}", args.src, args.dest))
}

fn userns_pipe_copy(
    s: &Side,
    src: &TarSource<'_>,
    d: &Side,
    dest_dir: &Path,
    opts: ExtractOptions,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let (r, w) = nix::unistd::pipe()?;
    let (rfd, wfd) = (r.as_raw_fd(), w.as_raw_fd());
    if s.userns.is_some() {
        let child = in_userns(s, &[rfd], || tree::write_tar(src, std::fs::File::from(w)))?;
        let res = tree::extract_tar(&d.scope, dest_dir, std::fs::File::from(r), opts);
        // the writer's error explains a broken archive: it comes first,
        // unless it is the EPIPE of a reader that stopped on its own error
        match (wait_child(child), res) {
            (Err(we), Err(re)) if we.to_string().contains("Broken pipe") => Err(re),
            (wres, res) => wres.and(res),
        }
    } else {
        let child = in_userns(d, &[wfd], || {
            tree::extract_tar(&d.scope, dest_dir, std::fs::File::from(r), opts)
        })?;
        let res = tree::write_tar(src, std::fs::File::from(w));
        let cres = wait_child(child);
        cres.and(res)
    }
}

fn parent_of(p: &Path) -> PathBuf {
    let t = p.to_string_lossy();
    let t = t.trim_end_matches('/');
    match Path::new(t).parent() {
        Some(x) if !x.as_os_str().is_empty() => x.to_path_buf(),
        _ => PathBuf::from("/"),
    }
}

fn base_of(p: &Path) -> String {
    let t = p.to_string_lossy();
    Path::new(t.trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert!(matches!(parse_endpoint("-"), Endpoint::Stream));
        assert!(matches!(parse_endpoint("/a:b"), Endpoint::Host(_)));
        assert!(matches!(parse_endpoint("./c:d"), Endpoint::Host(_)));
        assert!(
            matches!(parse_endpoint("c1:/etc"), Endpoint::Container(c, p) if c == "c1" && p == "/etc")
        );
        assert!(matches!(parse_endpoint("file"), Endpoint::Host(_)));
        assert_eq!(parent_of(Path::new("/a/b/")), PathBuf::from("/a"));
        assert_eq!(base_of(Path::new("/a/b/")), "b");
    }
}
