//! The leak census: everything one test's berth (its `--root` and state dir) can
//! leave on the host, counted from the host's side (not from what berth says), so
//! that fault, load and limit tests can assert that nothing remains after an
//! operation, a kill -9 or a full disk.
//!
//! Counted: mounts under the root and state dir; cgroups under the root's cgroup
//! parent (`berth-<8 hex>` in every hierarchy); live processes that carry this
//! state dir in their environment (berth, shims, exit hooks) or sit in one of those
//! cgroups (containers); container lock files without their container; half-made
//! temp entries (`.tmp-...`) in the stores; runtime state and shim directories
//! without their container; pinned network namespaces; veths of this root's
//! containers, its default bridge and its nftables table.

use crate::host::{self, dir_names as names};
use crate::manager::Berth;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What one berth has on the host right now.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Census {
    pub mounts: Vec<String>,
    pub cgroups: Vec<String>,
    pub processes: Vec<String>,
    pub orphan_locks: Vec<String>,
    pub temps: Vec<String>,
    pub runtime_state: Vec<String>,
    pub netns: Vec<String>,
    pub veths: Vec<String>,
    pub bridges: Vec<String>,
    pub nft_tables: Vec<String>,
    pub bpf_pins: Vec<String>,
}

/// The FNV tag berth gives a non-default root (bridge `bb<tag>`, table `berth_<tag>`).
pub fn root_tag(root: &Path) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for c in root.as_os_str().as_encoded_bytes() {
        h ^= *c as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{:08x}", h as u32)
}

/// The cgroup parent of a private root's containers (`berth-<8 hex of sha256(root)>`).
pub fn cgroup_parent(root: &Path) -> String {
    format!(
        "berth-{}",
        &crate::images::sha256_hex(root.as_os_str().as_encoded_bytes())[..8]
    )
}

/// Every directory below `dir` (not `dir` itself), depth first.
fn subdirs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(e.path());
            subdirs(&e.path(), out);
        }
    }
}

/// The live (non-zombie) pids listed in a cgroup directory's procs files.
fn cgroup_pids(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter(|p| host::alive(*p))
        .collect()
}

