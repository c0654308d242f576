//! Endpoints: a container's addresses on its networks. `prepare` (before the
//! shim starts) makes the pinned namespace, allocates and wires an endpoint
//! per network, programs the firewall and writes the /etc files; `release`
//! (every exit) undoes it; `connect`/`disconnect` change a running container;
//! `repair` drops what a killed container or berth left behind.

use super::driver;
use super::firewall::{self, Bridge6, BridgeRules, Forward, Forward6, RuleSet};
use super::model::{Endpoint, Held, Network, PortMap, PublishedPort};
use super::names::files::{self, HostEntry};
use super::names::responder;
use super::store::{self, NetworkStore};
use super::{ipam, links, netns, ports, Mode, NetworkError};
use crate::container::{self, ContainerRecord, ContainerStore, EndpointSettings, NetworkMode};
use crate::context::Context;
use crate::timing;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Which network namespace the container uses.
#[derive(Debug, Clone, PartialEq)]
pub enum NsChoice {
    /// The host's (`--network host`).
    Host,
    /// A new one made by the runtime (`--network none`: only lo, up).
    New,
    /// Join this one (a berth pin, or another container's).
    Path(PathBuf),
}

/// What `prepare` did, for the spec.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub ns: NsChoice,
    /// Extra environment (legacy links' variables).
    pub env: Vec<String>,
}

/// Whether a container holds its endpoints: it runs, or a berth command holds
/// its lock (it is being started or stopped right now).
fn live(ctx: &Context, cs: &ContainerStore, id: &str) -> bool {
    if shim_alive(ctx, id) {
        return true;
    }
    let Ok(rec) = cs.load(id) else {
        return false;
    };
    if container::state(ctx, &rec).running {
        return true;
    }
    lock_is_held(&ctx.root.join("containers").join(".locks").join(id))
}

/// The fast path of `live`, run for every endpoint by every start and exit:
/// the container's shim runs (its `shim.pid`, "PID STARTTIME", written for
/// the shim's whole life, names a live process). Two small reads instead of
/// parsing the container's record and status, so a start costs about the
/// same with 1 or 100 containers on the network.
fn shim_alive(ctx: &Context, id: &str) -> bool {
    live_shim(ctx, id).is_some()
}

/// The container's live shim, as "PID STARTTIME" in its `shim.pid`.
fn live_shim(ctx: &Context, id: &str) -> Option<(i32, u64)> {
    let base = ctx.state.join("containers");
    // the shim's directory is the full id, or its first 16 characters when
    // the full path would make its sockets' names too long (record.rs)
    // the short one first: the common case, and one failed open less
    [base.join(&id[..id.len().min(16)]), base.join(id)]
        .iter()
        .find_map(|d| crate::container::state::live_shim(d))
}

/// How many of the containers the last scans found live each repair scan
/// asks again (see `LiveCache`): a constant, so that a start costs the same
/// with 1 or 100 containers on the network, while a shim killed with -9 (no
/// exit hook ran) is still found within about N/4 commands.
const RECHECK_PER_SCAN: usize = 4;

/// One container the scans found live: its shim ("PID STARTTIME") and its
/// endpoints' ids as they were then (comma separated, sorted; "-": none).
#[derive(Clone, PartialEq, Debug)]
struct LiveEntry<'a> {
    pid: i32,
    start: u64,
    eps: std::borrow::Cow<'a, str>,
}

/// The containers the last repair scans found live: `<state>/net-live`, a
/// line "ID PID STARTTIME ENDPOINT-IDS" each. A container listed with the
/// same endpoints whose shim's pid still exists (`kill(pid, 0)`, about a
/// microsecond) is taken as live without asking further: its endpoints and its
/// shim were there when it was asked, and a shim that ends normally (or
/// whose container ends) runs the exit hook, whose release removes its
/// endpoints and so its line. What is asked:
/// - a container not listed, or whose endpoints changed (a new start,
///   `network connect`): in full (`live`);
/// - `RECHECK_PER_SCAN` listed ones chosen at random, and every one in a
///   thorough scan (`network ls`/`prune`/`rm`, or an allocation that found
///   the network full): one read of the shim's /proc stat (same pid and
///   start time, not a zombie: the same process), then in full.
///
/// So a scan costs O(changed), a constant and one signal probe per listed
/// container, not one file read each; what a kill -9 of a shim leaves (its
/// exit hook never ran) is found by the next command, or, when its pid was
/// reused meanwhile, by a later scan's random pick, by a thorough command,
/// or when its address or port is wanted. Only a cache: a missing or torn file (a reboot empties
/// the state directory) means every container is asked.
///
/// Read without an allocation per line (the entries borrow the file's
/// text), and changed by appending: a line per container found or changed,
/// "ID -" for one forgotten; the last line of an id wins. A start or exit
/// then writes O(changed), and the file is rewritten whole only when it
/// holds more than twice the lines it has entries.
struct LiveCache<'a> {
    path: PathBuf,
    /// The listed containers by id (sorted), each with whether this scan
    /// found it live with the same endpoints (kept as it is; the others are
    /// dropped).
    seen: Vec<(&'a str, LiveEntry<'a>, bool)>,
    /// Lines in the file (for when to rewrite it).
    lines: usize,
    /// The listed containers this scan asks again (a few: a list, as
    /// compared with every container's id).
    recheck: Vec<&'a str>,
    full: bool,
    /// Containers found live that are not listed as they are now (new, or
    /// their endpoints or shim changed). With `seen`'s flags, what to write:
    /// nothing to copy or allocate per container in the common case, where
    /// nothing changed.
    found: std::collections::BTreeMap<String, LiveEntry<'a>>,
}

impl<'a> LiveCache<'a> {
    fn path(ctx: &Context) -> PathBuf {
        ctx.state.join("net-live")
    }

    /// The file's text, for `load` to borrow (empty: none).
    fn read(ctx: &Context) -> String {
        std::fs::read_to_string(Self::path(ctx)).unwrap_or_default()
    }

