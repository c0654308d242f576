//! What shows networks, in docker's shapes: `inspect`'s NetworkSettings,
//! `network inspect`, `ps`'s PORTS column, `port`, `stats`' NET I/O.

use super::endpoint::endpoints_of;
use super::model::{Network, PortMap};
use super::store::NetworkStore;
use crate::container::{ContainerRecord, ContainerStore};
use crate::context::Context;
use serde_json::{json, Map, Value};

/// The published ports of a running container: (container "80/tcp", host ip,
/// host port).
pub fn published(ctx: &Context, rec: &ContainerRecord) -> Vec<(String, String, u16)> {
    let Ok(st) = NetworkStore::open(ctx) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (_, ep) in endpoints_of(&st, &rec.id) {
        for p in ep.ports {
            let key = format!("{}/{}", p.container_port, p.proto);
            // on every address: IPv4's, and IPv6's too when the container
            // has a v6 address (docker shows both, `:::8080`)
            if p.host_ip.is_empty() && !ep.ipv6.is_empty() {
                out.push((key.clone(), "::".to_string(), p.host_port));
            }
            let ip = if p.host_ip.is_empty() {
                "0.0.0.0".to_string()
            } else {
                p.host_ip
            };
            out.push((key, ip, p.host_port));
        }
    }
    out.sort();
    out
}

/// docker's `Ports` map: every exposed or published port -> its bindings
/// (null when exposed only).
fn ports_map(ctx: &Context, rec: &ContainerRecord, running: bool) -> Value {
    let mut m = Map::new();
    if !running {
        return Value::Object(m);
    }
    for k in rec
        .config
        .exposed_ports
        .keys()
        .chain(rec.host_config.port_bindings.keys())
    {
        m.insert(k.clone(), Value::Null);
    }
    let mut pm: PortMap = PortMap::new();
    for (k, ip, port) in published(ctx, rec) {
        pm.entry(k).or_default().push(super::model::PortBinding {
            host_ip: ip,
            host_port: port.to_string(),
        });
    }
    for (k, v) in pm {
        m.insert(k, serde_json::to_value(v).unwrap_or(Value::Null));
    }
    Value::Object(m)
}

/// `ps`'s PORTS: "0.0.0.0:8080->80/tcp, 443/tcp".
pub fn ports_column(ctx: &Context, rec: &ContainerRecord, running: bool) -> String {
    if !running {
        return String::new();
    }
    let pubd = published(ctx, rec);
    let mut ports: Vec<ListedPort> = Vec::new();
    for (k, ip, port) in &pubd {
        if let Some((private, proto)) = split_port_key(k) {
            ports.push(ListedPort {
                private,
                proto,
                ip: ip.clone(),
                public: *port,
            });
        }
    }
    for k in rec.config.exposed_ports.keys() {
        if pubd.iter().any(|(pk, _, _)| pk == k) {
            continue;
        }
        if let Some((private, proto)) = split_port_key(k) {
            ports.push(ListedPort {
                private,
                proto,
                ip: String::new(),
                public: 0,
            });
        }
    }
    displayable_ports(ports)
}

/// "80/tcp" -> (80, "tcp").
fn split_port_key(k: &str) -> Option<(u16, String)> {
    let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
    Some((port.parse().ok()?, proto.to_string()))
}

/// One row of docker's container list `Ports` (ip empty: exposed only).
#[derive(Debug, Clone)]
struct ListedPort {
    private: u16,
    proto: String,
    ip: String,
    public: u16,
}

/// The PORTS text as docker's CLI makes it: ports sorted by container port,
/// then host address, then host port; a host port other than its container
/// port listed on its own ("0.0.0.0:8080->80/tcp", after the rest); runs of
/// consecutive ports published on the same numbers, or only exposed, folded
/// into ranges ("0.0.0.0:7000-7001->7000-7001/tcp", "80-81/tcp").
fn displayable_ports(mut ports: Vec<ListedPort>) -> String {
    ports.sort_by(|a, b| {
        (a.private, &a.ip, a.public, &a.proto).cmp(&(b.private, &b.ip, b.public, &b.proto))
    });
    // (group key: "proto" or "ip/proto", first, last), in creation order
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut mappings = Vec::new();
    for p in &ports {
        let key = if p.ip.is_empty() {
            p.proto.clone()
        } else if p.public != p.private {
            mappings.push(format!(
                "{}->{}/{}",
                host_port(&p.ip, p.public),
                p.private,
                p.proto
            ));
            continue;
        } else {
            format!("{}/{}", p.ip, p.proto)
        };
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            None => groups.push((key, p.private, p.private)),
            Some(g) if p.private == g.2.wrapping_add(1) => g.2 = p.private,
            Some(g) => {
                result.push(port_group(&g.0, g.1, g.2));
                *g = (key, p.private, p.private);
            }
        }
    }
    result.extend(groups.iter().map(|(k, a, b)| port_group(k, *a, *b)));
    result.extend(mappings);
    result.join(", ")
}

