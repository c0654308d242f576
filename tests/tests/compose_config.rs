//! `berth compose config` end to end: file discovery, overrides, -f/-p/
//! --env-file/--profile and the COMPOSE_* variables, the canonical output,
//! and bad files each with its message (file, line, key). No containers.

use berth_tests::manager::Berth;
use std::path::Path;
use std::time::{Duration, Instant};

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn config(b: &Berth, dir: &Path, args: &[&str]) -> berth_tests::Output {
    let mut all = vec!["compose"];
    all.extend_from_slice(args);
    b.cmd().cwd(dir).args(&all).run()
}

#[test]
fn discovery_override_and_output() {
    let b = Berth::new();
    let dir = b.scratch("My.App");
    write(
        &dir,
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n    environment: [A=1]\n    depends_on: [db]\n  db:\n    image: postgres\n    volumes: [data:/var/lib/db, ./init:/init:ro]\nvolumes:\n  data:\n",
    );
    write(
        &dir,
        "compose.override.yaml",
        "services:\n  web:\n    environment: {B: '2'}\n",
    );
    std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    let out = config(&b, &dir.join("sub/deeper"), &["config"]);
    out.assert_ok();
    let y = &out.stdout;
    assert!(y.starts_with("name: myapp\nservices:\n"), "{y}");
    for needle in [
        "      A: \"1\"\n",
        "      B: \"2\"\n",
        "        published: \"8080\"\n",
        "        condition: service_started\n",
        &format!("        source: {}/init\n", dir.display()),
        "    name: myapp_data\n",
        "    name: myapp_default\n",
    ] {
        assert!(y.contains(needle), "missing {needle:?} in:\n{y}");
    }
    // JSON agrees with YAML.
    let out = config(&b, &dir, &["config", "--format", "json"]);
    let j = out.assert_ok().json();
    assert_eq!(j["services"]["web"]["environment"]["B"], "2");
    assert_eq!(j["volumes"]["data"]["name"], "myapp_data");
    assert_eq!(
        config(&b, &dir, &["config", "--services"]).stdout,
        "db\nweb\n"
    );
    assert_eq!(config(&b, &dir, &["config", "--volumes"]).stdout, "data\n");
    let q = config(&b, &dir, &["config", "-q"]);
    q.assert_ok();
    assert!(q.stdout.is_empty());
    // The output is itself a valid compose file giving the same model.
    let again = b.scratch("again");
    write(&again, "compose.yaml", y);
    let out2 = config(&b, &again, &["config", "--format", "json"]);
    assert_eq!(out2.assert_ok().json()["services"], j["services"]);
}

#[test]
fn flags_and_environment() {
    let b = Berth::new();
    let dir = b.scratch("flags");
    write(&dir, "base.yml", "services:\n  app:\n    image: \"busybox:${TAG:-latest}\"\n  dbg:\n    image: busybox\n    profiles: [debug]\n");
    write(
        &dir,
        "extra.yml",
        "services:\n  app:\n    command: [sleep, '1']\n",
    );
    write(&dir, "vars.env", "TAG=1.36\n");
    let out = config(
        &b,
        &dir,
        &[
            "-f",
            "base.yml",
            "-f",
            "extra.yml",
            "-p",
            "proj",
            "--env-file",
            "vars.env",
            "config",
            "--format",
            "json",
        ],
    );
    let j = out.assert_ok().json();
    assert_eq!(j["name"], "proj");
    assert_eq!(j["services"]["app"]["image"], "busybox:1.36");
    assert_eq!(j["services"]["app"]["command"][1], "1");
    assert!(j["services"].get("dbg").is_none());
    let out = b
        .cmd()
        .cwd(&dir)
        .env("COMPOSE_FILE", "base.yml:extra.yml")
        .env("COMPOSE_PROJECT_NAME", "envproj")
        .env("COMPOSE_PROFILES", "debug")
        .env("TAG", "9")
        .args(["compose", "config", "--format", "json"])
        .run();
    let j = out.assert_ok().json();
    assert_eq!(j["name"], "envproj");
    assert_eq!(j["services"]["app"]["image"], "busybox:9");
    assert!(j["services"].get("dbg").is_some());
    let out = config(
        &b,
        &dir,
        &[
            "-f",
            "base.yml",
            "--profile",
            "debug",
            "config",
            "--services",
        ],
    );
    assert_eq!(out.assert_ok().stdout, "app\ndbg\n");
}

