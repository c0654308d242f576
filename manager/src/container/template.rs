//! The subset of Go templates `ps --format` and `inspect -f` take: text,
//! `{{.A.B}}` (dotted paths), `{{json .}}`, `{{json .A.B}}`, a leading `table`,
//! and `\t`/`\n` escapes.

use serde_json::Value;

pub struct Template {
    pub table: bool,
    parts: Vec<Part>,
}

enum Part {
    Text(String),
    Field(Vec<String>),
    Json(Vec<String>),
}

fn path(s: &str) -> Option<Vec<String>> {
    if s == "." {
        return Some(Vec::new());
    }
    let f = s.strip_prefix('.')?;
    let segs: Vec<String> = f.split('.').map(str::to_string).collect();
    segs.iter()
        .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(segs)
}

impl Template {
    pub fn parse(format: &str) -> Result<Template, String> {
        let (table, body) = match format.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, format),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut parts = Vec::new();
        let mut rest = body.as_str();
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let end = rest[start..]
                .find("}}")
                .ok_or_else(|| format!("template: unclosed action in {format:?}"))?;
            let action = rest[start + 2..start + end].trim();
            let part = if let Some(arg) = action.strip_prefix("json") {
                path(arg.trim()).map(Part::Json)
            } else {
                path(action).map(Part::Field)
            };
            parts.push(part.ok_or_else(|| {
                format!("template: unsupported action {{{{{action}}}}} in {format:?}")
            })?);
            rest = &rest[start + end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { table, parts })
    }

    pub fn render(&self, v: &Value) -> String {
        let get = |p: &[String]| p.iter().fold(v, |cur, k| &cur[k.as_str()]);
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => out.push_str(&plain(get(f))),
                Part::Json(f) => out.push_str(&get(f).to_string()),
            }
        }
        out
    }

    /// The header row: each field replaced by its column title.
    pub fn header(&self, titles: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) | Part::Json(f) => out.push_str(&titles(&f.join("."))),
            }
        }
        out
    }
}

/// A value as Go's template prints it: strings bare, maps as map[k:v], lists [a b].
pub fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<no value>".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(plain).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", plain(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_json() {
        let v = serde_json::json!({"State": {"ExitCode": 3, "Status": "exited"}, "Name": "/x"});
        let t = Template::parse("{{.State.ExitCode}} {{.Name}} {{json .State.Status}}").unwrap();
        assert_eq!(t.render(&v), "3 /x \"exited\"");
        assert!(Template::parse("{{if .X}}").is_err());
        let t = Template::parse("{{json .}}").unwrap();
        assert!(t.render(&v).starts_with('{'));
    }
}
