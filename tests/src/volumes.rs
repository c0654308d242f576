//! Helpers for the volume and container-tool tests (`tests/tests/volumes.rs`,
//! `tests/tests/container_tools.rs`).

use crate::manager::{make_busybox_rootfs, Berth};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Import an image whose rootfs is busybox plus `/data/seed.txt` ("seeded from the
/// image\n", owned 1000:1000, mode 0640), a symlink `/data/link -> seed.txt` and an
/// empty `/data/sub/`.
#[track_caller]
pub fn import_seed_image(b: &Berth, name: &str) {
    let dir = b.scratch("seed-rootfs");
    make_busybox_rootfs(&dir);
    std::fs::create_dir_all(dir.join("data/sub")).unwrap();
    std::fs::write(dir.join("data/seed.txt"), "seeded from the image\n").unwrap();
    crate::sys::chown(&dir.join("data/seed.txt"), 1000, 1000);
    crate::sys::set_mode(&dir.join("data/seed.txt"), 0o640);
    std::os::unix::fs::symlink("seed.txt", dir.join("data/link")).unwrap();
    let tar = b.scratch("seed-tar").join("seed-rootfs.tar");
    let st = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(&dir)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("running tar");
    assert!(st.success(), "tar of the seed rootfs failed");
    b.run(&["import", &tar.to_string_lossy(), name]).assert_ok();
}

/// `berth run -d ARGS...`, returning the container id (the last line of stdout).
#[track_caller]
pub fn run_detached(b: &Berth, args: &[&str]) -> String {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    let out = b.run(&all);
    out.assert_ok();
    let id = out.stdout.lines().last().unwrap_or("").trim().to_string();
    assert_eq!(id.len(), 64, "run -d printed no id: {:?}", out.stdout);
    id
}

/// The host pid of a running container's init (`inspect --format {{.State.Pid}}`).
#[track_caller]
pub fn container_pid(b: &Berth, id: &str) -> i32 {
    let out = b.run(&["inspect", "--format", "{{.State.Pid}}", id]);
    out.assert_ok();
    out.stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no pid: {:?}", out.stdout))
}

/// A volume's `_data` directory under the test's root.
pub fn volume_data(b: &Berth, name: &str) -> PathBuf {
    b.root().join("volumes").join(name).join("_data")
}

/// Poll until `path` exists (a detached container wrote it).
pub fn wait_for_file(path: &Path, timeout: Duration) -> bool {
    crate::sys::wait_for(timeout, || path.exists().then_some(())).is_some()
}

/// Remove a container by force (for the end of a test).
#[track_caller]
pub fn rm_force(b: &Berth, id: &str) {
    b.cmd()
        .args(["rm", "-f", id])
        .timeout(Duration::from_secs(30))
        .run()
        .assert_ok();
}

/// File metadata helper: (uid, gid, mode & 0o7777).
pub fn owner_mode(p: &Path) -> (u32, u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

/// berth's failures: docker's exit codes (125 for berth's own errors, 1 for a verb that
/// reports per-argument failures), so any non-zero code with `needle` in stderr.
pub trait FailsWith {
    fn fails_with(&self, needle: &str) -> &Self;
}

impl FailsWith for crate::Output {
    #[track_caller]
    fn fails_with(&self, needle: &str) -> &Self {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a failure\n{self}"
        );
        assert!(
            self.stderr.to_lowercase().contains(&needle.to_lowercase()),
            "expected stderr to contain {needle:?}\n{self}"
        );
        self
    }
}
