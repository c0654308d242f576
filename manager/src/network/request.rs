//! The network flags of `run`/`create` (and compose's service networks) into
//! the record's fields: docker's NetworkMode, NetworkingConfig and
//! PortBindings (`parse`, no state needed), and the checks that need the
//! network store (`check`, from the lifecycle's `create`), both before
//! anything is created.

use super::model::PortMap;
use super::store::NetworkStore;
use super::{ports, NetworkError};
use crate::container::{EndpointSettings, HostConfig, NetworkMode, NetworkingConfig};
use crate::context::Context;
use std::collections::BTreeMap;

/// What the user gave.
#[derive(Debug, Default, Clone)]
pub struct NetFlags {
    pub networks: Vec<String>,
    pub ip: Option<String>,
    /// `--ip6` on the first network.
    pub ip6: Option<String>,
    pub mac_address: Option<String>,
    pub aliases: Vec<String>,
    pub publish: Vec<String>,
    pub publish_all: bool,
    pub links: Vec<String>,
    pub add_hosts: Vec<String>,
}

/// The record's network fields.
#[derive(Debug, Default, Clone)]
pub struct NetRequest {
    pub network_mode: NetworkMode,
    pub networking: NetworkingConfig,
    pub port_bindings: PortMap,
}

/// `--expose PORT[-PORT][/PROTO]` into docker's ExposedPorts keys.
pub fn parse_expose(
    expose: &[String],
) -> Result<BTreeMap<String, serde_json::Value>, NetworkError> {
    let mut out = BTreeMap::new();
    for e in expose {
        let (ports, proto) = e.split_once('/').unwrap_or((e.as_str(), "tcp"));
        if !matches!(proto, "tcp" | "udp" | "sctp") {
            return Err(NetworkError::Invalid(format!(
                "invalid --expose {e:?}: unknown protocol {proto:?}"
            )));
        }
        let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
        let (a, b): (u16, u16) = match (a.parse(), b.parse()) {
            (Ok(a), Ok(b)) if a > 0 && a <= b => (a, b),
            _ => {
                return Err(NetworkError::Invalid(format!(
                    "invalid --expose {e:?}: expected PORT[-PORT][/PROTO]"
                )))
            }
        };
        for p in a..=b {
            out.insert(format!("{p}/{proto}"), serde_json::json!({}));
        }
    }
    Ok(out)
}

fn special(n: &str) -> bool {
    matches!(n, "host" | "none") || n.starts_with("container:")
}

/// The flags into the record's fields; every check that needs no state.
pub fn parse(f: &NetFlags) -> Result<NetRequest, NetworkError> {
    let port_bindings = ports::parse_all(&f.publish)?;
    for h in &f.add_hosts {
        if h.split_once(':').or_else(|| h.split_once('=')).is_none() {
            return Err(NetworkError::Invalid(format!(
                "invalid argument {h:?} for \"--add-host\" flag: expected HOST:IP"
            )));
        }
    }
    if let Some(m) = &f.mac_address {
        super::ipam::parse_mac(m)?;
    }
    if let Some(ip) = &f.ip {
        ip.parse::<std::net::Ipv4Addr>()
            .map_err(|_| NetworkError::Invalid(format!("invalid IPv4 address: {ip}")))?;
    }
    if let Some(ip) = &f.ip6 {
        ip.parse::<std::net::Ipv6Addr>()
            .map_err(|_| NetworkError::Invalid(format!("invalid IPv6 address: {ip}")))?;
    }
    let first = match f.networks.first().map(String::as_str) {
        None | Some("default") => "bridge".to_string(),
        Some(n) => n.to_string(),
    };
    if f.networks.len() > 1 && f.networks.iter().any(|n| special(n)) {
        return Err(NetworkError::Invalid(format!(
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes ({})",
            f.networks.join(", ")
        )));
    }
    if special(&first) {
        if !port_bindings.is_empty() || f.publish_all {
            if first == "host" {
                eprintln!("WARNING: Published ports are discarded when using host network mode");
            } else {
                return Err(NetworkError::Invalid(format!(
                    "conflicting options: port publishing and the container type network mode ({first})"
                )));
            }
        }
        if f.ip.is_some() || f.ip6.is_some() || !f.aliases.is_empty() || f.mac_address.is_some() {
            return Err(NetworkError::Invalid(format!(
                "conflicting options: --ip, --ip6, --network-alias and --mac-address need a bridge network, not {first}"
            )));
        }
        if !f.links.is_empty() {
            return Err(NetworkError::Invalid(format!(
                "conflicting options: --link needs a bridge network, not {first}"
            )));
        }
        if first == "container:" {
            return Err(NetworkError::Invalid(
                "--network container: needs a container name".into(),
            ));
        }
        return Ok(NetRequest {
            network_mode: NetworkMode::from(first.clone()),
            networking: NetworkingConfig::default(),
            port_bindings: if first == "host" {
                PortMap::new()
            } else {
                port_bindings
            },
        });
    }
    let mut networking = NetworkingConfig::default();
    let names: Vec<String> = if f.networks.is_empty() {
        vec![first.clone()]
    } else {
        f.networks
            .iter()
            .map(|n| {
                if n == "default" {
                    "bridge".into()
                } else {
                    n.clone()
                }
            })
            .collect()
    };
    for (i, name) in names.iter().enumerate() {
        let mut cfg = EndpointSettings::default();
        if i == 0 {
            if (f.ip.is_some() || f.ip6.is_some()) && name == "bridge" {
                return Err(NetworkError::Invalid(
                    "user specified IP address is supported on user defined networks only".into(),
                ));
            }
            if !f.aliases.is_empty() && name == "bridge" {
                return Err(NetworkError::Invalid(
                    "network-scoped alias is supported only for containers in user defined networks"
                        .into(),
                ));
            }
            cfg.ipv4_address = f.ip.clone();
            cfg.ipv6_address = f.ip6.clone();
            cfg.aliases = f.aliases.clone();
            cfg.mac_address = f.mac_address.clone();
        }
        networking.endpoints_config.insert(name.clone(), cfg);
    }
    Ok(NetRequest {
        network_mode: NetworkMode::from(first),
        networking,
        port_bindings,
    })
}

/// The networks a container names exist (the predefined ones are made on
/// first use); its published ports parse.
pub fn check(
    ctx: &Context,
    hc: &HostConfig,
    networking: &NetworkingConfig,
) -> Result<(), NetworkError> {
    for k in hc.port_bindings.keys() {
        if ports::split_key(k).is_none() {
            return Err(NetworkError::Invalid(format!("invalid port {k:?}")));
        }
    }
    let names = match super::mode_of(&hc.network_mode, networking) {
        super::Mode::Networks(n) => n,
        _ => return Ok(()),
    };
    let st = NetworkStore::open(ctx)?;
    for n in names {
        if st.find(&n)?.is_none() && n != "bridge" {
            return Err(NetworkError::NotFound(n));
        }
    }
    Ok(())
}
