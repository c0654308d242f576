//! `berth build --cache-from` and compose `build.cache_from`: an image built by
//! berth carries its steps' cache keys (the inline cache); a build elsewhere
//! (here: after the local store is wiped) reuses its layers through a registry.

use berth_tests::manager::Berth;
use berth_tests::registry::Registry;
use berth_tests::Value;
use std::path::{Path, PathBuf};

const DOCKERFILE: &str = "FROM busybox\nENV A=1\nWORKDIR /app\nCOPY a.txt /app/\nRUN cat a.txt > /copy && echo ran-$((0+1))\nCOPY b.txt /app/\nRUN echo ran-$((1+1)) && cat /app/b.txt > /second\nCMD cat /copy /second\n";
/// The steps after FROM.
const STEPS: usize = 7;
// The RUN steps print ran-1 and ran-2 (not in their text, which progress shows).

fn context(b: &Berth, name: &str) -> PathBuf {
    let dir = b.scratch(name);
    std::fs::write(dir.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(dir.join("a.txt"), "a0\n").unwrap();
    std::fs::write(dir.join("b.txt"), "b0\n").unwrap();
    dir
}

fn build(b: &Berth, dir: &Path, extra: &[&str]) -> berth_tests::Output {
    let mut args = vec!["build", "--progress", "plain"];
    args.extend_from_slice(extra);
    let d = dir.to_string_lossy().into_owned();
    args.push(&d);
    let out = b.run(&args);
    out.assert_ok();
    out
}

fn inspect(b: &Berth, image: &str) -> Value {
    let out = b.run(&["image", "inspect", image]);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    v[0].clone()
}

fn cached(out: &berth_tests::Output) -> usize {
    out.stderr.matches("CACHED").count()
}

/// The local store without the built images and the build cache (busybox, the
/// base, stays: it is the first step's parent).
fn wipe(b: &Berth, images: &[&str]) {
    for i in images {
        b.run(&["rmi", "-f", i]).assert_ok();
    }
    b.run(&["builder", "prune", "-a", "-f"]).assert_ok();
    let entries = std::fs::read_dir(b.root().join("build/cache"))
        .map(|rd| rd.count())
        .unwrap_or(0);
    assert_eq!(entries, 0, "the build cache is empty after the wipe");
}

fn run_out(b: &Berth, image: &str) -> String {
    let out = b.run(&["run", "--rm", image]);
    out.assert_ok();
    out.stdout
}

/// Build, push, wipe; build again with `--cache-from` the pushed image.
fn pushed(b: &Berth, reg: &Registry) -> (String, Value) {
    let ctx = context(b, "ctx");
    let name = format!("{}/cache/app:1", reg.host());
    let first = build(b, &ctx, &["-t", &name]);
    assert_eq!(cached(&first), 0, "{first}");
    let img = inspect(b, &name);
    // The records are a top-level key of the image config, one per step.
    let id = img["Id"].as_str().unwrap().trim_start_matches("sha256:");
    let raw = std::fs::read(b.root().join("content/blobs/sha256").join(id)).unwrap();
    let raw: Value = serde_json::from_slice(&raw).unwrap();
    let steps = raw["berth.build.cache.v0"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), STEPS, "{raw}");
    assert!(img["Config"].get("berth.build.cache.v0").is_none());
    b.run(&["push", &name]).assert_ok();
    wipe(b, &[&name]);
    (name, img)
}

