//! A real registry for the pull/push tests: Debian's docker-registry (distribution
//! 2.8) on 127.0.0.1 with a free port, its own storage and config, plain HTTP or TLS
//! (a CA and server certificate made with openssl) with htpasswd auth; and images
//! built here by hand (blobs hashed with sha256sum, compressed with gzip/zstd,
//! uploaded with curl), so every media type and platform can be chosen exactly.

use crate::sys::TempDir;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Test credentials of the TLS registry.
pub const USER: &str = "berthtest";
pub const PASSWORD: &str = "s3cret-pw";

#[track_caller]
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `sha256:<hex>` of a file.
pub fn sha256_file(p: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(p));
    format!("sha256:{}", out.split_whitespace().next().unwrap())
}

pub fn sha256_bytes(b: &[u8]) -> String {
    let dir = TempDir::new("sha");
    let p = dir.join("x");
    std::fs::write(&p, b).unwrap();
    sha256_file(&p)
}

/// A running docker-registry; killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
    /// The registry's stderr (its log, with the access log lines).
    pub log: PathBuf,
    /// Set for the TLS registry: the CA certificate that signed its certificate.
    pub ca: Option<PathBuf>,
    /// Basic credentials for curl (TLS registry).
    pub auth: Option<(String, String)>,
}

impl Registry {
    /// A plain-HTTP registry without auth.
    pub fn plain() -> Registry {
        Self::start(false, free_port())
    }

    /// A plain-HTTP registry on this port (a fresh one where another was).
    pub fn plain_on(port: u16) -> Registry {
        Self::start(false, port)
    }

    /// A TLS registry (its own CA) with htpasswd auth for USER/PASSWORD.
    pub fn tls_auth() -> Registry {
        Self::start(true, free_port())
    }

    fn start(tls: bool, port: u16) -> Registry {
        let dir = TempDir::new("registry");
        let mut extra = String::new();
        let mut ca = None;
        let mut auth = None;
        if tls {
            let d = dir.path();
            let ec = [
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ];
            run(Command::new("openssl")
                .args(["req", "-x509"])
                .args(ec)
                .args(["-days", "2", "-subj", "/CN=berth test CA"])
                .args(["-addext", "basicConstraints=critical,CA:TRUE"])
                .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
                .arg("-keyout")
                .arg(d.join("ca.key"))
                .arg("-out")
                .arg(d.join("ca.crt"))
                .stderr(Stdio::null()));
            run(Command::new("openssl")
                .arg("req")
                .args(ec)
                .args(["-subj", "/CN=127.0.0.1"])
                .arg("-keyout")
                .arg(d.join("server.key"))
                .arg("-out")
                .arg(d.join("server.csr"))
                .stderr(Stdio::null()));
            std::fs::write(
                d.join("ext.cnf"),
                "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
                 keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
            )
            .unwrap();
            run(Command::new("openssl")
                .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
                .arg("-in")
                .arg(d.join("server.csr"))
                .arg("-CA")
                .arg(d.join("ca.crt"))
                .arg("-CAkey")
                .arg(d.join("ca.key"))
                .arg("-extfile")
                .arg(d.join("ext.cnf"))
                .arg("-out")
                .arg(d.join("server.crt"))
                .stderr(Stdio::null()));
            let htpasswd = run(Command::new("htpasswd").args(["-Bbn", USER, PASSWORD]));
            std::fs::write(d.join("htpasswd"), htpasswd).unwrap();
            extra = format!(
                "  tls:\n    certificate: {crt}\n    key: {key}\n\
                 auth:\n  htpasswd:\n    realm: berth-test\n    path: {ht}\n",
                crt = d.join("server.crt").display(),
                key = d.join("server.key").display(),
                ht = d.join("htpasswd").display()
            );
            ca = Some(d.join("ca.crt"));
            auth = Some((USER.to_string(), PASSWORD.to_string()));
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n{extra}",
            storage = dir.join("storage").display()
        );
        std::fs::write(dir.join("config.yml"), config).unwrap();
        // The access log goes to stdout, the rest to stderr: one file for both.
        let log = dir.join("registry.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("starting /usr/bin/docker-registry (apt-get install docker-registry)");
        let reg = Registry {
            child,
            port,
            dir,
            log,
            ca,
            auth,
        };
        reg.wait_ready();
        reg
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "docker-registry did not listen on {}:\n{}",
            self.port,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn base(&self) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// The registry's storage file of a blob (to corrupt it).
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir.join(format!(
            "storage/docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }

    /// The access log lines (`"GET /v2/... HTTP/1.1" 200 ...`).
    pub fn access_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"GET ") || l.contains("\"HEAD ") || l.contains("\"PUT "))
            .map(String::from)
            .collect()
    }

    /// GET requests of a blob and their status codes.
    pub fn blob_gets(&self, digest: &str) -> Vec<u16> {
        self.access_lines()
            .iter()
            .filter(|l| l.contains("\"GET /v2/") && l.contains(&format!("/blobs/{digest} ")))
            .filter_map(|l| {
                let after = l.split("HTTP/1.1\" ").nth(1)?;
                after.split_whitespace().next()?.parse().ok()
            })
            .collect()
    }

    /// All blob GETs (any digest).
    pub fn all_blob_gets(&self) -> usize {
        self.access_lines()
            .iter()
            .filter(|l| l.contains("\"GET /v2/") && l.contains("/blobs/sha256:"))
            .count()
    }

    fn curl(&self) -> Command {
        let mut c = Command::new("curl");
        c.args(["-sS", "--max-time", "120"]);
        if let Some(ca) = &self.ca {
            c.arg("--cacert").arg(ca);
        }
        if let Some((u, p)) = &self.auth {
            c.arg("-u").arg(format!("{u}:{p}"));
        }
        c
    }

    /// Upload a blob file (POST then monolithic PUT); returns its digest.
    pub fn upload_blob(&self, repo: &str, file: &Path) -> String {
        let digest = sha256_file(file);
        let headers = run(self
            .curl()
            .args(["-o", "/dev/null", "-D", "-", "-X", "POST"])
            .arg(format!("{}/v2/{repo}/blobs/uploads/", self.base())));
        let loc = headers
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("location")
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| panic!("no Location in {headers}"));
        let loc = if loc.starts_with('/') {
            format!("{}{loc}", self.base())
        } else {
            loc
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let code = run(self
            .curl()
            .args(["-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT"])
            .args(["-H", "Content-Type: application/octet-stream"])
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(format!("{loc}{sep}digest={digest}")));
        assert_eq!(
            code.trim(),
            "201",
            "blob upload of {digest} answered {code}"
        );
        digest
    }

    pub fn upload_bytes(&self, repo: &str, bytes: &[u8]) -> String {
        let dir = TempDir::new("blob");
        let p = dir.join("blob");
        std::fs::write(&p, bytes).unwrap();
        self.upload_blob(repo, &p)
    }

    /// PUT a manifest (or index) under `reference`; returns its digest.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> String {
        let dir = TempDir::new("manifest");
        let p = dir.join("m.json");
        std::fs::write(&p, body).unwrap();
        let code = run(self
            .curl()
            .args(["-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT"])
            .arg("-H")
            .arg(format!("Content-Type: {media_type}"))
            .arg("--data-binary")
            .arg(format!("@{}", p.display()))
            .arg(format!("{}/v2/{repo}/manifests/{reference}", self.base())));
        assert_eq!(code.trim(), "201", "manifest PUT answered {code}");
        sha256_bytes(body)
    }

