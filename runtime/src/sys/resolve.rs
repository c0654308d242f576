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
/// calls relative to an fd that was itself resolved inside the root.
pub fn mkdir_all_in_root(root: BorrowedFd<'_>, path: &Path, leaf: Leaf) -> nix::Result<OwnedFd> {
    match open_in_root(root, path, OFlag::O_PATH) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let comps: Vec<&std::ffi::OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let mut cur = open_in_root(root, Path::new("/"), OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    let mut walked = std::path::PathBuf::from("/");
    for (i, name) in comps.iter().enumerate() {
        walked.push(name);
        let last = i + 1 == comps.len();
        match open_in_root(root, &walked, OFlag::O_PATH) {
            Ok(fd) => {
                cur = fd;
                continue;
            }
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        // The path does not exist: create the component under its resolved
        // parent. A dangling symlink here means ENOENT from resolution but
        // EEXIST from creation; it is refused rather than followed.
        if last && leaf == Leaf::File {
            let fd = nix::fcntl::openat(
                cur.as_fd(),
                *name,
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_CLOEXEC
                    | OFlag::O_NOFOLLOW,
                Mode::from_bits_truncate(0o644),
            );
            match fd {
                Ok(_) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e),
            }
        } else {
            match nix::sys::stat::mkdirat(cur.as_fd(), *name, Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e),
            }
        }
        cur = open_in_root(root, &walked, OFlag::O_PATH)?;
    }
    Ok(cur)
}

/// The /proc/self/fd path of an fd, for syscalls (mount(2)) that take paths:
/// it names exactly the inode the fd holds, whatever happens to the path.
pub fn fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}
