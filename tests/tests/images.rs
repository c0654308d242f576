//! Image verbs end to end: import, images, tag, rmi, inspect, history, prune.

use berth_tests::images::list_dir;
use berth_tests::manager::Berth;
use berth_tests::runtime::Io;

fn blobs(b: &Berth) -> Vec<String> {
    list_dir(&b.root().join("content/blobs/sha256"))
}

#[test]
fn import_list_tag_inspect_history_rmi() {
    berth_tests::init();
    let b = Berth::new();
    let tar = b.busybox_rootfs_tar();
    let out = b.run(&[
        "import",
        "-c",
        r#"CMD ["sh"]"#,
        "-c",
        "ENV A=1",
        &tar.to_string_lossy(),
        "bb",
    ]);
    out.assert_ok();
    let id = out.stdout.trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");

    let ls = b.run(&["images"]);
    ls.assert_ok();
    let lines: Vec<&str> = ls.stdout.lines().collect();
    assert!(
        lines[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{ls}"
    );
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&row[..3], &["bb", "latest", &id[7..19]], "{ls}");
    assert!(ls.stdout.contains("ago"), "{ls}");
    assert_eq!(b.run(&["images", "-q"]).stdout.trim(), &id[7..19]);
    assert_eq!(b.run(&["images", "-q", "--no-trunc"]).stdout.trim(), id);
    let f = b.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(f.stdout.trim(), "bb:latest", "{f}");
    let j = b.run(&["images", "--format", "{{json .}}"]).json_line();
    assert_eq!(j["Repository"], "bb");
    assert_eq!(j["ID"], &id[7..19]);

    b.run(&["tag", "bb", "other/name:1"]).assert_ok();
    b.run(&["tag", &id[7..15], "third"]).assert_ok();
    assert_eq!(
        b.run(&["images", "-q"]).stdout.lines().count(),
        1,
        "ids deduplicated"
    );
    assert_eq!(b.run(&["images"]).stdout.lines().count(), 4);
    let only = b.run(&["images", "other/name"]);
    assert_eq!(only.stdout.lines().count(), 2, "{only}");

    let ins = b.run(&["image", "inspect", "bb"]);
    ins.assert_ok();
    let v = ins.json();
    let img = &v[0];
    assert_eq!(img["Id"], id.as_str());
    let tags: Vec<&str> = img["RepoTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for t in ["bb:latest", "other/name:1", "third:latest"] {
        assert!(tags.contains(&t), "{tags:?}");
    }
    assert_eq!(img["Architecture"], "amd64");
    assert_eq!(img["Os"], "linux");
    assert_eq!(img["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(img["Config"]["Env"], serde_json::json!(["A=1"]));
    assert_eq!(img["RootFS"]["Type"], "layers");
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert!(img["Size"].as_u64().unwrap() > 500_000);
    assert!(berth_tests::is_rfc3339(img["Created"].as_str().unwrap()));
    let fmt = b.run(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{json .Config.Cmd}}",
        "third",
    ]);
    assert_eq!(fmt.stdout.trim(), format!("{id} [\"sh\"]"));
    b.run(&["image", "inspect", "nosuch"]).assert_code(125);

    let h = b.run(&["history", "bb"]);
    h.assert_ok();
    let hl: Vec<&str> = h.stdout.lines().collect();
    assert!(hl[0].starts_with("IMAGE"), "{h}");
    assert!(
        hl[1].starts_with(&id[7..19]) && hl[1].contains("import"),
        "{h}"
    );
    assert!(b.run(&["image", "history", "-q", "bb"]).stdout.trim() == &id[7..19]);

    // Removing one name of several untags only.
    let r = b.run(&["rmi", "other/name:1"]);
    r.assert_ok();
    assert_eq!(r.stdout.trim(), "Untagged: other/name:1");
    // By id with several names: needs -f.
    let r = b.run(&["rmi", &id[7..19]]);
    assert_eq!(r.code, Some(125));
    assert!(r.stderr.contains("must be forced"), "{r}");
    b.run(&["rmi", "third"]).assert_ok();
    let r = b.run(&["rmi", "bb"]);
    r.assert_ok();
    assert!(
        r.stdout.contains("Untagged: bb:latest") && r.stdout.contains(&format!("Deleted: {id}")),
        "{r}"
    );
    assert!(b.run(&["images", "-q"]).stdout.trim().is_empty());
    assert!(blobs(&b).is_empty(), "blobs left: {:?}", blobs(&b));
    let r = b.run(&["rmi", "bb"]);
    assert!(r.stderr.contains("No such image"), "{r}");
    b.assert_no_leaks();
}

