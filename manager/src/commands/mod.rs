//! One file per verb. Each file has its `Args` (clap) and `run(ctx, args)`, which
//! returns the process exit code (docker's: the container's status, or 0).

use crate::context::Context;
use clap::Subcommand;

pub mod attach;
pub mod build;
pub mod builder;
pub mod commit;
pub mod complete_names;
pub mod completion;
pub mod compose;
pub mod container;
pub mod cp;
pub mod create;
pub mod diff;
pub mod events;
pub mod exec;
pub mod export;
pub mod history;
pub mod image;
pub mod images;
pub mod r#import;
pub mod info;
pub mod inspect;
pub mod internal;
pub mod kill;
pub mod load;
pub mod login;
pub mod logout;
pub mod logs;
pub mod network;
pub mod pause;
pub mod port;
pub mod ps;
pub mod pull;
pub mod push;
pub mod rename;
pub mod restart;
pub mod rm;
pub mod rmi;
pub mod run;
pub mod save;
pub mod search;
pub mod start;
pub mod stats;
pub mod stop;
pub mod system;
pub mod tag;
pub mod top;
pub mod unpause;
pub mod update;
pub mod version;
pub mod volume;
pub mod wait;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Download an image from a registry
    Pull(pull::Args),
    /// Upload an image to a registry
    Push(push::Args),
    /// Store credentials for a registry
    Login(login::Args),
    /// Remove stored credentials for a registry
    Logout(logout::Args),
    /// Load images from a docker-archive or OCI-layout tar
    Load(load::Args),
    /// Save images to a docker-archive or OCI-layout tar
    Save(save::Args),
    /// Create an image from a rootfs tarball
    Import(r#import::Args),
    /// Build an image from a Dockerfile
    Build(build::Args),
    /// Manage the build cache
    Builder(builder::Args),
    /// Give an image another name
    Tag(tag::Args),
    /// Remove images
    Rmi(rmi::Args),
    /// List images
    Images(images::Args),
    /// Show an image's layers
    History(history::Args),
    /// Manage images
    Image(ImageArgs),
    /// Create and start a container
    Run(run::Args),
    /// Create a container
    Create(create::Args),
    /// Start containers
    Start(start::Args),
    /// Stop containers
    Stop(stop::Args),
    /// Restart containers
    Restart(restart::Args),
    /// Send a signal to containers
    Kill(kill::Args),
    /// Remove containers
    Rm(rm::Args),
    /// List containers
    Ps(ps::Args),
    /// Show a container's logs
    Logs(logs::Args),
    /// Run a command in a running container
    Exec(exec::Args),
    /// Attach to a running container's stdio
    Attach(attach::Args),
    /// Show low-level information on containers, images or volumes
    Inspect(inspect::Args),
    /// Wait for containers to stop and print their exit codes
    Wait(wait::Args),
    /// Show a container's processes
    Top(top::Args),
    /// Show containers' resource usage
    Stats(stats::Args),
    /// Copy files between a container and the host
    Cp(cp::Args),
    /// Pause containers
    Pause(pause::Args),
    /// Resume paused containers
    Unpause(unpause::Args),
    /// Rename a container
    Rename(rename::Args),
    /// Manage volumes
    Volume(volume::Args),
    /// Manage networks
    Network(network::Args),
    /// List port mappings or a specific mapping for the container
    Port(port::Args),
    /// Define and run multi-container applications (docker compose)
    Compose(compose::Args),
    /// Create and start a compose project's containers (berth compose up)
    Up(compose::UpAlias),
    /// Stop and remove a compose project's containers (berth compose down)
    Down(compose::DownAlias),
    /// Create a new image from a container's changes
    Commit(commit::Args),
    /// Inspect changes to files on a container's filesystem
    Diff(diff::Args),
    /// Export a container's filesystem as a tar archive
    Export(export::Args),
    /// Update configuration of one or more containers
    Update(update::Args),
    /// Get real time events from the event log
    Events(events::Args),
    /// Search a registry's catalog for images
    Search(search::Args),
    /// Print a shell completion script (bash, zsh, fish)
    Completion(completion::Args),
    /// Display system-wide information
    Info(info::Args),
    /// Show the berth version information
    Version(version::Args),
    /// Manage containers
    Container(ContainerArgs),
    /// Manage berth
    System(SystemArgs),
    /// Callbacks from berth-shim (not for users)
    #[command(hide = true)]
    Internal(internal::Args),
    /// Names for the completion scripts (not for users)
    #[command(name = "__complete", hide = true)]
    CompleteNames(complete_names::Args),
}

