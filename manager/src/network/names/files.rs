//! The content of the /etc files, and writing them in place (a bind mount
//! follows the inode: a rename would leave the container with the old file).

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

/// docker's fallback when the host only has loopback resolvers.
const FALLBACK_DNS: &[&str] = &["8.8.8.8", "8.8.4.4"];

/// The container's resolv.conf from the host's: loopback nameservers (which
/// would be the container's own loopback) replaced, `--dns`, `--dns-search`,
/// `--dns-option` applied as docker does (each replaces its own lines).
pub fn resolv_conf(host: &str, dns: &[String], search: &[String], options: &[String]) -> String {
    let mut servers = Vec::new();
    let mut searches = Vec::new();
    let mut opts = Vec::new();
    let mut other = Vec::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(a) = words.next() {
                    let lo = a
                        .split('%')
                        .next()
                        .and_then(|a| a.parse::<IpAddr>().ok())
                        .is_some_and(|ip| ip.is_loopback());
                    if !lo {
                        servers.push(a.to_string());
                    }
                }
            }
            Some("search") | Some("domain") => searches.extend(words.map(str::to_string)),
            Some("options") => opts.extend(words.map(str::to_string)),
            _ => other.push(line.to_string()),
        }
    }
    if servers.is_empty() {
        servers = FALLBACK_DNS.iter().map(|s| s.to_string()).collect();
    }
    if !dns.is_empty() {
        servers = dns.to_vec();
    }
    if !search.is_empty() {
        searches = search.iter().filter(|s| *s != ".").cloned().collect();
    }
    if !options.is_empty() {
        opts = options.to_vec();
    }
    let mut out = String::new();
    for l in other.iter().filter(|l| !l.trim().is_empty()) {
        out.push_str(l);
        out.push('\n');
    }
    for s in &servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !searches.is_empty() {
        out.push_str(&format!("search {}\n", searches.join(" ")));
    }
    if !opts.is_empty() {
        out.push_str(&format!("options {}\n", opts.join(" ")));
    }
    out
}

/// The loopback resolvers of the host, replaced: systemd-resolved's real
/// upstreams when it is the stub.
pub fn host_resolv_conf() -> String {
    let main = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let only_loopback = !main.lines().any(|l| {
        let mut w = l.split_whitespace();
        w.next() == Some("nameserver")
            && w.next()
                .and_then(|a| a.parse::<IpAddr>().ok())
                .is_some_and(|ip| !ip.is_loopback())
    });
    if only_loopback {
        if let Ok(up) = std::fs::read_to_string("/run/systemd/resolve/resolv.conf") {
            return up;
        }
    }
    main
}

/// One line of /etc/hosts.
#[derive(Debug, Clone, PartialEq)]
pub struct HostEntry {
    pub ip: String,
    pub names: Vec<String>,
}

pub fn hosts(own: &[HostEntry], links: &[HostEntry], extra: &[HostEntry]) -> String {
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    for e in extra.iter().chain(links).chain(own) {
        if e.names.is_empty() {
            continue;
        }
        out.push_str(&format!("{}\t{}\n", e.ip, e.names.join(" ")));
    }
    out
}

/// Write `content` into `path` keeping its inode (truncate + write).
pub fn write_in_place(path: &Path, content: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)?;
    f.write_all(content.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolvers_replaced() {
        let r = resolv_conf(
            "nameserver 127.0.0.53\nsearch lan\noptions edns0\n",
            &[],
            &[],
            &[],
        );
        assert_eq!(
            r,
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch lan\noptions edns0\n"
        );
        let r = resolv_conf("nameserver 10.0.0.1\nnameserver ::1\n", &[], &[], &[]);
        assert_eq!(r, "nameserver 10.0.0.1\n");
        let r = resolv_conf(
            "nameserver 10.0.0.1\nsearch a\n",
            &["1.1.1.1".into()],
            &["x.y".into()],
            &["ndots:2".into()],
        );
        assert_eq!(r, "nameserver 1.1.1.1\nsearch x.y\noptions ndots:2\n");
    }

    #[test]
    fn hosts_lines() {
        let h = hosts(
            &[HostEntry {
                ip: "172.18.0.2".into(),
                names: vec!["abc".into()],
            }],
            &[HostEntry {
                ip: "172.17.0.3".into(),
                names: vec!["dbapp".into(), "db".into()],
            }],
            &[HostEntry {
                ip: "10.1.1.1".into(),
                names: vec!["x".into()],
            }],
        );
        assert!(h.contains("172.18.0.2\tabc\n"));
        assert!(h.contains("172.17.0.3\tdbapp db\n"));
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
    }
}
