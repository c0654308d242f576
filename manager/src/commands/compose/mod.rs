//! `berth compose`: docker compose v2's commands, one file per verb. Each verb
//! loads the project (`load`), calls the compose library and prints.

use crate::compose::loader::{self, Options};
use crate::compose::model::Project;
use crate::context::Context;
use clap::Subcommand;
use std::path::PathBuf;

pub mod build;
pub mod config;
pub mod cp;
pub mod create;
pub mod down;
pub mod events;
pub mod exec;
pub mod images;
pub mod kill;
pub mod logs;
pub mod ls;
pub mod pause;
pub mod port;
pub mod ps;
pub mod pull;
pub mod push;
pub mod restart;
pub mod rm;
pub mod run;
pub mod start;
pub mod stop;
pub mod top;
pub mod unpause;
pub mod up;
pub mod version;
pub mod wait;

/// docker compose's project flags, given before the command (`berth compose -f x.yml up`;
/// after it, `-f`/`-p` belong to the command: `rm -f`, `run -p`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ProjectFlags {
    /// Compose configuration files
    #[arg(short = 'f', long = "file")]
    pub file: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the first file's directory)
    #[arg(long)]
    pub project_directory: Option<PathBuf>,
    /// Alternate environment files
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Profiles to enable
    #[arg(long = "profile")]
    pub profile: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub project: ProjectFlags,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create and start containers
    Up(up::Args),
    /// Stop and remove containers, networks
    Down(down::Args),
    /// Creates containers for a service
    Create(create::Args),
    /// Start services
    Start(start::Args),
    /// Stop services
    Stop(stop::Args),
    /// Restart service containers
    Restart(restart::Args),
    /// Force stop service containers
    Kill(kill::Args),
    /// Removes stopped service containers
    Rm(rm::Args),
    /// Pause services
    Pause(pause::Args),
    /// Unpause services
    Unpause(unpause::Args),
    /// Execute a command in a running container
    Exec(exec::Args),
    /// Run a one-off command on a service
    Run(run::Args),
    /// Display the running processes
    Top(top::Args),
    /// Print the public port for a port binding
    Port(port::Args),
    /// Copy files/folders between a service container and the local filesystem
    Cp(cp::Args),
    /// Block until the first service container stops
    Wait(wait::Args),
    /// Parse, resolve and render the compose file in canonical format
    Config(config::Args),
    /// List containers
    Ps(ps::Args),
    /// View output from containers
    Logs(logs::Args),
    /// List images used by the created containers
    Images(images::Args),
    /// List running compose projects
    Ls(ls::Args),
    /// Show the compose version information
    Version(version::Args),
    /// Pull service images
    Pull(pull::Args),
    /// Push service images
    Push(push::Args),
    /// Build or rebuild services
    Build(build::Args),
    /// Receive real time events from containers
    Events(events::Args),
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let p = &args.project;
    match args.command {
        Cmd::Up(a) => up::run(ctx, p, a),
        Cmd::Down(a) => down::run(ctx, p, a),
        Cmd::Create(a) => create::run(ctx, p, a),
        Cmd::Start(a) => start::run(ctx, p, a),
        Cmd::Stop(a) => stop::run(ctx, p, a),
        Cmd::Restart(a) => restart::run(ctx, p, a),
        Cmd::Kill(a) => kill::run(ctx, p, a),
        Cmd::Rm(a) => rm::run(ctx, p, a),
        Cmd::Pause(a) => pause::run(ctx, p, a),
        Cmd::Unpause(a) => unpause::run(ctx, p, a),
        Cmd::Wait(a) => wait::run(ctx, p, a),
        Cmd::Exec(a) => exec::run(ctx, p, a),
        Cmd::Top(a) => top::run(ctx, p, a),
        Cmd::Port(a) => port::run(ctx, p, a),
        Cmd::Cp(a) => cp::run(ctx, p, a),
        Cmd::Run(a) => run::run(ctx, p, a),
        Cmd::Config(a) => config::run(ctx, p, a),
        Cmd::Ps(a) => ps::run(ctx, p, a),
        Cmd::Logs(a) => logs::run(ctx, p, a),
        Cmd::Images(a) => images::run(ctx, p, a),
        Cmd::Ls(a) => ls::run(ctx, a),
        Cmd::Version(a) => version::run(a),
        Cmd::Pull(a) => pull::run(ctx, p, a),
        Cmd::Push(a) => push::run(ctx, p, a),
        Cmd::Build(a) => build::run(ctx, p, a),
        Cmd::Events(a) => events::run(ctx, p, a),
    }
}

/// `berth up`: `berth compose up` with the project flags.
#[derive(clap::Args, Debug)]
pub struct UpAlias {
    #[command(flatten)]
    pub project: ProjectFlags,
    #[command(flatten)]
    pub args: up::Args,
}

/// `berth down`: `berth compose down` with the project flags.
#[derive(clap::Args, Debug)]
pub struct DownAlias {
    #[command(flatten)]
    pub project: ProjectFlags,
    #[command(flatten)]
    pub args: down::Args,
}

pub fn up_alias(ctx: &Context, a: UpAlias) -> anyhow::Result<i32> {
    up::run(ctx, &a.project, a.args)
}

pub fn down_alias(ctx: &Context, a: DownAlias) -> anyhow::Result<i32> {
    down::run(ctx, &a.project, a.args)
}

/// The loader's options from the flags and the process (`services`: those
/// named on the command line, enabled whatever their profiles).
pub fn options(flags: &ProjectFlags, services: &[String]) -> anyhow::Result<Options> {
    let cwd = std::env::current_dir()?;
    let mut o = Options::from_process(cwd);
    o.files = flags.file.clone();
    o.project_name = flags.project_name.clone();
    o.project_directory = flags.project_directory.clone();
    o.env_files = flags.env_file.clone();
    o.profiles = flags.profile.clone();
    o.services = services.to_vec();
    Ok(o)
}

/// Loads the project, printing the loader's notices to stderr.
pub fn load(flags: &ProjectFlags, services: &[String]) -> anyhow::Result<Project> {
    let l = loader::load(&options(flags, services)?)?;
    for w in &l.warnings {
        eprintln!("WARN[0000] {w}");
    }
    for s in services {
        if !l.project.services.contains_key(s) {
            anyhow::bail!("no such service: {s}");
        }
    }
    Ok(l.project)
}

/// The project's name without reading its files when `-p` or
/// `COMPOSE_PROJECT_NAME` gives it (for commands that only look at
/// containers: `ps`, `logs`, `down` of a project whose files are gone).
pub fn project_name(flags: &ProjectFlags) -> anyhow::Result<String> {
    if let Some(p) = &flags.project_name {
        return Ok(p.clone());
    }
    if let Some(p) = std::env::var("COMPOSE_PROJECT_NAME")
        .ok()
        .filter(|s| !s.is_empty())
    {
        return Ok(p);
    }
    Ok(load(flags, &[])?.name)
}
