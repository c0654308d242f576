//! One module per CLI verb.

pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use crate::cli::{Command, GlobalOpts};
use crate::error::{Error, Result};

/// Runs a verb; returns the process exit code on success.
pub fn dispatch(g: &GlobalOpts, cmd: Command) -> Result<i32> {
    match cmd {
        Command::Create { opts, id } => create::run(g, &opts, &id).map(|_| 0),
        Command::Start { id } => start::run(g, &id).map(|_| 0),
        Command::Run {
            opts,
            detach,
            keep,
            no_subreaper: _,
            id,
        } => run::run(g, &opts, &id, detach, keep),
        Command::State { id } => state::run(g, &id).map(|_| 0),
        Command::Exec(o) => exec::run(g, &o),
        Command::Pause { id } => pause::run(g, &id, true).map(|_| 0),
        Command::Resume { id } => pause::run(g, &id, false).map(|_| 0),
        Command::Ps {
            format,
            id,
            ps_args,
        } => ps::run(g, &id, &format, &ps_args).map(|_| 0),
        Command::Update(o) => update::run(g, &o).map(|_| 0),
        Command::Events {
            stats,
            interval,
            id,
        } => events::run(g, &id, stats, &interval).map(|_| 0),
        Command::Features => features::run().map(|_| 0),
        Command::Kill { all, id, signal } => kill::run(g, &id, &signal, all).map(|_| 0),
        Command::Delete { force, id } => delete::run(g, &id, force).map(|_| 0),
        Command::List { format, quiet } => list::run(g, &format, quiet).map(|_| 0),
        Command::Spec { bundle } => {
            let rootless = matches!(g.rootless.as_deref(), Some("true") | Some("1"));
            spec::run(&bundle, rootless).map(|_| 0)
        }
        Command::Other(args) => {
            let verb = args.first().cloned().unwrap_or_default();
            let known = ["checkpoint", "restore"];
            if known.contains(&verb.as_str()) {
                Err(Error::Unsupported(
                    "this command",
                    format!("`{verb}` is not available in this build of berth-runtime yet"),
                ))
            } else {
                Err(Error::Invalid(format!("unknown command {verb:?}")))
            }
        }
    }
}
