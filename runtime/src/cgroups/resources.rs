//! `linux.resources` normalised into what the drivers write, with the
//! host-independent validation done up front (before any write). Zero means
//! "unset" wherever runc treats it so.

use oci_spec::runtime::LinuxResources;

use super::devices::{self, Emulator};
use super::error::{CgroupError, Result};

#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Memory {
    pub limit: Option<i64>,
    pub reservation: Option<i64>,
    /// v1 semantics: memory + swap.
    pub swap: Option<i64>,
    pub swappiness: Option<u64>,
    pub oom_kill_disable: bool,
    pub kernel_tcp: Option<i64>,
    pub check_before_update: bool,
}

impl Memory {
    pub fn requested(&self) -> bool {
        self.limit.is_some()
            || self.reservation.is_some()
            || self.swap.is_some()
            || self.swappiness.is_some()
            || self.oom_kill_disable
            || self.kernel_tcp.is_some()
    }
}

#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Cpu {
    pub shares: Option<u64>,
    pub quota: Option<i64>,
    pub period: Option<u64>,
    pub burst: Option<u64>,
    pub idle: Option<i64>,
    pub rt_runtime: Option<i64>,
    pub rt_period: Option<u64>,
}

impl Cpu {
    pub fn requested(&self) -> bool {
        self.shares.is_some()
            || self.quota.is_some()
            || self.period.is_some()
            || self.burst.is_some()
            || self.idle.is_some()
            || self.rt_requested()
    }
    pub fn rt_requested(&self) -> bool {
        self.rt_runtime.is_some() || self.rt_period.is_some()
    }
}

/// (major, minor, rate)
pub(crate) type Throttle = (i64, i64, u64);

#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct BlockIo {
    pub weight: Option<u16>,
    pub leaf_weight: Option<u16>,
    /// (major, minor, weight, leaf weight)
    pub weight_device: Vec<(i64, i64, Option<u16>, Option<u16>)>,
    pub read_bps: Vec<Throttle>,
    pub write_bps: Vec<Throttle>,
    pub read_iops: Vec<Throttle>,
    pub write_iops: Vec<Throttle>,
}