    fn load(ctx: &Context, full: bool, text: &'a str) -> LiveCache<'a> {
        // each whole line (a last one without its newline was torn)
        let parsed = text
            .split_inclusive('\n')
            .filter_map(|l| l.strip_suffix('\n'))
            .filter_map(|l| {
                let mut it = l.split(' ');
                let id = it.next().filter(|id| !id.is_empty())?;
                let pid = it.next()?;
                if pid == "-" {
                    return Some((id, None));
                }
                let pid = pid.parse().ok()?;
                let start = it.next()?.parse().ok()?;
                // a line of an older berth, without endpoints: never
                // equal to a container's, so asked
                let eps = it.next().unwrap_or("?").into();
                Some((id, Some(LiveEntry { pid, start, eps })))
            });
        let mut all: Vec<(&'a str, Option<LiveEntry<'a>>)> = parsed.collect();
        let lines = all.len();
        // by id, in file order within an id (a stable sort): the last wins
        all.sort_by(|a, b| a.0.cmp(b.0));
        let mut seen: Vec<(&'a str, LiveEntry<'a>, bool)> = Vec::with_capacity(all.len());
        let mut last: Option<&str> = None;
        for (id, e) in all.into_iter().rev() {
            if last == Some(id) {
                continue;
            }
            last = Some(id);
            if let Some(e) = e {
                seen.push((id, e, false));
            }
        }
        seen.reverse();
        // RECHECK_PER_SCAN consecutive ones from a random place
        let mut recheck = Vec::new();
        if !seen.is_empty() && !full {
            let from = random_index(seen.len());
            recheck.extend(
                seen.iter()
                    .map(|s| s.0)
                    .cycle()
                    .skip(from)
                    .take(RECHECK_PER_SCAN.min(seen.len())),
            );
        }
        LiveCache {
            path: Self::path(ctx),
            seen,
            lines,
            recheck,
            full,
            found: Default::default(),
        }
    }

    /// Whether container `id`, whose endpoints' ids are `eps` (sorted),
    /// holds them.
    fn live(&mut self, ctx: &Context, cs: &ContainerStore, id: &str, eps: &[&str]) -> bool {
        if let Ok(i) = self.seen.binary_search_by(|s| s.0.cmp(id)) {
            let (_, e, kept) = &mut self.seen[i];
            let same = same_eps(&e.eps, eps);
            // a signal-0 probe per listed shim (no file read): a shim killed
            // with -9 whose pid is free is found by the very next command
            if same
                && !self.full
                && !self.recheck.contains(&id)
                && !crate::sys::process::pid_gone(e.pid)
            {
                *kept = true;
                return true;
            }
            if crate::sys::process::running_since(e.pid, e.start) {
                if same {
                    *kept = true;
                } else {
                    let e = LiveEntry {
                        eps: eps_key(eps).into(),
                        ..e.clone()
                    };
                    self.found.insert(id.to_string(), e);
                }
                return true;
            }
        }
        if let Some((pid, start)) = live_shim(ctx, id) {
            let e = LiveEntry {
                pid,
                start,
                eps: eps_key(eps).into(),
            };
            self.found.insert(id.to_string(), e);
            return true;
        }
        // live without a shim (being started or stopped under its lock, or
        // its init outlived a killed shim): not listed, asked again next time
        live(ctx, cs, id)
    }

    /// Keep what this scan found (a write only when it changed: the lines
    /// of what changed appended, or the whole list when the file would
    /// hold more than twice its entries). The caller holds the network lock.
    fn save(self) {
        use std::fmt::Write;
        let gone = self.seen.iter().filter(|s| !s.2).count();
        if self.found.is_empty() && gone == 0 {
            return;
        }
        let entries = self.seen.len() - gone + self.found.len();
        if entries == 0 {
            let _ = std::fs::remove_file(&self.path);
            return;
        }
        let line = |text: &mut String, id: &str, e: &LiveEntry| {
            let _ = writeln!(text, "{id} {} {} {}", e.pid, e.start, e.eps);
        };
        let mut text = String::new();
        let appended = self.lines + gone + self.found.len();
        if self.lines > 0 && appended <= 2 * entries + 16 {
            for (id, _, _) in self.seen.iter().filter(|s| !s.2) {
                // (an id also found again gets its new line after this)
                let _ = writeln!(text, "{id} -");
            }
            for (id, e) in &self.found {
                line(&mut text, id, e);
            }
            // one write under O_APPEND: a reader sees the lines or a torn
            // last one, which it skips
            let ok = std::fs::OpenOptions::new()
                .append(true)
                .open(&self.path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
            if ok.is_ok() {
                return;
            }
            text.clear();
        }
        let mut now: std::collections::BTreeMap<&str, &LiveEntry> = self
            .seen
            .iter()
            .filter(|s| s.2)
            .map(|(id, e, _)| (*id, e))
            .collect();
        now.extend(self.found.iter().map(|(id, e)| (id.as_str(), e)));
        for (id, e) in now {
            line(&mut text, id, e);
        }
        let _ = store::write_cache(&self.path, text.as_bytes());
    }
}

/// A number below `n` (n > 0) that differs from one command to the next:
/// which remembered containers a scan asks again. Not for secrets.
fn random_index(n: usize) -> usize {
    use std::hash::{BuildHasher, Hasher};
    // std's RandomState is seeded from the OS once per process
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    (h.finish() % n as u64) as usize
}

/// The endpoint ids of a container, as `LiveEntry::eps` writes them.
fn eps_key(ids: &[&str]) -> String {
    if ids.is_empty() {
        "-".to_string()
    } else {
        ids.join(",")
    }
}

/// Whether `stored` (`eps_key`'s form) names the endpoints `ids`, without
/// making the string (the scan asks it for every listed container).
fn same_eps(stored: &str, ids: &[&str]) -> bool {
    if ids.is_empty() {
        stored == "-"
    } else {
        stored.split(',').eq(ids.iter().copied())
    }
}

/// Whether someone holds the flock on `path` (a missing file: nobody). Our
/// probe's own lock, if it gets one, goes with the file at return.
fn lock_is_held(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    // Non-blocking: a refusal means another open file description holds it.
    crate::sys::fs::flock(&f, crate::sys::fs::Lock::Exclusive, true).is_err()
}

/// Drop endpoints and pins of containers that no longer hold them (kill -9,
/// a crashed berth), bridges with no endpoint left. The caller holds the lock.
/// `thorough` (`network ls`/`prune`/`rm`) reads every record (not the
/// endpoint index), asks every container whether it lives (not only what
/// changed, see `LiveCache`), and removes an on-demand bridge of a network
/// that was empty already (a crash between the last endpoint's record and
/// its bridge); starts and exits skip that netlink round trip.
pub(super) fn repair_locked(
    ctx: &Context,
    st: &NetworkStore,
    thorough: bool,
) -> Result<Vec<String>, NetworkError> {
    if thorough {
        st.distrust_index();
    }
    scan_locked(ctx, st, thorough, thorough, None)
}

/// `repair_locked` with every container asked (`full`) but without the
/// thorough command's other work: when an allocation found no free address
/// or port, what a killed container still holds may be the reason.
fn repair_full_locked(ctx: &Context, st: &NetworkStore) -> Result<Vec<String>, NetworkError> {
    scan_locked(ctx, st, false, true, None)
}

/// `starting`: a container being started under its lock by the caller (its
/// pin is being made right now): live, without asking.
fn scan_locked(
    ctx: &Context,
    st: &NetworkStore,
    thorough: bool,
    full: bool,
    starting: Option<&str>,
) -> Result<Vec<String>, NetworkError> {
    let cs = ContainerStore::open(ctx)?;
    // what the scan needs of each endpoint (`Held`), not the whole records
    let listed = st.list()?;
    timing::mark("net: scan: networks listed");
    let nets: Vec<(Network, store::HeldList)> = listed
        .into_iter()
        .map(|n| st.held(&n.id).map(|eps| (n, eps)))
        .collect::<Result<_, _>>()?;
    timing::mark("net: scan: index read");
    // each container's endpoint ids on every network (what `LiveCache`
    // compares with what it remembers), borrowed from the lists (no copy of
    // a string per container), and whether it lives once it was asked: each
    // container is asked once (its endpoints and its pin), not once per use
    // (two lists, not a map of lists: no allocation per container)
    let mut pairs: Vec<(&str, &str)> = nets
        .iter()
        .flat_map(|(_, eps)| {
            eps.iter()
                .map(|e| (e.container_id.as_str(), e.endpoint_id.as_str()))
        })
        .collect();
    pairs.sort_unstable();
    let eids: Vec<&str> = pairs.iter().map(|p| p.1).collect();
    // each container: its id, its endpoints (a range of `eids`), whether it
    // lives once asked
    let mut ids: Vec<(&str, std::ops::Range<usize>, Option<bool>)> = Vec::new();
    for (i, (cid, _)) in pairs.iter().enumerate() {
        match ids.last_mut() {
            Some(g) if g.0 == *cid => g.1.end = i + 1,
            _ => ids.push((cid, i..i + 1, None)),
        }
    }
    timing::mark("net: scan: records read");
    // Every pin's container: in a thorough or full scan only. A container
    // with endpoints has its pin checked with them (below); a pin without
    // one (a start or release cut short, a running container disconnected
    // from every network) belongs to a container that still exists, whose
    // own next start, exit or removal unpins it, so the common scan does
    // not list every pin (a read per container on every start).
    let pins = if thorough || full {
        netns::list(&ctx.state)
    } else {
        Vec::new()
    };
    let live_text = LiveCache::read(ctx);
    let mut cache = LiveCache::load(ctx, full, &live_text);
    timing::mark("net: scan: live list read");
    let mut is_live = |id: &str| {
        if Some(id) == starting {
            return true;
        }
        match ids.binary_search_by(|g| g.0.cmp(id)) {
            Ok(i) => {
                let (_, eps, known) = &mut ids[i];
                *known.get_or_insert_with(|| cache.live(ctx, &cs, id, &eids[eps.clone()]))
            }
            // no endpoint (a pin only): asked once anyway, in the pins' loop
            Err(_) => cache.live(ctx, &cs, id, &[]),
        }
    };
    let mut touched = Vec::new();
    for (n, eps) in &nets {
        let eps_empty = eps.is_empty();
        let mut left = eps.len();
        for ep in eps.iter() {
            if !is_live(&ep.container_id) {
                // the whole record, to undo what it names (rare: a
                // container that ended without its exit hook)
                let whole = st
                    .endpoints(&n.id)?
                    .iter()
                    .find(|e| e.container_id == *ep.container_id)
                    .cloned();
                if let (Ok(d), Some(whole)) = (driver::for_network(n), whole) {
                    d.detach(n, &whole)?;
                }
                st.remove_endpoint(&n.id, &ep.container_id)?;
                netns::remove(&ctx.state, &ep.container_id)?;
                left -= 1;
                if !touched.contains(&n.id) {
                    touched.push(n.id.clone());
                }
            }
        }
        // An on-demand bridge goes with its last endpoint: only when this
        // scan removed that one (an empty network's bridge went already, and
        // asking the kernel on every command costs a netlink round trip).
        if left == 0 && (thorough || !eps_empty) && driver::on_demand(n) {
            if let Ok(d) = driver::for_network(n) {
                d.cleanup(n)?;
            }
        }
    }
    timing::mark("net: scan: endpoints asked");
    for id in &pins {
        if !is_live(id) {
            netns::remove(&ctx.state, id)?;
        }
    }
    timing::mark("net: scan: liveness asked");
    // (the last use of `is_live` ends its borrow of the cache)
    cache.save();
    // (the last pin's removal takes the directory with it; a thorough scan
    // also looks for one left empty: not every start, as reading even the
    // directory's first entry reads a block of them)
    if thorough {
        netns::cleanup_dir(&ctx.state);
    }
    ipam::sweep_orphans(&ctx.root, &ctx.state, thorough);
    if thorough {
        super::sockredirect::sweep_orphans(&super::table_name(ctx));
    }
    Ok(touched)
}

/// Make the firewall match the stored state.
pub(super) fn sync_firewall(ctx: &Context, st: &NetworkStore) -> Result<(), NetworkError> {
    sync_firewall_with(ctx, st, false)
}

/// `force`: apply even when the rules are the ones applied last (a repair
/// after someone else flushed the ruleset).
pub(super) fn sync_firewall_with(
    ctx: &Context,
    st: &NetworkStore,
    force: bool,
) -> Result<(), NetworkError> {
    let mut rules = RuleSet::default();
    for n in st.list()? {
        let eps = st.held(&n.id)?;
        if n.driver != "bridge" || (eps.is_empty() && driver::on_demand(&n)) {
            continue;
        }
        let (Some(br), Some((subnet, _, _))) = (n.bridge_name(), n.subnet4()) else {
            continue;
        };
        rules.bridges.push(BridgeRules {
            bridge: br.to_string(),
            subnet: subnet.to_string(),
            internal: n.internal,
        });
        if let Some((s6, _, _)) = n.subnet6() {
            rules.bridges6.push(Bridge6 {
                bridge: br.to_string(),
                subnet: s6.to_string(),
            });
        }
        if n.internal {
            continue;
        }
        // The IPv6 forwards: every port published on all addresses, or on a
        // v6 one, goes to the container's v6 address too (docker publishes
        // `-p 8080:80` on [::] as well).
        for ep in eps.iter() {
            let Some(ip6) = ep.ipv6 else {
                continue;
            };
            for p in &ep.ports {
                let host_ip = match p.host_ip.as_str() {
                    "" | "::" => String::new(),
                    h if h.parse::<std::net::Ipv6Addr>().is_ok() => h.to_string(),
                    _ => continue,
                };
                rules.forwards6.push(Forward6 {
                    proto: p.proto.clone(),
                    host_ip,
                    host_port: p.host_port,
                    container_ip: ip6,
                    container_port: p.container_port,
                });
            }
        }
        for ep in eps.iter() {
            let Some(ip) = ep.ipv4 else {
                continue;
            };
            for p in &ep.ports {
                rules.forwards.push(Forward {
                    proto: p.proto.clone(),
                    host_ip: if p.host_ip == "0.0.0.0" {
                        String::new()
                    } else {
                        p.host_ip.clone()
                    },
                    host_port: p.host_port,
                    container_ip: ip,
                    container_port: p.container_port,
                });
            }
        }
    }
    // Spawning nft costs tens of milliseconds: skip it when the wanted rules
    // are the ones applied last (recorded after a successful apply).
    let table = super::table_name(ctx);
    let applied = st.applied_rules_path();
    let forced = ctx
        .settings
        .firewall_backend
        .as_deref()
        .map(firewall::Backend::parse);
    let forced = forced.transpose().map_err(NetworkError::Firewall)?;
    let redirect = super::sockredirect::enabled(
        ctx.settings.socket_redirect,
        &applied.with_file_name(".socket-redirect"),
    );
    let key = format!("{table}\n{forced:?}\n{redirect}\n{rules:?}");
    if !force && std::fs::read_to_string(&applied).is_ok_and(|k| k == key) {
        return Ok(());
    }
    let _ = std::fs::remove_file(&applied);
    let record = applied.with_file_name(".firewall-backend");
    let applied_now = firewall::apply(&table, &rules, forced, &record);
    // The loopback redirects follow the rules (even when the rules failed:
    // no redirect may outlive its container's rules).
    let entries = if redirect {
        super::sockredirect::wanted(&rules.forwards)
    } else {
        Vec::new()
    };
    if let Err(e) = super::sockredirect::sync(&table, &entries) {
        // NAT serves these ports as before.
        super::sockredirect::warn_once(&e);
    }
    applied_now?;
    let _ = crate::store::replace_file(&applied, key.as_bytes(), false);
    Ok(())
}

/// The ports a container publishes: `-p`, plus its exposed ports with `-P`.
fn wanted_ports(rec: &ContainerRecord) -> PortMap {
    let mut map = rec.host_config.port_bindings.clone();
    if rec.host_config.publish_all_ports {
        for k in rec.config.exposed_ports.keys() {
            map.entry(k.clone()).or_insert_with(|| {
                vec![super::model::PortBinding {
                    host_ip: String::new(),
                    host_port: String::new(),
                }]
            });
        }
    }
    map.retain(|_, v| !v.is_empty());
    map
}

/// Every port published by this root's endpoints.
fn taken_ports(st: &NetworkStore) -> Result<Vec<PublishedPort>, NetworkError> {
    let mut out = Vec::new();
    for n in st.list()? {
        for ep in st.held(&n.id)?.iter() {
            out.extend(ep.ports.iter().cloned());
        }
    }
    Ok(out)
}

fn resolve_networks(st: &NetworkStore, names: &[String]) -> Result<Vec<Network>, NetworkError> {
    let mut out = Vec::new();
    for name in names {
        let n = st.get(name)?;
        if n.driver != "bridge" {
            return Err(NetworkError::Invalid(format!(
                "container cannot be connected to network {} together with other networks (driver {})",
                n.name, n.driver
            )));
        }
        out.push(n);
    }
    Ok(out)
}

fn endpoint_config(rec: &ContainerRecord, net: &Network) -> EndpointSettings {
    rec.networking
        .endpoints_config
        .get(&net.name)
        .or_else(|| rec.networking.endpoints_config.get(&net.id))
        .cloned()
        .unwrap_or_default()
}

/// Allocate and wire one endpoint (the caller holds the lock).
#[allow(clippy::too_many_arguments)]
fn attach_one(
    ctx: &Context,
    st: &NetworkStore,
    rec: &ContainerRecord,
    net: &Network,
    cfg: &EndpointSettings,
    index: usize,
    ns: &Path,
    inside: Option<&mut super::netlink::Netlink>,
    ports_wanted: &PortMap,
) -> Result<Endpoint, NetworkError> {
    if st.endpoint(&net.id, &rec.id)?.is_some() {
        return Err(NetworkError::Invalid(format!(
            "endpoint with name {} already exists in network {}",
            rec.name, net.name
        )));
    }
    let want = match cfg.ipv4_address.as_deref().filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => Some(
            a.parse::<Ipv4Addr>()
                .map_err(|_| NetworkError::Invalid(format!("invalid IPv4 address {a:?}")))?,
        ),
    };
    if want.is_some() && net.is_predefined() {
        return Err(NetworkError::Invalid(
            "user specified IP address is supported on user defined networks only".into(),
        ));
    }
    let want6 = match cfg.ipv6_address.as_deref().filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => Some(
            a.parse::<std::net::Ipv6Addr>()
                .map_err(|_| NetworkError::Invalid(format!("invalid IPv6 address {a:?}")))?,
        ),
    };
    if want6.is_some() && net.is_predefined() {
        return Err(NetworkError::Invalid(
            "user specified IP address is supported on user defined networks only".into(),
        ));
    }
    let allocate = |held: &[Held]| -> Result<_, NetworkError> {
        let v4 = ipam::allocate(net, held, want)?;
        let v6 = ipam::allocate6(net, held, want6)?;
        let published = if index == 0 && !net.internal && !ports_wanted.is_empty() {
            ports::allocate(ports_wanted, &taken_ports(st)?)?
        } else {
            Vec::new()
        };
        Ok((v4, v6, published))
    };
    let ((ip, prefix, gw), v6, published) = match allocate(&st.held(&net.id)?) {
        Ok(x) => x,
        // No free address or port: a container whose shim was killed may
        // still hold it (the repair scan asks only what changed, see
        // `LiveCache`): ask every container, and try again if that freed
        // anything.
        Err(e) => {
            if repair_full_locked(ctx, st)?.is_empty() {
                return Err(e);
            }
            allocate(&st.held(&net.id)?)?
        }
    };
    let held = st.held(&net.id)?;
    let mac_str = if let Some(m) = cfg.mac_address.as_ref().filter(|m| !m.is_empty()) {
        m.clone()
    } else if index == 0 && !rec.config.mac_address.is_empty() {
        rec.config.mac_address.clone()
    } else {
        ipam::fmt_mac(&ipam::mac_for(ip))
    };
    let mac = ipam::parse_mac(&mac_str)?;
    let v6 = match v6 {
        Some(v) if want6.is_none() && net.is_predefined() => {
            Some(ipam::mac_based6(net, &held[..], &mac).map_or(v, |a| (a, v.1, v.2)))
        }
        v => v,
    };
    // the shared list is changed by save_endpoint below: not copied then
    drop(held);
    let ep = Endpoint {
        container_id: rec.id.clone(),
        container_name: rec.name.clone(),
        network_id: net.id.clone(),
        endpoint_id: crate::container::store::new_id(),
        ipv4: ip.to_string(),
        prefix,
        gateway: gw.to_string(),
        mac_address: mac_str,
        ipv6: v6.map(|x| x.0.to_string()).unwrap_or_default(),
        prefix6: v6.map(|x| x.1).unwrap_or(0),
        gateway6: v6.map(|x| x.2.to_string()).unwrap_or_default(),
        host_veth: format!("veth{}{}", &rec.id[..8.min(rec.id.len())], index),
        ifname: format!("eth{index}"),
        aliases: cfg.aliases.clone(),
        ports: published,
        dns: rec.host_config.dns.clone(),
        links: Some(!rec.host_config.links.is_empty()),
    };
    // Recorded before the interfaces exist: a crash in between leaves a record
    // that repair uses to remove them.
    st.save_endpoint(&ep)?;
    timing::mark("net: endpoint recorded");
    let d = driver::for_network_labelled(net, super::bridge_label(ctx))?;
    if let Err(e) = d.attach(net, &ep, ns, inside, index == 0) {
        let _ = d.detach(net, &ep);
        let _ = st.remove_endpoint(&net.id, &rec.id);
        return Err(e);
    }
    Ok(ep)
}