#[test]
fn cache_from_a_pushed_image_reuses_every_step() {
    let b = Berth::with_busybox("busybox");
    let reg = Registry::plain();
    let (name, img) = pushed(&b, &reg);
    let ctx = b.scratch("ctx");
    let out = build(&b, &ctx, &["-t", "again", "--cache-from", &name]);
    assert_eq!(cached(&out), STEPS, "every step reused: {out}");
    assert!(!out.stderr.contains("ran-1"), "no RUN ran: {out}");
    assert!(!out.stderr.contains("ran-2"), "no RUN ran: {out}");
    let again = inspect(&b, "again");
    assert_eq!(again["Id"], img["Id"], "the same image");
    assert_eq!(again["RootFS"]["Layers"], img["RootFS"]["Layers"]);
    assert_eq!(run_out(&b, "again"), "a0\nb0\n");

    // A changed copied file: the steps from it on run, those before are reused.
    wipe(&b, &["again", &name]);
    std::fs::write(ctx.join("b.txt"), "b1\n").unwrap();
    let out = build(
        &b,
        &ctx,
        &[
            "-t",
            "changed",
            "--cache-from",
            &format!("type=registry,ref={name}"),
        ],
    );
    assert_eq!(cached(&out), 4, "ENV, WORKDIR, COPY a, RUN reused: {out}");
    assert!(!out.stderr.contains("ran-1"), "{out}");
    assert!(out.stderr.contains("ran-2"), "the second RUN ran: {out}");
    let changed = inspect(&b, "changed");
    assert_ne!(changed["Id"], img["Id"]);
    let (old, new) = (
        img["RootFS"]["Layers"].as_array().unwrap().clone(),
        changed["RootFS"]["Layers"].as_array().unwrap().clone(),
    );
    assert_eq!(old.len(), new.len());
    // busybox, WORKDIR's directory, COPY a.txt, the first RUN: the same layers.
    assert_eq!(old[..4], new[..4]);
    assert_ne!(old[4..], new[4..]);
    assert_eq!(run_out(&b, "changed"), "a0\nb1\n");

    // A changed earlier file: everything from its COPY on runs.
    wipe(&b, &["changed", &name]);
    std::fs::write(ctx.join("a.txt"), "a1\n").unwrap();
    let out = build(&b, &ctx, &["-t", "changed2", "--cache-from", &name]);
    assert_eq!(cached(&out), 2, "ENV, WORKDIR reused: {out}");
    assert!(out.stderr.contains("ran-1"), "{out}");
    assert_eq!(run_out(&b, "changed2"), "a1\nb1\n");

    // --no-cache takes nothing from the source either.
    let out = build(&b, &ctx, &["-t", "nc", "--no-cache", "--cache-from", &name]);
    assert_eq!(cached(&out), 0, "{out}");
    b.assert_no_leaks();
}

#[test]
fn compose_cache_from_reuses_the_pushed_image() {
    let b = Berth::with_busybox("busybox");
    let reg = Registry::plain();
    let (name, img) = pushed(&b, &reg);
    let dir = b.scratch("ctx");
    std::fs::write(
        dir.join("compose.yaml"),
        format!(
            "services:\n  app:\n    image: capp\n    build:\n      context: .\n      cache_from:\n        - {name}\n"
        ),
    )
    .unwrap();
    let out = b.cmd().cwd(&dir).args(["compose", "build"]).run();
    out.assert_ok();
    let text = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(text.matches("CACHED").count(), STEPS, "{out}");
    assert!(!text.contains("ran-1"), "{out}");
    assert_eq!(inspect(&b, "capp")["Id"], img["Id"]);
    // A cache type berth does not have is named.
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  app:\n    image: capp\n    build:\n      context: .\n      cache_from: [\"type=gha\"]\n",
    )
    .unwrap();
    let out = b.cmd().cwd(&dir).args(["compose", "build"]).run();
    assert_ne!(out.code, Some(0), "{out}");
    assert!(
        out.stderr.contains("cache_from") && out.stderr.contains("\"gha\""),
        "{out}"
    );
    b.assert_no_leaks();
}

#[test]
fn sources_without_metadata_or_missing_give_no_hits() {
    let b = Berth::with_busybox("busybox");
    let reg = Registry::plain();
    let ctx = context(&b, "ctx");
    // busybox was imported, not built: it carries no cache keys.
    let out = build(&b, &ctx, &["-t", "plain", "--cache-from", "busybox"]);
    assert_eq!(cached(&out), 0, "{out}");
    assert!(
        out.stderr.contains("no berth build cache metadata"),
        "{out}"
    );
    // A source that does not exist: a warning naming it, and the build goes on (BuildKit's way).
    b.run(&["builder", "prune", "-a", "-f"]).assert_ok();
    let missing = format!("{}/nosuch/img:1", reg.host());
    let out = build(&b, &ctx, &["-t", "plain2", "--cache-from", &missing]);
    assert_eq!(cached(&out), 0, "{out}");
    assert!(
        out.stderr.contains("importing cache manifest from") && out.stderr.contains(&missing),
        "{out}"
    );
    // A cache type berth does not have is refused by name.
    let c = ctx.to_string_lossy().into_owned();
    let out = b.run(&["build", "--cache-from", "type=local,src=/tmp/x", &c]);
    assert_ne!(out.code, Some(0), "{out}");
    assert!(out.stderr.contains("\"local\""), "{out}");
    b.assert_no_leaks();
}
