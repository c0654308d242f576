//! The Dockerfile parser: parser directives (`# syntax`, `# escape`), comments,
//! line continuations, instruction flags, heredocs, with the line and column of
//! every instruction so errors can point at them. Arguments are kept as text:
//! each instruction interprets its own (exec form, key=value pairs, words) with
//! the helpers here and the variable expansion in `expand`.
//!
//! Written by hand: no maintained Rust crate parses Dockerfiles with BuildKit's
//! heredocs and escape directive.

pub mod expand;

use std::fmt;

/// Where in the Dockerfile (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.col)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("Dockerfile {pos}: {msg}")]
pub struct ParseError {
    pub pos: Pos,
    pub msg: String,
}

pub fn err(pos: Pos, msg: impl Into<String>) -> ParseError {
    ParseError {
        pos,
        msg: msg.into(),
    }
}

/// A heredoc body (`<<EOF ... EOF`).
#[derive(Debug, Clone, PartialEq)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    /// Unquoted delimiter: variables in the body are expanded.
    pub expand: bool,
}

/// One instruction as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    pub pos: Pos,
    /// Upper-case keyword (`RUN`, `COPY`, ...).
    pub keyword: String,
    /// `--name=value` (value None for a bare `--name`), in order.
    pub flags: Vec<(String, Option<String>)>,
    /// Everything after the keyword and flags, continuations joined, trimmed.
    pub args: String,
    pub heredocs: Vec<Heredoc>,
}

impl Instruction {
    /// The instruction as one line (for history and messages).
    pub fn text(&self) -> String {
        let mut s = self.keyword.clone();
        for (k, v) in &self.flags {
            s.push_str(" --");
            s.push_str(k);
            if let Some(v) = v {
                s.push('=');
                s.push_str(v);
            }
        }
        if !self.args.is_empty() {
            s.push(' ');
            s.push_str(&self.args);
        }
        s
    }

    /// The values of flag `name` (a flag may repeat, e.g. `--mount`).
    pub fn flag_values(&self, name: &str) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
            .collect()
    }

    /// The other stages or images this instruction reads from, as written:
    /// COPY/ADD `--from`, RUN `--mount=...,from=`.
    pub fn source_refs(&self) -> Vec<String> {
        let mut refs: Vec<String> = Vec::new();
        if matches!(self.keyword.as_str(), "COPY" | "ADD") {
            refs.extend(self.flag_values("from").iter().map(|v| v.to_string()));
        }
        if self.keyword == "RUN" {
            for m in self.flag_values("mount") {
                for kv in m.split(',') {
                    if let Some(v) = kv.trim().strip_prefix("from=") {
                        refs.push(v.to_string());
                    }
                }
            }
        }
        refs
    }

    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flag_values(name).last().copied()
    }

    pub fn has_flag(&self, name: &str) -> bool {
        self.flags.iter().any(|(k, _)| k == name)
    }

    /// Refuse flags this instruction does not take.
    pub fn check_flags(&self, allowed: &[&str]) -> Result<(), ParseError> {
        for (k, _) in &self.flags {
            if !allowed.contains(&k.as_str()) {
                return Err(err(
                    self.pos,
                    format!("unknown flag: --{k} for {}", self.keyword),
                ));
            }
        }
        Ok(())
    }

    /// The JSON exec form (`["a", "b"]`), when the arguments are one.
    pub fn exec_form(&self) -> Option<Vec<String>> {
        exec_form(&self.args)
    }
}

/// `["a", "b"]` as a list of strings; None when not a JSON string array.
pub fn exec_form(s: &str) -> Option<Vec<String>> {
    let t = s.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    pub escape: char,
    pub syntax: Option<String>,
    pub instructions: Vec<Instruction>,
}

pub const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Instructions whose arguments may carry heredocs.
const HEREDOC_KEYWORDS: &[&str] = &["RUN", "COPY", "ADD"];

/// A `# key=value` directive line.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim().strip_prefix('#')?;
    let (k, v) = rest.split_once('=')?;
    let k = k.trim().to_ascii_lowercase();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((k, v.trim().to_string()))
}

pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut escape = '\\';
    let mut syntax = None;
    let mut i = 0;
    // Directives: only at the very top, each at most once.
    let mut seen = Vec::new();
    while i < lines.len() {
        let Some((k, v)) = directive(lines[i]) else {
            break;
        };
        let pos = Pos {
            line: i + 1,
            col: 1,
        };
        match k.as_str() {
            "escape" | "syntax" | "check" => {
                if seen.contains(&k) {
                    return Err(err(
                        pos,
                        format!("only one {k} parser directive can be used"),
                    ));
                }
                seen.push(k.clone());
            }
            _ => break,
        }
        match k.as_str() {
            "escape" => {
                escape = match v.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(err(
                            pos,
                            format!("invalid escape token {v:?}: must be ` or \\"),
                        ))
                    }
                }
            }
            "syntax" => syntax = Some(v),
            _ => {}
        }
        i += 1;
    }
    let mut out = Vec::new();
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            i += 1;
            continue;
        }
        let start = Pos {
            line: i + 1,
            col: line.len() - t.len() + 1,
        };
        // Join continuation lines; comment and blank lines inside are dropped.
        let mut logical = String::new();
        let mut first = true;
        loop {
            if i >= lines.len() {
                break;
            }
            let l = lines[i];
            i += 1;
            if !first {
                let lt = l.trim_start();
                if lt.starts_with('#') || lt.is_empty() {
                    continue;
                }
            }
            first = false;
            let te = l.trim_end();
            if let Some(body) = te.strip_suffix(escape) {
                if !ends_escaped(body, escape) {
                    logical.push_str(body);
                    continue;
                }
            }
            logical.push_str(l);
            break;
        }
        let logical = logical.trim();
        let (word, rest) = match logical.find(char::is_whitespace) {
            Some(p) => (&logical[..p], logical[p..].trim_start()),
            None => (logical, ""),
        };
        let keyword = word.to_ascii_uppercase();
        if !KEYWORDS.contains(&keyword.as_str()) {
            return Err(err(start, format!("unknown instruction: {word}")));
        }
        let (flags, args) = split_flags(rest);
        let mut heredocs = Vec::new();
        if HEREDOC_KEYWORDS.contains(&keyword.as_str()) && exec_form(&args).is_none() {
            for (name, strip_tabs, expand) in heredoc_markers(&args) {
                let mut content = String::new();
                let mut closed = false;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    let l = if strip_tabs {
                        l.trim_start_matches('\t')
                    } else {
                        l
                    };
                    if l == name {
                        closed = true;
                        break;
                    }
                    content.push_str(l);
                    content.push('\n');
                }
                if !closed {
                    return Err(err(start, format!("unterminated heredoc <<{name}")));
                }
                heredocs.push(Heredoc {
                    name,
                    content,
                    expand,
                });
            }
        }
        out.push(Instruction {
            pos: start,
            keyword,
            flags,
            args,
            heredocs,
        });
    }
    Ok(Dockerfile {
        escape,
        syntax,
        instructions: out,
    })
}

/// Whether `body` ends with an odd run of escape characters (then the final
/// escape of the line is itself escaped, not a continuation).
fn ends_escaped(body: &str, escape: char) -> bool {
    body.chars().rev().take_while(|&c| c == escape).count() % 2 == 1
}

/// Leading `--flag[=value]` words.
fn split_flags(rest: &str) -> (Vec<(String, Option<String>)>, String) {
    let mut flags = Vec::new();
    let mut r = rest;
    while let Some(f) = r.strip_prefix("--") {
        let end = f.find(char::is_whitespace).unwrap_or(f.len());
        let word = &f[..end];
        if word.is_empty() {
            break;
        }
        match word.split_once('=') {
            Some((k, v)) => flags.push((k.to_ascii_lowercase(), Some(unquote(v)))),
            None => flags.push((word.to_ascii_lowercase(), None)),
        }
        r = f[end..].trim_start();
    }
    (flags, r.trim().to_string())
}

fn unquote(v: &str) -> String {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_string();
        }
    }
    v.to_string()
}

