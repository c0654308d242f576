//! The compose spec's merge rules for several files (and for `extends`), on
//! the canonical (long-syntax) form: mappings merge key by key, scalars are
//! replaced, `command`/`entrypoint`/`healthcheck.test` are replaced whole,
//! mounts and devices are merged by target, secrets and configs by source,
//! other lists are appended without duplicates; `!reset` removes a value and
//! `!override` replaces it.

use super::yaml::{Node, Val};

fn unique_key(key: &str) -> Option<&'static str> {
    match key {
        "volumes" | "devices" => Some("target"),
        "secrets" | "configs" => Some("source"),
        _ => None,
    }
}

/// Merges `over` into `base`; `key` is the key both are values of.
pub fn merge(base: &mut Node, over: Node, key: &str) {
    match over.tag.as_deref() {
        Some("!override") => {
            let mut o = over;
            o.tag = None;
            *base = o;
            return;
        }
        Some("!reset") => {
            // The caller drops reset values; a reset reaching here replaces.
            *base = Node::null(over.pos);
            return;
        }
        _ => {}
    }
    if matches!(key, "command" | "entrypoint" | "test") {
        *base = over;
        return;
    }
    match (&mut base.val, over.val) {
        (Val::Map(bm), Val::Map(om)) => {
            for (k, v) in om {
                if v.tag.as_deref() == Some("!reset") {
                    bm.retain(|(bk, _)| bk.name != k.name);
                    continue;
                }
                match bm.iter_mut().find(|(bk, _)| bk.name == k.name) {
                    Some((_, bv)) if !bv.is_null() => merge(bv, v, &k.name),
                    Some((_, bv)) => *bv = v,
                    None => bm.push((k, v)),
                }
            }
        }
        (Val::Seq(bs), Val::Seq(os)) => match unique_key(key) {
            Some(id) => {
                for v in os {
                    let vid = v.get(id).and_then(Node::scalar).map(str::to_string);
                    match bs.iter_mut().find(|b| {
                        vid.is_some() && b.get(id).and_then(Node::scalar) == vid.as_deref()
                    }) {
                        Some(b) => *b = v,
                        None => bs.push(v),
                    }
                }
            }
            None => {
                for v in os {
                    let j = v.to_json();
                    if !bs.iter().any(|b| b.to_json() == j) {
                        bs.push(v);
                    }
                }
            }
        },
        (_, val) => {
            base.val = val;
            base.pos = over.pos;
        }
    }
}

/// Drops `!reset` values left in a node that had nothing to reset.
pub fn strip_resets(node: &mut Node) {
    match &mut node.val {
        Val::Map(m) => {
            m.retain(|(_, v)| v.tag.as_deref() != Some("!reset"));
            for (_, v) in m.iter_mut() {
                strip_resets(v);
            }
        }
        Val::Seq(items) => {
            items.retain(|v| v.tag.as_deref() != Some("!reset"));
            for v in items.iter_mut() {
                strip_resets(v);
            }
        }
        Val::Scalar { .. } => {}
    }
    if node.tag.as_deref() == Some("!override") {
        node.tag = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::loader::yaml::parse;
    use serde_json::json;
    use std::sync::Arc;

    fn m(a: &str, b: &str) -> serde_json::Value {
        let mut x = parse(a, &Arc::from("a")).unwrap();
        let y = parse(b, &Arc::from("b")).unwrap();
        merge(&mut x, y, "");
        strip_resets(&mut x);
        x.to_json()
    }

    #[test]
    fn maps_merge_scalars_replace() {
        assert_eq!(
            m(
                "image: a\nenvironment: {A: '1', B: '2'}\n",
                "image: b\nenvironment: {B: '3', C: '4'}\n"
            ),
            json!({"image":"b","environment":{"A":"1","B":"3","C":"4"}})
        );
    }

    #[test]
    fn commands_replace_lists_append() {
        assert_eq!(
            m(
                "command: [a, b]\ndns: [1.1.1.1]\n",
                "command: [c]\ndns: [8.8.8.8, 1.1.1.1]\n"
            ),
            json!({"command":["c"],"dns":["1.1.1.1","8.8.8.8"]})
        );
    }

    #[test]
    fn mounts_by_target_secrets_by_source() {
        assert_eq!(
            m(
                "volumes: [{type: volume, source: a, target: /d}, {type: volume, source: b, target: /e}]\nsecrets: [{source: s, target: x}]\n",
                "volumes: [{type: bind, source: /h, target: /d}]\nsecrets: [{source: s, target: y}, {source: t}]\n"
            ),
            json!({
                "volumes":[{"type":"bind","source":"/h","target":"/d"},{"type":"volume","source":"b","target":"/e"}],
                "secrets":[{"source":"s","target":"y"},{"source":"t"}]
            })
        );
    }

    #[test]
    fn reset_and_override() {
        assert_eq!(
            m(
                "ports: [{target: 80}]\nenvironment: {A: '1'}\n",
                "ports: !reset []\nenvironment: !override {B: '2'}\n"
            ),
            json!({"environment":{"B":"2"}})
        );
    }

    #[test]
    fn healthcheck_test_replaced() {
        assert_eq!(
            m(
                "healthcheck: {test: [CMD, a], interval: 1s}\n",
                "healthcheck: {test: [CMD, b]}\n"
            ),
            json!({"healthcheck":{"test":["CMD","b"],"interval":"1s"}})
        );
    }
}
