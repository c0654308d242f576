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
        let mut v2_path = None;
        for line in cg.lines() {
            let mut it = line.splitn(3, ':');
            let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
            if ctrls.split(',').any(|c| c == "memory") {
                let mnt =
                    usual_v1_mount(ctrls).or_else(|| cgroup_mount(&mountinfo(), Some("memory")))?;
                let file = PathBuf::from(format!("{mnt}{path}/memory.oom_control"));
                return Some(OomProbe::new(file));
            }
            if ctrls.is_empty() {
                v2_path = Some(path.to_string());
            }
        }
        let mnt = usual_v2_mount().or_else(|| cgroup_mount(&mountinfo(), None))?;
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

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default()
}

/// The memory hierarchy (named `ctrls` in /proc/PID/cgroup) where hosts mount it,
/// checked with statfs: a few syscalls, where mountinfo grows by two lines per
/// container. Under a /sys/fs/cgroup that is not itself a cgroup filesystem a
/// cgroup directory is a mount root, and memory.oom_control at its top makes it
/// the memory hierarchy.
fn usual_v1_mount(ctrls: &str) -> Option<String> {
    let root = std::path::Path::new(CGROUP_ROOT);
    if crate::sys::fs_magic(root) == Some(CGROUP_SUPER_MAGIC) {
        return None;
    }
    [ctrls, "memory"].into_iter().find_map(|name| {
        let dir = root.join(name);
        (crate::sys::fs_magic(&dir) == Some(CGROUP_SUPER_MAGIC)
            && dir.join("memory.oom_control").exists())
        .then(|| dir.to_string_lossy().into_owned())
    })
}

/// The cgroup2 mount where hosts have it: /sys/fs/cgroup (v2), or
/// /sys/fs/cgroup/unified (hybrid), by statfs.
fn usual_v2_mount() -> Option<String> {
    let root = std::path::Path::new(CGROUP_ROOT);
    match crate::sys::fs_magic(root) {
        Some(CGROUP2_SUPER_MAGIC) => Some(CGROUP_ROOT.to_string()),
        Some(CGROUP_SUPER_MAGIC) => None,
        _ => {
            let unified = root.join("unified");
            (crate::sys::fs_magic(&unified) == Some(CGROUP2_SUPER_MAGIC))
                .then(|| unified.to_string_lossy().into_owned())
        }
    }
}

/// Mount point of the v1 hierarchy holding `controller`, or of cgroup2 with None,
/// from mountinfo (hosts that mount cgroups elsewhere).
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
    /// The statfs look finds what the mountinfo fallback finds on this host.
    #[test]
    fn usual_mounts_match_mountinfo() {
        let info = super::mountinfo();
        let cg = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        if let Some(ctrls) = cg
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .find(|c| c.split(',').any(|c| c == "memory"))
        {
            if let Some(fast) = super::usual_v1_mount(ctrls) {
                assert_eq!(Some(fast), super::cgroup_mount(&info, Some("memory")));
            }
        }
        if let Some(fast) = super::usual_v2_mount() {
            assert_eq!(Some(fast), super::cgroup_mount(&info, None));
        }
    }

    #[test]
    fn mountinfo_fallback() {
        let info = "\
25 1 0:22 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755
27 25 0:24 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
35 25 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        assert_eq!(
            super::cgroup_mount(info, Some("memory")).as_deref(),
            Some("/sys/fs/cgroup/memory")
        );
        assert_eq!(
            super::cgroup_mount(info, None).as_deref(),
            Some("/sys/fs/cgroup/unified")
        );
        assert_eq!(super::cgroup_mount(info, Some("pids")), None);
    }

    #[test]
    fn parses_counter() {
        assert_eq!(
            super::parse_oom_kill("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            Some(2)
        );
        assert_eq!(super::parse_oom_kill("low 0\noom 1\noom_kill 1\n"), Some(1));
    }
}
