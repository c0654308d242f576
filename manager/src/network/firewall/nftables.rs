//! The nftables backend: berth's own table (`ip <table>`), written as one nft
//! script and applied by `nft -f -` in a single transaction (the table is
//! deleted and re-made atomically, so readers never see half of it).

use super::{Forward, Forward6, RuleSet};
use crate::network::NetworkError;
use std::process::{Command, Stdio};

pub fn available() -> bool {
    nft_bin().is_some()
}

/// `nft list tables` succeeds (and so loads nf_tables when it is a module).
pub fn list_tables_works() -> bool {
    nft_bin().is_some_and(|b| {
        Command::new(b)
            .args(["list", "tables"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn nft_bin() -> Option<&'static str> {
    ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', ""))
}

fn dnat_rule(f: &Forward) -> String {
    let to = format!("{}:{}", f.container_ip, f.container_port);
    dnat("ip", &f.host_ip, &f.proto, f.host_port, &to)
}

fn dnat_rule6(f: &Forward6) -> String {
    let to = format!("[{}]:{}", f.container_ip, f.container_port);
    dnat("ip6", &f.host_ip, &f.proto, f.host_port, &to)
}

/// `[<family> daddr <host_ip>] <proto> dport <host_port> dnat to <to>`; an
/// empty `host_ip` matches every host address.
fn dnat(family: &str, host_ip: &str, proto: &str, host_port: u16, to: &str) -> String {
    let daddr = if host_ip.is_empty() {
        String::new()
    } else {
        format!("{family} daddr {host_ip} ")
    };
    format!("{daddr}{proto} dport {host_port} dnat to {to}")
}

/// The IPv6 part: berth's `ip6 <table>`, the same chains as the IPv4 table.
/// Published ports are DNATed on the host's v6 addresses, not on ::1: IPv6
/// has no route_localnet, the kernel routes ::1 strictly to `lo`, so the
/// container's answer to a DNATed (and masqueraded) ::1 connection, turned
/// back to ::1 by conntrack when it arrives on the bridge, finds no route
/// and is dropped (the client would hang). ::1 is left alone instead: the
/// container's shim relays it (`network::relay`, see docs/networking.md).
fn script6(table: &str, rules: &RuleSet) -> String {
    let mut s = format!("table ip6 {table}\ndelete table ip6 {table}\n");
    if rules.bridges6.is_empty() {
        return s;
    }
    s.push_str(&format!("table ip6 {table} {{\n"));
    s.push_str("  chain publish {\n");
    for f in rules
        .forwards6
        .iter()
        .filter(|f| f.host_ip.is_empty() || f.host_ip.parse::<std::net::Ipv6Addr>().is_ok())
    {
        s.push_str(&format!("    {}\n", dnat_rule6(f)));
    }
    s.push_str("  }\n");
    s.push_str(
        "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump publish\n  }\n",
    );
    s.push_str(
        "  chain output {\n    type nat hook output priority -100; policy accept;\n    ip6 daddr ::1 return\n    fib daddr type local jump publish\n  }\n",
    );
    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    for b in &rules.bridges6 {
        let br = quote(&b.bridge);
        let internal = rules
            .bridges
            .iter()
            .any(|x| x.bridge == b.bridge && x.internal);
        s.push_str(&format!(
            "    oifname {br} ip6 saddr {} ct status dnat masquerade\n",
            b.subnet
        ));
        if !internal {
            s.push_str(&format!(
                "    ip6 saddr {} oifname != {br} masquerade\n",
                b.subnet
            ));
        }
    }
    s.push_str("  }\n");
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    s.push_str(&forward_body(rules));
    s.push_str("  }\n}\n");
    s
}

/// The forward chain's rules (the same in the ip and ip6 tables): internal
/// networks closed, published ports open (reachable from other networks
/// through the host's address), nothing else between bridges.
///
/// A filter chain runs for every packet (the nat chains only for a
/// connection's first), so an established flow's packets leave it at the
/// first rule: the drops below only ever see a connection's first packet.
/// Nothing is lost by it: a flow the drops refuse never becomes established
/// (its first packet is dropped), and a bridge's rules exist before its
/// first container does. In berth's own table this accept decides only
/// here; other tables (docker's, the user's) still see the packet.
fn forward_body(rules: &RuleSet) -> String {
    let mut s = String::from("    ct state established,related accept\n");
    let all: Vec<String> = rules.bridges.iter().map(|b| quote(&b.bridge)).collect();
    for b in &rules.bridges {
        let br = quote(&b.bridge);
        if b.internal {
            s.push_str(&format!("    iifname {br} oifname != {br} drop\n"));
            s.push_str(&format!("    oifname {br} iifname != {br} drop\n"));
        }
    }
    s.push_str("    ct status dnat accept\n");
    for b in &rules.bridges {
        let br = quote(&b.bridge);
        let others: Vec<&String> = all.iter().filter(|o| **o != br).collect();
        if !others.is_empty() {
            let set = others
                .iter()
                .map(|o| o.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            s.push_str(&format!("    iifname {br} oifname {{ {set} }} drop\n"));
        }
    }
    s
}

/// The nft script making table `table` hold exactly `rules`.
pub fn script(table: &str, rules: &RuleSet) -> String {
    let mut s = String::new();
    // `table` then `delete table`: deleting a missing table is an error, and
    // declaring it first makes it exist.
    s.push_str(&format!("table ip {table}\ndelete table ip {table}\n"));
    if rules.bridges.is_empty() {
        return s;
    }
    s.push_str(&format!("table ip {table} {{\n"));
    // Published ports: for packets addressed to the host (any of its
    // addresses, 127.0.0.1 included via the output hook).
    s.push_str("  chain publish {\n");
    for f in rules
        .forwards
        .iter()
        .filter(|f| f.host_ip.parse::<std::net::Ipv6Addr>().is_err())
    {
        s.push_str(&format!("    {}\n", dnat_rule(f)));
    }
    s.push_str("  }\n");
    s.push_str(
        "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump publish\n  }\n",
    );
    s.push_str(
        "  chain output {\n    type nat hook output priority -100; policy accept;\n    fib daddr type local jump publish\n  }\n",
    );
    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    for b in &rules.bridges {
        let br = quote(&b.bridge);
        // 127.0.0.1:port -> container: the source must be one the container
        // can answer.
        s.push_str(&format!(
            "    oifname {br} ip saddr 127.0.0.0/8 masquerade\n"
        ));
        // hairpin: a container reaching a published port of its own network
        // through the host's address.
        s.push_str(&format!(
            "    oifname {br} ip saddr {} ct status dnat masquerade\n",
            b.subnet
        ));
        if !b.internal {
            s.push_str(&format!(
                "    ip saddr {} oifname != {br} masquerade\n",
                b.subnet
            ));
        }
    }
    s.push_str("  }\n");
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    s.push_str(&forward_body(rules));
    s.push_str("  }\n}\n");
    s
}

/// Both tables: IPv4 and IPv6 in one nft transaction.
fn full_script(table: &str, rules: &RuleSet) -> String {
    let mut s = script(table, rules);
    let six = if rules.bridges.is_empty() {
        script6(table, &RuleSet::default())
    } else {
        script6(table, rules)
    };
    s.push_str(&six);
    s
}

pub fn apply(table: &str, rules: &RuleSet) -> Result<(), NetworkError> {
    let bin = nft_bin().ok_or_else(|| NetworkError::Firewall("nft is not installed".into()))?;
    let text = full_script(table, rules);
    super::feed(bin, &["-f", "-"], &text)
}

#[cfg(test)]
mod tests {
    use super::super::BridgeRules;
    use super::*;

    #[test]
    fn script_shape() {
        let rules = RuleSet {
            bridges: vec![
                BridgeRules {
                    bridge: "br-a".into(),
                    subnet: "172.18.0.0/16".into(),
                    internal: false,
                },
                BridgeRules {
                    bridge: "br-b".into(),
                    subnet: "172.19.0.0/16".into(),
                    internal: true,
                },
            ],
            forwards: vec![Forward {
                proto: "tcp".into(),
                host_ip: "127.0.0.1".into(),
                host_port: 8080,
                container_ip: "172.18.0.2".parse().unwrap(),
                container_port: 80,
            }],
            ..Default::default()
        };
        let s = script("berth", &rules);
        assert!(
            s.contains("ip daddr 127.0.0.1 tcp dport 8080 dnat to 172.18.0.2:80"),
            "{s}"
        );
        assert!(
            s.contains("ip saddr 172.18.0.0/16 oifname != \"br-a\" masquerade"),
            "{s}"
        );
        assert!(
            !s.contains("ip saddr 172.19.0.0/16 oifname != \"br-b\" masquerade"),
            "{s}"
        );
        assert!(
            s.contains("iifname \"br-b\" oifname != \"br-b\" drop"),
            "{s}"
        );
        assert!(
            s.contains("iifname \"br-a\" oifname { \"br-b\" } drop"),
            "{s}"
        );
        // an established flow's packets leave the forward chain at its first rule
        let fwd = s.split("chain forward {").nth(1).unwrap_or_default();
        let first_rule = fwd.lines().nth(2).unwrap_or_default().trim();
        assert_eq!(first_rule, "ct state established,related accept", "{s}");
        let empty = script("berth", &RuleSet::default());
        assert_eq!(empty, "table ip berth\ndelete table ip berth\n");
        assert!(
            !full_script("berth", &rules).contains("table ip6 berth {"),
            "no v6 network: no v6 rules"
        );
    }

    #[test]
    fn script6_shape() {
        let rules = RuleSet {
            bridges: vec![
                BridgeRules {
                    bridge: "br-a".into(),
                    subnet: "172.18.0.0/16".into(),
                    internal: false,
                },
                BridgeRules {
                    bridge: "br-b".into(),
                    subnet: "172.19.0.0/16".into(),
                    internal: true,
                },
            ],
            bridges6: vec![
                super::super::Bridge6 {
                    bridge: "br-a".into(),
                    subnet: "fd10:a::/64".into(),
                },
                super::super::Bridge6 {
                    bridge: "br-b".into(),
                    subnet: "fd10:b::/64".into(),
                },
            ],
            forwards6: vec![Forward6 {
                proto: "tcp".into(),
                host_ip: String::new(),
                host_port: 8080,
                container_ip: "fd10:a::2".parse().unwrap(),
                container_port: 80,
            }],
            ..Default::default()
        };
        let s = full_script("berth", &rules);
        for want in [
            "table ip6 berth {",
            "tcp dport 8080 dnat to [fd10:a::2]:80",
            "ip6 saddr fd10:a::/64 oifname != \"br-a\" masquerade",
            "ip6 daddr ::1 return",
            "iifname \"br-b\" oifname != \"br-b\" drop",
            "iifname \"br-a\" oifname { \"br-b\" } drop",
        ] {
            assert!(s.contains(want), "{want:?} missing:\n{s}");
        }
        assert!(
            !s.contains("ip6 saddr fd10:b::/64 oifname != \"br-b\" masquerade"),
            "{s}"
        );
        let empty = full_script("berth", &RuleSet::default());
        assert!(
            empty.ends_with("table ip6 berth\ndelete table ip6 berth\n"),
            "{empty}"
        );
    }
}
