//! Layer extraction: overlay whiteouts and opaque dirs, shared snapshots,
//! hostile layers refused, metadata preserved.

use berth_tests::images::{
    dir, docker_archive, file, hardlink, lgetxattr, list_dir, symlink, tar, Entry,
};
use berth_tests::manager::Berth;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

fn load(b: &Berth, layers: &[Vec<u8>], tag: &str) {
    let (arch, _) = docker_archive(layers, tag, &["sh"]);
    let p = b
        .scratch("arch")
        .join(format!("{}.tar", tag.replace([':', '/'], "_")));
    std::fs::write(&p, arch).unwrap();
    b.run(&["load", "-i", &p.to_string_lossy()]).assert_ok();
}

fn unpack(b: &Berth, tag: &str) -> Vec<PathBuf> {
    let o = b.run(&["image", "unpack", tag]);
    o.assert_ok();
    o.stdout.lines().map(PathBuf::from).collect()
}

#[test]
fn whiteouts_and_opaque_dirs() {
    berth_tests::init();
    let b = Berth::new();
    let l1 = tar(&[
        file("keep", b"k"),
        file("gone", b"g"),
        dir("opq/"),
        file("opq/old", b"o"),
        dir("d/"),
        file("d/x", b"x"),
    ]);
    let l2 = tar(&[
        file(".wh.gone", b""),
        dir("opq/"),
        file("opq/.wh..wh..opq", b""),
        file("opq/new", b"n"),
        file("d/.wh.x", b""),
    ]);
    load(&b, &[l1, l2], "two:1");
    let lowers = unpack(&b, "two:1");
    assert_eq!(lowers.len(), 2);
    let top = &lowers[0];
    let wh = std::fs::symlink_metadata(top.join("gone")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    assert!(std::fs::symlink_metadata(top.join("d/x"))
        .unwrap()
        .file_type()
        .is_char_device());
    assert_eq!(
        lgetxattr(&top.join("opq"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!top.join(".wh.gone").exists() && !top.join("opq/.wh..wh..opq").exists());
    // Mount them as overlay does for a container.
    let m = b.scratch("mnt");
    let (upper, work, target) = (m.join("upper"), m.join("work"), m.join("rootfs"));
    for d in [&upper, &work, &target] {
        std::fs::create_dir_all(d).unwrap();
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(":"),
        upper.display(),
        work.display()
    );
    let st = std::process::Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(&target)
        .status()
        .unwrap();
    assert!(st.success());
    let seen = (
        std::fs::read(target.join("keep")).ok(),
        target.join("gone").exists(),
        target.join("opq/old").exists(),
        std::fs::read(target.join("opq/new")).ok(),
        target.join("d/x").exists(),
        target.join("d").is_dir(),
    );
    let _ = std::process::Command::new("umount").arg(&target).status();
    assert_eq!(
        seen,
        (
            Some(b"k".to_vec()),
            false,
            false,
            Some(b"n".to_vec()),
            false,
            true
        )
    );
    b.assert_no_leaks();
}

#[test]
fn shared_base_layer_is_extracted_once() {
    berth_tests::init();
    let b = Berth::new();
    let base = tar(&[dir("etc/"), file("etc/base", b"base")]);
    load(&b, &[base.clone(), tar(&[file("one", b"1")])], "one:1");
    load(&b, &[base, tar(&[file("two", b"2")])], "two:1");
    let a = unpack(&b, "one:1");
    let ino = std::fs::metadata(&a[1]).unwrap().ino();
    let c = unpack(&b, "two:1");
    assert_eq!(a[1], c[1], "same ChainID for the shared base");
    assert_eq!(
        std::fs::metadata(&c[1]).unwrap().ino(),
        ino,
        "not extracted again"
    );
    assert_eq!(list_dir(&b.root().join("snapshots")).len(), 3);
    assert_eq!(std::fs::read(c[0].join("two")).unwrap(), b"2");
    // Removing one image keeps the shared snapshot, drops its own.
    b.run(&["rmi", "one:1"]).assert_ok();
    assert_eq!(list_dir(&b.root().join("snapshots")).len(), 2);
    assert!(c[1].join("etc/base").is_file());
    b.run(&["rmi", "two:1"]).assert_ok();
    assert!(list_dir(&b.root().join("snapshots")).is_empty());
}

#[test]
fn hostile_layers_are_refused() {
    berth_tests::init();
    let b = Berth::new();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("dotdot", tar(&[file("../escape", b"x")]), "../escape"),
        (
            "abs",
            tar(&[file("/abs-berth-test", b"x")]),
            "/abs-berth-test",
        ),
        (
            "symlink",
            tar(&[symlink("evil", "/"), file("evil/etc/berth-evil", b"x")]),
            "evil/etc/berth-evil",
        ),
        (
            "relsymlink",
            tar(&[symlink("up", "../../../../.."), file("up/escape", b"x")]),
            "up/escape",
        ),
        ("hardlink", tar(&[hardlink("h", "../../outside")]), "h"),
        ("abshardlink", tar(&[hardlink("h", "/etc/passwd")]), "h"),
    ];
    for (name, layer, entry) in cases {
        let tag = format!("{name}:1");
        load(&b, &[layer], &tag);
        let layer_digest = b
            .run(&[
                "image",
                "inspect",
                "--format",
                "{{json .RootFS.Layers}}",
                &tag,
            ])
            .stdout;
        let o = b.run(&["image", "unpack", &tag]);
        assert_eq!(o.code, Some(125), "{name}: {o}");
        assert!(
            o.stderr.contains("refusing") && o.stderr.contains(&format!("{entry:?}")),
            "{name}: {o}"
        );
        let d: Vec<String> = serde_json::from_str(layer_digest.trim()).unwrap();
        assert!(
            o.stderr.contains(&d[0]),
            "{name}: the layer digest is named: {o}"
        );
        assert!(
            list_dir(&b.root().join("snapshots")).is_empty(),
            "{name}: no snapshot left"
        );
    }
    for p in ["/abs-berth-test", "/etc/berth-evil"] {
        assert!(!Path::new(p).exists(), "{p} written outside");
    }
    let snaps = b.root().join("snapshots");
    assert!(!snaps.join("escape").exists() && !b.root().join("escape").exists());
    assert!(!b.root().join("outside").exists());
}

#[test]
fn metadata_is_preserved() {
    berth_tests::init();
    let b = Berth::new();
    let layer = tar(&[
        Entry {
            uid: 1000,
            gid: 1001,
            mode: 0o4755,
            mtime: 1_234_567_890,
            ..file("suid", b"#!")
        },
        Entry {
            mode: 0o700,
            uid: 5,
            gid: 6,
            mtime: 1_111_111_111,
            ..dir("private/")
        },
        file("private/f", b"f"),
        symlink("link", "/nowhere"),
        hardlink("suid2", "suid"),
    ]);
    load(&b, &[layer], "meta:1");
    let l = unpack(&b, "meta:1");
    let fs = &l[0];
    let m = std::fs::metadata(fs.join("suid")).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777, m.mtime()),
        (1000, 1001, 0o4755, 1_234_567_890)
    );
    assert_eq!(m.nlink(), 2);
    let d = std::fs::metadata(fs.join("private")).unwrap();
    assert_eq!(
        (d.uid(), d.gid(), d.mode() & 0o7777, d.mtime()),
        (5, 6, 0o700, 1_111_111_111)
    );
    assert_eq!(
        std::fs::read_link(fs.join("link")).unwrap(),
        Path::new("/nowhere")
    );
}
