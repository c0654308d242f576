//! docker's human formats (go-units): sizes and "3 minutes ago".

/// `HumanSizeWithPrecision(size, 3)`: decimal units, 3 significant digits.
pub fn human_size(size: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut s = size as f64;
    let mut i = 0;
    while s >= 1000.0 && i < UNITS.len() - 1 {
        s /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g3(s), UNITS[i])
}

/// Go's `%.3g` for the values human_size produces (0 <= v < 1000).
fn go_g3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    // Rounding may carry into another digit (99.95 -> "100.0"): %g keeps 3.
    let s = if s.len() > 4 && s.contains('.') {
        format!("{v:.0}")
    } else {
        s
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// go-units `HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let minutes = s / 60;
    let hours = (s as f64 / 3600.0).round() as i64;
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

/// "3 minutes ago" for an RFC 3339 time; empty when it cannot be parsed.
pub fn since(rfc3339: &str) -> String {
    match crate::store::parse_rfc3339(rfc3339) {
        Some(t) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            format!("{} ago", human_duration(now - t))
        }
        None => String::new(),
    }
}

/// docker's table layout (tabwriter minwidth 10, padding 3): every column but
/// the last padded to its widest cell plus 3.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                let w = (widths[i] + 3).max(10);
                for _ in c.chars().count()..w {
                    line.push(' ');
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A small subset of Go templates over a JSON object: `{{.Field}}`,
/// `{{json .}}`, `{{json .Field}}`, literal text; `\t` and `\n` are unescaped.
/// A leading `table ` prints a header row and aligns columns.
pub fn render_template(tmpl: &str, v: &serde_json::Value) -> Result<String, String> {
    let tmpl = tmpl.replace("\\t", "\t").replace("\\n", "\n");
    let mut out = String::new();
    let mut rest = tmpl.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("template: unclosed action in {tmpl:?}"))?;
        let action = after[..end]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        out.push_str(&eval(action, v)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup<'a>(path: &str, v: &'a serde_json::Value) -> Result<&'a serde_json::Value, String> {
    if path == "." {
        return Ok(v);
    }
    let mut cur = v;
    for part in path.trim_start_matches('.').split('.') {
        cur = cur
            .get(part)
            .ok_or_else(|| format!("template: can't evaluate field {part}"))?;
    }
    Ok(cur)
}

fn eval(action: &str, v: &serde_json::Value) -> Result<String, String> {
    if let Some(arg) = action.strip_prefix("json ") {
        let x = lookup(arg.trim(), v)?;
        return Ok(serde_json::to_string(x).unwrap_or_default());
    }
    if action.starts_with('.') {
        let x = lookup(action, v)?;
        return Ok(match x {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => "<no value>".into(),
            other => other.to_string(),
        });
    }
    Err(format!("template: unsupported action {{{{{action}}}}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(856), "856B");
        assert_eq!(human_size(1_240_000), "1.24MB");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(77_800_000), "77.8MB");
        assert_eq!(human_size(120_000_000), "120MB");
        assert_eq!(human_size(1000), "1kB");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(65), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
    }

    #[test]
    fn templates() {
        let v = serde_json::json!({"Repository": "busybox", "Tag": "latest", "N": 3});
        assert_eq!(
            render_template("{{.Repository}}:{{.Tag}}", &v).unwrap(),
            "busybox:latest"
        );
        assert_eq!(
            render_template("{{json .Tag}}\\t{{.N}}", &v).unwrap(),
            "\"latest\"\t3"
        );
        assert!(render_template("{{.Nope}}", &v).is_err());
        let t = table(&[
            vec!["A".into(), "B".into()],
            vec!["long-value".into(), "x".into()],
        ]);
        assert_eq!(t, "A            B\nlong-value   x\n");
    }
}
