//! The distribution API over one connection pool: scheme choice (HTTPS, or plain HTTP
//! where allowed), bearer-token and basic authentication, manifests and blobs.
//!
//! Written on ureq rather than oci-client: see docs/registry.md (per-registry CAs,
//! Range resume into the content store, streaming digests, no async runtime).

use super::auth::{self, Challenge, Credentials};
use super::reference::api_host;
use super::tls;
use super::RegistryError;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use ureq::http::{Response, StatusCode};
use ureq::{Agent, Body};

/// Manifests are small; a bigger one is refused rather than read into memory.
const MAX_MANIFEST: u64 = 8 << 20;

/// What a client may do in a repository (the token scope's actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pull,
    Push,
    /// The registry's `_catalog` (`berth search`).
    Catalog,
}

pub struct ConnectOptions<'a> {
    pub root: &'a Path,
    pub insecure: &'a [String],
    /// Skip HTTPS entirely (refused unless plain HTTP is allowed for the registry).
    pub plain_http: bool,
    /// Credentials to use instead of the stored ones (`berth login`).
    pub credentials: Option<Credentials>,
}

pub struct Client {
    agent: Agent,
    /// `https://host:port`
    base: String,
    /// The registry as the user names it (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    pub repository: String,
    creds: Option<Credentials>,
    access: Access,
    /// The `Authorization` header value currently in use.
    header: Mutex<Option<String>>,
    /// The registries the user marked insecure (a token realm on one of
    /// them may be plain HTTP).
    insecure: Vec<String>,
}

/// A manifest as fetched: its bytes and the media type the registry declared.
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub content_type: String,
    /// The `Docker-Content-Digest` header, if sent.
    pub digest_header: Option<String>,
}

fn transport(url: &str, e: ureq::Error) -> RegistryError {
    RegistryError::Transport(format!("{url}: {e}"))
}

