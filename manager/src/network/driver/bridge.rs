//! The bridge driver: a Linux bridge per network (made on the first endpoint,
//! removed after the last), the gateway address on it, and per endpoint a veth
//! pair whose peer is created directly inside the container's namespace,
//! where it gets its address, MAC and (for the first network) the default
//! route. All through netlink.

use super::Driver;
use crate::network::model::{Endpoint, Network};
use crate::network::netlink::Netlink;
use crate::network::{netns, NetworkError};
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::path::Path;

pub struct Bridge {
    /// The ifalias a bridge made (or found) here gets: its root, for the
    /// sweep of a deleted root (`network::bridge_label`).
    pub label: Option<String>,
}

fn bridge_name(net: &Network) -> Result<&str, NetworkError> {
    net.bridge_name()
        .ok_or_else(|| NetworkError::Invalid(format!("network {} has no bridge name", net.name)))
}

/// Set a per-interface IPv4 sysctl (e.g. route_localnet so 127.0.0.1 can be
/// forwarded to the bridge, as docker does for docker0).
fn conf(ifname: &str, key: &str, value: &str) {
    let _ = std::fs::write(format!("/proc/sys/net/ipv4/conf/{ifname}/{key}"), value);
}

impl Bridge {
    fn ensure(&self, nl: &mut Netlink, net: &Network) -> Result<u32, NetworkError> {
        let br = bridge_name(net)?;
        let (subnet, gw, _) = net
            .subnet4()
            .ok_or_else(|| NetworkError::Invalid(format!("network {} has no subnet", net.name)))?;
        // docker's 02:42 + the gateway's address: stable, never a container's
        let idx = nl.ensure_bridge(
            br,
            net.mtu(),
            crate::network::ipam::mac_for(gw),
            self.label.as_deref(),
        )?;
        nl.add_address(idx, IpAddr::V4(gw), subnet.prefix)?;
        conf(br, "route_localnet", "1");
        // Forwarding between the bridge and the world (docker turns it on too).
        let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1");
        if let Some((s6, gw6, _)) = net.subnet6() {
            // A bridge made by a kernel or an earlier run with IPv6 off for
            // it would refuse the address.
            let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{br}/disable_ipv6"), "0");
            nl.add_address(idx, IpAddr::V6(gw6), s6.prefix)?;
            // As docker's bridge driver does for an IPv6 network (a host that
            // takes its own route from router advertisements would need
            // accept_ra=2 on that interface then; docker documents the same).
            let _ = std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1");
        }
        Ok(idx)
    }
}

impl Driver for Bridge {
    fn attach(
        &self,
        net: &Network,
        ep: &Endpoint,
        ns: &Path,
        inside: Option<&mut Netlink>,
        default_route: bool,
    ) -> Result<(), NetworkError> {
        let mut nl = Netlink::open()?;
        let br = self.ensure(&mut nl, net)?;
        let mac = crate::network::ipam::parse_mac(&ep.mac_address)?;
        let nsfile = File::open(ns).map_err(crate::store::IoFailure::at("open", ns))?;
        let create = |nl: &mut Netlink| {
            nl.create_veth(
                &ep.host_veth,
                &ep.ifname,
                nsfile.as_fd(),
                net.mtu(),
                Some(mac),
                br,
            )
        };
        if let Err(e) = create(&mut nl) {
            if e.errno() != Some(libc::EEXIST) {
                return Err(e.into());
            }
            // This container's veth from its last run, still going with that
            // run's namespace (the kernel deletes it as it frees the
            // namespace, see `netns::dies_with_pin`): replace it now.
            nl.delete_link(&ep.host_veth)?;
            create(&mut nl)?;
        }
        let addr: Ipv4Addr = ep
            .ipv4
            .parse()
            .map_err(|_| NetworkError::Invalid(format!("bad address {}", ep.ipv4)))?;
        let gw: Option<Ipv4Addr> = if default_route && !net.internal {
            ep.gateway.parse().ok()
        } else {
            None
        };
        let v6: Option<(Ipv6Addr, u8)> = ep.ipv6.parse().ok().map(|a| (a, ep.prefix6));
        let gw6: Option<Ipv6Addr> = if default_route && !net.internal {
            ep.gateway6.parse().ok()
        } else {
            None
        };
        let (ifname, prefix) = (ep.ifname.clone(), ep.prefix);
        let ns_path = ns.to_path_buf();
        let configure = move |nl: &mut Netlink| -> Result<(), NetworkError> {
            let idx = nl.link_index(&ifname)?.ok_or_else(|| {
                NetworkError::Invalid(format!("{ifname} missing in the namespace"))
            })?;
            nl.add_address(idx, IpAddr::V4(addr), prefix)?;
            nl.set_up(idx)?;
            if let Some(gw) = gw {
                nl.add_default_route(gw.into())?;
            }
            if let Some((a6, p6)) = v6 {
                // /proc/sys/net is the reader's namespace's: only a thread
                // in the container's may write it
                netns::enter(&ns_path, {
                    let ifname = ifname.clone();
                    move || {
                        let _ = std::fs::write(
                            format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6"),
                            "0",
                        );
                    }
                })?;
                nl.add_address(idx, IpAddr::V6(a6), p6)?;
                if let Some(gw6) = gw6 {
                    nl.add_default_route(gw6.into())?;
                }
            }
            Ok(())
        };
        match inside {
            // the socket that made the namespace: no thread to enter it
            Some(nl) => configure(nl),
            None => netns::enter(ns, move || configure(&mut Netlink::open()?))?,
        }
    }

    fn detach(&self, _net: &Network, ep: &Endpoint) -> Result<(), NetworkError> {
        // Deleting one end of a veth pair deletes both.
        let mut nl = Netlink::open()?;
        nl.delete_link(&ep.host_veth)?;
        Ok(())
    }

    fn setup(&self, net: &Network) -> Result<(), NetworkError> {
        let mut nl = Netlink::open()?;
        self.ensure(&mut nl, net)?;
        Ok(())
    }

    fn cleanup(&self, net: &Network) -> Result<(), NetworkError> {
        let mut nl = Netlink::open()?;
        nl.delete_link(bridge_name(net)?)?;
        Ok(())
    }
}
