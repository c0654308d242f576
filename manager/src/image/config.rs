//! Image config helpers: Dockerfile-style changes (`import -c`) applied to a
//! docker-shaped config object (`Cmd`, `Env`, ...).

use super::ImageError;
use serde_json::{json, Map, Value};

/// Apply one Dockerfile instruction (`CMD ["sh"]`, `ENV A=b`, `EXPOSE 80/tcp`,
/// ...) to `cfg`, the config's `config` object.
pub fn apply_change(cfg: &mut Value, change: &str) -> Result<(), ImageError> {
    let bad = |why: &str| ImageError::Change(format!("{change:?}: {why}"));
    let change = change.trim();
    let (instr, rest) = change
        .split_once(|c: char| c.is_whitespace())
        .map(|(a, b)| (a, b.trim()))
        .unwrap_or((change, ""));
    if !cfg.is_object() {
        *cfg = json!({});
    }
    let obj = cfg.as_object_mut().expect("object");
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => {
            obj.insert("Cmd".into(), json!(exec_form(rest)));
        }
        "ENTRYPOINT" => {
            obj.insert("Entrypoint".into(), json!(exec_form(rest)));
        }
        "ENV" => {
            let env = obj.entry("Env").or_insert_with(|| json!([]));
            let list = env.as_array_mut().ok_or_else(|| bad("Env is not a list"))?;
            for (k, v) in key_values(rest).ok_or_else(|| bad("expected KEY=VALUE"))? {
                list.retain(|e| e.as_str().and_then(|s| s.split_once('=')).map(|p| p.0) != Some(&k));
                list.push(json!(format!("{k}={v}")));
            }
        }
        "LABEL" => {
            let labels = obj.entry("Labels").or_insert_with(|| json!({}));
            if labels.is_null() {
                *labels = json!({});
            }
            let m = labels.as_object_mut().ok_or_else(|| bad("Labels is not a map"))?;
            for (k, v) in key_values(rest).ok_or_else(|| bad("expected KEY=VALUE"))? {
                m.insert(k, json!(v));
            }
        }
        "WORKDIR" => {
            obj.insert("WorkingDir".into(), json!(rest));
        }
        "USER" => {
            obj.insert("User".into(), json!(rest));
        }
        "STOPSIGNAL" => {
            obj.insert("StopSignal".into(), json!(rest));
        }
        "EXPOSE" => {
            let ports = obj.entry("ExposedPorts").or_insert_with(|| json!({}));
            let m = ports.as_object_mut().ok_or_else(|| bad("ExposedPorts is not a map"))?;
            for p in rest.split_whitespace() {
                let p = if p.contains('/') { p.to_string() } else { format!("{p}/tcp") };
                m.insert(p, json!({}));
            }
        }
        "VOLUME" => {
            let vols = obj.entry("Volumes").or_insert_with(|| json!({}));
            let m = vols.as_object_mut().ok_or_else(|| bad("Volumes is not a map"))?;
            for v in exec_form_or_words(rest) {
                m.insert(v, Value::Object(Map::new()));
            }
        }
        "ONBUILD" => {
            let l = obj.entry("OnBuild").or_insert_with(|| json!([]));
            if let Some(a) = l.as_array_mut() {
                a.push(json!(rest));
            }
        }
        _ => return Err(bad("unsupported instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)")),
    }
    Ok(())
}

/// `["a","b"]` as is; anything else is shell form: `/bin/sh -c "<text>"`.
fn exec_form(s: &str) -> Vec<String> {
    if let Ok(v) = serde_json::from_str::<Vec<String>>(s) {
        return v;
    }
    vec!["/bin/sh".into(), "-c".into(), s.into()]
}

fn exec_form_or_words(s: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(s)
        .unwrap_or_else(|_| s.split_whitespace().map(String::from).collect())
}

/// `A=1 B="two words"` or the legacy `A some value`.
fn key_values(s: &str) -> Option<Vec<(String, String)>> {
    let first = s.split_whitespace().next()?;
    if !first.contains('=') {
        let (k, v) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
        return Some(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        let mut val = String::new();
        let mut quote = None;
        while let Some(&c) = chars.peek() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => break,
                (_, '\\') => {
                    chars.next();
                    if let Some(n) = chars.next() {
                        val.push(n);
                    }
                    continue;
                }
                (_, c) => val.push(c),
            }
            chars.next();
        }
        if key.is_empty() {
            return None;
        }
        out.push((key, val));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes() {
        let mut c = json!({});
        apply_change(&mut c, r#"CMD ["sh", "-c", "echo hi"]"#).unwrap();
        apply_change(&mut c, "ENTRYPOINT /bin/init").unwrap();
        apply_change(&mut c, "ENV A=1 B=\"two words\"").unwrap();
        apply_change(&mut c, "ENV A=3").unwrap();
        apply_change(&mut c, "LABEL x=y").unwrap();
        apply_change(&mut c, "EXPOSE 80 53/udp").unwrap();
        apply_change(&mut c, "WORKDIR /app").unwrap();
        apply_change(&mut c, "USER 1000:1000").unwrap();
        apply_change(&mut c, "VOLUME /data").unwrap();
        assert_eq!(c["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "/bin/init"]));
        assert_eq!(c["Env"], json!(["B=two words", "A=3"]));
        assert_eq!(c["Labels"]["x"], "y");
        assert!(c["ExposedPorts"]["80/tcp"].is_object());
        assert!(c["ExposedPorts"]["53/udp"].is_object());
        assert_eq!(c["WorkingDir"], "/app");
        assert!(c["Volumes"]["/data"].is_object());
        assert!(apply_change(&mut c, "RUN x").is_err());
    }
}
