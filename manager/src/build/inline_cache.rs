//! Inline cache: the cache keys of a build's steps travel inside the image it
//! makes, so a build elsewhere (`--cache-from IMAGE`, compose `cache_from`)
//! can reuse its layers, as BuildKit's `moby.buildkit.cache.v0` does.
//!
//! The final image's config carries, under the top-level key [`CONFIG_KEY`]
//! (image tools ignore unknown top-level config keys), one record per step of
//! the chain that led to it: the step's key, its parent's state id, and how the
//! step changed the parent (top-level config fields set or removed, how many
//! history rows and layers it added; those rows and layers are the final
//! image's own, so nothing is stored twice). A step's state id covers its
//! timestamps, so only the exact parent config plus that delta rebuilds it;
//! an import is a hit only when the rebuilt config's digest equals the
//! recorded id, so a hit is never a different image than the one recorded.

use super::layer::State;
use crate::store::Digest;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Where the records live in the image config.
pub const CONFIG_KEY: &str = "berth.build.cache.v0";

/// How one step changed its parent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepRecord {
    pub key: Digest,
    pub parent: Digest,
    pub id: Digest,
    /// Top-level config fields the step set (`created`, `config`, ...).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub set: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unset: Vec<String>,
    /// History rows added (taken from the image's history after the parent's).
    pub history: usize,
    /// Layers added (taken from the image's layers after the parent's).
    pub layers: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Records {
    pub steps: Vec<StepRecord>,
    /// The image's id before the records went in (the last step's result):
    /// `builder prune` keeps that step's entry as the image's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Digest>,
}

