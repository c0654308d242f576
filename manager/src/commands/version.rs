//! `berth version`: the versions of berth and of the runtime and shim it drives.

use crate::context::Context;
use crate::format::{Style, Template};
use anyhow::anyhow;
use serde_json::{json, Value};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format the output using a Go template (`json` for the whole object)
    #[arg(short, long)]
    pub format: Option<String>,
}

/// `BIN --version`'s last word (`berth-runtime 0.1.0`), or why there is none.
fn version_of(bin: &std::path::Path) -> String {
    match std::process::Command::new(bin).arg("--version").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .last()
            .unwrap_or("")
            .to_string(),
        Ok(_) => "unknown".into(),
        Err(e) => format!("not found ({e})"),
    }
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let os = std::env::consts::OS;
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    let me = env!("CARGO_PKG_VERSION");
    let runtime = version_of(&ctx.runtime);
    let shim = version_of(&ctx.shim);
    let v = json!({
        "Client": {"Version": me, "ApiVersion": "1.41", "Os": os, "Arch": arch, "Platform": {"Name": "berth"}},
        "Server": {
            "Version": me, "Os": os, "Arch": arch,
            "Components": [
                {"Name": "berth", "Version": me},
                {"Name": "berth-runtime", "Version": runtime, "Details": {"Path": ctx.runtime}},
                {"Name": "berth-shim", "Version": shim, "Details": {"Path": ctx.shim}},
            ],
        },
    });
    match args.format.as_deref() {
        Some("json") => println!("{v}"),
        Some(f) => {
            let t = Template::parse(f, Style::Go).map_err(|e| anyhow!(e))?;
            println!("{}", t.render(&v).map_err(|e| anyhow!(e))?);
        }
        None => print!("{}", human(&v)),
    }
    Ok(0)
}

fn human(v: &Value) -> String {
    let c = &v["Client"];
    let mut o = format!(
        "Client:\n Version:           {}\n API version:       {}\n OS/Arch:           {}/{}\n\nServer: berth (daemonless)\n",
        c["Version"].as_str().unwrap_or(""),
        c["ApiVersion"].as_str().unwrap_or(""),
        c["Os"].as_str().unwrap_or(""),
        c["Arch"].as_str().unwrap_or("")
    );
    for comp in v["Server"]["Components"].as_array().into_iter().flatten() {
        o.push_str(&format!(
            " {}:\n  Version:          {}\n",
            comp["Name"].as_str().unwrap_or(""),
            comp["Version"].as_str().unwrap_or("")
        ));
    }
    o
}
