//! Network records: the predefined `bridge`, `host` and `none`, and user
//! bridge networks (create, remove, prune), validated as docker does.

use super::model::{Ipam, IpamConfig, Network, Subnet, Subnet6, OPT_BRIDGE_NAME, OPT_MTU};
use super::store::{self, NetworkStore};
use super::{ipam, netlink::Netlink, NetworkError};
use crate::container::ContainerStore;
use crate::context::Context;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    pub internal: bool,
    pub ipv6: bool,
    /// The IPv6 subnet, gateway and range (with `ipv6`).
    pub subnet6: Option<String>,
    pub gateway6: Option<String>,
    pub ip_range6: Option<String>,
    pub attachable: bool,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

fn host_routes() -> Vec<(Ipv4Addr, u8)> {
    Netlink::open()
        .and_then(|mut n| n.ipv4_routes())
        .unwrap_or_default()
}

/// The default bridge's address (docker's `bip`): `BERTH_BIP`, else `bip` in
/// `<root>/daemon.json`, else a free pool subnet.
fn configured_bip(ctx: &Context) -> Result<Option<(Subnet, Ipv4Addr)>, NetworkError> {
    let from_env = std::env::var("BERTH_BIP").ok().filter(|s| !s.is_empty());
    let from_file = || -> Option<String> {
        let d = std::fs::read(ctx.root.join("daemon.json")).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&d).ok()?;
        v["bip"].as_str().map(str::to_string)
    };
    let Some(bip) = from_env
        .or_else(|| ctx.settings.bip.clone())
        .or_else(from_file)
    else {
        return Ok(None);
    };
    let s = Subnet::parse(&bip).map_err(|e| NetworkError::Invalid(format!("bip: {e}")))?;
    let gw: Ipv4Addr = bip
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| NetworkError::Invalid(format!("bip {bip:?}: bad address")))?;
    Ok(Some((s, gw)))
}

/// The default bridge's IPv6 subnet from docker's `ipv6` and
/// `fixed-cidr-v6`, checked: `ipv6` needs a prefix (docker's default pools
/// have no v6 pool), a prefix needs `ipv6` (docker ignores it then; berth
/// says so instead of a silent no-op), and it must leave room for a gateway
/// and containers. The error names the key.
pub fn default_bridge_v6(
    ipv6: Option<bool>,
    cidr: Option<&str>,
) -> Result<Option<Subnet6>, (&'static str, String)> {
    let key = "fixed-cidr-v6";
    match (ipv6.unwrap_or(false), cidr.filter(|c| !c.is_empty())) {
        (false, None) => Ok(None),
        (false, Some(c)) => Err((
            key,
            format!("{c:?} is set but \"ipv6\" is not true: set \"ipv6\": true to use it"),
        )),
        (true, None) => Err((
            key,
            "\"ipv6\": true needs an IPv6 prefix for the default bridge, e.g. \"fixed-cidr-v6\": \"fd00:dead::/64\"".into(),
        )),
        (true, Some(c)) => {
            let s = Subnet6::parse(c).map_err(|e| (key, e))?;
            if s.prefix > 126 {
                return Err((
                    key,
                    format!("{s} is too small for a gateway and a container (at most /126)"),
                ));
            }
            Ok(Some(s))
        }
    }
}

