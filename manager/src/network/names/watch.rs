//! How the DNS responder learns that its network's endpoint records
//! changed, and which ones: inotify on `<net>/endpoints` (and on `<net>`,
//! for the directory's creation). Every change of a record is a rename into
//! the directory or a removal from it, so the event names the one record to
//! re-read, and nothing is read while nothing changes. The kernel queues
//! the event in the writer's own rename, before the writer goes on to start
//! its container, so a question that follows a change (causally) finds its
//! event already queued: the responder drains the queue before it answers.
//!
//! Without inotify (no instance or watch could be had: a user's limits),
//! the directory's inode and mtime are compared instead, and any change
//! means a full re-read. An mtime has the clock tick's granularity, so a
//! change within the tick of the last read would not move it: a read is
//! trusted ("settled") only when the coarse clock had already passed the
//! mtime before the directory was looked at. The network's index file is
//! compared too (a full read takes it when its key matches the directory,
//! and a second change within one tick leaves that key matching while the
//! index still lists the first; its rewrite, a new inode, then shows).

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use nix::time::{clock_gettime, ClockId};
use std::collections::BTreeSet;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What changed since the last look.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// Re-read everything (the first look, a lost event, the directory
    /// made or gone, or no inotify).
    pub rescan: bool,
    /// The record files (names in the endpoints directory) to re-read.
    pub files: BTreeSet<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        !self.rescan && self.files.is_empty()
    }
}

pub struct Watch {
    ep_dir: PathBuf,
    how: How,
}

enum How {
    Inotify {
        fd: Inotify,
        net: WatchDescriptor,
        /// The endpoints directory's watch (None: it does not exist yet).
        eps: Option<WatchDescriptor>,
        /// Nothing read yet: the first look is a full one.
        first: bool,
    },
    Polled {
        /// The network's index file, if the full reads use it.
        index: Option<PathBuf>,
        /// The directory's inode and mtime and the index's identity at the
        /// last read (None: not there, or never read).
        seen: Option<Seen>,
        /// Whether a later change must move that mtime (see the module's doc).
        settled: bool,
    },
}

/// A directory's (or file's) inode, mtime and size (None: not there).
type Stamp = Option<(u64, i64, i64, u64)>;

/// What a polled watch compares: the directory's stamp and the index's.
type Seen = (Stamp, Stamp);

fn stamp(p: &Path) -> Stamp {
    std::fs::metadata(p)
        .ok()
        .map(|m| (m.ino(), m.mtime(), m.mtime_nsec(), m.size()))
}

/// What the endpoints directory's watch reports: records written (renamed
/// in, or written in place by hand), removed (or renamed away), and the
/// directory itself going.
fn ep_mask() -> AddWatchFlags {
    AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
        | AddWatchFlags::IN_ONLYDIR
}

/// A record's file: `<container id>.json`; temp files start with a dot.
pub fn is_record(name: &str) -> bool {
    name.ends_with(".json") && !name.starts_with('.')
}

impl Watch {
    /// Watch `<net_dir>/endpoints` (`index`: the network's index file, used
    /// by full reads). The first `changes` asks for a full read.
    pub fn new(net_dir: &Path, index: Option<&Path>) -> Watch {
        let ep_dir = net_dir.join("endpoints");
        match Self::inotify(net_dir, &ep_dir) {
            Some(how) => Watch { ep_dir, how },
            None => Watch::polled(net_dir, index),
        }
    }

    fn inotify(net_dir: &Path, ep_dir: &Path) -> Option<How> {
        let fd = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
        let net = fd
            .add_watch(
                net_dir,
                AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_ONLYDIR,
            )
            .ok()?;
        let eps = match fd.add_watch(ep_dir, ep_mask()) {
            Ok(wd) => Some(wd),
            Err(nix::Error::ENOENT) => None,
            Err(_) => return None,
        };
        Some(How::Inotify {
            fd,
            net,
            eps,
            first: true,
        })
    }

    /// A watch that compares the directory's mtime (what a responder does
    /// without inotify, and for its clients' other networks).
    pub fn polled(net_dir: &Path, index: Option<&Path>) -> Watch {
        Watch {
            ep_dir: net_dir.join("endpoints"),
            how: How::Polled {
                index: index.map(Path::to_path_buf),
                seen: None,
                settled: false,
            },
        }
    }

    /// Whether changes are followed record by record (inotify).
    pub fn is_precise(&self) -> bool {
        matches!(self.how, How::Inotify { .. })
    }