/// Detach every endpoint of container `id` (the caller holds the lock);
/// returns the networks it left.
fn detach_all(st: &NetworkStore, id: &str) -> Result<Vec<String>, NetworkError> {
    detach_all_with(st, id, true)
}

/// `detach_all`; `links`: delete the interfaces too (false: they go with
/// the container's namespace, see `netns::dies_with_pin`).
fn detach_all_with(st: &NetworkStore, id: &str, links: bool) -> Result<Vec<String>, NetworkError> {
    let mut touched = Vec::new();
    for n in st.list()? {
        if let Some(ep) = st.endpoint(&n.id, id)? {
            if links {
                if let Ok(d) = driver::for_network(&n) {
                    d.detach(&n, &ep)?;
                }
            }
            st.remove_endpoint(&n.id, id)?;
            if driver::on_demand(&n) && st.held(&n.id)?.is_empty() {
                if let Ok(d) = driver::for_network(&n) {
                    d.cleanup(&n)?;
                }
            }
            touched.push(n.id.clone());
        }
    }
    Ok(touched)
}

/// Before the shim starts (the caller holds the container's lock): the
/// container's namespace choice, its endpoints and port rules, its /etc
/// files (written into `etc_dir`, which the spec bind-mounts).
pub fn prepare(
    ctx: &Context,
    rec: &ContainerRecord,
    etc_dir: &Path,
) -> Result<Prepared, NetworkError> {
    let cs = ContainerStore::open(ctx)?;
    let mode = super::mode(rec);
    let _l = store::lock()?;
    // the namespace is made while the records are read and repaired
    let pin_job = match mode {
        Mode::Networks(_) => Some(netns::create_in_background(&ctx.state, &rec.id)?),
        _ => None,
    };
    timing::mark("net: locked, pin started");
    let st = NetworkStore::open(ctx)?;
    let mut touched = scan_locked(ctx, &st, false, false, Some(&rec.id))?;
    timing::mark("net: repaired");
    // The container is being started under its lock, so endpoints it still
    // holds are left from a run whose release never came (a reboot, or kill -9
    // of the shim and berth together): give them back before attaching again.
    touched.extend(detach_all(&st, &rec.id)?);
    super::ensure_predefined(ctx, &st)?;
    let ns = match &mode {
        Mode::Host => NsChoice::Host,
        Mode::None => NsChoice::New,
        Mode::Container(other) => {
            let o = cs.resolve(other)?;
            let s = container::state(ctx, &o);
            if !s.running || s.pid <= 0 {
                return Err(NetworkError::Invalid(format!(
                    "cannot join network namespace of a non running container: {}",
                    o.name
                )));
            }
            let pin = netns::path(&ctx.state, &o.id);
            if pin.exists() {
                // the owner's exit asks its recorded joiners, not all of /proc
                netns::record_joiner(&ctx.state, &rec.id, &o.id)?;
                NsChoice::Path(pin)
            } else {
                NsChoice::Path(PathBuf::from(format!("/proc/{}/ns/net", s.pid)))
            }
        }
        Mode::Networks(names) => {
            let nets = resolve_networks(&st, names)?;
            // Each user network's responder (when none runs) starts now and
            // binds while the container is wired: its bridge and gateway
            // exist with the network. If its bridge is missing (to be made
            // below), it is started after the wiring instead.
            let early: Vec<Option<responder::Starting>> = nets
                .iter()
                .map(|n| {
                    let bridge_up = n
                        .bridge_name()
                        .is_some_and(|b| Path::new("/proc/sys/net/ipv4/conf").join(b).exists());
                    if bridge_up {
                        responder::start(ctx, n).ok().flatten()
                    } else {
                        None
                    }
                })
                .collect();
            timing::mark("net: responder spawned");
            let (pin, mut inside) = match pin_job {
                Some(job) => job.wait_inside()?,
                None => (netns::create(&ctx.state, &rec.id)?, None),
            };
            timing::mark("net: pin made");
            let wanted = wanted_ports(rec);
            let mut done: Vec<String> = Vec::new();
            for (i, n) in nets.iter().enumerate() {
                let cfg = endpoint_config(rec, n);
                match attach_one(ctx, &st, rec, n, &cfg, i, &pin, inside.as_mut(), &wanted) {
                    Ok(_) => {
                        // docker's event of every start on a network.
                        crate::events::network(&ctx.root, "connect", n, Some(&rec.id));
                        done.push(n.id.clone())
                    }
                    Err(e) => {
                        let _ = detach_all(&st, &rec.id);
                        let _ = netns::remove(&ctx.state, &rec.id);
                        let _ = sync_firewall(ctx, &st);
                        return Err(e);
                    }
                }
            }
            timing::mark("net: wired");
            // the firewall, then each user network's DNS responder (started
            // when none runs, e.g. after a kill -9 of the last one)
            let wired = sync_firewall(ctx, &st).and_then(|_| {
                nets.iter().zip(early).try_for_each(|(n, s)| {
                    // none started early, or it failed: (re)start it now
                    match s.map(responder::Starting::ready) {
                        Some(Ok(())) => Ok(()),
                        _ => responder::ensure(ctx, n),
                    }
                })
            });
            timing::mark("net: firewall, responder ready");
            if let Err(e) = wired {
                let _ = detach_all(&st, &rec.id);
                let _ = netns::remove(&ctx.state, &rec.id);
                let _ = sync_firewall(ctx, &st);
                return Err(e);
            }
            let mut all = touched.clone();
            all.extend(done);
            refresh_locked(ctx, &st, &all);
            NsChoice::Path(pin)
        }
    };
    if !matches!(mode, Mode::Networks(_)) && !touched.is_empty() {
        let _ = sync_firewall(ctx, &st);
        refresh_locked(ctx, &st, &touched);
    }
    let env = links::env(ctx, &cs, &st, rec)?;
    write_etc(ctx, &cs, &st, rec, etc_dir, &mode)?;
    timing::mark("net: etc written");
    Ok(Prepared { ns, env })
}

