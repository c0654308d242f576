//! Image references, normalized the way docker does: `busybox` is
//! `docker.io/library/busybox:latest`.

use oci_spec::distribution::Reference;

#[derive(Debug, thiserror::Error)]
#[error("{value:?}: {source}")]
pub struct ReferenceError {
    pub value: String,
    #[source]
    pub source: oci_spec::distribution::ParseError,
}

/// The full form of a reference: registry, repository, and tag (default
/// `latest`) or digest.
pub fn normalize(s: &str) -> Result<String, ReferenceError> {
    if let Some(full) = fast_normalize(s) {
        return Ok(full);
    }
    parse(s).map(|r| r.whole())
}

/// The common forms (`name`, `ns/name:tag`, `host:port/name`, with a tag or
/// none), checked against the distribution grammar by hand. The library's
/// parser builds its regular expressions on first use, which costs tens of
/// milliseconds per command at our opt-level; everything this function does
/// not recognise (digests, upper case, odd forms) goes to that parser, which
/// gives the precise error.
pub fn fast_normalize(s: &str) -> Option<String> {
    if s.contains('@') || s.len() > 255 {
        return None;
    }
    let last_slash = s.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match s[last_slash..].find(':') {
        Some(i) => (&s[..last_slash + i], &s[last_slash + i + 1..]),
        None => (s, "latest"),
    };
    if !valid_tag(tag) {
        return None;
    }
    let mut parts = name.split('/');
    let first = parts.next()?;
    let has_domain = name.contains('/') && (first.contains(['.', ':']) || first == "localhost");
    let path_start = if has_domain {
        if !valid_domain(first) {
            return None;
        }
        first.len() + 1
    } else {
        0
    };
    let path = &name[path_start..];
    if path.is_empty() || !path.split('/').all(valid_path_component) {
        return None;
    }
    Some(match (has_domain, path.contains('/')) {
        (true, _) => format!("{name}:{tag}"),
        (false, true) => format!("docker.io/{path}:{tag}"),
        (false, false) => format!("docker.io/library/{path}:{tag}"),
    })
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let w = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let b = t.as_bytes();
    !b.is_empty() && b.len() <= 128 && w(b[0]) && b.iter().all(|&x| w(x) || x == b'.' || x == b'-')
}

/// A host name (dot-separated labels of `[A-Za-z0-9-]`, not starting or
/// ending with `-`) or an IPv4 address, with an optional port. IPv6
/// literals go to the full parser.
fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|x| x.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        })
}

/// A stored (normalized) name split by hand: (registry, repository, tag).
/// None for digest names and anything unusual (the caller falls back to
/// the full parser).
fn split_normalized(name: &str) -> Option<(&str, &str, &str)> {
    if name.contains('@') {
        return None;
    }
    let (registry, rest) = name.split_once('/')?;
    let (repo, tag) = rest.rsplit_once(':')?;
    if repo.contains(':') || tag.contains('/') {
        return None;
    }
    Some((registry, repo, tag))
}

fn familiar_repo(registry: &str, repo: &str) -> String {
    if registry == "docker.io" {
        repo.strip_prefix("library/")
            .filter(|rest| !rest.contains('/'))
            .unwrap_or(repo)
            .to_string()
    } else {
        format!("{registry}/{repo}")
    }
}

pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
    s.parse::<Reference>().map_err(|source| ReferenceError {
        value: s.to_string(),
        source,
    })
}

/// The repository as docker shows it (`busybox`, `me/app`, `host:5000/app`)
/// and the tag, if any, of a stored (normalized) name.
pub fn familiar_repository_and_tag(name: &str) -> Option<(String, Option<String>)> {
    if let Some((registry, repo, tag)) = split_normalized(name) {
        return Some((familiar_repo(registry, repo), Some(tag.to_string())));
    }
    let r = parse(name).ok()?;
    Some((familiar_repository(&r), r.tag().map(str::to_string)))
}

