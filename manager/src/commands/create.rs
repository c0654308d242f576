//! `berth create`: make a container from an image and the flags (shared with
//! `run`). The image's config is merged here, once: Entrypoint/Cmd, Env,
//! WorkingDir, User, Labels, StopSignal, Healthcheck and Volumes (anonymous
//! volumes); the OCI spec itself is generated at each start.

use crate::container::record::{LogConfig, TmpfsOptions};
use crate::container::{
    Config, ContainerRecord, ContainerStore, HealthConfig, HostConfig, MountPoint, MountSpec,
    RestartPolicy,
};
use crate::context::Context;
use crate::image::Image;
use crate::spec;
use crate::store::{ContentStore, ImageStore};
use crate::volume::VolumeStore;
use anyhow::{anyhow, bail, Context as _};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct CreateFlags {
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    pub env_file: Vec<String>,
    /// Bind mount a volume (NAME:DEST[:ro], /HOST:DEST[:ro], or DEST for an anonymous volume)
    #[arg(short, long)]
    pub volume: Vec<String>,
    /// Attach a filesystem mount (type=bind|volume|tmpfs,source=...,target=...[,readonly])
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory (DEST[:OPTIONS])
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(long)]
    pub hostname: Option<String>,
    /// Memory limit (e.g. 64m)
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Tune container pids limit (-1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub read_only: bool,
    /// Add Linux capabilities
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Security options (seccomp=PROFILE.json|unconfined, no-new-privileges)
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// Restart policy (no, always, on-failure[:N], unless-stopped)
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Command to run to check health
    #[arg(long)]
    pub health_cmd: Option<String>,
    /// Time between running the check (e.g. 30s)
    #[arg(long)]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run
    #[arg(long)]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long)]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize
    #[arg(long)]
    pub health_start_period: Option<String>,
    /// Time between checks during the start period
    #[arg(long)]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long)]
    pub no_healthcheck: bool,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Set metadata on a container
    #[arg(short, long)]
    pub label: Vec<String>,
    /// Signal to stop the container
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long, allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Connect to a network: bridge (default), host, none, container:NAME, or a user network (repeat for several)
    #[arg(long, alias = "net")]
    pub network: Vec<String>,
    /// Publish a container's port(s) to the host ([ip:][hostPort:]containerPort[/proto])
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random host ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104) on the first network
    #[arg(long)]
    pub ip: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long)]
    pub mac_address: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long)]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip, ip may be host-gateway)
    #[arg(long)]
    pub add_host: Vec<String>,
    /// Add link to another container (NAME[:ALIAS])
    #[arg(long)]
    pub link: Vec<String>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Pull the image before creating: missing (only when not stored), always, never
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Platform to pull when the image is pulled (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<String>,
    /// The image
    pub image: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let (rec, _) = create_container(ctx, &args.flags)?;
    println!("{}", rec.id);
    Ok(0)
}

/// Go durations as docker takes them: 30s, 1m30s, 500ms, 1h, 2.5s.
pub fn parse_duration_ns(s: &str) -> anyhow::Result<i64> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        bail!("invalid duration {s:?}");
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| anyhow!("invalid duration {s:?}: missing unit"))?;
        let v: f64 = rest[..n]
            .parse()
            .map_err(|_| anyhow!("invalid duration {s:?}"))?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mul = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => bail!("invalid duration {s:?}: unknown unit {other:?}"),
        };
        total += v * mul;
        rest = &rest[u..];
    }
    Ok(total as i64)
}

/// `KEY=VALUE` lines of an env file (comments and blank lines skipped; a bare
/// `KEY` takes the host's value).
fn read_env_file(path: &str) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("open {path}"))?;
    Ok(text
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

/// Merge `KEY=VALUE` settings into `env`, replacing the same keys.
fn merge_env(env: &mut Vec<String>, adds: &[String]) {
    for a in adds {
        let (k, v) = match a.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => match std::env::var(a) {
                Ok(v) => (a.clone(), v),
                Err(_) => continue,
            },
        };
        let kv = format!("{k}={v}");
        match env
            .iter_mut()
            .find(|e| e.split('=').next() == Some(k.as_str()))
        {
            Some(e) => *e = kv,
            None => env.push(kv),
        }
    }
}

