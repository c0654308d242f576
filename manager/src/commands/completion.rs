//! `berth completion bash|zsh|fish`: a completion script for the shell.
//! Verbs, management commands and their flags come from clap_complete (the
//! same command description clap parses with); names of containers, images,
//! volumes and networks come from the store at completion time, through the
//! hidden `berth __complete KIND`, for the positions of the verbs that take
//! them (the table below). Source it, e.g.
//! `berth completion bash > /etc/bash_completion.d/berth`.

use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell: bash, zsh or fish
    pub shell: String,
}

/// Which names a verb's positional arguments take: one kind per position,
/// `...` after the last when it repeats (`berth rm a b c`).
const NAME_ARGS: &[(&str, &str)] = &[
    ("attach", "containers"),
    ("commit", "containers images"),
    ("cp", ""),
    ("diff", "containers"),
    ("exec", "running"),
    ("export", "containers"),
    ("inspect", "containers..."),
    ("kill", "running..."),
    ("logs", "containers"),
    ("pause", "running..."),
    ("port", "containers"),
    ("rename", "containers"),
    ("restart", "containers..."),
    ("rm", "containers..."),
    ("start", "stopped..."),
    ("stats", "running..."),
    ("stop", "running..."),
    ("top", "running"),
    ("unpause", "running..."),
    ("update", "containers..."),
    ("wait", "containers..."),
    ("container attach", "containers"),
    ("container commit", "containers images"),
    ("container diff", "containers"),
    ("container exec", "running"),
    ("container export", "containers"),
    ("container inspect", "containers..."),
    ("container kill", "running..."),
    ("container logs", "containers"),
    ("container pause", "running..."),
    ("container port", "containers"),
    ("container rename", "containers"),
    ("container restart", "containers..."),
    ("container rm", "containers..."),
    ("container start", "stopped..."),
    ("container stats", "running..."),
    ("container stop", "running..."),
    ("container top", "running"),
    ("container unpause", "running..."),
    ("container update", "containers..."),
    ("container wait", "containers..."),
    ("container run", "images"),
    ("container create", "images"),
    ("run", "images"),
    ("create", "images"),
    ("rmi", "images..."),
    ("history", "images"),
    ("push", "images"),
    ("save", "images..."),
    ("tag", "images images"),
    ("image rm", "images..."),
    ("image inspect", "images..."),
    ("image history", "images"),
    ("image push", "images"),
    ("image save", "images..."),
    ("image tag", "images images"),
    ("volume rm", "volumes..."),
    ("volume inspect", "volumes..."),
    ("network rm", "networks..."),
    ("network inspect", "networks..."),
    ("network connect", "networks containers"),
    ("network disconnect", "networks containers"),
];

