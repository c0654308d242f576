//! Address management: a subnet for a new network (docker's default pools,
//! skipping subnets of other networks, of every berth root on the host, and of
//! the host's routes), and an address for an endpoint (the lowest free one in
//! the network's range; never one another endpoint holds: allocation happens
//! under the host-wide network lock and is recorded before it is used).
//!
//! Subnets are claimed host-wide in `/run/berth-subnets/<subnet>` (content:
//! the owning root and network id) so that two berth roots never pick the
//! same one, nor are given overlapping ones (a `bip` is refused then); a
//! claim whose root no longer exists is swept with its bridge and taken.

use super::model::{Held as HeldEndpoint, Network, Subnet, Subnet6};
use super::NetworkError;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

pub(super) const CLAIMS: &str = "/run/berth-subnets";

/// docker's default address pools: 172.17-31.0.0/16, then 192.168.0-240.0/20.
fn pool() -> impl Iterator<Item = Subnet> {
    let a = (17u8..=31).map(|b| Subnet {
        addr: Ipv4Addr::new(172, b, 0, 0),
        prefix: 16,
    });
    let b = (0u8..=240).step_by(16).map(|c| Subnet {
        addr: Ipv4Addr::new(192, 168, c, 0),
        prefix: 20,
    });
    a.chain(b)
}

fn claim_path(s: &Subnet) -> PathBuf {
    Path::new(CLAIMS).join(format!("{}_{}", s.addr, s.prefix))
}

/// Live claims of other roots' networks; sweeps the claims (and what they
/// name) that nobody owns any more. The caller holds the host network lock,
/// so no `network create`/`rm` is between its steps meanwhile.
///
/// A claim's network record can be missing while its root exists in three
/// cases: this root's `network create` was killed between the claim and
/// the record (no bridge yet), its `network rm` between the record and the
/// claim (bridge gone), or the root is being deleted right now (`rm -rf`
/// takes `networks/<id>/network.json` long before the root's directory).
/// The last is why another root's such claim is kept while that root still
/// records other networks: dropping it then left the network's bridge and
/// the root's firewall table with nothing naming them once the root was
/// gone. Its owner's next command, or the first sweep after the root has
/// no network left, removes it with what it names.
fn claimed(root: &Path) -> Vec<Held> {
    let Ok(rd) = std::fs::read_dir(CLAIMS) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().replace('_', "/");
        let Ok(s) = Subnet::parse(&name) else {
            continue;
        };
        let content = std::fs::read_to_string(e.path()).unwrap_or_default();
        let mut lines = content.lines();
        let (Some(owner), Some(id)) = (lines.next(), lines.next()) else {
            continue;
        };
        let (bridge, table) = (lines.next(), lines.next());
        let owner = Path::new(owner);
        let has_record = owner
            .join("networks")
            .join(id)
            .join("network.json")
            .is_file();
        if owner == root {
            // this root's networks are checked from its store; a claim of
            // its own without the network is a crash's leftover
            if !has_record && release_own_bridge(root, bridge) {
                // With no network left (the root is being deleted under
                // this command) no other claim names the table any more:
                // it goes now, or nothing would find it once the root is
                // gone.
                if let Some(t) = table.filter(|_| !has_networks(root)) {
                    super::firewall::remove(t);
                }
                let _ = std::fs::remove_file(e.path());
            }
            continue;
        }
        if has_record || (owner.exists() && has_networks(owner)) {
            out.push(Held {
                subnet: s,
                root: owner.to_path_buf(),
                network: id.to_string(),
            });
            continue;
        }
        // The whole root is gone (deleted while containers ran, e.g. a
        // test's temporary root), or has no network at all (a root whose
        // deletion took every record already, or one recreated empty by a
        // late exit hook after its deletion; a root with networks always
        // has its predefined ones): its bridge and table go with it.
        if let (Some(bridge), Some(table)) = (bridge, table) {
            super::firewall::remove(table);
            let bridge_gone = super::netlink::Netlink::open()
                .and_then(|mut nl| nl.delete_link(bridge))
                .is_ok();
            if !bridge_gone {
                // Keep the claim so that the next sweep tries again
                // (the bridge's route keeps the subnet in use meanwhile).
                continue;
            }
        }
        let _ = std::fs::remove_file(e.path());
    }
    out
}

/// A subnet claimed by a network of another root that still exists.
struct Held {
    subnet: Subnet,
    root: PathBuf,
    network: String,
}

