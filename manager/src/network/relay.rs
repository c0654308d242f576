//! Published ports on [::1]: the ones the kernel cannot forward. IPv6 has no
//! `route_localnet` and routes ::1 only to `lo`, so a DNATed ::1 connection's
//! answers are dropped (the firewall leaves ::1 alone). As docker's userland
//! proxy answers there, the container's shim relays them (shim/src/relay.rs):
//! this module says which ports, from the container's endpoints, and only
//! when the host has ::1 at all.

use super::store::NetworkStore;
use crate::container::ContainerRecord;
use crate::context::Context;
use berth_shim_protocol::Relay;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// Whether `lo` has ::1 (IPv6 on, and not disabled for `lo`).
pub fn loopback6() -> bool {
    std::fs::read_to_string("/proc/net/if_inet6").is_ok_and(|t| {
        t.lines()
            .any(|l| l.starts_with("00000000000000000000000000000001"))
    })
}

/// Whether a port published on `host_ip` answers on [::1] too: published on
/// all addresses (docker binds its proxy on [::] as well), on `::`, or on
/// ::1 itself; TCP and UDP (docker's proxy has SCTP too; berth's relay
/// does not, so an SCTP port is refused on [::1] as before).
pub fn on_loopback6(proto: &str, host_ip: &str) -> bool {
    matches!(proto, "tcp" | "udp") && matches!(host_ip, "" | "::" | "::1")
}

/// The relays of the container's published ports, to its v6 address when
/// it has one (as docker's proxy), else its v4 one.
pub fn relays(ctx: &Context, rec: &ContainerRecord) -> Vec<Relay> {
    let hc = &rec.host_config;
    // most containers publish nothing: no store read on their start
    if hc.port_bindings.is_empty() && !hc.publish_all_ports {
        return Vec::new();
    }
    let Ok(st) = NetworkStore::open(ctx) else {
        return Vec::new();
    };
    let eps = super::endpoint::endpoints_of(&st, &rec.id);
    if eps.iter().all(|(_, ep)| ep.ports.is_empty()) || !loopback6() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (_, ep) in eps {
        let target: Option<IpAddr> = ep
            .ipv6
            .parse::<Ipv6Addr>()
            .ok()
            .map(IpAddr::V6)
            .or_else(|| ep.ipv4.parse().ok());
        let Some(target) = target else { continue };
        for p in ep
            .ports
            .iter()
            .filter(|p| on_loopback6(&p.proto, &p.host_ip))
        {
            out.push(Relay {
                proto: p.proto.clone(),
                listen: SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), p.host_port),
                target: SocketAddr::new(target, p.container_port),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_ports() {
        assert!(on_loopback6("tcp", ""));
        assert!(on_loopback6("udp", "::"));
        assert!(on_loopback6("tcp", "::1"));
        assert!(!on_loopback6("tcp", "127.0.0.1"));
        assert!(!on_loopback6("tcp", "0.0.0.0"));
        assert!(!on_loopback6("tcp", "fd00::2"));
        assert!(!on_loopback6("sctp", ""));
    }
}