/// Each bad file fails with exit 125 and its message names file, line and key.
#[test]
fn bad_files_have_precise_messages() {
    let b = Berth::new();
    let dir = b.scratch("bad");
    let cases: &[(&str, &str)] = &[
        ("services:\n  web:\n    image: [x\n", "compose.yaml:4:1: invalid YAML: while parsing a flow sequence"),
        ("services:\n  web:\n    images: nginx\n", "compose.yaml:3:5: services.web.images: unknown key; did you mean `image`?"),
        ("services:\n  web:\n    image: x\n    ports: 80\n", "compose.yaml:4:12: services.web.ports: must be a list, not a number"),
        ("services:\n  web:\n    image: x\n    restart: sometimes\n", "services.web.restart: invalid restart policy \"sometimes\""),
        ("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n", "dependency cycle between services: a -> b -> a"),
        ("services:\n  web:\n    image: ${IMAGE:?IMAGE must be set}\n", "compose.yaml:3:12: services.web.image: required variable IMAGE is missing a value: IMAGE must be set"),
        ("services:\n  web:\n    image: x\n    env_file: missing.env\n", "compose.yaml:4:15: services.web.env_file[0]: env file"),
        ("services:\n  web:\n    image: x\n    gpus: all\n", "compose.yaml:4:5: services.web.gpus: berth does not support this key yet"),
        ("services:\n  web:\n    image: x\n    ports: ['80:80:80:80']\n", "compose.yaml:4:13: services.web.ports[0]: invalid port"),
        ("services:\n  web:\n    image: x\n    volumes: ['nope:/d']\n", "services.web.volumes[0]: service uses undefined volume \"nope\""),
    ];
    for (src, want) in cases {
        write(&dir, "compose.yaml", src);
        let out = config(&b, &dir, &["config"]);
        out.assert_code(125);
        assert!(
            out.stderr.contains(want),
            "for\n{src}\nwant {want:?} in: {}",
            out.stderr
        );
        if want.starts_with("compose.yaml") {
            assert!(
                out.stderr
                    .contains(&format!("{}/compose.yaml", dir.display())),
                "{}",
                out.stderr
            );
        }
    }
    // `version:` is accepted with a notice.
    write(
        &dir,
        "compose.yaml",
        "version: '3.8'\nservices:\n  web: {image: x}\n",
    );
    let out = config(&b, &dir, &["config"]);
    out.assert_ok();
    assert!(
        out.stderr.contains("`version` is obsolete"),
        "{}",
        out.stderr
    );
}

#[test]
fn config_of_fifty_services_is_fast() {
    let b = Berth::new();
    let dir = b.scratch("fifty");
    let mut src = String::from("services:\n");
    for i in 0..50 {
        src.push_str(&format!(
            "  s{i}:\n    image: busybox\n    command: [sleep, '100']\n    environment: [A=1, B=2]\n    volumes: [./d{i}:/d]\n    healthcheck: {{test: [CMD, 'true'], interval: 1s}}\n    labels: {{a: b}}\n"
        ));
    }
    write(&dir, "compose.yaml", &src);
    config(&b, &dir, &["config"]).assert_ok();
    // The best of several runs: the machine is shared, and a loaded moment
    // says nothing about berth.
    let each = (0..7)
        .map(|_| {
            let t = Instant::now();
            config(&b, &dir, &["config"]).assert_ok();
            t.elapsed()
        })
        .min()
        .unwrap_or_default();
    assert!(
        each < Duration::from_millis(50),
        "config of 50 services took {each:?}"
    );
}
