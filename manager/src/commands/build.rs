//! `berth build` (and `berth image build`): docker's flags -> `build::BuildOptions`.

use crate::build::{self, BuildOptions, ContextSource, DockerfileSource, ProgressMode, Secret};
use crate::context::Context;
use anyhow::{anyhow, bail};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Name and optionally a tag in the name:tag format
    #[arg(short = 't', long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: PATH/Dockerfile; - for standard input)
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the base images
    #[arg(long)]
    pub pull: bool,
    /// Set metadata for an image
    #[arg(long)]
    pub label: Vec<String>,
    /// Networking mode for the RUN instructions (default: the default bridge; none, host, a network name)
    #[arg(long)]
    pub network: Option<String>,
    /// Set platform (this host's only: linux/amd64)
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the image ID to the file
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Type of progress output (auto, plain, tty): auto is tty on a terminal, plain otherwise
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Secret to expose to the build (id=mysecret,src=/local/secret or env=VAR)
    #[arg(long)]
    pub secret: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long)]
    pub add_host: Vec<String>,
    /// Ulimit options (name=soft[:hard])
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Size of /dev/shm (e.g. 64m)
    #[arg(long)]
    pub shm_size: Option<String>,
    /// Images to consider as cache sources (IMAGE or type=registry,ref=IMAGE)
    #[arg(long)]
    pub cache_from: Vec<String>,
    /// The context: a directory, a tar file, or - (a tar or a Dockerfile on standard input)
    pub path: String,
}

fn parse_secret(s: &str) -> anyhow::Result<Secret> {
    let mut sec = Secret {
        id: String::new(),
        src: None,
        env: None,
        content: None,
    };
    for part in s.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid --secret {s:?}: use id=ID,src=PATH"))?;
        match k {
            "id" => sec.id = v.to_string(),
            "src" | "source" => sec.src = Some(PathBuf::from(v)),
            "env" => sec.env = Some(v.to_string()),
            "type" if v == "file" || v == "env" => {}
            _ => bail!("invalid --secret {s:?}: unknown key {k:?}"),
        }
    }
    if sec.id.is_empty() {
        if let Some(src) = &sec.src {
            sec.id = src
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
    }
    if sec.id.is_empty() || (sec.src.is_none() && sec.env.is_none()) {
        bail!("invalid --secret {s:?}: use id=ID,src=PATH");
    }
    Ok(sec)
}

pub fn options(args: &Args) -> anyhow::Result<BuildOptions> {
    let context = if args.path == "-" {
        ContextSource::Stdin
    } else {
        let p = PathBuf::from(&args.path);
        if p.is_file() {
            ContextSource::Tar(p)
        } else {
            ContextSource::Dir(p)
        }
    };
    let dockerfile = match args.file.as_deref() {
        None => DockerfileSource::Default,
        Some("-") => DockerfileSource::Stdin,
        Some(f) => DockerfileSource::Path(PathBuf::from(f)),
    };
    let progress = match args.progress.as_str() {
        "auto" => ProgressMode::Auto,
        "plain" => ProgressMode::Plain,
        "tty" => ProgressMode::Tty,
        other => bail!("invalid --progress {other:?}: use auto, plain or tty"),
    };
    let mut labels = Vec::new();
    for l in &args.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.push((k.to_string(), v.to_string()));
    }
    let shm_size = match &args.shm_size {
        Some(s) => Some(crate::spec::parse_size(s)?),
        None => None,
    };
    Ok(BuildOptions {
        context,
        dockerfile,
        tags: args.tag.clone(),
        build_args: args
            .build_arg
            .iter()
            .map(|a| match a.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (a.clone(), None),
            })
            .collect(),
        target: args.target.clone(),
        no_cache: args.no_cache,
        pull: args.pull,
        labels,
        network: args.network.clone(),
        platform: args.platform.clone(),
        quiet: args.quiet,
        iidfile: args.iidfile.clone(),
        progress,
        secrets: args
            .secret
            .iter()
            .map(|s| parse_secret(s))
            .collect::<Result<_, _>>()?,
        add_hosts: args.add_host.clone(),
        ulimits: args.ulimit.clone(),
        shm_size,
        cache_from: args
            .cache_from
            .iter()
            .map(|c| build::inline_cache::parse_source(c).map_err(|e| anyhow!("--cache-from: {e}")))
            .collect::<Result<_, _>>()?,
    })
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let opts = options(&args)?;
    match build::build(ctx, opts) {
        Ok(id) => {
            if args.quiet {
                println!("{id}");
            }
            Ok(0)
        }
        // docker build's convention: a failed build exits 1 (flag errors stay 125).
        Err(e) => {
            eprintln!("berth: {e}");
            Ok(1)
        }
    }
}
