//! The iptables backend, for hosts without nftables (no `nft` binary or no
//! nf_tables in the kernel), or when the configuration file says
//! `"firewall-backend": "iptables"`. The rules are the nftables backend's,
//! in chains of berth's own (`<table>-pre`, `-out`, `-post`, `-pub` in `nat`,
//! `<table>-fwd` in `filter`), each jumped to from its built-in chain.
//!
//! A sync rewrites the chains with one `iptables-restore --noflush` (atomic
//! per table: declaring a chain flushes it), then makes sure each jump is
//! there; a removal deletes the jumps, then flushes and deletes the chains.

use super::{Forward, Forward6, RuleSet};
use crate::network::NetworkError;
use std::process::{Command, Stdio};

/// The iptables binary: the system's choice where nf_tables works (the one
/// dockerd uses too), else the legacy (x_tables) one, which needs no nf_tables.
pub fn iptables_bin(nf_tables: bool) -> Option<&'static str> {
    let legacy = ["/usr/sbin/iptables-legacy", "/sbin/iptables-legacy"];
    let system = ["/usr/sbin/iptables", "/sbin/iptables"];
    let order: Vec<&'static str> = if nf_tables {
        system.into_iter().chain(legacy).collect()
    } else {
        legacy.into_iter().chain(system).collect()
    };
    order.into_iter().find(|p| std::path::Path::new(p).exists())
}

