//! The loader end to end, from files in a scratch directory.

use super::*;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh scratch directory (removed when dropped).
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "berth-compose-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("proj")).unwrap();
        Scratch(d)
    }
    fn dir(&self) -> PathBuf {
        self.0.join("proj")
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.dir().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load_ok(src: &str, env: &[(&str, &str)]) -> (Project, Vec<String>, Scratch) {
    let s = Scratch::new();
    let l = load_str(src, &s.dir(), env).unwrap_or_else(|e| panic!("{e}"));
    (l.project, l.warnings, s)
}

fn load_err(src: &str) -> String {
    let s = Scratch::new();
    let e = load_str(src, &s.dir(), &[]).unwrap_err().to_string();
    // Paths differ per run: show them relative to the scratch dir.
    e.replace(&s.dir().display().to_string(), "DIR")
}

#[test]
fn minimal_project_defaults() {
    let (p, w, _s) = load_ok("services:\n  web:\n    image: nginx\n", &[]);
    assert_eq!(p.name, "proj");
    assert!(w.is_empty());
    let web = &p.services["web"];
    assert_eq!(web.image.as_deref(), Some("nginx"));
    assert!(web.networks.contains_key("default"));
    assert_eq!(p.networks["default"].name, "proj_default");
}

#[test]
fn project_name_sources() {
    let (p, _, _s) = load_ok("name: fromfile\nservices: {a: {image: x}}\n", &[]);
    assert_eq!(p.name, "fromfile");
    let (p, _, _s) = load_ok(
        "name: fromfile\nservices: {a: {image: x}}\n",
        &[("COMPOSE_PROJECT_NAME", "fromenv")],
    );
    assert_eq!(p.name, "fromenv");
    assert!(load_err("name: Bad Name\nservices: {}\n").contains("invalid project name"));
    assert_eq!(normalize_project_name("My.App"), "myapp");
}

#[test]
fn interpolation_from_env_and_dotenv() {
    let s = Scratch::new();
    s.write(".env", "TAG=1.2\nPORT=8080\n");
    let l = load_str(
        "services:\n  web:\n    image: \"nginx:${TAG}\"\n    ports: [\"${PORT}:80\"]\n    environment:\n      A: ${MISSING:-dflt}\n      B: $$literal\n      C: ${UNSET}\n",
        &s.dir(),
        &[("PORT", "9090")],
    )
    .unwrap();
    let web = &l.project.services["web"];
    assert_eq!(web.image.as_deref(), Some("nginx:1.2"));
    // The process environment wins over .env.
    assert_eq!(web.ports[0].published.as_deref(), Some("9090"));
    assert_eq!(web.environment["A"].as_deref(), Some("dflt"));
    assert_eq!(web.environment["B"].as_deref(), Some("$literal"));
    assert_eq!(web.environment["C"].as_deref(), Some(""));
    assert_eq!(
        l.warnings,
        vec!["The \"UNSET\" variable is not set. Defaulting to a blank string.".to_string()]
    );
}

#[test]
fn env_file_flag_replaces_dotenv() {
    let s = Scratch::new();
    s.write(".env", "TAG=fromdotenv\n");
    s.write("other.env", "TAG=fromflag\n");
    let f = s.write("compose.yaml", "services: {a: {image: \"x:${TAG}\"}}\n");
    let opts = Options {
        files: vec![f],
        workdir: s.dir(),
        env_files: vec![PathBuf::from("other.env")],
        ..Options::default()
    };
    assert_eq!(
        load(&opts).unwrap().project.services["a"].image.as_deref(),
        Some("x:fromflag")
    );
}

#[test]
fn required_variable_error_has_position() {
    assert_eq!(
        load_err("services:\n  web:\n    image: ${IMG:?set IMG to the image}\n"),
        "DIR/compose.yaml:3:12: services.web.image: required variable IMG is missing a value: set IMG to the image"
    );
}

#[test]
fn version_is_accepted_with_a_notice() {
    let (_, w, _s) = load_ok("version: '3.9'\nservices: {a: {image: x}}\n", &[]);
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("`version` is obsolete"), "{w:?}");
}

