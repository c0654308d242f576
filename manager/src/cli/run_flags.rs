//! The rest of docker 20.10's `run`/`create` flags (flattened into
//! `CreateFlags`): resources, process options, devices, logging, and every
//! flag berth does not do, which is accepted by clap and refused with an
//! error naming it (never silently ignored).

use crate::container::options::{parse_labels, parse_size};
use crate::container::record::LogConfig;
use crate::container::{DeviceMapping, HostConfig, Ulimit};
use anyhow::{anyhow, bail, Context as _};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct RunFlags {
    /// Optional parent cgroup for the container
    #[arg(long)]
    pub cgroup_parent: Option<String>,
    /// Memory soft limit
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long)]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// Disable OOM Killer
    #[arg(long)]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long, allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// Size of /dev/shm
    #[arg(long)]
    pub shm_size: Option<String>,
    /// Sysctl options
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Ulimit options (NAME=SOFT[:HARD])
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Add a host device to the container (HOST[:CONTAINER[:rwm]])
    #[arg(long)]
    pub device: Vec<String>,
    /// Add additional groups to join
    #[arg(long)]
    pub group_add: Vec<String>,
    /// User namespace: host (opts out of the config's userns-remap) or
    /// auto[:size=N,uidmapping=C:H:N,gidmapping=C:H:N] (a range of its own)
    #[arg(long)]
    pub userns: Option<String>,
    /// Mount volumes from the specified container(s) (CONTAINER[:ro|rw])
    #[arg(long)]
    pub volumes_from: Vec<String>,
    /// Logging driver for the container (json-file, local, none)
    #[arg(long)]
    pub log_driver: Option<String>,
    /// Log driver options (max-size, max-file)
    #[arg(long)]
    pub log_opt: Vec<String>,
    /// Container NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
    /// Read in a line delimited file of labels
    #[arg(long)]
    pub label_file: Vec<String>,
    /// Write the container ID to the file
    #[arg(long)]
    pub cidfile: Option<String>,
    /// Skip image verification (berth does not verify signatures: always so)
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub disable_content_trust: Option<String>,
    // Docker's flags berth does not do: each is an error naming it.
    /// GPU devices to add to the container (not supported)
    #[arg(long, hide = true)]
    pub gpus: Option<String>,
    #[arg(long, hide = true)]
    pub blkio_weight_device: Vec<String>,
    #[arg(long, hide = true)]
    pub cgroupns: Option<String>,
    #[arg(long, hide = true)]
    pub cpu_rt_period: Option<String>,
    #[arg(long, hide = true)]
    pub cpu_rt_runtime: Option<String>,
    #[arg(long, hide = true)]
    pub device_cgroup_rule: Vec<String>,
    #[arg(long, hide = true)]
    pub device_read_bps: Vec<String>,
    #[arg(long, hide = true)]
    pub device_read_iops: Vec<String>,
    #[arg(long, hide = true)]
    pub device_write_bps: Vec<String>,
    #[arg(long, hide = true)]
    pub device_write_iops: Vec<String>,
    #[arg(long, hide = true)]
    pub ipc: Option<String>,
    #[arg(long, hide = true)]
    pub pid: Option<String>,
    #[arg(long, hide = true)]
    pub uts: Option<String>,
    #[arg(long, hide = true)]
    pub isolation: Option<String>,
    #[arg(long, hide = true)]
    pub kernel_memory: Option<String>,
    #[arg(long, hide = true, allow_hyphen_values = true)]
    pub memory_swappiness: Option<String>,
    #[arg(long, hide = true)]
    pub runtime: Option<String>,
    #[arg(long, hide = true)]
    pub storage_opt: Vec<String>,
    #[arg(long, hide = true)]
    pub volume_driver: Option<String>,
    #[arg(short = 'a', long, hide = true)]
    pub attach: Vec<String>,
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub sig_proxy: Option<String>,
    #[arg(long, hide = true)]
    pub cpu_count: Option<String>,
    #[arg(long, hide = true)]
    pub cpu_percent: Option<String>,
    #[arg(long, hide = true)]
    pub io_maxbandwidth: Option<String>,
    #[arg(long, hide = true)]
    pub io_maxiops: Option<String>,
}

