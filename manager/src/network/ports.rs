//! `-p`/`--publish` in docker's forms, into docker's PortBindings, and the
//! choice of host ports when a container starts.
//!
//!   containerPort | hostPort:containerPort | ip:hostPort:containerPort |
//!   ip::containerPort, each port a number or a range `a-b`, then an optional
//!   `/tcp`, `/udp` or `/sctp`. An IPv6 host address is written in brackets.

use super::model::{PortBinding, PortMap, PublishedPort};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};

#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("invalid port specification: {spec:?}: {why}")]
    Invalid { spec: String, why: String },
    #[error(
        "driver failed programming external connectivity: Bind for {ip}:{port} failed: port is already allocated"
    )]
    InUse { ip: String, port: u16 },
    #[error("no free host port in {lo}-{hi} for {spec}")]
    NoneFree { lo: u16, hi: u16, spec: String },
}

fn bad(spec: &str, why: impl Into<String>) -> PortError {
    PortError::Invalid {
        spec: spec.into(),
        why: why.into(),
    }
}

/// A port or a range.
fn range(spec: &str, s: &str) -> Result<(u16, u16), PortError> {
    let one = |p: &str| -> Result<u16, PortError> {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad(spec, format!("invalid port {p:?}")))
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if b < a {
                return Err(bad(spec, format!("invalid range {s:?}")));
            }
            Ok((a, b))
        }
        None => {
            let p = one(s)?;
            Ok((p, p))
        }
    }
}

/// Parse one `-p` value into `"port/proto"` -> binding pairs.
pub fn parse(spec: &str) -> Result<Vec<(String, PortBinding)>, PortError> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p),
        None => (spec, "tcp"),
    };
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(bad(spec, format!("unknown protocol {proto:?}")));
    }
    // ip:hostPort:containerPort with an IPv6 ip in brackets
    let (ip, rest) = if let Some(r) = rest.strip_prefix('[') {
        let (ip, after) = r
            .split_once("]:")
            .ok_or_else(|| bad(spec, "unterminated IPv6 address"))?;
        (Some(ip.to_string()), after.to_string())
    } else {
        (None, rest.to_string())
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, cont) = match (ip, parts.as_slice()) {
        (None, [c]) => (String::new(), "", *c),
        (None, [h, c]) => (String::new(), *h, *c),
        (None, [i, h, c]) => (i.to_string(), *h, *c),
        (Some(i), [h, c]) => (i, *h, *c),
        _ => return Err(bad(spec, "expected [ip:][hostPort:]containerPort[/proto]")),
    };
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(bad(spec, format!("invalid IP address {ip:?}")));
    }
    if cont.is_empty() {
        return Err(bad(spec, "no container port"));
    }
    let (c0, c1) = range(spec, cont)?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(range(spec, host)?)
    };
    let n = c1 - c0;
    let mut out = Vec::new();
    for i in 0..=n {
        let host_port = match host_range {
            None => String::new(),
            Some((h0, h1)) if h1 - h0 == n => (h0 + i).to_string(),
            // one container port, a host range: docker picks one in it at start
            Some((h0, h1)) if n == 0 => format!("{h0}-{h1}"),
            Some(_) => {
                return Err(bad(
                    spec,
                    "the host and container port ranges differ in size",
                ))
            }
        };
        out.push((
            format!("{}/{proto}", c0 + i),
            PortBinding {
                host_ip: ip.clone(),
                host_port,
            },
        ));
    }
    Ok(out)
}

/// Parse every `-p` into a PortMap.
pub fn parse_all(specs: &[String]) -> Result<PortMap, PortError> {
    let mut map = PortMap::new();
    for s in specs {
        for (k, b) in parse(s)? {
            map.entry(k).or_default().push(b);
        }
    }
    Ok(map)
}

