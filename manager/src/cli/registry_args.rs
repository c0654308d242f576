//! The options `pull` and `push` share: how to reach the registry.

use crate::registry::{Options, Out};

#[derive(clap::Args, Debug)]
pub struct RegistryArgs {
    /// Allow plain HTTP and any certificate for this registry (host:port; repeatable;
    /// also $BERTH_INSECURE_REGISTRIES, comma-separated)
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// Use plain HTTP without trying HTTPS (loopback and insecure registries only)
    #[arg(long)]
    pub plain_http: bool,
}

impl RegistryArgs {
    /// The registry options, with progress on stdout unless `quiet`.
    pub fn options(self, platform: Option<String>, quiet: bool) -> Options {
        Options {
            platform,
            insecure_registries: self.insecure_registry,
            plain_http: self.plain_http,
            out: if quiet { Out::Quiet } else { Out::Stdout },
            jobs: 0,
        }
    }
}
