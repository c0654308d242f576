//! `config`'s output: the model as YAML (docker compose's layout: name,
//! services, networks, volumes, secrets, configs; keys sorted within) or JSON.

use crate::compose::model::Project;
use serde_json::Value;

/// The project as an ordered JSON value (top-level keys in compose's order).
pub fn project_value(p: &Project) -> Vec<(String, Value)> {
    let v = serde_json::to_value(p).unwrap_or(Value::Null);
    let mut out = Vec::new();
    if let Value::Object(mut m) = v {
        for k in [
            "name", "services", "networks", "volumes", "secrets", "configs",
        ] {
            if let Some(x) = m.remove(k) {
                out.push((k.to_string(), x));
            }
        }
        for (k, x) in m {
            out.push((k, x));
        }
    }
    out
}

pub fn to_json(p: &Project) -> String {
    let m: serde_json::Map<String, Value> = project_value(p).into_iter().collect();
    serde_json::to_string_pretty(&Value::Object(m)).unwrap_or_default()
}

pub fn to_yaml(p: &Project) -> String {
    let mut out = String::new();
    for (k, v) in project_value(p) {
        emit_entry(&mut out, 0, &k, &v);
    }
    out
}

/// A scalar as YAML: plain when it reads back as the same string, else
/// double-quoted (JSON's escapes are valid YAML).
fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            if needs_quotes(s) {
                serde_json::to_string(s).unwrap_or_default()
            } else {
                s.clone()
            }
        }
        _ => String::new(),
    }
}

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || s != s.trim() {
        return true;
    }
    if crate::compose::loader::yaml::is_null_text(s)
        || crate::compose::loader::yaml::parse_bool(s).is_some()
        || s.parse::<f64>().is_ok()
        || matches!(
            s.to_ascii_lowercase().as_str(),
            "yes" | "no" | "on" | "off" | "y" | "n"
        )
    {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    let second = s.chars().nth(1).unwrap_or(' ');
    // `-x`, `?x` and `:x` are plain scalars; `- x` is not.
    if "-?:".contains(first) && second == ' ' {
        return true;
    }
    if ",[]{}#&*!|>'\"%@`".contains(first) {
        return true;
    }
    s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.contains('\n')
        || s.contains('\t')
        || s.chars().any(|c| c.is_control())
}

fn key(k: &str) -> String {
    if needs_quotes(k) {
        serde_json::to_string(k).unwrap_or_default()
    } else {
        k.to_string()
    }
}

fn emit_entry(out: &mut String, indent: usize, k: &str, v: &Value) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push_str(&format!("{pad}{}:\n", key(k)));
            for (ck, cv) in m {
                emit_entry(out, indent + 2, ck, cv);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            out.push_str(&format!("{pad}{}:\n", key(k)));
            for item in a {
                emit_item(out, indent + 2, item);
            }
        }
        Value::Object(_) => out.push_str(&format!("{pad}{}: {{}}\n", key(k))),
        Value::Array(_) => out.push_str(&format!("{pad}{}: []\n", key(k))),
        _ => out.push_str(&format!("{pad}{}: {}\n", key(k), scalar(v))),
    }
}

fn emit_item(out: &mut String, indent: usize, v: &Value) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            // The first entry on the dash's line, the rest under it.
            let mut first = true;
            for (ck, cv) in m {
                let mut tmp = String::new();
                emit_entry(&mut tmp, indent + 2, ck, cv);
                if first {
                    out.push_str(&format!("{pad}- {}", &tmp[indent + 2..]));
                    first = false;
                } else {
                    out.push_str(&tmp);
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            out.push_str(&format!("{pad}-\n"));
            for item in a {
                emit_item(out, indent + 2, item);
            }
        }
        Value::Object(_) => out.push_str(&format!("{pad}- {{}}\n")),
        Value::Array(_) => out.push_str(&format!("{pad}- []\n")),
        _ => out.push_str(&format!("{pad}- {}\n", scalar(v))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::loader::yaml::parse;
    use std::sync::Arc;

    #[test]
    fn yaml_round_trips() {
        let v = serde_json::json!({
            "a": {"b": [1, "x: y", {"c": "true", "d": [], "e": {"f": null}}, "", "0755"], "g": "-x"},
            "h": "multi\nline", "i": "#c", "j": {}
        });
        let mut out = String::new();
        for (k, x) in v.as_object().unwrap() {
            emit_entry(&mut out, 0, k, x);
        }
        let back = parse(&out, &Arc::from("o")).unwrap().to_json();
        assert_eq!(back, v, "{out}");
    }
}