/// The flags of the command at `path` (and the global ones) that take a
/// value: the word after them is not a positional argument.
fn value_flags(root: &clap::Command, path: &str) -> Vec<String> {
    let mut cmd = root;
    for w in path.split_whitespace() {
        match cmd.find_subcommand(w) {
            Some(c) => cmd = c,
            None => return Vec::new(),
        }
    }
    let mut out = Vec::new();
    for a in cmd.get_arguments().chain(root.get_arguments()) {
        if a.is_positional() || !a.get_action().takes_values() {
            continue;
        }
        if let Some(l) = a.get_long() {
            out.push(format!("--{l}"));
        }
        if let Some(s) = a.get_short() {
            out.push(format!("-{s}"));
        }
        for l in a.get_all_aliases().unwrap_or_default() {
            out.push(format!("--{l}"));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `berth_spec PATH`: sets `spec` (the kinds) and `vflags` (" -a --bb ... ")
/// for a verb path, or fails; shared by the bash and zsh scripts.
fn spec_function(root: &clap::Command) -> String {
    let mut s = String::from("_berth_spec() {\n    case \"$1\" in\n");
    for (path, kinds) in NAME_ARGS {
        let v = value_flags(root, path).join(" ");
        s.push_str(&format!(
            "        \"{path}\") spec=\"{kinds}\"; vflags=\" {v} \" ;;\n"
        ));
    }
    s.push_str("        *) return 1 ;;\n    esac\n}\n");
    s
}

/// The kind of name at the cursor, from the words before it (`words[1..n)`,
/// 0-based like bash's COMP_WORDS; zsh's are copied into that shape).
const KIND_FUNCTION: &str = r#"
_berth_kind() {
    # usage: _berth_kind CWORD WORD...; prints the kind, sets _berth_global
    local cword=$1; shift
    local -a w=("$@")
    local i x path="" spec="" vflags="" npos=0 kinds
    _berth_global=()
    for ((i = 1; i < cword; i++)); do
        x=${w[i]}
        case $x in
            --root|--state|--config) _berth_global+=("$x" "${w[i+1]}"); ((i++)); continue ;;
            --root=*|--state=*|--config=*) _berth_global+=("$x"); continue ;;
        esac
        if [[ -z $spec ]]; then
            [[ $x == -* ]] && continue
            path="${path:+$path }$x"
            _berth_spec "$path" || { [[ $path == *" "* ]] && return 1; spec=""; }
            continue
        fi
        if [[ $x != *=* && $vflags == *" $x "* ]]; then
            ((i++))
        elif [[ $x != -* ]]; then
            ((npos++))
        fi
    done
    [[ -n $spec ]] || return 1
    [[ ${w[cword]} == -* ]] && return 1
    [[ ${w[cword-1]} != *=* && $vflags == *" ${w[cword-1]} "* && ${w[cword-1]} == -* ]] && return 1
    kinds=($spec)
    local n=${#kinds[@]}
    ((n == 0)) && return 1
    if ((npos < n)); then
        x=${kinds[npos]}
    elif [[ ${kinds[n-1]} == *... ]]; then
        x=${kinds[n-1]}
    else
        return 1
    fi
    echo "${x%...}"
}
"#;

const BASH_NAMES: &str = r#"
_berth_complete() {
    local kind
    local -a _berth_global
    if kind=$(_berth_kind "$COMP_CWORD" "${COMP_WORDS[@]}"); then
        _berth_kind "$COMP_CWORD" "${COMP_WORDS[@]}" >/dev/null
        local names
        names=$("${COMP_WORDS[0]}" "${_berth_global[@]}" __complete "$kind" 2>/dev/null)
        COMPREPLY=($(compgen -W "$names" -- "${COMP_WORDS[COMP_CWORD]}"))
        return 0
    fi
    _berth "$@"
}
complete -F _berth_complete -o nosort -o bashdefault -o default berth
"#;

const ZSH_NAMES: &str = r#"
_berth_complete() {
    # bash's 0-based arrays and word splitting, for _berth_kind.
    setopt localoptions ksharrays shwordsplit
    local kind
    local -a _berth_global cw
    cw=("${words[@]}")
    if kind=$(_berth_kind $((CURRENT - 1)) "${cw[@]}"); then
        _berth_kind $((CURRENT - 1)) "${cw[@]}" >/dev/null
        local -a names
        names=(${(f)"$(${cw[0]} "${_berth_global[@]}" __complete $kind 2>/dev/null)"})
        compadd -a names
        return
    fi
    setopt noksharrays noshwordsplit
    _berth "$@"
}
compdef _berth_complete berth
"#;

const FISH_NAMES: &str = r#"
function __berth_kind
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    string match -q -- '-*' $cur; and return 1
    set -l global
    set -l path
    set -l spec
    set -l npos 0
    set -l skip 0
    for w in $words[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case --root --state --config
                set skip 1
                continue
        end
        if test -z "$spec"
            string match -q -- '-*' $w; and continue
            set path (string trim -- "$path $w")
            set spec (__berth_spec $path)
            or begin
                string match -q -- '* *' $path; and return 1
                set spec
            end
            continue
        end
        if not string match -q -- '*=*' $w; and contains -- $w $__berth_vflags
            set skip 1
        else if not string match -q -- '-*' $w
            set npos (math $npos + 1)
        end
    end
    test $skip = 1; and return 1
    test -n "$spec"; or return 1
    set -l kinds (string split ' ' -- $spec)
    set -l n (count $kinds)
    # (string replace fails when there was nothing to replace)
    if test $npos -lt $n
        string replace '...' '' -- $kinds[(math $npos + 1)]; or true
    else if string match -q -- '*...' $kinds[-1]
        string replace '...' '' -- $kinds[-1]; or true
    else
        return 1
    end
end

function __berth_global
    set -l words (commandline -opc)
    for i in (seq 2 (count $words))
        switch $words[$i]
            case --root --state --config
                echo $words[$i]
                set -l j (math $i + 1)
                test $j -le (count $words); and echo $words[$j]
            case '--root=*' '--state=*' '--config=*'
                echo $words[$i]
        end
    end
end

function __berth_names
    set -l kind (__berth_kind); or return
    set -l words (commandline -opc)
    $words[1] (__berth_global) __complete $kind 2>/dev/null
end

complete -c berth -f -n '__berth_kind >/dev/null' -a '(__berth_names)'
"#;

fn fish_spec(root: &clap::Command) -> String {
    let mut s = String::from("function __berth_spec\n    switch \"$argv\"\n");
    for (path, kinds) in NAME_ARGS {
        let v = value_flags(root, path).join(" ");
        s.push_str(&format!(
            "        case '{path}'\n            set -g __berth_vflags {v}\n            echo '{kinds}'\n"
        ));
    }
    s.push_str("        case '*'\n            return 1\n    end\nend\n");
    s
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
    cmd.build();
    let names = match shell {
        Shell::Bash => format!("{}{KIND_FUNCTION}{BASH_NAMES}", spec_function(&cmd)),
        Shell::Zsh => {
            // clap's script ends by calling or registering `_berth`; the
            // names layer registers itself for berth after it.
            format!("{}{KIND_FUNCTION}{ZSH_NAMES}", spec_function(&cmd))
        }
        _ => format!("{}{FISH_NAMES}", fish_spec(&cmd)),
    };
    script.extend_from_slice(b"\n# Names from the store: berth __complete KIND.\n");
    script.extend_from_slice(names.as_bytes());
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(&script).and_then(|()| out.flush()) {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_real_verbs() {
        let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
        cmd.build();
        for (path, _) in NAME_ARGS {
            let mut c = &cmd;
            for w in path.split_whitespace() {
                c = c
                    .find_subcommand(w)
                    .unwrap_or_else(|| panic!("no verb {path:?}"));
            }
        }
        let v = value_flags(&cmd, "logs");
        assert!(v.contains(&"--tail".to_string()), "{v:?}");
        assert!(v.contains(&"--root".to_string()), "{v:?}");
        assert!(!v.contains(&"-f".to_string()), "{v:?}");
    }
}
