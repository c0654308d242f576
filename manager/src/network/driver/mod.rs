//! Network drivers (netavark's idea): how an endpoint is wired. `bridge` is
//! the one with state; `host`, `none` and `container:` need no driver, they
//! only choose which namespace the container joins (see `Mode`).

pub mod bridge;

use super::model::{Endpoint, Network};
use super::netlink::Netlink;
use super::NetworkError;
use std::path::Path;

pub trait Driver {
    /// Wire `ep` (address already allocated) into the namespace pinned at
    /// `netns`; `inside`: a netlink socket already in that namespace (the
    /// one that made it), else the driver enters it; `default_route`: this
    /// endpoint carries the default route.
    fn attach(
        &self,
        net: &Network,
        ep: &Endpoint,
        netns: &Path,
        inside: Option<&mut Netlink>,
        default_route: bool,
    ) -> Result<(), NetworkError>;
    /// Undo `attach`; idempotent (after a crash it may find nothing).
    fn detach(&self, net: &Network, ep: &Endpoint) -> Result<(), NetworkError>;
    /// Make the network's shared parts (the bridge) ahead of any endpoint.
    fn setup(&self, net: &Network) -> Result<(), NetworkError>;
    /// The network is removed (or, for the default bridge, has no endpoint
    /// left): drop what `setup`/`attach` made for it.
    fn cleanup(&self, net: &Network) -> Result<(), NetworkError>;
}

/// Whether the network's bridge lives only while it has endpoints: the
/// default bridge (nothing stays on the host while no container runs). A user
/// network's bridge lives as long as the network, as with docker, so starting
/// a container on it changes no firewall rule unless it publishes ports.
pub fn on_demand(net: &Network) -> bool {
    net.name == "bridge"
}

pub fn for_network(net: &Network) -> Result<Box<dyn Driver>, NetworkError> {
    for_network_labelled(net, None)
}

/// `for_network` for the paths that make a bridge (`network create`, an
/// endpoint's attach): the bridge gets `label` (`network::bridge_label`).
pub fn for_network_labelled(
    net: &Network,
    label: Option<String>,
) -> Result<Box<dyn Driver>, NetworkError> {
    match net.driver.as_str() {
        "bridge" => Ok(Box::new(bridge::Bridge { label })),
        other => Err(NetworkError::Invalid(format!(
            "network {}: driver {other:?} has no endpoints (only bridge networks can be joined this way)",
            net.name
        ))),
    }
}
