//! `.dockerignore`: docker's pattern rules. Patterns are cleaned paths relative
//! to the context root (a leading `/` is dropped); `*` and `?` do not cross `/`,
//! `**` matches any number of directories, `[...]` is a class, `\` escapes; a
//! pattern also excludes everything under a directory it matches; `!` makes an
//! exception; the last matching pattern decides.
//!
//! Hand-written: docker's semantics (parent-directory matching, `**`, the
//! exception order) are specific enough that a generic glob crate differs.

#[derive(Debug, Clone)]
struct Pattern {
    glob: Vec<char>,
    exclusion: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

impl Matcher {
    pub fn parse(text: &str) -> Matcher {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (exclusion, p) = match l.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, l),
            };
            let cleaned = clean(p);
            if cleaned.is_empty() {
                continue;
            }
            patterns.push(Pattern {
                glob: cleaned.chars().collect(),
                exclusion,
            });
        }
        Matcher { patterns }
    }

    /// Whether `rel` (a `/`-separated path relative to the context) is excluded.
    pub fn excluded(&self, rel: &str) -> bool {
        let rel = clean(rel);
        let comps: Vec<&str> = rel.split('/').collect();
        let text: Vec<char> = rel.chars().collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut m = glob(&p.glob, &text);
            // A matched directory excludes what is under it: try each parent.
            let mut k = 1;
            while !m && k < comps.len() {
                let parent: Vec<char> = comps[..k].join("/").chars().collect();
                m = glob(&p.glob, &parent);
                k += 1;
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Whether some exception pattern could re-include something under an
    /// excluded directory (then the walk must still descend into it).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }
}

/// Go's filepath.Clean for relative slash paths, a leading `/` removed.
pub fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

/// Glob match of a whole path.
pub fn glob(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') if p.get(1) == Some(&'*') => {
            let rest = &p[2..];
            if rest.first() == Some(&'/') && glob(&rest[1..], t) {
                return true;
            }
            (0..=t.len()).any(|k| glob(rest, &t[k..]))
        }
        Some('*') => {
            let mut k = 0;
            loop {
                if glob(&p[1..], &t[k..]) {
                    return true;
                }
                if k >= t.len() || t[k] == '/' {
                    return false;
                }
                k += 1;
            }
        }
        Some('?') => !t.is_empty() && t[0] != '/' && glob(&p[1..], &t[1..]),
        Some('[') => {
            let Some(&c) = t.first() else {
                return false;
            };
            let mut i = 1;
            let negate = matches!(p.get(1), Some('^') | Some('!'));
            if negate {
                i += 1;
            }
            let mut hit = false;
            let mut first = true;
            while i < p.len() && (p[i] != ']' || first) {
                first = false;
                let lo = if p[i] == '\\' && i + 1 < p.len() {
                    i += 1;
                    p[i]
                } else {
                    p[i]
                };
                if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&h| h != ']') {
                    let hi = p[i + 2];
                    if lo <= c && c <= hi {
                        hit = true;
                    }
                    i += 3;
                } else {
                    if lo == c {
                        hit = true;
                    }
                    i += 1;
                }
            }
            if i >= p.len() {
                // No closing bracket: a literal '['.
                return c == '[' && glob(&p[1..], &t[1..]);
            }
            hit != negate && c != '/' && glob(&p[i + 1..], &t[1..])
        }
        Some('\\') if p.len() > 1 => !t.is_empty() && t[0] == p[1] && glob(&p[2..], &t[1..]),
        Some(&c) => !t.is_empty() && t[0] == c && glob(&p[1..], &t[1..]),
    }
}

/// Whether a path pattern (COPY source) has wildcards.
pub fn has_wildcards(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(p: &str, t: &str) -> bool {
        glob(
            &p.chars().collect::<Vec<_>>(),
            &t.chars().collect::<Vec<_>>(),
        )
    }

    #[test]
    fn globs() {
        assert!(g("*.md", "a.md"));
        assert!(!g("*.md", "d/a.md"));
        assert!(g("**/*.md", "d/e/a.md"));
        assert!(g("**/*.md", "a.md"));
        assert!(g("d/**", "d/e/f"));
        assert!(g("a?c", "abc"));
        assert!(!g("a?c", "a/c"));
        assert!(g("[a-c]x", "bx"));
        assert!(!g("[^a-c]x", "bx"));
        assert!(g("\\*", "*"));
    }

    #[test]
    fn dockerignore_rules() {
        let m = Matcher::parse(
            "# comment\n/secret\n*.log\n!keep.log\nbuild/**\n**/tmp\ndocs\n!docs/README.md\n",
        );
        assert!(m.excluded("secret"));
        assert!(m.excluded("secret/inner/file"));
        assert!(m.excluded("a.log"));
        assert!(!m.excluded("keep.log"));
        assert!(!m.excluded("sub/a.log"));
        assert!(m.excluded("build/x/y"));
        assert!(m.excluded("a/b/tmp"));
        assert!(m.excluded("a/b/tmp/file"));
        assert!(m.excluded("docs/guide.md"));
        assert!(!m.excluded("docs/README.md"));
        assert!(!m.excluded("src/main.rs"));
        assert!(m.has_exceptions());
    }
}
