//! Container statistics in the shape of runc's `events --stats` output
//! (runc's types/events.go), field names and omission rules included: Go's
//! `omitempty` numbers and slices are skipped when zero/empty, `omitzero`
//! structs when all-zero.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{CgroupError, Result};
use super::fsutil::{self, parse_u64};

fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
    pub intel_rdt: IntelRdt,
    /// Filled by the runtime from the container's network namespace; null
    /// here, as in runc without interface stats.
    pub network_interfaces: Option<Vec<NetworkInterface>>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cpu {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: CpuUsage,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttling: Throttling,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
}

/// Nanoseconds.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(rename = "throttledPeriods", skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Nanoseconds.
    #[serde(rename = "throttledTime", skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: MemoryEntry,
    /// Memory + swap, as v1 reports it (v2 values are converted).
    #[serde(skip_serializing_if = "is_zero")]
    pub swap: MemoryEntry,
    #[serde(skip_serializing_if = "is_zero")]
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP", skip_serializing_if = "is_zero")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat as is.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pids {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// 0 when unlimited.
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Blkio {
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioQueueRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_queued_recursive: Vec<BlkioEntry>,
    #[serde(
        rename = "ioServiceTimeRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioWaitTimeRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioMergedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioTimeRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    #[serde(rename = "sectorsRecursive", skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PsiData {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    pub total: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PsiStats {
    #[serde(skip_serializing_if = "is_zero")]
    pub some: PsiData,
    #[serde(skip_serializing_if = "is_zero")]
    pub full: PsiData,
}

/// Intel RDT is not managed here; serialises as `{}` like runc without it.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntelRdt {}

/// runc's NetworkInterface (Go field names, no JSON tags).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkInterface {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

// ---- collection ----

fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    fsutil::read_opt(&dir.join(file))
}

fn parse_err(dir: &Path, file: &str, content: &str) -> CgroupError {
    CgroupError::Parse {
        path: dir.join(file),
        content: content.to_string(),
    }
}

/// "key value" lines into a map.
pub(crate) fn flat_keyed(dir: &Path, file: &str, text: &str) -> Result<BTreeMap<String, u64>> {
    let mut m = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line
            .split_once(' ')
            .ok_or_else(|| parse_err(dir, file, line))?;
        let v = parse_u64(v).ok_or_else(|| parse_err(dir, file, line))?;
        m.insert(k.to_string(), v);
    }
    Ok(m)
}

fn u64_of(dir: &Path, file: &str) -> Result<u64> {
    Ok(fsutil::read_u64_opt(dir, file)?.unwrap_or(0))
}

/// Parse a cpuset list such as "0-3,8".
pub(crate) fn parse_cpu_list(s: &str) -> Option<Vec<u16>> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// Hugepage sizes of the host in the cgroup file spelling ("2MB", "1GB").
fn hugepage_sizes() -> Vec<String> {
    let mut sizes: Vec<String> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let n = e.file_name().into_string().ok()?;
                    let kb: u64 = n
                        .strip_prefix("hugepages-")?
                        .strip_suffix("kB")?
                        .parse()
                        .ok()?;
                    Some(if kb >= 1 << 20 {
                        format!("{}GB", kb >> 20)
                    } else if kb >= 1 << 10 {
                        format!("{}MB", kb >> 10)
                    } else {
                        format!("{kb}KB")
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    sizes.sort();
    sizes
}

pub(crate) fn parse_psi(text: &str) -> Option<PsiStats> {
    let mut psi = PsiStats::default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let target = match it.next()? {
            "some" => &mut psi.some,
            "full" => &mut psi.full,
            _ => continue,
        };
        for kv in it {
            let (k, v) = kv.split_once('=')?;
            match k {
                "avg10" => target.avg10 = v.parse().ok()?,
                "avg60" => target.avg60 = v.parse().ok()?,
                "avg300" => target.avg300 = v.parse().ok()?,
                "total" => target.total = v.parse().ok()?,
                _ => {}
            }
        }
    }
    Some(psi)
}

fn psi_of(dir: &Path, file: &str) -> Option<PsiStats> {
    // PSI files exist but fail with EOPNOTSUPP when psi=0 on the cmdline.
    std::fs::read_to_string(dir.join(file))
        .ok()
        .and_then(|t| parse_psi(&t))
}

/// v1 blkio lines: "8:0 Read 123" or "8:0 123", "Total N" skipped.
pub(crate) fn parse_blkio(dir: &Path, file: &str, text: &str) -> Result<Vec<BlkioEntry>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split([' ', ':']).filter(|s| !s.is_empty()).collect();
        if f.len() == 2 && f[0] == "Total" {
            continue;
        }
        if f.len() < 3 {
            return Err(parse_err(dir, file, line));
        }
        let num = |s: &str| s.parse::<u64>().map_err(|_| parse_err(dir, file, line));
        let (op, value) = if f.len() >= 4 {
            (f[2].to_string(), num(f[3])?)
        } else {
            (String::new(), num(f[2])?)
        };
        out.push(BlkioEntry {
            major: num(f[0])?,
            minor: num(f[1])?,
            op,
            value,
        });
    }
    Ok(out)
}

