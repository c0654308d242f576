//! Registry credentials and authentication challenges.
//!
//! Credentials are kept in docker's `config.json` format (`{"auths": {"host:port":
//! {"auth": base64("user:pass")}}}`). berth writes its own file, `<root>/auth.json`
//! (mode 0600), so that `berth login` never rewrites docker's file; it reads its own
//! first, then docker's (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`),
//! so a `docker login` is honoured too. Credential helpers (`credsStore`,
//! `credHelpers`) are not run.

use super::RegistryError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// docker's key for Docker Hub in config.json.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <password>)", self.username)
    }
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            B64.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// The key credentials are stored under, from what `login`/`logout` are given:
/// `https://host:5000/` -> `host:5000`; none -> `docker.io`.
pub fn registry_name(arg: Option<&str>) -> String {
    let r = arg
        .unwrap_or("docker.io")
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let r = r
        .strip_suffix("/v1")
        .or_else(|| r.strip_suffix("/v2"))
        .unwrap_or(r);
    match r {
        "index.docker.io" | "registry-1.docker.io" | "" => "docker.io".to_string(),
        r => r.to_string(),
    }
}

/// berth's own credentials file.
pub fn berth_auth_file(root: &Path) -> PathBuf {
    root.join("auth.json")
}

/// docker's client config file.
pub fn docker_config_file() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// The key a registry is stored under (docker's, so the files are interchangeable).
pub fn config_key(registry: &str) -> String {
    let r = registry
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let r = r
        .strip_suffix("/v1")
        .or_else(|| r.strip_suffix("/v2"))
        .unwrap_or(r);
    match r {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        r => r.to_string(),
    }
}

/// Every spelling of a registry that docker's tools may have written.
fn lookup_keys(registry: &str) -> Vec<String> {
    let key = config_key(registry);
    if key == DOCKER_HUB_KEY {
        return [
            DOCKER_HUB_KEY,
            "index.docker.io",
            "docker.io",
            "registry-1.docker.io",
        ]
        .map(String::from)
        .to_vec();
    }
    vec![
        key.clone(),
        format!("https://{key}"),
        format!("http://{key}"),
        format!("https://{key}/v1/"),
        format!("https://{key}/v2/"),
    ]
}

fn read_config(path: &Path) -> Result<Option<Value>, RegistryError> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            RegistryError::Credentials(format!("{}: invalid JSON: {e}", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RegistryError::Credentials(format!(
            "reading {}: {e}",
            path.display()
        ))),
    }
}

fn decode_entry(entry: &Value) -> Option<Credentials> {
    if let Some(auth) = entry
        .get("auth")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    {
        let raw = B64.decode(auth.trim()).ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        return Some(Credentials {
            username: u.to_string(),
            password: p.to_string(),
        });
    }
    // docker also accepts the two fields spelled out.
    let u = entry.get("username")?.as_str()?;
    let p = entry.get("password")?.as_str()?;
    Some(Credentials {
        username: u.to_string(),
        password: p.to_string(),
    })
}

fn find_in(cfg: &Value, registry: &str) -> Option<Credentials> {
    let auths = cfg.get("auths")?.as_object()?;
    lookup_keys(registry)
        .iter()
        .find_map(|k| auths.get(k).and_then(decode_entry))
}

/// The stored credentials for a registry: berth's file first, then docker's.
pub fn lookup(root: &Path, registry: &str) -> Result<Option<Credentials>, RegistryError> {
    let mut files = vec![berth_auth_file(root)];
    files.extend(docker_config_file());
    for f in files {
        if let Some(cfg) = read_config(&f)? {
            if let Some(c) = find_in(&cfg, registry) {
                return Ok(Some(c));
            }
        }
    }
    Ok(None)
}

fn write_config(path: &Path, cfg: &Value) -> Result<(), RegistryError> {
    let err =
        |e: std::io::Error| RegistryError::Credentials(format!("writing {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    let mut text = serde_json::to_vec_pretty(cfg).expect("serializing a JSON value");
    text.push(b'\n');
    f.write_all(&text).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Store credentials for a registry in berth's file.
pub fn store(root: &Path, registry: &str, creds: &Credentials) -> Result<(), RegistryError> {
    let path = berth_auth_file(root);
    let mut cfg = read_config(&path)?.unwrap_or_else(|| json!({}));
    if !cfg.is_object() {
        cfg = json!({});
    }
    let obj = cfg.as_object_mut().expect("an object");
    let auths = obj
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    let auths = auths.as_object_mut().expect("an object");
    for k in lookup_keys(registry) {
        auths.remove(&k);
    }
    auths.insert(
        config_key(registry),
        json!({ "auth": B64.encode(format!("{}:{}", creds.username, creds.password)) }),
    );
    write_config(&path, &cfg)
}

/// Remove a registry's credentials from berth's file. Returns whether there were any.
pub fn remove(root: &Path, registry: &str) -> Result<bool, RegistryError> {
    let path = berth_auth_file(root);
    let Some(mut cfg) = read_config(&path)? else {
        return Ok(false);
    };
    let Some(auths) = cfg.get_mut("auths").and_then(Value::as_object_mut) else {
        return Ok(false);
    };
    let mut found = false;
    for k in lookup_keys(registry) {
        found |= auths.remove(&k).is_some();
    }
    if found {
        write_config(&path, &cfg)?;
    }
    Ok(found)
}

/// Whether docker's own file (which berth never writes) has credentials for it.
pub fn in_docker_config(registry: &str) -> Option<PathBuf> {
    let f = docker_config_file()?;
    let cfg = read_config(&f).ok()??;
    find_in(&cfg, registry).map(|_| f)
}

/// A `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parse `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        })
    } else {
        None
    }
}

/// `k="v", k2=v2` with commas allowed inside quotes.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next().is_none() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        out.push((key.trim().to_string(), val.trim().to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn store_lookup_remove() {
        let dir = std::env::temp_dir().join(format!("berth-auth-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let c = Credentials {
            username: "u".into(),
            password: "p:w".into(),
        };
        store(&dir, "127.0.0.1:5000", &c).unwrap();
        store(&dir, "docker.io", &c).unwrap();
        let text = std::fs::read_to_string(berth_auth_file(&dir)).unwrap();
        assert!(text.contains(DOCKER_HUB_KEY), "{text}");
        assert_eq!(
            find_in(
                &serde_json::from_str(&text).unwrap(),
                "https://127.0.0.1:5000/"
            ),
            Some(c.clone())
        );
        assert!(remove(&dir, "127.0.0.1:5000").unwrap());
        assert!(!remove(&dir, "127.0.0.1:5000").unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
