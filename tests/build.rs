//! The target triple this crate is built for, which is the workspace's build
//! target (.cargo/config.toml) and so names the directory of the binaries
//! under test (`release_dir` in src/lib.rs).

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=BERTH_BUILD_TARGET={target}");
}
