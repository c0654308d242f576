//! The network flags of `run`/`create` (and compose's service networks) into
//! the record's fields: docker's NetworkMode, EndpointsConfig and
//! PortBindings, checked before anything is created.

use super::model::{EndpointConfig, NetworkingConfig, PortMap};
use super::store::NetworkStore;
use super::{ports, NetworkError};
use crate::context::Context;

/// What the user gave.
#[derive(Debug, Default, Clone)]
pub struct NetFlags {
    pub networks: Vec<String>,
    pub ip: Option<String>,
    pub mac_address: Option<String>,
    pub aliases: Vec<String>,
    pub publish: Vec<String>,
    pub publish_all: bool,
    pub links: Vec<String>,
}

/// The record's network fields.
#[derive(Debug, Default, Clone)]
pub struct NetRequest {
    pub network_mode: String,
    pub networking: NetworkingConfig,
    pub port_bindings: PortMap,
}

pub fn build(ctx: &Context, f: &NetFlags) -> Result<NetRequest, NetworkError> {
    let port_bindings = ports::parse_all(&f.publish)?;
    let first = f
        .networks
        .first()
        .cloned()
        .unwrap_or_else(|| "bridge".into());
    let first = if first == "default" {
        "bridge".to_string()
    } else {
        first
    };
    let special = |n: &str| matches!(n, "host" | "none") || n.starts_with("container:");
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
        if f.ip.is_some() || !f.aliases.is_empty() || f.mac_address.is_some() && first != "none" {
            return Err(NetworkError::Invalid(format!(
                "conflicting options: --ip, --network-alias and --mac-address need a bridge network, not {first}"
            )));
        }
        if !f.links.is_empty() {
            return Err(NetworkError::Invalid(format!(
                "conflicting options: --link needs a bridge network, not {first}"
            )));
        }
        if let Some(c) = first.strip_prefix("container:") {
            if c.is_empty() {
                return Err(NetworkError::Invalid(
                    "--network container: needs a container name".into(),
                ));
            }
        }
        let port_bindings = if first == "host" {
            PortMap::new()
        } else {
            port_bindings
        };
        return Ok(NetRequest {
            network_mode: first,
            networking: NetworkingConfig::default(),
            port_bindings,
        });
    }
    if let Some(m) = &f.mac_address {
        super::ipam::parse_mac(m)?;
    }
    let st = NetworkStore::open(ctx)?;
    let mut networking = NetworkingConfig::default();
    for (i, n) in f
        .networks
        .iter()
        .chain(f.networks.is_empty().then_some(&first))
        .enumerate()
    {
        let name = if n == "default" { "bridge" } else { n.as_str() };
        // the predefined networks are made on first use
        let net = match st.find(name)? {
            Some(net) => net.name,
            None if name == "bridge" => "bridge".to_string(),
            None => return Err(NetworkError::NotFound(name.to_string())),
        };
        let mut cfg = EndpointConfig::default();
        if i == 0 {
            if let Some(ip) = &f.ip {
                if net == "bridge" {
                    return Err(NetworkError::Invalid(
                        "user specified IP address is supported on user defined networks only"
                            .into(),
                    ));
                }
                ip.parse::<std::net::Ipv4Addr>()
                    .map_err(|_| NetworkError::Invalid(format!("invalid IPv4 address: {ip}")))?;
                cfg.ipv4_address = ip.clone();
            }
            if !f.aliases.is_empty() && net == "bridge" {
                return Err(NetworkError::Invalid(
                    "network-scoped alias is supported only for containers in user defined networks".into(),
                ));
            }
            cfg.aliases = f.aliases.clone();
            cfg.mac_address = f.mac_address.clone().unwrap_or_default();
        }
        networking.endpoints_config.insert(net, cfg);
    }
    Ok(NetRequest {
        network_mode: first,
        networking,
        port_bindings,
    })
}