fn memory_entry_v1(dir: &Path, prefix: &str) -> Result<MemoryEntry> {
    Ok(MemoryEntry {
        usage: u64_of(dir, &format!("{prefix}.usage_in_bytes"))?,
        max: u64_of(dir, &format!("{prefix}.max_usage_in_bytes"))?,
        failcnt: u64_of(dir, &format!("{prefix}.failcnt"))?,
        limit: u64_of(dir, &format!("{prefix}.limit_in_bytes"))?,
    })
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// v1: each controller's files from its own hierarchy.
pub(crate) fn collect_v1<'a>(dir_of: impl Fn(&str) -> Option<&'a Path>) -> Result<Stats> {
    let mut s = Stats::default();
    let present = |c: &str| dir_of(c).filter(|d| d.exists());

    if let Some(d) = present("cpuacct") {
        let u = &mut s.cpu.usage;
        u.total = u64_of(d, "cpuacct.usage")?;
        if let Some(t) = read_opt(d, "cpuacct.usage_percpu")? {
            u.percpu = t
                .split_whitespace()
                .map(|v| {
                    v.parse()
                        .map_err(|_| parse_err(d, "cpuacct.usage_percpu", &t))
                })
                .collect::<Result<_>>()?;
        }
        if let Some(t) = read_opt(d, "cpuacct.usage_all")? {
            // "cpu user system" header, then one line per cpu.
            for line in t.lines().skip(1) {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() >= 3 {
                    let n = |v: &str| {
                        v.parse::<u64>()
                            .map_err(|_| parse_err(d, "cpuacct.usage_all", line))
                    };
                    u.percpu_user.push(n(f[1])?);
                    u.percpu_kernel.push(n(f[2])?);
                }
            }
        }
        if let Some(t) = read_opt(d, "cpuacct.stat")? {
            let m = flat_keyed(d, "cpuacct.stat", &t)?;
            let ns = |ticks: u64| ticks.saturating_mul(1_000_000_000) / clock_ticks();
            u.user = ns(m.get("user").copied().unwrap_or(0));
            u.kernel = ns(m.get("system").copied().unwrap_or(0));
        }
    }
    if let Some(d) = present("cpu") {
        if let Some(t) = read_opt(d, "cpu.stat")? {
            let m = flat_keyed(d, "cpu.stat", &t)?;
            let th = &mut s.cpu.throttling;
            th.periods = m.get("nr_periods").copied().unwrap_or(0);
            th.throttled_periods = m.get("nr_throttled").copied().unwrap_or(0);
            th.throttled_time = m.get("throttled_time").copied().unwrap_or(0);
        }
    }
    if let Some(d) = present("cpuset") {
        let pre = if d.join("cpuset.cpus").exists() {
            "cpuset."
        } else {
            ""
        };
        let list = |name: &str| -> Result<Vec<u16>> {
            let file = format!("{pre}{name}");
            match read_opt(d, &file)? {
                Some(t) => parse_cpu_list(&t).ok_or_else(|| parse_err(d, &file, &t)),
                None => Ok(Vec::new()),
            }
        };
        let num = |name: &str| u64_of(d, &format!("{pre}{name}"));
        let c = &mut s.cpuset;
        c.cpus = list("cpus")?;
        c.mems = list("mems")?;
        c.cpu_exclusive = num("cpu_exclusive")?;
        c.mem_hardwall = num("mem_hardwall")?;
        c.mem_exclusive = num("mem_exclusive")?;
        c.memory_migrate = num("memory_migrate")?;
        c.memory_spread_page = num("memory_spread_page")?;
        c.memory_spread_slab = num("memory_spread_slab")?;
        c.memory_pressure = num("memory_pressure")?;
        c.sched_load_balance = num("sched_load_balance")?;
        c.sched_relax_domain_level = read_opt(d, &format!("{pre}sched_relax_domain_level"))?
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
    }
    if let Some(d) = present("memory") {
        let m = &mut s.memory;
        if let Some(t) = read_opt(d, "memory.stat")? {
            m.raw = flat_keyed(d, "memory.stat", &t)?;
        }
        m.cache = m.raw.get("cache").copied().unwrap_or(0);
        m.usage = memory_entry_v1(d, "memory")?;
        m.swap = memory_entry_v1(d, "memory.memsw")?;
        m.kernel = memory_entry_v1(d, "memory.kmem")?;
        m.kernel_tcp = memory_entry_v1(d, "memory.kmem.tcp")?;
    }
    if let Some(d) = present("pids") {
        s.pids.current = u64_of(d, "pids.current")?;
        s.pids.limit = match u64_of(d, "pids.max")? {
            u64::MAX => 0,
            v => v,
        };
    }
    if let Some(d) = present("blkio") {
        blkio_v1(d, &mut s.blkio)?;
    }
    if let Some(d) = present("hugetlb") {
        for size in hugepage_sizes() {
            let p = format!("hugetlb.{size}");
            if !d.join(format!("{p}.usage_in_bytes")).exists() {
                continue;
            }
            s.hugetlb.insert(
                size,
                Hugetlb {
                    usage: u64_of(d, &format!("{p}.usage_in_bytes"))?,
                    max: u64_of(d, &format!("{p}.max_usage_in_bytes"))?,
                    failcnt: u64_of(d, &format!("{p}.failcnt"))?,
                },
            );
        }
    }
    Ok(s)
}

