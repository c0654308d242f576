//! Pinned network namespaces: `<state>/netns/<container id>`, an nsfs bind
//! mount made before the container starts, so config.json joins it by path,
//! restarts by the shim keep it (and the address), and tear-down does not
//! depend on the container's process.
//!
//! The directory is a shared bind mount of itself (as iproute2 does for
//! /run/netns), so an unmount propagates to mount namespaces that copied it.

use super::netlink::Netlink;
use crate::sys::mountinfo::is_mountpoint;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("network namespace {path}: {op}: {source}")]
    Sys {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("network namespace: the helper thread panicked")]
    Thread,
}

fn sys(op: &'static str, path: &Path) -> impl FnOnce(nix::errno::Errno) -> NetnsError {
    let path = path.to_path_buf();
    move |e| NetnsError::Sys {
        op,
        path,
        source: std::io::Error::from(e),
    }
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> NetnsError {
    let path = path.to_path_buf();
    move |source| NetnsError::Sys { op, path, source }
}

/// `<state>/netns`.
pub fn dir(state: &Path) -> PathBuf {
    state.join("netns")
}

/// The pin of container `id`.
pub fn path(state: &Path, id: &str) -> PathBuf {
    dir(state).join(id)
}

/// Make `<state>/netns` a shared mount point (once).
fn ensure_dir(state: &Path) -> Result<PathBuf, NetnsError> {
    let d = dir(state);
    std::fs::create_dir_all(&d).map_err(io("create", &d))?;
    let d = std::fs::canonicalize(&d).map_err(io("resolve", &d))?;
    if !is_mountpoint(&d) {
        mount(
            Some(&d),
            &d,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(sys("bind mount", &d))?;
        // private first: a shared peer group with the parent mount would send
        // our pins everywhere the parent propagates to.
        for (flag, op) in [
            (MsFlags::MS_PRIVATE, "make private"),
            (MsFlags::MS_SHARED, "make shared"),
        ] {
            mount(None::<&str>, &d, None::<&str>, flag, None::<&str>).map_err(sys(op, &d))?;
        }
    }
    Ok(d)
}

/// Create and pin a new network namespace for `id` with `lo` up; the pin is
/// kept when it already exists (a restart). Returns its path.
pub fn create(state: &Path, id: &str) -> Result<PathBuf, NetnsError> {
    create_in_background(state, id)?.wait()
}

/// A namespace being made in the background (`create_in_background`).
/// Dropped without `wait`, it waits and removes the pin: an error path of
/// the caller leaves nothing behind.
pub struct PinJob {
    handle: Option<std::thread::JoinHandle<Result<Netlink, NetnsError>>>,
    path: PathBuf,
    state: PathBuf,
    id: String,
}

impl PinJob {
    /// The pin, once made.
    pub fn wait(self) -> Result<PathBuf, NetnsError> {
        self.wait_inside().map(|(p, _)| p)
    }

    /// The pin, once made, and a netlink socket inside the new namespace
    /// (none when the pin existed already): the caller configures the
    /// namespace's interfaces through it without a thread to enter it.
    pub fn wait_inside(mut self) -> Result<(PathBuf, Option<Netlink>), NetnsError> {
        let Some(h) = self.handle.take() else {
            return Ok((self.path.clone(), None));
        };
        match h.join().map_err(|_| NetnsError::Thread).and_then(|r| r) {
            Ok(nl) => Ok((self.path.clone(), Some(nl))),
            Err(e) => {
                let _ = remove(&self.state, &self.id);
                Err(e)
            }
        }
    }
}

impl Drop for PinJob {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
            let _ = remove(&self.state, &self.id);
        }
    }
}