fn host_port(ip: &str, port: u16) -> String {
    host_port_range(ip, &port.to_string())
}

fn port_group(key: &str, first: u16, last: u16) -> String {
    let range = if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    };
    match key.rsplit_once('/') {
        Some((ip, proto)) => format!("{}->{range}/{proto}", host_port_range(ip, &range)),
        None => format!("{range}/{key}"),
    }
}

/// "IP:PORTS", with brackets for an IPv6 address.
fn host_port_range(ip: &str, range: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{range}")
    } else {
        format!("{ip}:{range}")
    }
}

/// `inspect`'s NetworkSettings.
pub fn network_settings(ctx: &Context, rec: &ContainerRecord, running: bool) -> Value {
    let st = NetworkStore::open(ctx).ok();
    let eps = match (&st, running) {
        (Some(st), true) => endpoints_of(st, &rec.id),
        _ => Vec::new(),
    };
    let mut networks = Map::new();
    let names: Vec<String> = match super::mode(rec) {
        super::Mode::Networks(n) => n,
        super::Mode::Host => vec!["host".into()],
        super::Mode::None => vec!["none".into()],
        super::Mode::Container(_) => Vec::new(),
    };
    for name in &names {
        let net = st.as_ref().and_then(|s| s.find(name).ok().flatten());
        let ep = net.as_ref().and_then(|n| {
            eps.iter()
                .find(|(en, _)| en.id == n.id)
                .map(|(_, e)| e.clone())
        });
        let cfg = rec.networking.endpoints_config.get(name);
        let ipam = cfg
            .filter(|c| c.ipv4_address.is_some() || c.ipv6_address.is_some())
            .map(|c| {
                let mut m = Map::new();
                if let Some(a) = &c.ipv4_address {
                    m.insert("IPv4Address".into(), json!(a));
                }
                if let Some(a) = &c.ipv6_address {
                    m.insert("IPv6Address".into(), json!(a));
                }
                Value::Object(m)
            });
        let key = net.as_ref().map(|n| n.name.clone()).unwrap_or(name.clone());
        let mut dns_names = Vec::new();
        if net.as_ref().is_some_and(|n| !n.is_predefined()) {
            dns_names.push(rec.name.clone());
            dns_names.push(rec.short_id().to_string());
            if let Some(c) = cfg {
                dns_names.extend(c.aliases.iter().cloned());
            }
        }
        networks.insert(
            key,
            json!({
                "IPAMConfig": ipam,
                "Links": if name == "bridge" && !rec.host_config.links.is_empty() { json!(rec.host_config.links) } else { Value::Null },
                "Aliases": cfg.map(|c| c.aliases.clone()).filter(|a| !a.is_empty()),
                "MacAddress": ep.as_ref().map(|e| e.mac_address.clone()).unwrap_or_default(),
                "NetworkID": net.as_ref().map(|n| n.id.clone()).unwrap_or_default(),
                "EndpointID": ep.as_ref().map(|e| e.endpoint_id.clone()).unwrap_or_default(),
                "Gateway": ep.as_ref().map(|e| e.gateway.clone()).unwrap_or_default(),
                "IPAddress": ep.as_ref().map(|e| e.ipv4.clone()).unwrap_or_default(),
                "IPPrefixLen": ep.as_ref().map(|e| e.prefix).unwrap_or(0),
                "IPv6Gateway": ep.as_ref().map(|e| e.gateway6.clone()).unwrap_or_default(),
                "GlobalIPv6Address": ep.as_ref().map(|e| e.ipv6.clone()).unwrap_or_default(),
                "GlobalIPv6PrefixLen": ep.as_ref().map(|e| e.prefix6).unwrap_or(0),
                "DriverOpts": Value::Null,
                "DNSNames": if dns_names.is_empty() { Value::Null } else { json!(dns_names) },
            }),
        );
    }
    // docker fills the top-level fields from the default bridge only
    let def = eps.iter().find(|(n, _)| n.name == "bridge").map(|(_, e)| e);
    let pin = super::netns::path(&ctx.state, &rec.id);
    json!({
        "Bridge": "",
        "SandboxID": if running && pin.exists() { rec.id.clone() } else { String::new() },
        "SandboxKey": if running && pin.exists() { pin.to_string_lossy().into_owned() } else { String::new() },
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports_map(ctx, rec, running),
        "SecondaryIPAddresses": Value::Null,
        "SecondaryIPv6Addresses": Value::Null,
        "EndpointID": def.map(|e| e.endpoint_id.clone()).unwrap_or_default(),
        "Gateway": def.map(|e| e.gateway.clone()).unwrap_or_default(),
        "GlobalIPv6Address": def.map(|e| e.ipv6.clone()).unwrap_or_default(),
        "GlobalIPv6PrefixLen": def.map(|e| e.prefix6).unwrap_or(0),
        "IPAddress": def.map(|e| e.ipv4.clone()).unwrap_or_default(),
        "IPPrefixLen": def.map(|e| e.prefix).unwrap_or(0),
        "IPv6Gateway": def.map(|e| e.gateway6.clone()).unwrap_or_default(),
        "MacAddress": def.map(|e| e.mac_address.clone()).unwrap_or_default(),
        "Networks": networks,
    })
}

