//! dockerd's `DOCKER-USER` chain (under either backend). docker sets the FORWARD policy of
//! iptables' own `filter` table to DROP; with nftables a berth table's accept
//! does not override another table's drop in the same hook. So for every berth
//! bridge in use, `DOCKER-USER` (docker's chain for the user's rules, jumped
//! to first from FORWARD) gets accept rules for traffic from and to it; rules
//! for bridges no longer in use are removed. Without DOCKER-USER (no dockerd)
//! nothing is done.
//!
//! Rules carry a comment naming berth and the root's table, so a sync
//! recognises (and removes) only its own.

use super::iptables::{iptables_bin, run};
use super::BridgeRules;

/// Make DOCKER-USER accept exactly the traffic of `bridges` (best effort: a
/// host without dockerd has no such chain).
pub fn docker_user_sync(table: &str, bridges: &[BridgeRules]) {
    // one mark per berth root: a sync removes only its own root's rules
    let mark = format!("berth:{table}");
    let mark = mark.as_str();
    let Some(bin) = iptables_bin(true) else {
        return;
    };
    let Some(listing) = run(bin, &["-S", "DOCKER-USER"]) else {
        return;
    };
    let mut want: Vec<Vec<String>> = Vec::new();
    for b in bridges {
        for dir in ["-i", "-o"] {
            want.push(
                [
                    dir,
                    &b.bridge,
                    "-m",
                    "comment",
                    "--comment",
                    mark,
                    "-j",
                    "ACCEPT",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            );
        }
    }
    // remove ours that are no longer wanted
    for line in listing.lines().filter(|l| l.contains(mark)) {
        let Some(rule) = line.strip_prefix("-A DOCKER-USER ") else {
            continue;
        };
        let args: Vec<String> = rule
            .split_whitespace()
            .map(|s| s.trim_matches('"').to_string())
            .collect();
        if !want.contains(&args) {
            let mut del = vec!["-D".to_string(), "DOCKER-USER".to_string()];
            del.extend(args);
            let del: Vec<&str> = del.iter().map(String::as_str).collect();
            let _ = run(bin, &del);
        }
    }
    for w in &want {
        let mut check = vec!["-C", "DOCKER-USER"];
        check.extend(w.iter().map(String::as_str));
        if run(bin, &check).is_none() {
            let mut ins = vec!["-I", "DOCKER-USER"];
            ins.extend(w.iter().map(String::as_str));
            let _ = run(bin, &ins);
        }
    }
}