fn size(flag: &str, v: &Option<String>) -> anyhow::Result<i64> {
    match v.as_deref() {
        None => Ok(0),
        Some("-1") => Ok(-1),
        Some(s) => parse_size(s).with_context(|| format!("--{flag}")),
    }
}

/// `NAME=SOFT[:HARD]`.
pub fn parse_ulimit(s: &str) -> anyhow::Result<Ulimit> {
    let (name, v) = s
        .split_once('=')
        .ok_or_else(|| anyhow!("invalid ulimit argument: {s} (expected NAME=SOFT[:HARD])"))?;
    crate::spec::resources::rlimit_type(name).map_err(|e| anyhow!(e))?;
    let num = |x: &str| -> anyhow::Result<i64> {
        x.parse()
            .map_err(|_| anyhow!("invalid ulimit argument: {s}: {x:?} is not a number"))
    };
    let (soft, hard) = match v.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(v)?, num(v)?),
    };
    if hard >= 0 && (soft > hard || soft < 0) {
        bail!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// `HOST[:CONTAINER][:PERMISSIONS]`.
pub fn parse_device(s: &str) -> anyhow::Result<DeviceMapping> {
    let parts: Vec<&str> = s.split(':').collect();
    let perms_ok = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
    let (host, cont, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if perms_ok(p) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] if perms_ok(p) => (*h, *c, *p),
        _ => bail!("invalid device specification: {s}"),
    };
    if !host.starts_with('/') || !cont.starts_with('/') {
        bail!("invalid device specification: {s}: paths must be absolute");
    }
    Ok(DeviceMapping {
        path_on_host: host.into(),
        path_in_container: cont.into(),
        cgroup_permissions: perms.into(),
    })
}

impl RunFlags {
    /// `--cidfile`: refused before anything is created when the file exists
    /// (docker's rule), written once the container is.
    pub fn check_cidfile(&self) -> anyhow::Result<()> {
        if let Some(f) = &self.cidfile {
            if std::path::Path::new(f).exists() {
                bail!("Container ID file found, make sure the other container isn't running or delete {f}");
            }
        }
        Ok(())
    }

    pub fn write_cidfile(&self, id: &str) -> anyhow::Result<()> {
        if let Some(f) = &self.cidfile {
            std::fs::write(f, id).with_context(|| format!("--cidfile {f}"))?;
        }
        Ok(())
    }

    /// Refuse the flags berth does not do, naming the flag.
    fn check_unsupported(&self) -> anyhow::Result<()> {
        if self.gpus.is_some() {
            bail!("--gpus is not supported: berth has no GPU device support (pass device nodes with --device)");
        }
        let set: [(&str, bool); 23] = [
            (
                "--blkio-weight-device",
                !self.blkio_weight_device.is_empty(),
            ),
            (
                "--cgroupns",
                self.cgroupns.as_deref().is_some_and(|m| m != "private"),
            ),
            ("--cpu-rt-period", self.cpu_rt_period.is_some()),
            ("--cpu-rt-runtime", self.cpu_rt_runtime.is_some()),
            ("--device-cgroup-rule", !self.device_cgroup_rule.is_empty()),
            ("--device-read-bps", !self.device_read_bps.is_empty()),
            ("--device-read-iops", !self.device_read_iops.is_empty()),
            ("--device-write-bps", !self.device_write_bps.is_empty()),
            ("--device-write-iops", !self.device_write_iops.is_empty()),
            (
                "--ipc (only host, private, shareable, container:NAME)",
                self.ipc
                    .as_deref()
                    .is_some_and(|m| ns_mode(m, true).is_none()),
            ),
            (
                "--pid (only host, container:NAME)",
                self.pid
                    .as_deref()
                    .is_some_and(|m| ns_mode(m, false).is_none()),
            ),
            ("--uts", self.uts.is_some()),
            (
                "--isolation",
                self.isolation.as_deref().is_some_and(|m| m != "default"),
            ),
            ("--kernel-memory", self.kernel_memory.is_some()),
            ("--memory-swappiness", self.memory_swappiness.is_some()),
            (
                "--runtime",
                self.runtime
                    .as_deref()
                    .is_some_and(|r| r != "berth-runtime"),
            ),
            ("--storage-opt", !self.storage_opt.is_empty()),
            (
                "--volume-driver",
                self.volume_driver.as_deref().is_some_and(|d| d != "local"),
            ),
            ("--attach", !self.attach.is_empty()),
            (
                "--sig-proxy=false",
                self.sig_proxy.as_deref() == Some("false"),
            ),
            ("--cpu-count", self.cpu_count.is_some()),
            ("--cpu-percent", self.cpu_percent.is_some()),
            (
                "--io-maxbandwidth/--io-maxiops",
                self.io_maxbandwidth.is_some() || self.io_maxiops.is_some(),
            ),
        ];
        if let Some((flag, _)) = set.iter().find(|(_, on)| *on) {
            bail!("{flag} is not supported by berth");
        }
        if let Some(m) = self.userns.as_deref() {
            crate::spec::userns::parse_mode(m)?;
        }
        Ok(())
    }

