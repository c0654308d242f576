//! Packet filtering and NAT for berth's bridges: published ports (DNAT in
//! the kernel, no userland proxy), outbound masquerading, isolation between
//! networks, `--internal` networks.
//!
//! The rules are a function of the stored state (networks in use and the
//! endpoints' published ports): every change rewrites berth's whole table in
//! one atomic nft transaction. So a crash never leaves half a rule set, and
//! the next berth command's sync repairs whatever a crash left.
//!
//! Two backends write the same rules: nftables (a table of berth's own) and,
//! where nft or the kernel's nf_tables is missing, iptables (chains of
//! berth's own jumped to from the built-in ones). The configuration file's
//! `firewall-backend` forces one.

pub mod docker_user;
pub mod iptables;
pub mod nftables;

use super::NetworkError;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// A firewall backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Nftables,
    Iptables,
}

impl Backend {
    /// The configuration file's spelling (`firewall-backend`).
    pub fn parse(s: &str) -> Result<Backend, String> {
        match s {
            "nftables" => Ok(Backend::Nftables),
            "iptables" => Ok(Backend::Iptables),
            _ => Err(format!("{s:?}: berth has nftables and iptables")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Nftables => "nftables",
            Backend::Iptables => "iptables",
        }
    }
}

/// Whether nftables works here: the nft binary and nf_tables in the kernel
/// (loaded, built in, or loadable: `nft list tables` loads it).
pub fn nf_tables_usable() -> bool {
    nftables::available()
        && (Path::new("/sys/module/nf_tables").exists() || nftables::list_tables_works())
}

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

/// A bridge of a network with `--ipv6` and its v6 subnet (its policy is
/// its `BridgeRules` entry's).
#[derive(Debug, Clone)]
pub struct Bridge6 {
    pub bridge: String,
    pub subnet: String,
}

/// One port forwarded to a container's IPv6 address.
#[derive(Debug, Clone)]
pub struct Forward6 {
    pub proto: String,
    /// Empty: every host address (::1 included).
    pub host_ip: String,
    pub host_port: u16,
    pub container_ip: Ipv6Addr,
    pub container_port: u16,
}

/// The whole wanted rule set of one berth root.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub bridges: Vec<BridgeRules>,
    pub forwards: Vec<Forward>,
    /// The IPv6 part: bridges with a v6 subnet and ports forwarded to v6
    /// addresses. Isolation and `--internal` over v6 cover every bridge in
    /// `bridges`.
    pub bridges6: Vec<Bridge6>,
    pub forwards6: Vec<Forward6>,
}

/// Remove berth's rules of `table` from both backends (the sweep of a
/// deleted root).
pub fn remove(table: &str) {
    super::sockredirect::remove(table);
    remove_from(table, None);
}

/// Remove `table`'s rules from `backend` (both when unknown).
fn remove_from(table: &str, backend: Option<Backend>) {
    if backend != Some(Backend::Iptables) && nftables::available() {
        let _ = nftables::apply(table, &RuleSet::default());
    }
    if backend != Some(Backend::Nftables) {
        iptables::remove_all(table);
        iptables::remove_all6(table);
    }
    docker_user::docker_user_sync(table, &[]);
}

/// Apply `rules` as berth's rules `table`. The backend: the forced one; else
/// the one that last held this root's rules (recorded in `record`, so a
/// process without the configuration, like the shim's exit hook, keeps it);
/// else nftables where it works, iptables elsewhere. After a switch the other
/// backend's rules go. No bridges: the rules are removed.
pub fn apply(
    table: &str,
    rules: &RuleSet,
    forced: Option<Backend>,
    record: &Path,
) -> Result<(), NetworkError> {
    let prev = std::fs::read_to_string(record)
        .ok()
        .and_then(|s| Backend::parse(s.trim()).ok());
    if rules.bridges.is_empty() {
        remove_from(table, prev);
        return Ok(());
    }
    let backend = forced.or(prev).unwrap_or_else(|| {
        if nf_tables_usable() {
            Backend::Nftables
        } else {
            Backend::Iptables
        }
    });
    match backend {
        Backend::Nftables => {
            if !nftables::available() {
                return Err(NetworkError::Firewall(
                    "nft (the nftables package) is not installed; berth's nftables backend \
                     needs it (firewall-backend: iptables works without it)"
                        .into(),
                ));
            }
            nftables::apply(table, rules)?;
        }
        Backend::Iptables => {
            iptables::apply(table, rules, nf_tables_usable())?;
            iptables::apply6(
                table,
                rules,
                nf_tables_usable(),
                &record.with_extension("v6"),
            )?
        }
    }
    if prev != Some(backend) {
        let other = match backend {
            Backend::Nftables => Backend::Iptables,
            Backend::Iptables => Backend::Nftables,
        };
        remove_from(table, Some(other));
        crate::store::replace_file(record, backend.name().as_bytes(), false)?;
    }
    // dockerd's FORWARD policy DROP in iptables' own table would still drop
    // nftables-accepted traffic: let it through there too when that chain
    // exists. Not under the iptables backend: DOCKER-USER comes first in
    // FORWARD, its accepts would bypass the isolation in berth's chain (which
    // accepts what the DROP policy would drop by itself).
    let through_docker_user: &[BridgeRules] = match backend {
        Backend::Nftables => &rules.bridges,
        Backend::Iptables => &[],
    };
    docker_user::docker_user_sync(table, through_docker_user);
    Ok(())
}

/// Run `program ARGS` with `text` on its stdin (an nft or iptables-restore
/// script); its refusal, with its stderr and the script, is the error.
fn feed(program: &str, args: &[&str], text: &str) -> Result<(), NetworkError> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let name = std::path::Path::new(program)
        .file_name()
        .map_or(program.into(), |n| n.to_string_lossy());
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetworkError::Firewall(format!("running {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| NetworkError::Firewall(format!("writing to {name}: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetworkError::Firewall(format!("waiting for {name}: {e}")))?;
    if !out.status.success() {
        return Err(NetworkError::Firewall(format!(
            "{name} refused berth's rules: {}\n{text}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}