fn labels(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

fn str_list(v: &serde_json::Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    })
}

/// docker's restart policy flag.
pub fn parse_restart(s: &str) -> anyhow::Result<RestartPolicy> {
    let (name, n) = match s.split_once(':') {
        Some((name, n)) => (name, Some(n)),
        None => (s, None),
    };
    match (name, n) {
        ("" | "no", None) => Ok(RestartPolicy {
            name: "no".into(),
            maximum_retry_count: 0,
        }),
        ("always" | "unless-stopped", None) => Ok(RestartPolicy {
            name: name.into(),
            maximum_retry_count: 0,
        }),
        ("on-failure", n) => Ok(RestartPolicy {
            name: name.into(),
            maximum_retry_count: match n {
                Some(n) => n
                    .parse()
                    .map_err(|_| anyhow!("invalid restart policy {s:?}: bad retry count"))?,
                None => 0,
            },
        }),
        _ => bail!("invalid restart policy {s:?} (no, always, on-failure[:N], unless-stopped)"),
    }
}

fn parse_bool(v: &str) -> bool {
    !matches!(v, "false" | "0")
}

/// Parse -v, --mount and --tmpfs into mount points (volumes still unnamed when
/// anonymous; created later).
/// Resolved mounts, the `--mount` specs as given, and `--tmpfs` (docker's HostConfig.Tmpfs).
type ParsedMounts = (Vec<MountPoint>, Vec<MountSpec>, BTreeMap<String, String>);