/// `network inspect`: docker's shape with the attached containers.
pub fn network_inspect(ctx: &Context, n: &Network) -> Value {
    let mut v = serde_json::to_value(n).unwrap_or(Value::Null);
    let mut containers = Map::new();
    if let (Ok(st), Ok(cs)) = (NetworkStore::open(ctx), ContainerStore::open(ctx)) {
        for ep in st.endpoints(&n.id).unwrap_or_default().iter() {
            let name = cs
                .load(&ep.container_id)
                .map(|r| r.name)
                .unwrap_or(ep.container_name.clone());
            containers.insert(
                ep.container_id.clone(),
                json!({
                    "Name": name,
                    "EndpointID": ep.endpoint_id,
                    "MacAddress": ep.mac_address,
                    "IPv4Address": format!("{}/{}", ep.ipv4, ep.prefix),
                    "IPv6Address": if ep.ipv6.is_empty() { String::new() } else { format!("{}/{}", ep.ipv6, ep.prefix6) },
                }),
            );
        }
    }
    v["Containers"] = Value::Object(containers);
    v["ConfigFrom"] = json!({"Network": ""});
    v["ConfigOnly"] = json!(false);
    v
}

/// NET I/O of a running container: bytes received and sent by its interfaces
/// (lo excluded), read in its network namespace.
pub fn stats_bytes(ctx: &Context, rec: &ContainerRecord, pid: i32) -> Option<(u64, u64)> {
    let pin = super::netns::path(&ctx.state, &rec.id);
    let ns = if pin.exists() {
        pin
    } else if pid > 0 {
        std::path::PathBuf::from(format!("/proc/{pid}/ns/net"))
    } else {
        return None;
    };
    let links = super::netns::enter(&ns, || {
        super::netlink::Netlink::open().and_then(|mut nl| nl.link_stats())
    })
    .ok()?
    .ok()?;
    let (mut rx, mut tx) = (0, 0);
    for (name, s) in links {
        if name != "lo" {
            rx += s.rx_bytes;
            tx += s.tx_bytes;
        }
    }
    Some((rx, tx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(private: u16, proto: &str, ip: &str, public: u16) -> ListedPort {
        ListedPort {
            private,
            proto: proto.into(),
            ip: ip.into(),
            public,
        }
    }

    #[test]
    fn ports_column_in_dockers_order_and_ranges() {
        // docker 20.10's text for -p H1:80 -p 127.0.0.1:H2:80 -p 80
        // -p R-R+1:7000-7001 (IPv4 rows)
        let got = displayable_ports(vec![
            p(7000, "tcp", "0.0.0.0", 26186),
            p(7001, "tcp", "0.0.0.0", 26187),
            p(80, "tcp", "127.0.0.1", 26185),
            p(80, "tcp", "0.0.0.0", 32768),
            p(80, "tcp", "0.0.0.0", 26184),
        ]);
        assert_eq!(
            got,
            "0.0.0.0:26184->80/tcp, 0.0.0.0:32768->80/tcp, 127.0.0.1:26185->80/tcp, \
             0.0.0.0:26186->7000/tcp, 0.0.0.0:26187->7001/tcp"
        );
        // same numbers fold into ranges; exposed-only ports too
        let got = displayable_ports(vec![
            p(8001, "tcp", "0.0.0.0", 8001),
            p(8000, "tcp", "0.0.0.0", 8000),
            p(443, "tcp", "", 0),
            p(444, "tcp", "", 0),
            p(53, "udp", "", 0),
            p(9000, "tcp", "0.0.0.0", 9100),
        ]);
        assert_eq!(
            got,
            "53/udp, 443-444/tcp, 0.0.0.0:8000-8001->8000-8001/tcp, 0.0.0.0:9100->9000/tcp"
        );
    }
}