/// `berth image ...`: the image verbs under one group (docker's `image ls` is
/// `images`, ...), plus the verbs only the group has.
#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// List images
    #[command(alias = "list")]
    Ls(images::Args),
    /// Show detailed information on images
    Inspect(image::inspect::Args),
    /// Show an image's history
    History(history::Args),
    /// Build an image from a Dockerfile
    Build(Box<build::Args>),
    /// Remove unused images
    Prune(image::prune::Args),
    /// Remove images
    #[command(alias = "remove")]
    Rm(rmi::Args),
    /// Give an image another name
    Tag(tag::Args),
    /// Load images from a docker-archive or OCI-layout tar
    Load(load::Args),
    /// Save images to a docker-archive or OCI-layout tar
    Save(save::Args),
    /// Create an image from a rootfs tarball
    Import(r#import::Args),
    /// Download an image from a registry
    Pull(pull::Args),
    /// Upload an image to a registry
    Push(push::Args),
    /// Extract an image's layers into snapshots now (run does it on demand)
    #[command(hide = true)]
    Unpack(image::UnpackArgs),
}

pub fn dispatch(ctx: &Context, command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Pull(args) => pull::run(ctx, args),
        Command::Push(args) => push::run(ctx, args),
        Command::Login(args) => login::run(ctx, args),
        Command::Logout(args) => logout::run(ctx, args),
        Command::Load(args) => load::run(ctx, args),
        Command::Save(args) => save::run(ctx, args),
        Command::Import(args) => r#import::run(ctx, args),
        Command::Build(args) => build::run(ctx, args),
        Command::Builder(args) => builder::run(ctx, args),
        Command::Tag(args) => tag::run(ctx, args),
        Command::Rmi(args) => rmi::run(ctx, args),
        Command::Images(args) => images::run(ctx, args),
        Command::History(args) => history::run(ctx, args),
        Command::Image(args) => match args.command {
            ImageCommand::Ls(a) => images::run(ctx, a),
            ImageCommand::Inspect(a) => image::inspect::run(ctx, a),
            ImageCommand::History(a) => history::run(ctx, a),
            ImageCommand::Build(a) => build::run(ctx, *a),
            ImageCommand::Prune(a) => image::prune::run(ctx, a),
            ImageCommand::Rm(a) => rmi::run(ctx, a),
            ImageCommand::Tag(a) => tag::run(ctx, a),
            ImageCommand::Load(a) => load::run(ctx, a),
            ImageCommand::Save(a) => save::run(ctx, a),
            ImageCommand::Import(a) => r#import::run(ctx, a),
            ImageCommand::Pull(a) => pull::run(ctx, a),
            ImageCommand::Push(a) => push::run(ctx, a),
            ImageCommand::Unpack(a) => image::unpack(ctx, a),
        },
        Command::Run(args) => run::run(ctx, args),
        Command::Create(args) => create::run(ctx, args),
        Command::Start(args) => start::run(ctx, args),
        Command::Stop(args) => stop::run(ctx, args),
        Command::Restart(args) => restart::run(ctx, args),
        Command::Kill(args) => kill::run(ctx, args),
        Command::Rm(args) => rm::run(ctx, args),
        Command::Ps(args) => ps::run(ctx, args),
        Command::Logs(args) => logs::run(ctx, args),
        Command::Exec(args) => exec::run(ctx, args),
        Command::Attach(args) => attach::run(ctx, args),
        Command::Inspect(args) => inspect::run(ctx, args),
        Command::Wait(args) => wait::run(ctx, args),
        Command::Top(args) => top::run(ctx, args),
        Command::Stats(args) => stats::run(ctx, args),
        Command::Cp(args) => cp::run(ctx, args),
        Command::Pause(args) => pause::run(ctx, args),
        Command::Unpause(args) => unpause::run(ctx, args),
        Command::Rename(args) => rename::run(ctx, args),
        Command::Volume(args) => volume::run(ctx, args),
        Command::Network(args) => network::run(ctx, args),
        Command::Port(args) => port::run(ctx, args),
        Command::Compose(args) => compose::run(ctx, args),
        Command::Up(args) => compose::up_alias(ctx, args),
        Command::Down(args) => compose::down_alias(ctx, args),
        Command::Commit(args) => commit::run(ctx, args),
        Command::Diff(args) => diff::run(ctx, args),
        Command::Export(args) => export::run(ctx, args),
        Command::Update(args) => update::run(ctx, args),
        Command::Events(args) => events::run(ctx, args),
        Command::Search(args) => search::run(ctx, args),
        Command::Completion(args) => completion::run(ctx, args),
        Command::Info(args) => info::run(ctx, args),
        Command::Version(args) => version::run(ctx, args),
        Command::Container(args) => dispatch_container(ctx, args.command),
        Command::System(args) => match args.command {
            SystemCommand::Info(a) => info::run(ctx, a),
            SystemCommand::Df(a) => system::df::run(ctx, a),
            SystemCommand::Prune(a) => system::prune::run(ctx, a),
            SystemCommand::Events(a) => events::run(ctx, a),
            SystemCommand::Boot(a) => system::boot::run(ctx, a),
            SystemCommand::Reset(a) => system::reset::run(ctx, a),
        },
        Command::Internal(args) => internal::run(ctx, args),
        Command::CompleteNames(args) => complete_names::run(ctx, args),
    }
}