fn parse_mounts(f: &CreateFlags) -> anyhow::Result<ParsedMounts> {
    let mut out = Vec::new();
    let mut specs = Vec::new();
    let mut tmpfs = BTreeMap::new();
    for v in &f.volume {
        let parts: Vec<&str> = v.split(':').collect();
        let (src, dst, mode) = match parts.as_slice() {
            [d] => ("", *d, ""),
            [s, d] => (*s, *d, ""),
            [s, d, m] => (*s, *d, *m),
            _ => bail!("invalid volume specification: {v:?}"),
        };
        if !dst.starts_with('/') {
            bail!("invalid volume specification: {v:?}: the destination must be an absolute path");
        }
        let ro = mode.split(',').any(|m| m == "ro");
        if let Some(m) = mode
            .split(',')
            .find(|m| !matches!(*m, "" | "ro" | "rw" | "z" | "Z"))
        {
            bail!("invalid volume specification: {v:?}: unknown mode {m:?}");
        }
        let mut mp = MountPoint {
            destination: dst.to_string(),
            rw: !ro,
            mode: mode.to_string(),
            ..Default::default()
        };
        if src.is_empty() {
            mp.r#type = "volume".into();
            mp.anonymous = true;
        } else if src.starts_with('/') {
            mp.r#type = "bind".into();
            // docker's -v creates a missing host directory
            std::fs::create_dir_all(src).with_context(|| format!("creating bind source {src}"))?;
            mp.source = src.to_string();
            mp.propagation = "rprivate".into();
        } else {
            mp.r#type = "volume".into();
            mp.name = src.to_string();
        }
        out.push(mp);
    }
    for m in &f.mount {
        let mut spec = MountSpec {
            r#type: "volume".into(),
            ..Default::default()
        };
        let mut tmpfs_opts: Vec<String> = Vec::new();
        for kv in m.split(',') {
            let (k, v) = kv.split_once('=').unwrap_or((kv, "true"));
            match k {
                "type" => spec.r#type = v.to_string(),
                "source" | "src" => spec.source = v.to_string(),
                "target" | "destination" | "dst" => spec.target = v.to_string(),
                "readonly" | "ro" => spec.read_only = parse_bool(v),
                "tmpfs-size" => {
                    let n = spec::parse_size(v)?;
                    spec.tmpfs_options
                        .get_or_insert_with(Default::default)
                        .size_bytes = n;
                    tmpfs_opts.push(format!("size={n}"));
                }
                "tmpfs-mode" => {
                    let mode = u32::from_str_radix(v, 8)
                        .map_err(|_| anyhow!("invalid tmpfs-mode {v:?}"))?;
                    spec.tmpfs_options
                        .get_or_insert_with(TmpfsOptions::default)
                        .mode = mode;
                    tmpfs_opts.push(format!("mode={mode:o}"));
                }
                "bind-propagation" | "volume-nocopy" | "consistency" => {}
                _ => bail!("invalid field {k:?} in --mount {m:?}"),
            }
        }
        if !spec.target.starts_with('/') {
            bail!("invalid --mount {m:?}: target must be an absolute path");
        }
        let mut mp = MountPoint {
            destination: spec.target.clone(),
            rw: !spec.read_only,
            r#type: spec.r#type.clone(),
            ..Default::default()
        };
        match spec.r#type.as_str() {
            "bind" => {
                if !Path::new(&spec.source).exists() {
                    bail!("invalid mount config for type \"bind\": bind source path does not exist: {}", spec.source);
                }
                mp.source = spec.source.clone();
                mp.propagation = "rprivate".into();
            }
            "volume" => {
                if spec.source.is_empty() {
                    mp.anonymous = true;
                } else {
                    mp.name = spec.source.clone();
                }
            }
            "tmpfs" => {
                if !spec.source.is_empty() {
                    bail!("invalid mount config for type \"tmpfs\": source must be empty");
                }
                mp.options = tmpfs_opts.join(",");
            }
            t => bail!("invalid --mount {m:?}: unsupported type {t:?} (bind, volume, tmpfs)"),
        }
        out.push(mp);
        specs.push(spec);
    }
    for t in &f.tmpfs {
        let (dst, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
        if !dst.starts_with('/') {
            bail!("invalid --tmpfs {t:?}: the destination must be an absolute path");
        }
        tmpfs.insert(dst.to_string(), opts.to_string());
        let ro = opts.split(',').any(|o| o == "ro");
        out.push(MountPoint {
            r#type: "tmpfs".into(),
            destination: dst.to_string(),
            rw: !ro,
            options: opts
                .split(',')
                .filter(|o| !o.is_empty() && *o != "ro" && *o != "rw")
                .collect::<Vec<_>>()
                .join(","),
            ..Default::default()
        });
    }
    let mut seen = std::collections::HashSet::new();
    for m in &out {
        if !seen.insert(m.destination.trim_end_matches('/').to_string()) {
            bail!("Duplicate mount point: {}", m.destination);
        }
    }
    Ok((out, specs, tmpfs))
}

/// Resolve and load an image by name or id.
pub fn load_image(ctx: &Context, name: &str) -> anyhow::Result<(Image, serde_json::Value)> {
    find_image(ctx, name)?.ok_or_else(|| {
        anyhow!("Unable to find image '{name}' locally (pull it first: berth pull {name})")
    })
}

/// The image for a new container, pulled first as `--pull` says (docker's
/// default: only when it is not stored). Pull progress goes to stderr: stdout
/// belongs to the container or to the id `create` prints.
fn image_for_create(ctx: &Context, f: &CreateFlags) -> anyhow::Result<(Image, serde_json::Value)> {
    let pull = |ctx: &Context| -> anyhow::Result<()> {
        let opts = crate::registry::Options {
            platform: f.platform.clone(),
            out: crate::registry::Out::Stderr,
            ..Default::default()
        };
        crate::registry::pull(ctx, &f.image, &opts)?;
        Ok(())
    };
    match f.pull.as_str() {
        "never" => load_image(ctx, &f.image),
        "always" => {
            pull(ctx)?;
            load_image(ctx, &f.image)
        }
        "missing" => match find_image(ctx, &f.image)? {
            Some(found) => Ok(found),
            None => {
                eprintln!("Unable to find image '{}' locally", f.image);
                pull(ctx)?;
                load_image(ctx, &f.image)
            }
        },
        other => bail!("invalid --pull value {other:?}: use missing, always or never"),
    }
}

