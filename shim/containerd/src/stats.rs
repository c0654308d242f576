//! Task metrics in containerd's types, read from the init's cgroup: cgroup v1
//! (`io.containerd.cgroups.v1.Metrics`) where the memory controller is on a v1
//! hierarchy, else cgroup v2 (`io.containerd.cgroups.v2.Metrics`).

use containerd_shim_protos::cgroups::metrics as v1;
use containerd_shim_protos::cgroups_v2::metrics as v2;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::Message;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("reading /proc/{pid}/cgroup: {source}")]
    Proc { pid: i32, source: std::io::Error },
    #[error("encoding metrics: {0}")]
    Encode(String),
}

/// controller (or "" for the v2 unified line) -> (hierarchy dir name, path).
fn cgroups_of(pid: i32) -> Result<HashMap<String, (String, String)>, StatsError> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|source| StatsError::Proc { pid, source })?;
    Ok(parse_proc_cgroup(&text))
}

fn parse_proc_cgroup(text: &str) -> HashMap<String, (String, String)> {
    let mut m = HashMap::new();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if ctrls.is_empty() {
            m.insert(String::new(), (String::new(), path.to_string()));
            continue;
        }
        for c in ctrls.split(',') {
            m.insert(c.to_string(), (ctrls.to_string(), path.to_string()));
        }
    }
    m
}

fn read_u64(p: &Path) -> u64 {
    std::fs::read_to_string(p)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// "max" or a number (cgroup v2 limits); max as u64::MAX.
fn read_limit(p: &Path) -> u64 {
    match std::fs::read_to_string(p) {
        Ok(s) if s.trim() == "max" => u64::MAX,
        Ok(s) => s.trim().parse().unwrap_or(0),
        Err(_) => 0,
    }
}

fn read_kv(p: &Path) -> HashMap<String, u64> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect()
}

/// (The full protobuf names spelled out, see events.rs for why.)
const V1_METRICS: &str = "io.containerd.cgroups.v1.Metrics";
const V2_METRICS: &str = "io.containerd.cgroups.v2.Metrics";

fn pack<M: Message>(type_url: &str, m: &M) -> Result<Any, StatsError> {
    Ok(Any {
        type_url: type_url.to_string(),
        value: m
            .write_to_bytes()
            .map_err(|e| StatsError::Encode(e.to_string()))?,
        ..Default::default()
    })
}

pub fn collect(pid: i32) -> Result<Any, StatsError> {
    let cg = cgroups_of(pid)?;
    match cg.get("memory") {
        Some((h, path)) => {
            let dir = |ctrl: &str| -> Option<PathBuf> {
                cg.get(ctrl).map(|(h, p)| {
                    Path::new(CGROUP_ROOT)
                        .join(h)
                        .join(p.trim_start_matches('/'))
                })
            };
            let mem = Path::new(CGROUP_ROOT)
                .join(h)
                .join(path.trim_start_matches('/'));
            pack(
                V1_METRICS,
                &v1_metrics(&mem, dir("cpuacct").as_deref(), dir("pids").as_deref()),
            )
        }
        None => {
            let path = cg.get("").map(|(_, p)| p.clone()).unwrap_or_default();
            pack(
                V2_METRICS,
                &v2_metrics(&Path::new(CGROUP_ROOT).join(path.trim_start_matches('/'))),
            )
        }
    }
}