#[test]
fn unknown_key_suggests() {
    assert_eq!(
        load_err("services:\n  web:\n    images: nginx\n"),
        "DIR/compose.yaml:3:5: services.web.images: unknown key; did you mean `image`?"
    );
}

#[test]
fn yaml_error_names_file_and_line() {
    let e = load_err("services:\n  web:\n    image: [x\n");
    assert!(e.starts_with("DIR/compose.yaml:"), "{e}");
    assert!(e.contains("invalid YAML"), "{e}");
}

#[test]
fn type_error() {
    assert_eq!(
        load_err("services:\n  web:\n    image: x\n    privileged: sometimes\n"),
        "DIR/compose.yaml:4:17: services.web.privileged: must be a boolean (true or false), not a string"
    );
}

#[test]
fn port_out_of_range() {
    assert_eq!(
        load_err("services:\n  a:\n    image: x\n    ports: [{target: 70000}]\n"),
        "DIR/compose.yaml:4:13: services.a.ports[0].target: a port must be between 1 and 65535"
    );
    assert!(
        load_err("services:\n  a:\n    image: x\n    ports: ['70000:80']\n")
            .contains("invalid port")
    );
}

#[test]
fn dependency_cycle() {
    assert_eq!(
        load_err("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n"),
        "dependency cycle between services: a -> b -> a"
    );
}

#[test]
fn missing_env_file() {
    assert_eq!(
        load_err("services:\n  a:\n    image: x\n    env_file: nope.env\n"),
        "DIR/compose.yaml:4:15: services.a.env_file[0]: env file DIR/nope.env not found"
    );
    // Not required: no error.
    let (p, _, _s) = load_ok(
        "services:\n  a:\n    image: x\n    env_file: [{path: nope.env, required: false}]\n",
        &[],
    );
    assert!(p.services["a"].environment.is_empty());
}

#[test]
fn env_file_under_environment() {
    let s = Scratch::new();
    s.write("a.env", "A=fromfile\nB=fromfile\n");
    let l = load_str(
        "services:\n  a:\n    image: x\n    env_file: a.env\n    environment: [B=explicit, HOME_FROM_ENV]\n",
        &s.dir(),
        &[("HOME_FROM_ENV", "h")],
    )
    .unwrap();
    let env = &l.project.services["a"].environment;
    assert_eq!(env["A"].as_deref(), Some("fromfile"));
    assert_eq!(env["B"].as_deref(), Some("explicit"));
    assert_eq!(env["HOME_FROM_ENV"].as_deref(), Some("h"));
}

#[test]
fn undefined_references() {
    assert!(load_err("services:\n  a: {image: x, depends_on: [nope]}\n")
        .contains("depends on undefined service \"nope\""));
    assert!(
        load_err("services:\n  a: {image: x, volumes: ['data:/d']}\n")
            .contains("undefined volume \"data\"")
    );
    assert!(load_err("services:\n  a: {image: x, networks: [back]}\n")
        .contains("undefined network \"back\""));
    assert!(
        load_err("services:\n  a: {image: x, secrets: [s]}\n").contains("undefined secret \"s\"")
    );
    assert!(load_err("services:\n  a: {command: x}\n").contains("neither an image nor a build"));
}

