//! `system reset` (podman's verb): remove everything of one berth root, and
//! the root and state directories themselves, so that nothing of it stays on
//! the host (its containers' processes, veths, bridges, firewall rules,
//! subnet claims, cgroup parents). The next command makes the root anew.
//!
//! Every removal goes through the library that owns it (`container::remove`
//! as `rm -f -v`, `network::remove_all`, `VolumeStore::remove`, the build
//! cache's and the images' prune). A step that fails does not stop the
//! others; what it left is listed in [`Reset::left`], and the root and state
//! directories are then kept (their records are how a second run finds what
//! to remove), so a reset is safe to run again.

use crate::container::{self, ContainerStore, RemoveOptions};
use crate::context::Context;
use crate::volume::VolumeStore;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("system reset refused: the {what} directory {} is /", path.display())]
    IsSlash { what: &'static str, path: PathBuf },
    #[error(
        "system reset refused: the {what} directory {} is a mount point{}; berth does not remove \
         a filesystem it did not make (unmount it, or empty it by hand)",
        path.display(),
        resolved_note(path, real)
    )]
    MountPoint {
        what: &'static str,
        path: PathBuf,
        real: PathBuf,
    },
    #[error("system reset refused: the {what} directory {} is not a directory", path.display())]
    NotADirectory { what: &'static str, path: PathBuf },
    #[error("system reset: {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn resolved_note(path: &Path, real: &Path) -> String {
    if path == real {
        String::new()
    } else {
        format!(" ({})", real.display())
    }
}

/// The directories a reset removes, checked (see [`check`]).
#[derive(Debug, Clone)]
pub struct Targets {
    /// `(as configured, resolved)`; None when the directory does not exist.
    pub root: Option<(PathBuf, PathBuf)>,
    pub state: Option<(PathBuf, PathBuf)>,
}

/// Check that the root and state directories may be removed: neither is /
/// nor the mount point of a filesystem (a disk mounted at /var/lib/berth is
/// the user's, not berth's to remove). Checked before anything is removed,
/// so a refused reset changes nothing.
pub fn check(ctx: &Context) -> Result<Targets, ResetError> {
    Ok(Targets {
        root: check_dir("root", &ctx.root)?,
        state: check_dir("state", &ctx.state)?,
    })
}

fn check_dir(what: &'static str, dir: &Path) -> Result<Option<(PathBuf, PathBuf)>, ResetError> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ResetError::Io {
                op: "stat",
                path: dir.to_path_buf(),
                source: e,
            })
        }
        Ok(_) => {}
    }
    // Resolved: a root given as `/tmp/..` or a symlink to / is / too.
    let real = std::fs::canonicalize(dir).map_err(|e| ResetError::Io {
        op: "resolve",
        path: dir.to_path_buf(),
        source: e,
    })?;
    if real == Path::new("/") {
        return Err(ResetError::IsSlash {
            what,
            path: dir.to_path_buf(),
        });
    }
    if !real.is_dir() {
        return Err(ResetError::NotADirectory {
            what,
            path: dir.to_path_buf(),
        });
    }
    if crate::sys::mountinfo::is_mountpoint(&real) {
        return Err(ResetError::MountPoint {
            what,
            path: dir.to_path_buf(),
            real,
        });
    }
    Ok(Some((dir.to_path_buf(), real)))
}

/// What a reset removed, and what it could not.
#[derive(Debug, Default)]
pub struct Reset {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
    /// Image ids.
    pub images: Vec<String>,
    pub cache_objects: usize,
    pub cgroups: Vec<PathBuf>,
    pub dirs: Vec<PathBuf>,
    /// One line per thing still there, saying why; empty when all went.
    pub left: Vec<String>,
}

/// How long the reset waits for the processes of the root to end after its
/// containers are gone (the shims' exit hooks, which take the container's
/// lock the removal held, and a DNS responder): one still running after the
/// root's removal would make the root anew.
const PROCESS_WAIT: Duration = Duration::from_secs(10);

/// Remove everything of `ctx`'s root (see the module's comment). `targets`
/// from [`check`].
pub fn reset(ctx: &Context, targets: &Targets) -> Reset {
    let mut out = Reset::default();
    // Without a root there is nothing in its stores; opening them would
    // only make it anew (a second reset in a row).
    if targets.root.is_some() {
        remove_containers(ctx, &mut out);
        match crate::network::remove_all(ctx) {
            Ok(r) => {
                out.networks = r.removed;
                out.left.extend(r.left);
            }
            Err(e) => out.left.push(format!("networks: {e}")),
        }
        remove_volumes(ctx, &mut out);
        remove_images(ctx, &mut out);
    }
    // the pins' directory is a mount of its own under the state directory
    crate::network::netns::cleanup_dir(&ctx.state);
    let procs = wait_for_processes(ctx, targets, PROCESS_WAIT);
    if !procs.is_empty() {
        out.left
            .push(format!("processes of this root: {}", procs.join("; ")));
    }
    remove_cgroup_parent(ctx, &mut out);
    if out.left.is_empty() {
        remove_dirs(ctx, &mut out);
    } else {
        out.left.push(
            "the root and state directories (kept while the above is: its records \
             are how `system reset` finds it again)"
                .into(),
        );
    }
    out
}

