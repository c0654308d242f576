//! The project's networks through berth's networking library: `up` makes
//! `project_default` and the top-level `networks:` (docker compose's labels),
//! each service joins its networks under its service and container names
//! (plus `aliases:`, `ipv4_address:`), publishes its `ports:`; `down` removes
//! the networks the project made. Nothing goes through the CLI.

use crate::compose::error::{ComposeError, Result};
use crate::compose::model::{Network, Project, Service};
use crate::compose::planner;
use crate::container::{CreateOptions, EndpointSettings, NetworkMode, NetworkingConfig};
use crate::context::Context;
use crate::network::{self, request, CreateRequest, NetworkError};
use sha2::{Digest, Sha256};

pub const LABEL_NETWORK: &str = "com.docker.compose.network";

fn net_err(what: &str, e: NetworkError) -> ComposeError {
    ComposeError::Invalid(format!("{what}: {e}"))
}

/// Whether the service joins the project's networks (rather than a
/// `network_mode`).
fn on_networks(s: &Service) -> bool {
    s.network_mode.is_none()
}

/// The project's network keys a service joins, in order (the first carries
/// the default route).
fn service_networks(s: &Service) -> Vec<String> {
    if s.networks.is_empty() {
        vec!["default".to_string()]
    } else {
        s.networks.keys().cloned().collect()
    }
}

/// The engine name of the project network `key`.
fn engine_name(project: &Project, key: &str) -> String {
    match project.networks.get(key) {
        Some(n) if !n.name.is_empty() => n.name.clone(),
        _ => format!("{}_{key}", project.name),
    }
}

/// Docker compose's `ports:` entry as a `-p` value for the network library.
fn port_spec(p: &crate::compose::model::Port) -> String {
    let mut s = String::new();
    if let Some(ip) = p.host_ip.as_deref().filter(|i| !i.is_empty()) {
        if ip.contains(':') {
            s.push_str(&format!("[{ip}]:"));
        } else {
            s.push_str(&format!("{ip}:"));
        }
        s.push_str(p.published.as_deref().unwrap_or(""));
        s.push(':');
    } else if let Some(h) = p.published.as_deref().filter(|h| !h.is_empty()) {
        s.push_str(&format!("{h}:"));
    }
    let proto = if p.protocol.is_empty() {
        "tcp"
    } else {
        &p.protocol
    };
    s.push_str(&format!("{}/{proto}", p.target));
    s
}

/// Fills the container's network settings from the service (the container's
/// name, `o.name`, must be set).
pub fn apply(project: &Project, service: &str, s: &Service, o: &mut CreateOptions) -> Result<()> {
    let key = |k: &str| format!("services.{service}.{k}");
    if !s.ports.is_empty() && s.network_mode.as_deref() != Some("host") {
        if !on_networks(s) && s.network_mode.as_deref() != Some("bridge") {
            return Err(ComposeError::Invalid(format!(
                "{}: ports cannot be published with network_mode {:?}",
                key("ports"),
                s.network_mode.as_deref().unwrap_or_default()
            )));
        }
        let specs: Vec<String> = s.ports.iter().map(port_spec).collect();
        o.host_config.port_bindings = network::ports::parse_all(&specs)
            .map_err(|e| ComposeError::Invalid(format!("{}: {e}", key("ports"))))?;
    }
    let expose: Vec<String> = s.expose.clone();
    let exposed = request::parse_expose(&expose).map_err(|e| net_err(&key("expose"), e))?;
    o.config.exposed_ports.extend(exposed);
    for k in o.host_config.port_bindings.keys() {
        o.config
            .exposed_ports
            .entry(k.clone())
            .or_insert(serde_json::json!({}));
    }
    o.host_config.dns = s.dns.clone();
    o.host_config.dns_search = s.dns_search.clone();
    o.host_config.extra_hosts = s.extra_hosts.clone();
    // Legacy links: a service's first container (`service[:alias]`, the
    // alias defaulting to the service name), and other containers as named.
    let mut links = Vec::new();
    for l in &s.links {
        let (svc, alias) = l.split_once(':').unwrap_or((l.as_str(), l.as_str()));
        let target = project.services.get(svc).ok_or_else(|| {
            ComposeError::Invalid(format!("{}: undefined service {svc:?}", key("links")))
        })?;
        links.push(format!(
            "{}:{alias}",
            planner::container_name(&project.name, svc, target, 1)
        ));
    }
    links.extend(s.external_links.iter().cloned());
    o.host_config.links = links;
    if !on_networks(s) {
        if s.network_mode.as_deref() != Some("bridge") && !s.links.is_empty() {
            return Err(ComposeError::Invalid(format!(
                "{}: links need a bridge network, not network_mode {:?}",
                key("links"),
                s.network_mode.as_deref().unwrap_or_default()
            )));
        }
        return Ok(());
    }
    let name = o.name.clone().unwrap_or_default();
    let mut networking = NetworkingConfig::default();
    let nets = service_networks(s);
    for k in &nets {
        if k != "default" && !project.networks.contains_key(k) {
            return Err(ComposeError::Invalid(format!(
                "{}: undefined network {k:?}",
                key("networks")
            )));
        }
        let cfg = s.networks.get(k).cloned().flatten().unwrap_or_default();
        let mut aliases = vec![service.to_string()];
        if !name.is_empty() && name != service {
            aliases.push(name.clone());
        }
        for a in cfg.aliases {
            if !aliases.contains(&a) {
                aliases.push(a);
            }
        }
        if let Some(ip) = &cfg.ipv4_address {
            ip.parse::<std::net::Ipv4Addr>().map_err(|_| {
                ComposeError::Invalid(format!(
                    "{}: invalid IPv4 address {ip:?}",
                    key(&format!("networks.{k}.ipv4_address"))
                ))
            })?;
        }
        networking.endpoints_config.insert(
            engine_name(project, k),
            EndpointSettings {
                aliases,
                ipv4_address: cfg.ipv4_address.clone(),
                ..EndpointSettings::default()
            },
        );
    }
    o.host_config.network_mode = NetworkMode::Named(engine_name(project, &nets[0]));
    o.networking = networking;
    Ok(())
}