    /// GET a manifest with curl (to check what a push stored).
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Option<Vec<u8>> {
        let out = self
            .curl()
            .args(["-f", "-H"])
            .arg(format!(
                "Accept: {OCI_MANIFEST}, {DOCKER_MANIFEST}, {OCI_INDEX}, {DOCKER_LIST}"
            ))
            .arg(format!("{}/v2/{repo}/manifests/{reference}", self.base()))
            .output()
            .ok()?;
        out.status.success().then_some(out.stdout)
    }

    /// Push an image: layers, config, manifest. Returns the manifest digest.
    pub fn push_image(&self, repo: &str, tag: &str, img: &ImageSpec) -> String {
        for l in &img.layers {
            self.upload_blob(repo, &l.path);
        }
        self.upload_bytes(repo, &img.config);
        self.put_manifest(repo, tag, &img.manifest_type, &img.manifest)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a layer's tar is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// A layer blob on disk with its descriptor facts.
#[derive(Debug, Clone)]
pub struct Layer {
    pub path: PathBuf,
    pub digest: String,
    pub diff_id: String,
    pub size: u64,
    pub media_type: String,
}

/// Make a layer from a directory (tar, then compressed) under `work`.
pub fn layer_from_dir(work: &Path, src: &Path, c: Compression, docker: bool) -> Layer {
    let n = crate::sys::unique();
    let tar = work.join(format!("layer-{n}.tar"));
    run(Command::new("tar")
        .args(["--numeric-owner", "--sort=name", "--mtime=@0", "-C"])
        .arg(src)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    layer_from_tar(&tar, c, docker)
}

/// Compress a tar into a layer blob beside it.
pub fn layer_from_tar(tar: &Path, c: Compression, docker: bool) -> Layer {
    let diff_id = sha256_file(tar);
    let (path, media_type) = match c {
        Compression::None => (
            tar.to_path_buf(),
            if docker {
                "application/vnd.docker.image.rootfs.diff.tar"
            } else {
                "application/vnd.oci.image.layer.v1.tar"
            },
        ),
        Compression::Gzip => {
            let out = tar.with_extension("tar.gz");
            run(Command::new("sh").arg("-c").arg(format!(
                "gzip -n -c '{}' > '{}'",
                tar.display(),
                out.display()
            )));
            (
                out,
                if docker {
                    "application/vnd.docker.image.rootfs.diff.tar.gzip"
                } else {
                    "application/vnd.oci.image.layer.v1.tar+gzip"
                },
            )
        }
        Compression::Zstd => {
            let out = tar.with_extension("tar.zst");
            run(Command::new("zstd")
                .args(["-q", "-f", "-3", "-o"])
                .arg(&out)
                .arg(tar));
            (out, "application/vnd.oci.image.layer.v1.tar+zstd")
        }
    };
    Layer {
        digest: sha256_file(&path),
        size: std::fs::metadata(&path).unwrap().len(),
        path,
        diff_id,
        media_type: media_type.to_string(),
    }
}

/// A complete image: layers, config and manifest bytes.
pub struct ImageSpec {
    pub layers: Vec<Layer>,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub manifest: Vec<u8>,
    pub manifest_type: String,
    pub manifest_digest: String,
}

impl ImageSpec {
    /// Config and manifest (OCI, or docker schema 2 when `docker`) for these layers.
    pub fn new(layers: Vec<Layer>, arch: &str, docker: bool) -> ImageSpec {
        let config = serde_json::to_vec(&json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
            "history": layers.iter().map(|_| json!({"created_by": "berth test"})).collect::<Vec<_>>(),
        }))
        .unwrap();
        let config_digest = sha256_bytes(&config);
        let (mt, ct) = if docker {
            (DOCKER_MANIFEST, DOCKER_CONFIG)
        } else {
            (OCI_MANIFEST, OCI_CONFIG)
        };
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": mt,
            "config": {"mediaType": ct, "digest": config_digest, "size": config.len()},
            "layers": layers.iter().map(|l| json!({"mediaType": l.media_type, "digest": l.digest, "size": l.size})).collect::<Vec<_>>(),
        }))
        .unwrap();
        ImageSpec {
            manifest_digest: sha256_bytes(&manifest),
            layers,
            config,
            config_digest,
            manifest,
            manifest_type: mt.to_string(),
        }
    }
}

