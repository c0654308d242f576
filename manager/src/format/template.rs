//! The subset of docker's Go templates that `--format` takes: text,
//! `{{.Field}}` and dotted paths `{{.A.B}}`, `{{.}}`, `{{json .}}`,
//! `{{json .A.B}}`, `{{- ... -}}` markers (accepted, not trimming), a leading
//! `table` (header row plus aligned columns) and `\t`/`\n` escapes.

use serde_json::Value;

/// How values print; the verbs differ, as their docker counterparts do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Go's template over a map (`inspect`, `ps`): missing fields and null print
    /// `<no value>`, maps `map[k:v]`, lists `[a b]`.
    Go,
    /// List rows (`stats`, `volume ls`/`inspect`): missing fields and null print
    /// nothing, maps and lists as JSON.
    Row,
    /// Typed objects (`images`, `history`, `image inspect`): a missing field is
    /// an error, null prints `<no value>`, maps and lists as JSON.
    Strict,
}

/// A parsed `--format` string.
pub struct Template {
    table: bool,
    style: Style,
    parts: Vec<Part>,
}

enum Part {
    Text(String),
    Field(Vec<String>),
    Json(Vec<String>),
}

/// `.` (the whole value) or `.A.B`.
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

fn parse_action(action: &str) -> Option<Part> {
    let action = action.trim_start_matches('-').trim_end_matches('-').trim();
    match action.strip_prefix("json") {
        Some(arg) => path(arg.trim()).map(Part::Json),
        None => path(action).map(Part::Field),
    }
}

impl Template {
    pub fn parse(format: &str, style: Style) -> Result<Template, String> {
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
            parts.push(parse_action(action).ok_or_else(|| {
                format!("template: unsupported action {{{{{action}}}}} in {format:?}")
            })?);
            rest = &rest[start + end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template {
            table,
            style,
            parts,
        })
    }

    /// Whether the format began with `table`.
    pub fn is_table(&self) -> bool {
        self.table
    }

    fn lookup<'a>(&self, v: &'a Value, path: &[String]) -> Result<&'a Value, String> {
        let mut cur = v;
        for k in path {
            cur = match (cur.get(k.as_str()), self.style) {
                (Some(x), _) => x,
                (None, Style::Strict) => return Err(format!("template: can't evaluate field {k}")),
                (None, _) => &Value::Null,
            };
        }
        Ok(cur)
    }

    fn plain(&self, v: &Value) -> String {
        match (v, self.style) {
            (Value::String(s), _) => s.clone(),
            (Value::Null, Style::Row) => String::new(),
            (Value::Null, _) => "<no value>".into(),
            (Value::Array(a), Style::Go) => format!(
                "[{}]",
                a.iter()
                    .map(|x| self.plain(x))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            (Value::Object(m), Style::Go) => format!(
                "map[{}]",
                m.iter()
                    .map(|(k, x)| format!("{k}:{}", self.plain(x)))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            (other, _) => other.to_string(),
        }
    }

    /// Render one value; only [`Style::Strict`] fails (on a missing field).
    pub fn render(&self, v: &Value) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => out.push_str(&self.plain(self.lookup(v, f)?)),
                Part::Json(f) => out.push_str(&self.lookup(v, f)?.to_string()),
            }
        }
        Ok(out)
    }

    /// The header row: each field replaced by its column title (`titles` of the
    /// dotted path); `{{json .}}` has none.
    pub fn header(&self, titles: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) | Part::Json(f) if !f.is_empty() => {
                    out.push_str(&titles(&f.join(".")))
                }
                Part::Field(_) | Part::Json(_) => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(f: &str, style: Style, v: &Value) -> Result<String, String> {
        Template::parse(f, style)?.render(v)
    }

    #[test]
    fn paths_and_json() {
        let v = json!({"State": {"ExitCode": 3, "Status": "exited"}, "Name": "/x"});
        let t = Template::parse(
            "{{.State.ExitCode}} {{.Name}} {{json .State.Status}}",
            Style::Go,
        )
        .unwrap();
        assert_eq!(t.render(&v).unwrap(), "3 /x \"exited\"");
        assert!(Template::parse("{{if .X}}", Style::Go).is_err());
        assert!(Template::parse("{{range .}}", Style::Row).is_err());
        assert!(Template::parse("{{.X", Style::Row).is_err());
        assert!(render("{{json .}}", Style::Go, &v)
            .unwrap()
            .starts_with('{'));
        assert_eq!(
            render("{{json .}}", Style::Row, &json!({"Name":"a"})).unwrap(),
            r#"{"Name":"a"}"#
        );
    }

    #[test]
    fn styles() {
        let v = json!({"L": {"a": "b"}, "A": ["x", 1], "N": null, "Repository": "busybox", "Tag": "latest", "C": 3});
        assert_eq!(
            render("{{.L}} {{.A}} {{.N}} {{.Nope}}", Style::Go, &v).unwrap(),
            "map[a:b] [x 1] <no value> <no value>"
        );
        assert_eq!(
            render("{{.L}} {{.A}} [{{.N}}] [{{.Nope}}]", Style::Row, &v).unwrap(),
            r#"{"a":"b"} ["x",1] [] []"#
        );
        assert_eq!(
            render("{{.Repository}}:{{.Tag}}", Style::Strict, &v).unwrap(),
            "busybox:latest"
        );
        assert_eq!(
            render("{{json .Tag}}\\t{{.C}} {{- .N -}}", Style::Strict, &v).unwrap(),
            "\"latest\"\t3 <no value>"
        );
        assert!(render("{{.Nope}}", Style::Strict, &v).is_err());
    }

    #[test]
    fn table_header() {
        let t = Template::parse("table {{.Name}}\\t{{.Driver}}", Style::Row).unwrap();
        assert!(t.is_table());
        assert_eq!(t.header(&|f| f.to_uppercase()), "NAME\tDRIVER");
        assert_eq!(
            t.render(&json!({"Name":"a","Driver":"local"})).unwrap(),
            "a\tlocal"
        );
        let t = Template::parse("{{json .}}", Style::Go).unwrap();
        assert!(!t.is_table());
        assert_eq!(t.header(&|f| f.to_uppercase()), "");
    }
}