/// After the container exited (or a failed start): give everything back.
/// Idempotent.
pub fn release(ctx: &Context, id: &str) -> Result<(), NetworkError> {
    let _l = store::lock()?;
    let st = NetworkStore::open(ctx)?;
    // When the namespace dies as it is unpinned below, the kernel deletes
    // the veths with it, off this path (`run --rm` waits for this).
    netns::forget_joiner(&ctx.state, id);
    let links_go = netns::dies_with_pin(&ctx.state, id, |joiner| {
        let cs = ContainerStore::open(ctx).ok()?;
        let s = container::state(ctx, &cs.load(joiner).ok()?);
        (s.pid > 0).then_some(s.pid)
    });
    timing::mark("net release: locked");
    let mut touched = detach_all_with(&st, id, !links_go)?;
    timing::mark("net release: detached");
    for nid in &touched {
        if let Ok(n) = st.get(nid) {
            crate::events::network(&ctx.root, "disconnect", &n, Some(id));
        }
    }
    netns::remove(&ctx.state, id)?;
    timing::mark("net release: unpinned");
    touched.extend(repair_locked(ctx, &st, false)?);
    timing::mark("net release: repaired");
    sync_firewall(ctx, &st)?;
    refresh_locked(ctx, &st, &touched);
    timing::mark("net release: done");
    Ok(())
}