#[test]
fn long_and_short_syntax() {
    let (p, _, s) = load_ok(
        r#"
services:
  web:
    image: x
    command: sh -c "echo hi; sleep 1"
    ports:
      - "127.0.0.1:8080:80"
      - 9000-9001:90-91/udp
      - target: 443
        published: 8443
    volumes:
      - ./data:/data:ro
      - db:/var/lib/db
      - /anon
      - type: tmpfs
        target: /tmp
        tmpfs: {size: 64m}
    depends_on:
      db:
        condition: service_healthy
    labels: [a=b, c]
    healthcheck:
      test: curl -f http://localhost
      interval: 1s
    ulimits:
      nofile: 1024
      nproc: {soft: 10, hard: 20}
    mem_limit: 512m
    stop_grace_period: 90s
    extra_hosts:
      host1: 10.0.0.1
  db:
    image: y
volumes:
  db:
"#,
        &[],
    );
    let web = &p.services["web"];
    assert_eq!(
        web.command.as_deref(),
        Some(&["sh".to_string(), "-c".into(), "echo hi; sleep 1".into()][..])
    );
    assert_eq!(web.ports.len(), 4);
    assert_eq!(web.ports[0].host_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        (
            web.ports[1].target,
            web.ports[1].published.as_deref(),
            web.ports[1].protocol.as_str()
        ),
        (90, Some("9000"), "udp")
    );
    assert_eq!(
        (web.ports[3].target, web.ports[3].published.as_deref()),
        (443, Some("8443"))
    );
    assert_eq!(
        web.volumes[0].source.as_deref(),
        Some(s.dir().join("data").to_str().unwrap())
    );
    assert!(web.volumes[0].read_only);
    assert_eq!(web.volumes[1].r#type, "volume");
    assert_eq!(web.volumes[2].source, None);
    assert_eq!(
        web.volumes[3].tmpfs.as_ref().and_then(|t| t.size),
        Some(64 << 20)
    );
    assert_eq!(web.depends_on["db"].condition, "service_healthy");
    assert!(web.depends_on["db"].required);
    assert_eq!(web.labels["c"], "");
    let hc = web.healthcheck.as_ref().unwrap();
    assert_eq!(
        hc.test,
        vec!["CMD-SHELL".to_string(), "curl -f http://localhost".into()]
    );
    assert_eq!(hc.interval.as_deref(), Some("1s"));
    assert_eq!(
        (web.ulimits["nofile"].soft, web.ulimits["nproc"].hard),
        (1024, 20)
    );
    assert_eq!(web.mem_limit, Some(512 << 20));
    assert_eq!(web.stop_grace_period.as_deref(), Some("1m30s"));
    assert_eq!(web.extra_hosts, vec!["host1:10.0.0.1".to_string()]);
    assert_eq!(p.volumes["db"].name, "proj_db");
}

#[test]
fn several_files_merge() {
    let s = Scratch::new();
    let a = s.write(
        "compose.yaml",
        "services:\n  web:\n    image: a\n    environment: [A=1, B=1]\n    ports: ['80:80']\n    command: [one]\n",
    );
    let b = s.write(
        "sub/extra.yaml",
        "services:\n  web:\n    image: b\n    environment: {B: '2'}\n    ports: ['81:81']\n    command: [two]\n    volumes: [./x:/x]\n",
    );
    let opts = Options {
        files: vec![a, b],
        workdir: s.dir(),
        ..Options::default()
    };
    let p = load(&opts).unwrap().project;
    let web = &p.services["web"];
    assert_eq!(web.image.as_deref(), Some("b"));
    assert_eq!(web.environment["A"].as_deref(), Some("1"));
    assert_eq!(web.environment["B"].as_deref(), Some("2"));
    assert_eq!(web.ports.len(), 2);
    assert_eq!(web.command.as_deref(), Some(&["two".to_string()][..]));
    // Relative paths of every -f file resolve against the project directory.
    assert_eq!(
        web.volumes[0].source.as_deref(),
        Some(s.dir().join("x").to_str().unwrap())
    );
}

#[test]
fn discovery_and_override() {
    let s = Scratch::new();
    s.write("compose.yaml", "services: {web: {image: a}}\n");
    s.write("compose.override.yaml", "services: {web: {image: b}}\n");
    std::fs::create_dir_all(s.dir().join("deep/er")).unwrap();
    let opts = Options {
        workdir: s.dir().join("deep/er"),
        ..Options::default()
    };
    let l = load(&opts).unwrap();
    assert_eq!(l.project.services["web"].image.as_deref(), Some("b"));
    assert_eq!(l.project.config_files.len(), 2);
    assert_eq!(l.project.working_dir, s.dir());
    // COMPOSE_FILE wins over discovery.
    s.write("alt.yml", "services: {x: {image: c}}\n");
    let opts = Options {
        workdir: s.dir(),
        os_env: [("COMPOSE_FILE".to_string(), "alt.yml".to_string())].into(),
        ..Options::default()
    };
    assert!(load(&opts).unwrap().project.services.contains_key("x"));
    let empty = Scratch::new();
    let e = load(&Options {
        workdir: empty.0.clone(),
        ..Options::default()
    })
    .unwrap_err();
    assert!(
        e.to_string().starts_with("no configuration file provided"),
        "{e}"
    );
}

#[test]
fn extends_same_and_other_file() {
    let s = Scratch::new();
    s.write("common/base.yaml", "services:\n  base:\n    image: base\n    environment: {FROM: base}\n    volumes: [./conf:/conf]\n");
    let l = load_str(
        "services:\n  tmpl:\n    image: t\n    labels: {l: '1'}\n  a:\n    extends: tmpl\n    command: [x]\n  b:\n    extends: {file: common/base.yaml, service: base}\n    environment: {MINE: '1'}\n  c:\n    extends: a\n",
        &s.dir(),
        &[],
    )
    .unwrap();
    let p = l.project;
    assert_eq!(p.services["a"].image.as_deref(), Some("t"));
    assert_eq!(p.services["a"].labels["l"], "1");
    assert_eq!(
        p.services["c"].command.as_deref(),
        Some(&["x".to_string()][..])
    );
    let b = &p.services["b"];
    assert_eq!(b.image.as_deref(), Some("base"));
    assert_eq!(b.environment["FROM"].as_deref(), Some("base"));
    assert_eq!(b.environment["MINE"].as_deref(), Some("1"));
    // Relative paths of the extended file resolve against its directory.
    assert_eq!(
        b.volumes[0].source.as_deref(),
        Some(s.dir().join("common/conf").to_str().unwrap())
    );
    let e = load_err("services:\n  a: {extends: b, image: x}\n  b: {extends: a, image: x}\n");
    assert!(e.contains("circular extends"), "{e}");
    let e = load_err("services:\n  a: {extends: bse, image: x}\n  base: {image: x}\n");
    assert!(
        e.contains("no service \"bse\" to extend; did you mean `base`?"),
        "{e}"
    );
}

#[test]
fn include_brings_services() {
    let s = Scratch::new();
    s.write(
        "lib/compose.yaml",
        "services:\n  db:\n    image: db\n    volumes: [./init:/init]\nvolumes:\n  data: {}\n",
    );
    let l = load_str(
        "include:\n  - lib/compose.yaml\nservices:\n  web: {image: w, depends_on: [db]}\n",
        &s.dir(),
        &[],
    )
    .unwrap();
    let p = l.project;
    assert!(p.services.contains_key("db"));
    assert!(p.volumes.contains_key("data"));
    // The included project's paths are relative to its own directory.
    assert_eq!(
        p.services["db"].volumes[0].source.as_deref(),
        Some(s.dir().join("lib/init").to_str().unwrap())
    );
    let s2 = Scratch::new();
    s2.write("lib/compose.yaml", "services:\n  web: {image: x}\n");
    let e = load_str(
        "include: [lib/compose.yaml]\nservices:\n  web: {image: w}\n",
        &s2.dir(),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("conflicts"), "{e}");
}

#[test]
fn profiles_filter_services() {
    let src = "services:\n  web: {image: w}\n  debug: {image: d, profiles: [dev]}\n  tool: {image: t, profiles: [tools], depends_on: [helper]}\n  helper: {image: h, profiles: [tools]}\n";
    let (p, _, _s) = load_ok(src, &[]);
    assert_eq!(p.services.keys().collect::<Vec<_>>(), vec!["web"]);
    let (p, _, _s) = load_ok(src, &[("COMPOSE_PROFILES", "dev,tools")]);
    assert_eq!(p.services.len(), 4);
    // A service named on the command line is enabled, with its dependencies.
    let s = Scratch::new();
    let f = s.write("compose.yaml", src);
    let opts = Options {
        files: vec![f],
        workdir: s.dir(),
        services: vec!["tool".into()],
        ..Options::default()
    };
    let p = load(&opts).unwrap().project;
    assert!(p.services.contains_key("tool") && p.services.contains_key("helper"));
    let e = load_err(
        "services:\n  web: {image: w, depends_on: [dbg]}\n  dbg: {image: d, profiles: [x]}\n",
    );
    assert!(e.contains("disabled by its profiles"), "{e}");
}

#[test]
fn secrets_and_configs() {
    let (p, _, s) = load_ok(
        "services:\n  a:\n    image: x\n    secrets: [pw, {source: key, target: /k, mode: 0400}]\n    configs: [{source: c, target: /etc/c, uid: '1'}]\nsecrets:\n  pw: {file: ./pw.txt}\n  key: {environment: KEY}\nconfigs:\n  c: {content: hello}\n",
        &[],
    );
    let a = &p.services["a"];
    assert_eq!(a.secrets[0].source, "pw");
    assert_eq!(a.secrets[1].mode, Some(0o400));
    assert_eq!(
        p.secrets["pw"].file.as_deref(),
        Some(s.dir().join("pw.txt").to_str().unwrap())
    );
    assert_eq!(p.configs["c"].content.as_deref(), Some("hello"));
    assert!(
        load_err("services: {}\nsecrets:\n  s: {file: a, environment: B}\n")
            .contains("exactly one of")
    );
}

#[test]
fn unsupported_key_is_an_error() {
    assert!(load_err("services:\n  a: {image: x, gpus: all}\n")
        .contains("services.a.gpus: berth does not support this key yet"));
    assert!(
        load_err("services:\n  a:\n    build: {context: ., ssh: [default]}\n")
            .contains("services.a.build.ssh: berth does not support")
    );
    assert_eq!(
        load_err("volumes:\n  v: {driver: nfs}\nservices: {}\n"),
        "DIR/compose.yaml:2:7: volumes.v.driver: berth supports only the local driver, not \"nfs\""
    );
    assert_eq!(
        load_err("services: {}\nconfigs:\n  c: {file: a, content: b}\n"),
        "DIR/compose.yaml:3:6: configs.c: needs exactly one of file, environment or content"
    );
}

#[test]
fn yaml_anchors_merge_and_extensions() {
    let (p, _, _s) = load_ok(
        "x-common: &common\n  image: base\n  environment: {A: '1'}\nservices:\n  a:\n    <<: *common\n    command: [a]\n  b:\n    <<: *common\n    image: other\n",
        &[],
    );
    assert_eq!(p.services["a"].image.as_deref(), Some("base"));
    assert_eq!(p.services["b"].image.as_deref(), Some("other"));
    assert_eq!(p.services["b"].environment["A"].as_deref(), Some("1"));
}

#[test]
fn config_output_is_stable_and_reloadable() {
    let (p, _, s) = load_ok(
        "services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n    environment: {A: 'yes', B: '0755'}\n    depends_on: [db]\n  db:\n    image: postgres\n",
        &[],
    );
    let y = crate::compose::output::to_yaml(&p);
    assert!(y.starts_with("name: proj\nservices:\n"), "{y}");
    // The output loads back to the same model.
    let s2 = Scratch::new();
    let l = load_str(&y, &s2.dir(), &[]).unwrap();
    assert_eq!(l.project.services, p.services);
    let j: serde_json::Value = serde_json::from_str(&crate::compose::output::to_json(&p)).unwrap();
    assert_eq!(
        j["services"]["web"]["ports"][0],
        json!({"mode":"ingress","target":80,"published":"8080","protocol":"tcp"})
    );
    drop(s);
}

#[test]
fn fifty_services_load_fast() {
    let mut src = String::from("services:\n");
    for i in 0..50 {
        src.push_str(&format!(
            "  s{i}:\n    image: busybox\n    command: [sleep, '100']\n    environment: [A=1, B=2]\n    ports: ['{}:80']\n    volumes: [./d{i}:/d]\n    healthcheck: {{test: [CMD, true], interval: 1s}}\n",
            10000 + i
        ));
    }
    let s = Scratch::new();
    // Debug build (the release binary is far faster), best of three on a
    // shared machine: this bounds regressions.
    let best = (0..3)
        .map(|_| {
            let t = std::time::Instant::now();
            let l = load_str(&src, &s.dir(), &[]).unwrap();
            let _ = crate::compose::output::to_yaml(&l.project);
            assert_eq!(l.project.services.len(), 50);
            t.elapsed()
        })
        .min()
        .unwrap_or_default();
    assert!(best < std::time::Duration::from_millis(500), "{best:?}");
}