    /// Labels from `--label-file` (before `--label`'s, which win).
    pub fn file_labels(&self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for f in &self.label_file {
            let text = std::fs::read_to_string(f).with_context(|| format!("--label-file {f}"))?;
            out.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(String::from),
            );
        }
        // Validated as --label's are.
        let _ = parse_labels(&out);
        Ok(out)
    }

    /// Fill the host config with these flags.
    pub fn apply(&self, hc: &mut HostConfig) -> anyhow::Result<()> {
        self.check_unsupported()?;
        self.check_cidfile()?;
        hc.cgroup_parent = self.cgroup_parent.clone().unwrap_or_default();
        hc.memory_reservation = size("memory-reservation", &self.memory_reservation)?;
        hc.memory_swap = size("memory-swap", &self.memory_swap)?;
        if hc.memory_swap > 0 && hc.memory > 0 && hc.memory_swap < hc.memory {
            bail!("Minimum memoryswap limit should be larger than memory limit, see usage");
        }
        if hc.memory_swap > 0 && hc.memory == 0 {
            bail!("You should always set the Memory limit when using Memoryswap limit, see usage");
        }
        hc.cpu_shares = self.cpu_shares.unwrap_or(0);
        hc.cpu_period = self.cpu_period.unwrap_or(0);
        hc.cpu_quota = self.cpu_quota.unwrap_or(0);
        if hc.nano_cpus > 0 && (hc.cpu_period > 0 || hc.cpu_quota > 0) {
            bail!("Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set");
        }
        hc.cpuset_cpus = self.cpuset_cpus.clone().unwrap_or_default();
        hc.cpuset_mems = self.cpuset_mems.clone().unwrap_or_default();
        if let Some(w) = self.blkio_weight {
            if w != 0 && !(10..=1000).contains(&w) {
                bail!("--blkio-weight: invalid value {w}, must be between 10 and 1000");
            }
            hc.blkio_weight = w;
        }
        hc.oom_kill_disable = self.oom_kill_disable.then_some(true);
        hc.oom_score_adj = self.oom_score_adj.unwrap_or(0);
        if !(-1000..=1000).contains(&hc.oom_score_adj) {
            bail!(
                "Invalid value {}, range for oom score adj is [-1000, 1000]",
                hc.oom_score_adj
            );
        }
        hc.shm_size = size("shm-size", &self.shm_size)?;
        hc.pid_mode = self
            .pid
            .as_deref()
            .and_then(|m| ns_mode(m, false))
            .unwrap_or_default();
        hc.ipc_mode = self
            .ipc
            .as_deref()
            .and_then(|m| ns_mode(m, true))
            .unwrap_or_default();
        for s in &self.sysctl {
            let (k, v) = s.split_once('=').ok_or_else(|| {
                anyhow!("invalid argument {s:?} for --sysctl: expected KEY=VALUE")
            })?;
            crate::spec::resources::check_sysctl(k, hc.network_mode.is_host())
                .map_err(|e| anyhow!("--sysctl: {e}"))?;
            hc.sysctls.insert(k.into(), v.into());
        }
        hc.ulimits = self
            .ulimit
            .iter()
            .map(|u| parse_ulimit(u))
            .collect::<anyhow::Result<_>>()?;
        hc.devices = self
            .device
            .iter()
            .map(|d| parse_device(d))
            .collect::<anyhow::Result<_>>()?;
        hc.group_add = self.group_add.clone();
        hc.userns_mode = self.userns.clone().unwrap_or_default();
        hc.volumes_from = self.volumes_from.clone();
        for v in &hc.volumes_from {
            if let Some((_, mode)) = v.rsplit_once(':') {
                if !matches!(mode, "ro" | "rw") {
                    bail!("--volumes-from {v}: invalid mode {mode:?} (ro or rw)");
                }
            }
        }
        let driver = self
            .log_driver
            .clone()
            .unwrap_or_else(|| "json-file".into());
        if !matches!(driver.as_str(), "json-file" | "local" | "none") {
            bail!("--log-driver {driver}: not supported (berth has json-file, local and none)");
        }
        let mut config = std::collections::BTreeMap::new();
        for o in &self.log_opt {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| anyhow!("invalid --log-opt {o:?}: expected KEY=VALUE"))?;
            match k {
                "max-size" => {
                    parse_size(v).with_context(|| format!("--log-opt {o}"))?;
                }
                "max-file" => {
                    if v.parse::<u32>().ok().filter(|n| *n >= 1).is_none() {
                        bail!("--log-opt {o}: max-file must be a positive number");
                    }
                }
                "compress" | "mode" | "max-buffer-size" | "tag" | "labels" | "env" => {}
                _ => bail!("unknown log opt '{k}' for {driver} log driver"),
            }
            if driver == "none" {
                bail!("--log-opt {o}: the none log driver takes no options");
            }
            config.insert(k.to_string(), v.to_string());
        }
        hc.log_config = LogConfig {
            r#type: driver,
            config,
        };
        Ok(())
    }
}