/// `berth container ...`: docker's management-command forms of the container
/// verbs (same flags, same code), plus `prune`.
#[derive(clap::Args, Debug)]
pub struct ContainerArgs {
    #[command(subcommand)]
    pub command: ContainerCommand,
}

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// List containers
    #[command(aliases = ["ps", "list"])]
    Ls(ps::Args),
    /// Create and start a container
    Run(run::Args),
    /// Create a container
    Create(create::Args),
    /// Start containers
    Start(start::Args),
    /// Stop containers
    Stop(stop::Args),
    /// Restart containers
    Restart(restart::Args),
    /// Send a signal to containers
    Kill(kill::Args),
    /// Remove containers
    #[command(alias = "remove")]
    Rm(rm::Args),
    /// Show a container's logs
    Logs(logs::Args),
    /// Run a command in a running container
    Exec(exec::Args),
    /// Attach to a running container's stdio
    Attach(attach::Args),
    /// Show detailed information on containers
    Inspect(inspect::Args),
    /// Wait for containers to stop and print their exit codes
    Wait(wait::Args),
    /// Show a container's processes
    Top(top::Args),
    /// Show containers' resource usage
    Stats(stats::Args),
    /// Copy files between a container and the host
    Cp(cp::Args),
    /// Pause containers
    Pause(pause::Args),
    /// Resume paused containers
    Unpause(unpause::Args),
    /// Rename a container
    Rename(rename::Args),
    /// Create a new image from a container's changes
    Commit(commit::Args),
    /// Inspect changes to files on a container's filesystem
    Diff(diff::Args),
    /// Export a container's filesystem as a tar archive
    Export(export::Args),
    /// Update configuration of one or more containers
    Update(update::Args),
    /// List port mappings of a container
    Port(port::Args),
    /// Remove all stopped containers
    Prune(container::prune::Args),
}

fn dispatch_container(ctx: &Context, command: ContainerCommand) -> anyhow::Result<i32> {
    match command {
        ContainerCommand::Ls(a) => ps::run(ctx, a),
        ContainerCommand::Run(a) => run::run(ctx, a),
        ContainerCommand::Create(a) => create::run(ctx, a),
        ContainerCommand::Start(a) => start::run(ctx, a),
        ContainerCommand::Stop(a) => stop::run(ctx, a),
        ContainerCommand::Restart(a) => restart::run(ctx, a),
        ContainerCommand::Kill(a) => kill::run(ctx, a),
        ContainerCommand::Rm(a) => rm::run(ctx, a),
        ContainerCommand::Logs(a) => logs::run(ctx, a),
        ContainerCommand::Exec(a) => exec::run(ctx, a),
        ContainerCommand::Attach(a) => attach::run(ctx, a),
        ContainerCommand::Inspect(a) => inspect::run(ctx, a),
        ContainerCommand::Wait(a) => wait::run(ctx, a),
        ContainerCommand::Top(a) => top::run(ctx, a),
        ContainerCommand::Stats(a) => stats::run(ctx, a),
        ContainerCommand::Cp(a) => cp::run(ctx, a),
        ContainerCommand::Pause(a) => pause::run(ctx, a),
        ContainerCommand::Unpause(a) => unpause::run(ctx, a),
        ContainerCommand::Rename(a) => rename::run(ctx, a),
        ContainerCommand::Commit(a) => commit::run(ctx, a),
        ContainerCommand::Diff(a) => diff::run(ctx, a),
        ContainerCommand::Export(a) => export::run(ctx, a),
        ContainerCommand::Port(a) => port::run(ctx, a),
        ContainerCommand::Update(a) => update::run(ctx, a),
        ContainerCommand::Prune(a) => container::prune::run(ctx, a),
    }
}

/// `berth system ...`.
#[derive(clap::Args, Debug)]
pub struct SystemArgs {
    #[command(subcommand)]
    pub command: SystemCommand,
}

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Display system-wide information
    Info(info::Args),
    /// Show disk usage
    Df(system::df::Args),
    /// Remove unused data
    Prune(system::prune::Args),
    /// Get real time events from the event log
    Events(events::Args),
    /// Start the containers a restart policy brings back after a reboot (run by the boot unit)
    Boot(system::boot::Args),
    /// Remove every container, network, volume, image and the build cache, and the root and state directories
    Reset(system::reset::Args),
}
