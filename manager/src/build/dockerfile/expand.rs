//! Variable substitution and word processing as BuildKit's shell lexer does it:
//! `$V`, `${V}`, `${V:-d}`, `${V-d}`, `${V:+a}`, `${V+a}`, `${V:?msg}`, single
//! quotes literal, double quotes expanding, the escape character escaping.

use std::collections::HashMap;

/// The variables an instruction sees (ENV of the stage, then ARGs in scope).
pub type Vars = HashMap<String, String>;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ExpandError {
    #[error("unterminated quote in {0:?}")]
    Quote(String),
    #[error("unterminated ${{ in {0:?}")]
    Brace(String),
    #[error("{name}: {msg}")]
    Required { name: String, msg: String },
    #[error("bad substitution in {0:?}")]
    Bad(String),
}

pub struct Lexer {
    pub escape: char,
}

impl Lexer {
    pub fn new(escape: char) -> Lexer {
        Lexer { escape }
    }

    /// One word: quotes removed, variables expanded, no splitting.
    pub fn word(&self, s: &str, vars: &Vars) -> Result<String, ExpandError> {
        Ok(self.process(s, vars, false)?.join(""))
    }

    /// Words split at unquoted whitespace, each processed.
    pub fn words(&self, s: &str, vars: &Vars) -> Result<Vec<String>, ExpandError> {
        self.process(s, vars, true)
    }