impl BlockIo {
    pub fn requested(&self) -> bool {
        self.weight.is_some()
            || self.leaf_weight.is_some()
            || !self.weight_device.is_empty()
            || self.throttle_requested()
    }
    pub fn throttle_requested(&self) -> bool {
        !(self.read_bps.is_empty()
            && self.write_bps.is_empty()
            && self.read_iops.is_empty()
            && self.write_iops.is_empty())
    }
    pub fn weight_requested(&self) -> bool {
        self.weight.is_some() || self.weight_device.iter().any(|w| w.2.is_some())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Res {
    pub memory: Memory,
    pub cpu: Cpu,
    pub cpus: Option<String>,
    pub mems: Option<String>,
    pub pids: Option<i64>,
    pub blkio: BlockIo,
    /// (page size such as "2MB", limit in bytes; negative = unlimited)
    pub hugepages: Vec<(String, i64)>,
    pub classid: Option<u32>,
    /// (interface, priority)
    pub ifprio: Vec<(String, u32)>,
    /// (device, hca_handles, hca_objects), sorted by device
    pub rdma: Vec<(String, Option<u32>, Option<u32>)>,
    /// cgroup v2 file → value, sorted by file
    pub unified: Vec<(String, String)>,
    /// Effective device rules (spec rules, then the defaults).
    pub devices: Emulator,
}

fn nonzero<T: Default + PartialEq>(v: Option<T>) -> Option<T> {
    v.filter(|v| *v != T::default())
}

fn valid_page_size(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && matches!(unit, "KB" | "MB" | "GB" | "TB" | "PB")
}

impl Res {
    pub fn from_spec(r: &LinuxResources) -> Result<Res> {
        let invalid = |m: String| Err(CgroupError::Invalid(m));

        let mut memory = Memory::default();
        if let Some(m) = r.memory() {
            memory.limit = nonzero(m.limit());
            memory.reservation = nonzero(m.reservation());
            memory.swap = nonzero(m.swap());
            for (name, v) in [
                ("limit", memory.limit),
                ("reservation", memory.reservation),
                ("swap", memory.swap),
            ] {
                if let Some(v) = v.filter(|v| *v < -1) {
                    return invalid(format!(
                        "memory.{name} {v} is invalid (want -1 for unlimited or a number of bytes)"
                    ));
                }
            }
            if let (Some(l), Some(s)) = (memory.limit, memory.swap) {
                if l > 0 && s > 0 && s < l {
                    return invalid(format!(
                        "memory+swap limit ({s}) should be >= memory limit ({l})"
                    ));
                }
            }
            // -1 (as u64) is the "unset" of Docker's API.
            memory.swappiness = m.swappiness().filter(|&v| v != u64::MAX);
            if let Some(v) = memory.swappiness.filter(|&v| v > 100) {
                return invalid(format!(
                    "invalid memory swappiness value: {v} (valid range is 0-100)"
                ));
            }
            memory.oom_kill_disable = m.disable_oom_killer().unwrap_or(false);
            memory.kernel_tcp = nonzero(m.kernel_tcp());
            memory.check_before_update = m.check_before_update().unwrap_or(false);
            if m.kernel().is_some() {
                // runc ignores it too: kernel memory limits are gone from
                // recent kernels and were never reliable.
                log::warn!("linux.resources.memory.kernel is deprecated and ignored");
            }
        }

        let mut cpu = Cpu::default();
        let (mut cpus, mut mems) = (None, None);
        if let Some(c) = r.cpu() {
            cpu.shares = nonzero(c.shares());
            cpu.quota = nonzero(c.quota());
            if c.period() == Some(0) && cpu.quota.is_some_and(|q| q > 0) {
                return invalid(format!(
                    "cpu quota {} requires a cpu period greater than 0",
                    cpu.quota.unwrap_or_default()
                ));
            }
            cpu.period = nonzero(c.period());
            cpu.burst = c.burst();
            cpu.idle = c.idle();
            cpu.rt_runtime = nonzero(c.realtime_runtime());
            cpu.rt_period = nonzero(c.realtime_period());
            let trimmed = |s: &Option<String>| {
                s.as_deref()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            cpus = trimmed(c.cpus());
            mems = trimmed(c.mems());
        }

        let pids = r.pids().map(|p| p.limit());

        let mut blkio = BlockIo::default();
        if let Some(b) = r.block_io() {
            blkio.weight = nonzero(b.weight());
            blkio.leaf_weight = nonzero(b.leaf_weight());
            for w in b.weight_device().iter().flatten() {
                blkio.weight_device.push((
                    w.major(),
                    w.minor(),
                    nonzero(w.weight()),
                    nonzero(w.leaf_weight()),
                ));
            }
            let conv = |v: &Option<Vec<oci_spec::runtime::LinuxThrottleDevice>>| {
                v.iter()
                    .flatten()
                    .map(|t| (t.major(), t.minor(), t.rate()))
                    .collect::<Vec<_>>()
            };
            blkio.read_bps = conv(b.throttle_read_bps_device());
            blkio.write_bps = conv(b.throttle_write_bps_device());
            blkio.read_iops = conv(b.throttle_read_iops_device());
            blkio.write_iops = conv(b.throttle_write_iops_device());
            let devs = blkio.weight_device.iter().map(|w| (w.0, w.1)).chain(
                [
                    &blkio.read_bps,
                    &blkio.write_bps,
                    &blkio.read_iops,
                    &blkio.write_iops,
                ]
                .into_iter()
                .flatten()
                .map(|t| (t.0, t.1)),
            );
            for (major, minor) in devs {
                if major < 0 || minor < 0 {
                    return invalid(format!(
                        "blockIO device {major}:{minor} is invalid (block I/O rules need an exact major:minor)"
                    ));
                }
            }
        }

        let mut hugepages = Vec::new();
        for h in r.hugepage_limits().iter().flatten() {
            let size = h.page_size().trim();
            if !valid_page_size(size) {
                return invalid(format!(
                    "invalid hugepage size {size:?} (want e.g. \"2MB\" or \"1GB\")"
                ));
            }
            hugepages.push((size.to_string(), h.limit()));
        }

        let mut classid = None;
        let mut ifprio = Vec::new();
        if let Some(n) = r.network() {
            classid = nonzero(n.class_id());
            for p in n.priorities().iter().flatten() {
                let name = p.name().trim();
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return invalid(format!("invalid network interface name {name:?}"));
                }
                ifprio.push((name.to_string(), p.priority()));
            }
        }

        let mut rdma: Vec<_> = r
            .rdma()
            .iter()
            .flatten()
            .map(|(dev, l)| (dev.clone(), l.hca_handles(), l.hca_objects()))
            .collect();
        rdma.sort();
        for (dev, h, o) in &rdma {
            if dev.is_empty() || dev.contains(char::is_whitespace) || (h.is_none() && o.is_none()) {
                return invalid(format!(
                    "invalid rdma limit for device {dev:?} (want a device name and hcaHandles and/or hcaObjects)"
                ));
            }
        }

        let mut unified: Vec<(String, String)> = r
            .unified()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        unified.sort();
        for (k, _) in &unified {
            if k.contains('/') || k.starts_with('.') || !k.contains('.') {
                return Err(CgroupError::Unified {
                    key: k.clone(),
                    reason: "the key must be a cgroup file name of the form CONTROLLER.PARAMETER"
                        .into(),
                });
            }
        }

        let rules = devices::rules_from_spec(r.devices().as_ref())?;
        let devices = Emulator::from_rules(&rules)?;

        Ok(Res {
            memory,
            cpu,
            cpus,
            mems,
            pids,
            blkio,
            hugepages,
            classid,
            ifprio,
            rdma,
            unified,
            devices,
        })
    }
}

/// runc's cpu.shares → cpu.weight mapping ([2, 262144] → [1, 10000]).
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        s if s <= 2 => 1,
        s if s >= 262_144 => 10_000,
        s => 1 + ((s - 2) * 9999) / 262_142,
    }
}

