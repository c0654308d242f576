//! `berth completion bash|zsh|fish`: a completion script for the shell
//! (clap_complete, from the same command description clap parses with):
//! verbs, management commands and their flags. Source it, e.g.
//! `berth completion bash > /etc/bash_completion.d/berth`.

use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell: bash, zsh or fish
    pub shell: String,
}

pub fn run(_ctx: &Context, args: Args) -> anyhow::Result<i32> {
    use clap_complete::Shell;
    let shell = match args.shell.as_str() {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        other => anyhow::bail!("completion {other:?}: berth completes bash, zsh and fish"),
    };
    let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
    // Into a buffer first: clap_complete panics on a write error (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "berth", &mut script);
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(&script).and_then(|()| out.flush()) {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(e.into()),
    }
}
