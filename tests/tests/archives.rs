//! save/load in docker-archive and OCI layout, interop with skopeo and umoci,
//! kill -9 during load, corrupt archives.

use berth_tests::images::{docker_archive, file, list_dir, tar};
use berth_tests::manager::Berth;
use berth_tests::runtime::Io;
use std::path::Path;
use std::process::Command;

fn sh(cmd: &str) -> std::process::Output {
    let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        o.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn id_of(b: &Berth, name: &str) -> String {
    let o = b.run(&["image", "inspect", "--format", "{{.Id}}", name]);
    o.assert_ok();
    o.stdout.trim().to_string()
}

#[test]
fn save_load_round_trips() {
    berth_tests::init();
    let b = Berth::new();
    b.import_busybox("bb:1");
    b.run(&["tag", "bb:1", "reg.example:5000/team/bb:2"])
        .assert_ok();
    let id = id_of(&b, "bb:1");
    let dir = b.scratch("out");
    for fmt in ["docker-archive", "oci-archive"] {
        let out = dir.join(format!("{fmt}.tar"));
        b.run(&[
            "save",
            "--format",
            fmt,
            "-o",
            &out.to_string_lossy(),
            "bb:1",
            "reg.example:5000/team/bb:2",
        ])
        .assert_ok();
        let members = String::from_utf8(sh(&format!("tar tf {}", out.display())).stdout).unwrap();
        assert!(members.lines().any(|l| l == "manifest.json"), "{members}");
        if fmt == "oci-archive" {
            assert!(
                members.lines().any(|l| l == "index.json")
                    && members.lines().any(|l| l == "oci-layout")
            );
        } else {
            assert!(
                members.lines().any(|l| l.ends_with("/layer.tar"))
                    && members.lines().any(|l| l == "repositories")
            );
        }
        let c = Berth::new();
        let l = c.run(&["load", "-i", &out.to_string_lossy()]);
        l.assert_ok();
        assert!(
            l.stdout.contains("Loaded image: bb:1")
                && l.stdout
                    .contains("Loaded image: reg.example:5000/team/bb:2"),
            "{l}"
        );
        assert_eq!(
            id_of(&c, "bb:1"),
            id,
            "{fmt}: the config (image id) survives"
        );
        assert_eq!(id_of(&c, "reg.example:5000/team/bb:2"), id);
        // And through stdin / stdout.
        let d = Berth::new();
        let piped = dir.join(format!("{fmt}-stdout.tar"));
        b.cmd()
            .args(["save", "--format", fmt, "bb:1"])
            .stdout(Io::File(piped.clone()))
            .run()
            .assert_ok();
        d.cmd()
            .args(["load"])
            .stdin(Io::Fd(std::fs::File::open(&piped).unwrap().into()))
            .run()
            .assert_ok();
        assert_eq!(id_of(&d, "bb:1"), id);
        // The loaded image unpacks (layer digests and diff_ids verified).
        d.run(&["image", "unpack", "bb:1"]).assert_ok();
    }
    // A loaded image's layer is extracted once for both names.
    let out = dir.join("docker-archive.tar");
    let e = Berth::new();
    e.run(&["load", "-i", &out.to_string_lossy()]).assert_ok();
    let a = e.run(&["image", "unpack", "bb:1"]);
    a.assert_ok();
    assert!(
        Path::new(a.stdout.trim()).join("bin/busybox").is_file(),
        "{a}"
    );
    assert!(b.run(&["save", "nosuch"]).code == Some(125));
}

#[test]
fn skopeo_and_umoci_interop() {
    berth_tests::init();
    if !berth_tests::peer_available("skopeo") {
        return;
    }
    let b = Berth::new();
    b.import_busybox("bb");
    let id = id_of(&b, "bb");
    let dir = b.scratch("interop");
    let oci = dir.join("berth-oci.tar");
    let dock = dir.join("berth-docker.tar");
    b.run(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        &oci.to_string_lossy(),
        "bb",
    ])
    .assert_ok();
    b.run(&["save", "-o", &dock.to_string_lossy(), "bb"])
        .assert_ok();
    // skopeo reads what berth wrote.
    let i = sh(&format!(
        "skopeo inspect --raw oci-archive:{}",
        oci.display()
    ));
    let m: serde_json::Value = serde_json::from_slice(&i.stdout).unwrap();
    assert_eq!(m["config"]["digest"], id.as_str());
    let i = sh(&format!("skopeo inspect docker-archive:{}", dock.display()));
    let v: serde_json::Value = serde_json::from_slice(&i.stdout).unwrap();
    assert_eq!(v["Architecture"], "amd64");
    assert_eq!(v["Layers"].as_array().unwrap().len(), 1);
    // berth loads what skopeo wrote, in both directions.
    let sk_dock = dir.join("sk-docker.tar");
    let sk_oci = dir.join("sk-oci.tar");
    sh(&format!(
        "skopeo copy -q oci-archive:{} docker-archive:{}:skopeo/fromoci:v1",
        oci.display(),
        sk_dock.display()
    ));
    sh(&format!(
        "skopeo copy -q docker-archive:{} oci-archive:{}:skopeo/fromdocker:v2",
        dock.display(),
        sk_oci.display()
    ));
    let c = Berth::new();
    let l = c.run(&["load", "-i", &sk_dock.to_string_lossy()]);
    l.assert_ok();
    assert!(l.stdout.contains("Loaded image: skopeo/fromoci:v1"), "{l}");
    let l = c.run(&["load", "-i", &sk_oci.to_string_lossy()]);
    l.assert_ok();
    assert!(l.stdout.contains("skopeo/fromdocker:v2"), "{l}");
    c.run(&[
        "image",
        "unpack",
        "skopeo/fromoci:v1",
        "skopeo/fromdocker:v2",
    ])
    .assert_ok();
    assert_eq!(id_of(&c, "skopeo/fromoci:v1"), id);
    // umoci unpacks berth's OCI layout.
    if berth_tests::peer_available("umoci") {
        let layout = dir.join("layout");
        std::fs::create_dir_all(&layout).unwrap();
        sh(&format!(
            "tar -C {} -xf {}",
            layout.display(),
            oci.display()
        ));
        let bundle = dir.join("bundle");
        sh(&format!(
            "umoci unpack --image {}:latest {}",
            layout.display(),
            bundle.display()
        ));
        assert!(bundle.join("rootfs/bin/busybox").is_file());
        assert!(bundle.join("config.json").is_file());
    }
}

