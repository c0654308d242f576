//! The manifest documents of the distribution API, read leniently: OCI and docker
//! schema-2 differ only in media type names, and unknown fields are ignored.
//! oci-spec's types would reject docker's media types in some places and do not keep
//! unknown descriptor fields, so the few fields needed are declared here.

use super::RegistryError;
use serde::Deserialize;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The `Accept` header of manifest requests, best first.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Layer media types that the snapshotter can unpack.
const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match self.variant.as_deref() {
            Some(v) if !v.is_empty() => write!(f, "/{v}"),
            _ => Ok(()),
        }
    }
}

impl Platform {
    /// `os/arch[/variant]`, with the usual aliases (`x86_64`, `aarch64`).
    pub fn parse(s: &str) -> Result<Platform, RegistryError> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad =
            || RegistryError::Platform(format!("invalid platform {s:?}: want os/arch[/variant]"));
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: normalize_arch(&parts[1].to_ascii_lowercase()).to_string(),
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }

    /// The platform of this host, as image indexes name it.
    pub fn host() -> Platform {
        let arch = normalize_arch(std::env::consts::ARCH).to_string();
        let variant = match arch.as_str() {
            "arm" => Some("v7".to_string()),
            _ => None,
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture: arch,
            variant,
        }
    }

    /// Does an index entry's platform satisfy this wanted one? A wanted platform
    /// without a variant takes any variant; arm64's `v8` is its default variant.
    pub fn matches(&self, entry: &Platform) -> bool {
        if self.os != entry.os || self.architecture != normalize_arch(&entry.architecture) {
            return false;
        }
        let norm = |v: Option<&str>| -> Option<String> {
            match v {
                None | Some("") => None,
                Some("v8") if self.architecture == "arm64" => None,
                Some(v) => Some(v.to_string()),
            }
        };
        match norm(self.variant.as_deref()) {
            None => true,
            want => want == norm(entry.variant.as_deref()),
        }
    }
}

fn normalize_arch(a: &str) -> &str {
    match a {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" | "i686" => "386",
        "armhf" | "armel" => "arm",
        a => a,
    }
}

/// An image index or docker manifest list.
#[derive(Debug, Deserialize)]
pub struct Index {
    pub manifests: Vec<Descriptor>,
}

/// A single-platform image manifest (OCI or docker schema 2).
#[derive(Debug, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: u32,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// What a fetched manifest document is.
pub enum Kind {
    Index,
    Manifest,
}

/// Classify a manifest by the Content-Type the registry sent, else by its own
/// `mediaType` field, else by shape (OCI allows the field to be absent).
pub fn classify(content_type: &str, body: &[u8]) -> Result<(Kind, String), RegistryError> {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let declared = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            if v.get("manifests").is_some() && v.get("mediaType").is_none() {
                return Some(OCI_INDEX.to_string());
            }
            if v.get("layers").is_some() && v.get("mediaType").is_none() {
                return Some(OCI_MANIFEST.to_string());
            }
            v.get("mediaType")?.as_str().map(str::to_string)
        });
    let media_type = match ct {
        OCI_INDEX
        | OCI_MANIFEST
        | DOCKER_LIST
        | DOCKER_MANIFEST
        | DOCKER_SCHEMA1
        | DOCKER_SCHEMA1_SIGNED => ct.to_string(),
        _ => declared.unwrap_or_else(|| ct.to_string()),
    };
    match media_type.as_str() {
        OCI_INDEX | DOCKER_LIST => Ok((Kind::Index, media_type)),
        OCI_MANIFEST | DOCKER_MANIFEST => Ok((Kind::Manifest, media_type)),
        DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED => Err(RegistryError::Unsupported(
            "docker image manifest schema 1 is deprecated and not supported; \
             push the image again with a current tool"
                .to_string(),
        )),
        other => Err(RegistryError::Unsupported(format!(
            "manifest media type {other:?}"
        ))),
    }
}

pub fn check_layer_type(d: &Descriptor) -> Result<(), RegistryError> {
    if LAYER_TYPES.contains(&d.media_type.as_str()) {
        Ok(())
    } else {
        Err(RegistryError::Unsupported(format!(
            "layer {} has media type {:?}",
            d.digest, d.media_type
        )))
    }
}

/// Pick the manifest for `want` from an index, or say which platforms it has.
pub fn select<'a>(index: &'a Index, want: &Platform) -> Result<&'a Descriptor, RegistryError> {
    index
        .manifests
        .iter()
        .filter(|d| matches!(d.media_type.as_str(), OCI_MANIFEST | DOCKER_MANIFEST | ""))
        .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
        .ok_or_else(|| {
            let have: Vec<String> = index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                .collect();
            RegistryError::Platform(format!(
                "no matching manifest for {want} in the manifest list entries (available: {})",
                if have.is_empty() {
                    "none".to_string()
                } else {
                    have.join(", ")
                }
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(Into::into),
        }
    }

    #[test]
    fn platform_matching() {
        let want = Platform::parse("linux/arm64").unwrap();
        assert!(want.matches(&entry("linux", "arm64", Some("v8"))));
        assert!(want.matches(&entry("linux", "arm64", None)));
        assert!(!want.matches(&entry("linux", "amd64", None)));
        let want = Platform::parse("linux/arm/v7").unwrap();
        assert!(want.matches(&entry("linux", "arm", Some("v7"))));
        assert!(!want.matches(&entry("linux", "arm", Some("v6"))));
        assert_eq!(
            Platform::parse("linux/x86_64").unwrap().architecture,
            "amd64"
        );
        assert!(Platform::parse("linux").is_err());
        assert_eq!(Platform::host().to_string(), "linux/amd64");
    }

    #[test]
    fn select_from_index() {
        let idx: Index = serde_json::from_str(
            r#"{"manifests":[
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:a","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:b","size":1,"platform":{"os":"linux","architecture":"amd64"}}]}"#,
        )
        .unwrap();
        assert_eq!(
            select(&idx, &Platform::parse("linux/amd64").unwrap())
                .unwrap()
                .digest,
            "sha256:b"
        );
        assert_eq!(
            select(&idx, &Platform::parse("linux/arm64").unwrap())
                .unwrap()
                .digest,
            "sha256:a"
        );
        let e = select(&idx, &Platform::parse("linux/s390x").unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux/arm64/v8, linux/amd64"), "{e}");
    }

    #[test]
    fn classify_by_header_and_body() {
        assert!(matches!(
            classify(DOCKER_LIST, b"{}").unwrap().0,
            Kind::Index
        ));
        assert!(matches!(
            classify("application/json", br#"{"schemaVersion":2,"layers":[]}"#)
                .unwrap()
                .0,
            Kind::Manifest
        ));
        assert!(classify(DOCKER_SCHEMA1_SIGNED, b"{}").is_err());
    }
}