/// runc's blkio.weight → io.weight mapping ([10, 1000] → [1, 10000]).
pub(crate) fn blkio_weight_to_io(weight: u16) -> Option<u64> {
    let w = u64::from(weight);
    (10..=1000).contains(&w).then(|| 1 + (w - 10) * 9999 / 990)
}

/// memory.swap.max for v1-style (memory+swap, memory) values; None: leave
/// it alone.
pub(crate) fn swap_v2(swap: Option<i64>, limit: Option<i64>) -> Result<Option<String>> {
    match (swap, limit) {
        (None, Some(-1)) | (Some(-1), _) => Ok(Some("max".into())),
        (None, _) => Ok(None),
        (Some(s), Some(-1)) => Ok(Some(s.to_string())),
        (Some(_), None) => Err(CgroupError::Invalid(
            "unable to set swap limit without memory limit".into(),
        )),
        (Some(s), Some(l)) if s < l => Err(CgroupError::Invalid(format!(
            "memory+swap limit ({s}) should be >= memory limit ({l})"
        ))),
        (Some(s), Some(l)) => Ok(Some((s - l).to_string())),
    }
}

/// A v2 number: -1 means "max".
pub(crate) fn v2_num(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// pids.max: 0 or negative means no limit.
pub(crate) fn pids_max(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".into()
    }
}

/// io.max lines, one per device with all of its limits, e.g.
/// "8:0 rbps=1048576 wiops=100". A rate of 0 removes the limit ("max"),
/// as writing 0 does in v1.
pub(crate) fn io_max_lines(b: &BlockIo) -> Vec<String> {
    let mut devs: Vec<((i64, i64), Vec<String>)> = Vec::new();
    for (key, list) in [
        ("rbps", &b.read_bps),
        ("wbps", &b.write_bps),
        ("riops", &b.read_iops),
        ("wiops", &b.write_iops),
    ] {
        for &(major, minor, rate) in list {
            let val = if rate == 0 {
                "max".to_string()
            } else {
                rate.to_string()
            };
            let kv = format!("{key}={val}");
            match devs.iter_mut().find(|(d, _)| *d == (major, minor)) {
                Some((_, kvs)) => {
                    // A later entry for the same device and key wins.
                    kvs.retain(|e| !e.starts_with(&format!("{key}=")));
                    kvs.push(kv);
                }
                None => devs.push(((major, minor), vec![kv])),
            }
        }
    }
    devs.into_iter()
        .map(|((major, minor), kvs)| format!("{major}:{minor} {}", kvs.join(" ")))
        .collect()
}
