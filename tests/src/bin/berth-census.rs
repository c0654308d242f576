//! The end-of-run census of tests/run.sh: fails (exit 1) when berth objects
//! of gone roots, or of this run's roots, are left on the host after a sweep
//! (see `berth_tests::host_census`).
//!
//!   berth-census [--dirs-log FILE] [--warn-only]
//!
//! `--dirs-log`: the run's roots and state dirs (`BERTH_TEST_DIRS_LOG`).
//! It first prints what a sweep has to remove (leftovers that the next berth
//! command repairs: not a failure), then what remains after sweeps (a failure).

use berth_tests::host_census::{self, HostCensus};
use std::path::PathBuf;
use std::time::Duration;

fn main() {
    let mut dirs_log: Option<PathBuf> = None;
    let mut warn_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dirs-log" => dirs_log = args.next().map(PathBuf::from),
            "--warn-only" => warn_only = true,
            other => {
                eprintln!(
                    "berth-census: unknown argument {other:?} (--dirs-log FILE, --warn-only)"
                );
                std::process::exit(2);
            }
        }
    }
    let run_dirs = dirs_log
        .as_deref()
        .map(host_census::read_dirs_log)
        .unwrap_or_default();
    let before = HostCensus::take(&run_dirs);
    if before.is_clean() {
        println!("census: nothing of gone roots before the sweep");
    } else {
        println!("census: before the sweep (the next berth command removes these):");
        for p in before.problems() {
            println!("  {p}");
        }
    }
    let after = host_census::after_sweep(&run_dirs, Duration::from_secs(10));
    if after.is_clean() {
        println!(
            "census: clean after the sweep ({} dirs of this run checked)",
            run_dirs.len()
        );
        return;
    }
    println!("census: LEFT OVER after the sweep (nothing will remove these):");
    for p in after.problems() {
        println!("  {p}");
    }
    if !warn_only {
        std::process::exit(1);
    }
}
