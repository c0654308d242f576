//! `linux.netDevices`: host interfaces moved into the container's network
//! namespace during `create`, as runc 1.3 does: the link is set down, moved
//! and renamed in one RTM_NEWLINK (so the new name never clashes on the
//! host), its permanent global addresses (which the kernel drops on a move)
//! are added again inside, and it is set up. When the namespace goes away
//! the kernel gives physical devices back to the host and destroys virtual
//! ones; `delete` moves them back itself when the namespace outlives the
//! container (a namespace joined by path).

use std::collections::HashMap;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use oci_spec::runtime::LinuxNetDevice;

#[derive(Debug, thiserror::Error)]
pub enum NetDevError {
    #[error("netDevices: netlink socket: {0}")]
    Socket(std::io::Error),
    #[error("netDevices: {what}: {source}")]
    Request {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("netDevices: {what}: bad netlink reply: {why}")]
    Decode { what: String, why: String },
    #[error("netDevices: link not found for interface {0} on the runtime's network namespace")]
    NotFound(String),
    #[error("netDevices: {0}")]
    Invalid(String),
}

type Result<T> = std::result::Result<T, NetDevError>;

/// Names as the kernel accepts them (IFNAMSIZ, no '/', ':' or blanks), so a
/// bad config fails before anything is moved.
pub fn validate(devices: &HashMap<String, LinuxNetDevice>) -> Result<()> {
    let ok = |n: &str| {
        !n.is_empty()
            && n.len() < libc::IFNAMSIZ
            && n != "."
            && n != ".."
            && !n
                .bytes()
                .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
    };
    let mut targets = std::collections::HashSet::new();
    for (host, dev) in devices {
        if !ok(host) {
            return Err(NetDevError::Invalid(format!(
                "linux.netDevices: invalid host interface name {host:?}"
            )));
        }
        let name = dev.name().as_deref().unwrap_or(host);
        if !ok(name) {
            return Err(NetDevError::Invalid(format!(
                "linux.netDevices.{host}.name: invalid interface name {name:?}"
            )));
        }
        if !targets.insert(name.to_string()) {
            return Err(NetDevError::Invalid(format!(
                "linux.netDevices: two devices are named {name:?} in the container"
            )));
        }
    }
    Ok(())
}

struct Netlink {
    sock: Socket,
    seq: u32,
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    fn open() -> Result<Netlink> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(NetDevError::Socket)?;
        sock.bind_auto().map_err(NetDevError::Socket)?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(NetDevError::Socket)?;
        Ok(Netlink { sock, seq: 0 })
    }

    /// A socket in the network namespace `ns`: made by a short-lived thread
    /// that joins it (a socket stays in the namespace it was made in, and
    /// only that thread's namespace changes).
    fn open_in(ns: &OwnedFd) -> Result<Netlink> {
        let fd = ns
            .as_fd()
            .try_clone_to_owned()
            .map_err(NetDevError::Socket)?;
        std::thread::spawn(move || -> Result<Netlink> {
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| NetDevError::Socket(e.into()))?;
            Netlink::open()
        })
        .join()
        .map_err(|_| NetDevError::Invalid("the netlink thread panicked".into()))?
    }

    /// One request; every reply until the ACK (or DONE for a dump).
    fn request(
        &mut self,
        what: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        let req_err = |source| NetDevError::Request {
            what: what.into(),
            source,
        };
        self.sock.send(&buf, 0).map_err(req_err)?;
        let mut out = Vec::new();
        loop {
            let (data, _) = self.sock.recv_from_full().map_err(req_err)?;
            let mut off = 0;
            while off < data.len() {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..]).map_err(
                    |e| NetDevError::Decode {
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
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(out),
                            Some(code) => {
                                Err(req_err(std::io::Error::from_raw_os_error(-code.get())))
                            }
                        }
                    }
                    NetlinkPayload::InnerMessage(inner) => out.push(inner),
                    _ => {}
                }
            }
        }
    }

    fn link_index(&mut self, name: &str) -> Result<Option<u32>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        match self.request(
            &format!("get link {name}"),
            RouteNetlinkMessage::GetLink(msg),
            NLM_F_ACK,
        ) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(NetDevError::Request { source, .. })
                if source.raw_os_error() == Some(libc::ENODEV) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn set_up(&mut self, index: u32, up: bool) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = if up {
            LinkFlags::Up
        } else {
            LinkFlags::empty()
        };
        msg.header.change_mask = LinkFlags::Up;
        self.request(
            &format!("set link {index} {}", if up { "up" } else { "down" }),
            RouteNetlinkMessage::SetLink(msg),
            NLM_F_ACK,
        )?;
        Ok(())
    }

    /// The addresses worth carrying over: permanent (configured, not
    /// autoconfigured) and of global scope, as runc keeps.
    fn kept_addresses(&mut self, index: u32) -> Result<Vec<(IpAddr, u8)>> {
        let replies = self.request(
            "list addresses",
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            NLM_F_DUMP,
        )?;
        let mut out = Vec::new();
        for r in replies {
            let RouteNetlinkMessage::NewAddress(a) = r else {
                continue;
            };
            if a.header.index != index || a.header.scope != AddressScope::Universe {
                continue;
            }
            let mut permanent = a.header.flags.contains(AddressHeaderFlags::Permanent);
            let mut addr = None;
            for attr in &a.attributes {
                match attr {
                    AddressAttribute::Flags(f) => permanent = f.contains(AddressFlags::Permanent),
                    AddressAttribute::Local(ip) => addr = Some(*ip),
                    AddressAttribute::Address(ip) if addr.is_none() => addr = Some(*ip),
                    _ => {}
                }
            }
            if let (true, Some(ip)) = (permanent, addr) {
                out.push((ip, a.header.prefix_len));
            }
        }
        Ok(out)
    }

    fn add_address(&mut self, index: u32, addr: IpAddr, prefix: u8) -> Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.index = index;
        msg.header.prefix_len = prefix;
        msg.header.family = match addr {
            IpAddr::V4(_) => netlink_packet_route::AddressFamily::Inet,
            IpAddr::V6(_) => netlink_packet_route::AddressFamily::Inet6,
        };
        msg.attributes.push(AddressAttribute::Local(addr));
        msg.attributes.push(AddressAttribute::Address(addr));
        match self.request(
            &format!("add address {addr}/{prefix}"),
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(NetDevError::Request { source, .. })
                if source.raw_os_error() == Some(libc::EEXIST) =>
            {
                Ok(())
            }
            r => r.map(|_| ()),
        }
    }

    /// Move link `index` into the namespace `ns` under `new_name`, in one
    /// message (the kernel renames as it moves).
    fn move_to(&mut self, index: u32, new_name: &str, ns: &OwnedFd) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::IfName(new_name.into()));
        msg.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        self.request(
            &format!("move link {index} as {new_name}"),
            RouteNetlinkMessage::SetLink(msg),
            NLM_F_ACK,
        )?;
        Ok(())
    }
}