/// `network connect` (the caller holds the container's lock). A running
/// container is wired now; every container keeps it in its record.
pub fn connect(
    ctx: &Context,
    rec: &mut ContainerRecord,
    key: &str,
    cfg: EndpointSettings,
) -> Result<(), NetworkError> {
    let cs = ContainerStore::open(ctx)?;
    let _l = store::lock()?;
    let st = NetworkStore::open(ctx)?;
    super::ensure_predefined(ctx, &st)?;
    let n = st.get(key)?;
    let mode = super::mode(rec);
    match &mode {
        Mode::Networks(names) if names.iter().any(|x| *x == n.name || *x == n.id) => {
            return Err(NetworkError::Invalid(format!(
                "endpoint with name {} already exists in network {}",
                rec.name, n.name
            )))
        }
        Mode::Networks(_) => {}
        _ => {
            return Err(NetworkError::Invalid(format!(
                "container {} is in network mode {}: it cannot be connected to other networks",
                rec.name, rec.host_config.network_mode
            )))
        }
    }
    if n.driver != "bridge" {
        return Err(NetworkError::Invalid(format!(
            "container cannot be disconnected from host network or connected to host network ({})",
            n.name
        )));
    }
    let running = container::state(ctx, rec).running;
    let pin = netns::path(&ctx.state, &rec.id);
    if running && pin.exists() {
        let index = st
            .list()?
            .iter()
            .filter(|x| st.endpoint(&x.id, &rec.id).ok().flatten().is_some())
            .count();
        // interface names must stay unique when one in the middle was removed
        let index = (index..64)
            .find(|i| {
                !st.list()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|x| st.endpoint(&x.id, &rec.id).ok().flatten())
                    .any(|e| e.ifname == format!("eth{i}"))
            })
            .unwrap_or(index);
        attach_one(
            ctx,
            &st,
            rec,
            &n,
            &cfg,
            index.max(1),
            &pin,
            None,
            &PortMap::new(),
        )?;
        sync_firewall(ctx, &st)?;
        responder::ensure(ctx, &n)?;
    }
    rec.networking.endpoints_config.insert(n.name.clone(), cfg);
    if rec.host_config.network_mode == NetworkMode::Default {
        rec.host_config.network_mode = NetworkMode::Bridge;
    }
    cs.save(rec)?;
    refresh_locked(ctx, &st, std::slice::from_ref(&n.id));
    if running {
        // its resolv.conf gains the network's responder
        write_etc(ctx, &cs, &st, rec, &rec.dir(ctx), &super::mode(rec))?;
    }
    crate::events::network(&ctx.root, "connect", &n, Some(&rec.id));
    Ok(())
}