/// The hash of a network's definition, kept in its config-hash label so a
/// changed definition is noticed.
fn net_hash(n: &Network) -> String {
    let j = serde_json::to_vec(n).unwrap_or_default();
    format!("{:x}", Sha256::digest(&j))
}

/// Makes the project's networks that its services use (external ones must
/// exist); a network whose definition changed is made again when no
/// container uses it, else a clear error.
pub fn ensure(ctx: &Context, project: &Project, services: &[String]) -> Result<()> {
    let mut keys: Vec<String> = Vec::new();
    for sn in services {
        if let Some(s) = project.services.get(sn) {
            if on_networks(s) {
                for k in service_networks(s) {
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
            }
        }
    }
    for k in keys {
        let def = project.networks.get(&k).cloned().unwrap_or_default();
        let name = engine_name(project, &k);
        let existing = match network::get(ctx, &name) {
            Ok(n) => Some(n),
            Err(NetworkError::NotFound(_)) => None,
            Err(e) => return Err(net_err(&format!("networks.{k}"), e)),
        };
        if def.external {
            if existing.is_none() {
                return Err(ComposeError::Invalid(format!(
                    "network {name} declared as external, but could not be found (networks.{k})"
                )));
            }
            continue;
        }
        let hash = net_hash(&def);
        if let Some(n) = existing {
            let ours = n.labels.get(planner::LABEL_PROJECT) == Some(&project.name);
            if !ours {
                eprintln!("WARN[0000] a network with name {name} exists but was not created for project {:?}; using it", project.name);
                continue;
            }
            if n.labels.get(planner::LABEL_CONFIG_HASH) == Some(&hash) {
                continue;
            }
            let users = network::in_use_by(ctx, &n).map_err(|e| net_err(&name, e))?;
            if !users.is_empty() {
                return Err(ComposeError::Invalid(format!(
                    "network {name} (networks.{k}) has changed configuration while containers use it ({}): run `berth compose down` first",
                    users.join(", ")
                )));
            }
            network::remove(ctx, &n.id).map_err(|e| net_err(&name, e))?;
            crate::compose::progress::line("✔", &format!("Network {name}"), "Removed");
        }
        if let Some(d) = def.driver.as_deref() {
            if d != "bridge" {
                return Err(ComposeError::Invalid(format!(
                    "networks.{k}.driver: berth supports only bridge, not {d:?}"
                )));
            }
        }
        let mut req = CreateRequest {
            name: name.clone(),
            driver: "bridge".into(),
            internal: def.internal,
            attachable: def.attachable,
            options: def.driver_opts.clone(),
            labels: def.labels.clone(),
            ..CreateRequest::default()
        };
        if let Some(ipam) = &def.ipam {
            if ipam.driver.as_deref().is_some_and(|d| d != "default") {
                return Err(ComposeError::Invalid(format!(
                    "networks.{k}.ipam.driver: berth supports only the default IPAM driver"
                )));
            }
            if ipam.config.len() > 1 {
                return Err(ComposeError::Invalid(format!(
                    "networks.{k}.ipam.config: berth supports one IPv4 subnet per network"
                )));
            }
            if let Some(c) = ipam.config.first() {
                if !c.aux_addresses.is_empty() {
                    return Err(ComposeError::Invalid(format!(
                        "networks.{k}.ipam.config.aux_addresses: berth does not support this key yet"
                    )));
                }
                req.subnet = c.subnet.clone();
                req.gateway = c.gateway.clone();
                req.ip_range = c.ip_range.clone();
            }
        }
        req.labels.insert(LABEL_NETWORK.into(), k.clone());
        req.labels
            .insert(planner::LABEL_PROJECT.into(), project.name.clone());
        req.labels.insert(
            planner::LABEL_VERSION.into(),
            planner::COMPOSE_VERSION.into(),
        );
        req.labels.insert(planner::LABEL_CONFIG_HASH.into(), hash);
        network::create(ctx, req).map_err(|e| net_err(&format!("networks.{k}"), e))?;
        crate::compose::progress::line("✔", &format!("Network {name}"), "Created");
    }
    Ok(())
}

/// `down`: removes the networks the project made (never external ones, nor
/// one other containers still use).
pub fn remove_all(ctx: &Context, project_name: &str) -> Result<()> {
    let nets = network::list(ctx).map_err(|e| net_err("networks", e))?;
    for n in nets {
        if n.labels.get(planner::LABEL_PROJECT).map(String::as_str) != Some(project_name)
            || !n.labels.contains_key(LABEL_NETWORK)
        {
            continue;
        }
        let users = network::in_use_by(ctx, &n).map_err(|e| net_err(&n.name, e))?;
        if !users.is_empty() {
            eprintln!(
                "WARN[0000] network {} is still in use by {}: not removed",
                n.name,
                users.join(", ")
            );
            continue;
        }
        network::remove(ctx, &n.id).map_err(|e| net_err(&n.name, e))?;
        crate::compose::progress::line("✔", &format!("Network {}", n.name), "Removed");
    }
    Ok(())
}

/// A `run` container: not reachable under the service's name (docker
/// compose's default without `--use-aliases`), and `-p` published.
pub fn oneoff(o: &mut CreateOptions, service: &str, publish: &[String]) -> Result<()> {
    for ep in o.networking.endpoints_config.values_mut() {
        ep.aliases.retain(|a| a != service);
    }
    if !publish.is_empty() {
        if !matches!(
            o.host_config.network_mode,
            NetworkMode::Named(_) | NetworkMode::Bridge | NetworkMode::Default
        ) {
            return Err(ComposeError::Invalid(
                "run --publish: ports cannot be published with this service's network_mode".into(),
            ));
        }
        let more = network::ports::parse_all(publish)
            .map_err(|e| ComposeError::Invalid(format!("run --publish: {e}")))?;
        for (k, v) in more {
            o.config
                .exposed_ports
                .entry(k.clone())
                .or_insert(serde_json::json!({}));
            o.host_config.port_bindings.entry(k).or_default().extend(v);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::Port;

    fn port(ip: Option<&str>, published: Option<&str>, target: u16, proto: &str) -> Port {
        Port {
            host_ip: ip.map(str::to_string),
            published: published.map(str::to_string),
            target,
            protocol: proto.into(),
            ..Port::default()
        }
    }

    #[test]
    fn ports_become_publish_specs() {
        assert_eq!(port_spec(&port(None, None, 80, "tcp")), "80/tcp");
        assert_eq!(
            port_spec(&port(None, Some("8080"), 80, "udp")),
            "8080:80/udp"
        );
        assert_eq!(
            port_spec(&port(Some("127.0.0.1"), Some("9000-9010"), 80, "")),
            "127.0.0.1:9000-9010:80/tcp"
        );
        assert_eq!(
            port_spec(&port(Some("127.0.0.1"), None, 80, "tcp")),
            "127.0.0.1::80/tcp"
        );
        assert_eq!(
            port_spec(&port(Some("::1"), Some("81"), 80, "tcp")),
            "[::1]:81:80/tcp"
        );
        let all =
            network::ports::parse_all(&[port_spec(&port(Some("127.0.0.1"), None, 80, "tcp"))])
                .unwrap();
        assert_eq!(all["80/tcp"][0].host_ip, "127.0.0.1");
    }
}