/// An index (or docker manifest list) over (image, os/arch[/variant]) entries.
pub fn index(entries: &[(&ImageSpec, &str)], docker: bool) -> (Vec<u8>, String) {
    let mt = if docker { DOCKER_LIST } else { OCI_INDEX };
    let manifests: Vec<Value> = entries
        .iter()
        .map(|(img, platform)| {
            let p: Vec<&str> = platform.split('/').collect();
            let mut plat = json!({"os": p[0], "architecture": p[1]});
            if let Some(v) = p.get(2) {
                plat["variant"] = json!(v);
            }
            json!({"mediaType": img.manifest_type, "digest": img.manifest_digest, "size": img.manifest.len(), "platform": plat})
        })
        .collect();
    let body =
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": mt, "manifests": manifests}))
            .unwrap();
    (body, mt.to_string())
}

/// A directory with one file (a small extra layer).
pub fn dir_with_file(work: &Path, name: &str, content: &[u8]) -> PathBuf {
    let d = work.join(format!("dir-{}", crate::sys::unique()));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(name), content).unwrap();
    d
}

/// A directory holding `mib` MiB of random (incompressible) data.
pub fn dir_with_random(work: &Path, mib: usize) -> PathBuf {
    let d = work.join(format!("rand-{}", crate::sys::unique()));
    std::fs::create_dir_all(&d).unwrap();
    run(Command::new("dd")
        .arg("if=/dev/urandom")
        .arg(format!("of={}", d.join("random.bin").display()))
        .args(["bs=1M", &format!("count={mib}"), "status=none"]));
    d
}

/// The image records in a berth root (`images.json`).
pub fn image_records(root: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(root.join("images.json")).unwrap_or_default();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    v["images"].as_array().cloned().unwrap_or_default()
}

/// The record of `name` in a berth root.
pub fn image_record(root: &Path, name: &str) -> Option<Value> {
    image_records(root).into_iter().find(|r| r["name"] == name)
}

/// Is the content blob in the berth store?
pub fn has_blob(root: &Path, digest: &str) -> bool {
    root.join("content/blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
        .is_file()
}

/// Find a file under `<root>/snapshots/*/fs/<rel>` (unpacked layers).
pub fn snapshot_file(root: &Path, rel: &str) -> Option<PathBuf> {
    let rd = std::fs::read_dir(root.join("snapshots")).ok()?;
    rd.flatten()
        .map(|e| e.path().join("fs").join(rel))
        .find(|p| p.symlink_metadata().is_ok())
}
