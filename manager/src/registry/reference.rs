//! A registry reference split into what the distribution API needs: the registry
//! host, the repository path, and the tag or digest of the manifest.

use super::RegistryError;
use crate::store::Digest;
use oci_spec::distribution::Reference;

/// Docker Hub's API endpoint; the name `docker.io` is only the user-facing alias.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRef {
    /// As in the normalized name: `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// `library/busybox`, `app`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl RepoRef {
    /// Normalize (`busybox` -> `docker.io/library/busybox:latest`) and split.
    pub fn parse(input: &str) -> Result<RepoRef, RegistryError> {
        let normalized = crate::image::reference::normalize(input)
            .map_err(|e| RegistryError::Reference(format!("{input}: {e}")))?;
        Self::parse_normalized(&normalized)
    }

    /// Split an already normalized reference.
    pub fn parse_normalized(normalized: &str) -> Result<RepoRef, RegistryError> {
        let r: Reference = normalized
            .parse()
            .map_err(|e| RegistryError::Reference(format!("{normalized}: {e}")))?;
        let digest = match r.digest() {
            Some(d) => Some(
                d.parse::<Digest>()
                    .map_err(|e| RegistryError::Reference(format!("{normalized}: {e}")))?,
            ),
            None => None,
        };
        let tag = r.tag().map(str::to_string);
        Ok(RepoRef {
            registry: r.registry().to_string(),
            repository: r.repository().to_string(),
            tag: if tag.is_none() && digest.is_none() {
                Some("latest".to_string())
            } else {
                tag
            },
            digest,
        })
    }

    /// What goes after `/manifests/`: the digest when there is one, else the tag.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// `registry/repository`.
    pub fn repo_name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The full normalized name, as image records are keyed.
    pub fn name(&self) -> String {
        let mut s = self.repo_name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }

    /// The name as docker prints it: `busybox:latest`, `user/app:1`, `127.0.0.1:5000/app:1`.
    pub fn familiar(&self) -> String {
        familiar(&self.name())
    }

    /// The repository as docker prints it in "Pulling from ...": `library/busybox`.
    pub fn familiar_repo(&self) -> String {
        if self.registry == "docker.io" {
            self.repository.clone()
        } else {
            self.repo_name()
        }
    }
}

/// The API endpoint of a registry name.
pub fn api_host(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" => DOCKER_HUB_API,
        r => r,
    }
}

/// Strip docker.io's implicit parts from a normalized name.
pub fn familiar(name: &str) -> String {
    let s = name
        .strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name);
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_normalized() {
        let r = RepoRef::parse_normalized("127.0.0.1:5000/team/app:1").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.manifest_ref(), "1");
        assert_eq!(r.familiar(), "127.0.0.1:5000/team/app:1");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = RepoRef::parse_normalized(&format!("docker.io/library/busybox@{d}")).unwrap();
        assert_eq!(api_host(&r.registry), "registry-1.docker.io");
        assert_eq!(r.manifest_ref(), d);
        assert_eq!(r.familiar(), format!("busybox@{d}"));
        assert_eq!(r.familiar_repo(), "library/busybox");
    }
}