/// Run `bin -w 5 args`; its stdout when it succeeded.
pub fn run(bin: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(bin)
        .args(["-w", "5"])
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// berth's chains of `table`: (iptables table, chain, built-in chain jumping
/// to it; None for a chain only jumped to from berth's own).
fn chains(table: &str) -> [(&'static str, String, Option<&'static str>); 5] {
    [
        ("nat", format!("{table}-pre"), Some("PREROUTING")),
        ("nat", format!("{table}-out"), Some("OUTPUT")),
        ("nat", format!("{table}-post"), Some("POSTROUTING")),
        ("nat", format!("{table}-pub"), None),
        ("filter", format!("{table}-fwd"), Some("FORWARD")),
    ]
}

fn dnat_rule(chain: &str, f: &Forward) -> String {
    let daddr = if f.host_ip.is_empty() {
        String::new()
    } else {
        format!("-d {}/32 ", f.host_ip)
    };
    format!(
        "-A {chain} {daddr}-p {proto} -m {proto} --dport {hp} -j DNAT --to-destination {ip}:{cp}",
        proto = f.proto,
        hp = f.host_port,
        ip = f.container_ip,
        cp = f.container_port
    )
}

/// The `iptables-restore --noflush` input making berth's chains of `table`
/// hold exactly `rules` (the nftables backend's rules, chain for chain).
pub fn restore_script(table: &str, rules: &RuleSet) -> String {
    let [pre, out, post, publ, fwd] = chains(table).map(|c| c.1);
    let mut s = String::from("*nat\n");
    for c in [&pre, &out, &post, &publ] {
        s.push_str(&format!(":{c} - [0:0]\n"));
    }
    for f in rules
        .forwards
        .iter()
        .filter(|f| f.host_ip.parse::<std::net::Ipv6Addr>().is_err())
    {
        s.push_str(&dnat_rule(&publ, f));
        s.push('\n');
    }
    // packets addressed to one of the host's addresses (127.0.0.1 included
    // through OUTPUT; the bridges have route_localnet)
    s.push_str(&format!(
        "-A {pre} -m addrtype --dst-type LOCAL -j {publ}\n"
    ));
    s.push_str(&format!(
        "-A {out} -m addrtype --dst-type LOCAL -j {publ}\n"
    ));
    for b in &rules.bridges {
        let br = &b.bridge;
        s.push_str(&format!("-A {post} -o {br} -s 127.0.0.0/8 -j MASQUERADE\n"));
        // hairpin through the host's address
        s.push_str(&format!(
            "-A {post} -o {br} -s {} -m conntrack --ctstate DNAT -j MASQUERADE\n",
            b.subnet
        ));
        if !b.internal {
            s.push_str(&format!(
                "-A {post} -s {} ! -o {br} -j MASQUERADE\n",
                b.subnet
            ));
        }
    }
    s.push_str("COMMIT\n");
    s.push_str(&filter_table(&fwd, rules));
    s
}

/// The `*filter` part of both restore scripts (the same for IPv4 and IPv6):
/// internal networks closed, published ports open, nothing else between
/// two berth bridges, the rest of their traffic accepted.
fn filter_table(fwd: &str, rules: &RuleSet) -> String {
    let mut s = String::from("*filter\n");
    s.push_str(&format!(":{fwd} - [0:0]\n"));
    for b in rules.bridges.iter().filter(|b| b.internal) {
        let br = &b.bridge;
        s.push_str(&format!("-A {fwd} -i {br} ! -o {br} -j DROP\n"));
        s.push_str(&format!("-A {fwd} -o {br} ! -i {br} -j DROP\n"));
    }
    // published ports are reachable from other networks; nothing else
    // between two berth bridges is. Only connections to or from this root's
    // bridges: this chain is jumped to first from the host's FORWARD, so an
    // accept of every DNATed connection would also pass other roots' and
    // dockerd's traffic by their rules (DOCKER-USER, docker's isolation).
    for b in &rules.bridges {
        let br = &b.bridge;
        for dir in ["-i", "-o"] {
            s.push_str(&format!(
                "-A {fwd} {dir} {br} -m conntrack --ctstate DNAT -j ACCEPT\n"
            ));
        }
    }
    for b in &rules.bridges {
        for o in rules.bridges.iter().filter(|o| o.bridge != b.bridge) {
            s.push_str(&format!(
                "-A {fwd} -i {} -o {} -j DROP\n",
                b.bridge, o.bridge
            ));
        }
    }
    // The rest of a berth bridge's traffic is accepted here: a FORWARD policy
    // of DROP (dockerd's) would drop it otherwise.
    for b in &rules.bridges {
        s.push_str(&format!("-A {fwd} -i {} -j ACCEPT\n", b.bridge));
        s.push_str(&format!("-A {fwd} -o {} -j ACCEPT\n", b.bridge));
    }
    s.push_str("COMMIT\n");
    s
}

/// The ip6tables binary of the same flavour as `iptables_bin`.
pub fn ip6tables_bin(nf_tables: bool) -> Option<String> {
    let v4 = iptables_bin(nf_tables)?;
    let v6 = v4.replace("iptables", "ip6tables");
    std::path::Path::new(&v6).exists().then_some(v6)
}

/// The `ip6tables-restore --noflush` input: the IPv6 part of `rules` in
/// the same chains (in ip6tables' tables). ::1 is left alone, as in the
/// nftables backend (IPv6 cannot route a DNATed ::1 connection's answers;
/// the container's shim relays ::1, see `network::relay`).
pub fn restore_script6(table: &str, rules: &RuleSet) -> String {
    let [pre, out, post, publ, fwd] = chains(table).map(|c| c.1);
    let mut s = String::from("*nat\n");
    for c in [&pre, &out, &post, &publ] {
        s.push_str(&format!(":{c} - [0:0]\n"));
    }
    for f in rules
        .forwards6
        .iter()
        .filter(|f| f.host_ip.is_empty() || f.host_ip.parse::<std::net::Ipv6Addr>().is_ok())
    {
        s.push_str(&dnat_rule6(&publ, f));
        s.push('\n');
    }
    s.push_str(&format!(
        "-A {pre} -m addrtype --dst-type LOCAL -j {publ}\n"
    ));
    s.push_str(&format!("-A {out} -d ::1/128 -j RETURN\n"));
    s.push_str(&format!(
        "-A {out} -m addrtype --dst-type LOCAL -j {publ}\n"
    ));
    for b in &rules.bridges6 {
        let br = &b.bridge;
        let internal = rules
            .bridges
            .iter()
            .any(|x| x.bridge == b.bridge && x.internal);
        s.push_str(&format!(
            "-A {post} -o {br} -s {} -m conntrack --ctstate DNAT -j MASQUERADE\n",
            b.subnet
        ));
        if !internal {
            s.push_str(&format!(
                "-A {post} -s {} ! -o {br} -j MASQUERADE\n",
                b.subnet
            ));
        }
    }
    s.push_str("COMMIT\n");
    s.push_str(&filter_table(&fwd, rules));
    s
}

fn dnat_rule6(chain: &str, f: &Forward6) -> String {
    let daddr = if f.host_ip.is_empty() {
        String::new()
    } else {
        format!("-d {}/128 ", f.host_ip)
    };
    format!(
        "-A {chain} {daddr}-p {proto} -m {proto} --dport {hp} -j DNAT --to-destination [{ip}]:{cp}",
        proto = f.proto,
        hp = f.host_port,
        ip = f.container_ip,
        cp = f.container_port
    )
}

/// The IPv6 part under the iptables backend: ip6tables chains when a
/// network has IPv6; removed when none has (only when `marker` says they
/// were made, so a v4-only host pays no ip6tables spawns).
pub fn apply6(
    table: &str,
    rules: &RuleSet,
    nf_tables: bool,
    marker: &std::path::Path,
) -> Result<(), NetworkError> {
    if rules.bridges6.is_empty() {
        if marker.exists() {
            if let Some(bin) = ip6tables_bin(nf_tables) {
                remove(&bin, table);
            }
            let _ = std::fs::remove_file(marker);
        }
        return Ok(());
    }
    let bin = ip6tables_bin(nf_tables).ok_or_else(|| {
        NetworkError::Firewall(
            "ip6tables is not installed; berth's iptables backend needs it for --ipv6 networks"
                .into(),
        )
    })?;
    let _ = std::fs::write(marker, b"ip6tables");
    restore_and_jump(&bin, table, &restore_script6(table, rules))
}

/// Remove berth's ip6tables chains of `table` (the sweep of a root).
pub fn remove_all6(table: &str) {
    if let Some(bin) = ip6tables_bin(super::nf_tables_usable()) {
        remove(&bin, table);
    }
}

/// Feed `text` to `<bin>-restore --noflush`, then make sure each built-in
/// chain jumps to berth's.
fn restore_and_jump(bin: &str, table: &str, text: &str) -> Result<(), NetworkError> {
    super::feed(&format!("{bin}-restore"), &["-w", "5", "--noflush"], text)?;
    for (t, chain, from) in chains(table) {
        let Some(from) = from else { continue };
        if run(bin, &["-t", t, "-C", from, "-j", &chain]).is_none()
            && run(bin, &["-t", t, "-I", from, "1", "-j", &chain]).is_none()
        {
            return Err(NetworkError::Firewall(format!(
                "{bin} could not add the jump from {t} {from} to {chain}"
            )));
        }
    }
    Ok(())
}

/// Make berth's chains of `table` hold `rules` (removing them when there
/// are no bridges). `nf_tables`: whether the kernel has nf_tables (picks
/// the iptables flavour).
pub fn apply(table: &str, rules: &RuleSet, nf_tables: bool) -> Result<(), NetworkError> {
    let Some(bin) = iptables_bin(nf_tables) else {
        if rules.bridges.is_empty() {
            return Ok(());
        }
        return Err(NetworkError::Firewall(
            "neither nft nor iptables is installed; berth's bridge networks need one \
             (use --network host or none without them)"
                .into(),
        ));
    };
    if rules.bridges.is_empty() {
        remove(bin, table);
        return Ok(());
    }
    restore_and_jump(bin, table, &restore_script(table, rules))
}

/// Delete berth's chains of `table` and the jumps to them, from the
/// iptables flavour this host's backend uses (only that one: listing the
/// legacy flavour's tables would load its kernel modules and make them).
pub fn remove_all(table: &str) {
    if let Some(bin) = iptables_bin(super::nf_tables_usable()) {
        remove(bin, table);
    }
}

fn remove(bin: &str, table: &str) {
    let cs = chains(table);
    // skip the spawns when this flavour holds none of berth's chains (a
    // listing that fails, e.g. over another tool's chain, proves nothing)
    let ours = |t: &str| {
        run(bin, &["-t", t, "-S"]).is_none_or(|l| {
            cs.iter()
                .any(|c| c.0 == t && l.contains(&format!("-N {}", c.1)))
        })
    };
    let (nat, filter) = (ours("nat"), ours("filter"));
    let held = |t: &str| if t == "nat" { nat } else { filter };
    for (t, chain, from) in &cs {
        if !held(t) {
            continue;
        }
        if let Some(from) = from {
            // a jump may be there more than once (two racing syncs)
            for _ in 0..8 {
                if run(bin, &["-t", t, "-D", from, "-j", chain]).is_none() {
                    break;
                }
            }
        }
    }
    for (t, chain, _) in &cs {
        if held(t) {
            let _ = run(bin, &["-t", t, "-F", chain]);
        }
    }
    for (t, chain, _) in &cs {
        if held(t) {
            let _ = run(bin, &["-t", t, "-X", chain]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::BridgeRules;
    use super::*;

    #[test]
    fn restore_script_shape() {
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
                host_ip: String::new(),
                host_port: 8080,
                container_ip: "172.18.0.2".parse().unwrap(),
                container_port: 80,
            }],
            ..Default::default()
        };
        let s = restore_script("berth", &rules);
        for want in [
            ":berth-pub - [0:0]",
            "-A berth-pub -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.18.0.2:80",
            "-A berth-post -s 172.18.0.0/16 ! -o br-a -j MASQUERADE",
            "-A berth-fwd -i br-b ! -o br-b -j DROP",
            "-A berth-fwd -i br-a -o br-b -j DROP",
            "-A berth-fwd -o br-a -j ACCEPT",
        ] {
            assert!(s.contains(want), "{want:?} missing:\n{s}");
        }
        assert!(!s.contains("-s 172.19.0.0/16 ! -o br-b"), "{s}");
        // published ports across this root's bridges, and only theirs: an
        // unscoped accept of DNATed connections would pass other roots' and
        // dockerd's traffic too (this chain comes first in FORWARD)
        let dnat_accepts: Vec<&str> = s
            .lines()
            .filter(|l| l.contains("--ctstate DNAT -j ACCEPT"))
            .collect();
        assert_eq!(
            dnat_accepts,
            [
                "-A berth-fwd -i br-a -m conntrack --ctstate DNAT -j ACCEPT",
                "-A berth-fwd -o br-a -m conntrack --ctstate DNAT -j ACCEPT",
                "-A berth-fwd -i br-b -m conntrack --ctstate DNAT -j ACCEPT",
                "-A berth-fwd -o br-b -m conntrack --ctstate DNAT -j ACCEPT",
            ],
            "{s}"
        );
        assert!(s.find("--ctstate DNAT -j ACCEPT") < s.find("-i br-a -o br-b -j DROP"));
        // isolation comes before the accepts
        assert!(s.find("-i br-a -o br-b -j DROP") < s.find("-i br-a -j ACCEPT"));
        assert_eq!(s.matches("COMMIT").count(), 2);
        let mut r6 = rules.clone();
        r6.bridges6.push(super::super::Bridge6 {
            bridge: "br-a".into(),
            subnet: "fd10:a::/64".into(),
        });
        r6.forwards6.push(Forward6 {
            proto: "tcp".into(),
            host_ip: String::new(),
            host_port: 8080,
            container_ip: "fd10:a::2".parse().unwrap(),
            container_port: 80,
        });
        let s6 = restore_script6("berth", &r6);
        for want in [
            "-A berth-pub -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd10:a::2]:80",
            "-A berth-out -d ::1/128 -j RETURN",
            "-A berth-post -s fd10:a::/64 ! -o br-a -j MASQUERADE",
            "-A berth-fwd -i br-b ! -o br-b -j DROP",
            "-A berth-fwd -i br-a -o br-b -j DROP",
        ] {
            assert!(s6.contains(want), "{want:?} missing:\n{s6}");
        }
    }
}