/// Move `host` (in the caller's namespace) into `ns` as `name`, keeping its
/// addresses, and set it up there.
fn move_one(host_nl: &mut Netlink, ns: &OwnedFd, host: &str, name: &str) -> Result<()> {
    let index = host_nl
        .link_index(host)?
        .ok_or_else(|| NetDevError::NotFound(host.to_string()))?;
    host_nl.set_up(index, false)?;
    let addrs = host_nl.kept_addresses(index)?;
    host_nl.move_to(index, name, ns)?;
    let mut inner = Netlink::open_in(ns)?;
    let index = inner
        .link_index(name)?
        .ok_or_else(|| NetDevError::Invalid(format!("{name} missing after the move")))?;
    for (ip, prefix) in addrs {
        inner.add_address(index, ip, prefix)?;
    }
    inner.set_up(index, true)
}

/// Move every device of the config into the network namespace of `pid`.
pub fn move_in(pid: i32, devices: &HashMap<String, LinuxNetDevice>) -> Result<()> {
    let ns: OwnedFd = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map_err(|e| NetDevError::Request {
            what: format!("open the network namespace of {pid}"),
            source: e,
        })?
        .into();
    let mut host_nl = Netlink::open()?;
    // Sorted, so that a failure names the same device every time.
    let mut list: Vec<_> = devices.iter().collect();
    list.sort_by(|a, b| a.0.cmp(b.0));
    // All must exist before any moves: a missing one then changes nothing.
    for (host, _) in &list {
        if host_nl.link_index(host)?.is_none() {
            return Err(NetDevError::NotFound(host.to_string()));
        }
    }
    for (host, dev) in list {
        let name = dev.name().as_deref().unwrap_or(host);
        move_one(&mut host_nl, &ns, host, name)?;
    }
    Ok(())
}

/// Give the devices back to the runtime's namespace under their host names
/// (`delete`, while the container's namespace still exists); a device that
/// is gone (destroyed with a namespace) is skipped.
pub fn move_out(ns: &OwnedFd, devices: &HashMap<String, LinuxNetDevice>) -> Result<()> {
    let host_ns: OwnedFd = std::fs::File::open("/proc/self/ns/net")
        .map_err(|e| NetDevError::Request {
            what: "open the runtime's network namespace".into(),
            source: e,
        })?
        .into();
    let mut inner = Netlink::open_in(ns)?;
    let mut host_nl = Netlink::open()?;
    for (host, dev) in devices {
        let name = dev.name().as_deref().unwrap_or(host);
        let Some(index) = inner.link_index(name)? else {
            continue;
        };
        inner.set_up(index, false)?;
        let addrs = inner.kept_addresses(index)?;
        inner.move_to(index, host, &host_ns)?;
        if let Some(index) = host_nl.link_index(host)? {
            for (ip, prefix) in addrs {
                host_nl.add_address(index, ip, prefix)?;
            }
        }
    }
    Ok(())
}
