//! berth: the daemonless manager (images, containers, volumes, networks,
//! compose). Not built yet: this binary says so.

fn main() -> anyhow::Result<()> {
    anyhow::bail!(
        "berth (the manager) is not available in this release: images, containers and compose \
         are planned (see docs/architecture.md); berth-runtime is available today"
    )
}