impl Census {
    /// Count what `b` has on the host now.
    pub fn take(b: &Berth) -> Census {
        let root = b.root();
        let state = b.state();
        let mut c = Census::default();
        for dir in [root, state] {
            // a filesystem mounted as the store itself (a test's small tmpfs) is
            // the test's, not berth's
            for m in crate::sys::mounts_under(dir)
                .into_iter()
                .filter(|m| Path::new(&m.mount_point) != dir)
            {
                c.mounts.push(format!("{} ({})", m.mount_point, m.fs_type));
            }
        }
        // cgroups: the root's parent in each hierarchy, with whatever is below it.
        let parent = cgroup_parent(root);
        let mut pids: BTreeSet<i32> = BTreeSet::new();
        for p in host::cgroup_dirs(&parent) {
            let mut dirs = Vec::new();
            subdirs(&p, &mut dirs);
            for d in dirs {
                pids.extend(cgroup_pids(&d));
                c.cgroups.push(d.display().to_string());
            }
            pids.extend(cgroup_pids(&p));
        }
        // processes: berth, shims and hooks inherit BERTH_STATE from the harness.
        let marker = format!("BERTH_STATE={}", state.display());
        pids.extend(crate::sys::pids_with_env(&marker));
        for p in pids {
            if host::alive(p) {
                c.processes.push(format!("{p} {}", host::cmdline(p)));
            }
        }
        // lock files whose container is gone
        let cdir = root.join("containers");
        for id in names(&cdir.join(".locks")) {
            if !cdir.join(&id).join("container.json").is_file() {
                c.orphan_locks.push(id);
            }
        }
        // half-made entries of every store (container dirs, snapshots, blobs, volumes)
        let mut stack = vec![(root.to_path_buf(), 0)];
        while let Some((d, depth)) = stack.pop() {
            for n in names(&d) {
                let p = d.join(&n);
                if n.starts_with(".tmp-") || n.ends_with(".tmp") {
                    c.temps.push(p.display().to_string());
                } else if depth < 3
                    && n != "fs"
                    && n != "rootfs"
                    && n != "_data"
                    && std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir())
                {
                    stack.push((p, depth + 1));
                }
            }
        }
        // the runtime's state and the shims' dirs for containers that do not exist
        for id in names(&state.join("runtime")) {
            if !id.starts_with('@') && !cdir.join(&id).is_dir() {
                c.runtime_state.push(id);
            }
        }
        let ids = names(&cdir);
        for id in names(&state.join("containers")) {
            // named by the id, or its first 16 digits under a long state path
            if !ids.iter().any(|i| i.len() == 64 && i.starts_with(&id)) {
                let files = names(&state.join("containers").join(&id));
                c.runtime_state.push(format!("shim dir {id} {files:?}"));
            }
        }
        for n in names(&state.join("netns")) {
            if !cdir.join(&n).is_dir() {
                c.netns.push(n);
            }
        }
        // links: veths of containers that no longer exist, the default bridge
        // once no container is left, and the nft table likewise.
        let live: Vec<String> = names(&cdir).into_iter().filter(|n| n.len() == 64).collect();
        let tag = root_tag(root);
        let bridge = format!("bb{tag}");
        for name in host::ports_of(&bridge) {
            if name.starts_with("veth")
                && !live
                    .iter()
                    .any(|id| name.starts_with(&format!("veth{}", &id[..8])))
            {
                c.veths.push(name);
            }
        }
        if live.is_empty() && host::bridges().contains_key(&bridge) {
            c.bridges.push(bridge.clone());
        }
        let table = format!("berth_{tag}");
        if live.is_empty() {
            for (family, name) in host::nft_tables() {
                if name == table {
                    c.nft_tables.push(format!("table {family} {name}"));
                }
            }
            // the socket redirect goes with the last published port
            for pin in host::bpf_redirect_pins(&table) {
                c.bpf_pins
                    .push(format!("{}/{table}/{pin}", host::BPF_REDIRECT_DIR));
            }
        }
        // redirects to addresses no live container of this root has
        let redirects = host::bpf_redirects(&table);
        if !redirects.is_empty() {
            let mut addrs: Vec<String> = Vec::new();
            // the live containers' endpoint records (`<root>/networks/<net>/
            // endpoints/<id>.json`) hold their addresses
            for net in names(&root.join("networks")) {
                for id in &live {
                    let ep = root
                        .join("networks")
                        .join(&net)
                        .join("endpoints")
                        .join(format!("{id}.json"));
                    if let Ok(t) = std::fs::read_to_string(ep) {
                        addrs.push(t);
                    }
                }
            }
            for (hp, ip, cp) in redirects {
                let needle = format!("\"{ip}\"");
                if !addrs.iter().any(|t| t.contains(&needle)) {
                    c.bpf_pins.push(format!(
                        "redirect 127.0.0.1:{hp} -> {ip}:{cp} (no live container)"
                    ));
                }
            }
        }
        c
    }

    /// What is left, one line per kind; empty when nothing is.
    pub fn problems(&self) -> Vec<String> {
        problems_of(&[
            ("mounts", &self.mounts),
            ("cgroups", &self.cgroups),
            ("processes", &self.processes),
            ("orphan lock files", &self.orphan_locks),
            ("half-made temp entries", &self.temps),
            ("runtime state without a container", &self.runtime_state),
            ("pinned netns without a container", &self.netns),
            ("veths without a container", &self.veths),
            ("bridges with no container left", &self.bridges),
            ("nft tables with no container left", &self.nft_tables),
            ("socket redirects (bpffs) of no container", &self.bpf_pins),
        ])
    }

    pub fn is_clean(&self) -> bool {
        self.problems().is_empty()
    }
}

/// One line per non-empty kind of leftover, named by `what`.
pub(crate) fn problems_of(kinds: &[(&str, &Vec<String>)]) -> Vec<String> {
    kinds
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(what, v)| format!("{what}: {v:?}"))
        .collect()
}

/// Assert that `b` left nothing on the host (see [`Census`]); `ctx` names the
/// scenario in the failure. Waits up to 10 s for exit hooks still finishing.
#[track_caller]
pub fn assert_clean(b: &Berth, ctx: &str) {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let c = Census::take(b);
        if c.is_clean() {
            return;
        }
        if std::time::Instant::now() >= end {
            panic!("{ctx}: leaks:\n  {}", c.problems().join("\n  "));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