/// Every container, as `rm -f -v` (running ones killed, their networks
/// released, their ports' rules gone).
fn remove_containers(ctx: &Context, out: &mut Reset) {
    let store = match ContainerStore::open(ctx) {
        Ok(s) => s,
        Err(e) => {
            out.left.push(format!("containers: {e}"));
            return;
        }
    };
    let ids = match store.ids() {
        Ok(ids) => ids,
        Err(e) => {
            out.left.push(format!("containers: {e}"));
            return;
        }
    };
    let opts = RemoveOptions {
        force: true,
        volumes: true,
    };
    for id in ids {
        match container::remove::remove_by_name(ctx, &store, &id, opts) {
            Ok(()) => out.containers.push(id),
            // removed meanwhile by someone else
            Err(container::LifecycleError::Store(container::ContainerError::NotFound(_))) => {}
            Err(e) => out.left.push(format!("container {id}: {e}")),
        }
    }
    // what killed creates and removals left
    store.clean();
    container::remove::sweep_orphan_shim_dirs(ctx, &store);
}

fn remove_volumes(ctx: &Context, out: &mut Reset) {
    let vols = match VolumeStore::open(ctx).and_then(|s| s.list().map(|l| (s, l))) {
        Ok(v) => v,
        Err(e) => {
            out.left.push(format!("volumes: {e}"));
            return;
        }
    };
    let (store, list) = vols;
    for v in list {
        let users = crate::volume::users(ctx, &v.name);
        match store.remove(&v.name, &users) {
            Ok(()) => out.volumes.push(v.name),
            Err(e) => out.left.push(format!("volume {}: {e}", v.name)),
        }
    }
}