/// The default bridge's IPv6 subnet: `BERTH_IPV6`/`BERTH_FIXED_CIDR_V6`,
/// else the config file's `ipv6`/`fixed-cidr-v6`, else those keys in
/// `<root>/daemon.json` (as for `bip`).
fn configured_v6(ctx: &Context) -> Result<Option<Subnet6>, NetworkError> {
    let env = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
    let file: serde_json::Value = std::fs::read(ctx.root.join("daemon.json"))
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_default();
    let (ipv6, where_) = match env("BERTH_IPV6") {
        Some(v) => match v.as_str() {
            "1" | "true" => (Some(true), "BERTH_IPV6"),
            "0" | "false" => (Some(false), "BERTH_IPV6"),
            _ => {
                return Err(NetworkError::Invalid(format!(
                    "BERTH_IPV6={v:?}: expected true, false, 1 or 0"
                )))
            }
        },
        None => match ctx.settings.ipv6 {
            Some(b) => (Some(b), "the config file"),
            None => (file["ipv6"].as_bool(), "<root>/daemon.json"),
        },
    };
    let cidr = env("BERTH_FIXED_CIDR_V6")
        .or_else(|| ctx.settings.fixed_cidr_v6.clone())
        .or_else(|| file["fixed-cidr-v6"].as_str().map(str::to_string));
    let v6 = default_bridge_v6(ipv6, cidr.as_deref())
        .map_err(|(key, why)| NetworkError::Invalid(format!("{key} (from {where_}): {why}")))?;
    if v6.is_some() {
        host_has_ipv6().map_err(|e| {
            NetworkError::Invalid(format!(
                "ipv6 (from {where_}): {}",
                e.trim_start_matches("--ipv6: ")
            ))
        })?;
    }
    Ok(v6)
}

/// The v6 IPAM entry of the default bridge for `s` (gateway: its first host).
fn bridge_v6_config(s: &Subnet6) -> IpamConfig {
    IpamConfig {
        subnet: s.to_string(),
        gateway: Ipv6Addr::from(s.first() + 1).to_string(),
        ip_range: String::new(),
    }
}

/// Make the stored default bridge follow the configured IPv6 (docker applies
/// its daemon.json at each start; berth's bridge lives only while containers
/// use it, so a change applies once none does). Returns whether it changed.
fn follow_v6_config(
    st: &NetworkStore,
    have: &[Network],
    n: &mut Network,
    want: Option<Subnet6>,
) -> Result<bool, NetworkError> {
    let now = n.subnet6().map(|x| x.0);
    if now == want || !st.endpoints(&n.id)?.is_empty() {
        return Ok(false);
    }
    if let Some(s) = &want {
        let others: Vec<Network> = have.iter().filter(|o| o.id != n.id).cloned().collect();
        if let Some(o) = ipam::overlapping6(&others, s) {
            return Err(NetworkError::Invalid(format!(
                "fixed-cidr-v6 {s} overlaps the IPv6 subnet {o} of another network"
            )));
        }
    }
    // the bridge of the old setting (a crash may have left it): its
    // addresses go with it
    if let Ok(d) = super::driver::for_network(n) {
        let _ = d.cleanup(n);
    }
    n.ipam.config.retain(|c| Subnet6::parse(&c.subnet).is_err());
    n.enable_ipv6 = want.is_some();
    if let Some(s) = &want {
        n.ipam.config.push(bridge_v6_config(s));
    }
    st.save(n)?;
    Ok(true)
}

fn first_host(s: &Subnet) -> Ipv4Addr {
    Ipv4Addr::from(s.first() + 1)
}

