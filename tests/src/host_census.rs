//! The host-wide census: berth objects whose root is gone (or that belong to
//! this test run's roots, all deleted at its end), found from the host's side.
//! [`crate::census`] counts what one live berth left; this one looks for what
//! nobody can clean any more, or what only a sweep by a later berth command
//! would find: the end-of-run check of tests/run.sh (`berth-census`) and the
//! sweep tests use it.
//!
//! An object's root is known from its subnet claim (`/run/berth-subnets`,
//! naming root, network, bridge and firewall table), from the bridge's label
//! (its ifalias, `berth root=<path>`), or from its name (`bb<tag>`,
//! `berth_<tag>`: the FNV tag of a root of this run, see
//! [`crate::census::root_tag`]). Objects of live roots that are not this run's
//! are never counted (other work on the same host). A berth-named bridge or
//! table that nothing names (`bb<8 hex>`, `berth_<8 hex>`) is counted as
//! well: a live root's always has its claim. A `br-<12 hex>` bridge without
//! claim or label is left alone: docker names its bridges so too.

use crate::census::{cgroup_parent, root_tag};
use crate::host::{self, dir_names};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const CLAIMS: &str = "/run/berth-subnets";

/// The prefix of the label berth puts on its bridges (IFLA_IFALIAS).
pub const LABEL: &str = "berth root=";

/// One subnet claim.
#[derive(Debug, Clone)]
pub struct Claim {
    pub file: PathBuf,
    pub root: PathBuf,
    pub net_id: String,
    pub bridge: Option<String>,
    pub table: Option<String>,
}

/// Every claim in /run/berth-subnets.
pub fn claims() -> Vec<Claim> {
    let Ok(rd) = std::fs::read_dir(CLAIMS) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        let mut l = text.lines();
        let (Some(root), Some(id)) = (l.next(), l.next()) else {
            continue;
        };
        out.push(Claim {
            file: e.path(),
            root: root.into(),
            net_id: id.into(),
            bridge: l.next().map(str::to_string),
            table: l.next().map(str::to_string),
        });
    }
    out
}

/// The claim file for a v4 subnet ("172.19.0.0/16").
pub fn claim_file(subnet: &str) -> PathBuf {
    Path::new(CLAIMS).join(subnet.replace('/', "_"))
}

pub use crate::host::{bridges, ports_of};

/// berth's nftables tables on the host: "ip berth_1234abcd", ...
pub fn nft_tables() -> Vec<(String, String)> {
    host::nft_tables()
        .into_iter()
        .filter(|(_, name)| berth_table_name(name))
        .collect()
}

/// berth's iptables/ip6tables chains: (tool, table, chain), the chain named
/// `<berth table>-<pre|out|post|pub|fwd>`.
pub fn iptables_chains() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for tool in ["iptables-save", "ip6tables-save"] {
        let mut table = String::new();
        for l in host::command_out(tool, &[]).lines() {
            if let Some(t) = l.strip_prefix('*') {
                table = t.to_string();
            } else if let Some(c) = l.strip_prefix(':') {
                let chain = c.split_whitespace().next().unwrap_or("");
                if chain
                    .rsplit_once('-')
                    .is_some_and(|(t, _)| berth_table_name(t))
                {
                    out.push((tool.to_string(), table.clone(), chain.to_string()));
                }
            }
        }
    }
    out
}

/// "berth" or "berth_<8 hex>" (`network::table_name`).
pub fn berth_table_name(name: &str) -> bool {
    name == "berth" || name.strip_prefix("berth_").is_some_and(hex8)
}

/// "berth0" or "bb<8 hex>" (`network::default_bridge_name`).
fn berth_default_bridge(name: &str) -> bool {
    name == "berth0" || name.strip_prefix("bb").is_some_and(hex8)
}

