//! `berth info` (`system info`): the host, the stores and their counts.

use crate::context::Context;
use crate::format::{human_size, Style, Template};
use anyhow::anyhow;
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format the output using a Go template (`json` for the whole object)
    #[arg(short, long)]
    pub format: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let v = crate::system::info(ctx)?;
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
    let s = |k: &str| match &v[k] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut o = String::new();
    o.push_str(&format!(
        "Server:\n Containers: {}\n  Running: {}\n  Paused: {}\n  Stopped: {}\n Images: {}\n",
        s("Containers"),
        s("ContainersRunning"),
        s("ContainersPaused"),
        s("ContainersStopped"),
        s("Images")
    ));
    o.push_str(&format!(
        " Server Version: {}\n Storage Driver: {}\n",
        s("ServerVersion"),
        s("Driver")
    ));
    o.push_str(&format!(
        " Logging Driver: {}\n Cgroup Driver: {}\n Cgroup Version: {}\n Cgroup Parent: {}\n",
        s("LoggingDriver"),
        s("CgroupDriver"),
        s("CgroupVersion"),
        s("CgroupParent")
    ));
    o.push_str(&format!(
        " Default Runtime: {}\n Runtime: {}\n Shim: {}\n",
        s("DefaultRuntime"),
        v["Runtimes"]["berth-runtime"]["path"]
            .as_str()
            .unwrap_or(""),
        s("Shim")
    ));
    o.push_str(&format!(
        " Kernel Version: {}\n Operating System: {}\n OSType: {}\n Architecture: {}\n",
        s("KernelVersion"),
        s("OperatingSystem"),
        s("OSType"),
        s("Architecture")
    ));
    o.push_str(&format!(
        " CPUs: {}\n Total Memory: {}\n Name: {}\n",
        s("NCPU"),
        human_size(v["MemTotal"].as_u64().unwrap_or(0)),
        s("Name")
    ));
    o.push_str(&format!(
        " Berth Root Dir: {}\n Berth State Dir: {}\n",
        s("DockerRootDir"),
        s("StateDir")
    ));
    // docker's lines: each option's name, then its key=value pairs
    let opts = v["SecurityOptions"].as_array().cloned().unwrap_or_default();
    if !opts.is_empty() {
        o.push_str(" Security Options:\n");
        for opt in opts.iter().filter_map(|x| x.as_str()) {
            for (i, kv) in opt.split(',').enumerate() {
                let (k, val) = kv.split_once('=').unwrap_or((kv, ""));
                if i == 0 && k == "name" {
                    o.push_str(&format!("  {val}\n"));
                } else {
                    let mut k = k.to_string();
                    if let Some(c) = k.get_mut(0..1) {
                        c.make_ascii_uppercase();
                    }
                    o.push_str(&format!("   {k}: {val}\n"));
                }
            }
        }
    }
    // docker's registry lines: insecure registries, then the mirrors.
    let list = |key: &str| -> Vec<String> {
        v["RegistryConfig"][key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    };
    let insecure = list("InsecureRegistries");
    if !insecure.is_empty() {
        o.push_str(
            " Insecure Registries:
",
        );
        for r in insecure {
            o.push_str(&format!(
                "  {r}
"
            ));
        }
    }
    let mirrors = list("Mirrors");
    if !mirrors.is_empty() {
        o.push_str(
            " Registry Mirrors:
",
        );
        for m in mirrors {
            o.push_str(&format!(
                "  {m}
"
            ));
        }
    }
    for w in v["Warnings"].as_array().into_iter().flatten() {
        o.push_str(&format!("{}\n", w.as_str().unwrap_or("")));
    }
    o
}
