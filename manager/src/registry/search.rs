//! `search`: the repositories of a registry whose names contain a term, from
//! the registry's `_catalog` API (distribution's; Docker Hub's own search API
//! is not the registry API and is not used).

use super::client::{Access, Client, ConnectOptions};
use super::{tls, Options, RegistryError};
use crate::context::Context;

/// `HOST[:PORT]/TERM` -> (registry, term); None when no registry is named.
pub fn split_term(s: &str) -> Option<(&str, &str)> {
    let (host, rest) = s.split_once('/')?;
    (host.contains('.') || host.contains(':') || host == "localhost").then_some((host, rest))
}

/// Up to `limit` repositories of the registry named in `term` whose names
/// contain the rest of `term` (case-insensitive), sorted.
pub fn search(
    ctx: &Context,
    term: &str,
    limit: usize,
    opts: &Options,
) -> Result<Vec<String>, RegistryError> {
    let Some((registry, want)) = split_term(term) else {
        return Err(RegistryError::Unsupported(format!(
            "search {term:?}: berth searches a registry's catalog; name the registry \
             (berth search HOST[:PORT]/TERM): Docker Hub's search API is not supported"
        )));
    };
    let mut insecure = tls::insecure_list(&opts.insecure_registries);
    insecure.extend(ctx.settings.insecure_registries.iter().cloned());
    let client = Client::connect(
        registry,
        "",
        Access::Catalog,
        &ConnectOptions {
            root: &ctx.root,
            insecure: &insecure,
            plain_http: opts.plain_http,
            credentials: None,
        },
    )?;
    let want = want.to_ascii_lowercase();
    let mut found: Vec<String> = client
        .catalog(1000)?
        .into_iter()
        .filter(|r| r.to_ascii_lowercase().contains(&want))
        .collect();
    found.sort();
    found.truncate(limit);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms() {
        assert_eq!(
            split_term("localhost:5000/app"),
            Some(("localhost:5000", "app"))
        );
        assert_eq!(
            split_term("reg.example.com/"),
            Some(("reg.example.com", ""))
        );
        assert_eq!(split_term("library/busybox"), None);
        assert_eq!(split_term("busybox"), None);
    }
}
