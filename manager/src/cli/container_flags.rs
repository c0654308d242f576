//! The flags of `run` and `create` (docker's), and how they become the
//! lifecycle's `CreateOptions`.

use crate::container::options::{
    parse_duration_ns, parse_labels, parse_mount, parse_restart, parse_size, parse_tmpfs,
    read_env_file, resolve_env,
};
use crate::container::{Config, CreateOptions, HealthConfig, HostConfig, ImageSource, PullPolicy};
use anyhow::{bail, Context as _};
use std::collections::BTreeMap;

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
    /// IPv6 address (e.g., 2001:db8::33) on the first network
    #[arg(long)]
    pub ip6: Option<String>,
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
    // The everyday branch's flags: the rest of docker's `run` flags.
    #[command(flatten)]
    pub more: super::run_flags::RunFlags,
    /// The image
    pub image: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

impl CreateFlags {
    /// The lifecycle's options for these flags (flags are checked here,
    /// before anything is pulled or created).
    pub fn to_options(&self) -> anyhow::Result<CreateOptions> {
        let memory = self
            .memory
            .as_deref()
            .map(parse_size)
            .transpose()
            .context("--memory")?
            .unwrap_or(0);
        let pull: PullPolicy = self.pull.parse()?;
        let mut env = Vec::new();
        for file in &self.env_file {
            env.extend(read_env_file(file)?);
        }
        env.extend(self.env.iter().cloned());
        let healthcheck = if self.no_healthcheck {
            Some(HealthConfig {
                test: vec!["NONE".into()],
                ..Default::default()
            })
        } else if self.health_cmd.is_some()
            || self.health_interval.is_some()
            || self.health_timeout.is_some()
            || self.health_retries.is_some()
            || self.health_start_period.is_some()
            || self.health_start_interval.is_some()
        {
            let d = |s: &Option<String>| -> anyhow::Result<i64> {
                Ok(s.as_deref()
                    .map(parse_duration_ns)
                    .transpose()?
                    .unwrap_or(0))
            };
            Some(HealthConfig {
                test: self
                    .health_cmd
                    .iter()
                    .flat_map(|c| ["CMD-SHELL".to_string(), c.clone()])
                    .collect(),
                interval: d(&self.health_interval)?,
                timeout: d(&self.health_timeout)?,
                start_period: d(&self.health_start_period)?,
                start_interval: d(&self.health_start_interval)?,
                retries: self.health_retries.unwrap_or(0),
            })
        } else {
            None
        };
        let mut tmpfs = BTreeMap::new();
        for t in &self.tmpfs {
            let (dst, opts) = parse_tmpfs(t)?;
            if tmpfs.insert(dst.clone(), opts).is_some() {
                bail!("Duplicate mount point: {dst}");
            }
        }
        let config = Config {
            hostname: self.hostname.clone().unwrap_or_default(),
            user: self.user.clone().unwrap_or_default(),
            attach_stdin: self.interactive,
            attach_stdout: true,
            attach_stderr: true,
            tty: self.tty,
            open_stdin: self.interactive,
            stdin_once: self.interactive,
            env: resolve_env(&env),
            cmd: (!self.command.is_empty()).then(|| self.command.clone()),
            healthcheck,
            working_dir: self.workdir.clone().unwrap_or_default(),
            entrypoint: self.entrypoint.as_ref().map(|e| {
                if e.is_empty() {
                    Vec::new()
                } else {
                    vec![e.clone()]
                }
            }),
            labels: parse_labels(
                &self
                    .more
                    .file_labels()?
                    .into_iter()
                    .chain(self.label.iter().cloned())
                    .collect::<Vec<_>>(),
            ),
            domainname: self.more.domainname.clone().unwrap_or_default(),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            exposed_ports: crate::network::request::parse_expose(&self.expose)?,
            mac_address: self.mac_address.clone().unwrap_or_default(),
            ..Default::default()
        };
        let net = crate::network::request::parse(&crate::network::request::NetFlags {
            networks: self.network.clone(),
            ip: self.ip.clone(),
            ip6: self.ip6.clone(),
            mac_address: self.mac_address.clone(),
            aliases: self.network_alias.clone(),
            publish: self.publish.clone(),
            publish_all: self.publish_all,
            links: self.link.clone(),
            add_hosts: self.add_host.clone(),
        })?;
        let mut host_config = HostConfig {
            binds: self.volume.clone(),
            mounts: self
                .mount
                .iter()
                .map(|m| parse_mount(m))
                .collect::<Result<_, _>>()?,
            tmpfs,
            memory,
            nano_cpus: self.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
            pids_limit: self.pids_limit,
            readonly_rootfs: self.read_only,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            security_opt: self.security_opt.clone(),
            restart_policy: parse_restart(&self.restart)?,
            init: self.init.then_some(true),
            auto_remove: self.rm,
            network_mode: net.network_mode,
            log_config: Default::default(),
            port_bindings: net.port_bindings,
            publish_all_ports: self.publish_all,
            dns: self.dns.clone(),
            dns_search: self.dns_search.clone(),
            dns_options: self.dns_option.clone(),
            extra_hosts: self.add_host.clone(),
            links: self.link.clone(),
            ..Default::default()
        };
        self.more.apply(&mut host_config)?;
        let mut opts = CreateOptions::new(ImageSource::Ref(self.image.clone(), pull));
        opts.name = self.name.clone();
        opts.platform = self.platform.clone();
        opts.config = config;
        opts.host_config = host_config;
        opts.networking = net.networking;
        Ok(opts)
    }
}