/// The build cache, then every image (the cache first: the images' gc then
/// takes the layers only the cache kept, as `system prune -a` does).
fn remove_images(ctx: &Context, out: &mut Reset) {
    let all = crate::build::cache::PruneOptions {
        all: true,
        until: None,
        keep_storage: None,
    };
    match crate::build::prune(ctx, &all) {
        Ok(n) => out.cache_objects = n,
        Err(e) => out.left.push(format!("build cache: {e}")),
    }
    match super::prune::prune_images(ctx, true, &Default::default()) {
        Ok(p) => out.images = p.deleted,
        Err(e) => out.left.push(format!("images: {e}")),
    }
    match crate::store::ImageStore::open(&ctx.root).and_then(|s| s.list()) {
        Ok(l) if !l.is_empty() => out.left.push(format!(
            "images: {} still used: {}",
            l.len(),
            l.iter()
                .map(|r| crate::image::reference::familiar(&r.name))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Ok(_) => {}
        Err(e) => out.left.push(format!("images: {e}")),
    }
}

/// The processes (other than this one) started for this root: berth
/// commands and hooks with its `--root`/`--state`, shims with a `--dir`
/// under its state. Waits up to `wait` for them to end; returns those left
/// ("pid argv").
fn wait_for_processes(ctx: &Context, targets: &Targets, wait: Duration) -> Vec<String> {
    let mut roots = vec![ctx.root.clone()];
    let mut states = vec![ctx.state.clone()];
    roots.extend(targets.root.iter().map(|(_, r)| r.clone()));
    states.extend(targets.state.iter().map(|(_, r)| r.clone()));
    let end = Instant::now() + wait;
    loop {
        let left = processes_of(&roots, &states);
        if left.is_empty() || Instant::now() >= end {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn processes_of(roots: &[PathBuf], states: &[PathBuf]) -> Vec<String> {
    let me = std::process::id().to_string();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_berth = argv
            .first()
            .and_then(|a| Path::new(a).file_name())
            .is_some_and(|n| n.to_string_lossy().starts_with("berth"));
        if !is_berth {
            continue;
        }
        let ours = argv.windows(2).any(|w| {
            let p = Path::new(&w[1]);
            match w[0].as_str() {
                "--root" => roots.iter().any(|r| p == r),
                "--state" => states.iter().any(|s| p == s),
                "--dir" => states.iter().any(|s| p.starts_with(s)),
                _ => false,
            }
        });
        if ours {
            out.push(format!("{pid} {}", argv.join(" ")));
        }
    }
    out
}

/// The cgroup mount points (every v1 hierarchy and the v2 one): whole
/// hierarchies only (a mount of a sub-tree, as in a cgroup namespace, does
/// not hold the parent at its top).
fn cgroup_mounts() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for e in crate::sys::mountinfo::entries(&crate::sys::mountinfo::read().unwrap_or_default()) {
        if matches!(e.fstype, "cgroup" | "cgroup2") && e.root == "/" {
            let mp = e.point();
            if !out.contains(&mp) {
                out.push(mp);
            }
        }
    }
    out
}

/// rmdir the root's cgroup parent in every hierarchy, its empty children
/// first (what a crashed container left). Only berth's own parent
/// (`/berth`, `/berth-<hash>`): a configured `cgroup-parent` is the user's.
/// rmdir never removes a cgroup with a process in it (EBUSY): such a
/// cgroup stays and is named in `left`.
fn remove_cgroup_parent(ctx: &Context, out: &mut Reset) {
    if ctx.settings.cgroup_parent.is_some() {
        return;
    }
    let parent = ctx.cgroup_parent();
    let rel = parent.trim_start_matches('/');
    for m in cgroup_mounts() {
        let dir = m.join(rel);
        if !dir.is_dir() {
            continue;
        }
        match rmdir_tree(&dir) {
            Ok(()) => out.cgroups.push(dir),
            Err(e) => out.left.push(format!(
                "cgroup {}: {e} (a process is in it)",
                dir.display()
            )),
        }
    }
}

/// rmdir `dir` and the directories below it, deepest first. Never removes
/// a file: a cgroup's files go with its rmdir, and anything else is kept.
fn rmdir_tree(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)?.flatten() {
        // file_type() does not follow symlinks
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            rmdir_tree(&e.path())?;
        }
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Remove the state, then the root directory: not while anything is
/// mounted below (the removal would go into that filesystem), and without
/// following a symlink in them (std's remove_dir_all unlinks a symlink, it
/// does not descend through it). A root given as a symlink: its target
/// goes, then the link (left dangling, it would stop the next command from
/// making the root anew).
///
/// Checked again as [`check`] does: a step may have made the state
/// directory (or a late hook the root) since.
fn remove_dirs(ctx: &Context, out: &mut Reset) {
    for (what, dir) in [("state", &ctx.state), ("root", &ctx.root)] {
        let (given, real) = match check_dir(what, dir) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(e) => {
                out.left.push(e.to_string());
                continue;
            }
        };
        let (given, real) = (&given, &real);
        let mounts = crate::sys::mountinfo::mounts_under(real);
        if !mounts.is_empty() {
            out.left.push(format!(
                "{}: still mounted below it: {}",
                given.display(),
                mounts
                    .iter()
                    .map(|m| m.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            continue;
        }
        if let Err(e) = crate::store::remove_tree(real) {
            out.left.push(format!("{}: {e}", real.display()));
            continue;
        }
        if given != real && std::fs::symlink_metadata(given).is_ok_and(|m| m.is_symlink()) {
            if let Err(e) = std::fs::remove_file(given) {
                out.left.push(format!("{}: {e}", given.display()));
                continue;
            }
        }
        out.dirs.push(given.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(root: &Path, state: &Path) -> Context {
        Context::new(root.to_path_buf(), state.to_path_buf())
    }

    /// / (also through `..` or a symlink) and a mount point are refused
    /// before anything is removed; a missing directory is nothing to do.
    #[test]
    fn refuses_slash_and_mount_points() {
        let base = std::env::temp_dir().join(format!("berth-reset-{}", std::process::id()));
        std::fs::create_dir_all(base.join("state")).unwrap();
        let slash_link = base.join("slash");
        let _ = std::fs::remove_file(&slash_link);
        std::os::unix::fs::symlink("/", &slash_link).unwrap();
        let up = base.join("..").join("..").join("..").join("..");
        for root in [Path::new("/"), slash_link.as_path(), up.as_path()] {
            let e = check(&ctx(root, &base.join("state"))).unwrap_err();
            assert!(matches!(e, ResetError::IsSlash { what: "root", .. }), "{e}");
        }
        let e = check(&ctx(&base.join("root"), Path::new("/proc"))).unwrap_err();
        assert!(
            matches!(e, ResetError::MountPoint { what: "state", .. }),
            "{e}"
        );
        assert!(e.to_string().contains("mount point"), "{e}");
        let t = check(&ctx(&base.join("missing"), &base.join("state"))).unwrap();
        assert!(t.root.is_none());
        assert_eq!(
            t.state.unwrap().1,
            base.join("state").canonicalize().unwrap()
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    /// rmdir_tree removes empty directories and keeps a file (and the
    /// directories holding it): it is no recursive removal.
    #[test]
    fn rmdir_tree_keeps_files() {
        let base = std::env::temp_dir().join(format!("berth-rmdir-{}", std::process::id()));
        std::fs::create_dir_all(base.join("a/b/c")).unwrap();
        std::fs::create_dir_all(base.join("d")).unwrap();
        std::fs::write(base.join("d/keep"), "x").unwrap();
        assert!(rmdir_tree(&base).is_err());
        assert!(!base.join("a").exists(), "empty dirs go");
        assert!(base.join("d/keep").exists(), "a file stays");
        std::fs::remove_file(base.join("d/keep")).unwrap();
        rmdir_tree(&base).unwrap();
        assert!(!base.exists());
    }
}