    /// Expand variables only (quotes and escapes kept), for heredoc bodies.
    pub fn vars_only(&self, s: &str, vars: &Vars) -> Result<String, ExpandError> {
        let chars: Vec<char> = s.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '$' {
                i += 1;
                out.push_str(&self.dollar(&chars, &mut i, vars, s)?);
            } else {
                out.push(chars[i]);
                i += 1;
            }
        }
        Ok(out)
    }

    fn process(&self, s: &str, vars: &Vars, split: bool) -> Result<Vec<String>, ExpandError> {
        let chars: Vec<char> = s.chars().collect();
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut have = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            if c == self.escape {
                match chars.get(i) {
                    Some(&n) => {
                        cur.push(n);
                        i += 1;
                    }
                    None => cur.push(c),
                }
                have = true;
                continue;
            }
            match c {
                '\'' => {
                    have = true;
                    loop {
                        match chars.get(i) {
                            None => return Err(ExpandError::Quote(s.into())),
                            Some('\'') => {
                                i += 1;
                                break;
                            }
                            Some(&x) => {
                                cur.push(x);
                                i += 1;
                            }
                        }
                    }
                }
                '"' => {
                    have = true;
                    loop {
                        match chars.get(i) {
                            None => return Err(ExpandError::Quote(s.into())),
                            Some('"') => {
                                i += 1;
                                break;
                            }
                            Some(&x) if x == self.escape => {
                                i += 1;
                                match chars.get(i) {
                                    Some(&n) if n == '"' || n == '$' || n == self.escape => {
                                        cur.push(n);
                                        i += 1;
                                    }
                                    _ => cur.push(x),
                                }
                            }
                            Some('$') => {
                                i += 1;
                                cur.push_str(&self.dollar(&chars, &mut i, vars, s)?);
                            }
                            Some(&x) => {
                                cur.push(x);
                                i += 1;
                            }
                        }
                    }
                }
                '$' => {
                    let v = self.dollar(&chars, &mut i, vars, s)?;
                    if split {
                        // An unquoted expansion is split like the shell does.
                        let mut parts = v.split(char::is_whitespace).peekable();
                        let mut first = true;
                        while let Some(p) = parts.next() {
                            if !first {
                                if have || !cur.is_empty() {
                                    words.push(std::mem::take(&mut cur));
                                }
                                have = false;
                            }
                            first = false;
                            cur.push_str(p);
                            if !p.is_empty() {
                                have = true;
                            }
                            let _ = parts.peek();
                        }
                    } else {
                        cur.push_str(&v);
                        have = true;
                    }
                }
                c if split && c.is_whitespace() => {
                    if have || !cur.is_empty() {
                        words.push(std::mem::take(&mut cur));
                    }
                    have = false;
                }
                c => {
                    cur.push(c);
                    have = true;
                }
            }
        }
        if have || !cur.is_empty() || !split {
            words.push(cur);
        }
        Ok(words)
    }

    /// After a `$` at `chars[*i - 1]`: the expansion.
    fn dollar(
        &self,
        chars: &[char],
        i: &mut usize,
        vars: &Vars,
        whole: &str,
    ) -> Result<String, ExpandError> {
        let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
        match chars.get(*i) {
            Some('{') => {
                *i += 1;
                let start = *i;
                while chars.get(*i).is_some_and(|&c| is_name(c)) {
                    *i += 1;
                }
                let name: String = chars[start..*i].iter().collect();
                if name.is_empty() {
                    return Err(ExpandError::Bad(whole.into()));
                }
                let val = vars.get(&name);
                match chars.get(*i) {
                    Some('}') => {
                        *i += 1;
                        Ok(val.cloned().unwrap_or_default())
                    }
                    Some(&c) if matches!(c, ':' | '-' | '+' | '?') => {
                        let colon = c == ':';
                        if colon {
                            *i += 1;
                        }
                        let op = *chars.get(*i).ok_or(ExpandError::Brace(whole.into()))?;
                        if !matches!(op, '-' | '+' | '?') {
                            return Err(ExpandError::Bad(whole.into()));
                        }
                        *i += 1;
                        // The word runs to the matching brace.
                        let ws = *i;
                        let mut depth = 0;
                        loop {
                            match chars.get(*i) {
                                None => return Err(ExpandError::Brace(whole.into())),
                                Some('}') if depth == 0 => break,
                                Some('}') => depth -= 1,
                                Some('{') => depth += 1,
                                _ => {}
                            }
                            *i += 1;
                        }
                        let word: String = chars[ws..*i].iter().collect();
                        *i += 1;
                        let set = match val {
                            Some(v) => !colon || !v.is_empty(),
                            None => false,
                        };
                        match op {
                            '-' if set => Ok(val.cloned().unwrap_or_default()),
                            '-' => self.word(&word, vars),
                            '+' if set => self.word(&word, vars),
                            '+' => Ok(String::new()),
                            _ if set => Ok(val.cloned().unwrap_or_default()),
                            _ => Err(ExpandError::Required {
                                name,
                                msg: if word.is_empty() {
                                    "parameter not set".into()
                                } else {
                                    self.word(&word, vars)?
                                },
                            }),
                        }
                    }
                    None => Err(ExpandError::Brace(whole.into())),
                    Some(_) => Err(ExpandError::Bad(whole.into())),
                }
            }
            Some(&c) if is_name(c) => {
                let start = *i;
                while chars.get(*i).is_some_and(|&c| is_name(c)) {
                    *i += 1;
                }
                let name: String = chars[start..*i].iter().collect();
                Ok(vars.get(&name).cloned().unwrap_or_default())
            }
            _ => Ok("$".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [("A", "1"), ("E", ""), ("S", "x y")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitutions() {
        let l = Lexer::new('\\');
        let v = vars();
        assert_eq!(l.word("$A", &v).unwrap(), "1");
        assert_eq!(l.word("${A}b", &v).unwrap(), "1b");
        assert_eq!(l.word("${N:-d}", &v).unwrap(), "d");
        assert_eq!(l.word("${E:-d}", &v).unwrap(), "d");
        assert_eq!(l.word("${E-d}", &v).unwrap(), "");
        assert_eq!(l.word("${A:+yes}", &v).unwrap(), "yes");
        assert_eq!(l.word("${E:+yes}", &v).unwrap(), "");
        assert_eq!(l.word("${E+yes}", &v).unwrap(), "yes");
        assert_eq!(l.word("${N:-${A}x}", &v).unwrap(), "1x");
        assert_eq!(l.word("'$A'", &v).unwrap(), "$A");
        assert_eq!(l.word("\"$A\"", &v).unwrap(), "1");
        assert_eq!(l.word("\\$A", &v).unwrap(), "$A");
        assert_eq!(l.word("a$", &v).unwrap(), "a$");
        assert!(matches!(
            l.word("${N:?need it}", &v),
            Err(ExpandError::Required { .. })
        ));
        assert!(l.word("${A", &v).is_err());
        assert!(l.word("'open", &v).is_err());
    }

    #[test]
    fn word_splitting() {
        let l = Lexer::new('\\');
        let v = vars();
        assert_eq!(
            l.words("a \"b c\" $S", &v).unwrap(),
            vec!["a", "b c", "x", "y"]
        );
        assert_eq!(l.words("\"$S\"", &v).unwrap(), vec!["x y"]);
        assert_eq!(l.words("a\\ b", &v).unwrap(), vec!["a b"]);
        let bt = Lexer::new('`');
        assert_eq!(bt.word("c:\\dir`$A", &v).unwrap(), "c:\\dir$A");
    }
}
