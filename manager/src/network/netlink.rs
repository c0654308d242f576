//! rtnetlink requests over a synchronous NETLINK_ROUTE socket: links (bridge,
//! veth), addresses, routes. Messages come from netlink-packet-route; the
//! socket from netlink-sys. A socket belongs to the network namespace its
//! creator was in, so `Netlink::open` inside a namespace (see `netns::enter`)
//! talks to that namespace.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink socket: {0}")]
    Socket(std::io::Error),
    #[error("netlink: {what}: {source}")]
    Request {
        what: String,
        source: std::io::Error,
    },
    #[error("netlink: {what}: bad reply: {why}")]
    Decode { what: String, why: String },
}

impl NetlinkError {
    /// The errno of a refused request (EEXIST, ENODEV, ...).
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Request { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// Counters of one interface.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkStats {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

pub struct Netlink {
    sock: Socket,
    seq: u32,
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink, NetlinkError> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::Socket)?;
        sock.bind_auto().map_err(NetlinkError::Socket)?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(NetlinkError::Socket)?;
        Ok(Netlink { sock, seq: 0 })
    }

    /// Send one request; collect every reply message until the ACK (or DONE
    /// for a dump).
    fn request(
        &mut self,
        what: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.sock.send(&buf, 0).map_err(|e| NetlinkError::Request {
            what: what.into(),
            source: e,
        })?;
        let mut out = Vec::new();
        loop {
            let (data, _) = self
                .sock
                .recv_from_full()
                .map_err(|e| NetlinkError::Request {
                    what: what.into(),
                    source: e,
                })?;
            let mut off = 0;
            while off < data.len() {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..]).map_err(
                    |e| NetlinkError::Decode {
                        what: what.into(),
                        why: e.to_string(),
                    },
                )?;
                let len = m.header.length as usize;
                if len == 0 {
                    break;
                }
                off += (len + 3) & !3;
                if m.header.sequence_number != self.seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) => match e.code {
                        None => return Ok(out),
                        Some(code) => {
                            return Err(NetlinkError::Request {
                                what: what.into(),
                                source: std::io::Error::from_raw_os_error(-code.get()),
                            })
                        }
                    },
                    // a dump's parts, or a get's reply (its ACK follows)
                    NetlinkPayload::InnerMessage(inner) => out.push(inner),
                    _ => {}
                }
            }
        }
    }

    /// The index of interface `name`, if it exists.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>, NetlinkError> {
        Ok(self.link(name)?.map(|l| l.header.index))
    }

    /// Interface `name` (its header: index, flags; its attributes), if it
    /// exists.
    fn link(&mut self, name: &str) -> Result<Option<LinkMessage>, NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        match self.request(
            &format!("get link {name}"),
            RouteNetlinkMessage::GetLink(msg),
            NLM_F_ACK,
        ) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every interface's name and counters (for `stats`).
    pub fn link_stats(&mut self) -> Result<Vec<(String, LinkStats)>, NetlinkError> {
        let replies = self.request(
            "dump links",
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        let mut out = Vec::new();
        for r in replies {
            if let RouteNetlinkMessage::NewLink(l) = r {
                let mut name = String::new();
                let mut st = LinkStats::default();
                for a in &l.attributes {
                    match a {
                        LinkAttribute::IfName(n) => name = n.clone(),
                        LinkAttribute::Stats64(s) => {
                            st.rx_bytes = s.rx_bytes;
                            st.tx_bytes = s.tx_bytes;
                        }
                        _ => {}
                    }
                }
                out.push((name, st));
            }
        }
        Ok(out)
    }

    /// A bridge `name` (kept when it already exists), up, with MAC address
    /// `mac`. A bridge without an address of its own takes the lowest of
    /// its ports' and changes it as ports come and go: the containers'
    /// ARP entries for the gateway (where the DNS responder listens) would
    /// then point at a container's veth until they expire. `alias`: its
    /// label (ifalias), set in the same request.
    pub fn ensure_bridge(
        &mut self,
        name: &str,
        mtu: Option<u32>,
        mac: [u8; 6],
        alias: Option<&str>,
    ) -> Result<u32, NetlinkError> {
        let mut found = self.link(name)?;
        if found.is_none() {
            let mut msg = LinkMessage::default();
            msg.attributes.push(LinkAttribute::IfName(name.into()));
            if let Some(m) = mtu {
                msg.attributes.push(LinkAttribute::Mtu(m));
            }
            msg.attributes
                .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                    InfoKind::Bridge,
                )]));
            match self.request(
                &format!("create bridge {name}"),
                RouteNetlinkMessage::NewLink(msg),
                NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            ) {
                Ok(_) => {}
                Err(e) if e.errno() == Some(libc::EEXIST) => {}
                Err(e) => return Err(e),
            }
            found = self.link(name)?;
        }
        let l = found.ok_or_else(|| NetlinkError::Decode {
            what: format!("create bridge {name}"),
            why: "the bridge is missing after its creation".into(),
        })?;
        let idx = l.header.index;
        // Up with its address and label already (every start after the first): no
        // change to ask for. A SETLINK runs under the kernel's RTNL lock and
        // a MAC change calls every netdevice notifier, on each start.
        let up = l.header.flags.contains(LinkFlags::Up);
        let has_mac = l
            .attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::Address(m) if m[..] == mac[..]));
        // A bridge made by an older berth may lack its root's label, which
        // the sweep needs to find it once the root is gone.
        let labelled = alias.is_none_or(|a| {
            l.attributes
                .iter()
                .any(|x| matches!(x, LinkAttribute::IfAlias(v) if v == a))
        });
        if up && has_mac && labelled {
            return Ok(idx);
        }
        let mut msg = LinkMessage::default();
        msg.header.index = idx;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        if let Some(a) = alias {
            msg.attributes.push(LinkAttribute::IfAlias(a.into()));
        }
        self.request(
            &format!("set bridge {name} up"),
            RouteNetlinkMessage::SetLink(msg),
            NLM_F_ACK,
        )?;
        Ok(idx)
    }

    /// A veth pair: `host` here, its peer `peer` created directly in the
    /// network namespace `netns` (an open nsfs file); `host` up and a port of
    /// the bridge `master`: one request (no move, no lookup of the new index,
    /// no separate "up" and "enslave"). The peer stays down: the kernel
    /// refuses to bring it up in this request (ENOTCONN: the pair is linked
    /// only after the peer is configured), its owner does that inside.
    pub fn create_veth(
        &mut self,
        host: &str,
        peer: &str,
        netns: BorrowedFd<'_>,
        mtu: Option<u32>,
        peer_mac: Option<[u8; 6]>,
        master: u32,
    ) -> Result<(), NetlinkError> {
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.into()));
        p.attributes.push(LinkAttribute::NetNsFd(netns.as_raw_fd()));
        if let Some(m) = mtu {
            p.attributes.push(LinkAttribute::Mtu(m));
        }
        if let Some(mac) = peer_mac {
            p.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes.push(LinkAttribute::IfName(host.into()));
        msg.attributes.push(LinkAttribute::Controller(master));
        if let Some(m) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(m));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.request(
            &format!("create veth {host}"),
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(())
    }

    pub fn set_up(&mut self, index: u32) -> Result<(), NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.request(
            &format!("set link {index} up"),
            RouteNetlinkMessage::SetLink(msg),
            NLM_F_ACK,
        )?;
        Ok(())
    }

    /// Delete interface `name`; a missing one is not an error (idempotent
    /// tear-down).
    pub fn delete_link(&mut self, name: &str) -> Result<bool, NetlinkError> {
        let Some(idx) = self.link_index(name)? else {
            return Ok(false);
        };
        let mut msg = LinkMessage::default();
        msg.header.index = idx;
        match self.request(
            &format!("delete link {name}"),
            RouteNetlinkMessage::DelLink(msg),
            NLM_F_ACK,
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Add `addr/prefix` to interface `index` (already present is fine). An
    /// IPv6 address is added `nodad`: usable at once (no seconds of
    /// duplicate address detection; IPAM guarantees it is unique).
    pub fn add_address(
        &mut self,
        index: u32,
        addr: IpAddr,
        prefix: u8,
    ) -> Result<(), NetlinkError> {
        let mut msg = AddressMessage::default();
        msg.header.index = index;
        msg.header.prefix_len = prefix;
        msg.header.family = match addr {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        msg.attributes.push(AddressAttribute::Local(addr));
        msg.attributes.push(AddressAttribute::Address(addr));
        if let IpAddr::V4(v4) = addr {
            let bits = u32::from(v4) | (u32::MAX.checked_shr(prefix as u32).unwrap_or(0));
            msg.attributes
                .push(AddressAttribute::Broadcast(Ipv4Addr::from(bits)));
        } else {
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match self.request(
            &format!("add address {addr}/{prefix}"),
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.errno() == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The default route through `gateway` (of either family).
    pub fn add_default_route(&mut self, gateway: IpAddr) -> Result<(), NetlinkError> {
        let mut msg = RouteMessage::default();
        let (family, via) = match gateway {
            IpAddr::V4(g) => (AddressFamily::Inet, RouteAddress::Inet(g)),
            IpAddr::V6(g) => (AddressFamily::Inet6, RouteAddress::Inet6(g)),
        };
        msg.header.address_family = family;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes.push(RouteAttribute::Gateway(via));
        match self.request(
            &format!("add default route via {gateway}"),
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.errno() == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The IPv4 destinations of the main table's routes (to avoid subnets in use).
    pub fn ipv4_routes(&mut self) -> Result<Vec<(Ipv4Addr, u8)>, NetlinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        let replies = self.request(
            "dump routes",
            RouteNetlinkMessage::GetRoute(msg),
            NLM_F_DUMP,
        )?;
        let mut out = Vec::new();
        for r in replies {
            if let RouteNetlinkMessage::NewRoute(m) = r {
                if m.header.table != RouteHeader::RT_TABLE_MAIN
                    || m.header.destination_prefix_length == 0
                {
                    continue;
                }
                for a in &m.attributes {
                    if let RouteAttribute::Destination(RouteAddress::Inet(d)) = a {
                        out.push((*d, m.header.destination_prefix_length));
                    }
                }
            }
        }
        Ok(out)
    }
}