fn history_of(config: &Value) -> &[Value] {
    config["history"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn diff_ids_of(config: &Value) -> &[Value] {
    config["rootfs"]["diff_ids"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The fields a step's delta covers (rootfs and history are appended instead).
fn plain_fields(config: &Value) -> Map<String, Value> {
    let mut m = config.as_object().cloned().unwrap_or_default();
    m.remove("rootfs");
    m.remove("history");
    m
}

/// The record of the step from `parent` to `state` (made under `key`), when
/// `state` extends `parent` (its history and layers start with the parent's).
pub fn record(key: &Digest, parent: &State, state: &State) -> Option<StepRecord> {
    let (ph, sh) = (history_of(&parent.config), history_of(&state.config));
    let (pd, sd) = (diff_ids_of(&parent.config), diff_ids_of(&state.config));
    if !(sh.starts_with(ph) && sd.starts_with(pd)) || parent.layers.len() != pd.len() {
        return None;
    }
    let (pf, sf) = (plain_fields(&parent.config), plain_fields(&state.config));
    let set: Map<String, Value> = sf
        .iter()
        .filter(|(k, v)| pf.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let unset = pf
        .keys()
        .filter(|k| !sf.contains_key(*k))
        .cloned()
        .collect();
    Some(StepRecord {
        key: key.clone(),
        parent: parent.id.clone(),
        id: state.id.clone(),
        set,
        unset,
        history: sh.len() - ph.len(),
        layers: sd.len() - pd.len(),
    })
}

/// The records of a chain of states (each the parent of the next), the steps
/// whose key is known; the last state is the image they go into.
pub fn records(chain: &[State], keys: &HashMap<Digest, Digest>) -> Records {
    let steps = chain
        .windows(2)
        .filter_map(|w| record(keys.get(&w[1].id)?, &w[0], &w[1]))
        .collect();
    Records { steps, last: None }
}

/// The `last` an image config's records name.
pub fn last_of(config: &Value) -> Option<Digest> {
    config.get(CONFIG_KEY)?.get("last")?.as_str()?.parse().ok()
}

/// The image's config with the records in it (and its id before them).
pub fn attach(state: &mut State, records: &Records) {
    let records = Records {
        steps: records.steps.clone(),
        last: Some(state.id.clone()),
    };
    if let Some(m) = state.config.as_object_mut() {
        m.insert(
            CONFIG_KEY.into(),
            serde_json::to_value(&records).unwrap_or(Value::Null),
        );
    }
}

/// A step a cache source offers: its record and the source image (whose
/// history rows and layers the step's come from).
#[derive(Debug, Clone)]
pub struct Offer {
    pub step: StepRecord,
    pub source: std::sync::Arc<State>,
}

/// The steps an image offers, by key (none when it has no records: an image
/// not built by berth gives no hits, as in docker).
pub fn offers(source: State) -> HashMap<Digest, Offer> {
    let recs: Records = match source.config.get(CONFIG_KEY) {
        Some(v) => serde_json::from_value(v.clone()).unwrap_or_default(),
        None => return HashMap::new(),
    };
    let source = std::sync::Arc::new(source);
    recs.steps
        .into_iter()
        .map(|s| {
            (
                s.key.clone(),
                Offer {
                    step: s,
                    source: source.clone(),
                },
            )
        })
        .collect()
}

/// The state `offer` made from `parent`, rebuilt; None unless `parent` is the
/// recorded parent and the rebuilt config is byte for byte the recorded one.
/// The result is not yet committed (its id is the recorded one).
pub fn rebuild(offer: &Offer, parent: &State) -> Option<State> {
    let step = &offer.step;
    if parent.id != step.parent {
        return None;
    }
    let src = &offer.source;
    let mut cfg = plain_fields(&parent.config);
    for k in &step.unset {
        cfg.remove(k);
    }
    for (k, v) in &step.set {
        cfg.insert(k.clone(), v.clone());
    }
    let ph = history_of(&parent.config).len();
    let mut history = history_of(&parent.config).to_vec();
    history.extend(
        history_of(&src.config)
            .get(ph..ph + step.history)?
            .iter()
            .cloned(),
    );
    let pd = diff_ids_of(&parent.config).len();
    let mut diff_ids = diff_ids_of(&parent.config).to_vec();
    diff_ids.extend(
        diff_ids_of(&src.config)
            .get(pd..pd + step.layers)?
            .iter()
            .cloned(),
    );
    let mut layers = parent.layers.clone();
    layers.extend(src.layers.get(pd..pd + step.layers)?.iter().cloned());
    if layers.len() != diff_ids.len() {
        return None;
    }
    // Only present when the parent or the step had them (scratch has both).
    if parent.config.get("rootfs").is_some() || step.layers > 0 {
        let mut rootfs = parent.config["rootfs"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        rootfs.insert("type".into(), Value::from("layers"));
        rootfs.insert("diff_ids".into(), Value::Array(diff_ids));
        cfg.insert("rootfs".into(), Value::Object(rootfs));
    }
    if parent.config.get("history").is_some() || step.history > 0 {
        cfg.insert("history".into(), Value::Array(history));
    }
    let config = Value::Object(cfg);
    let bytes = serde_json::to_vec(&config).ok()?;
    if Digest::sha256(&bytes) != step.id {
        return None;
    }
    Some(State {
        config,
        layers,
        id: step.id.clone(),
        manifest: parent.manifest.clone(),
        manifest_size: 0,
    })
}

/// A `--cache-from` / `cache_from` value: an image reference, or BuildKit's
/// `type=registry,ref=IMAGE` form; other cache types are refused by name.
pub fn parse_source(s: &str) -> Result<String, String> {
    if !s.contains('=') {
        if s.trim().is_empty() {
            return Err("cache source: an empty image reference".into());
        }
        return Ok(s.to_string());
    }
    let mut attrs: Vec<(&str, &str)> = Vec::new();
    for part in s.split(',') {
        let Some(kv) = part.split_once('=') else {
            return Err(format!(
                "cache source {s:?}: {part:?} is not KEY=VALUE (berth takes IMAGE or type=registry,ref=IMAGE)"
            ));
        };
        attrs.push(kv);
    }
    let ty = attrs
        .iter()
        .find(|(k, _)| *k == "type")
        .map_or("registry", |(_, v)| *v);
    if ty != "registry" {
        return Err(format!(
            "cache source {s:?}: cache type {ty:?} is not supported by berth (only images carrying berth's inline cache: type=registry)"
        ));
    }
    if let Some((k, _)) = attrs.iter().find(|(k, _)| !matches!(*k, "type" | "ref")) {
        return Err(format!(
            "cache source {s:?}: attribute {k:?} is not supported by berth (type=registry,ref=IMAGE)"
        ));
    }
    match attrs.iter().find(|(k, _)| *k == "ref") {
        Some((_, r)) if !r.is_empty() => Ok(r.to_string()),
        _ => Err(format!("cache source {s:?}: ref= is required")),
    }
}

/// The steps the `--cache-from` images offer: each a stored image, else pulled
/// as `run` pulls. A source that cannot be had is a warning and no hits, as
/// BuildKit's cache import is (the build goes on without it).
pub fn import(
    ctx: &crate::context::Context,
    opts: &super::BuildOptions,
    progress: &super::Progress,
) -> HashMap<Digest, Offer> {
    let mut all = HashMap::new();
    for src in &opts.cache_from {
        match load_source(ctx, src, opts.quiet) {
            Ok(state) => {
                let offered = offers(state);
                if offered.is_empty() {
                    progress.line(&format!(
                        "[Warning] cache source {src}: no berth build cache metadata, no steps to reuse"
                    ));
                }
                for (k, o) in offered {
                    all.entry(k).or_insert(o);
                }
            }
            Err(e) => progress.line(&format!(
                "[Warning] importing cache manifest from {src}: {e}"
            )),
        }
    }
    all
}

fn load_source(
    ctx: &crate::context::Context,
    name: &str,
    quiet: bool,
) -> Result<State, super::BuildError> {
    let content = crate::store::ContentStore::open(&ctx.root)?;
    let images = crate::store::ImageStore::open(&ctx.root)?;
    let rec = match images.resolve(name) {
        Ok(rec) => rec,
        Err(crate::store::StoreError::ImageNotFound(_)) => {
            let opts = crate::registry::Options {
                out: if quiet {
                    crate::registry::Out::Quiet
                } else {
                    crate::registry::Out::Stderr
                },
                ..Default::default()
            };
            crate::registry::pull(ctx, name, &opts).map_err(|source| super::BuildError::Pull {
                image: name.to_string(),
                source,
            })?
        }
        Err(e) => return Err(e.into()),
    };
    Ok(State::from_image(&crate::image::Image::load(
        &content, rec,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(config: Value, layers: Vec<Value>) -> State {
        let id = Digest::sha256(&serde_json::to_vec(&config).unwrap());
        State {
            config,
            layers,
            id,
            manifest: Digest::sha256(b"m"),
            manifest_size: 1,
        }
    }

    #[test]
    fn record_and_rebuild_round_trip() {
        let base = state(super::super::layer::scratch_config(), vec![]);
        let l = json!({"mediaType": "x", "digest": "sha256:aa", "size": 3});
        let mut c1 = base.config.clone();
        c1["created"] = json!("t1");
        c1["config"] = json!({"Env": ["A=1"]});
        c1["history"] = json!([{"created_by": "ENV A=1", "empty_layer": true}]);
        let s1 = state(c1.clone(), vec![]);
        let mut c2 = c1.clone();
        c2["created"] = json!("t2");
        c2["rootfs"]["diff_ids"] = json!(["sha256:aa"]);
        c2["history"]
            .as_array_mut()
            .unwrap()
            .push(json!({"created_by": "COPY f /"}));
        let s2 = state(c2, vec![l.clone()]);
        let (k1, k2) = (Digest::sha256(b"k1"), Digest::sha256(b"k2"));
        let keys: HashMap<_, _> = [(s1.id.clone(), k1.clone()), (s2.id.clone(), k2.clone())]
            .into_iter()
            .collect();
        let recs = records(&[base.clone(), s1.clone(), s2.clone()], &keys);
        assert_eq!(recs.steps.len(), 2);
        let mut img = s2.clone();
        attach(&mut img, &recs);
        assert_eq!(last_of(&img.config), Some(s2.id.clone()));
        let offers = offers(img);
        let r1 = rebuild(&offers[&k1], &base).expect("first step rebuilt");
        assert_eq!(r1.id, s1.id);
        let r2 = rebuild(&offers[&k2], &r1).expect("second step rebuilt");
        assert_eq!(r2.id, s2.id);
        assert_eq!(r2.layers, vec![l]);
        // Another parent: no hit.
        assert!(rebuild(&offers[&k2], &base).is_none());
        // A tampered record: no hit.
        let mut bad = offers[&k1].clone();
        bad.step.set.insert("created".into(), json!("t9"));
        assert!(rebuild(&bad, &base).is_none());
    }

    #[test]
    fn no_records_no_offers() {
        let s = state(super::super::layer::scratch_config(), vec![]);
        assert!(offers(s).is_empty());
    }

    #[test]
    fn sources() {
        assert_eq!(parse_source("reg/app:1").unwrap(), "reg/app:1");
        assert_eq!(
            parse_source("type=registry,ref=reg/app:1").unwrap(),
            "reg/app:1"
        );
        assert!(parse_source("type=local,src=/x")
            .unwrap_err()
            .contains("\"local\""));
        assert!(parse_source("type=registry").is_err());
    }
}