/// runc's preference: BFQ debug stats, BFQ, CFQ, then the throttle stats
/// (recursive, else flat); the first group whose leading file exists wins.
fn blkio_v1(d: &Path, b: &mut Blkio) -> Result<()> {
    type Field = fn(&mut Blkio) -> &mut Vec<BlkioEntry>;
    let bytes: Field = |b| &mut b.io_service_bytes_recursive;
    let serviced: Field = |b| &mut b.io_serviced_recursive;
    let groups: [&[(&str, Field)]; 5] = [
        &[
            ("blkio.bfq.sectors_recursive", |b| &mut b.sectors_recursive),
            ("blkio.bfq.io_service_time_recursive", |b| {
                &mut b.io_service_time_recursive
            }),
            ("blkio.bfq.io_wait_time_recursive", |b| {
                &mut b.io_wait_time_recursive
            }),
            ("blkio.bfq.io_merged_recursive", |b| {
                &mut b.io_merged_recursive
            }),
            ("blkio.bfq.io_queued_recursive", |b| {
                &mut b.io_queued_recursive
            }),
            ("blkio.bfq.time_recursive", |b| &mut b.io_time_recursive),
            ("blkio.bfq.io_serviced_recursive", serviced),
            ("blkio.bfq.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.bfq.io_serviced_recursive", serviced),
            ("blkio.bfq.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.sectors_recursive", |b| &mut b.sectors_recursive),
            ("blkio.io_service_time_recursive", |b| {
                &mut b.io_service_time_recursive
            }),
            ("blkio.io_wait_time_recursive", |b| {
                &mut b.io_wait_time_recursive
            }),
            ("blkio.io_merged_recursive", |b| &mut b.io_merged_recursive),
            ("blkio.io_queued_recursive", |b| &mut b.io_queued_recursive),
            ("blkio.time_recursive", |b| &mut b.io_time_recursive),
            ("blkio.io_serviced_recursive", serviced),
            ("blkio.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.throttle.io_serviced_recursive", serviced),
            ("blkio.throttle.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.throttle.io_serviced", serviced),
            ("blkio.throttle.io_service_bytes", bytes),
        ],
    ];
    for group in groups {
        if !d.join(group[0].0).exists() {
            continue;
        }
        let mut out = Blkio::default();
        for (file, field) in group {
            let text = read_opt(d, file)?.unwrap_or_default();
            *field(&mut out) = parse_blkio(d, file, &text)?;
        }
        *b = out;
        return Ok(());
    }
    Ok(())
}

