//! Pruning what nothing uses: stopped containers, unused images, and docker's
//! prune filters (`until=`, `label=`, `label!=`), shared by `container
//! prune`, `image prune` and `system prune`.

use super::SystemError;
use crate::container::{self, ContainerStore, RemoveOptions};
use crate::context::Context;
use crate::store::images::is_dangling_name;
use crate::store::{ImageStore, StoreLock};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("invalid filter {0:?}: expected key=value")]
    Format(String),
    #[error("invalid filter '{0}' (prune takes until, label, label! and dangling)")]
    Key(String),
    #[error("invalid filter until={0:?}: not a timestamp or a duration")]
    Until(String),
}

/// docker's prune filters.
#[derive(Debug, Default, Clone)]
pub struct PruneFilter {
    /// Only what was created before (seconds since the epoch).
    until: Option<i64>,
    label: Vec<(String, Option<String>)>,
    not_label: Vec<(String, Option<String>)>,
    /// Images: `dangling=false` prunes unused tagged images too (as `-a`).
    pub dangling: Option<bool>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A time as docker's filters and `--since` take it: a Unix timestamp, an
/// RFC 3339 time or date, or a Go duration meaning that long ago (`10m`).
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<f64>() {
        return Some(n as i64);
    }
    if let Some(t) = crate::store::parse_rfc3339(s) {
        return Some(t);
    }
    if s.len() == 10 {
        if let Some(t) = crate::store::parse_rfc3339(&format!("{s}T00:00:00Z")) {
            return Some(t);
        }
    }
    let ns = crate::container::options::parse_duration_ns(s).ok()?;
    Some(now() - ns / 1_000_000_000)
}

fn kv(v: &str) -> (String, Option<String>) {
    match v.split_once('=') {
        Some((k, v)) => (k.to_string(), Some(v.to_string())),
        None => (v.to_string(), None),
    }
}

impl PruneFilter {
    /// `until=` as seconds since the epoch (build cache prune goes by it too).
    pub fn until(&self) -> Option<i64> {
        self.until
    }

    pub fn parse(filters: &[String]) -> Result<PruneFilter, FilterError> {
        let mut f = PruneFilter::default();
        for s in filters {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| FilterError::Format(s.clone()))?;
            match k {
                "until" => {
                    f.until = Some(parse_time(v).ok_or_else(|| FilterError::Until(v.into()))?)
                }
                "label" => f.label.push(kv(v)),
                "label!" => f.not_label.push(kv(v)),
                "dangling" => {
                    f.dangling = Some(match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(FilterError::Format(s.clone())),
                    })
                }
                _ => return Err(FilterError::Key(k.into())),
            }
        }
        Ok(f)
    }

    /// Does an object created at `created` with `labels` pass?
    pub fn matches(&self, created: &str, labels: &BTreeMap<String, String>) -> bool {
        let has = |(k, v): &(String, Option<String>)| match v {
            Some(v) => labels.get(k) == Some(v),
            None => labels.contains_key(k),
        };
        if let Some(until) = self.until {
            if crate::store::parse_rfc3339(created).is_none_or(|c| c >= until) {
                return false;
            }
        }
        self.label.iter().all(has) && !self.not_label.iter().any(has)
    }
}

/// What a prune removed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub deleted: Vec<String>,
    pub untagged: Vec<String>,
    pub bytes: u64,
}

/// Remove every stopped container the filter passes.
pub fn prune_containers(ctx: &Context, f: &PruneFilter) -> Result<Pruned, SystemError> {
    let store = ContainerStore::open(ctx)?;
    // what a create killed half-way left (its temp directory)
    store.clean();
    // and shim directories whose container record is gone
    container::remove::sweep_orphan_shim_dirs(ctx, &store);
    let mut out = Pruned::default();
    for rec in store.list()? {
        if !f.matches(&rec.created, &rec.config.labels) {
            continue;
        }
        let Ok(c) = container::lock(&store, &rec.id) else {
            continue;
        };
        // Checked under the lock: one started meanwhile stays.
        if container::state(ctx, &c).status.is_active() {
            continue;
        }
        let upper = c.dir(ctx).join("upper");
        let size = if upper.exists() {
            crate::volume::tree::disk_usage(&upper)
        } else {
            0
        };
        let id = c.id.clone();
        match container::remove(ctx, c, RemoveOptions::default()) {
            Ok(()) => {
                out.deleted.push(id);
                out.bytes += size;
            }
            Err(e) => eprintln!("berth: {e}"),
        }
    }
    Ok(out)
}

/// Remove dangling images (`all`: every image no container uses) the filter
/// passes (on the image's labels and creation time), then what nothing
/// references.
pub fn prune_images(ctx: &Context, all: bool, f: &PruneFilter) -> Result<Pruned, SystemError> {
    let all = all || f.dangling == Some(false);
    let lock = StoreLock::exclusive(&ctx.root)?;
    let images = ImageStore::open(&ctx.root)?;
    let used = crate::gc::used_image_ids(&ctx.root);
    // Labels and creation time come from the image config.
    let mut meta = BTreeMap::new();
    for v in crate::image::view::all_views(ctx)? {
        let labels: BTreeMap<String, String> =
            serde_json::from_value(v.config["config"]["Labels"].clone()).unwrap_or_default();
        meta.insert(v.record.name.clone(), (v.created.clone(), labels));
    }
    let mut out = Pruned::default();
    let mut deleted = BTreeSet::new();
    images.update(|recs| {
        recs.retain(|r| {
            let passes = meta.get(&r.name).is_some_and(|(c, l)| f.matches(c, l));
            let remove = passes && !used.contains(&r.config) && (all || is_dangling_name(&r.name));
            if remove {
                if !is_dangling_name(&r.name) {
                    out.untagged
                        .push(crate::image::reference::familiar(&r.name));
                }
                deleted.insert(r.config.clone());
            }
            !remove
        });
        for r in recs.iter() {
            deleted.remove(&r.config);
        }
        Ok(())
    })?;
    let stats = crate::gc::collect(&ctx.root, &lock)?;
    out.deleted = deleted.into_iter().map(|d| d.to_string()).collect();
    out.bytes = stats.bytes;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let f = PruneFilter::parse(&["label=a=1".into(), "label!=keep".into()]).unwrap();
        let mut l = BTreeMap::new();
        l.insert("a".to_string(), "1".to_string());
        assert!(f.matches("2020-01-01T00:00:00Z", &l));
        l.insert("keep".into(), String::new());
        assert!(!f.matches("2020-01-01T00:00:00Z", &l));
        let f = PruneFilter::parse(&["until=2021-01-01T00:00:00Z".into()]).unwrap();
        assert!(f.matches("2020-01-01T00:00:00Z", &BTreeMap::new()));
        assert!(!f.matches("2022-01-01T00:00:00Z", &BTreeMap::new()));
        let f = PruneFilter::parse(&["until=1h".into()]).unwrap();
        assert!(f.matches("2020-01-01T00:00:00Z", &BTreeMap::new()));
        assert!(PruneFilter::parse(&["dangling=maybe".into()]).is_err());
        assert!(
            PruneFilter::parse(&["dangling=false".into()])
                .unwrap()
                .dangling
                == Some(false)
        );
        assert!(PruneFilter::parse(&["name=x".into()]).is_err());
        assert!(PruneFilter::parse(&["until=soon".into()]).is_err());
    }
}
