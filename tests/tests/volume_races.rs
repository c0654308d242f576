//! Volume seeding against a symlink swap while it runs (issue 15, item 2):
//! a container holding unseeded named volumes (`volume-nocopy`) swaps, in a
//! tight loop, a directory the seeding is about to write into with a symlink
//! to a host directory, while other containers seed those volumes from their
//! image. Whatever each seeding does (succeed, or fail on a name the loop put
//! there), nothing may land outside the volume: the host directory stays
//! empty.

use berth_tests::manager::Berth;

const VOLS: usize = 12;

#[test]
fn volume_seeding_against_a_symlink_swap_race() {
    berth_tests::init();
    let b = Berth::new();
    b.import_busybox("bb");
    // an image whose /seed has a subdirectory with many files to seed
    b.run(&[
        "run",
        "--name",
        "mkseed",
        "bb",
        "sh",
        "-c",
        "mkdir -p /seed/sub && i=0; while [ $i -lt 200 ]; do echo x > /seed/sub/f$i; i=$((i+1)); done",
    ])
    .assert_ok();
    b.run(&["commit", "mkseed", "seedimg"]).assert_ok();
    b.run(&["rm", "mkseed"]).assert_ok();
    let canary = b.scratch("canary");
    berth_tests::sys::set_mode(&canary, 0o777);
    // the attacker: every volume, unseeded, gets `sub` swapped between a
    // symlink to the host's canary directory and nothing, forever
    let mut args: Vec<String> = ["run", "-d", "--name", "attacker"]
        .map(String::from)
        .to_vec();
    for i in 0..VOLS {
        args.push("--mount".into());
        args.push(format!(
            "type=volume,source=race{i},target=/v{i},volume-nocopy"
        ));
    }
    let script = format!(
        "while :; do for d in /v*; do ln -sfn {c} $d/sub 2>/dev/null; rm -f $d/sub; \
         ln -sfn {c} $d/sub 2>/dev/null; rm -rf $d/sub; done; done",
        c = canary.display()
    );
    args.extend(["bb", "sh", "-c", &script].map(String::from));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    b.run(&a).assert_ok();
    let mut seeded = 0;
    for i in 0..VOLS {
        let v = format!("race{i}:/seed");
        let out = b.run(&["run", "--rm", "-v", &v, "seedimg", "true"]);
        if out.ok() {
            seeded += 1;
        } else {
            eprintln!("race{i}: {}", out.stderr.trim());
        }
        let left: Vec<_> = std::fs::read_dir(&canary)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            left.is_empty(),
            "seeding race{i} wrote into the host directory: {left:?}"
        );
    }
    eprintln!("{seeded}/{VOLS} seedings completed under the race");
    b.run(&["rm", "-f", "attacker"]).assert_ok();
    let mut rm = vec!["volume", "rm"];
    let names: Vec<String> = (0..VOLS).map(|i| format!("race{i}")).collect();
    rm.extend(names.iter().map(String::as_str));
    b.run(&rm).assert_ok();
    b.assert_no_leaks();
}