fn memory_entry_v2(dir: &Path, prefix: &str) -> Result<Option<MemoryEntry>> {
    let Some(usage) = fsutil::read_u64_opt(dir, &format!("{prefix}.current"))? else {
        return Ok(None);
    };
    Ok(Some(MemoryEntry {
        usage,
        limit: u64_of(dir, &format!("{prefix}.max"))?,
        // memory.peak since 5.19, memory.swap.peak since 6.5.
        max: u64_of(dir, &format!("{prefix}.peak"))?,
        failcnt: 0,
    }))
}

pub(crate) fn collect_v2(d: &Path) -> Result<Stats> {
    let mut s = Stats::default();
    if !d.exists() {
        return Err(CgroupError::fs(
            "stat",
            d,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    if let Some(t) = read_opt(d, "cpu.stat")? {
        let m = flat_keyed(d, "cpu.stat", &t)?;
        let g = |k: &str| m.get(k).copied().unwrap_or(0);
        s.cpu.usage.total = g("usage_usec") * 1000;
        s.cpu.usage.user = g("user_usec") * 1000;
        s.cpu.usage.kernel = g("system_usec") * 1000;
        s.cpu.throttling.periods = g("nr_periods");
        s.cpu.throttling.throttled_periods = g("nr_throttled");
        s.cpu.throttling.throttled_time = g("throttled_usec") * 1000;
    }
    s.cpu.psi = psi_of(d, "cpu.pressure");

    if let Some(t) = read_opt(d, "memory.stat")? {
        let m = &mut s.memory;
        m.raw = flat_keyed(d, "memory.stat", &t)?;
        m.cache = m.raw.get("file").copied().unwrap_or(0);
        if let Some(u) = memory_entry_v2(d, "memory")? {
            m.usage = u;
            if let Some(mut sw) = memory_entry_v2(d, "memory.swap")? {
                // v1 reports memory+swap; do the same for compatibility.
                sw.usage += m.usage.usage;
                if sw.limit != u64::MAX {
                    sw.limit = sw.limit.saturating_add(m.usage.limit);
                }
                sw.max = 0;
                m.swap = sw;
            }
        }
        if let Some(ev) = read_opt(d, "memory.events")? {
            m.usage.failcnt = fsutil::keyed_value(&ev, "max").unwrap_or(0);
        }
    }
    s.memory.psi = psi_of(d, "memory.pressure");

    if let Some(cur) = fsutil::read_u64_opt(d, "pids.current")? {
        s.pids.current = cur;
        s.pids.limit = match u64_of(d, "pids.max")? {
            u64::MAX => 0,
            v => v,
        };
    } else if let Some(t) = read_opt(d, "cgroup.procs")? {
        s.pids.current = t.lines().filter(|l| !l.is_empty()).count() as u64;
    }

    if let Some(t) = read_opt(d, "io.stat")? {
        for line in t.lines() {
            let mut it = line.split_whitespace();
            let Some((major, minor)) = it.next().and_then(|dev| dev.split_once(':')) else {
                continue;
            };
            let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else {
                return Err(parse_err(d, "io.stat", line));
            };
            for kv in it {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                let (op, list) = match k {
                    "rbytes" => ("Read", &mut s.blkio.io_service_bytes_recursive),
                    "wbytes" => ("Write", &mut s.blkio.io_service_bytes_recursive),
                    "rios" => ("Read", &mut s.blkio.io_serviced_recursive),
                    "wios" => ("Write", &mut s.blkio.io_serviced_recursive),
                    _ => continue,
                };
                list.push(BlkioEntry {
                    major,
                    minor,
                    op: op.into(),
                    value: v.parse().map_err(|_| parse_err(d, "io.stat", line))?,
                });
            }
        }
    }
    s.blkio.psi = psi_of(d, "io.pressure");

    for size in hugepage_sizes() {
        let p = format!("hugetlb.{size}");
        let usage = match fsutil::read_u64_opt(d, &format!("{p}.rsvd.current"))? {
            Some(v) => v,
            None => match fsutil::read_u64_opt(d, &format!("{p}.current"))? {
                Some(v) => v,
                None => continue,
            },
        };
        let failcnt = read_opt(d, &format!("{p}.events"))?
            .and_then(|t| fsutil::keyed_value(&t, "max"))
            .unwrap_or(0);
        s.hugetlb.insert(
            size,
            Hugetlb {
                usage,
                max: 0,
                failcnt,
            },
        );
    }
    Ok(s)
}
