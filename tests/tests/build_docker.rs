//! `berth build` against `docker build` (on a private dockerd) and `buildah bud`: the
//! same Dockerfiles and contexts, the resulting image configs compared, and the
//! berth-built image saved with `berth save`, loaded into docker and run there next
//! to the peer's: the same output, the same file tree (names, types, modes, owners,
//! contents). Needs root, docker.io, containerd, umoci, skopeo, buildah and
//! busybox-static.

#[path = "../src/docker.rs"]
mod docker;
#[path = "../src/engine_kit.rs"]
mod engine_kit;

use berth_tests::manager::Berth;
use docker::shared;
use engine_kit::IMAGE;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Docker's config fields a Dockerfile sets; null, missing and empty are the same.
const FIELDS: &[&str] = &[
    "Cmd",
    "Entrypoint",
    "Env",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "Healthcheck",
    "StopSignal",
    "OnBuild",
];

fn norm(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::String(s) if s.is_empty() => Value::Null,
        Value::Array(a) if a.is_empty() => Value::Null,
        Value::Object(o) if o.is_empty() => Value::Null,
        v => v.clone(),
    }
}

const LIST: &str = "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /etc/hosts -o -path /etc/hostname -o -path /etc/resolv.conf -o -path /.dockerenv \\) -prune -o -print | sort | while read -r f; do if [ -f \"$f\" ] && [ ! -L \"$f\" ]; then s=$(md5sum < \"$f\" | cut -c1-8); else s=-; fi; echo \"$f $(stat -c '%F %a %u:%g' \"$f\") $s\"; done";

const DOCKERFILES: &[(&str, &str)] = &[
    (
        "tutorial",
        "FROM localhost/berth-e2e-busybox:latest\nMAINTAINER someone\nENV A=1 B=\"two words\"\nENV LEGACY legacy value\nWORKDIR /app\nCOPY files /app/files\nCOPY one.txt two.txt /app/pair/\nADD pkg.tar /opt/\nRUN echo \"$A $B\" > /app/out.txt && rm /bin/vi && mkdir -p /var/empty\nEXPOSE 80 53/udp\nVOLUME /data\nLABEL k=v other=\"x y\"\nHEALTHCHECK --interval=5s CMD true\nSTOPSIGNAL SIGUSR1\nONBUILD RUN true\nUSER 1000\nENTRYPOINT [\"cat\"]\nCMD [\"/app/out.txt\"]\n",
    ),
    (
        "multistage",
        "FROM localhost/berth-e2e-busybox:latest AS b1\nRUN mkdir /o && echo one > /o/a\nFROM localhost/berth-e2e-busybox:latest\nARG X=def\nCOPY --from=b1 /o /copied\nRUN echo $X > /x.txt\nCMD cat /copied/a /x.txt\n",
    ),
];

fn write_ctx(dir: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, c).unwrap();
    }
}

/// The context of one Dockerfile of `DOCKERFILES`.
fn make_ctx(b: &Berth, name: &str, df: &str) -> PathBuf {
    let tdir = b.scratch("pkgsrc");
    write_ctx(&tdir, &[("pkg/readme", "inside the tar\n")]);
    let ctx = b.scratch(&format!("ctx-{name}"));
    write_ctx(
        &ctx,
        &[
            ("Dockerfile", df),
            ("files/a", "a\n"),
            ("files/sub/b", "b\n"),
            ("one.txt", "1\n"),
            ("two.txt", "2\n"),
        ],
    );
    let st = Command::new("tar")
        .arg("-cf")
        .arg(ctx.join("pkg.tar"))
        .arg("-C")
        .arg(&tdir)
        .arg("pkg")
        .status()
        .unwrap();
    assert!(st.success());
    ctx
}

/// The file listing of `img` run under docker (as root, through sh).
fn tree(d: &docker::Docker, img: &str) -> String {
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        "0",
        "--entrypoint",
        "sh",
        img,
        "-c",
        LIST,
    ]);
    o.assert_ok();
    o.stdout.clone()
}

/// `docker run` with the image's own entrypoint and command.
fn output(d: &docker::Docker, img: &str) -> String {
    let o = d.docker(&["run", "--rm", "--network", "none", img]);
    o.assert_ok();
    o.stdout.clone()
}

fn assert_same_tree(name: &str, ours: &str, theirs: &str, peer: &str) {
    if ours != theirs {
        let bl: std::collections::BTreeSet<&str> = ours.lines().collect();
        let dl: std::collections::BTreeSet<&str> = theirs.lines().collect();
        panic!(
            "{name}: file trees differ\nonly in berth's: {:#?}\nonly in {peer}'s: {:#?}",
            bl.difference(&dl).collect::<Vec<_>>(),
            dl.difference(&bl).collect::<Vec<_>>()
        );
    }
}

