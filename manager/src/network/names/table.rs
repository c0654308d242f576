//! The DNS responder's names: hash maps from a name to its addresses and
//! from an address to its name, kept up to date one endpoint record at a
//! time. A change of the network (a start, stop, rename, connect or
//! disconnect) rewrites or removes one record; the responder re-reads that
//! one and `put`s or `remove`s it here, so the work of a change does not
//! grow with the number of containers on the network, and a question is a
//! hash lookup.

use crate::network::model::Endpoint;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// One endpoint under one name: replicas are answered in the order of
/// their container names (then ids), as the records were sorted before.
#[derive(Debug, Clone)]
struct Holder<A> {
    order: (String, String),
    addr: A,
}

/// What the table keeps of one record: enough to take it out again.
#[derive(Debug, Clone)]
struct Entry {
    order: (String, String),
    names: Vec<String>,
    ip: Option<Ipv4Addr>,
    ip6: Option<Ipv6Addr>,
}

/// The names of a network's endpoints.
#[derive(Default, Debug)]
pub struct Table {
    /// The records by key (their file name: the container id).
    entries: HashMap<String, Entry>,
    names: HashMap<String, Vec<Holder<Ipv4Addr>>>,
    /// The IPv6 addresses of the same names (endpoints on a network with
    /// `--ipv6`).
    names6: HashMap<String, Vec<Holder<Ipv6Addr>>>,
    /// Reverse names, with the key of the record that holds the address.
    ptr: HashMap<Ipv4Addr, (String, String)>,
    ptr6: HashMap<Ipv6Addr, (String, String)>,
    /// Per-client upstreams (a container's `--dns`).
    dns_of: HashMap<Ipv4Addr, Vec<SocketAddr>>,
    /// The container behind each address.
    container: HashMap<Ipv4Addr, String>,
}

impl Table {
    /// A table of `eps`, keyed by container id.
    pub fn build(eps: &[Endpoint]) -> Table {
        let mut t = Table::default();
        for ep in eps {
            t.put(&ep.container_id, ep);
        }
        t
    }

    /// How many records the table holds.
    pub fn endpoints(&self) -> usize {
        self.entries.len()
    }

    /// The addresses of `name` (lower case), in replica order.
    pub fn v4(&self, name: &str) -> Option<impl ExactSizeIterator<Item = Ipv4Addr> + Clone + '_> {
        self.names.get(name).map(|h| h.iter().map(|h| h.addr))
    }

    /// The IPv6 addresses of `name` (lower case), in replica order.
    pub fn v6(&self, name: &str) -> Option<impl ExactSizeIterator<Item = Ipv6Addr> + Clone + '_> {
        self.names6
            .get(name)
            .filter(|h| !h.is_empty())
            .map(|h| h.iter().map(|h| h.addr))
    }

    pub fn ptr(&self, ip: Ipv4Addr) -> Option<&str> {
        self.ptr.get(&ip).map(|(_, n)| n.as_str())
    }

    pub fn ptr6(&self, ip: Ipv6Addr) -> Option<&str> {
        self.ptr6.get(&ip).map(|(_, n)| n.as_str())
    }

    pub fn dns_of(&self, client: Ipv4Addr) -> Option<&Vec<SocketAddr>> {
        self.dns_of.get(&client)
    }

    pub fn container(&self, client: Ipv4Addr) -> Option<&str> {
        self.container.get(&client).map(String::as_str)
    }

    /// Take in the record `key` as it is now (replacing what it said before).
    pub fn put(&mut self, key: &str, ep: &Endpoint) {
        self.remove(key);
        let order = (ep.container_name.clone(), ep.container_id.clone());
        let short: String = ep.container_id.chars().take(12).collect();
        let mut names: Vec<String> = std::iter::once(&ep.container_name)
            .chain(&ep.aliases)
            .chain(std::iter::once(&short))
            .filter(|n| !n.is_empty())
            .map(|n| n.to_ascii_lowercase())
            .collect();
        names.sort();
        names.dedup();
        let ip = ep.ipv4.parse::<Ipv4Addr>().ok();
        // Only endpoints with an IPv4 address are names (as before: the
        // responder is reached over IPv4).
        let ip6 = ip.and(ep.ipv6.parse::<Ipv6Addr>().ok());
        if let Some(ip) = ip {
            for n in &names {
                insert_sorted(self.names.entry(n.clone()).or_default(), &order, ip);
            }
            self.ptr
                .insert(ip, (key.to_string(), ep.container_name.clone()));
            self.container.insert(ip, ep.container_id.clone());
            let ups: Vec<SocketAddr> = ep
                .dns
                .iter()
                .filter_map(|d| super::dns::upstream_addr(d))
                .collect();
            if !ups.is_empty() {
                self.dns_of.insert(ip, ups);
            }
        }
        if let Some(ip6) = ip6 {
            for n in &names {
                insert_sorted(self.names6.entry(n.clone()).or_default(), &order, ip6);
            }
            self.ptr6
                .insert(ip6, (key.to_string(), ep.container_name.clone()));
        }
        self.entries.insert(
            key.to_string(),
            Entry {
                order,
                names,
                ip,
                ip6,
            },
        );
    }

    /// Forget the record `key` (gone, or no longer readable).
    pub fn remove(&mut self, key: &str) {
        let Some(e) = self.entries.remove(key) else {
            return;
        };
        for n in &e.names {
            take_out(&mut self.names, n, &e.order);
            take_out(&mut self.names6, n, &e.order);
        }
        if let Some(ip) = e.ip {
            // only what this record put there: another record may hold
            // the address by now (a replacement written before this one
            // was removed)
            if self.ptr.get(&ip).is_some_and(|(k, _)| k == key) {
                self.ptr.remove(&ip);
                self.dns_of.remove(&ip);
                self.container.remove(&ip);
            }
        }
        if let Some(ip6) = e.ip6 {
            if self.ptr6.get(&ip6).is_some_and(|(k, _)| k == key) {
                self.ptr6.remove(&ip6);
            }
        }
    }
}