fn v1_metrics(mem: &Path, cpu: Option<&Path>, pids: Option<&Path>) -> v1::Metrics {
    let s = read_kv(&mem.join("memory.stat"));
    let g = |k: &str| s.get(k).copied().unwrap_or(0);
    let entry = |prefix: &str| v1::MemoryEntry {
        limit: read_u64(&mem.join(format!("{prefix}limit_in_bytes"))),
        usage: read_u64(&mem.join(format!("{prefix}usage_in_bytes"))),
        max: read_u64(&mem.join(format!("{prefix}max_usage_in_bytes"))),
        failcnt: read_u64(&mem.join(format!("{prefix}failcnt"))),
        ..Default::default()
    };
    let memory = v1::MemoryStat {
        cache: g("cache"),
        rss: g("rss"),
        rss_huge: g("rss_huge"),
        mapped_file: g("mapped_file"),
        dirty: g("dirty"),
        writeback: g("writeback"),
        pg_pg_in: g("pgpgin"),
        pg_pg_out: g("pgpgout"),
        pg_fault: g("pgfault"),
        pg_maj_fault: g("pgmajfault"),
        inactive_anon: g("inactive_anon"),
        active_anon: g("active_anon"),
        inactive_file: g("inactive_file"),
        active_file: g("active_file"),
        unevictable: g("unevictable"),
        hierarchical_memory_limit: g("hierarchical_memory_limit"),
        hierarchical_swap_limit: g("hierarchical_memsw_limit"),
        total_cache: g("total_cache"),
        total_rss: g("total_rss"),
        usage: Some(entry("memory.")).into(),
        swap: Some(entry("memory.memsw.")).into(),
        kernel: Some(entry("memory.kmem.")).into(),
        ..Default::default()
    };
    let mut m = v1::Metrics {
        memory: Some(memory).into(),
        ..Default::default()
    };
    if let Some(cpu) = cpu {
        let st = read_kv(&cpu.join("cpuacct.stat"));
        // cpuacct.stat is in USER_HZ ticks; containerd reports nanoseconds.
        let tick = 1_000_000_000 / 100;
        let per_cpu = std::fs::read_to_string(cpu.join("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        m.cpu = Some(v1::CPUStat {
            usage: Some(v1::CPUUsage {
                total: read_u64(&cpu.join("cpuacct.usage")),
                user: st.get("user").copied().unwrap_or(0) * tick,
                kernel: st.get("system").copied().unwrap_or(0) * tick,
                per_cpu,
                ..Default::default()
            })
            .into(),
            ..Default::default()
        })
        .into();
    }
    if let Some(p) = pids {
        m.pids = Some(v1::PidsStat {
            current: read_u64(&p.join("pids.current")),
            limit: match read_limit(&p.join("pids.max")) {
                u64::MAX => 0,
                n => n,
            },
            ..Default::default()
        })
        .into();
    }
    m
}

fn v2_metrics(dir: &Path) -> v2::Metrics {
    let s = read_kv(&dir.join("memory.stat"));
    let g = |k: &str| s.get(k).copied().unwrap_or(0);
    let cpu = read_kv(&dir.join("cpu.stat"));
    let c = |k: &str| cpu.get(k).copied().unwrap_or(0);
    v2::Metrics {
        pids: Some(v2::PidsStat {
            current: read_u64(&dir.join("pids.current")),
            limit: match read_limit(&dir.join("pids.max")) {
                u64::MAX => 0,
                n => n,
            },
            ..Default::default()
        })
        .into(),
        cpu: Some(v2::CPUStat {
            usage_usec: c("usage_usec"),
            user_usec: c("user_usec"),
            system_usec: c("system_usec"),
            nr_periods: c("nr_periods"),
            nr_throttled: c("nr_throttled"),
            throttled_usec: c("throttled_usec"),
            ..Default::default()
        })
        .into(),
        memory: Some(v2::MemoryStat {
            anon: g("anon"),
            file: g("file"),
            kernel_stack: g("kernel_stack"),
            slab: g("slab"),
            sock: g("sock"),
            shmem: g("shmem"),
            file_mapped: g("file_mapped"),
            file_dirty: g("file_dirty"),
            file_writeback: g("file_writeback"),
            inactive_anon: g("inactive_anon"),
            active_anon: g("active_anon"),
            inactive_file: g("inactive_file"),
            active_file: g("active_file"),
            unevictable: g("unevictable"),
            pgfault: g("pgfault"),
            pgmajfault: g("pgmajfault"),
            usage: read_u64(&dir.join("memory.current")),
            usage_limit: read_limit(&dir.join("memory.max")),
            swap_usage: read_u64(&dir.join("memory.swap.current")),
            swap_limit: read_limit(&dir.join("memory.swap.max")),
            ..Default::default()
        })
        .into(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_cgroup_hybrid() {
        let m = parse_proc_cgroup("12:memory:/ns/c1\n4:cpu,cpuacct:/ns/c1\n0::/ns/c1\n");
        assert_eq!(m["memory"], ("memory".into(), "/ns/c1".into()));
        assert_eq!(m["cpuacct"], ("cpu,cpuacct".into(), "/ns/c1".into()));
        assert_eq!(m[""].1, "/ns/c1");
    }

    #[test]
    fn metrics_type_urls() {
        use containerd_shim_protos::protobuf::MessageFull;
        assert_eq!(V1_METRICS, v1::Metrics::descriptor().full_name());
        assert_eq!(V2_METRICS, v2::Metrics::descriptor().full_name());
    }
}