/// `network disconnect` (the caller holds the container's lock).
pub fn disconnect(ctx: &Context, rec: &mut ContainerRecord, key: &str) -> Result<(), NetworkError> {
    let cs = ContainerStore::open(ctx)?;
    let _l = store::lock()?;
    let st = NetworkStore::open(ctx)?;
    let n = st.get(key)?;
    let names = match super::mode(rec) {
        Mode::Networks(names) => names,
        _ => {
            return Err(NetworkError::Invalid(format!(
                "container {} is not connected to network {}",
                rec.name, n.name
            )))
        }
    };
    if !names.iter().any(|x| *x == n.name || *x == n.id) {
        return Err(NetworkError::Invalid(format!(
            "container {} is not connected to network {}",
            rec.name, n.name
        )));
    }
    if let Some(ep) = st.endpoint(&n.id, &rec.id)? {
        let d = driver::for_network(&n)?;
        d.detach(&n, &ep)?;
        st.remove_endpoint(&n.id, &rec.id)?;
        if driver::on_demand(&n) && st.held(&n.id)?.is_empty() {
            d.cleanup(&n)?;
        }
        sync_firewall(ctx, &st)?;
    }
    rec.networking.endpoints_config.remove(&n.name);
    rec.networking.endpoints_config.remove(&n.id);
    let first = &names[0];
    if *first == n.name || *first == n.id {
        // the next network becomes the primary one; none left: no network
        rec.host_config.network_mode = NetworkMode::from(
            names
                .iter()
                .find(|x| **x != n.name && **x != n.id)
                .cloned()
                .unwrap_or_else(|| "none".into()),
        );
    }
    cs.save(rec)?;
    refresh_locked(ctx, &st, std::slice::from_ref(&n.id));
    // its resolv.conf loses that network's responder
    write_etc(ctx, &cs, &st, rec, &rec.dir(ctx), &super::mode(rec))?;
    crate::events::network(&ctx.root, "disconnect", &n, Some(&rec.id));
    Ok(())
}