fn header_str(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl Client {
    /// Choose the scheme and check that the endpoint is a registry (`GET /v2/`).
    pub fn connect(
        registry: &str,
        repository: &str,
        access: Access,
        opts: &ConnectOptions,
    ) -> Result<Client, RegistryError> {
        let host = api_host(registry).to_string();
        let allowed = tls::plain_http_allowed(registry, opts.insecure)
            || tls::plain_http_allowed(&host, opts.insecure);
        if opts.plain_http && !allowed {
            return Err(RegistryError::PlainHttpRefused(registry.to_string()));
        }
        let skip_verify = tls::is_insecure(registry, opts.insecure);
        let agent = tls::agent(opts.root, registry, skip_verify)?;
        let creds = match &opts.credentials {
            Some(c) => Some(c.clone()),
            None => auth::lookup(opts.root, registry)?,
        };
        let mut client = Client {
            agent,
            base: String::new(),
            registry: registry.to_string(),
            repository: repository.to_string(),
            creds,
            access,
            header: Mutex::new(None),
            insecure: opts.insecure.to_vec(),
        };
        if opts.plain_http {
            client.base = format!("http://{host}");
            client.ping()?;
            return Ok(client);
        }
        client.base = format!("https://{host}");
        match client.ping() {
            Ok(()) => Ok(client),
            // Like docker for insecure registries: fall back to plain HTTP when the
            // TLS connection fails, but keep the TLS error when the server is a TLS
            // server (Go answers plain HTTP with a 400 naming HTTPS).
            Err(RegistryError::Transport(tls_err)) if allowed => {
                client.base = format!("http://{host}");
                match client.ping() {
                    Ok(()) => Ok(client),
                    Err(RegistryError::NotHttp) | Err(RegistryError::Transport(_)) => {
                        Err(RegistryError::Transport(tls_err))
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn ping(&self) -> Result<(), RegistryError> {
        let url = format!("{}/v2/", self.base);
        let mut resp = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| transport(&url, e))?;
        match resp.status() {
            s if s.is_success() || s == StatusCode::UNAUTHORIZED => Ok(()),
            StatusCode::BAD_REQUEST => {
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(64 << 10)
                    .read_to_string()
                    .unwrap_or_default();
                if body.contains("HTTPS") {
                    Err(RegistryError::NotHttp)
                } else {
                    Err(http_error(&url, resp.status(), &body))
                }
            }
            s => Err(RegistryError::Http {
                url,
                status: s.as_u16(),
                message: "not a registry (GET /v2/ did not answer 200 or 401)".into(),
            }),
        }
    }

    /// Verify the credentials (`berth login`): an authenticated `GET /v2/`.
    pub fn check_login(&self) -> Result<(), RegistryError> {
        let url = format!("{}/v2/", self.base);
        let mut resp = self.send(&url, |auth| {
            let mut rb = self.agent.get(&url);
            if let Some(a) = auth {
                rb = rb.header("Authorization", a);
            }
            rb.call()
        })?;
        if resp.status().is_success() {
            // A registry with anonymous access answers 200 without ever asking: make
            // it check the credentials through a token request when it can.
            Ok(())
        } else {
            let body = read_small(&mut resp);
            Err(http_error(&url, resp.status(), &body))
        }
    }

    /// Send a request, authenticating on a 401 and sending it once more.
    fn send(
        &self,
        url: &str,
        f: impl Fn(Option<&str>) -> Result<Response<Body>, ureq::Error>,
    ) -> Result<Response<Body>, RegistryError> {
        let current = self.header.lock().unwrap().clone();
        let resp = f(current.as_deref()).map_err(|e| transport(url, e))?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = header_str(&resp, "www-authenticate");
        drop(resp);
        let header = self.authenticate(challenge.as_deref())?;
        let resp = f(Some(&header)).map_err(|e| transport(url, e))?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(self.unauthorized());
        }
        Ok(resp)
    }

    fn unauthorized(&self) -> RegistryError {
        match &self.creds {
            Some(c) => RegistryError::Unauthorized(format!(
                "{}: the registry rejected the credentials of {:?} (incorrect username or password?)",
                self.registry, c.username
            )),
            None => RegistryError::Unauthorized(format!(
                "{}: authentication required (401 Unauthorized); run `berth login {}`",
                self.registry, self.registry
            )),
        }
    }

    fn scope(&self) -> String {
        let actions = match self.access {
            Access::Pull => "pull",
            Access::Push => "pull,push",
            Access::Catalog => return "registry:catalog:*".into(),
        };
        format!("repository:{}:{actions}", self.repository)
    }

    /// Answer a challenge: basic credentials, or a bearer token from the realm.
    fn authenticate(&self, challenge: Option<&str>) -> Result<String, RegistryError> {
        let challenge = challenge.and_then(auth::parse_challenge);
        let header = match challenge {
            Some(Challenge::Bearer {
                realm,
                service,
                scope: _,
            }) => format!("Bearer {}", self.token(&realm, service.as_deref())?),
            // Basic, or no usable challenge: send the credentials if there are any.
            _ => match &self.creds {
                Some(c) => c.basic_header(),
                None => return Err(self.unauthorized()),
            },
        };
        *self.header.lock().unwrap() = Some(header.clone());
        Ok(header)
    }

    fn token(&self, realm: &str, service: Option<&str>) -> Result<String, RegistryError> {
        // The realm may be another host (Docker Hub's is): the credentials go
        // there, as docker sends them, but never in clear over the network.
        // A blob redirect never gets them: ureq drops Authorization on any
        // redirect (its default `RedirectAuthHeaders::Never`).
        let (scheme, host) = realm_host(realm).ok_or_else(|| {
            RegistryError::Protocol(format!(
                "{}: the token realm {realm:?} is not an http(s) URL",
                self.registry
            ))
        })?;
        if scheme == "http" && !tls::plain_http_allowed(host, &self.insecure) {
            if self.creds.is_some() {
                return Err(RegistryError::Protocol(format!(
                    "{}: refusing to send credentials to the token realm {realm} over plain HTTP \
                     (a non-loopback host that is not an insecure registry)",
                    self.registry
                )));
            }
            eprintln!(
                "berth: warning: {}: asking the token realm {realm} over plain HTTP",
                self.registry
            );
        }
        let mut rb = self.agent.get(realm);
        // `berth login` asks for a token without a repository scope, as docker does.
        if !self.repository.is_empty() || matches!(self.access, Access::Catalog) {
            rb = rb.query("scope", self.scope());
        }
        if let Some(s) = service {
            rb = rb.query("service", s);
        }
        if let Some(c) = &self.creds {
            rb = rb.header("Authorization", c.basic_header());
        }
        let mut resp = rb.call().map_err(|e| transport(realm, e))?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(self.unauthorized());
        }
        if !status.is_success() {
            let body = read_small(&mut resp);
            return Err(http_error(realm, status, &body));
        }
        // A token answer is small: a bigger (or endless) one is refused
        // before it is read whole.
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_TOKEN_RESPONSE)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => RegistryError::Protocol(format!(
                    "the token response from {realm} is over {} KiB: refused",
                    MAX_TOKEN_RESPONSE >> 10
                )),
                e => transport(realm, e),
            })?;
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            RegistryError::Protocol(format!("the token response from {realm} is not JSON: {e}"))
        })?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                RegistryError::Protocol(format!("no token in the response from {realm}"))
            })
    }

    /// `GET /v2/_catalog?n=N`: the repositories the registry lists (for
    /// `search`); a registry without the API answers 404.
    pub fn catalog(&self, n: usize) -> Result<Vec<String>, RegistryError> {
        let url = format!("{}/v2/_catalog?n={n}", self.base);
        let mut resp = self.send(&url, |auth| {
            let mut rb = self.agent.get(&url);
            if let Some(a) = auth {
                rb = rb.header("Authorization", a);
            }
            rb.call()
        })?;
        let body = read_small(&mut resp);
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound(format!(
                "{} has no catalog API (GET /v2/_catalog answered 404): it cannot be searched",
                self.registry
            )));
        }
        if !resp.status().is_success() {
            return Err(http_error(&url, resp.status(), &body));
        }
        #[derive(serde::Deserialize)]
        struct Catalog {
            #[serde(default)]
            repositories: Vec<String>,
        }
        let c: Catalog = serde_json::from_str(&body)
            .map_err(|e| RegistryError::Protocol(format!("{url}: not a catalog: {e}")))?;
        Ok(c.repositories)
    }

    fn url(&self, kind: &str, reference: &str) -> String {
        format!("{}/v2/{}/{kind}/{reference}", self.base, self.repository)
    }

    /// `GET /v2/<repo>/manifests/<ref>` (any manifest or index type).
    pub fn get_manifest(&self, reference: &str) -> Result<Fetched, RegistryError> {
        let url = self.url("manifests", reference);
        let mut resp = self.send(&url, |auth| {
            let mut rb = self
                .agent
                .get(&url)
                .header("Accept", super::manifest::ACCEPT);
            if let Some(a) = auth {
                rb = rb.header("Authorization", a);
            }
            rb.call()
        })?;
        if !resp.status().is_success() {
            let body = read_small(&mut resp);
            if resp.status() == StatusCode::NOT_FOUND {
                return Err(RegistryError::NotFound(format!(
                    "manifest for {}/{}:{reference} not found: {}",
                    self.registry,
                    self.repository,
                    registry_message(&body).unwrap_or_else(|| "manifest unknown".into())
                )));
            }
            return Err(http_error(&url, resp.status(), &body));
        }
        let content_type = header_str(&resp, "content-type").unwrap_or_default();
        let digest_header = header_str(&resp, "docker-content-digest");
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST)
            .read_to_vec()
            .map_err(|e| transport(&url, e))?;
        Ok(Fetched {
            bytes,
            content_type,
            digest_header,
        })
    }

    /// `GET /v2/<repo>/blobs/<digest>`, from byte `offset` on (a Range request). The
    /// answer is 206 when the range was honoured, 200 when the whole blob comes.
    pub fn get_blob(&self, digest: &str, offset: u64) -> Result<Response<Body>, RegistryError> {
        let url = self.url("blobs", digest);
        let mut resp = self.send(&url, |auth| {
            let mut rb = self.agent.get(&url);
            if offset > 0 {
                rb = rb.header("Range", format!("bytes={offset}-"));
            }
            if let Some(a) = auth {
                rb = rb.header("Authorization", a);
            }
            rb.call()
        })?;
        let s = resp.status();
        if s == StatusCode::OK || s == StatusCode::PARTIAL_CONTENT {
            return Ok(resp);
        }
        let body = read_small(&mut resp);
        Err(http_error(&url, s, &body))
    }

    /// `HEAD /v2/<repo>/blobs/<digest>`: is the blob there already?
    pub fn blob_exists(&self, digest: &str) -> Result<bool, RegistryError> {
        let url = self.url("blobs", digest);
        let resp = self.send(&url, |auth| {
            let mut rb = self.agent.head(&url);
            if let Some(a) = auth {
                rb = rb.header("Authorization", a);
            }
            rb.call()
        })?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(http_error(&url, s, "")),
        }
    }

    /// Resolve a `Location` header against the registry's base URL.
    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            format!("{}/{location}", self.base)
        }
    }

    fn location(&self, resp: &Response<Body>, url: &str) -> Result<String, RegistryError> {
        header_str(resp, "location")
            .map(|l| self.absolute(&l))
            .ok_or_else(|| RegistryError::Protocol(format!("{url}: no Location in the answer")))
    }

    /// Upload a blob: `POST` to start a session, then either one `PUT` with the
    /// whole body (monolithic, small blobs) or a streamed `PATCH` and a closing `PUT`
    /// (chunked, as docker does for layers).
    pub fn upload_blob(
        &self,
        digest: &str,
        size: u64,
        body: &mut dyn Read,
        chunked: bool,
    ) -> Result<(), RegistryError> {
        let start = format!("{}/v2/{}/blobs/uploads/", self.base, self.repository);
        let mut resp = self.send(&start, |auth| {
            let mut rb = self.agent.post(&start).header("Content-Length", "0");
            if let Some(a) = auth {
                rb = rb.header("Authorization", a);
            }
            rb.send_empty()
        })?;
        if resp.status() != StatusCode::ACCEPTED {
            let body = read_small(&mut resp);
            return Err(http_error(&start, resp.status(), &body));
        }
        let mut location = self.location(&resp, &start)?;
        let auth = self.header.lock().unwrap().clone();
        let with_digest = |loc: &str| {
            let sep = if loc.contains('?') { '&' } else { '?' };
            format!("{loc}{sep}digest={digest}")
        };
        let resp = if chunked {
            let mut rb = self
                .agent
                .patch(&location)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Length", size.to_string());
            if let Some(a) = &auth {
                rb = rb.header("Authorization", a);
            }
            let mut resp = rb
                .send(ureq::SendBody::from_reader(body))
                .map_err(|e| transport(&location, e))?;
            if resp.status() != StatusCode::ACCEPTED && resp.status() != StatusCode::NO_CONTENT {
                let b = read_small(&mut resp);
                return Err(http_error(&location, resp.status(), &b));
            }
            location = self.location(&resp, &location)?;
            let url = with_digest(&location);
            let mut rb = self.agent.put(&url).header("Content-Length", "0");
            if let Some(a) = &auth {
                rb = rb.header("Authorization", a);
            }
            rb.send_empty().map_err(|e| transport(&url, e))?
        } else {
            let url = with_digest(&location);
            let mut rb = self
                .agent
                .put(&url)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Length", size.to_string());
            if let Some(a) = &auth {
                rb = rb.header("Authorization", a);
            }
            rb.send(ureq::SendBody::from_reader(body))
                .map_err(|e| transport(&url, e))?
        };
        let mut resp = resp;
        if resp.status() != StatusCode::CREATED {
            let b = read_small(&mut resp);
            return Err(http_error(&location, resp.status(), &b));
        }
        Ok(())
    }

    /// `PUT /v2/<repo>/manifests/<ref>`; returns the digest the registry reports.
    pub fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Option<String>, RegistryError> {
        let url = self.url("manifests", reference);
        let mut resp = self.send(&url, |auth| {
            let mut rb = self.agent.put(&url).header("Content-Type", media_type);
            if let Some(a) = auth {
                rb = rb.header("Authorization", a);
            }
            rb.send(bytes)
        })?;
        if resp.status() != StatusCode::CREATED {
            let b = read_small(&mut resp);
            return Err(http_error(&url, resp.status(), &b));
        }
        Ok(header_str(&resp, "docker-content-digest"))
    }
}

