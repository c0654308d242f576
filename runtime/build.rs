//! Link berth-runtime with the functions its common commands run placed
//! together (runtime/link/hot-text.ld): the kernel maps 64 KiB of the binary
//! around each page fault, so scattered hot code makes most of the text
//! resident (peak RSS of `create`, docs/runtime.md "Memory"). The script only
//! adds an output section (INSERT), which GNU ld and lld both accept.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let script = format!("{dir}/link/hot-text.ld");
    println!("cargo:rerun-if-changed=link/hot-text.ld");
    println!("cargo:rustc-link-arg-bin=berth-runtime=-Wl,-T,{script}");
    // Segments congruent with their file offsets modulo 64 KiB: the page
    // cache holds a file written by `write` (cp, install, a package
    // manager) in folios of up to 64 KiB aligned in the file, and a fault
    // maps its whole folio; with the text one page off, each 64 KiB window
    // touched mapped two folios (docs/runtime.md, "Memory"). No file
    // padding: only the addresses move.
    println!("cargo:rustc-link-arg-bin=berth-runtime=-Wl,-z,max-page-size=65536");
    // A link map names every function's place even in the stripped release
    // binary: runtime/link/gen-hot-text.py reads it to regenerate the list.
    println!("cargo:rerun-if-env-changed=BERTH_RUNTIME_LINK_MAP");
    if let Ok(map) = std::env::var("BERTH_RUNTIME_LINK_MAP") {
        println!("cargo:rustc-link-arg-bin=berth-runtime=-Wl,-Map={map}");
    }
}