/// Start making `id`'s pinned namespace: the directory and the pin file now
/// (the caller holds the network lock, so no other berth's cleanup of an
/// empty `<state>/netns` can race them), the namespace itself in a thread:
/// unshare(CLONE_NEWNET) waits on the kernel (RCU grace periods) for
/// milliseconds, time the caller spends on its records meanwhile.
pub fn create_in_background(state: &Path, id: &str) -> Result<PinJob, NetnsError> {
    let d = ensure_dir(state)?;
    let p = d.join(id);
    let mut job = PinJob {
        handle: None,
        path: p.clone(),
        state: state.to_path_buf(),
        id: id.to_string(),
    };
    if is_mountpoint(&p) {
        return Ok(job);
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(io("create", &p))?;
    // unshare(CLONE_NEWNET) changes only the calling thread: do it in a
    // short-lived thread so the manager's other threads stay in the host's.
    job.handle = Some(std::thread::spawn(
        move || -> Result<Netlink, NetnsError> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(sys("unshare", &p))?;
            let me = PathBuf::from("/proc/thread-self/ns/net");
            mount(Some(&me), &p, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                .map_err(sys("pin", &p))?;
            loopback_up(&p)
        },
    ));
    Ok(job)
}

/// `lo` up in the calling thread's namespace; returns the socket (it stays
/// in that namespace whichever thread uses it later).
fn loopback_up(p: &Path) -> Result<Netlink, NetnsError> {
    let mut nl = Netlink::open().map_err(|e| NetnsError::Sys {
        op: "netlink",
        path: p.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let lo = nl.link_index("lo").ok().flatten().unwrap_or(1);
    nl.set_up(lo).map_err(|e| NetnsError::Sys {
        op: "bring lo up",
        path: p.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(nl)
}

/// Unpin and remove container `id`'s namespace; missing is fine.
pub fn remove(state: &Path, id: &str) -> Result<(), NetnsError> {
    let p = path(state, id);
    if !p.exists() {
        return Ok(());
    }
    // The last pin: one lazy unmount of `<state>/netns` takes the pin mount
    // under it too. Every unmount waits for an RCU grace period in the
    // kernel (5-15 ms on a busy host), so this halves the wait of the
    // common `run --rm` (the pin, then the emptied directory). The caller
    // holds the network lock: no pin is being added meanwhile. (The pin's
    // own unmount below then finds nothing mounted: EINVAL, at once.)
    let last = only_pin(state, id);
    if last {
        unmount_dir(state);
    }
    match umount2(&p, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(sys("unpin", &p)(e)),
    }
    match std::fs::remove_file(&p) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("remove", &p)(e)),
    }
    // the directory goes with its last pin (its mount went above; an error:
    // not empty after all)
    if last {
        let _ = std::fs::remove_dir(dir(state));
    }
    Ok(())
}

/// `<state>/netns-joiners`: a file per container that joined another's
/// namespace (`--network container:X`), named by the joiner, holding X's id.
/// Not under `<state>/netns`, whose entries are the pins.
fn joiners_dir(state: &Path) -> PathBuf {
    state.join("netns-joiners")
}

/// Record that container `joiner` is about to join `owner`'s namespace
/// (before its process starts: a crash after this leaves a record that
/// `dies_with_pin` checks and drops, never a missed joiner).
pub fn record_joiner(state: &Path, joiner: &str, owner: &str) -> Result<(), NetnsError> {
    let d = joiners_dir(state);
    std::fs::create_dir_all(&d).map_err(io("create", &d))?;
    let p = d.join(joiner);
    // one small write, done before the joiner's process exists: a crash that
    // cuts it short also means no joiner is in the namespace
    std::fs::write(&p, owner).map_err(io("write", &p))
}

/// Drop `joiner`'s record (its release); missing is fine.
pub fn forget_joiner(state: &Path, joiner: &str) {
    let d = joiners_dir(state);
    if std::fs::remove_file(d.join(joiner)).is_ok() {
        // the directory goes with its last record (an error: not empty)
        let _ = std::fs::remove_dir(&d);
    }
}

/// Whether unpinning container `id`'s namespace frees it: no process is in
/// it (the container's have exited and no `--network container:` peer
/// joined it). The kernel then deletes its interfaces -- a veth with both
/// ends -- as it frees the namespace, in its own worker: the caller need not
/// delete them itself, which costs a synchronize_net (5-20 ms) each.
/// Called after the container's own processes are gone (its exit), so only
/// the joiners berth recorded are asked: each one's recorded init pid, whose
/// namespace must be the pin's (a pid reused by a stranger is not in it).
/// O(joiners), not a walk of /proc: usually there is no joiner record at all.
/// (A record goes with its joiner's release, at its exit or its removal.)
/// Unsure (no pin, an unreadable record): false. `pid_of` gives a joiner's live init pid.
pub fn dies_with_pin(state: &Path, id: &str, pid_of: impl Fn(&str) -> Option<i32>) -> bool {
    use std::os::unix::fs::MetadataExt;
    // the pin is a bind mount of the namespace's nsfs file: same inode
    let Ok(pin) = std::fs::metadata(path(state, id)) else {
        return false;
    };
    let d = joiners_dir(state);
    let rd = match std::fs::read_dir(&d) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return true,
        Err(_) => return false,
    };
    for e in rd.flatten() {
        let Ok(owner) = std::fs::read_to_string(e.path()) else {
            return false;
        };
        if owner.trim() != id {
            continue;
        }
        let Some(joiner) = e.file_name().to_str().map(str::to_string) else {
            return false;
        };
        let inside = pid_of(&joiner).is_some_and(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|m| m.ino() == pin.ino() && m.dev() == pin.dev())
        });
        if inside {
            return false;
        }
    }
    true
}

/// Unmount and remove `<state>/netns` when no pin is left in it (no mount
/// of berth's outlives its last container): what a crash between a last
/// pin's removal and its directory's left (thorough scans ask).
pub fn cleanup_dir(state: &Path) {
    let d = dir(state);
    // any entry at all (not the list)
    if std::fs::read_dir(&d).is_ok_and(|mut rd| rd.next().is_some()) {
        return;
    }
    unmount_dir(state);
    let _ = std::fs::remove_dir(&d);
}

/// Lazily unmount `<state>/netns` (the pins under it go with it) if it is
/// mounted.
fn unmount_dir(state: &Path) {
    if let Ok(d) = std::fs::canonicalize(dir(state)) {
        if is_mountpoint(&d) {
            let _ = umount2(&d, MntFlags::MNT_DETACH);
        }
    }
}

/// Whether `id`'s pin is the only entry of `<state>/netns`: two entries
/// read at most (one directory read of a few dozen, not the whole list).
fn only_pin(state: &Path, id: &str) -> bool {
    let Ok(rd) = std::fs::read_dir(dir(state)) else {
        return false;
    };
    let mut first = rd.filter_map(|e| e.ok()).take(2);
    match (first.next(), first.next()) {
        (Some(e), None) => e.file_name() == id,
        _ => false,
    }
}

/// The pinned namespaces (container ids) under `<state>/netns`.
pub fn list(state: &Path) -> Vec<String> {
    std::fs::read_dir(dir(state))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Run `f` in a thread that joined the network namespace at `ns` (a pin or
/// /proc/PID/ns/net); sockets it opens stay in that namespace.
pub fn enter<T: Send + 'static>(
    ns: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, NetnsError> {
    let file = File::open(ns).map_err(io("open", ns))?;
    let p = ns.to_path_buf();
    std::thread::spawn(move || -> Result<T, NetnsError> {
        setns(file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(sys("setns", &p))?;
        Ok(f())
    })
    .join()
    .map_err(|_| NetnsError::Thread)?
}