/// How docker shows a normalized name: repository without `docker.io/` and
/// `library/`, and the tag (`<none>` when the name has only a digest).
pub fn display_parts(name: &str) -> (String, String) {
    if super::super::store::images::is_dangling_name(name) {
        return ("<none>".into(), "<none>".into());
    }
    if let Some((registry, repo, tag)) = split_normalized(name) {
        return (familiar_repo(registry, repo), tag.to_string());
    }
    match parse(name) {
        Ok(r) => {
            let repo = familiar_repository(&r);
            let tag = r.tag().unwrap_or("<none>").to_string();
            (repo, tag)
        }
        Err(_) => (name.to_string(), "<none>".into()),
    }
}

/// `docker.io/library/busybox` -> `busybox`; `docker.io/me/x` -> `me/x`;
/// other registries keep their host.
pub fn familiar_repository(r: &Reference) -> String {
    if r.registry() == "docker.io" {
        r.repository()
            .strip_prefix("library/")
            .filter(|rest| !rest.contains('/'))
            .unwrap_or(r.repository())
            .to_string()
    } else {
        format!("{}/{}", r.registry(), r.repository())
    }
}

/// `repo:tag` as docker shows it (`busybox:latest`).
pub fn familiar(name: &str) -> String {
    if let Some((registry, repo, tag)) = split_normalized(name) {
        return format!("{}:{tag}", familiar_repo(registry, repo));
    }
    match parse(name) {
        Ok(r) => {
            let repo = familiar_repository(&r);
            match (r.tag(), r.digest()) {
                (Some(t), _) => format!("{repo}:{t}"),
                (None, Some(d)) => format!("{repo}@{d}"),
                (None, None) => repo,
            }
        }
        Err(_) => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(
            normalize("busybox").unwrap(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            normalize("busybox:1.36").unwrap(),
            "docker.io/library/busybox:1.36"
        );
        assert_eq!(normalize("me/app").unwrap(), "docker.io/me/app:latest");
        assert_eq!(
            normalize("127.0.0.1:5000/app:1").unwrap(),
            "127.0.0.1:5000/app:1"
        );
        assert_eq!(normalize("localhost/x").unwrap(), "localhost/x:latest");
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            normalize(&format!("busybox@{d}")).unwrap(),
            format!("docker.io/library/busybox@{d}")
        );
        let e = normalize("BusyBox").unwrap_err().to_string();
        assert!(e.contains("BusyBox"), "{e}");
        assert!(normalize("").is_err());
    }

    #[test]
    fn fast_path_agrees_with_the_parser() {
        let cases = [
            "busybox",
            "busybox:1.36",
            "me/app",
            "me/app:v1.2-rc_3",
            "a/b/c/d:x",
            "docker.io/library/busybox:latest",
            "docker.io/me/app",
            "127.0.0.1:5000/app:1",
            "127.0.0.1:5000/app",
            "localhost/x",
            "localhost:5000/a/b",
            "registry.example.com/team/app:2",
            "a__b/c.d/e--f:t",
            "my-registry:443/x",
        ];
        for c in cases {
            let fast = fast_normalize(c).unwrap_or_else(|| panic!("fast path refused {c}"));
            assert_eq!(fast, parse(c).unwrap().whole(), "{c}");
            let (repo, tag) = display_parts(&fast);
            let r = parse(&fast).unwrap();
            assert_eq!(
                (repo, tag.as_str()),
                (familiar_repository(&r), r.tag().unwrap())
            );
        }
        for bad in [
            "BusyBox",
            "",
            "a:",
            ":t",
            "a/",
            "/a",
            "a//b",
            "-a",
            "a-",
            "a...b",
            "a_.b",
            "a:b:c",
            "a:-t",
            "host:port/x",
            "a@sha256:00",
            "[::1]:5000/x",
        ] {
            assert!(fast_normalize(bad).is_none(), "fast path accepted {bad:?}");
        }
    }

    #[test]
    fn familiar_forms() {
        assert_eq!(
            familiar("docker.io/library/busybox:latest"),
            "busybox:latest"
        );
        assert_eq!(familiar("docker.io/me/app:1"), "me/app:1");
        assert_eq!(familiar("127.0.0.1:5000/app:1"), "127.0.0.1:5000/app:1");
        assert_eq!(
            display_parts("docker.io/library/busybox:latest"),
            ("busybox".into(), "latest".into())
        );
    }
}