#[test]
fn corrupt_archives_are_refused() {
    berth_tests::init();
    let b = Berth::new();
    b.import_busybox("bb");
    let dir = b.scratch("corrupt");
    let oci = dir.join("o.tar");
    b.run(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        &oci.to_string_lossy(),
        "bb",
    ])
    .assert_ok();
    // Flip a byte in the layer blob (the largest file) and re-tar.
    let x = dir.join("x");
    std::fs::create_dir_all(&x).unwrap();
    sh(&format!("tar -C {} -xf {}", x.display(), oci.display()));
    let blobs = x.join("blobs/sha256");
    let layer = list_dir(&blobs)
        .into_iter()
        .max_by_key(|n| std::fs::metadata(blobs.join(n)).unwrap().len())
        .unwrap();
    let p = blobs.join(&layer);
    let mut data = std::fs::read(&p).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&p, &data).unwrap();
    let bad = dir.join("bad.tar");
    sh(&format!("tar -C {} -cf {} .", x.display(), bad.display()));
    let c = Berth::new();
    let r = c.run(&["load", "-i", &bad.to_string_lossy()]);
    assert_eq!(r.code, Some(125), "{r}");
    assert!(
        r.stderr.contains("corrupt") && r.stderr.contains(&layer),
        "{r}"
    );
    assert!(c.run(&["images", "-q"]).stdout.trim().is_empty());
    // A docker-archive whose layer does not match the config's diff_id.
    let (mut arch, _) = docker_archive(&[tar(&[file("f", b"data")])], "d:1", &["sh"]);
    let pos = arch.windows(4).position(|w| w == b"data").unwrap();
    arch[pos] = b'D';
    let p = dir.join("d.tar");
    std::fs::write(&p, &arch).unwrap();
    let r = c.run(&["load", "-i", &p.to_string_lossy()]);
    assert!(r.code == Some(125) && r.stderr.contains("corrupt"), "{r}");
    // Not an archive.
    std::fs::write(&p, tar(&[file("hello", b"x")])).unwrap();
    let r = c.run(&["load", "-i", &p.to_string_lossy()]);
    assert!(
        r.code == Some(125) && r.stderr.contains("not an image archive"),
        "{r}"
    );
    // A stored blob corrupted on disk is caught when the layer is extracted.
    let d = Berth::new();
    d.import_busybox("bb");
    let v = d.run(&["image", "inspect", "bb"]).json();
    let _ = v;
    let blobdir = d.root().join("content/blobs/sha256");
    let big = list_dir(&blobdir)
        .into_iter()
        .max_by_key(|n| std::fs::metadata(blobdir.join(n)).unwrap().len())
        .unwrap();
    let p = blobdir.join(&big);
    let mut data = std::fs::read(&p).unwrap();
    let n = data.len() - 2000;
    data[n] ^= 0x55;
    std::fs::write(&p, &data).unwrap();
    let r = d.run(&["image", "unpack", "bb"]);
    assert_eq!(r.code, Some(125), "{r}");
    assert!(
        r.stderr.contains(&big)
            && (r.stderr.contains("corrupt") || r.stderr.contains("does not match")),
        "{r}"
    );
    assert!(
        list_dir(&d.root().join("snapshots")).is_empty(),
        "no half snapshot"
    );
}

#[test]
fn kill_during_load_leaves_a_usable_store() {
    berth_tests::init();
    let b = Berth::new();
    // A large layer so that the load takes a while.
    let big: Vec<u8> = (0..48u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let (arch, id) = docker_archive(&[tar(&[file("big", &big)])], "big:1", &["sh"]);
    drop(big);
    let p = b.scratch("kill").join("big.tar");
    std::fs::write(&p, &arch).unwrap();
    drop(arch);
    let bin = berth_tests::manager::berth_bin();
    for delay_ms in [5u64, 30, 80] {
        let mut child = Command::new(&bin)
            .arg("--root")
            .arg(b.root())
            .args(["load", "-i"])
            .arg(&p)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let ls = b.run(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
        ls.assert_ok();
        // Either not there at all, or complete.
        for line in ls.stdout.lines() {
            assert_eq!(line, format!("big:1 {}", &id[7..19]), "{ls}");
            b.run(&["image", "inspect", "big:1"]).assert_ok();
        }
    }
    let l = b.run(&["load", "-i", &p.to_string_lossy()]);
    l.assert_ok();
    assert!(l.stdout.contains("Loaded image: big:1"), "{l}");
    b.run(&["image", "unpack", "big:1"]).assert_ok();
    // The temporaries of the killed loads were cleaned by the next writer.
    let ingest = list_dir(&b.root().join("content/ingest"));
    assert!(ingest.is_empty(), "{ingest:?}");
}
