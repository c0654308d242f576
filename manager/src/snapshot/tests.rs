//! Extraction and overlay tests (as root: whiteouts need mknod, opaque dirs
//! trusted.* xattrs, and the overlay mount CAP_SYS_ADMIN).

use super::extract::extract_layer;
use super::*;
use crate::store::ContentStore;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn tmpdir(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("berth-snap-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn is_root() -> bool {
    crate::sys::is_root()
}

/// A tar entry with a raw name (the tar crate's builder refuses hostile ones).
pub fn raw_entry(
    b: &mut tar::Builder<Vec<u8>>,
    name: &str,
    kind: tar::EntryType,
    data: &[u8],
    link: Option<&str>,
    mode: u32,
) {
    let mut h = tar::Header::new_ustar();
    {
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            old.linkname = [0; 100];
            old.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
    }
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn blob(cs: &ContentStore, entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Digest {
    let mut b = tar::Builder::new(Vec::new());
    for (n, k, d, l) in entries {
        let mode = if *k == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        };
        raw_entry(&mut b, n, *k, d, *l, mode);
    }
    cs.put(&b.into_inner().unwrap()).unwrap()
}

use tar::EntryType as T;

#[test]
fn extracts_files_links_and_metadata() {
    let dir = tmpdir("basic");
    let cs = ContentStore::open(&dir).unwrap();
    let d = blob(
        &cs,
        &[
            ("./", T::Directory, b"", None),
            ("a/", T::Directory, b"", None),
            ("a/f", T::Regular, b"hello", None),
            ("a/l", T::Symlink, b"", Some("/etc/passwd")),
            ("a/h", T::Link, b"", Some("a/f")),
            ("deep/er/x", T::Regular, b"x", None),
        ],
    );
    let out = dir.join("out");
    std::fs::create_dir(&out).unwrap();
    let st = extract_layer(&cs.open_blob(&d).unwrap(), &d, Some(&d), &out).unwrap();
    assert_eq!(st.size, 6);
    assert_eq!(std::fs::read(out.join("a/f")).unwrap(), b"hello");
    assert_eq!(
        std::fs::read_link(out.join("a/l")).unwrap(),
        Path::new("/etc/passwd")
    );
    let m = std::fs::metadata(out.join("a/f")).unwrap();
    assert_eq!(m.nlink(), 2);
    assert_eq!(m.mtime(), 1_600_000_000);
    assert_eq!(m.permissions().mode() & 0o7777, 0o644);
    assert_eq!(
        std::fs::metadata(out.join("a")).unwrap().mtime(),
        1_600_000_000
    );
    assert_eq!(std::fs::read(out.join("deep/er/x")).unwrap(), b"x");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refuses_hostile_entries() {
    let dir = tmpdir("hostile");
    let cs = ContentStore::open(&dir).unwrap();
    type Case<'a> = (
        Vec<(&'a str, T, &'a [u8], Option<&'a str>)>,
        &'a str,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            vec![("../escape", T::Regular, b"x", None)],
            "../escape",
            "..",
        ),
        (vec![("/abs", T::Regular, b"x", None)], "/abs", "absolute"),
        (
            vec![
                ("evil", T::Symlink, b"", Some("/")),
                ("evil/etc/x", T::Regular, b"x", None),
            ],
            "evil/etc/x",
            "symlink",
        ),
        (
            vec![
                ("rel", T::Symlink, b"", Some("../../..")),
                ("rel/x", T::Regular, b"x", None),
            ],
            "rel/x",
            "symlink",
        ),
        (
            vec![("h", T::Link, b"", Some("../../outside"))],
            "h",
            "hard link target",
        ),
        (
            vec![("h", T::Link, b"", Some("/etc/passwd"))],
            "h",
            "hard link target",
        ),
    ];
    for (i, (entries, name, why)) in cases.into_iter().enumerate() {
        let d = blob(&cs, &entries);
        let base = dir.join(format!("case{i}"));
        let out = base.join("a/b/out");
        std::fs::create_dir_all(&out).unwrap();
        let e = extract_layer(&cs.open_blob(&d).unwrap(), &d, None, &out).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, SnapshotError::Unsafe { .. })
                && msg.contains(&format!("{name:?}"))
                && msg.contains(d.as_str())
                && msg.contains(why),
            "case {i}: {msg}"
        );
        // Nothing was written outside the target.
        assert!(!base.join("a/b/escape").exists());
        assert!(!base.join("a/b/x").exists() && !base.join("x").exists());
        assert!(!Path::new("/etc/x").exists());
        assert!(!base.join("outside").exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn detects_corrupt_and_wrong_diff_id() {
    let dir = tmpdir("corrupt");
    let cs = ContentStore::open(&dir).unwrap();
    let d = blob(&cs, &[("f", T::Regular, b"data", None)]);
    let out = dir.join("out");
    std::fs::create_dir(&out).unwrap();
    let wrong = Digest::sha256(b"nope");
    let e = extract_layer(&cs.open_blob(&d).unwrap(), &d, Some(&wrong), &out).unwrap_err();
    assert!(matches!(e, SnapshotError::DiffIdMismatch { .. }), "{e}");
    // Flip a byte of file content: the blob no longer matches its name.
    let mut data = std::fs::read(cs.blob_path(&d)).unwrap();
    data[512] ^= 1;
    std::fs::write(cs.blob_path(&d), &data).unwrap();
    let out2 = dir.join("out2");
    std::fs::create_dir(&out2).unwrap();
    let e = extract_layer(&cs.open_blob(&d).unwrap(), &d, None, &out2).unwrap_err();
    assert!(
        matches!(e, SnapshotError::BlobCorrupt { .. }) && e.to_string().contains(d.as_str()),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whiteouts and opaque dirs become overlay's, and an overlay of two layers
/// shows the deletion and the opaque directory.
#[test]
fn whiteouts_and_opaque_dirs_through_overlay() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tmpdir("overlay");
    let cs = ContentStore::open(&dir).unwrap();
    let l1 = blob(
        &cs,
        &[
            ("keep", T::Regular, b"k", None),
            ("gone", T::Regular, b"g", None),
            ("opq/", T::Directory, b"", None),
            ("opq/old", T::Regular, b"o", None),
        ],
    );
    let l2 = blob(
        &cs,
        &[
            (".wh.gone", T::Regular, b"", None),
            ("opq/", T::Directory, b"", None),
            ("opq/.wh..wh..opq", T::Regular, b"", None),
            ("opq/new", T::Regular, b"n", None),
        ],
    );
    let snaps = SnapshotStore::open(&dir).unwrap();
    let chains = chain_ids(&[l1.clone(), l2.clone()]);
    snaps.unpack_layer(&cs, &l1, &l1, &chains[0]).unwrap();
    snaps.unpack_layer(&cs, &l2, &l2, &chains[1]).unwrap();
    let top = snaps.fs(&chains[1]);
    let wh = std::fs::symlink_metadata(top.join("gone")).unwrap();
    use std::os::unix::fs::FileTypeExt;
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    let v = crate::sys::fs::getxattr(&top.join("opq"), c"trusted.overlay.opaque").unwrap();
    assert_eq!(v.as_deref(), Some(&b"y"[..]));
    // A manual overlay of the two snapshots.
    let rootfs = dir.join("rootfs");
    let cfg = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [l1.to_string(), l2.to_string()]}
    });
    let cd = cs.put(cfg.to_string().as_bytes()).unwrap();
    let m = serde_json::json!({
        "schemaVersion": 2,
        "config": {"mediaType": crate::image::media::OCI_CONFIG, "digest": cd.to_string(), "size": 1},
        "layers": [
            {"mediaType": crate::image::media::OCI_LAYER, "digest": l1.to_string(), "size": 1},
            {"mediaType": crate::image::media::OCI_LAYER, "digest": l2.to_string(), "size": 1}
        ]
    });
    let md = cs.put(m.to_string().as_bytes()).unwrap();
    let img = Image::load(
        &cs,
        crate::store::ImageRecord {
            name: "docker.io/library/t:latest".into(),
            manifest: md,
            manifest_media_type: crate::image::media::OCI_MANIFEST.into(),
            manifest_size: 1,
            config: cd,
            created: String::new(),
        },
    )
    .unwrap();
    snaps.unpack(&cs, &img).unwrap(); // already there: no-op
    assert_eq!(
        snaps.lowerdirs(&img).unwrap(),
        vec![top.clone(), snaps.fs(&chains[0])]
    );
    snaps
        .mount_rootfs(&img, &dir.join("upper"), &dir.join("work"), &rootfs, false)
        .unwrap();
    let keep = std::fs::read(rootfs.join("keep"));
    let gone = rootfs.join("gone").exists();
    let old = rootfs.join("opq/old").exists();
    let new = std::fs::read(rootfs.join("opq/new"));
    std::fs::write(rootfs.join("written"), b"w").unwrap();
    SnapshotStore::unmount_rootfs(&rootfs).unwrap();
    assert_eq!(keep.unwrap(), b"k");
    assert!(!gone, "whiteout did not hide the file");
    assert!(!old, "opaque dir showed the lower layer's file");
    assert_eq!(new.unwrap(), b"n");
    assert!(dir.join("upper/written").exists());
    assert!(!snaps.fs(&chains[0]).join("written").exists());
    // Removal goes through a temporary name.
    snaps.remove(&chains[1]).unwrap();
    assert!(!snaps.exists(&chains[1]));
    assert_eq!(snaps.list().unwrap(), vec![chains[0].clone()]);
    let _ = std::fs::remove_dir_all(&dir);
}
