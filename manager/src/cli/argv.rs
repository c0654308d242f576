//! docker's flag forms that clap does not take as they are: a boolean flag
//! with a value (`--privileged=true`, `--rm=false`, `-i=true`), as the
//! tutorials write them. The command line is rewritten before clap sees it,
//! with clap's own description of the verbs (so every verb's boolean flags
//! are covered, and nothing after the image or a `--` is touched); and clap's
//! error becomes docker's two lines (what is wrong, where the help is).

use clap::{Arg, Command};
use std::ffi::OsString;

/// Rewrite docker's boolean forms: `--flag=true` becomes `--flag`,
/// `--flag=false` is dropped (clap's booleans default to false), likewise
/// `-f=true`. Everything else is passed on unchanged.
pub fn normalize(root: &Command, args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    if let Some(prog) = it.next() {
        out.push(prog);
    }
    let mut cmd = root;
    let mut globals: Vec<&Arg> = root.get_arguments().collect();
    while let Some(arg) = it.next() {
        let Some(s) = arg.to_str().map(str::to_owned) else {
            out.push(arg);
            continue;
        };
        if s == "--" {
            out.push(arg);
            break;
        }
        if let Some(long) = s.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let found = find(cmd, &globals, |a| {
                a.get_long() == Some(name)
                    || a.get_all_aliases().is_some_and(|al| al.contains(&name))
            });
            match (found, value) {
                (Some(a), Some(v)) if is_bool(a) => match v {
                    "true" => out.push(format!("--{name}").into()),
                    "false" => {}
                    _ => out.push(arg),
                },
                (Some(a), None) if takes_value(a) => {
                    out.push(arg);
                    if let Some(v) = it.next() {
                        out.push(v);
                    }
                }
                _ => out.push(arg),
            }
            continue;
        }
        if let Some(shorts) = s.strip_prefix('-').filter(|r| !r.is_empty()) {
            // `-i=true`, or a cluster (`-itd`, `-e X`, `-eX`, `-it -e X`).
            if let Some((c, v)) = shorts.split_once('=') {
                let mut chars = c.chars();
                if let (Some(ch), None) = (chars.next(), chars.next()) {
                    if let Some(a) = find(cmd, &globals, |a| a.get_short() == Some(ch)) {
                        if is_bool(a) {
                            match v {
                                "true" => out.push(format!("-{ch}").into()),
                                "false" => {}
                                _ => out.push(arg),
                            }
                            continue;
                        }
                    }
                }
            }
            let mut needs_next = false;
            for (i, ch) in shorts.char_indices() {
                match find(cmd, &globals, |a| a.get_short() == Some(ch)) {
                    Some(a) if takes_value(a) => {
                        needs_next = i + ch.len_utf8() == shorts.len();
                        break;
                    }
                    Some(_) => {}
                    None => break,
                }
            }
            out.push(arg);
            if needs_next {
                if let Some(v) = it.next() {
                    out.push(v);
                }
            }
            continue;
        }
        // A word: a subcommand to descend into, or the verb's first
        // positional (an image, a container): what follows may be a
        // container's own command line, left as it is.
        if let Some(sub) = cmd.find_subcommand(&s) {
            globals.extend(cmd.get_arguments().filter(|a| a.is_global_set()));
            cmd = sub;
            out.push(arg);
            continue;
        }
        out.push(arg);
        // docker stops reading its own flags at the image of `run`/`create`
        // (and the container of `exec`): `run --entrypoint sh img -c x` and
        // `run mysql --character-set-server=utf8mb4` give `-c` and the flag to
        // the container. clap would still match a known flag there, so a `--`
        // marks where the container's command line starts.
        if starts_command_line(cmd) && it.len() > 0 {
            out.push("--".into());
        }
        break;
    }
    out.extend(it);
    out
}

/// Whether the verb's first positional is followed by a container's command
/// line (a trailing positional that is not the first one).
fn starts_command_line(cmd: &Command) -> bool {
    let mut positionals = cmd.get_positionals();
    positionals.next().is_some() && positionals.any(|a| a.is_trailing_var_arg_set())
}

fn find<'a>(cmd: &'a Command, globals: &[&'a Arg], pred: impl Fn(&Arg) -> bool) -> Option<&'a Arg> {
    cmd.get_arguments()
        .find(|a| pred(a))
        .or_else(|| globals.iter().copied().find(|a| pred(a)))
}

fn is_bool(a: &Arg) -> bool {
    matches!(
        a.get_action(),
        clap::ArgAction::SetTrue | clap::ArgAction::SetFalse
    )
}

fn takes_value(a: &Arg) -> bool {
    a.get_action().takes_values()
}

/// docker's form of a command-line error: what is wrong on one line, and
/// where the help is (`See 'berth run --help'.`), instead of clap's usage.
pub fn short_error(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or("").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let what = match (e.kind(), e.get(clap::error::ContextKind::InvalidArg)) {
        (clap::error::ErrorKind::UnknownArgument, Some(a)) => format!("unknown flag: {a}"),
        _ => first.to_string(),
    };
    // The verb's path, from clap's usage line (`Usage: berth image ls [OPTIONS]`).
    let verb: Vec<&str> = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .map(|u| {
            u.split_whitespace()
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .collect()
        })
        .unwrap_or_default();
    let verb = if verb.is_empty() {
        "berth".to_string()
    } else {
        verb.join(" ")
    };
    format!("{what}\nSee '{verb} --help'.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn norm(line: &str) -> Vec<String> {
        let args = line.split_whitespace().map(OsString::from).collect();
        normalize(&crate::cli::Cli::command(), args)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn the_command_line_is_consistent() {
        // clap's own checks: no flag defined twice (the run flags are many).
        crate::cli::Cli::command().debug_assert();
    }

    #[test]
    fn boolean_values() {
        assert_eq!(
            norm("berth run --privileged=true --rm=false -i=true -t=false img sh --x=true"),
            [
                "berth",
                "run",
                "--privileged",
                "-i",
                "img",
                "--",
                "sh",
                "--x=true"
            ]
        );
        // A value flag's value is not a word that ends the flags.
        assert_eq!(
            norm("berth run --name n -e A=1 -itd img --rm=true"),
            [
                "berth",
                "run",
                "--name",
                "n",
                "-e",
                "A=1",
                "-itd",
                "img",
                "--",
                "--rm=true"
            ]
        );
        // After the image, flags are the container's, even berth's own.
        assert_eq!(
            norm("berth run --entrypoint sh img -c x"),
            ["berth", "run", "--entrypoint", "sh", "img", "--", "-c", "x"]
        );
        assert_eq!(
            norm("berth exec -it c ls -l"),
            ["berth", "exec", "-it", "c", "--", "ls", "-l"]
        );
        // Verbs without a command line are left alone (docker's `rm a -f`).
        assert_eq!(norm("berth rm a -f"), ["berth", "rm", "a", "-f"]);
        // Under a management command, and after `--` nothing changes.
        assert_eq!(
            norm("berth container run --init=true -- img --init=true"),
            [
                "berth",
                "container",
                "run",
                "--init",
                "--",
                "img",
                "--init=true"
            ]
        );
        // Not a boolean: untouched (clap says what is wrong).
        assert_eq!(
            norm("berth run --name=true img"),
            ["berth", "run", "--name=true", "img"]
        );
    }
}
