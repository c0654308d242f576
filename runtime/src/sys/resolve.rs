//! Path resolution confined to a root directory: openat2(RESOLVE_IN_ROOT)
//! makes `..` and symlinks (absolute or relative) resolve inside the root,
//! so a mount target can never land outside the container's rootfs.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// Open `path` (relative to `root`, leading '/' ignored) with `flags`,
/// resolving every component inside `root`.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    // nix's openat2 (it owns the unsafe); EAGAIN: a rename raced the lookup, retry.
    loop {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        match openat2(root, rel, how) {
            Err(Errno::EAGAIN | Errno::EINTR) => continue,
            r => return r,
        }
    }
}

/// What to create at the end of a path that does not exist yet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Leaf {
    Dir,
    File,
}

/// Open `path` inside `root` as O_PATH, creating missing directories (and
/// the last component as `leaf`). Each component is created with *at()
/// calls relative to an fd that was itself resolved inside the root. A
/// dangling symlink on the way is followed inside the root and its target
/// created (runc does the same: a bind onto `/mnt -> /target` mounts on
/// the rootfs' /target).
pub fn mkdir_all_in_root(root: BorrowedFd<'_>, path: &Path, leaf: Leaf) -> nix::Result<OwnedFd> {
    let mut path = path.to_path_buf();
    // Linux's limit on symlinks in one lookup.
    for _ in 0..40 {
        match mkdir_all_step(root, &path, leaf)? {
            Step::Done(fd) => return Ok(fd),
            Step::Follow(next) => path = next,
        }
    }
    Err(Errno::ELOOP)
}

enum Step {
    Done(OwnedFd),
    /// The path with its first dangling symlink replaced by the link's target.
    Follow(std::path::PathBuf),
}

fn mkdir_all_step(root: BorrowedFd<'_>, path: &Path, leaf: Leaf) -> nix::Result<Step> {
    match open_in_root(root, path, OFlag::O_PATH) {
        Ok(fd) => return Ok(Step::Done(fd)),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    // Mostly only the last component is missing (a mount point in a fresh
    // tmpfs or /sys/fs/cgroup): try its parent first, one lookup instead of
    // one per component. A missing parent falls back to the walk below.
    if let (Some(Component::Normal(name)), Some(parent)) =
        (path.components().next_back(), path.parent())
    {
        match open_in_root(root, parent, OFlag::O_PATH) {
            Ok(dir) => return make_component(root, &dir, name, parent, &[], path, leaf),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    // `..` stays a component: the kernel resolves it (inside the root) on
    // the way, after any symlink before it, which a lexical walk would not.
    let comps: Vec<&std::ffi::OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            Component::ParentDir => Some(std::ffi::OsStr::new("..")),
            _ => None,
        })
        .collect();
    let mut cur = open_in_root(root, Path::new("/"), OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    let mut walked = std::path::PathBuf::from("/");
    for (i, name) in comps.iter().enumerate() {
        let parent = walked.clone();
        walked.push(name);
        match open_in_root(root, &walked, OFlag::O_PATH) {
            Ok(fd) => {
                cur = fd;
                continue;
            }
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let last = i + 1 == comps.len();
        let this_leaf = if last { leaf } else { Leaf::Dir };
        match make_component(
            root,
            &cur,
            name,
            &parent,
            &comps[i + 1..],
            &walked,
            this_leaf,
        )? {
            Step::Done(fd) => cur = fd,
            follow => return Ok(follow),
        }
    }
    Ok(Step::Done(cur))
}

/// Create `name`, found missing, under `dir` (`parent` resolved inside the
/// root) as `leaf`, and open it as `walked`; `rest` are the components after
/// it. A dangling symlink (resolution says ENOENT, creation would say
/// EEXIST) is not created through: the walk continues from its target,
/// which open_in_root resolves inside the root whether it is absolute or
/// relative.
fn make_component(
    root: BorrowedFd<'_>,
    dir: &OwnedFd,
    name: &std::ffi::OsStr,
    parent: &Path,
    rest: &[&std::ffi::OsStr],
    walked: &Path,
    leaf: Leaf,
) -> nix::Result<Step> {
    match nix::fcntl::readlinkat(dir.as_fd(), name) {
        Ok(target) => {
            let mut next = parent.join(target);
            for r in rest {
                next.push(r);
            }
            return Ok(Step::Follow(next));
        }
        Err(Errno::EINVAL | Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    if leaf == Leaf::File {
        let fd = nix::fcntl::openat(
            dir.as_fd(),
            name,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
            Mode::from_bits_truncate(0o644),
        );
        match fd {
            Ok(_) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
    } else {
        match nix::sys::stat::mkdirat(dir.as_fd(), name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
    }
    open_in_root(root, walked, OFlag::O_PATH).map(Step::Done)
}

/// The /proc/self/fd path of an fd, for syscalls (mount(2)) that take paths:
/// it names exactly the inode the fd holds, whatever happens to the path.
pub fn fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("berth-resolve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn dangling_symlinks_are_followed_inside_the_root() {
        let base = tmp("dangling");
        let root = base.join("root");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink("/target", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../rel-target/x", root.join("rel")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        let fd =
            nix::fcntl::open(&root, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        mkdir_all_in_root(fd.as_fd(), Path::new("/abs/sub"), Leaf::Dir).unwrap();
        assert!(root.join("target/sub").is_dir());
        mkdir_all_in_root(fd.as_fd(), Path::new("/rel"), Leaf::File).unwrap();
        // `..` of the root is the root: the relative target stays inside.
        assert!(root.join("rel-target/x").is_file());
        assert!(!base.join("rel-target").exists());
        assert_eq!(
            mkdir_all_in_root(fd.as_fd(), Path::new("/loop/x"), Leaf::Dir).unwrap_err(),
            Errno::ELOOP
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
