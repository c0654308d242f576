//! `berth build` against `docker build` on a private dockerd: the same Dockerfiles
//! and contexts, the resulting image configs compared, and the berth-built image
//! saved with `berth save`, loaded into docker and run there next to docker's own:
//! the same output, the same file tree (names, types, modes, owners, contents).
//! Needs root, docker.io, containerd, umoci, skopeo and busybox-static.

#[path = "../src/docker.rs"]
mod docker;
#[path = "../src/engine_kit.rs"]
mod engine_kit;

use berth_tests::manager::Berth;
use docker::shared;
use engine_kit::IMAGE;
use serde_json::Value;
use std::path::Path;

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

/// A listing of the image's files as seen in a container under docker.
const LIST: &str = "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /etc/hosts -o -path /etc/hostname -o -path /etc/resolv.conf -o -path /.dockerenv \\) -prune -o -print | sort | while read -r f; do if [ -f \"$f\" ] && [ ! -L \"$f\" ]; then s=$(md5sum < \"$f\" | cut -c1-8); else s=-; fi; echo \"$f $(stat -c '%F %a %u:%g' \"$f\") $s\"; done";

fn write_ctx(dir: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, c).unwrap();
    }
}

#[test]
fn same_as_docker_build() {
    berth_tests::init();
    let d = shared();
    let b = Berth::new();
    // The same base image in both.
    let base = b.scratch("base").join("base.tar");
    d.docker(&["save", "-o", &base.to_string_lossy(), IMAGE])
        .assert_ok();
    b.run(&["load", "-i", &base.to_string_lossy()]).assert_ok();
    let dockerfiles: &[(&str, &str)] = &[
        (
            "tutorial",
            "FROM localhost/berth-e2e-busybox:latest\nMAINTAINER someone\nENV A=1 B=\"two words\"\nENV LEGACY legacy value\nWORKDIR /app\nCOPY files /app/files\nCOPY one.txt two.txt /app/pair/\nADD pkg.tar /opt/\nRUN echo \"$A $B\" > /app/out.txt && rm /bin/vi && mkdir -p /var/empty\nEXPOSE 80 53/udp\nVOLUME /data\nLABEL k=v other=\"x y\"\nHEALTHCHECK --interval=5s CMD true\nSTOPSIGNAL SIGUSR1\nONBUILD RUN true\nUSER 1000\nENTRYPOINT [\"cat\"]\nCMD [\"/app/out.txt\"]\n",
        ),
        (
            "multistage",
            "FROM localhost/berth-e2e-busybox:latest AS b1\nRUN mkdir /o && echo one > /o/a\nFROM localhost/berth-e2e-busybox:latest\nARG X=def\nCOPY --from=b1 /o /copied\nRUN echo $X > /x.txt\nCMD cat /copied/a /x.txt\n",
        ),
    ];
    let tdir = b.scratch("pkgsrc");
    write_ctx(&tdir, &[("pkg/readme", "inside the tar\n")]);
    for (name, df) in dockerfiles {
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
        let st = std::process::Command::new("tar")
            .arg("-cf")
            .arg(ctx.join("pkg.tar"))
            .arg("-C")
            .arg(&tdir)
            .arg("pkg")
            .status()
            .unwrap();
        assert!(st.success());
        let dtag = format!("docker-built-{name}");
        let btag = format!("berth-built-{name}");
        d.docker(&["build", "-q", "-t", &dtag, &ctx.to_string_lossy()])
            .assert_ok();
        b.run(&["build", "-q", "-t", &btag, &ctx.to_string_lossy()])
            .assert_ok();
        let dcfg = d.docker(&["image", "inspect", &dtag]).json()[0]["Config"].clone();
        let out = b.run(&["image", "inspect", &btag]);
        out.assert_ok();
        let bcfg = serde_json::from_str::<Value>(&out.stdout).unwrap()[0]["Config"].clone();
        for f in FIELDS {
            assert_eq!(norm(&bcfg[f]), norm(&dcfg[f]), "{name}: Config.{f} differs");
        }
        // berth save -> docker load: runs the same, with the same files.
        let tar = b.scratch("saved").join(format!("{name}.tar"));
        b.run(&["save", "-o", &tar.to_string_lossy(), &btag])
            .assert_ok();
        d.docker(&["load", "-i", &tar.to_string_lossy()])
            .assert_ok();
        let run = |img: &str, args: &[&str]| {
            let mut a = vec!["run", "--rm", "--network", "none", "--user", "0"];
            a.extend_from_slice(args);
            let _ = img;
            let o = d.docker(&a);
            o.assert_ok();
            o.stdout.clone()
        };
        let run_default = |img: &str| {
            let o = d.docker(&["run", "--rm", "--network", "none", img]);
            o.assert_ok();
            o.stdout.clone()
        };
        assert_eq!(
            run_default(&btag),
            run_default(&dtag),
            "{name}: output differs"
        );
        let ltree = |img: &str| run(img, &["--entrypoint", "sh", img, "-c", LIST]);
        let (bt, dt) = (ltree(&btag), ltree(&dtag));
        if bt != dt {
            let bl: std::collections::BTreeSet<&str> = bt.lines().collect();
            let dl: std::collections::BTreeSet<&str> = dt.lines().collect();
            panic!(
                "{name}: file trees differ\nonly in berth's: {:#?}\nonly in docker's: {:#?}",
                bl.difference(&dl).collect::<Vec<_>>(),
                dl.difference(&bl).collect::<Vec<_>>()
            );
        }
        for t in [&dtag, &btag] {
            let _ = d.docker(&["rmi", "-f", t]);
        }
    }
    b.assert_no_leaks();
}
