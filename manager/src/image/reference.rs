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
    parse(s).map(|r| r.whole())
}

pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
    s.parse::<Reference>().map_err(|source| ReferenceError {
        value: s.to_string(),
        source,
    })
}

/// How docker shows a normalized name: repository without `docker.io/` and
/// `library/`, and the tag (`<none>` when the name has only a digest).
pub fn display_parts(name: &str) -> (String, String) {
    if super::super::store::images::is_dangling_name(name) {
        return ("<none>".into(), "<none>".into());
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