/// The networks recorded under `root` (read without the store: the sweep
/// runs below it).
fn own_networks(root: &Path) -> Vec<Network> {
    std::fs::read_dir(root.join("networks"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|d| std::fs::read(d.path().join("network.json")).ok())
        .filter_map(|d| serde_json::from_slice::<Network>(&d).ok())
        .collect()
}

/// Whether `root` records any network (no parsing: the sweep asks it of
/// roots that may be half deleted).
fn has_networks(root: &Path) -> bool {
    std::fs::read_dir(root.join("networks"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|d| d.path().join("network.json").is_file())
}

/// Remove `bridge`, named by a claim of `root` whose network record is
/// gone, unless one of `root`'s networks uses that name now (the default
/// bridge's name is the same for every `bridge` network a root makes).
/// True when the claim can go: the bridge is gone, belongs to a live
/// network, or was never named.
fn release_own_bridge(root: &Path, bridge: Option<&str>) -> bool {
    let Some(bridge) = bridge else {
        return true;
    };
    let in_use = own_networks(root)
        .iter()
        .any(|n| n.bridge_name() == Some(bridge));
    in_use
        || super::netlink::Netlink::open()
            .and_then(|mut nl| nl.delete_link(bridge))
            .is_ok()
}

/// Sweep what deleted roots left (see `claimed`). `thorough` (`network
/// ls`/`prune`/`rm`) also looks for bridges labelled with a root that is
/// gone (`network::bridge_label`) that no claim names any more (dropped by
/// an older berth, or overwritten by a root given the same `bip`), and
/// removes them with that root's firewall table.
///
/// Starts and exits (not `thorough`) skip the sweep when the claims
/// directory is as this root's last sweep left it and that sweep is less
/// than `SWEEP_EVERY` old (`<state>/net-claims-swept`): it reads and stats
/// every claim on the host, and nothing a start needs depends on it (it only
/// collects garbage). A claim added or removed changes the directory; what
/// does not (a root deleted, a bridge whose deletion failed) waits at most
/// `SWEEP_EVERY`, or for the next thorough command.
pub fn sweep_orphans(root: &Path, state: &Path, thorough: bool) {
    let seen = state.join("net-claims-swept");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let key = claims_key();
    if !thorough {
        let last = std::fs::read_to_string(&seen).unwrap_or_default();
        if let Some((k, t)) = last.trim_end().rsplit_once(' ') {
            let recent = t
                .parse::<u64>()
                .is_ok_and(|t| t <= now && now - t < SWEEP_EVERY);
            if recent && key.as_deref() == Some(k) {
                return;
            }
        }
    }
    let _ = claimed(root);
    if thorough {
        sweep_labelled();
    }
    // the directory as this sweep left it (it may have removed claims)
    match claims_key() {
        Some(k) => {
            let _ = super::store::write_cache(&seen, format!("{k} {now}\n").as_bytes());
        }
        None => {
            let _ = std::fs::remove_file(&seen);
        }
    }
}

/// The longest a start or exit goes without sweeping (see `sweep_orphans`),
/// in seconds.
const SWEEP_EVERY: u64 = 30;

/// The claims directory's inode and mtime: they change with every claim
/// made or dropped (each is a file renamed in or removed).
fn claims_key() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(CLAIMS).ok()?;
    Some(format!("{}:{}.{:09}", m.ino(), m.mtime(), m.mtime_nsec()))
}

/// The bridges whose label names a root that no longer exists, and their
/// roots' tables, go. Read from sysfs: one small read per bridge, no
/// netlink dump; netlink only for a deletion.
fn sweep_labelled() {
    let Ok(rd) = std::fs::read_dir("/sys/class/net") else {
        return;
    };
    let mut nl = None;
    for e in rd.flatten() {
        let dev = e.path();
        if !dev.join("bridge").is_dir() {
            continue;
        }
        let Ok(label) = std::fs::read_to_string(dev.join("ifalias")) else {
            continue;
        };
        let Some(owner) = label.trim_end().strip_prefix(super::BRIDGE_LABEL) else {
            continue;
        };
        let owner = Path::new(owner);
        if owner.exists() {
            continue;
        }
        super::firewall::remove(&super::table_name_of(owner));
        if nl.is_none() {
            nl = super::netlink::Netlink::open().ok();
        }
        if let Some(nl) = nl.as_mut() {
            let _ = nl.delete_link(&e.file_name().to_string_lossy());
        }
    }
}

/// Claim `s` for network `net_id` of `root`, naming its bridge and the
/// root's firewall table (for the sweep of a deleted root). A subnet that
/// overlaps a live claim of another root is refused, as docker refuses a
/// bridge that overlaps another (`network create` has checked this already;
/// the default bridge's configured `bip` has not): two roots given the same
/// `bip` would otherwise share one subnet on two bridges, and the second
/// claim would hide the first root's bridge from the sweep. A claim of a
/// root that is gone is swept first (with its bridge and table) and taken.
pub fn claim(
    root: &Path,
    s: &Subnet,
    net_id: &str,
    bridge: &str,
    table: &str,
) -> Result<(), NetworkError> {
    std::fs::create_dir_all(CLAIMS)
        .map_err(crate::store::IoFailure::at("create", Path::new(CLAIMS)))?;
    if let Some(h) = claimed(root).into_iter().find(|h| h.subnet.overlaps(s)) {
        return Err(NetworkError::SubnetHeld {
            subnet: s.to_string(),
            held: h.subnet.to_string(),
            network: h.network,
            root: h.root,
        });
    }
    let p = claim_path(s);
    let data = format!("{}\n{net_id}\n{bridge}\n{table}\n", root.display());
    crate::store::replace_file(&p, data.as_bytes(), false)?;
    Ok(())
}

pub fn unclaim(root: &Path, s: &Subnet) {
    let p = claim_path(s);
    if let Ok(c) = std::fs::read_to_string(&p) {
        if c.lines().next().map(Path::new) == Some(root) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The subnets in use: this root's networks, other roots' claims, and the
/// host's routes (`routes` reads them). Routes are read after the sweep of
/// gone roots, claimed (`claimed`) or only labelled (`sweep_labelled`):
/// read before, a gone root's bridge kept its subnet in use until the next
/// command. The labelled sweep reads one sysfs file per bridge; it runs
/// only when a subnet is chosen (`network create`, a new default bridge).
pub fn used_subnets(
    root: &Path,
    nets: &[Network],
    routes: impl FnOnce() -> Vec<(Ipv4Addr, u8)>,
) -> Vec<Subnet> {
    let mut used: Vec<Subnet> = nets
        .iter()
        .filter_map(|n| n.subnet4().map(|s| s.0))
        .collect();
    used.extend(claimed(root).into_iter().map(|h| h.subnet));
    sweep_labelled();
    used.extend(routes().iter().map(|(a, p)| Subnet {
        addr: Ipv4Addr::from(u32::from(*a) & super::model::mask(*p)),
        prefix: *p,
    }));
    used
}

/// A free subnet from the default pools.
pub fn pick_subnet(used: &[Subnet]) -> Result<Subnet, NetworkError> {
    pool()
        .find(|s| !used.iter().any(|u| u.overlaps(s)))
        .ok_or(NetworkError::PoolExhausted)
}

/// The address for a new endpoint: `want` when given (inside the subnet, not
/// the network, broadcast or gateway address, not held), else the lowest free
/// one in the range (the subnet when no `--ip-range`).
pub fn allocate(
    net: &Network,
    held: &[HeldEndpoint],
    want: Option<Ipv4Addr>,
) -> Result<(Ipv4Addr, u8, Ipv4Addr), NetworkError> {
    let (subnet, gw, range) = net
        .subnet4()
        .ok_or_else(|| NetworkError::Invalid(format!("network {} has no IPv4 subnet", net.name)))?;
    // Every held address parsed once: the search below asks about up to
    // held+1 candidates, and parsing every record for each made a start on
    // a network of N containers cost N*N parses (0.3 ms at 100).
    let held: std::collections::HashSet<u32> =
        held.iter().filter_map(|e| e.ipv4.map(u32::from)).collect();
    let taken = |a: u32| {
        a == u32::from(gw) || a == subnet.first() || a == subnet.last() || held.contains(&a)
    };
    if let Some(w) = want {
        if !subnet.contains(w) {
            return Err(NetworkError::Invalid(format!(
                "no configured subnet or ip-range contain the IP address {w}"
            )));
        }
        if taken(u32::from(w)) {
            return Err(NetworkError::Invalid(format!(
                "Address already in use: {w} on network {}",
                net.name
            )));
        }
        return Ok((w, subnet.prefix, gw));
    }
    let r = range.unwrap_or(subnet);
    (r.first().max(subnet.first())..=r.last().min(subnet.last()))
        .find(|a| !taken(*a))
        .map(|a| (Ipv4Addr::from(a), subnet.prefix, gw))
        .ok_or_else(|| {
            NetworkError::Invalid(format!(
                "no available IPv4 addresses on network {}",
                net.name
            ))
        })
}

/// The IPv6 address for a new endpoint on a network with `--ipv6`: `want`
/// when given (inside the subnet, not the subnet's own (anycast) address nor
/// the gateway, not held), else the lowest free one in the range (the subnet
/// when no v6 `--ip-range`). None when the network has no v6 subnet.
pub fn allocate6(
    net: &Network,
    held: &[HeldEndpoint],
    want: Option<Ipv6Addr>,
) -> Result<Option<(Ipv6Addr, u8, Ipv6Addr)>, NetworkError> {
    let Some((subnet, gw, range)) = net.subnet6() else {
        if let Some(w) = want {
            return Err(NetworkError::Invalid(format!(
                "--ip6 {w}: network {} has no IPv6 subnet (create it with --ipv6 and a v6 --subnet)",
                net.name
            )));
        }
        return Ok(None);
    };
    // a set, as in `allocate`: one lookup per candidate, not a scan
    let held: std::collections::HashSet<u128> =
        held.iter().filter_map(|e| e.ipv6.map(u128::from)).collect();
    let taken = |a: u128| a == u128::from(gw) || a == subnet.first() || held.contains(&a);
    if let Some(w) = want {
        if !subnet.contains(w) {
            return Err(NetworkError::Invalid(format!(
                "no configured subnet or ip-range contain the IP address {w}"
            )));
        }
        if taken(u128::from(w)) {
            return Err(NetworkError::Invalid(format!(
                "Address already in use: {w} on network {}",
                net.name
            )));
        }
        return Ok(Some((w, subnet.prefix, gw)));
    }
    let r = range.unwrap_or(subnet);
    let (lo, hi) = (r.first().max(subnet.first()), r.last().min(subnet.last()));
    // At most held+2 candidates are taken, so the search ends quickly even in
    // a /64.
    let mut a = lo;
    loop {
        if !taken(a) {
            return Ok(Some((Ipv6Addr::from(a), subnet.prefix, gw)));
        }
        if a >= hi {
            return Err(NetworkError::Invalid(format!(
                "no available IPv6 addresses on network {}",
                net.name
            )));
        }
        a += 1;
    }
}

/// Other networks' v6 subnets that overlap `s` (this root's; v6 subnets are
/// given by the user, never picked from a pool).
/// docker's address on the default bridge with `fixed-cidr-v6` of /80 or
/// larger: the prefix, then the container's MAC in the last 48 bits
/// (`fd00:dead::242:ac11:2` for 02:42:ac:11:00:02). None when the prefix is
/// too long or that address is held already (then the lowest free one).
pub fn mac_based6(net: &Network, held: &[HeldEndpoint], mac: &[u8; 6]) -> Option<Ipv6Addr> {
    let (subnet, gw, _) = net.subnet6()?;
    if subnet.prefix > 80 {
        return None;
    }
    let low = mac.iter().fold(0u128, |a, b| (a << 8) | *b as u128);
    let a = Ipv6Addr::from(subnet.first() | low);
    let taken = a == gw || held.iter().any(|e| e.ipv6 == Some(a));
    (!taken).then_some(a)
}

pub fn overlapping6(nets: &[Network], s: &Subnet6) -> Option<Subnet6> {
    nets.iter()
        .filter_map(|n| n.subnet6().map(|x| x.0))
        .find(|o| o.overlaps(s))
}

/// docker's MAC for an address: 02:42 then the four bytes of the address.
pub fn mac_for(a: Ipv4Addr) -> [u8; 6] {
    let o = a.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn parse_mac(s: &str) -> Result<[u8; 6], NetworkError> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || NetworkError::Invalid(format!("invalid MAC address {s:?}"));
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut out = [0u8; 6];
    for (o, p) in out.iter_mut().zip(parts) {
        *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if out[0] & 1 == 1 {
        return Err(NetworkError::Invalid(format!(
            "invalid MAC address {s:?}: a multicast address"
        )));
    }
    Ok(out)
}

pub fn fmt_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::model::Endpoint;

    fn net(subnet: &str, gw: &str, range: &str) -> Network {
        let mut n = Network {
            name: "t".into(),
            ..Default::default()
        };
        n.ipam.config.push(super::super::model::IpamConfig {
            subnet: subnet.into(),
            gateway: gw.into(),
            ip_range: range.into(),
        });
        n
    }

    fn ep(ip: &str) -> HeldEndpoint {
        HeldEndpoint::from(&Endpoint {
            ipv4: ip.into(),
            ..Default::default()
        })
    }

    #[test]
    fn mac_based_v6_on_the_default_bridge() {
        let mut n = net6("fd00:dead::/64", "fd00:dead::1", "");
        n.name = "bridge".into();
        let mac = [0x02, 0x42, 0xac, 0x11, 0x00, 0x02];
        let a = mac_based6(&n, &[], &mac).unwrap();
        assert_eq!(a.to_string(), "fd00:dead::242:ac11:2");
        let held = HeldEndpoint::from(&Endpoint {
            ipv6: a.to_string(),
            ..Default::default()
        });
        assert_eq!(mac_based6(&n, &[held], &mac), None);
        let long = net6("fd00:dead::/96", "fd00:dead::1", "");
        assert_eq!(mac_based6(&long, &[], &mac), None);
    }

    #[test]
    fn lowest_free_never_twice() {
        let n = net("10.9.0.0/29", "10.9.0.1", "");
        let mut held = Vec::new();
        let mut got = Vec::new();
        for _ in 0..5 {
            let (a, p, gw) = allocate(&n, &held, None).unwrap();
            assert_eq!((p, gw), (29, "10.9.0.1".parse().unwrap()));
            held.push(ep(&a.to_string()));
            got.push(a.to_string());
        }
        assert_eq!(
            got,
            ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]
        );
        assert!(allocate(&n, &held, None).is_err(), "the subnet is full");
        held.remove(1);
        assert_eq!(allocate(&n, &held, None).unwrap().0.to_string(), "10.9.0.3");
    }

    #[test]
    fn requested_and_ranges() {
        let n = net("10.9.0.0/24", "10.9.0.1", "10.9.0.128/25");
        assert_eq!(allocate(&n, &[], None).unwrap().0.to_string(), "10.9.0.128");
        let e = allocate(&n, &[], Some("10.8.0.5".parse().unwrap())).unwrap_err();
        assert!(e.to_string().contains("10.8.0.5"), "{e}");
        let e = allocate(&n, &[ep("10.9.0.7")], Some("10.9.0.7".parse().unwrap())).unwrap_err();
        assert!(e.to_string().contains("already in use"), "{e}");
        assert!(allocate(&n, &[], Some("10.9.0.1".parse().unwrap())).is_err());
    }

    fn net6(v6: &str, gw6: &str, range6: &str) -> Network {
        let mut n = net("10.9.0.0/24", "10.9.0.1", "");
        n.enable_ipv6 = true;
        n.ipam.config.push(super::super::model::IpamConfig {
            subnet: v6.into(),
            gateway: gw6.into(),
            ip_range: range6.into(),
        });
        n
    }

    #[test]
    fn v6_lowest_free_never_twice() {
        let n = net6("fd10:1::/64", "fd10:1::1", "");
        let mut held = Vec::new();
        for want in ["fd10:1::2", "fd10:1::3", "fd10:1::4"] {
            let (a, p, gw) = allocate6(&n, &held, None).unwrap().unwrap();
            assert_eq!((a.to_string().as_str(), p), (want, 64));
            assert_eq!(gw.to_string(), "fd10:1::1");
            held.push(HeldEndpoint::from(&Endpoint {
                ipv6: a.to_string(),
                ..Default::default()
            }));
        }
        held.remove(1);
        let a = allocate6(&n, &held, None).unwrap().unwrap().0;
        assert_eq!(a.to_string(), "fd10:1::3");
        let e = allocate6(&n, &held, Some("fd10:1::2".parse().unwrap())).unwrap_err();
        assert!(e.to_string().contains("already in use"), "{e}");
        let e = allocate6(&n, &held, Some("fd10:2::2".parse().unwrap())).unwrap_err();
        assert!(e.to_string().contains("fd10:2::2"), "{e}");
        assert!(allocate6(&net("10.9.0.0/24", "10.9.0.1", ""), &[], None)
            .unwrap()
            .is_none());
        let r = net6("fd10:1::/64", "fd10:1::1", "fd10:1::100/120");
        let a = allocate6(&r, &[], None).unwrap().unwrap().0;
        assert_eq!(a.to_string(), "fd10:1::100");
        let tiny = net6("fd10:1::/126", "fd10:1::1", "");
        let mut held = Vec::new();
        for _ in 0..2 {
            let a = allocate6(&tiny, &held, None).unwrap().unwrap().0;
            held.push(HeldEndpoint::from(&Endpoint {
                ipv6: a.to_string(),
                ..Default::default()
            }));
        }
        assert!(allocate6(&tiny, &held, None).is_err(), "the subnet is full");
    }

    #[test]
    fn pools_skip_used() {
        let used = [
            Subnet::parse("172.17.0.0/16").unwrap(),
            Subnet::parse("172.18.5.0/24").unwrap(),
        ];
        assert_eq!(pick_subnet(&used).unwrap().to_string(), "172.19.0.0/16");
    }
}