/// An image by name or id, or None when nothing stored matches.
fn find_image(ctx: &Context, name: &str) -> anyhow::Result<Option<(Image, serde_json::Value)>> {
    let images = ImageStore::open(&ctx.root)?;
    // Names resolve without the full reference parser (see
    // `reference::fast_normalize`): this is on the path of every `run`.
    let record = match images.resolve(name) {
        Ok(r) => r,
        Err(crate::store::StoreError::ImageNotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let content = ContentStore::open(&ctx.root)?;
    let image = Image::load(&content, record)?;
    let raw = image.config_json.clone();
    Ok(Some((image, raw)))
}

/// The image's EXPOSE, `--expose` and the published ports ("80/tcp" -> {}).
fn exposed_ports(
    ic: &serde_json::Value,
    expose: &[String],
    published: &crate::network::model::PortMap,
) -> anyhow::Result<BTreeMap<String, serde_json::Value>> {
    let mut out: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    if let Some(m) = ic["ExposedPorts"].as_object() {
        for k in m.keys() {
            out.insert(k.clone(), serde_json::json!({}));
        }
    }
    for e in expose {
        let (ports, proto) = e.split_once('/').unwrap_or((e.as_str(), "tcp"));
        if !matches!(proto, "tcp" | "udp" | "sctp") {
            bail!("invalid --expose {e:?}: unknown protocol {proto:?}");
        }
        let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
        let (a, b): (u16, u16) = match (a.parse(), b.parse()) {
            (Ok(a), Ok(b)) if a > 0 && a <= b => (a, b),
            _ => bail!("invalid --expose {e:?}: expected PORT[-PORT][/PROTO]"),
        };
        for p in a..=b {
            out.insert(format!("{p}/{proto}"), serde_json::json!({}));
        }
    }
    for k in published.keys() {
        out.insert(k.clone(), serde_json::json!({}));
    }
    Ok(out)
}

/// Create the container (record, directories, volumes). Returns the record and
/// the loaded image (so `run` does not read it again).
pub fn create_container(
    ctx: &Context,
    f: &CreateFlags,
) -> anyhow::Result<(ContainerRecord, Image)> {
    let net = crate::network::request::build(
        ctx,
        &crate::network::request::NetFlags {
            networks: f.network.clone(),
            ip: f.ip.clone(),
            mac_address: f.mac_address.clone(),
            aliases: f.network_alias.clone(),
            publish: f.publish.clone(),
            publish_all: f.publish_all,
            links: f.link.clone(),
        },
    )?;
    for h in &f.add_host {
        if h.split_once(':').or_else(|| h.split_once('=')).is_none() {
            bail!("invalid argument {h:?} for \"--add-host\" flag: expected HOST:IP");
        }
    }
    spec::validate_security_opts(&f.security_opt)?;
    // Flags are checked before anything is pulled or created.
    let memory = f
        .memory
        .as_deref()
        .map(spec::parse_size)
        .transpose()
        .context("--memory")?
        .unwrap_or(0);
    if memory != 0 && memory < 6 << 20 {
        bail!("Minimum memory limit allowed is 6MB");
    }
    let restart = parse_restart(&f.restart)?;
    if f.rm && restart.name != "no" {
        bail!("conflicting options: cannot specify both --restart and --rm");
    }
    let mut seccomp_profile = None;
    for o in &f.security_opt {
        if let Some(p) = o
            .strip_prefix("seccomp=")
            .or_else(|| o.strip_prefix("seccomp:"))
        {
            if p != "unconfined" {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("opening seccomp profile ({p})"))?;
                spec::seccomp::convert(&text, &[])?;
                seccomp_profile = Some(text);
            }
        }
    }
    for c in f.cap_add.iter().chain(&f.cap_drop) {
        spec::normalize_cap(c)?;
    }
    if f.init {
        spec::find_init()?;
    }
    let (image, raw) = image_for_create(ctx, f)?;
    let ic = &raw["config"];

    let mut id = crate::container::store::new_id();
    while ctx.root.join("containers").join(&id).exists() {
        id = crate::container::store::new_id();
    }
    let mut env = str_list(&ic["Env"]).unwrap_or_default();
    let mut adds = Vec::new();
    for file in &f.env_file {
        adds.extend(read_env_file(file)?);
    }
    adds.extend(f.env.iter().cloned());
    merge_env(&mut env, &adds);

    let (entrypoint, cmd) = match &f.entrypoint {
        Some(e) if e.is_empty() => (None, Some(f.command.clone())),
        Some(e) => (Some(vec![e.clone()]), Some(f.command.clone())),
        None => (
            str_list(&ic["Entrypoint"]),
            if f.command.is_empty() {
                str_list(&ic["Cmd"])
            } else {
                Some(f.command.clone())
            },
        ),
    };
    let mut argv: Vec<String> = entrypoint.clone().unwrap_or_default();
    argv.extend(cmd.clone().unwrap_or_default());
    if argv.is_empty() {
        bail!("No command specified");
    }

    let mut healthcheck: Option<HealthConfig> = ic
        .get("Healthcheck")
        .and_then(|h| serde_json::from_value(h.clone()).ok());
    if f.no_healthcheck {
        healthcheck = Some(HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        });
    } else if f.health_cmd.is_some()
        || f.health_interval.is_some()
        || f.health_timeout.is_some()
        || f.health_retries.is_some()
        || f.health_start_period.is_some()
        || f.health_start_interval.is_some()
    {
        let mut h = healthcheck.unwrap_or_default();
        if let Some(c) = &f.health_cmd {
            h.test = vec!["CMD-SHELL".into(), c.clone()];
        }
        let d = |s: &Option<String>, cur: i64| -> anyhow::Result<i64> {
            s.as_deref().map(parse_duration_ns).unwrap_or(Ok(cur))
        };
        h.interval = d(&f.health_interval, h.interval)?;
        h.timeout = d(&f.health_timeout, h.timeout)?;
        h.start_period = d(&f.health_start_period, h.start_period)?;
        h.start_interval = d(&f.health_start_interval, h.start_interval)?;
        if let Some(r) = f.health_retries {
            h.retries = r;
        }
        if h.test.is_empty() {
            bail!("--health-* options need a healthcheck command (--health-cmd)");
        }
        healthcheck = Some(h);
    }

    let hostname = match (&f.hostname, net.network_mode.as_str()) {
        (Some(h), _) => h.clone(),
        (None, "host") => nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| id[..12].to_string()),
        (None, _) => id[..12].to_string(),
    };
    let mut all_labels: BTreeMap<String, String> = ic["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    all_labels.extend(labels(&f.label));

    let (mut mounts, mount_specs, tmpfs) = parse_mounts(f)?;
    // The image's VOLUMEs become anonymous volumes unless something is mounted there.
    let mut image_volumes: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    if let Some(vols) = ic["Volumes"].as_object() {
        for dst in vols.keys() {
            image_volumes.insert(dst.clone(), serde_json::json!({}));
            if !mounts
                .iter()
                .any(|m| m.destination.trim_end_matches('/') == dst.trim_end_matches('/'))
            {
                mounts.push(MountPoint {
                    r#type: "volume".into(),
                    destination: dst.clone(),
                    rw: true,
                    anonymous: true,
                    ..Default::default()
                });
            }
        }
    }
    let config = Config {
        hostname,
        user: f
            .user
            .clone()
            .unwrap_or_else(|| ic["User"].as_str().unwrap_or("").to_string()),
        attach_stdin: f.interactive,
        attach_stdout: true,
        attach_stderr: true,
        tty: f.tty,
        open_stdin: f.interactive,
        stdin_once: f.interactive,
        env,
        cmd,
        healthcheck,
        image: f.image.clone(),
        volumes: (!image_volumes.is_empty()).then_some(image_volumes),
        working_dir: f
            .workdir
            .clone()
            .unwrap_or_else(|| ic["WorkingDir"].as_str().unwrap_or("").to_string()),
        entrypoint,
        labels: all_labels,
        stop_signal: f
            .stop_signal
            .clone()
            .or_else(|| ic["StopSignal"].as_str().map(str::to_string)),
        stop_timeout: f.stop_timeout,
        exposed_ports: exposed_ports(&ic, &f.expose, &net.port_bindings)?,
        mac_address: f.mac_address.clone().unwrap_or_default(),
        ..Default::default()
    };
    let host_config = HostConfig {
        binds: f.volume.clone(),
        mounts: mount_specs,
        tmpfs,
        memory,
        nano_cpus: f.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
        pids_limit: f.pids_limit,
        readonly_rootfs: f.read_only,
        cap_add: f.cap_add.clone(),
        cap_drop: f.cap_drop.clone(),
        privileged: f.privileged,
        security_opt: f.security_opt.clone(),
        restart_policy: restart,
        init: f.init.then_some(true),
        auto_remove: f.rm,
        network_mode: net.network_mode.clone(),
        log_config: LogConfig::default(),
        port_bindings: net.port_bindings.clone(),
        publish_all_ports: f.publish_all,
        dns: f.dns.clone(),
        dns_search: f.dns_search.clone(),
        dns_options: f.dns_option.clone(),
        extra_hosts: f.add_host.clone(),
        links: f.link.clone(),
    };
    if let Some(s) = &config.stop_signal {
        crate::commands::kill::parse_signal(s)?;
    }
    // Volumes: named ones are created when missing, anonymous ones get a name now.
    let mut vstore = None;
    for m in mounts.iter_mut().filter(|m| m.r#type == "volume") {
        let vs = match &vstore {
            Some(v) => v,
            None => vstore.insert(VolumeStore::open(ctx)?),
        };
        let vol = vs.create(
            (!m.anonymous).then_some(m.name.as_str()),
            BTreeMap::new(),
            BTreeMap::new(),
            m.anonymous,
        )?;
        m.name = vol.name.clone();
        m.source = vol.mountpoint.to_string_lossy().into_owned();
        m.driver = vol.driver.clone();
    }
    let mut rec = ContainerRecord {
        id,
        name: f.name.clone().unwrap_or_default(),
        image: image.record.config.to_string(),
        image_name: image.record.name.clone(),
        created: crate::store::now_rfc3339(),
        path: argv[0].clone(),
        args: argv[1..].to_vec(),
        config,
        host_config,
        mounts,
        seccomp_profile,
        networking_config: net.networking.clone(),
    };
    let store = ContainerStore::open(ctx)?;
    let res = store.create(&mut rec, |dir| {
        let p = dir.join("bundle/rootfs");
        std::fs::create_dir_all(&p).map_err(|source| crate::container::ContainerError::Io {
            op: "create",
            path: p,
            source,
        })
    });
    if let Err(e) = res {
        // anonymous volumes made for this container are not anyone's
        if let Some(vs) = &vstore {
            for name in rec.anonymous_volumes() {
                let _ = vs.remove(&name, &[]);
            }
        }
        return Err(e.into());
    }
    Ok((rec, image))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("30s").unwrap(), 30_000_000_000);
        assert_eq!(parse_duration_ns("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration_ns("500ms").unwrap(), 500_000_000);
        assert!(parse_duration_ns("5").is_err());
    }

    #[test]
    fn env_merge() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        merge_env(&mut env, &["A=2".into(), "B=3".into()]);
        assert_eq!(env, vec!["PATH=/bin", "A=2", "B=3"]);
    }

    #[test]
    fn restart_policies() {
        assert_eq!(
            parse_restart("on-failure:3").unwrap().maximum_retry_count,
            3
        );
        assert_eq!(parse_restart("no").unwrap().name, "no");
        assert!(parse_restart("sometimes").is_err());
    }
}