/// Rewrite /etc/hosts of the running containers on the default bridge among
/// the networks `ids`: their `--link` entries follow the linked container's
/// address, as in docker. A user network's names are its DNS responder's
/// (which reloads by itself): no peer's file is touched, so a start costs
/// the same with 1 or 100 containers on the network.
fn refresh_locked(ctx: &Context, st: &NetworkStore, ids: &[String]) {
    let bridge: Vec<String> = ids
        .iter()
        .filter(|id| {
            st.find(id)
                .ok()
                .flatten()
                .is_some_and(|n| n.is_predefined())
        })
        .cloned()
        .collect();
    if bridge.is_empty() {
        return;
    }
    let Ok(cs) = ContainerStore::open(ctx) else {
        return;
    };
    let mut seen = BTreeSet::new();
    for id in &bridge {
        for ep in st.held(id).unwrap_or_default().iter() {
            // only containers with links (their endpoints say so): loading
            // every container's record here cost each start or exit on the
            // default bridge one record parse per container on it
            if ep.links == Some(false) || !seen.insert(ep.container_id.to_string()) {
                continue;
            }
            if let Ok(rec) = cs.load(&ep.container_id) {
                if !rec.host_config.links.is_empty() {
                    let _ = write_hosts(&cs, st, &rec, &rec.dir(ctx), &super::mode(&rec));
                }
            }
        }
    }
}

/// Refresh the hosts files of a container's peers (after a rename).
pub fn refresh_names(ctx: &Context, id: &str) -> Result<(), NetworkError> {
    let _l = store::lock()?;
    let st = NetworkStore::open(ctx)?;
    let name = ContainerStore::open(ctx)?.load(id)?.name;
    for n in st.list()? {
        if let Some(mut ep) = st.endpoint(&n.id, id)? {
            if ep.container_name != name {
                ep.container_name = name.clone();
                st.save_endpoint(&ep)?;
            }
        }
    }
    let ids: Vec<String> = st
        .list()?
        .into_iter()
        .filter(|n| st.endpoint(&n.id, id).ok().flatten().is_some())
        .map(|n| n.id)
        .collect();
    refresh_locked(ctx, &st, &ids);
    Ok(())
}

/// The container's endpoints, with their networks.
pub(super) fn endpoints_of(st: &NetworkStore, id: &str) -> Vec<(Network, Endpoint)> {
    st.list()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| {
            let ep = st.endpoint(&n.id, id).ok().flatten()?;
            Some((n, ep))
        })
        .collect()
}

/// The container's own /etc/hosts: itself, `--add-host`, `--link` (peers
/// on a user network are found through the network's DNS responder).
fn write_hosts(
    cs: &ContainerStore,
    st: &NetworkStore,
    rec: &ContainerRecord,
    dir: &Path,
    mode: &Mode,
) -> Result<(), NetworkError> {
    let mine = endpoints_of(st, &rec.id);
    let hostname = rec.config.hostname.clone();
    let own: Vec<HostEntry> = match mode {
        // docker writes a line per address: the v4 one, then the v6 one on
        // a network with IPv6
        Mode::Networks(_) => mine
            .iter()
            .flat_map(|(_, ep)| {
                std::iter::once(ep.ipv4.clone())
                    .chain((!ep.ipv6.is_empty()).then(|| ep.ipv6.clone()))
            })
            .map(|ip| HostEntry {
                ip,
                names: vec![hostname.clone()],
            })
            .collect(),
        _ => Vec::new(),
    };
    let gateway = mine.first().map(|(_, ep)| ep.gateway.clone()).or_else(|| {
        st.get("bridge")
            .ok()
            .and_then(|b| b.subnet4().map(|s| s.1.to_string()))
    });
    let mut extra = Vec::new();
    for h in &rec.host_config.extra_hosts {
        let (name, ip) = h
            .split_once(':')
            .or_else(|| h.split_once('='))
            .ok_or_else(|| {
                NetworkError::Invalid(format!("invalid --add-host {h:?}: expected NAME:IP"))
            })?;
        let ip = if ip == "host-gateway" {
            gateway.clone().ok_or_else(|| {
                NetworkError::Invalid("--add-host host-gateway: no gateway address".into())
            })?
        } else {
            ip.to_string()
        };
        extra.push(HostEntry {
            ip,
            names: vec![name.to_string()],
        });
    }
    let link_entries = links::hosts(cs, st, rec)?;
    let text = if matches!(mode, Mode::Host) {
        let mut t = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        for e in extra.iter().chain(&link_entries) {
            t.push_str(&format!("{}\t{}\n", e.ip, e.names.join(" ")));
        }
        t
    } else {
        files::hosts(&own, &link_entries, &extra)
    };
    let p = dir.join("hosts");
    files::write_in_place(&p, &text).map_err(crate::store::IoFailure::at("write", &p))?;
    Ok(())
}

