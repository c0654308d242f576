//! Legacy links (`--link NAME[:ALIAS]`): the target's address under the alias
//! in /etc/hosts, and docker's link environment variables
//! (`ALIAS_PORT_5432_TCP_ADDR`, ...).

use super::model::Endpoint;
use super::names::files::HostEntry;
use super::store::NetworkStore;
use super::NetworkError;
use crate::container::{ContainerRecord, ContainerStore};
use crate::context::Context;

/// `NAME[:ALIAS]` -> (name, alias).
fn split(link: &str) -> (&str, &str) {
    let link = link.trim_start_matches('/');
    match link.split_once(':') {
        Some((n, a)) => (n, a.trim_start_matches('/')),
        None => (link, link),
    }
}

/// The target and its address (the endpoint on a network the container is
/// on, else its first).
fn target(
    cs: &ContainerStore,
    st: &NetworkStore,
    rec: &ContainerRecord,
    name: &str,
) -> Result<(ContainerRecord, Endpoint), NetworkError> {
    let t = cs.resolve(name).map_err(|_| {
        NetworkError::Invalid(format!(
            "could not get container for {name} (--link {name}): no such container"
        ))
    })?;
    let theirs = super::endpoint::endpoints_of(st, &t.id);
    let mine: Vec<String> = super::endpoint::endpoints_of(st, &rec.id)
        .into_iter()
        .map(|(n, _)| n.id)
        .collect();
    let ep = theirs
        .iter()
        .find(|(n, _)| mine.contains(&n.id))
        .or(theirs.first())
        .map(|(_, ep)| ep.clone())
        .ok_or_else(|| {
            NetworkError::Invalid(format!(
                "Cannot link to a non running container: /{} AS /{}/{}",
                t.name,
                rec.name,
                split(name).1
            ))
        })?;
    Ok((t, ep))
}

pub(super) fn hosts(
    cs: &ContainerStore,
    st: &NetworkStore,
    rec: &ContainerRecord,
) -> Result<Vec<HostEntry>, NetworkError> {
    let mut out = Vec::new();
    for l in &rec.host_config.links {
        let (name, alias) = split(l);
        let Ok((t, ep)) = target(cs, st, rec, name) else {
            continue; // checked by `env` at start; a gone target drops out
        };
        // docker's order: the alias, the target's short id (its hostname),
        // then its name
        let mut names = vec![alias.to_string(), t.short_id().to_string()];
        if t.name != alias {
            names.push(t.name.clone());
        }
        out.push(HostEntry { ip: ep.ipv4, names });
    }
    Ok(out)
}

/// docker's link variables for every `--link`.
pub(super) fn env(
    _ctx: &Context,
    cs: &ContainerStore,
    st: &NetworkStore,
    rec: &ContainerRecord,
) -> Result<Vec<String>, NetworkError> {
    let mut out = Vec::new();
    for l in &rec.host_config.links {
        let (name, alias) = split(l);
        let (t, ep) = target(cs, st, rec, name)?;
        let p = alias.to_uppercase().replace(['-', '.'], "_");
        out.push(format!("{p}_NAME=/{}/{alias}", rec.name));
        let mut ports: Vec<(u16, String)> = t
            .config
            .exposed_ports
            .keys()
            .chain(t.host_config.port_bindings.keys())
            .filter_map(|k| super::ports::split_key(k))
            .collect();
        ports.sort();
        ports.dedup();
        if let Some((port, proto)) = ports.first() {
            out.push(format!("{p}_PORT={proto}://{}:{port}", ep.ipv4));
        }
        for (port, proto) in &ports {
            let up = proto.to_uppercase();
            out.push(format!("{p}_PORT_{port}_{up}={proto}://{}:{port}", ep.ipv4));
            out.push(format!("{p}_PORT_{port}_{up}_ADDR={}", ep.ipv4));
            out.push(format!("{p}_PORT_{port}_{up}_PORT={port}"));
            out.push(format!("{p}_PORT_{port}_{up}_PROTO={proto}"));
        }
        for e in &t.config.env {
            if let Some((k, v)) = e.split_once('=') {
                if !matches!(k, "HOME" | "PATH" | "HOSTNAME") {
                    out.push(format!("{p}_ENV_{k}={v}"));
                }
            }
        }
    }
    Ok(out)
}
