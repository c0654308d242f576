//! Which transport a registry gets: HTTPS with the system roots plus any CA from
//! `<root>/certs.d/<host:port>/*.crt` or `/etc/docker/certs.d/<host:port>/*.crt`, and
//! plain HTTP only for loopback registries and those the user marked insecure.

use super::RegistryError;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::Agent;

/// The environment variable listing insecure registries (`host:port,host2`).
pub const INSECURE_ENV: &str = "BERTH_INSECURE_REGISTRIES";

/// The system CA bundle (Debian's ca-certificates); used together with custom CAs.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Registries named by `--insecure-registry` plus `$BERTH_INSECURE_REGISTRIES`.
pub fn insecure_list(flags: &[String]) -> Vec<String> {
    let mut v: Vec<String> = flags.iter().map(|s| s.trim().to_string()).collect();
    if let Ok(env) = std::env::var(INSECURE_ENV) {
        v.extend(
            env.split([',', ' '])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
    }
    v
}

/// Is the host part of `host[:port]` a loopback address (or `localhost`)?
pub fn is_loopback(registry: &str) -> bool {
    let host = host_part(registry);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `host` of `host:port`, `::1` of `[::1]:5000`.
fn host_part(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match registry.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => registry,
    }
}

/// Is the registry listed as insecure (by `host:port` or by bare host)?
pub fn is_insecure(registry: &str, insecure: &[String]) -> bool {
    let host = host_part(registry);
    insecure.iter().any(|i| {
        let i = i
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        i == registry || i == host
    })
}

/// May requests to this registry go over plain HTTP?
pub fn plain_http_allowed(registry: &str, insecure: &[String]) -> bool {
    is_loopback(registry) || is_insecure(registry, insecure)
}

/// The certificate directories docker and berth use for a registry.
pub fn cert_dirs(root: &Path, registry: &str) -> Vec<PathBuf> {
    vec![
        root.join("certs.d").join(registry),
        Path::new("/etc/docker/certs.d").join(registry),
    ]
}

fn read_certs(path: &Path, out: &mut Vec<Certificate<'static>>) -> Result<(), RegistryError> {
    let pem = std::fs::read(path)
        .map_err(|e| RegistryError::Tls(format!("reading {}: {e}", path.display())))?;
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(RegistryError::Tls(format!(
                    "parsing {}: {e}",
                    path.display()
                )))
            }
        }
    }
    Ok(())
}

/// The custom CAs for a registry (`*.crt` in its cert dirs).
fn custom_cas(root: &Path, registry: &str) -> Result<Vec<Certificate<'static>>, RegistryError> {
    let mut certs = Vec::new();
    for dir in cert_dirs(root, registry) {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect();
        files.sort();
        for f in files {
            read_certs(&f, &mut certs)?;
        }
    }
    Ok(certs)
}

/// An HTTP agent for one registry. `skip_verify` is for registries the user marked
/// insecure (docker's meaning: any certificate is accepted).
pub fn agent(root: &Path, registry: &str, skip_verify: bool) -> Result<Agent, RegistryError> {
    let cas = custom_cas(root, registry)?;
    let mut tls = TlsConfig::builder();
    if !cas.is_empty() {
        // A custom CA adds to, rather than replaces, the system's roots.
        let mut all = cas;
        if Path::new(SYSTEM_BUNDLE).exists() {
            read_certs(Path::new(SYSTEM_BUNDLE), &mut all)?;
        }
        tls = tls.root_certs(RootCerts::new_with_certs(&all));
    }
    if skip_verify {
        tls = tls.disable_verification(true);
    }
    let config = Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(120)))
        .timeout_per_read(Some(Duration::from_secs(120)))
        .max_idle_connections_per_host(8)
        .build();
    Ok(Agent::new_with_config(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_policy() {
        assert!(plain_http_allowed("127.0.0.1:5000", &[]));
        assert!(plain_http_allowed("127.1.2.3", &[]));
        assert!(plain_http_allowed("[::1]:5000", &[]));
        assert!(plain_http_allowed("localhost:5000", &[]));
        assert!(!plain_http_allowed("registry.example:5000", &[]));
        assert!(!plain_http_allowed("10.0.0.1:5000", &[]));
        let ins = vec!["registry.example:5000".to_string(), "other".to_string()];
        assert!(plain_http_allowed("registry.example:5000", &ins));
        assert!(plain_http_allowed("other:443", &ins));
        assert!(!plain_http_allowed("registry.example:6000", &ins));
    }
}