fn write_etc(
    _ctx: &Context,
    cs: &ContainerStore,
    st: &NetworkStore,
    rec: &ContainerRecord,
    dir: &Path,
    mode: &Mode,
) -> Result<(), NetworkError> {
    write_hosts(cs, st, rec, dir, mode)?;
    let hc = &rec.host_config;
    let host = files::host_resolv_conf();
    // On user networks: their responders (at the gateways), which answer
    // the network's names and forward the rest to `--dns` or the host's.
    let responders: Vec<String> = match mode {
        Mode::Networks(_) => endpoints_of(st, &rec.id)
            .into_iter()
            .filter(|(n, _)| responder::wanted(n))
            .map(|(_, ep)| ep.gateway)
            .collect(),
        _ => Vec::new(),
    };
    let text = if !responders.is_empty() {
        files::resolv_conf(&host, &responders, &hc.dns_search, &hc.dns_options)
    } else if matches!(mode, Mode::Host)
        && hc.dns.is_empty()
        && hc.dns_search.is_empty()
        && hc.dns_options.is_empty()
    {
        host
    } else {
        files::resolv_conf(&host, &hc.dns, &hc.dns_search, &hc.dns_options)
    };
    let p = dir.join("resolv.conf");
    files::write_in_place(&p, &text).map_err(crate::store::IoFailure::at("write", &p))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A remembered line's endpoints compare with a container's as the
    /// joined string would (several networks, none, an older line's "?").
    #[test]
    fn endpoint_ids_compare_as_written() {
        assert!(same_eps(&eps_key(&["a1", "b2"]), &["a1", "b2"]));
        assert!(!same_eps("a1,b2", &["a1"]));
        assert!(!same_eps("a1", &["a1", "b2"]));
        assert!(!same_eps("a1,b2", &["a1", "b3"]));
        assert!(same_eps(&eps_key(&[]), &[]));
        assert!(!same_eps("a1", &[]));
        assert!(!same_eps("?", &["a1"]));
    }

    /// The repair scan's memory of live containers: one listed with the
    /// same endpoints is taken as live without asking, except the few asked
    /// again at random; a changed one, and every one in a full scan, is
    /// asked. (Ten listed containers whose shims do not exist: asking finds
    /// each one dead.)
    #[test]
    fn live_cache_asks_what_changed_and_a_few() {
        let tmp = std::env::temp_dir().join(format!("berth-livecache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let ctx = Context::new(tmp.join("root"), tmp.join("state"));
        std::fs::create_dir_all(&ctx.state).unwrap();
        let cs = ContainerStore::open(&ctx).unwrap();
        let ids: Vec<String> = (0..10).map(|i| format!("{i:064}")).collect();
        // pid 1 with a start time it never had: not that process
        let text: String = ids.iter().map(|id| format!("{id} 1 7 ep-{id}\n")).collect();
        std::fs::write(ctx.state.join("net-live"), &text).unwrap();

        let t = LiveCache::read(&ctx);
        let mut c = LiveCache::load(&ctx, false, &t);
        assert_eq!(c.recheck.len(), RECHECK_PER_SCAN);
        let live: Vec<bool> = ids
            .iter()
            .map(|id| c.live(&ctx, &cs, id, &[format!("ep-{id}").as_str()]))
            .collect();
        for (id, l) in ids.iter().zip(&live) {
            assert_eq!(*l, !c.recheck.contains(&id.as_str()), "{id}");
        }
        // what was asked and found dead is forgotten (a line appended
        // each), the rest kept
        let rechecked = c.recheck.iter().map(|r| r.to_string()).collect::<Vec<_>>();
        c.save();
        let t = LiveCache::read(&ctx);
        assert_eq!(t.lines().count(), 10 + RECHECK_PER_SCAN);
        assert!(t.starts_with(&text), "the file was rewritten");
        let c = LiveCache::load(&ctx, false, &t);
        let kept: Vec<&str> = c.seen.iter().map(|s| s.0).collect();
        assert_eq!(kept.len(), 10 - RECHECK_PER_SCAN);
        assert!(kept.iter().all(|k| !rechecked.iter().any(|r| r == k)));

        // changed endpoints: asked (and dead)
        let mut c = LiveCache::load(&ctx, false, &t);
        assert!(!c.live(&ctx, &cs, kept[0], &["another-endpoint"]));

        // a found container's new line wins over its old one; a torn last
        // line is skipped
        let mut c = LiveCache::load(&ctx, false, &t);
        c.seen.iter_mut().for_each(|s| s.2 = true);
        let me = std::process::id() as i32;
        c.found.insert(
            kept[1].to_string(),
            LiveEntry {
                pid: me,
                start: 5,
                eps: "x".into(),
            },
        );
        c.save();
        let mut torn = LiveCache::read(&ctx);
        assert_eq!(
            torn.lines().count(),
            10 + RECHECK_PER_SCAN + 1,
            "not appended"
        );
        torn.push_str(&format!("{} 1 7 ep", kept[2]));
        let c = LiveCache::load(&ctx, false, &torn);
        let i = c.seen.binary_search_by(|s| s.0.cmp(kept[1])).unwrap();
        assert_eq!((c.seen[i].1.pid, &*c.seen[i].1.eps), (me, "x"));
        let i = c.seen.binary_search_by(|s| s.0.cmp(kept[2])).unwrap();
        assert_eq!(&*c.seen[i].1.eps, format!("ep-{}", kept[2]));

        // appending is bounded: past twice its entries' lines (and 16), the
        // file is rewritten whole
        for round in 0..40 {
            let t = LiveCache::read(&ctx);
            let mut c = LiveCache::load(&ctx, false, &t);
            c.seen.iter_mut().for_each(|s| s.2 = s.0 != kept[1]);
            c.found.insert(
                kept[1].to_string(),
                LiveEntry {
                    pid: me,
                    start: round,
                    eps: "x".into(),
                },
            );
            c.save();
            let t = LiveCache::read(&ctx);
            let c = LiveCache::load(&ctx, false, &t);
            assert_eq!(c.seen.len(), 10 - RECHECK_PER_SCAN);
            assert!(t.lines().count() <= 2 * c.seen.len() + 16, "{t}");
            let i = c.seen.binary_search_by(|s| s.0.cmp(kept[1])).unwrap();
            assert_eq!(c.seen[i].1.start, round);
        }

        // a full scan asks every one
        let t = LiveCache::read(&ctx);
        let mut c = LiveCache::load(&ctx, true, &t);
        assert!(ids
            .iter()
            .all(|id| !c.live(&ctx, &cs, id, &[format!("ep-{id}").as_str()])));
        c.save();
        assert!(!ctx.state.join("net-live").exists());
        let _ = std::fs::remove_dir_all(tmp);
    }
}
