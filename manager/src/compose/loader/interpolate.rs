//! Variable interpolation, compose's rules: `$V`, `${V}`, `${V:-d}`, `${V-d}`,
//! `${V:+a}`, `${V+a}`, `${V:?err}`, `${V?err}`, `$$`; defaults and messages may
//! themselves hold `${...}`, and are only evaluated when used.

use super::yaml::{Node, Val};
use crate::compose::error::{ComposeError, Result};
use std::collections::BTreeMap;

/// The variables interpolation sees: the process environment over the `.env`
/// file (or `--env-file`s).
pub type Env = BTreeMap<String, String>;

#[derive(Debug, PartialEq)]
pub enum InterpError {
    /// `${V:?msg}` / `${V?msg}` with V unset (or empty).
    Required {
        name: String,
        msg: String,
    },
    Invalid(String),
}

impl std::fmt::Display for InterpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InterpError::Required { name, msg } if msg.is_empty() => {
                write!(f, "required variable {name} is missing a value")
            }
            InterpError::Required { name, msg } => {
                write!(f, "required variable {name} is missing a value: {msg}")
            }
            InterpError::Invalid(s) => write!(f, "invalid interpolation format: {s}"),
        }
    }
}

/// Substitutes variables in `s`. Unset variables without a default become ""
/// and are reported in `unset` (compose warns about each).
pub fn substitute(s: &str, env: &Env, unset: &mut Vec<String>) -> Result<String, InterpError> {
    if !s.contains('$') {
        return Ok(s.to_string());
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let start = i + 2;
                let end = closing_brace(&chars, start)
                    .ok_or_else(|| InterpError::Invalid(s.to_string()))?;
                let inner: String = chars[start..end].iter().collect();
                out.push_str(&braced(&inner, s, env, unset)?);
                i = end + 1;
            }
            Some(&c) if c == '_' || c.is_ascii_alphabetic() => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && (chars[j] == '_' || chars[j].is_ascii_alphanumeric()) {
                    j += 1;
                }
                let name: String = chars[start..j].iter().collect();
                match env.get(&name) {
                    Some(v) => out.push_str(v),
                    None => unset.push(name),
                }
                i = j;
            }
            _ => return Err(InterpError::Invalid(s.to_string())),
        }
    }
    Ok(out)
}

/// The index of the `}` closing a `${` whose body starts at `start`.
fn closing_brace(chars: &[char], start: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '$' if chars.get(i + 1) == Some(&'{') => {
                depth += 1;
                i += 2;
                continue;
            }
            '$' if chars.get(i + 1) == Some(&'$') => {
                i += 2;
                continue;
            }
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn braced(
    inner: &str,
    whole: &str,
    env: &Env,
    unset: &mut Vec<String>,
) -> Result<String, InterpError> {
    let name_len = inner
        .char_indices()
        .find(|(_, c)| !(*c == '_' || c.is_ascii_alphanumeric()))
        .map(|(i, _)| i)
        .unwrap_or(inner.len());
    let name = &inner[..name_len];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(InterpError::Invalid(whole.to_string()));
    }
    let rest = &inner[name_len..];
    let value = env.get(name);
    let set_nonempty = value.is_some_and(|v| !v.is_empty());
    let (op, arg) = if rest.is_empty() {
        ("", "")
    } else if let Some(a) = rest.strip_prefix(":-") {
        (":-", a)
    } else if let Some(a) = rest.strip_prefix(":?") {
        (":?", a)
    } else if let Some(a) = rest.strip_prefix(":+") {
        (":+", a)
    } else if let Some(a) = rest.strip_prefix('-') {
        ("-", a)
    } else if let Some(a) = rest.strip_prefix('?') {
        ("?", a)
    } else if let Some(a) = rest.strip_prefix('+') {
        ("+", a)
    } else {
        return Err(InterpError::Invalid(whole.to_string()));
    };
    match op {
        "" => Ok(match value {
            Some(v) => v.clone(),
            None => {
                unset.push(name.to_string());
                String::new()
            }
        }),
        ":-" if set_nonempty => Ok(value.cloned().unwrap_or_default()),
        "-" if value.is_some() => Ok(value.cloned().unwrap_or_default()),
        ":-" | "-" => substitute(arg, env, unset),
        ":+" if set_nonempty => substitute(arg, env, unset),
        "+" if value.is_some() => substitute(arg, env, unset),
        ":+" | "+" => Ok(String::new()),
        ":?" if set_nonempty => Ok(value.cloned().unwrap_or_default()),
        "?" if value.is_some() => Ok(value.cloned().unwrap_or_default()),
        _ => Err(InterpError::Required {
            name: name.to_string(),
            msg: substitute(arg, env, unset)?,
        }),
    }
}