/// "80/tcp" -> (80, "tcp").
pub fn split_key(key: &str) -> Option<(u16, String)> {
    let (p, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    Some((p.parse().ok()?, proto.to_string()))
}

/// The address where `ip:port` cannot be bound now for `proto` (the port is
/// taken there), None when it is free. A port published on all addresses
/// is also opened on [::1] by the container's shim (see `relay`): it must be
/// free there too.
fn host_taken(proto: &str, ip: &str, port: u16) -> Option<String> {
    let addr: IpAddr = if ip.is_empty() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        match ip.parse() {
            Ok(a) => a,
            Err(_) => return Some(ip.to_string()),
        }
    };
    let free = |addr: IpAddr| {
        let sa = SocketAddr::new(addr, port);
        match proto {
            "udp" => UdpSocket::bind(sa).is_ok(),
            // No std SCTP socket; the forwarding rule needs no listener.
            "sctp" => true,
            _ => TcpListener::bind(sa).is_ok(),
        }
    };
    if !free(addr) {
        return Some(if ip.is_empty() { "0.0.0.0" } else { ip }.to_string());
    }
    let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    if ip.is_empty()
        && super::relay::on_loopback6(proto, ip)
        && super::relay::loopback6()
        && !free(lo6)
    {
        return Some("::1".into());
    }
    None
}

/// Turn a container's PortMap into concrete forwarded ports: pick host ports
/// for empty ones and ranges (ephemeral range as docker: 32768-60999), and
/// refuse ports taken on the host or by another container (`taken`).
pub fn allocate(map: &PortMap, taken: &[PublishedPort]) -> Result<Vec<PublishedPort>, PortError> {
    let mut out: Vec<PublishedPort> = Vec::new();
    let clash = |out: &[PublishedPort], proto: &str, ip: &str, port: u16| {
        taken.iter().chain(out.iter()).any(|t| {
            t.proto == proto
                && t.host_port == port
                && (t.host_ip.is_empty() || ip.is_empty() || t.host_ip == ip)
        })
    };
    for (key, bindings) in map {
        let Some((cport, proto)) = split_key(key) else {
            return Err(bad(key, "invalid container port"));
        };
        for b in bindings {
            let (lo, hi, fixed) = if b.host_port.is_empty() {
                (32768u16, 60999u16, false)
            } else {
                let (lo, hi) = range(key, &b.host_port)?;
                (lo, hi, lo == hi)
            };
            let mut chosen = None;
            for port in lo..=hi {
                let taken = if clash(&out, &proto, &b.host_ip, port) {
                    Some(if b.host_ip.is_empty() {
                        "0.0.0.0".to_string()
                    } else {
                        b.host_ip.clone()
                    })
                } else {
                    host_taken(&proto, &b.host_ip, port)
                };
                match taken {
                    None => {
                        chosen = Some(port);
                        break;
                    }
                    Some(ip) if fixed => {
                        // v6 in brackets, as docker writes a v6 host address
                        let ip = if ip.contains(':') {
                            format!("[{ip}]")
                        } else {
                            ip
                        };
                        return Err(PortError::InUse { ip, port });
                    }
                    Some(_) => {}
                }
            }
            let port = chosen.ok_or_else(|| PortError::NoneFree {
                lo,
                hi,
                spec: key.clone(),
            })?;
            out.push(PublishedPort {
                proto: proto.clone(),
                host_ip: b.host_ip.clone(),
                host_port: port,
                container_port: cport,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Vec<(String, String, String)> {
        parse(s)
            .unwrap()
            .into_iter()
            .map(|(k, b)| (k, b.host_ip, b.host_port))
            .collect()
    }

    #[test]
    fn docker_forms() {
        assert_eq!(one("80"), [("80/tcp".into(), "".into(), "".into())]);
        assert_eq!(
            one("8080:80"),
            [("80/tcp".into(), "".into(), "8080".into())]
        );
        assert_eq!(
            one("127.0.0.1:8080:80/udp"),
            [("80/udp".into(), "127.0.0.1".into(), "8080".into())]
        );
        assert_eq!(
            one("127.0.0.1::80"),
            [("80/tcp".into(), "127.0.0.1".into(), "".into())]
        );
        assert_eq!(
            one("[::1]:8080:80"),
            [("80/tcp".into(), "::1".into(), "8080".into())]
        );
        assert_eq!(one("8000-8001:80-81").len(), 2);
        assert_eq!(
            one("8000-8001:80-81")[1],
            ("81/tcp".into(), "".into(), "8001".into())
        );
        assert_eq!(one("9000-9010:80")[0].2, "9000-9010");
        assert_eq!(one("53/sctp")[0].0, "53/sctp");
    }

    #[test]
    fn malformed() {
        for s in [
            "",
            "abc",
            "80/xyz",
            "1:2:3:4",
            "70000:80",
            "8000-8001:80-82",
            "0:80",
            "x.y::80",
            "8080:",
            "5-3:80",
        ] {
            assert!(parse(s).is_err(), "{s:?} should be refused");
        }
    }
}
