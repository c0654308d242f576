//! berth-shim: the per-container supervisor (stdio, logs, exit status,
//! restart policy, healthchecks). Not built yet: this binary says so.

fn main() -> anyhow::Result<()> {
    anyhow::bail!(
        "berth-shim is not available in this release: the per-container supervisor is planned \
         (see docs/architecture.md); use berth-runtime directly or under containerd, docker or podman"
    )
}