/// The most a token endpoint may answer (docker's tokens are a few KiB).
const MAX_TOKEN_RESPONSE: u64 = 1 << 20;

/// The scheme and `host[:port]` of an http(s) URL.
fn realm_host(url: &str) -> Option<(&'static str, &str)> {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
        ("https", r)
    } else {
        ("http", url.strip_prefix("http://")?)
    };
    let host = rest.split(['/', '?', '#']).next()?;
    // userinfo@ would hide the real host
    let host = host.rsplit('@').next()?;
    (!host.is_empty()).then_some((scheme, host))
}

fn read_small(resp: &mut Response<Body>) -> String {
    resp.body_mut()
        .with_config()
        .limit(64 << 10)
        .lossy_utf8(true)
        .read_to_string()
        .unwrap_or_default()
}

/// The first message of a registry's `{"errors": [{"code","message"}]}` body.
fn registry_message(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let e = v.get("errors")?.as_array()?.first()?;
    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
    let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
    Some(if code.is_empty() {
        msg.to_string()
    } else {
        format!("{}: {msg}", code.to_ascii_lowercase())
    })
}

fn http_error(url: &str, status: StatusCode, body: &str) -> RegistryError {
    let message = registry_message(body).unwrap_or_else(|| {
        let b = body.trim();
        if b.is_empty() {
            status.canonical_reason().unwrap_or("").to_string()
        } else {
            b.chars().take(200).collect()
        }
    });
    RegistryError::Http {
        url: url.to_string(),
        status: status.as_u16(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A tiny registry on loopback that wants a bearer token from its own realm,
    /// which in turn wants basic credentials u:p. Returns its address.
    fn token_registry() -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let realm = format!("http://{addr}/token");
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut auth = String::new();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some(v) = h
                        .strip_prefix("Authorization: ")
                        .or(h.strip_prefix("authorization: "))
                    {
                        auth = v.trim().to_string();
                    }
                }
                let challenge =
                    format!("WWW-Authenticate: Bearer realm=\"{realm}\",service=\"test\"\r\n");
                let (status, extra, body) = if target.starts_with("/token") {
                    // base64("u:p") = dTpw
                    if auth == "Basic dTpw" && target.contains("scope=repository%3Aapp%3Apull") {
                        ("200 OK", String::new(), r#"{"token":"tok"}"#.to_string())
                    } else {
                        ("401 Unauthorized", String::new(), String::new())
                    }
                } else if auth == "Bearer tok" && target == "/v2/app/manifests/1" {
                    (
                        "200 OK",
                        format!("Content-Type: {}\r\n", super::super::manifest::OCI_MANIFEST),
                        "{}".to_string(),
                    )
                } else {
                    ("401 Unauthorized", challenge, String::new())
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        addr
    }

    fn connect(addr: &str, creds: Option<Credentials>) -> Result<Client, RegistryError> {
        let root = std::env::temp_dir().join(format!("berth-client-test-{}", std::process::id()));
        Client::connect(
            addr,
            "app",
            Access::Pull,
            &ConnectOptions {
                root: &root,
                insecure: &[],
                plain_http: true,
                credentials: creds,
            },
        )
    }

    #[test]
    fn realm_hosts() {
        assert_eq!(
            realm_host("https://auth.docker.io/token?x=1"),
            Some(("https", "auth.docker.io"))
        );
        assert_eq!(
            realm_host("http://u:p@10.0.0.1:5000/t"),
            Some(("http", "10.0.0.1:5000"))
        );
        assert_eq!(realm_host("ftp://x/t"), None);
        assert_eq!(realm_host("http:///t"), None);
    }

    #[test]
    fn bearer_token_flow() {
        let addr = token_registry();
        let good = Credentials {
            username: "u".into(),
            password: "p".into(),
        };
        let c = connect(&addr, Some(good)).unwrap();
        let m = c.get_manifest("1").unwrap();
        assert_eq!(m.bytes, b"{}");
        // The token is reused for the next request.
        assert_eq!(c.header.lock().unwrap().as_deref(), Some("Bearer tok"));

        let bad = Credentials {
            username: "u".into(),
            password: "wrong".into(),
        };
        let e = connect(&addr, Some(bad))
            .unwrap()
            .get_manifest("1")
            .err()
            .unwrap();
        assert!(e.to_string().contains("rejected the credentials"), "{e}");
    }
}
