//! `berth volume`: manage volumes (one file per subcommand).

use crate::context::Context;
use std::collections::BTreeMap;

pub mod create;
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
    /// Create a volume
    Create(create::Args),
    /// List volumes
    #[command(alias = "list")]
    Ls(ls::Args),
    /// Show volumes' details
    Inspect(inspect::Args),
    /// Remove volumes
    #[command(alias = "remove")]
    Rm(rm::Args),
    /// Remove unused volumes
    Prune(prune::Args),
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    match args.command {
        Sub::Create(a) => create::run(ctx, a),
        Sub::Ls(a) => ls::run(ctx, a),
        Sub::Inspect(a) => inspect::run(ctx, a),
        Sub::Rm(a) => rm::run(ctx, a),
        Sub::Prune(a) => prune::run(ctx, a),
    }
}

/// `k=v` pairs (a bare `k` means an empty value, as docker's labels).
pub fn key_values(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (s.clone(), String::new()),
        })
        .collect()
}

/// `--filter` for volumes: dangling=true|false, name=SUBSTRING, label=KEY[=VALUE],
/// driver=NAME. Filters of one key are ORed, different keys ANDed (docker's rule).
pub struct Filter {
    by_key: BTreeMap<String, Vec<String>>,
}

impl Filter {
    pub fn parse(items: &[String]) -> anyhow::Result<Filter> {
        let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in items {
            let (k, v) = f.split_once('=').ok_or_else(|| {
                anyhow::anyhow!("bad format of filter (expected name=value): {f}")
            })?;
            match k {
                "dangling" => {
                    if !matches!(v, "true" | "false" | "1" | "0") {
                        anyhow::bail!("invalid filter 'dangling={v}'");
                    }
                }
                "name" | "label" | "driver" => {}
                other => anyhow::bail!("invalid filter '{other}'"),
            }
            by_key.entry(k.to_string()).or_default().push(v.to_string());
        }
        Ok(Filter { by_key })
    }

    pub fn matches(&self, v: &crate::volume::Volume, in_use: bool) -> bool {
        self.by_key.iter().all(|(k, vals)| {
            vals.iter().any(|want| match k.as_str() {
                "dangling" => (want == "true" || want == "1") != in_use,
                "name" => v.name.contains(want.as_str()),
                "driver" => v.driver == *want,
                "label" => match want.split_once('=') {
                    Some((lk, lv)) => v.labels.get(lk).is_some_and(|x| x == lv),
                    None => v.labels.contains_key(want.as_str()),
                },
                _ => false,
            })
        })
    }

    pub fn has(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }
}
