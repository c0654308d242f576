//! Networking without a daemon: bridge networks with IPAM stored under the
//! manager's root, pinned network namespaces wired through netlink before the
//! container starts, published ports as nftables DNAT rules, and per-container
//! /etc/hosts and resolv.conf for names. `prepare` runs before the shim starts
//! and `release` on every exit; both are idempotent and crash-safe: the state
//! on disk is the truth and the repair run by every change removes whatever a
//! killed container or berth left.

pub mod driver;
mod endpoint;
pub mod firewall;
pub mod hook;
pub mod ipam;
mod links;
pub mod model;
pub mod names;
pub mod netlink;
pub mod netns;
mod networks;
pub mod ports;
pub mod relay;
pub mod request;
mod settings;
pub mod sockredirect;
pub mod store;

pub use endpoint::{connect, disconnect, prepare, refresh_names, release, NsChoice};
pub use networks::{
    create, default_bridge_v6, ensure_predefined, get, in_use_by, list, prune, remove, remove_all,
    split_families, CreateRequest,
};
pub use settings::{network_inspect, network_settings, ports_column, published, stats_bytes};

use crate::container::{ContainerRecord, NetworkMode, NetworkingConfig};
use crate::context::{Context, DEFAULT_ROOT};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network id prefix {0:?} is ambiguous: it matches several networks")]
    Ambiguous(String),
    #[error("network with name {0} already exists")]
    Exists(String),
    #[error(
        "error while removing network: network {name} id {id} has active endpoints ({containers})"
    )]
    InUse {
        name: String,
        id: String,
        containers: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "subnet {subnet} overlaps {held}, held by network {network} of the berth root {root} (docker refuses an overlapping bridge likewise): give this root another subnet or bip, or remove that network"
    )]
    SubnetHeld {
        subnet: String,
        held: String,
        network: String,
        root: PathBuf,
    },
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    PoolExhausted,
    #[error(transparent)]
    Port(#[from] ports::PortError),
    #[error(transparent)]
    Netlink(#[from] netlink::NetlinkError),
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
    #[error("firewall: {0}")]
    Firewall(String),
    #[error("dns: {0}")]
    Dns(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is corrupt: {why}")]
    Corrupt { path: PathBuf, why: String },
    #[error(transparent)]
    Container(#[from] crate::container::ContainerError),
}

impl From<crate::store::IoFailure> for NetworkError {
    fn from(f: crate::store::IoFailure) -> NetworkError {
        NetworkError::Io {
            op: f.op,
            path: f.path,
            source: f.source,
        }
    }
}

/// How a container is networked (docker's NetworkMode).
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Bridge networks by name, the first carrying the default route.
    Networks(Vec<String>),
    None,
    Host,
    Container(String),
}

/// The mode of a container record.
pub fn mode(rec: &ContainerRecord) -> Mode {
    mode_of(&rec.host_config.network_mode, &rec.networking)
}

/// The mode from docker's NetworkMode and the endpoints asked for.
pub fn mode_of(m: &NetworkMode, networking: &NetworkingConfig) -> Mode {
    let first = match m {
        NetworkMode::None => return Mode::None,
        NetworkMode::Host => return Mode::Host,
        NetworkMode::Container(c) => return Mode::Container(c.clone()),
        NetworkMode::Default | NetworkMode::Bridge => "bridge".to_string(),
        NetworkMode::Named(n) => n.clone(),
    };
    let mut nets = vec![first.clone()];
    for k in networking.endpoints_config.keys() {
        if *k != first && !nets.contains(k) {
            nets.push(k.clone());
        }
    }
    Mode::Networks(nets)
}

/// A short stable tag for a non-default root (bridge and table names must be
/// unique on the host when several roots are in use, e.g. in tests).
fn root_tag(ctx: &Context) -> Option<String> {
    root_tag_of(&ctx.root)
}

/// `root_tag` of any root (the sweep names a deleted root's objects).
fn root_tag_of(root: &std::path::Path) -> Option<String> {
    if root == std::path::Path::new(DEFAULT_ROOT) {
        return None;
    }
    // FNV-1a: a tiny stable hash, no crate needed for 8 hex digits.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in root.as_os_str().as_encoded_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    Some(format!("{:08x}", h as u32))
}

/// berth's nftables table for this root.
pub fn table_name(ctx: &Context) -> String {
    table_name_of(&ctx.root)
}

/// berth's nftables table for `root`.
pub fn table_name_of(root: &std::path::Path) -> String {
    match root_tag_of(root) {
        None => "berth".into(),
        Some(t) => format!("berth_{t}"),
    }
}

/// What berth's bridges carry as their label (ifalias) before the root.
pub const BRIDGE_LABEL: &str = "berth root=";

/// The label of this root's bridges (`berth root=<root>`): a bridge whose
/// root is gone is found by it even when no subnet claim names it any more.
/// None when the root's path does not fit in an ifalias (255 bytes).
pub fn bridge_label(ctx: &Context) -> Option<String> {
    let l = format!("{BRIDGE_LABEL}{}", ctx.root.display());
    (l.len() < 256).then_some(l)
}

/// The default bridge's interface (docker's docker0).
pub fn default_bridge_name(ctx: &Context) -> String {
    match root_tag(ctx) {
        None => "berth0".into(),
        Some(t) => format!("bb{t}"),
    }
}
