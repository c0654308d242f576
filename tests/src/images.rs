//! Helpers for the image tests: tar archives written byte by byte (so hostile
//! entries can be made), sha256 via `sha256sum`, and docker-archives built from
//! layer tars.

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// Kinds of tar entries (ustar type flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
}

/// One tar entry; `link` is the symlink/hardlink target.
pub struct Entry<'a> {
    pub name: &'a str,
    pub kind: Kind,
    pub data: &'a [u8],
    pub link: &'a str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u64,
}

pub fn file<'a>(name: &'a str, data: &'a [u8]) -> Entry<'a> {
    Entry {
        name,
        kind: Kind::File,
        data,
        link: "",
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 1_600_000_000,
    }
}
pub fn dir(name: &str) -> Entry<'_> {
    Entry {
        name,
        kind: Kind::Dir,
        data: b"",
        link: "",
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: 1_600_000_000,
    }
}
pub fn symlink<'a>(name: &'a str, target: &'a str) -> Entry<'a> {
    Entry {
        name,
        kind: Kind::Symlink,
        data: b"",
        link: target,
        mode: 0o777,
        uid: 0,
        gid: 0,
        mtime: 1_600_000_000,
    }
}
pub fn hardlink<'a>(name: &'a str, target: &'a str) -> Entry<'a> {
    Entry {
        name,
        kind: Kind::Hardlink,
        data: b"",
        link: target,
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 1_600_000_000,
    }
}

fn octal(field: &mut [u8], v: u64) {
    let s = format!("{:0width$o}\0", v, width = field.len() - 1);
    field.copy_from_slice(s.as_bytes());
}

/// A tar archive of `entries` (ustar headers, names up to 100 bytes).
pub fn tar(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = [0u8; 512];
        assert!(e.name.len() <= 100 && e.link.len() <= 100);
        h[..e.name.len()].copy_from_slice(e.name.as_bytes());
        octal(&mut h[100..108], e.mode as u64);
        octal(&mut h[108..116], e.uid as u64);
        octal(&mut h[116..124], e.gid as u64);
        let size = if e.kind == Kind::File {
            e.data.len()
        } else {
            0
        };
        octal(&mut h[124..136], size as u64);
        octal(&mut h[136..148], e.mtime);
        h[156] = match e.kind {
            Kind::File => b'0',
            Kind::Hardlink => b'1',
            Kind::Symlink => b'2',
            Kind::Dir => b'5',
        };
        h[157..157 + e.link.len()].copy_from_slice(e.link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        out.extend_from_slice(&h);
        if e.kind == Kind::File {
            out.extend_from_slice(e.data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// sha256 hex of `data` (coreutils' sha256sum).
pub fn sha256_hex(data: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)[..64].to_string()
}

/// A docker-archive (docker save's layout) of one image with these
/// uncompressed layers, named `tag` (e.g. "two:latest"). Returns the archive
/// and the image id (`sha256:<config digest>`).
pub fn docker_archive(layers: &[Vec<u8>], tag: &str, cmd: &[&str]) -> (Vec<u8>, String) {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha256_hex(l)))
        .collect();
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": cmd, "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": layers.iter().enumerate().map(|(i, _)| json!({"created": "2024-01-02T03:04:05Z", "created_by": format!("layer {i}")})).collect::<Vec<Value>>(),
    });
    let cbytes = serde_json::to_vec(&config).unwrap();
    let chex = sha256_hex(&cbytes);
    let cname = format!("{chex}.json");
    let lnames: Vec<String> = diff_ids
        .iter()
        .map(|d| format!("{}/layer.tar", &d[7..]))
        .collect();
    let manifest = json!([{"Config": cname, "RepoTags": [tag], "Layers": lnames}]);
    let mbytes = serde_json::to_vec(&manifest).unwrap();
    let mut entries = vec![file(&cname, &cbytes)];
    for (n, l) in lnames.iter().zip(layers) {
        entries.push(file(n, l));
    }
    entries.push(file("manifest.json", &mbytes));
    (tar(&entries), format!("sha256:{chex}"))
}

/// Whether a command exists in PATH.
pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Files directly inside `dir` (names), sorted; empty if it does not exist.
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The value of an xattr on `p` (without following a final symlink).
pub fn lgetxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let cp = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    let cn = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    let n =
        unsafe { libc::lgetxattr(cp.as_ptr(), cn.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}
