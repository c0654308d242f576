//! Detecting that the kernel's OOM killer ended the container: the `oom_kill` counter
//! of the container's memory cgroup (v1 `memory.oom_control`, v2 `memory.events`),
//! located from /proc/<init>/cgroup while the init lives and read before `delete`
//! removes the cgroup.

use std::path::PathBuf;

pub struct OomProbe {
    file: PathBuf,
    baseline: u64,
}

impl OomProbe {
    /// Find the memory cgroup of `pid` (call right after `create`).
    pub fn for_pid(pid: i32) -> Option<OomProbe> {
        let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut v2_path = None;
        for line in cg.lines() {
            let mut it = line.splitn(3, ':');
            let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
            if ctrls.split(',').any(|c| c == "memory") {
                let mnt = cgroup_mount(&mounts, Some("memory"))?;
                let file = PathBuf::from(format!("{mnt}{path}/memory.oom_control"));
                return Some(OomProbe::new(file));
            }
            if ctrls.is_empty() {
                v2_path = Some(path.to_string());
            }
        }
        let mnt = cgroup_mount(&mounts, None)?;
        let file = PathBuf::from(format!("{mnt}{}/memory.events", v2_path?));
        file.exists().then(|| OomProbe::new(file))
    }

    fn new(file: PathBuf) -> OomProbe {
        let baseline = read_oom_kill(&file).unwrap_or(0);
        OomProbe { file, baseline }
    }

    /// Whether the OOM killer killed a process of the cgroup since the probe was made.
    pub fn killed(&self) -> bool {
        read_oom_kill(&self.file).is_some_and(|n| n > self.baseline)
    }
}

fn read_oom_kill(file: &PathBuf) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    parse_oom_kill(&text)
}

pub fn parse_oom_kill(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

/// Mount point of the v1 hierarchy holding `controller`, or of cgroup2 with None.
fn cgroup_mount(mountinfo: &str, controller: Option<&str>) -> Option<String> {
    for l in mountinfo.lines() {
        let (pre, post) = l.split_once(" - ")?;
        let mut post = post.split(' ');
        let fstype = post.next()?;
        let _src = post.next();
        let opts = post.next().unwrap_or("");
        let mnt = pre.split(' ').nth(4)?;
        match controller {
            Some(c) if fstype == "cgroup" && opts.split(',').any(|o| o == c) => {
                return Some(mnt.to_string())
            }
            None if fstype == "cgroup2" => return Some(mnt.to_string()),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_counter() {
        assert_eq!(
            super::parse_oom_kill("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            Some(2)
        );
        assert_eq!(super::parse_oom_kill("low 0\noom 1\noom_kill 1\n"), Some(1));
    }
}
