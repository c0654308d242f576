//! The networking adapter. berth's networks (bridges, DNS between services,
//! published ports) come from the networking library, which has not landed
//! yet: until then a service on the project's plain default network gets the
//! container library's default network mode (its own network namespace), and
//! anything that needs more (named networks, aliases, fixed addresses,
//! published ports) is a clear error instead of a silent difference.

use crate::compose::error::{ComposeError, Result};
use crate::compose::model::{Project, Service};
use crate::container::CreateOptions;

fn needs_networking(what: String) -> ComposeError {
    ComposeError::Invalid(format!(
        "{what}: needs berth's networking, which is not available yet (use network_mode: host to share the host's network)"
    ))
}

/// Whether the service joins the project's networks (rather than a
/// `network_mode`).
fn on_networks(s: &Service) -> bool {
    s.network_mode.is_none()
}

/// Checks what the service asks of the network and fills the container's
/// network settings.
pub fn apply(project: &Project, service: &str, s: &Service, _o: &mut CreateOptions) -> Result<()> {
    if !s.ports.is_empty() && s.network_mode.as_deref() != Some("host") {
        return Err(needs_networking(format!("services.{service}.ports")));
    }
    if !on_networks(s) {
        return Ok(());
    }
    for (name, cfg) in &s.networks {
        if name != "default" {
            return Err(needs_networking(format!(
                "services.{service}.networks.{name}"
            )));
        }
        if cfg
            .as_ref()
            .is_some_and(|c| !c.aliases.is_empty() || c.ipv4_address.is_some())
        {
            return Err(needs_networking(format!(
                "services.{service}.networks.default (aliases, ipv4_address)"
            )));
        }
    }
    if let Some(net) = project.networks.get("default") {
        if net.driver.is_some()
            || net.ipam.is_some()
            || net.internal
            || net.external
            || !net.driver_opts.is_empty()
        {
            return Err(needs_networking("networks.default".to_string()));
        }
    }
    Ok(())
}

/// What `up` tells the user about the network when services use the default
/// network (so nobody expects them to reach each other).
pub fn notice(project: &Project) -> Option<String> {
    let isolated: Vec<&str> = project
        .services
        .iter()
        .filter(|(_, s)| on_networks(s))
        .map(|(n, _)| n.as_str())
        .collect();
    if isolated.is_empty() {
        return None;
    }
    Some(format!(
        "berth's networks are not available yet: each of {} runs in its own network namespace, without a project network (network_mode: host shares the host's)",
        isolated.join(", ")
    ))
}