#[test]
fn import_compressed_and_stdin() {
    berth_tests::init();
    let b = Berth::new();
    let tar = b.busybox_rootfs_tar();
    let gz = b.scratch("c").join("rootfs.tar.gz");
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -c {} > {}", tar.display(), gz.display()))
        .status()
        .unwrap();
    assert!(st.success());
    let plain = b.run(&["import", &tar.to_string_lossy(), "plain"]);
    plain.assert_ok();
    b.run(&["import", &gz.to_string_lossy(), "gz"]).assert_ok();
    let d = b.run(&["image", "inspect", "plain", "gz"]).json();
    // Same uncompressed content: same diff_id whatever the compression.
    assert_eq!(d[0]["RootFS"]["Layers"], d[1]["RootFS"]["Layers"]);
    if berth_tests::peer_available("zstd") {
        let zst = b.scratch("c").join("rootfs.tar.zst");
        let st = std::process::Command::new("zstd")
            .args(["-q", "-f"])
            .arg(&tar)
            .arg("-o")
            .arg(&zst)
            .status()
            .unwrap();
        assert!(st.success());
        b.run(&["import", &zst.to_string_lossy(), "zst"])
            .assert_ok();
        let z = b.run(&["image", "inspect", "zst"]).json();
        assert_eq!(z[0]["RootFS"]["Layers"], d[0]["RootFS"]["Layers"]);
    }
    let s = b
        .cmd()
        .args(["import", "-", "fromstdin"])
        .stdin(Io::Fd(std::fs::File::open(&tar).unwrap().into()))
        .run();
    s.assert_ok();
    b.run(&["image", "inspect", "fromstdin"]).assert_ok();
    // Not a tarball at all.
    let junk = b.scratch("c").join("junk");
    std::fs::write(&junk, vec![7u8; 3000]).unwrap();
    let r = b.run(&["import", &junk.to_string_lossy(), "junk"]);
    assert_eq!(r.code, Some(125), "{r}");
    assert!(b.run(&["image", "inspect", "junk"]).code == Some(125));
    // Dangling import (no name) lists as <none>.
    let r = b.run(&["import", &tar.to_string_lossy()]);
    r.assert_ok();
    let ls = b.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        ls.stdout.lines().any(|l| l == "<none>:<none>") || ls.stdout.lines().count() == 4,
        "{ls}"
    );
}

#[test]
fn rmi_refuses_image_in_use_and_prune() {
    berth_tests::init();
    let b = Berth::new();
    b.import_busybox("used");
    let tar = b.busybox_rootfs_tar();
    b.run(&[
        "import",
        "-c",
        "CMD [\"x\"]",
        &tar.to_string_lossy(),
        "unused",
    ])
    .assert_ok();
    let id = b
        .run(&["images", "-q", "--no-trunc", "used"])
        .stdout
        .trim()
        .to_string();
    // A container record that uses the image (what the containers' store writes).
    let cdir = b.root().join("containers/fakecontainer");
    std::fs::create_dir_all(&cdir).unwrap();
    std::fs::write(
        cdir.join("container.json"),
        format!("{{\"id\":\"fakecontainer\",\"image\":\"{id}\"}}"),
    )
    .unwrap();
    // A garbage record is ignored.
    std::fs::create_dir_all(b.root().join("containers/broken")).unwrap();
    std::fs::write(
        b.root().join("containers/broken/container.json"),
        "{not json",
    )
    .unwrap();
    let r = b.run(&["rmi", "used"]);
    assert_eq!(r.code, Some(125));
    assert!(r.stderr.contains("container"), "{r}");
    // -f untags; the image stays (dangling) for its container.
    b.run(&["rmi", "-f", "used"]).assert_ok();
    let ls = b.run(&["images", "--format", "{{.Repository}} {{.ID}}"]);
    assert!(
        ls.stdout.contains(&format!("<none> {}", &id[7..19])),
        "{ls}"
    );
    // Prune -a removes what no container uses, keeps the used one.
    let p = b.run(&["image", "prune", "-a", "-f"]);
    p.assert_ok();
    assert!(
        p.stdout.contains("untagged: unused:latest") && p.stdout.contains("Total reclaimed space"),
        "{p}"
    );
    assert_eq!(b.run(&["images", "-q", "--no-trunc"]).stdout.trim(), id);
    // Without the container, a plain prune removes the dangling image and its blobs.
    std::fs::remove_dir_all(&cdir).unwrap();
    let p = b.run(&["image", "prune", "-f"]);
    p.assert_ok();
    assert!(p.stdout.contains(&format!("deleted: {id}")), "{p}");
    assert!(b.run(&["images", "-q"]).stdout.trim().is_empty());
    assert!(blobs(&b).is_empty(), "{:?}", blobs(&b));
    // Prune without -f asks and does nothing on "no".
    b.import_busybox("keep");
    let p = b.cmd().args(["image", "prune", "-a"]).stdin(Io::Null).run();
    p.assert_ok();
    assert!(p.stderr.contains("Are you sure"), "{p}");
    assert!(!b.run(&["images", "-q"]).stdout.trim().is_empty());
}

#[test]
fn concurrent_imports_all_recorded() {
    berth_tests::init();
    let b = Berth::new();
    let tar = b.busybox_rootfs_tar();
    let names: Vec<String> = (0..6).map(|i| format!("par{i}")).collect();
    std::thread::scope(|s| {
        for n in &names {
            let b = &b;
            let tar = &tar;
            s.spawn(move || {
                b.run(&["import", &tar.to_string_lossy(), n]).assert_ok();
            });
        }
    });
    let ls = b.run(&["images", "--format", "{{.Repository}}"]);
    for n in &names {
        assert!(ls.stdout.lines().any(|l| l == n), "{n} missing: {ls}");
    }
    // The same layer content is one blob; no temporaries are left.
    assert!(list_dir(&b.root().join("content/ingest")).is_empty());
}