/// The heredoc markers of an instruction's arguments: (name, `<<-`, expand).
pub fn heredoc_markers(args: &str) -> Vec<(String, bool, bool)> {
    let b = args.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i + 1 < b.len() {
        let c = b[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'<' && b[i + 1] == b'<' && b.get(i + 2) != Some(&b'<') => {
                let mut j = i + 2;
                let strip = b.get(j) == Some(&b'-');
                if strip {
                    j += 1;
                }
                let q = match b.get(j) {
                    Some(&c) if c == b'"' || c == b'\'' => {
                        j += 1;
                        Some(c)
                    }
                    _ => None,
                };
                let s = j;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                if j > s && (q.is_none() || b.get(j) == q.as_ref()) {
                    out.push((args[s..j].to_string(), strip, q.is_none()));
                    i = if q.is_some() { j + 1 } else { j };
                    continue;
                }
            }
            None => {}
        }
        i += 1;
    }
    out
}

/// Split on unquoted whitespace, keeping quotes and escapes as written (each
/// word is expanded later), as BuildKit does for ENV/LABEL/ARG and file lists.
pub fn split_words(s: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == escape && quote != Some('\'') {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
            continue;
        }
        match quote {
            Some(q) if c == q => {
                quote = None;
                cur.push(c);
            }
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                cur.push(c);
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            None => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_flags_continuations() {
        let df = parse(
            "# syntax=docker/dockerfile:1\n\nFROM busybox AS base\n# comment\nRUN echo a \\\n  # inner comment\n  && echo b\nCOPY --from=base --chown=1:2 a b /c/\n  cmd [\"sh\"]\n",
        )
        .unwrap();
        assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1"));
        let i = &df.instructions;
        assert_eq!(i.len(), 4);
        assert_eq!(i[0].keyword, "FROM");
        assert_eq!(i[0].args, "busybox AS base");
        assert_eq!(i[0].pos, Pos { line: 3, col: 1 });
        assert_eq!(i[1].args, "echo a   && echo b");
        assert_eq!(i[2].flag("from"), Some("base"));
        assert_eq!(i[2].flag("chown"), Some("1:2"));
        assert_eq!(i[2].args, "a b /c/");
        assert_eq!(i[3].keyword, "CMD");
        assert_eq!(i[3].pos, Pos { line: 9, col: 3 });
        assert_eq!(i[3].exec_form(), Some(vec!["sh".to_string()]));
    }

    #[test]
    fn escape_directive() {
        let df = parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\n").unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(df.instructions[1].args, "dir c:\\   && echo");
        assert!(parse("# escape=x\nFROM a").is_err());
    }

    #[test]
    fn directives_only_at_the_top() {
        let df = parse("FROM x\n# escape=`\nRUN a \\\n b").unwrap();
        assert_eq!(df.escape, '\\');
        assert_eq!(df.instructions[1].args, "a  b");
    }

    #[test]
    fn unknown_instruction_names_itself_and_where() {
        let e = parse("FROM x\n\n  FOO bar\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 3, col: 3 });
        assert!(e.msg.contains("unknown instruction: FOO"), "{e}");
    }

    #[test]
    fn heredocs() {
        let df = parse(
            "FROM x\nRUN <<EOF\necho hi\necho there\nEOF\nCOPY <<-\"A\" <<B /dst/\n\tliteral $X\n\tA\nb $Y\nB\nRUN echo done\n",
        )
        .unwrap();
        let i = &df.instructions;
        assert_eq!(i.len(), 4);
        assert_eq!(i[1].heredocs[0].name, "EOF");
        assert_eq!(i[1].heredocs[0].content, "echo hi\necho there\n");
        assert_eq!(i[2].heredocs.len(), 2);
        assert_eq!(i[2].heredocs[0].content, "literal $X\n");
        assert!(!i[2].heredocs[0].expand);
        assert_eq!(i[2].heredocs[1].content, "b $Y\n");
        assert!(i[2].heredocs[1].expand);
        assert_eq!(i[3].args, "echo done");
        let e = parse("FROM x\nRUN <<EOF\necho\n").unwrap_err();
        assert!(e.msg.contains("unterminated heredoc"), "{e}");
    }

    #[test]
    fn words_keep_quotes() {
        assert_eq!(
            split_words(r#"A="a b" B=c\ d 'e f'"#, '\\'),
            vec![r#"A="a b""#, r"B=c\ d", "'e f'"]
        );
    }
}
