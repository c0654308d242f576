//! `.env` and `env_file` files, compose's dotenv format: `KEY=VALUE` lines,
//! `export ` prefixes, `#` comments, single quotes (literal), double quotes
//! (escapes, may span lines), and `${VAR}` expansion in unquoted and
//! double-quoted values from the variables above and the lookup environment.

use super::interpolate::{substitute, Env};
use crate::compose::error::{ComposeError, Pos, Result};
use std::path::Path;
use std::sync::Arc;

/// Parses `src` (named `file` in errors). `lookup` resolves `${VAR}` and bare
/// `KEY` lines (which take the value from the environment, or are left out).
pub fn parse(src: &str, file: &Path, lookup: &Env) -> Result<Vec<(String, String)>> {
    let fname: Arc<str> = Arc::from(file.display().to_string());
    let mut out: Vec<(String, String)> = Vec::new();
    let lines: Vec<&str> = src.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let lineno = i + 1;
        let pos = Pos {
            file: fname.clone(),
            line: lineno,
            col: 1,
        };
        let raw = lines[i].trim_start();
        i += 1;
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let raw = raw
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(raw);
        let (key, value) = match raw.find(['=', ':']) {
            Some(eq) if raw[eq..].starts_with('=') => (raw[..eq].trim(), Some(&raw[eq + 1..])),
            _ => (raw.trim(), None),
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(ComposeError::at(
                &pos,
                key,
                "invalid variable name in env file",
            ));
        }
        let Some(value) = value else {
            // A bare name takes its value from the environment, if there.
            if let Some(v) = lookup.get(key) {
                out.push((key.to_string(), v.clone()));
            }
            continue;
        };
        let value = value.trim_start();
        let scope = |out: &Vec<(String, String)>| {
            let mut env = lookup.clone();
            for (k, v) in out {
                env.entry(k.clone()).or_insert_with(|| v.clone());
            }
            env
        };
        let v = if let Some(rest) = value.strip_prefix('\'') {
            let (body, consumed) = quoted(rest, '\'', &lines, &mut i)
                .ok_or_else(|| ComposeError::at(&pos, key, "unterminated single-quoted value"))?;
            let _ = consumed;
            body
        } else if let Some(rest) = value.strip_prefix('"') {
            let (body, _) = quoted(rest, '"', &lines, &mut i)
                .ok_or_else(|| ComposeError::at(&pos, key, "unterminated double-quoted value"))?;
            let body = unescape(&body);
            let mut unset = Vec::new();
            substitute(&body, &scope(&out), &mut unset)
                .map_err(|e| ComposeError::at(&pos, key, e.to_string()))?
        } else {
            // An unquoted value ends at ` #` (a comment).
            let v = match value.find(" #") {
                Some(c) => &value[..c],
                None => value,
            };
            let mut unset = Vec::new();
            substitute(v.trim_end(), &scope(&out), &mut unset)
                .map_err(|e| ComposeError::at(&pos, key, e.to_string()))?
        };
        out.retain(|(k, _)| k != key);
        out.push((key.to_string(), v));
    }
    Ok(out)
}

/// The body of a quoted value starting after its opening quote, possibly
/// continuing on the following lines (advancing `next_line`).
fn quoted(first: &str, q: char, lines: &[&str], next_line: &mut usize) -> Option<(String, usize)> {
    let mut body = String::new();
    let mut cur = first.to_string();
    loop {
        let mut prev_backslash = false;
        for (idx, c) in cur.char_indices() {
            if c == q && !(q == '"' && prev_backslash) {
                body.push_str(&cur[..idx]);
                return Some((body, *next_line));
            }
            prev_backslash = c == '\\' && !prev_backslash;
        }
        body.push_str(&cur);
        body.push('\n');
        if *next_line >= lines.len() {
            return None;
        }
        cur = lines[*next_line].to_string();
        *next_line += 1;
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('$') => out.push_str("$$"),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Reads and parses an env file.
pub fn read(path: &Path, lookup: &Env) -> Result<Vec<(String, String)>> {
    let src = std::fs::read_to_string(path).map_err(|e| ComposeError::io(path, e))?;
    parse(&src, path, lookup)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<(String, String)> {
        let mut env = Env::new();
        env.insert("HOME_X".into(), "/h".into());
        parse(s, Path::new(".env"), &env).unwrap()
    }

    fn kv(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn formats() {
        let got = p("# c\nA=1\nexport B = two words # comment\nC='lit $A'\nD=\"x\\ny $A\"\nE=${HOME_X}/p\nHOME_X\nNOPE\nF=\n");
        assert_eq!(
            got,
            kv(&[
                ("A", "1"),
                ("B", "two words"),
                ("C", "lit $A"),
                ("D", "x\ny 1"),
                ("E", "/h/p"),
                ("HOME_X", "/h"),
                ("F", "")
            ])
        );
    }

    #[test]
    fn multiline_double_quoted() {
        assert_eq!(p("K=\"a\nb\"\nL=2\n"), kv(&[("K", "a\nb"), ("L", "2")]));
    }

    #[test]
    fn bad_line_has_position() {
        let e = parse("A=1\nB C=2\n", Path::new("x.env"), &Env::new()).unwrap_err();
        assert!(e.to_string().starts_with("x.env:2:1:"), "{e}");
        let e = parse("A='oops\n", Path::new("x.env"), &Env::new()).unwrap_err();
        assert!(e.to_string().contains("unterminated"), "{e}");
    }
}
