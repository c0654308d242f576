//! `berth login`: check credentials against a registry and store them in
//! `<root>/auth.json` (docker's config.json format; see docs/registry.md).

use crate::context::Context;
use crate::registry::auth::{self, Credentials};
use crate::registry::{tls, Access, Client, ConnectOptions};
use anyhow::{bail, Context as _};
use std::io::{BufRead, IsTerminal, Read, Write};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (visible to other users in the process list: prefer --password-stdin)
    #[arg(short, long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from standard input
    #[arg(long)]
    pub password_stdin: bool,
    /// Allow plain HTTP and any certificate for this registry (also $BERTH_INSECURE_REGISTRIES)
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// Use plain HTTP without trying HTTPS (loopback and insecure registries only)
    #[arg(long)]
    pub plain_http: bool,
    /// Registry (host[:port]; default docker.io)
    pub registry: Option<String>,
}

fn prompt(what: &str, hide: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("Cannot perform an interactive login from a non TTY device");
    }
    eprint!("{what}: ");
    let _ = std::io::stderr().flush();
    // Turn echo off for the password; restored before returning.
    let saved = if hide {
        nix::sys::termios::tcgetattr(&stdin).ok().inspect(|t| {
            let mut quiet = t.clone();
            quiet
                .local_flags
                .remove(nix::sys::termios::LocalFlags::ECHO);
            let _ =
                nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &quiet);
        })
    } else {
        None
    };
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    if let Some(t) = saved {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &t);
        eprintln!();
    }
    r.context("reading from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let registry = auth::registry_name(args.registry.as_deref());
    let username = match args.username {
        Some(u) => u,
        None => prompt("Username", false)?,
    };
    if username.is_empty() {
        bail!("Error: Non-null Username Required");
    }
    let password = if args.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the password from standard input")?;
        s.trim_end_matches(['\r', '\n']).to_string()
    } else if let Some(p) = args.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else {
        prompt("Password", true)?
    };
    if password.is_empty() {
        bail!("Error: Password Required");
    }
    let creds = Credentials { username, password };
    let insecure = tls::insecure_list(&args.insecure_registry);
    let client = Client::connect(
        &registry,
        "",
        Access::Pull,
        &ConnectOptions {
            root: &ctx.root,
            insecure: &insecure,
            plain_http: args.plain_http,
            credentials: Some(creds.clone()),
        },
    )?;
    client.check_login()?;
    auth::store(&ctx.root, &registry, &creds)?;
    println!("Login Succeeded");
    Ok(0)
}