/// `berth save IMAGE` loaded into docker.
fn berth_to_docker(d: &docker::Docker, b: &Berth, img: &str) {
    let tar = b.scratch("saved").join(format!("{img}.tar"));
    b.run(&["save", "-o", &tar.to_string_lossy(), img])
        .assert_ok();
    d.docker(&["load", "-i", &tar.to_string_lossy()])
        .assert_ok();
}

fn berth_config(b: &Berth, img: &str) -> Value {
    let out = b.run(&["image", "inspect", img]);
    out.assert_ok();
    serde_json::from_str::<Value>(&out.stdout).unwrap()[0]["Config"].clone()
}

/// A berth with the docker test image loaded (the same base as docker's).
fn berth_with_base(d: &docker::Docker) -> (Berth, PathBuf) {
    let b = Berth::new();
    let base = b.scratch("base").join("base.tar");
    d.docker(&["save", "-o", &base.to_string_lossy(), IMAGE])
        .assert_ok();
    b.run(&["load", "-i", &base.to_string_lossy()]).assert_ok();
    (b, base)
}

#[test]
fn same_as_docker_build() {
    berth_tests::init();
    let d = shared();
    let (b, _) = berth_with_base(d);
    for (name, df) in DOCKERFILES {
        let ctx = make_ctx(&b, name, df);
        let dtag = format!("docker-built-{name}");
        let btag = format!("berth-built-{name}");
        d.docker(&["build", "-q", "-t", &dtag, &ctx.to_string_lossy()])
            .assert_ok();
        b.run(&["build", "-q", "-t", &btag, &ctx.to_string_lossy()])
            .assert_ok();
        let dcfg = d.docker(&["image", "inspect", &dtag]).json()[0]["Config"].clone();
        let bcfg = berth_config(&b, &btag);
        for f in FIELDS {
            assert_eq!(norm(&bcfg[f]), norm(&dcfg[f]), "{name}: Config.{f} differs");
        }
        berth_to_docker(d, &b, &btag);
        assert_eq!(output(d, &btag), output(d, &dtag), "{name}: output differs");
        assert_same_tree(name, &tree(d, &btag), &tree(d, &dtag), "docker");
        for t in [&dtag, &btag] {
            let _ = d.docker(&["rmi", "-f", t]);
        }
    }
    b.assert_no_leaks();
}

/// buildah with its own storage under `dir`.
struct Buildah {
    dir: PathBuf,
}

impl Buildah {
    fn cmd(&self, args: &[&str]) -> engine_kit::Out {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("runroot"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .stdin(std::process::Stdio::null());
        engine_kit::run(c, &self.dir, std::time::Duration::from_secs(300))
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        let _ = self.cmd(&["rm", "-a"]);
        let _ = self.cmd(&["rmi", "-af"]);
        for m in engine_kit::mounts_under(&self.dir).iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn same_as_buildah_bud() {
    berth_tests::init();
    assert!(
        engine_kit::which("buildah").is_some(),
        "buildah is missing (integration/install-deps.sh installs it)"
    );
    let d = shared();
    let (b, base) = berth_with_base(d);
    let bh = Buildah {
        dir: b.scratch("buildah"),
    };
    bh.cmd(&["pull", &format!("docker-archive:{}", base.display())])
        .assert_ok();
    for (name, df) in DOCKERFILES {
        let ctx = make_ctx(&b, name, df);
        let htag = format!("buildah-built-{name}");
        let btag = format!("berth-vs-buildah-{name}");
        bh.cmd(&[
            "bud",
            "--format",
            "docker",
            "--isolation",
            "chroot",
            "-q",
            "-t",
            &htag,
            &ctx.to_string_lossy(),
        ])
        .assert_ok();
        b.run(&["build", "-q", "-t", &btag, &ctx.to_string_lossy()])
            .assert_ok();
        let hinfo = bh.cmd(&["inspect", "--type", "image", &htag]).json();
        let mut hcfg = hinfo["Docker"]["config"].clone();
        // buildah labels what it builds.
        if let Some(l) = hcfg["Labels"].as_object_mut() {
            l.remove("io.buildah.version");
        }
        let bcfg = berth_config(&b, &btag);
        for f in FIELDS {
            assert_eq!(
                norm(&bcfg[f]),
                norm(&hcfg[f]),
                "{name}: Config.{f} differs from buildah's"
            );
        }
        // buildah's image into docker too, and both run there.
        let arch = b.scratch("bh-saved").join(format!("{name}.tar"));
        bh.cmd(&[
            "push",
            &htag,
            &format!("docker-archive:{}:{htag}:latest", arch.display()),
        ])
        .assert_ok();
        d.docker(&["load", "-i", &arch.to_string_lossy()])
            .assert_ok();
        berth_to_docker(d, &b, &btag);
        assert_eq!(output(d, &btag), output(d, &htag), "{name}: output differs");
        assert_same_tree(name, &tree(d, &btag), &tree(d, &htag), "buildah");
        for t in [&htag, &btag] {
            let _ = d.docker(&["rmi", "-f", t]);
        }
    }
    drop(bh);
    b.assert_no_leaks();
}