/// Interpolates every scalar value of a tree (keys are left as written).
/// `path` is the key path of `node`, for errors.
pub fn interpolate_tree(
    node: &mut Node,
    path: &str,
    env: &Env,
    unset: &mut Vec<String>,
) -> Result<()> {
    match &mut node.val {
        Val::Scalar { text, plain } => {
            if text.contains('$') {
                *text = substitute(text, env, unset)
                    .map_err(|e| ComposeError::at(&node.pos, path, e.to_string()))?;
                // A variable that expands to nothing is an empty string, not null.
                if text.is_empty() {
                    *plain = false;
                }
            }
        }
        Val::Seq(items) => {
            for (i, it) in items.iter_mut().enumerate() {
                interpolate_tree(it, &format!("{path}[{i}]"), env, unset)?;
            }
        }
        Val::Map(m) => {
            for (k, v) in m.iter_mut() {
                // Extensions are free-form: compose leaves them as written
                // only when they are not used through anchors; interpolating
                // them is what compose does too.
                let p = if path.is_empty() {
                    k.name.clone()
                } else {
                    format!("{path}.{}", k.name)
                };
                interpolate_tree(v, &p, env, unset)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        [("A", "a"), ("E", ""), ("N", "5")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn s(x: &str) -> String {
        let mut u = Vec::new();
        substitute(x, &env(), &mut u).unwrap()
    }

    #[test]
    fn every_operator() {
        assert_eq!(s("$A ${A} x$A"), "a a xa");
        assert_eq!(s("${A:-d} ${E:-d} ${U:-d}"), "a d d");
        assert_eq!(s("${A-d} ${E-d} ${U-d}"), "a  d");
        assert_eq!(s("${A:+x} ${E:+x} ${U:+x}"), "x  ");
        assert_eq!(s("${A+x} ${E+x} ${U+x}"), "x x ");
        assert_eq!(s("${A:?m} ${A?m} ${E?m}"), "a a ");
        assert_eq!(s("$$A $${A}"), "$A ${A}");
    }

    #[test]
    fn nested_defaults() {
        assert_eq!(s("${U:-${A}}"), "a");
        assert_eq!(s("${U:-${V:-${N}x}}"), "5x");
        assert_eq!(s("${U:-a}}"), "a}");
    }

    #[test]
    fn unset_is_reported_and_blank() {
        let mut u = Vec::new();
        assert_eq!(substitute("x${U}y$W", &env(), &mut u).unwrap(), "xy");
        assert_eq!(u, vec!["U".to_string(), "W".to_string()]);
        // A default that is not used is not evaluated.
        let mut u = Vec::new();
        substitute("${A:-${Z}}", &env(), &mut u).unwrap();
        assert!(u.is_empty());
    }

    #[test]
    fn required_errors() {
        let mut u = Vec::new();
        let e = substitute("${U:?set U please}", &env(), &mut u).unwrap_err();
        assert_eq!(
            e.to_string(),
            "required variable U is missing a value: set U please"
        );
        let e = substitute("${E:?}", &env(), &mut u).unwrap_err();
        assert_eq!(e.to_string(), "required variable E is missing a value");
        assert!(substitute("${U?m}", &env(), &mut u).is_err());
    }

    #[test]
    fn invalid_templates() {
        let mut u = Vec::new();
        for bad in ["${", "${A", "$1", "a $ b", "${1A}", "${A!x}", "${}"] {
            assert!(
                matches!(
                    substitute(bad, &env(), &mut u),
                    Err(InterpError::Invalid(_))
                ),
                "{bad}"
            );
        }
    }
}