    /// The descriptor to poll for changes (None: polled by `changes`).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.how {
            How::Inotify { fd, .. } => Some(fd.as_fd()),
            How::Polled { .. } => None,
        }
    }

    /// What changed since the last call (never blocks).
    pub fn changes(&mut self) -> Changes {
        let mut out = Changes::default();
        match &mut self.how {
            How::Inotify {
                fd,
                net,
                eps,
                first,
            } => {
                out.rescan = std::mem::take(first);
                loop {
                    let events = match fd.read_events() {
                        Ok(ev) if !ev.is_empty() => ev,
                        Ok(_) | Err(nix::Error::EAGAIN) => break,
                        Err(nix::Error::EINTR) => continue,
                        // an unreadable queue: trust nothing
                        Err(_) => {
                            out.rescan = true;
                            break;
                        }
                    };
                    for ev in events {
                        let name = ev.name.as_ref().map(|n| n.to_string_lossy());
                        if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                            out.rescan = true;
                        } else if ev.wd == *net {
                            if name.as_deref() == Some("endpoints") {
                                *eps = fd.add_watch(&self.ep_dir, ep_mask()).ok();
                                out.rescan = true;
                            }
                        } else if Some(ev.wd) == *eps {
                            if ev.mask.intersects(
                                AddWatchFlags::IN_DELETE_SELF
                                    | AddWatchFlags::IN_MOVE_SELF
                                    | AddWatchFlags::IN_IGNORED,
                            ) {
                                if let Some(wd) = eps.take() {
                                    let _ = fd.rm_watch(wd);
                                }
                                out.rescan = true;
                            } else if let Some(n) = name.filter(|n| is_record(n)) {
                                out.files.insert(n.into_owned());
                            }
                        }
                    }
                }
                // a directory made between the net watch and the eps watch
                // (or re-made after it went): watch it now, and read it all
                if eps.is_none() && self.ep_dir.is_dir() {
                    *eps = fd.add_watch(&self.ep_dir, ep_mask()).ok();
                    out.rescan = true;
                }
            }
            How::Polled {
                index,
                seen,
                settled,
            } => {
                // the clock first: a change after it stamps a later mtime
                let now = clock_gettime(ClockId::CLOCK_REALTIME_COARSE).ok();
                let dir = stamp(&self.ep_dir);
                let key = (dir, index.as_deref().and_then(stamp));
                if *seen != Some(key) || !*settled {
                    out.rescan = true;
                    *seen = Some(key);
                    *settled = match (dir, now) {
                        (None, _) => true,
                        // a file system with whole seconds: trust it a
                        // second later
                        (Some((_, s, 0, _)), Some(now)) => s < now.tv_sec(),
                        (Some((_, s, ns, _)), Some(now)) => (s, ns) < (now.tv_sec(), now.tv_nsec()),
                        (Some(_), None) => false,
                    };
                }
            }
        }
        if out.rescan {
            out.files.clear();
        }
        out
    }

    /// `<net>/endpoints`.
    pub fn ep_dir(&self) -> &Path {
        &self.ep_dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("berth-watch-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Each change names its record; temp files and quiet periods name
    /// nothing; the directory made later is picked up.
    #[test]
    fn inotify_names_changed_records() {
        let net = dir("inotify");
        let mut w = Watch::new(&net, None);
        assert!(w.is_precise());
        assert!(w.changes().rescan, "the first look reads everything");
        assert!(w.changes().is_empty());

        let eps = net.join("endpoints");
        std::fs::create_dir(&eps).unwrap();
        assert!(w.changes().rescan, "the directory appeared");
        crate::store::replace_file(&eps.join("aaaa.json"), b"{}", false).unwrap();
        std::fs::write(eps.join("bbbb.json"), b"{}").unwrap();
        let c = w.changes();
        assert!(!c.rescan);
        assert_eq!(
            c.files.iter().collect::<Vec<_>>(),
            ["aaaa.json", "bbbb.json"]
        );
        assert!(w.changes().is_empty(), "nothing changed since");
        std::fs::remove_file(eps.join("aaaa.json")).unwrap();
        assert_eq!(
            w.changes().files.into_iter().collect::<Vec<_>>(),
            ["aaaa.json"]
        );
        std::fs::remove_dir_all(&eps).unwrap();
        assert!(w.changes().rescan, "the directory went");
        std::fs::create_dir(&eps).unwrap();
        assert!(w.changes().rescan, "and came back");
        std::fs::write(eps.join("cccc.json"), b"{}").unwrap();
        assert_eq!(
            w.changes().files.into_iter().collect::<Vec<_>>(),
            ["cccc.json"]
        );
        let _ = std::fs::remove_dir_all(net);
    }

    /// Without inotify: a change is seen, a quiet directory is read again
    /// only until its mtime is older than the clock.
    #[test]
    fn polled_settles() {
        let net = dir("polled");
        let eps = net.join("endpoints");
        std::fs::create_dir(&eps).unwrap();
        let mut w = Watch::polled(&net, Some(&net.join("index.json")));
        assert!(w.changes().rescan);
        std::thread::sleep(std::time::Duration::from_millis(30));
        // maybe once more (the first look may have been in the change's tick)
        let _ = w.changes();
        assert!(w.changes().is_empty(), "settled: no more reads");
        std::fs::write(eps.join("a.json"), b"{}").unwrap();
        assert!(w.changes().rescan, "a change is a full read");
        std::thread::sleep(std::time::Duration::from_millis(30));
        let _ = w.changes();
        assert!(w.changes().is_empty());
        // the index rewritten (a new file renamed in), the directory not
        std::fs::write(net.join(".index.tmp"), b"{}").unwrap();
        std::fs::rename(net.join(".index.tmp"), net.join("index.json")).unwrap();
        assert!(w.changes().rescan, "the index changed");
        std::thread::sleep(std::time::Duration::from_millis(30));
        let _ = w.changes();
        assert!(w.changes().is_empty());
        let _ = std::fs::remove_dir_all(net);
    }
}
