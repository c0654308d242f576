//! The network record (`<root>/networks/<id>/network.json`), the endpoint
//! record of one container on one network, and the per-container network
//! settings kept in the container record. Field names are docker's, so
//! `network inspect` and `inspect`'s `NetworkSettings` print them as they are.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One subnet of a network (docker's IPAM.Config entry).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamConfig {
    pub subnet: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    #[serde(rename = "IPRange", skip_serializing_if = "String::is_empty")]
    pub ip_range: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipam {
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub config: Vec<IpamConfig>,
}

/// `<root>/networks/<id>/network.json`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Network {
    pub name: String,
    pub id: String,
    pub created: String,
    pub scope: String,
    /// bridge | host | null
    pub driver: String,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// The bridge interface option (docker's name).
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";

impl Network {
    /// The default bridge network (`bridge`), the predefined `host` and `none`.
    pub fn is_predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }

    pub fn bridge_name(&self) -> Option<&str> {
        self.options.get(OPT_BRIDGE_NAME).map(String::as_str)
    }

    pub fn mtu(&self) -> Option<u32> {
        self.options.get(OPT_MTU).and_then(|m| m.parse().ok())
    }

    /// The first IPv4 subnet, parsed.
    pub fn subnet4(&self) -> Option<(Subnet, Ipv4Addr, Option<Subnet>)> {
        self.ipam.config.iter().find_map(|c| {
            let s = Subnet::parse(&c.subnet).ok()?;
            let gw = c.gateway.parse().ok()?;
            let range = if c.ip_range.is_empty() {
                None
            } else {
                Subnet::parse(&c.ip_range).ok()
            };
            Some((s, gw, range))
        })
    }

    /// The IPv6 subnet (with `--ipv6`), parsed: subnet, gateway, range.
    pub fn subnet6(&self) -> Option<(Subnet6, Ipv6Addr, Option<Subnet6>)> {
        if !self.enable_ipv6 {
            return None;
        }
        self.ipam.config.iter().find_map(|c| {
            let s = Subnet6::parse(&c.subnet).ok()?;
            let gw = c.gateway.parse().ok()?;
            let range = if c.ip_range.is_empty() {
                None
            } else {
                Subnet6::parse(&c.ip_range).ok()
            };
            Some((s, gw, range))
        })
    }
}

/// An IPv4 subnet `a.b.c.d/n` (the address masked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Subnet, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid subnet {s:?}: expected ADDRESS/PREFIX"))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("invalid subnet {s:?}: {a:?} is not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("invalid subnet {s:?}: bad prefix length {p:?}"))?;
        Ok(Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    pub fn first(&self) -> u32 {
        u32::from(self.addr)
    }

    pub fn last(&self) -> u32 {
        self.first() | !mask(self.prefix)
    }

    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & mask(self.prefix) == self.first()
    }

    pub fn overlaps(&self, o: &Subnet) -> bool {
        self.first() <= o.last() && o.first() <= self.last()
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An IPv6 subnet `a:b::/n` (the address masked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet6 {
    pub addr: Ipv6Addr,
    pub prefix: u8,
}

impl Subnet6 {
    pub fn parse(s: &str) -> Result<Subnet6, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid subnet {s:?}: expected ADDRESS/PREFIX"))?;
        let addr: Ipv6Addr = a
            .parse()
            .map_err(|_| format!("invalid subnet {s:?}: {a:?} is not an IPv6 address"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= 128)
            .ok_or_else(|| format!("invalid subnet {s:?}: bad prefix length {p:?}"))?;
        Ok(Subnet6 {
            addr: Ipv6Addr::from(u128::from(addr) & mask6(prefix)),
            prefix,
        })
    }

    pub fn first(&self) -> u128 {
        u128::from(self.addr)
    }

    pub fn last(&self) -> u128 {
        self.first() | !mask6(self.prefix)
    }

    pub fn contains(&self, a: Ipv6Addr) -> bool {
        u128::from(a) & mask6(self.prefix) == self.first()
    }

    pub fn overlaps(&self, o: &Subnet6) -> bool {
        self.first() <= o.last() && o.first() <= self.last()
    }
}

impl std::fmt::Display for Subnet6 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

pub fn mask6(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix as u32)
    }
}

pub fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix as u32)
    }
}

/// docker's PortBinding.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

/// "80/tcp" -> bindings (docker's PortMap).
pub type PortMap = BTreeMap<String, Vec<PortBinding>>;

/// `<root>/networks/<net id>/endpoints/<container id>.json`: an address held
/// by a container on a network (the IPAM allocation).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Endpoint {
    pub container_id: String,
    pub container_name: String,
    pub network_id: String,
    pub endpoint_id: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4: String,
    pub prefix: u8,
    pub gateway: String,
    pub mac_address: String,
    /// The IPv6 address on a network with `--ipv6` (empty otherwise), its
    /// prefix length and the network's v6 gateway.
    #[serde(rename = "IPv6Address", skip_serializing_if = "String::is_empty")]
    pub ipv6: String,
    #[serde(rename = "IPv6Prefix", skip_serializing_if = "is_zero")]
    pub prefix6: u8,
    #[serde(rename = "IPv6Gateway", skip_serializing_if = "String::is_empty")]
    pub gateway6: String,
    /// The host end of the veth pair.
    pub host_veth: String,
    /// The interface name inside the container.
    pub ifname: String,
    pub aliases: Vec<String>,
    /// Port rules (published on this endpoint's address).
    pub ports: Vec<PublishedPort>,
    /// The container's `--dns` servers: the network's responder forwards
    /// this container's other names to them instead of the host's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// Whether the container has `--link`s (its /etc/hosts follows their
    /// addresses, rewritten by every change on the default bridge). None in
    /// a record of an older berth: unknown, so its container is asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<bool>,
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

/// One forwarded port: host (ip, port) -> container port, proto tcp|udp|sctp.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "PascalCase", default)]
pub struct PublishedPort {
    pub proto: String,
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
}

/// What every start and exit needs of each endpoint on a network (the
/// repair scan, IPAM, the ports in use, the firewall), read from the
/// endpoint index without building the whole `Endpoint` (a dozen strings
/// each): a start then costs about the same with 1 or 100 containers on the
/// network (`NetworkStore::held`).
#[derive(Clone, Debug, PartialEq)]
pub struct Held {
    pub container_id: String,
    pub container_name: String,
    pub endpoint_id: String,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// `Endpoint::links`.
    pub links: Option<bool>,
    /// Usually empty (no allocation).
    pub ports: Vec<PublishedPort>,
}

impl From<&Endpoint> for Held {
    fn from(e: &Endpoint) -> Held {
        Held {
            container_id: e.container_id.clone(),
            container_name: e.container_name.clone(),
            endpoint_id: e.endpoint_id.clone(),
            ipv4: e.ipv4.parse().ok(),
            ipv6: e.ipv6.parse().ok(),
            links: e.links,
            ports: e.ports.clone(),
        }
    }
}
