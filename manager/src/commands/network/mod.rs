//! `berth network`: manage networks (one file per subcommand).

use crate::context::Context;

pub mod connect;
pub mod create;
pub mod disconnect;
pub mod inspect;
pub mod ls;
pub mod prune;
pub mod rm;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Create a network
    Create(create::Args),
    /// List networks
    #[command(alias = "list")]
    Ls(ls::Args),
    /// Display detailed information on one or more networks
    Inspect(inspect::Args),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(rm::Args),
    /// Remove all unused networks
    Prune(prune::Args),
    /// Connect a container to a network
    Connect(connect::Args),
    /// Disconnect a container from a network
    Disconnect(disconnect::Args),
}

/// docker's CLI exits 1 when a network request fails (125 is for `run`).
pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    match dispatch(ctx, args) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("Error response from daemon: {e:#}");
            Ok(1)
        }
    }
}

fn dispatch(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    match args.command {
        Sub::Create(a) => create::run(ctx, a),
        Sub::Ls(a) => ls::run(ctx, a),
        Sub::Inspect(a) => inspect::run(ctx, a),
        Sub::Rm(a) => rm::run(ctx, a),
        Sub::Prune(a) => prune::run(ctx, a),
        Sub::Connect(a) => connect::run(ctx, a),
        Sub::Disconnect(a) => disconnect::run(ctx, a),
    }
}

/// `k=v` pairs (a bare `k` means an empty value, as docker's labels).
pub fn key_values(items: &[String]) -> std::collections::BTreeMap<String, String> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (s.clone(), String::new()),
        })
        .collect()
}

/// `--filter` for networks (docker's keys): driver, id, label, name, scope,
/// type=custom|builtin, dangling=true|false. One key's values are ORed,
/// different keys ANDed.
pub struct Filter {
    by_key: std::collections::BTreeMap<String, Vec<String>>,
}

impl Filter {
    pub fn parse(items: &[String]) -> anyhow::Result<Filter> {
        let mut by_key: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for f in items {
            let (k, v) = f.split_once('=').ok_or_else(|| {
                anyhow::anyhow!("bad format of filter (expected name=value): {f}")
            })?;
            match k {
                "driver" | "id" | "label" | "name" | "scope" | "until" => {}
                "type" if matches!(v, "custom" | "builtin") => {}
                "type" => anyhow::bail!("invalid filter: 'type'='{v}' (custom or builtin)"),
                "dangling" if matches!(v, "true" | "false" | "1" | "0") => {}
                "dangling" => anyhow::bail!("invalid filter 'dangling={v}'"),
                other => anyhow::bail!("invalid filter '{other}'"),
            }
            by_key.entry(k.to_string()).or_default().push(v.to_string());
        }
        Ok(Filter { by_key })
    }

    pub fn matches(&self, n: &crate::network::model::Network, in_use: impl Fn() -> bool) -> bool {
        self.by_key.iter().all(|(k, vals)| {
            vals.iter().any(|want| match k.as_str() {
                "driver" => n.driver == *want,
                "id" => n.id.starts_with(want.as_str()),
                "name" => n.name.contains(want.as_str()),
                "scope" => n.scope == *want,
                "type" => (want == "builtin") == n.is_predefined(),
                "dangling" => (want == "true" || want == "1") != in_use(),
                "label" => match want.split_once('=') {
                    Some((lk, lv)) => n.labels.get(lk).is_some_and(|x| x == lv),
                    None => n.labels.contains_key(want.as_str()),
                },
                _ => true,
            })
        })
    }
}