/// Make the predefined networks when missing (the caller holds the lock).
pub fn ensure_predefined(ctx: &Context, st: &NetworkStore) -> Result<(), NetworkError> {
    let have = st.list()?;
    let v6 = configured_v6(ctx)?;
    for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
        if let Some(n) = have.iter().find(|n| n.name == name) {
            if name == "bridge" {
                follow_v6_config(st, &have, &mut n.clone(), v6)?;
            }
            continue;
        }
        let mut n = Network {
            name: name.into(),
            id: crate::container::store::new_id(),
            created: crate::store::now_rfc3339(),
            scope: "local".into(),
            driver: driver.into(),
            ipam: Ipam {
                driver: "default".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        if name == "bridge" {
            let bip = configured_bip(ctx)?;
            let (subnet, gw) = match bip {
                Some(x) => x,
                None => {
                    let used = ipam::used_subnets(&ctx.root, &have, host_routes);
                    let s = ipam::pick_subnet(&used)?;
                    (s, first_host(&s))
                }
            };
            n.ipam.config.push(IpamConfig {
                subnet: subnet.to_string(),
                gateway: gw.to_string(),
                ip_range: String::new(),
            });
            n.options
                .insert(OPT_BRIDGE_NAME.into(), super::default_bridge_name(ctx));
            n.options.insert(
                "com.docker.network.bridge.default_bridge".into(),
                "true".into(),
            );
            // The config file's `mtu` (docker's daemon.json key).
            if let Some(mtu) = ctx.settings.mtu {
                n.options.insert(OPT_MTU.into(), mtu.to_string());
            }
            if let Some(s6) = &v6 {
                if let Some(o) = ipam::overlapping6(&have, s6) {
                    return Err(NetworkError::Invalid(format!(
                        "fixed-cidr-v6 {s6} overlaps the IPv6 subnet {o} of another network"
                    )));
                }
                n.enable_ipv6 = true;
                n.ipam.config.push(bridge_v6_config(s6));
            }
            ipam::claim(
                &ctx.root,
                &subnet,
                &n.id,
                &super::default_bridge_name(ctx),
                &super::table_name(ctx),
            )
            .map_err(|e| match (e, bip) {
                // say which setting chose the clashing subnet
                (e @ NetworkError::SubnetHeld { .. }, Some((_, gw))) => NetworkError::Invalid(
                    format!("the default bridge's bip {gw}/{}: {e}", subnet.prefix),
                ),
                (e, _) => e,
            })?;
        }
        st.save(&n)?;
    }
    Ok(())
}

/// Create a user network.
pub fn create(ctx: &Context, req: CreateRequest) -> Result<Network, NetworkError> {
    if !crate::container::store::valid_name(&req.name) {
        return Err(NetworkError::Invalid(format!(
            "invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
            req.name
        )));
    }
    let driver = if req.driver.is_empty() {
        "bridge"
    } else {
        req.driver.as_str()
    };
    if driver != "bridge" {
        return Err(NetworkError::Invalid(format!(
            "network driver {driver:?} is not supported by berth (only bridge)"
        )));
    }
    let v6 = ipv6_config(&req)?;
    let mut options = BTreeMap::new();
    for (k, v) in &req.options {
        match k.as_str() {
            "mtu" | OPT_MTU => {
                let m: u32 = v
                    .parse()
                    .ok()
                    .filter(|m| (68..=65535).contains(m))
                    .ok_or_else(|| NetworkError::Invalid(format!("invalid MTU {v:?}")))?;
                options.insert(OPT_MTU.to_string(), m.to_string());
            }
            OPT_BRIDGE_NAME => {
                if v.is_empty() || v.len() > 15 {
                    return Err(NetworkError::Invalid(format!("invalid bridge name {v:?}")));
                }
                options.insert(k.clone(), v.clone());
            }
            other => {
                return Err(NetworkError::Invalid(format!(
                    "network option {other:?} is not supported (mtu, {OPT_MTU}, {OPT_BRIDGE_NAME})"
                )))
            }
        }
    }
    let _l = store::lock()?;
    let st = NetworkStore::open(ctx)?;
    ensure_predefined(ctx, &st)?;
    let all = st.list()?;
    if all.iter().any(|n| n.name == req.name) {
        return Err(NetworkError::Exists(req.name));
    }
    let used = ipam::used_subnets(&ctx.root, &all, host_routes);
    let subnet = match &req.subnet {
        Some(s) => {
            let sub = Subnet::parse(s).map_err(NetworkError::Invalid)?;
            if let Some(o) = used.iter().find(|u| u.overlaps(&sub)) {
                return Err(NetworkError::Invalid(format!(
                    "invalid pool request: Pool overlaps with other one on this address space ({sub} overlaps {o})"
                )));
            }
            sub
        }
        None => {
            if req.gateway.is_some() || req.ip_range.is_some() {
                return Err(NetworkError::Invalid(
                    "--gateway and --ip-range need --subnet".into(),
                ));
            }
            ipam::pick_subnet(&used)?
        }
    };
    if subnet.prefix > 30 {
        return Err(NetworkError::Invalid(format!(
            "subnet {subnet} is too small for a gateway and a container"
        )));
    }
    let gateway = match &req.gateway {
        Some(g) => {
            let gw: Ipv4Addr = g
                .parse()
                .map_err(|_| NetworkError::Invalid(format!("invalid gateway {g:?}")))?;
            if !subnet.contains(gw)
                || u32::from(gw) == subnet.first()
                || u32::from(gw) == subnet.last()
            {
                return Err(NetworkError::Invalid(format!(
                    "no matching subnet for gateway {gw}: it is not a host address of {subnet}"
                )));
            }
            gw
        }
        None => first_host(&subnet),
    };
    let ip_range = match &req.ip_range {
        Some(r) => {
            let rs = Subnet::parse(r).map_err(NetworkError::Invalid)?;
            if rs.first() < subnet.first() || rs.last() > subnet.last() {
                return Err(NetworkError::Invalid(format!(
                    "the ip-range {rs} is not inside the subnet {subnet}"
                )));
            }
            rs.to_string()
        }
        None => String::new(),
    };
    if let Some((s6, _)) = &v6 {
        if let Some(o) = ipam::overlapping6(&all, s6) {
            return Err(NetworkError::Invalid(format!(
                "invalid pool request: Pool overlaps with other one on this address space ({s6} overlaps {o})"
            )));
        }
    }
    let id = crate::container::store::new_id();
    options
        .entry(OPT_BRIDGE_NAME.to_string())
        .or_insert_with(|| format!("br-{}", &id[..12]));
    let bridge = options[OPT_BRIDGE_NAME].clone();
    if all.iter().any(|n| n.bridge_name() == Some(bridge.as_str())) {
        return Err(NetworkError::Invalid(format!(
            "bridge name {bridge} is already used by another network"
        )));
    }
    let n = Network {
        name: req.name,
        id,
        created: crate::store::now_rfc3339(),
        scope: "local".into(),
        driver: "bridge".into(),
        enable_ipv6: v6.is_some(),
        ipam: Ipam {
            driver: "default".into(),
            options: BTreeMap::new(),
            config: std::iter::once(IpamConfig {
                subnet: subnet.to_string(),
                gateway: gateway.to_string(),
                ip_range,
            })
            .chain(v6.map(|(_, c)| c))
            .collect(),
        },
        internal: req.internal,
        attachable: req.attachable,
        ingress: false,
        options,
        labels: req.labels,
    };
    ipam::claim(&ctx.root, &subnet, &n.id, &bridge, &super::table_name(ctx))?;
    if let Err(e) = st.save(&n) {
        ipam::unclaim(&ctx.root, &subnet);
        return Err(e);
    }
    // the bridge and its rules exist as long as the network (docker's way)
    let made = super::driver::for_network_labelled(&n, super::bridge_label(ctx))
        .and_then(|d| d.setup(&n))
        .and_then(|_| super::endpoint::sync_firewall(ctx, &st));
    if let Err(e) = made {
        if let Ok(d) = super::driver::for_network(&n) {
            let _ = d.cleanup(&n);
        }
        let _ = st.remove(&n.id);
        ipam::unclaim(&ctx.root, &subnet);
        let _ = super::endpoint::sync_firewall(ctx, &st);
        return Err(e);
    }
    crate::events::network(&ctx.root, "create", &n, None);
    Ok(n)
}

/// Several `--subnet` (`--gateway`, `--ip-range`) as docker pairs them: by
/// address family, one of each at most (berth's networks have one IPv4 and
/// optionally one IPv6 subnet). Returns (v4, v6).
pub fn split_families(
    flag: &str,
    values: &[String],
) -> Result<(Option<String>, Option<String>), NetworkError> {
    let (mut v4, mut v6) = (None, None);
    for v in values {
        let slot = if v.contains(':') { &mut v6 } else { &mut v4 };
        if let Some(prev) = slot.replace(v.clone()) {
            return Err(NetworkError::Invalid(format!(
                "{flag} {prev} and {flag} {v}: berth supports one IPv4 and one IPv6 {} per network",
                flag.trim_start_matches('-')
            )));
        }
    }
    Ok((v4, v6))
}

/// Whether the host has IPv6: `/proc/sys/net/ipv6` exists (the kernel has
/// it) and it is not disabled for every interface.
pub fn host_has_ipv6() -> Result<(), String> {
    if !std::path::Path::new("/proc/sys/net/ipv6").exists() {
        return Err("--ipv6: this host has no IPv6 (/proc/sys/net/ipv6 is absent: the kernel was built or booted without it)".into());
    }
    let disabled = std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/disable_ipv6")
        .is_ok_and(|v| v.trim() == "1");
    if disabled {
        return Err(
            "--ipv6: IPv6 is disabled on this host (net.ipv6.conf.all.disable_ipv6 = 1)".into(),
        );
    }
    Ok(())
}

/// The v6 part of a `network create --ipv6`: the subnet and its IPAM entry,
/// checked as docker 20.10 checks it (a v6 subnet without `--ipv6` is
/// refused; `--ipv6` without a v6 subnet too: docker's default pools have
/// no v6 pool).
fn ipv6_config(req: &CreateRequest) -> Result<Option<(Subnet6, IpamConfig)>, NetworkError> {
    if !req.ipv6 {
        if let Some(s) = &req.subnet6 {
            return Err(NetworkError::Invalid(format!(
                "--subnet {s}: an IPv6 subnet needs --ipv6"
            )));
        }
        if req.gateway6.is_some() || req.ip_range6.is_some() {
            return Err(NetworkError::Invalid(
                "an IPv6 --gateway or --ip-range needs --ipv6 and an IPv6 --subnet".into(),
            ));
        }
        return Ok(None);
    }
    host_has_ipv6().map_err(NetworkError::Invalid)?;
    let Some(s) = &req.subnet6 else {
        return Err(NetworkError::Invalid(
            "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network (--ipv6 needs an IPv6 --subnet)".into(),
        ));
    };
    let sub = Subnet6::parse(s).map_err(NetworkError::Invalid)?;
    if sub.prefix > 126 {
        return Err(NetworkError::Invalid(format!(
            "subnet {sub} is too small for a gateway and a container"
        )));
    }
    let gateway = match &req.gateway6 {
        Some(g) => {
            let gw: Ipv6Addr = g
                .parse()
                .map_err(|_| NetworkError::Invalid(format!("invalid gateway {g:?}")))?;
            if !sub.contains(gw) || u128::from(gw) == sub.first() {
                return Err(NetworkError::Invalid(format!(
                    "no matching subnet for gateway {gw}: it is not a host address of {sub}"
                )));
            }
            gw
        }
        None => Ipv6Addr::from(sub.first() + 1),
    };
    let ip_range = match &req.ip_range6 {
        Some(r) => {
            let rs = Subnet6::parse(r).map_err(NetworkError::Invalid)?;
            if rs.first() < sub.first() || rs.last() > sub.last() {
                return Err(NetworkError::Invalid(format!(
                    "the ip-range {rs} is not inside the subnet {sub}"
                )));
            }
            rs.to_string()
        }
        None => String::new(),
    };
    Ok(Some((
        sub,
        IpamConfig {
            subnet: sub.to_string(),
            gateway: gateway.to_string(),
            ip_range,
        },
    )))
}

/// Containers whose record names network `n` (running or not).
pub fn in_use_by(ctx: &Context, n: &Network) -> Result<Vec<String>, NetworkError> {
    let cs = ContainerStore::open(ctx)?;
    let mut out = Vec::new();
    for rec in cs.list()? {
        let uses = match super::mode(&rec) {
            super::Mode::Networks(nets) => nets.iter().any(|x| *x == n.name || *x == n.id),
            super::Mode::Host => n.name == "host",
            super::Mode::None => n.name == "none",
            super::Mode::Container(_) => false,
        };
        if uses {
            out.push(rec.name.clone());
        }
    }
    Ok(out)
}

/// Remove a user network that no running container is attached to.
pub fn remove(ctx: &Context, key: &str) -> Result<Network, NetworkError> {
    let _l = store::lock()?;
    let st = NetworkStore::open(ctx)?;
    super::endpoint::repair_locked(ctx, &st, true)?;
    let n = st.get(key)?;
    if n.is_predefined() {
        return Err(NetworkError::Invalid(format!(
            "{} is a pre-defined network and cannot be removed",
            n.name
        )));
    }
    remove_locked(ctx, &st, &n)?;
    super::endpoint::sync_firewall(ctx, &st)?;
    crate::events::network(&ctx.root, "destroy", &n, None);
    Ok(n)
}

/// Remove network `n` (a predefined one too) when no endpoint is attached:
/// its responder, bridge, record and subnet claim. The caller holds the lock
/// and syncs the firewall after.
fn remove_locked(ctx: &Context, st: &NetworkStore, n: &Network) -> Result<(), NetworkError> {
    let eps = st.endpoints(&n.id)?;
    if !eps.is_empty() {
        let names: Vec<String> = eps.iter().map(|e| e.container_name.clone()).collect();
        return Err(NetworkError::InUse {
            name: n.name.clone(),
            id: n.id.clone(),
            containers: names.join(", "),
        });
    }
    super::names::responder::stop(ctx, &n.id);
    if let Ok(d) = super::driver::for_network(n) {
        d.cleanup(n)?;
    }
    st.remove(&n.id)?;
    if let Some((s, _, _)) = n.subnet4() {
        ipam::unclaim(&ctx.root, &s);
    }
    Ok(())
}

/// What `remove_all` did.
#[derive(Debug, Default)]
pub struct RemovedAll {
    /// The removed networks' names.
    pub removed: Vec<String>,
    /// One line per network that stays, saying why.
    pub left: Vec<String>,
}

/// Remove every network of this root, the predefined ones too (`system
/// reset`: the default bridge's device and subnet claim go with it; the
/// next command that needs it makes it anew), then this root's firewall
/// rules. A network with endpoints stays and is named in `left`.
pub fn remove_all(ctx: &Context) -> Result<RemovedAll, NetworkError> {
    let _l = store::lock()?;
    let st = NetworkStore::open(ctx)?;
    super::endpoint::repair_locked(ctx, &st, true)?;
    let mut out = RemovedAll::default();
    for n in st.list()? {
        match remove_locked(ctx, &st, &n) {
            Ok(()) => {
                crate::events::network(&ctx.root, "destroy", &n, None);
                out.removed.push(n.name);
            }
            Err(e) => out.left.push(format!("network {}: {e}", n.name)),
        }
    }
    super::endpoint::sync_firewall_with(ctx, &st, true)?;
    if out.left.is_empty() {
        // what no network's rule set names any more (the table itself, a
        // socket-redirect pin, a DOCKER-USER jump)
        super::firewall::remove(&super::table_name(ctx));
    }
    Ok(out)
}

/// Remove user networks no container uses (docker's `network prune`); also
/// repairs what crashes left. Returns the removed networks' names.
pub fn prune(ctx: &Context, keep: impl Fn(&Network) -> bool) -> Result<Vec<String>, NetworkError> {
    let candidates: Vec<Network> = {
        let _l = store::lock()?;
        let st = NetworkStore::open(ctx)?;
        super::endpoint::repair_locked(ctx, &st, true)?;
        super::endpoint::sync_firewall_with(ctx, &st, true)?;
        st.list()?
    };
    let mut out = Vec::new();
    for n in candidates {
        if n.is_predefined() || keep(&n) || !in_use_by(ctx, &n)?.is_empty() {
            continue;
        }
        match remove(ctx, &n.id) {
            Ok(_) => out.push(n.name),
            Err(NetworkError::InUse { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Every network (the predefined ones made when missing), after a repair.
pub fn list(ctx: &Context) -> Result<Vec<Network>, NetworkError> {
    let _l = store::lock()?;
    let st = NetworkStore::open(ctx)?;
    ensure_predefined(ctx, &st)?;
    let touched = super::endpoint::repair_locked(ctx, &st, true)?;
    if !touched.is_empty() {
        super::endpoint::sync_firewall(ctx, &st)?;
    }
    st.list()
}

/// One network by name, id or id prefix.
pub fn get(ctx: &Context, key: &str) -> Result<Network, NetworkError> {
    list(ctx)?
        .into_iter()
        .find(|n| n.name == key || n.id == key)
        .map(Ok)
        .unwrap_or_else(|| NetworkStore::open(ctx)?.get(key))
}
