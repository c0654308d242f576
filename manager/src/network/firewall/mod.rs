//! Packet filtering and NAT for berth's bridges: published ports (DNAT in
//! the kernel, no userland proxy), outbound masquerading, isolation between
//! networks, `--internal` networks.
//!
//! The rules are a function of the stored state (networks in use and the
//! endpoints' published ports): every change rewrites berth's whole table in
//! one atomic nft transaction. So a crash never leaves half a rule set, and
//! the next berth command's sync repairs whatever a crash left.

pub mod iptables;
pub mod nftables;

use super::NetworkError;
use std::net::Ipv4Addr;

/// A bridge in use and its policy.
#[derive(Debug, Clone)]
pub struct BridgeRules {
    pub bridge: String,
    pub subnet: String,
    pub internal: bool,
}

/// One forwarded port.
#[derive(Debug, Clone)]
pub struct Forward {
    pub proto: String,
    /// Empty: every host address.
    pub host_ip: String,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

/// The whole wanted rule set of one berth root.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub bridges: Vec<BridgeRules>,
    pub forwards: Vec<Forward>,
}

/// Apply `rules` as berth's table `table` (deleting it when there is nothing
/// to apply). nft where it exists; without nft a clear error.
pub fn apply(table: &str, rules: &RuleSet) -> Result<(), NetworkError> {
    if !nftables::available() {
        if rules.bridges.is_empty() {
            return Ok(());
        }
        return Err(NetworkError::Firewall(
            "nft (the nftables package) is not installed; berth's bridge networks need it \
             (use --network host or none without it)"
                .into(),
        ));
    }
    nftables::apply(table, rules)?;
    // dockerd's FORWARD policy DROP in iptables' own table would still drop
    // our traffic: let it through there too when that chain exists.
    iptables::docker_user_sync(table, &rules.bridges);
    Ok(())
}
