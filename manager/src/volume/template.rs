//! The subset of docker's `--format` Go templates that list commands need:
//! `{{.Field}}`, `{{json .}}`, `{{json .Field}}`, a leading `table` (header row plus
//! aligned columns), and `\t`/`\n` escapes; plus docker's tabwriter column layout.

use serde_json::Value;

/// A parsed `--format` string.
pub struct Template {
    table: bool,
    parts: Vec<Part>,
}

enum Part {
    Text(String),
    Field(String),
    Json(Option<String>),
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
            parts.push(parse_action(action).ok_or_else(|| {
                format!("template: unsupported action {{{{{action}}}}} in {format:?}")
            })?);
            rest = &rest[start + end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { table, parts })
    }

    pub fn is_table(&self) -> bool {
        self.table
    }

    /// Render one object (a JSON map of the row's fields).
    pub fn render(&self, row: &Value) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => out.push_str(&plain(&row[f.as_str()])),
                Part::Json(None) => out.push_str(&row.to_string()),
                Part::Json(Some(f)) => out.push_str(&row[f.as_str()].to_string()),
            }
        }
        out
    }

    /// The header row: each field replaced by its column title from `titles`.
    pub fn header(&self, titles: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) | Part::Json(Some(f)) => out.push_str(&titles(f)),
                Part::Json(None) => {}
            }
        }
        out
    }
}

fn parse_action(a: &str) -> Option<Part> {
    if let Some(f) = a.strip_prefix('.') {
        let ok = !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        return ok.then(|| Part::Field(f.to_string()));
    }
    let arg = a.strip_prefix("json")?.trim();
    if arg == "." {
        return Some(Part::Json(None));
    }
    let f = arg.strip_prefix('.')?;
    Some(Part::Json(Some(f.to_string())))
}

/// A value as Go's template prints it: strings bare, null as empty.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// docker's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`: tab-separated cells padded
/// to the widest cell of their column plus 3, at least 10 wide; the last cell of a
/// line is not padded.
pub fn tabulate(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for r in &rows {
        for (i, c) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            let w = c.chars().count();
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(w);
        }
    }
    let mut out = String::new();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < r.len() {
                let w = (widths[i] + 3).max(10);
                out.push_str(&" ".repeat(w - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_json() {
        let t = Template::parse("{{.Name}}:{{.Driver}}").unwrap();
        assert_eq!(
            t.render(&serde_json::json!({"Name":"a","Driver":"local"})),
            "a:local"
        );
        let t = Template::parse("{{json .}}").unwrap();
        assert_eq!(
            t.render(&serde_json::json!({"Name":"a"})),
            r#"{"Name":"a"}"#
        );
        assert!(Template::parse("{{range .}}").is_err());
    }

    #[test]
    fn table_layout() {
        let out = tabulate(&["DRIVER\tVOLUME NAME".into(), "local\tdata".into()]);
        assert_eq!(out, "DRIVER    VOLUME NAME\nlocal     data\n");
    }
}