fn hex8(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What berth objects of gone roots (or of this run's roots) are on the host.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HostCensus {
    pub bridges: Vec<String>,
    pub veths: Vec<String>,
    pub nft_tables: Vec<String>,
    pub iptables_chains: Vec<String>,
    pub claims: Vec<String>,
    pub mounts: Vec<String>,
    pub processes: Vec<String>,
    pub cgroups: Vec<String>,
    /// Socket-redirect pins (`/sys/fs/bpf/berth/<table>`) of gone roots.
    pub bpf_pins: Vec<String>,
}

impl HostCensus {
    /// Count now. `run_dirs`: the roots and state dirs of this run (deleted
    /// or about to be): their objects count even if a directory is still there.
    /// Objects of other gone roots, and berth-named ones that nothing names,
    /// count too.
    pub fn take(run_dirs: &[PathBuf]) -> HostCensus {
        Self::count(run_dirs, false)
    }

    /// Count only the objects of `dirs` (a test's own roots: other work on
    /// the host cannot fail it).
    pub fn of(dirs: &[PathBuf]) -> HostCensus {
        Self::count(dirs, true)
    }

    fn count(run_dirs: &[PathBuf], only_these: bool) -> HostCensus {
        let dead =
            |p: &Path| run_dirs.iter().any(|d| p.starts_with(d)) || (!only_these && !p.exists());
        let mut c = HostCensus::default();
        let claims = claims();
        // the run's roots by tag, for objects named after them
        let tags: BTreeMap<String, &PathBuf> = run_dirs.iter().map(|d| (root_tag(d), d)).collect();
        let owner_of_table = |t: &str| -> Option<PathBuf> {
            claims
                .iter()
                .find(|c| c.table.as_deref() == Some(t))
                .map(|c| c.root.clone())
                .or_else(|| {
                    t.strip_prefix("berth_")
                        .and_then(|tag| tags.get(tag))
                        .map(|d| d.to_path_buf())
                })
        };
        for cl in &claims {
            if dead(&cl.root) {
                c.claims.push(format!(
                    "{} (root {}, bridge {})",
                    cl.file.display(),
                    cl.root.display(),
                    cl.bridge.as_deref().unwrap_or("?")
                ));
            }
        }
        for (name, label) in bridges() {
            let owner: Option<PathBuf> = label
                .strip_prefix(LABEL)
                .map(PathBuf::from)
                .or_else(|| {
                    claims
                        .iter()
                        .find(|c| c.bridge.as_deref() == Some(name.as_str()))
                        .map(|c| c.root.clone())
                })
                .or_else(|| {
                    name.strip_prefix("bb")
                        .and_then(|tag| tags.get(tag))
                        .map(|d| d.to_path_buf())
                });
            let leaked = match &owner {
                Some(root) => dead(root),
                None => !only_these && berth_default_bridge(&name),
            };
            if leaked {
                let who = owner.map_or("nothing names it".into(), |r| {
                    format!("root {}", r.display())
                });
                c.bridges.push(format!("{name} ({who})"));
                c.veths.extend(ports_of(&name));
            }
        }
        for (family, name) in nft_tables() {
            let leaked = owner_of_table(&name).map_or(!only_these, |r| dead(&r));
            if leaked {
                c.nft_tables.push(format!("{family} {name}"));
            }
        }
        for table in host::bpf_redirect_tables() {
            let leaked = owner_of_table(&table)
                .map_or(!only_these && berth_table_name(&table), |r| dead(&r));
            if leaked {
                let n = host::bpf_redirects(&table).len();
                c.bpf_pins.push(format!(
                    "{}/{table} ({n} redirects)",
                    host::BPF_REDIRECT_DIR
                ));
            }
        }
        for (tool, table, chain) in iptables_chains() {
            let berth_table = chain.rsplit_once('-').map_or("", |(t, _)| t);
            if owner_of_table(berth_table).map_or(!only_these, |r| dead(&r)) {
                c.iptables_chains.push(format!("{tool} {table} {chain}"));
            }
        }
        // mounts: under a run dir or a gone berth-e2e dir (netns pins,
        // rootfs overlays), or under /run/berth* for no container of the
        // default root
        let default_ids = dir_names(Path::new("/var/lib/berth/containers"));
        for m in crate::sys::host_mounts() {
            let mp = Path::new(&m.mount_point);
            let ours = run_dirs.iter().any(|d| mp.starts_with(d))
                || (!only_these && m.mount_point.contains("/berth-e2e-") && !mp.exists());
            let in_run_berth = !only_these
                && m.mount_point.starts_with("/run/berth")
                && !mp
                    .components()
                    .any(|p| default_ids.iter().any(|i| p.as_os_str() == i.as_str()));
            if ours || in_run_berth {
                c.mounts.push(format!("{} ({})", m.mount_point, m.fs_type));
            }
        }
        // processes: berth's (manager, responder, exit hook: `--root`/
        // `--state`; shim: `--dir`) whose directories are gone or the run's
        for pid in host::live_pids() {
            let Some(argv) = host::argv(pid) else {
                continue;
            };
            let is_berth = argv
                .first()
                .and_then(|a| Path::new(a).file_name())
                .is_some_and(|n| n.to_string_lossy().starts_with("berth"));
            if !is_berth {
                continue;
            }
            // A relative directory is the process's own cwd's (a runtime
            // started by hand with `--root s-d`), not the census's.
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
            let gone = argv.windows(2).any(|w| {
                if !matches!(w[0].as_str(), "--root" | "--state" | "--dir") {
                    return false;
                }
                let dir = Path::new(&w[1]);
                match (&cwd, dir.is_relative()) {
                    (Some(cwd), true) => dead(&cwd.join(dir)),
                    (None, true) => false,
                    (_, false) => dead(dir),
                }
            });
            if gone {
                c.processes
                    .push(format!("{pid} {}", argv.join(" ").trim_end()));
            }
        }
        // cgroups of the run's roots' containers
        for d in run_dirs {
            let parent = cgroup_parent(d);
            for p in host::cgroup_dirs(&parent) {
                if p.is_dir() {
                    c.cgroups.push(p.display().to_string());
                }
            }
        }
        c
    }

    /// What is left, one line per kind; empty when nothing is.
    pub fn problems(&self) -> Vec<String> {
        crate::census::problems_of(&[
            ("bridges", &self.bridges),
            ("veths on them", &self.veths),
            ("nft tables", &self.nft_tables),
            ("iptables chains", &self.iptables_chains),
            ("subnet claims", &self.claims),
            ("mounts", &self.mounts),
            ("processes", &self.processes),
            ("cgroups", &self.cgroups),
            ("socket redirects (bpffs)", &self.bpf_pins),
        ])
    }

    pub fn is_clean(&self) -> bool {
        self.problems().is_empty()
    }

    /// The objects counted both here and in `other` (a leak stays; an object
    /// of a root being torn down right now does not).
    pub fn common(&self, other: &HostCensus) -> HostCensus {
        let both = |a: &Vec<String>, b: &Vec<String>| -> Vec<String> {
            a.iter().filter(|x| b.contains(x)).cloned().collect()
        };
        HostCensus {
            bridges: both(&self.bridges, &other.bridges),
            veths: both(&self.veths, &other.veths),
            nft_tables: both(&self.nft_tables, &other.nft_tables),
            iptables_chains: both(&self.iptables_chains, &other.iptables_chains),
            claims: both(&self.claims, &other.claims),
            mounts: both(&self.mounts, &other.mounts),
            processes: both(&self.processes, &other.processes),
            cgroups: both(&self.cgroups, &other.cgroups),
            bpf_pins: both(&self.bpf_pins, &other.bpf_pins),
        }
    }
}

/// Run one berth sweep (`network prune` in a throwaway root: it repairs and
/// sweeps what gone roots left, and makes nothing of its own), as the next
/// berth command on the host would.
pub fn sweep() {
    let root = crate::sys::TempDir::new("sweep-root");
    let state = crate::sys::TempDir::new("sweep-state");
    let _ = Command::new(crate::manager::berth_bin())
        .arg("--root")
        .arg(root.path())
        .arg("--state")
        .arg(state.path())
        .args(["network", "prune", "-f"])
        .output();
}

/// A census after a sweep, repeated (sweep, wait, count) for up to `wait`
/// while something is found: what remains in every count is left over for
/// good (exit hooks and responders of a just-deleted root finish meanwhile).
/// `only_these`: count the objects of `run_dirs` only ([`HostCensus::of`]).
pub fn after_sweep_with(
    run_dirs: &[PathBuf],
    wait: std::time::Duration,
    only_these: bool,
) -> HostCensus {
    let end = std::time::Instant::now() + wait;
    sweep();
    let mut seen = HostCensus::count(run_dirs, only_these);
    while !seen.is_clean() && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(500));
        sweep();
        seen = seen.common(&HostCensus::count(run_dirs, only_these));
    }
    seen
}

/// Assert that nothing of `dirs` is left on the host after a sweep (waiting
/// up to 20 s for exit hooks, which start `berth` processes: seconds on a loaded
/// machine); `ctx` names the step in the failure.
#[track_caller]
pub fn assert_nothing_left(dirs: &[PathBuf], ctx: &str) {
    let c = after_sweep_with(dirs, std::time::Duration::from_secs(20), true);
    assert!(
        c.is_clean(),
        "{ctx}: left on the host:\n  {}",
        c.problems().join("\n  ")
    );
}

/// [`after_sweep_with`] counting everything of gone roots (the run's end).
pub fn after_sweep(run_dirs: &[PathBuf], wait: std::time::Duration) -> HostCensus {
    after_sweep_with(run_dirs, wait, false)
}

/// The dirs listed in a `BERTH_TEST_DIRS_LOG` file.
pub fn read_dirs_log(path: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .collect()
}
