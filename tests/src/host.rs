//! Host-listing primitives: what is on the host right now (directory entries,
//! processes, cgroups, bridges, nftables tables), read from the host's side.
//! Both censuses count from these: [`crate::census`] (one live root's
//! leftovers) and [`crate::host_census`] (what gone roots left).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The entry names of `dir`; empty when it cannot be read.
pub fn dir_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A command's stdout; empty when it cannot run (a tool the host lacks
/// has nothing to list).
pub fn command_out(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    crate::sys::proc_stat(pid).is_some_and(|(s, _)| s != 'Z')
}

/// The live (non-zombie) processes on the host.
pub fn live_pids() -> Vec<i32> {
    dir_names(Path::new("/proc"))
        .iter()
        .filter_map(|p| p.parse::<i32>().ok())
        .filter(|p| alive(*p))
        .collect()
}

/// A process's arguments (the last one empty, from the trailing NUL);
/// None when it is gone.
pub fn argv(pid: i32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// A process's command line, arguments joined by spaces; empty when gone.
pub fn cmdline(pid: i32) -> String {
    argv(pid)
        .map(|a| a.join(" ").trim().to_string())
        .unwrap_or_default()
}

/// `parent` in every cgroup hierarchy (`/sys/fs/cgroup/<h>/<parent>`),
/// whether it exists or not.
pub fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    dir_names(base)
        .into_iter()
        .map(|h| base.join(h).join(parent))
        .collect()
}

/// The bridges on the host: name -> label (its ifalias, empty when none).
pub fn bridges() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for name in dir_names(Path::new("/sys/class/net")) {
        let dev = Path::new("/sys/class/net").join(&name);
        if dev.join("bridge").is_dir() {
            let alias = std::fs::read_to_string(dev.join("ifalias")).unwrap_or_default();
            out.insert(name, alias.trim().to_string());
        }
    }
    out
}

/// The interfaces enslaved to `bridge` (none when it does not exist).
pub fn ports_of(bridge: &str) -> Vec<String> {
    dir_names(&Path::new("/sys/class/net").join(bridge).join("brif"))
}

/// Every nftables table on the host: (family, name).
pub fn nft_tables() -> Vec<(String, String)> {
    command_out("nft", &["list", "tables"])
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            ["table", family, name] => Some((family.to_string(), name.to_string())),
            _ => None,
        })
        .collect()
}