/// `--pid`/`--ipc` as the host config keeps them (empty: the container's own);
/// None for a mode berth does not take.
fn ns_mode(m: &str, ipc: bool) -> Option<String> {
    match m {
        "" => Some(String::new()),
        "private" | "shareable" if ipc => Some(String::new()),
        "host" => Some("host".into()),
        m if m.strip_prefix("container:").is_some_and(|c| !c.is_empty()) => Some(m.into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulimits_devices_and_refusals() {
        let u = parse_ulimit("nofile=100:200").unwrap();
        assert_eq!((u.soft, u.hard), (100, 200));
        assert!(parse_ulimit("nofile=300:200").is_err());
        assert!(parse_ulimit("bogus=1").is_err());
        let d = parse_device("/dev/null:/dev/x:r").unwrap();
        assert_eq!(
            (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
            ("/dev/x", "r")
        );
        assert_eq!(
            parse_device("/dev/null").unwrap().path_in_container,
            "/dev/null"
        );
        assert!(parse_device("null").is_err());
        let mut hc = HostConfig::default();
        let f = RunFlags {
            gpus: Some("all".into()),
            ..Default::default()
        };
        assert!(f.apply(&mut hc).unwrap_err().to_string().contains("--gpus"));
        let f = RunFlags {
            pid: Some("private".into()),
            ..Default::default()
        };
        assert!(f.apply(&mut hc).unwrap_err().to_string().contains("--pid"));
        let f = RunFlags {
            pid: Some("container:db".into()),
            ipc: Some("host".into()),
            ..Default::default()
        };
        f.apply(&mut hc).unwrap();
        assert_eq!(
            (hc.pid_mode.as_str(), hc.ipc_mode.as_str()),
            ("container:db", "host")
        );
        let f = RunFlags {
            sysctl: vec!["kernel.panic=1".into()],
            ..Default::default()
        };
        assert!(f.apply(&mut hc).is_err());
        let f = RunFlags {
            sysctl: vec!["net.ipv4.ip_forward=1".into()],
            log_opt: vec!["max-size=1m".into()],
            ..Default::default()
        };
        f.apply(&mut hc).unwrap();
        assert_eq!(hc.log_config.config["max-size"], "1m");
    }
}