fn insert_sorted<A>(list: &mut Vec<Holder<A>>, order: &(String, String), addr: A) {
    let at = list.partition_point(|h| h.order < *order);
    list.insert(
        at,
        Holder {
            order: order.clone(),
            addr,
        },
    );
}

fn take_out<A>(map: &mut HashMap<String, Vec<Holder<A>>>, name: &str, order: &(String, String)) {
    if let Some(list) = map.get_mut(name) {
        list.retain(|h| h.order != *order);
        if list.is_empty() {
            map.remove(name);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// An endpoint record of `name` (container `id`) at `ip` with `aliases`.
    pub(in crate::network::names) fn ep(
        name: &str,
        id: &str,
        ip: &str,
        aliases: &[&str],
    ) -> Endpoint {
        Endpoint {
            container_id: id.into(),
            container_name: name.into(),
            ipv4: ip.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            ..Endpoint::default()
        }
    }

    fn v4(t: &Table, n: &str) -> Vec<Ipv4Addr> {
        t.v4(n).map(|i| i.collect()).unwrap_or_default()
    }

    /// Records put and removed one at a time give the table a full build
    /// of the same records gives: replicas in name order, renames and
    /// removals leave nothing behind.
    #[test]
    fn incremental_matches_build() {
        let a = ep("web-2", "bbbb", "10.9.0.3", &["web"]);
        let b = ep("web-1", "aaaa", "10.9.0.2", &["web", "WEB-1"]);
        let mut t = Table::default();
        t.put("bbbb", &a);
        t.put("aaaa", &b);
        let ip = |d| Ipv4Addr::new(10, 9, 0, d);
        assert_eq!(v4(&t, "web"), [ip(2), ip(3)]);
        assert_eq!(
            v4(&t, "web-1"),
            [ip(2)],
            "a name listed twice is one answer"
        );
        assert_eq!(v4(&t, "aaaa"), [ip(2)]);
        assert_eq!(t.ptr(ip(3)), Some("web-2"));
        assert_eq!(t.endpoints(), 2);

        // a rename rewrites the record: the old name goes
        let renamed = ep("front", "bbbb", "10.9.0.3", &["web"]);
        t.put("bbbb", &renamed);
        assert!(t.v4("web-2").is_none());
        assert_eq!(v4(&t, "front"), [ip(3)]);
        assert_eq!(v4(&t, "web"), [ip(3), ip(2)], "front sorts before web-1");
        assert_eq!(t.ptr(ip(3)), Some("front"));

        t.remove("aaaa");
        assert_eq!(v4(&t, "web"), [ip(3)]);
        assert!(t.v4("web-1").is_none() && t.v4("aaaa").is_none());
        assert!(t.ptr(ip(2)).is_none() && t.container(ip(2)).is_none());
        t.remove("aaaa");
        t.remove("bbbb");
        assert_eq!(t.endpoints(), 0);
        assert!(t.names.is_empty() && t.ptr.is_empty() && t.container.is_empty());
    }

    /// An address handed to a new record before the old record is gone
    /// keeps its new owner's reverse name when the old one is removed.
    #[test]
    fn reused_address_keeps_new_owner() {
        let mut t = Table::default();
        t.put("old", &ep("old", "old", "10.9.0.2", &[]));
        t.put("new", &ep("new", "new", "10.9.0.2", &[]));
        t.remove("old");
        assert_eq!(t.ptr(Ipv4Addr::new(10, 9, 0, 2)), Some("new"));
        assert_eq!(t.container(Ipv4Addr::new(10, 9, 0, 2)), Some("new"));
        assert!(t.v4("old").is_none());
    }
}
