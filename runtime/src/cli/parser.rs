//! The parser. lexopt splits the words (`--name=value`, `-abc` clusters,
//! `-b=value`, `--`); this module knows each verb's options and positionals.
//!
//! It keeps the rules of the clap parser it replaced, because engines and
//! scripts were written against those:
//! - an option's value is attached (`--root=X`, `-bX`, `-b=X`) or the next
//!   word; that word may start with `-` only where clap had
//!   `allow_hyphen_values` (`update --memory -1`) or if it is `-` itself;
//! - an option given twice takes the last value, as runc's (Go's flag
//!   package) does, except the repeatable ones (`--env`, `--cap`,
//!   `--additional-gids`, `--cgroup`), which add one each;
//! - global options are accepted before and after the verb (clap's
//!   `global = true`); the one after the verb wins;
//! - `--rootless` takes an optional value: attached, or the next word unless
//!   that starts with `-` (clap's `num_args = 0..=1`), else "true";
//! - after the container id of `exec` and `ps`, the first word that is not one
//!   of the verb's options starts the command, which takes every word after it
//!   unparsed (clap's `trailing_var_arg` + `allow_hyphen_values`); there, such
//!   a word right after an option that needs a value is that value
//!   (`exec ID -e --x`: env `--x`);
//! - an unknown verb is returned with the rest of the line unparsed
//!   (clap's `external_subcommand`);
//! - `-h`/`--help` are handled before parsing, by `help::requested`, which
//!   leaves them alone after `exec`'s or `ps`'s container id: there they
//!   belong to the command.

use std::ffi::OsString;
use std::fmt::Display;
use std::path::PathBuf;
use std::str::FromStr;

use lexopt::Arg;

use super::{Cli, Command, CreateOpts, ExecOpts, GlobalOpts, UpdateOpts};
use crate::logging::LogFormat;

/// Why a command line was refused. Printed as `error: {self}`, exit code 1;
/// the wording is clap's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unexpected argument '{0}' found")]
    UnexpectedArgument(String),
    #[error("unexpected value '{value}' for '{option}' found; no more were expected")]
    UnexpectedValue { option: String, value: String },
    #[error("a value is required for '{0}' but none was supplied")]
    MissingValue(String),
    #[error("invalid value '{value}' for '{option}': {reason}")]
    InvalidValue {
        option: String,
        value: String,
        reason: String,
    },
    #[error("the following required arguments were not provided:\n  <{0}>")]
    MissingArgument(&'static str),
}

type Result<T> = std::result::Result<T, ParseError>;

/// How an option takes its value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Takes {
    Flag,
    Value,
    /// A value that may start with `-` (negative numbers, `-1` for unlimited).
    HyphenValue,
    /// A value that may be given more than once; each adds one.
    Repeated,
    /// A value that may be left out; then the given default.
    Optional(&'static str),
}

/// One option of a verb: its spellings and the field `F` it sets.
struct Opt<F> {
    long: &'static str,
    short: Option<char>,
    takes: Takes,
    field: F,
}

const fn opt<F>(long: &'static str, short: Option<char>, takes: Takes, field: F) -> Opt<F> {
    Opt {
        long,
        short,
        takes,
        field,
    }
}

/// The option as clap names it in messages: `--root <ROOT>`, `--debug`.
fn display(long: &str, takes: Takes) -> String {
    let meta = long.to_uppercase().replace('-', "_");
    match takes {
        Takes::Flag => format!("--{long}"),
        Takes::Optional(_) => format!("--{long} [<{meta}>]"),
        _ => format!("--{long} <{meta}>"),
    }
}

/// An option's value as read from the command line (`None` for flags),
/// with what is needed to convert it and to report a bad one.
struct Val {
    long: &'static str,
    takes: Takes,
    raw: Option<String>,
}

impl Val {
    fn name(&self) -> String {
        display(self.long, self.takes)
    }

    fn string(self) -> String {
        self.raw.unwrap_or_default()
    }

    /// Paths may not be empty (`--root=`), as with clap's PathBuf parser.
    fn path(self) -> Result<PathBuf> {
        match self.raw.as_deref() {
            None | Some("") => Err(ParseError::MissingValue(self.name())),
            Some(p) => Ok(PathBuf::from(p)),
        }
    }

    fn number<T: FromStr>(self) -> Result<T>
    where
        T::Err: Display,
    {
        let raw = self.raw.as_deref().unwrap_or("");
        raw.parse().map_err(|e: T::Err| ParseError::InvalidValue {
            option: self.name(),
            value: raw.to_string(),
            reason: e.to_string(),
        })
    }

    fn log_format(self) -> Result<LogFormat> {
        match self.raw.as_deref().unwrap_or("") {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            "" => Err(ParseError::MissingValue(self.name())),
            other => Err(ParseError::InvalidValue {
                option: self.name(),
                value: other.to_string(),
                reason: "[possible values: text, json]".to_string(),
            }),
        }
    }
}

/// A word of the command line, owned so the parser can be used again while
/// it is matched (lexopt's `Arg` borrows the parser).
enum Tok {
    Long(String),
    Short(char),
    Value(String),
}

/// The lexopt parser plus what lexopt does not track for us.
struct Cursor {
    p: lexopt::Parser,
    /// A `--` was read: from here on every word is a value.
    escaped: bool,
}

/// The arguments are `String`s (checked in `berth_main`), so never lossy.
fn string(s: OsString) -> String {
    s.into_string()
        .unwrap_or_else(|s| s.to_string_lossy().into_owned())
}

/// A word that clap would read as an option rather than as a value.
fn looks_like_option(word: &std::ffi::OsStr) -> bool {
    let w = word.as_encoded_bytes();
    w.len() > 1 && w[0] == b'-'
}

impl Cursor {
    fn next(&mut self) -> Result<Option<Tok>> {
        // lexopt swallows `--` silently; note it to know that what follows
        // can no longer start a command or an option.
        if !self.escaped {
            if let Some(raw) = self.p.try_raw_args() {
                self.escaped = raw.peek().is_some_and(|w| w == "--");
            }
        }
        match self.p.next() {
            Ok(None) => Ok(None),
            Ok(Some(Arg::Long(l))) => Ok(Some(Tok::Long(l.to_string()))),
            Ok(Some(Arg::Short(c))) => Ok(Some(Tok::Short(c))),
            Ok(Some(Arg::Value(v))) => Ok(Some(Tok::Value(string(v)))),
            // The only error `next` returns: `--debug=true`, `-q=1`.
            Err(lexopt::Error::UnexpectedValue { option, value }) => {
                Err(ParseError::UnexpectedValue {
                    option,
                    value: string(value),
                })
            }
            Err(e) => Err(ParseError::UnexpectedArgument(e.to_string())),
        }
    }

    /// Every word left, unparsed. Only called between words.
    fn rest(&mut self) -> Vec<String> {
        self.p
            .try_raw_args()
            .map(|raw| raw.map(string).collect())
            .unwrap_or_default()
    }

    /// Reads the value of option `o` (just returned by `next`). A detached
    /// value may look like an option if `foreign(word)` says it is not one.
    fn take<F>(&mut self, o: &Opt<F>, foreign: &dyn Fn(&str) -> bool) -> Result<Val> {
        let raw = match o.takes {
            // An attached `=value` makes the next `next()` fail.
            Takes::Flag => None,
            Takes::Optional(default) => Some(
                self.attached_or_next(false, foreign)
                    .unwrap_or_else(|| default.to_string()),
            ),
            Takes::Value | Takes::Repeated => Some(
                self.attached_or_next(false, foreign)
                    .ok_or_else(|| ParseError::MissingValue(display(o.long, o.takes)))?,
            ),
            Takes::HyphenValue => Some(
                self.attached_or_next(true, foreign)
                    .ok_or_else(|| ParseError::MissingValue(display(o.long, o.takes)))?,
            ),
        };
        Ok(Val {
            long: o.long,
            takes: o.takes,
            raw,
        })
    }

    /// The value attached to the option just read (`--x=v`, `-xv`, `-x=v`),
    /// else the next word if it can be a value.
    fn attached_or_next(
        &mut self,
        hyphen_ok: bool,
        foreign: &dyn Fn(&str) -> bool,
    ) -> Option<String> {
        if let Some(v) = self.p.optional_value() {
            return Some(string(v));
        }
        let mut raw = self.p.try_raw_args()?;
        raw.next_if(|w| hyphen_ok || !looks_like_option(w) || foreign(&w.to_string_lossy()))
            .map(string)
    }

    /// Whether the next word starts the trailing command of `exec`/`ps`: a
    /// `--` (consumed: everything after it is the command) or a word that
    /// looks like an option but is `foreign`, not one of the verb's. A plain
    /// word starts it too, but `next` returns that as a value.
    fn starts_command(&mut self, foreign: &dyn Fn(&str) -> bool) -> bool {
        if self.escaped {
            return false;
        }
        let Some(mut raw) = self.p.try_raw_args() else {
            return false;
        };
        let Some(word) = raw.peek().map(|w| w.to_string_lossy().into_owned()) else {
            return false;
        };
        if word == "--" {
            raw.next();
            self.escaped = true;
            return true;
        }
        foreign(&word)
    }
}

// ---- global options ----

#[derive(Clone, Copy)]
enum G {
    Root,
    Log,
    LogFormat,
    Debug,
    SystemdCgroup,
    Rootless,
    Criu,
    Version,
}

/// Accepted before and after the verb.
const GLOBAL: &[Opt<G>] = &[
    opt("root", None, Takes::Value, G::Root),
    opt("log", None, Takes::Value, G::Log),
    opt("log-format", None, Takes::Value, G::LogFormat),
    opt("debug", None, Takes::Flag, G::Debug),
    opt("systemd-cgroup", None, Takes::Flag, G::SystemdCgroup),
    opt("rootless", None, Takes::Optional("true"), G::Rootless),
    opt("criu", None, Takes::Value, G::Criu),
];

/// Only before the verb, as in runc.
const VERSION: Opt<G> = opt("version", Some('v'), Takes::Flag, G::Version);

fn set_global(g: &mut GlobalOpts, field: G, v: Val) -> Result<()> {
    match field {
        G::Root => g.root = v.path()?,
        G::Log => g.log = Some(v.path()?),
        G::LogFormat => g.log_format = v.log_format()?,
        G::Debug => g.debug = true,
        G::SystemdCgroup => g.systemd_cgroup = true,
        G::Rootless => g.rootless = Some(v.string()),
        G::Criu => g.criu = Some(v.path()?),
        G::Version => g.version = true,
    }
    Ok(())
}

/// Parses the command line (`args[0]` is the program name), after
/// [`super::normalize_args`].
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Cli> {
    let mut c = Cursor {
        p: lexopt::Parser::from_iter(args),
        escaped: false,
    };
    let mut g = GlobalOpts::default();
    while let Some(tok) = c.next()? {
        let o = match &tok {
            Tok::Long(name) => GLOBAL.iter().chain([&VERSION]).find(|o| o.long == name),
            Tok::Short(ch) => (VERSION.short == Some(*ch)).then_some(&VERSION),
            Tok::Value(verb) => {
                let command = match c.escaped {
                    false => parse_command(&mut c, &mut g, verb)?,
                    true => None,
                };
                let command = command.unwrap_or_else(|| {
                    let mut other = vec![verb.clone()];
                    other.extend(c.rest());
                    Command::Other(other)
                });
                return Ok(Cli {
                    global: g,
                    command: Some(command),
                });
            }
        };
        let Some(o) = o else {
            return Err(unexpected(&tok));
        };
        let v = c.take(o, &|_| false)?;
        set_global(&mut g, o.field, v)?;
    }
    Ok(Cli {
        global: g,
        command: None,
    })
}

fn unexpected(tok: &Tok) -> ParseError {
    ParseError::UnexpectedArgument(match tok {
        Tok::Long(name) => format!("--{name}"),
        Tok::Short(ch) => format!("-{ch}"),
        Tok::Value(v) => v.clone(),
    })
}

// ---- verbs ----

/// A verb's positional arguments: their names (for messages), how many are
/// required, and whether a trailing command follows them.
struct Positionals {
    names: &'static [&'static str],
    required: usize,
    trailing: bool,
}

const NONE: Positionals = Positionals {
    names: &[],
    required: 0,
    trailing: false,
};
const ID: Positionals = Positionals {
    names: &["ID"],
    required: 1,
    trailing: false,
};
const ID_THEN_COMMAND: Positionals = Positionals {
    names: &["ID"],
    required: 1,
    trailing: true,
};

/// What a verb's command line held besides its options.
struct Words {
    positionals: Vec<String>,
    trailing: Vec<String>,
}

impl Words {
    /// The first positional, the container id of most verbs (required, so
    /// present).
    fn id(&self) -> String {
        self.positionals.first().cloned().unwrap_or_default()
    }
}

/// Parses the words after a verb: its options (`opts`, any of whose fields
/// `set` stores), the global options, and its positionals.
fn parse_verb<F: Copy>(
    c: &mut Cursor,
    g: &mut GlobalOpts,
    opts: &[&[Opt<F>]],
    pos: &Positionals,
    mut set: impl FnMut(F, Val) -> Result<()>,
) -> Result<Words> {
    let find_long = |name: &str| opts.iter().flat_map(|t| t.iter()).find(|o| o.long == name);
    let find_short = |ch: char| {
        opts.iter()
            .flat_map(|t| t.iter())
            .find(|o| o.short == Some(ch))
    };
    // Words that look like options but are none of this verb's: clap's
    // test (only the name counts; for `-abc`, every letter must be known).
    let foreign_word = |word: &str| {
        if word == "--" {
            return false;
        }
        if let Some(long) = word.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or("");
            return find_long(name).is_none() && !GLOBAL.iter().any(|o| o.long == name);
        }
        match word.strip_prefix('-') {
            Some(shorts) if !shorts.is_empty() => shorts.chars().any(|ch| find_short(ch).is_none()),
            _ => false,
        }
    };
    let mut words = Words {
        positionals: Vec::new(),
        trailing: Vec::new(),
    };
    loop {
        // Where the trailing command may begin, foreign words belong to it
        // (or are the value of the option before them); elsewhere they are
        // errors.
        let at_command = pos.trailing && words.positionals.len() == pos.names.len();
        let foreign: &dyn Fn(&str) -> bool = match at_command {
            true => &foreign_word,
            false => &|_| false,
        };
        if at_command && c.starts_command(foreign) {
            words.trailing = c.rest();
            break;
        }
        let Some(tok) = c.next()? else { break };
        match tok {
            Tok::Value(v) if words.positionals.len() < pos.names.len() => words.positionals.push(v),
            Tok::Value(v) if pos.trailing => {
                words.trailing.push(v);
                words.trailing.extend(c.rest());
                break;
            }
            Tok::Long(ref name) => {
                if let Some(o) = find_long(name) {
                    let v = c.take(o, foreign)?;
                    set(o.field, v)?;
                } else if let Some(o) = GLOBAL.iter().find(|o| o.long == name) {
                    let v = c.take(o, foreign)?;
                    set_global(g, o.field, v)?;
                } else {
                    return Err(unexpected(&tok));
                }
            }
            Tok::Short(ch) => {
                let Some(o) = find_short(ch) else {
                    return Err(unexpected(&tok));
                };
                let v = c.take(o, foreign)?;
                set(o.field, v)?;
            }
            Tok::Value(_) => return Err(unexpected(&tok)),
        }
    }
    if let Some(missing) = pos.names[..pos.required].get(words.positionals.len()) {
        return Err(ParseError::MissingArgument(missing));
    }
    Ok(words)
}

#[derive(Clone, Copy)]
enum C {
    Bundle,
    ConsoleSocket,
    PidfdSocket,
    PidFile,
    NoPivot,
    NoNewKeyring,
    PreserveFds,
    // `run` only:
    Detach,
    Keep,
    NoSubreaper,
}

const CREATE: &[Opt<C>] = &[
    opt("bundle", Some('b'), Takes::Value, C::Bundle),
    opt("console-socket", None, Takes::Value, C::ConsoleSocket),
    opt("pidfd-socket", None, Takes::Value, C::PidfdSocket),
    opt("pid-file", None, Takes::Value, C::PidFile),
    opt("no-pivot", None, Takes::Flag, C::NoPivot),
    opt("no-new-keyring", None, Takes::Flag, C::NoNewKeyring),
    opt("preserve-fds", None, Takes::Value, C::PreserveFds),
];

const RUN_ONLY: &[Opt<C>] = &[
    opt("detach", Some('d'), Takes::Flag, C::Detach),
    opt("keep", None, Takes::Flag, C::Keep),
    opt("no-subreaper", None, Takes::Flag, C::NoSubreaper),
];

#[derive(Default)]
struct RunFlags {
    detach: bool,
    keep: bool,
    no_subreaper: bool,
}

fn set_create(o: &mut CreateOpts, r: &mut RunFlags, field: C, v: Val) -> Result<()> {
    match field {
        C::Bundle => o.bundle = v.path()?,
        C::ConsoleSocket => o.console_socket = Some(v.path()?),
        C::PidfdSocket => o.pidfd_socket = Some(v.path()?),
        C::PidFile => o.pid_file = Some(v.path()?),
        C::NoPivot => o.no_pivot = true,
        C::NoNewKeyring => o.no_new_keyring = true,
        C::PreserveFds => o.preserve_fds = v.number()?,
        C::Detach => r.detach = true,
        C::Keep => r.keep = true,
        C::NoSubreaper => r.no_subreaper = true,
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum E {
    ConsoleSocket,
    PidfdSocket,
    Cwd,
    Env,
    Tty,
    User,
    AdditionalGids,
    Process,
    Detach,
    PidFile,
    ProcessLabel,
    Apparmor,
    NoNewPrivs,
    Cap,
    PreserveFds,
    Cgroup,
    IgnorePaused,
}

const EXEC: &[Opt<E>] = &[
    opt("console-socket", None, Takes::Value, E::ConsoleSocket),
    opt("pidfd-socket", None, Takes::Value, E::PidfdSocket),
    opt("cwd", None, Takes::Value, E::Cwd),
    opt("env", Some('e'), Takes::Repeated, E::Env),
    opt("tty", Some('t'), Takes::Flag, E::Tty),
    opt("user", Some('u'), Takes::Value, E::User),
    opt(
        "additional-gids",
        Some('g'),
        Takes::Repeated,
        E::AdditionalGids,
    ),
    opt("process", Some('p'), Takes::Value, E::Process),
    opt("detach", Some('d'), Takes::Flag, E::Detach),
    opt("pid-file", None, Takes::Value, E::PidFile),
    opt("process-label", None, Takes::Value, E::ProcessLabel),
    opt("apparmor", None, Takes::Value, E::Apparmor),
    opt("no-new-privs", None, Takes::Flag, E::NoNewPrivs),
    opt("cap", Some('c'), Takes::Repeated, E::Cap),
    opt("preserve-fds", None, Takes::Value, E::PreserveFds),
    opt("cgroup", None, Takes::Repeated, E::Cgroup),
    opt("ignore-paused", None, Takes::Flag, E::IgnorePaused),
];

fn set_exec(o: &mut ExecOpts, field: E, v: Val) -> Result<()> {
    match field {
        E::ConsoleSocket => o.console_socket = Some(v.path()?),
        E::PidfdSocket => o.pidfd_socket = Some(v.path()?),
        E::Cwd => o.cwd = Some(v.path()?),
        E::Env => o.env.push(v.string()),
        E::Tty => o.tty = true,
        E::User => o.user = Some(v.string()),
        E::AdditionalGids => o.additional_gids.push(v.number()?),
        E::Process => o.process = Some(v.path()?),
        E::Detach => o.detach = true,
        E::PidFile => o.pid_file = Some(v.path()?),
        E::ProcessLabel => o.process_label = Some(v.string()),
        E::Apparmor => o.apparmor = Some(v.string()),
        E::NoNewPrivs => o.no_new_privs = true,
        E::Cap => o.cap.push(v.string()),
        E::PreserveFds => o.preserve_fds = v.number()?,
        E::Cgroup => o.cgroup.push(v.string()),
        E::IgnorePaused => o.ignore_paused = true,
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum U {
    Resources,
    BlkioWeight,
    CpuPeriod,
    CpuQuota,
    CpuBurst,
    CpuIdle,
    CpuShare,
    CpuRtPeriod,
    CpuRtRuntime,
    CpusetCpus,
    CpusetMems,
    KernelMemory,
    KernelMemoryTcp,
    Memory,
    MemoryReservation,
    MemorySwap,
    PidsLimit,
    L3CacheSchema,
    MemBwSchema,
}

/// Values that may be negative (-1: unlimited) take `HyphenValue`.
const UPDATE: &[Opt<U>] = &[
    opt("resources", Some('r'), Takes::Value, U::Resources),
    opt("blkio-weight", None, Takes::Value, U::BlkioWeight),
    opt("cpu-period", None, Takes::Value, U::CpuPeriod),
    opt("cpu-quota", None, Takes::HyphenValue, U::CpuQuota),
    opt("cpu-burst", None, Takes::Value, U::CpuBurst),
    opt("cpu-idle", None, Takes::HyphenValue, U::CpuIdle),
    opt("cpu-share", None, Takes::Value, U::CpuShare),
    opt("cpu-rt-period", None, Takes::Value, U::CpuRtPeriod),
    opt("cpu-rt-runtime", None, Takes::HyphenValue, U::CpuRtRuntime),
    opt("cpuset-cpus", None, Takes::Value, U::CpusetCpus),
    opt("cpuset-mems", None, Takes::Value, U::CpusetMems),
    opt("kernel-memory", None, Takes::Value, U::KernelMemory),
    opt(
        "kernel-memory-tcp",
        None,
        Takes::HyphenValue,
        U::KernelMemoryTcp,
    ),
    opt("memory", None, Takes::HyphenValue, U::Memory),
    opt(
        "memory-reservation",
        None,
        Takes::HyphenValue,
        U::MemoryReservation,
    ),
    opt("memory-swap", None, Takes::HyphenValue, U::MemorySwap),
    opt("pids-limit", None, Takes::HyphenValue, U::PidsLimit),
    opt("l3-cache-schema", None, Takes::Value, U::L3CacheSchema),
    opt("mem-bw-schema", None, Takes::Value, U::MemBwSchema),
];

fn set_update(o: &mut UpdateOpts, field: U, v: Val) -> Result<()> {
    match field {
        U::Resources => o.resources = Some(v.path()?),
        U::BlkioWeight => o.blkio_weight = Some(v.number()?),
        U::CpuPeriod => o.cpu_period = Some(v.number()?),
        U::CpuQuota => o.cpu_quota = Some(v.number()?),
        U::CpuBurst => o.cpu_burst = Some(v.number()?),
        U::CpuIdle => o.cpu_idle = Some(v.number()?),
        U::CpuShare => o.cpu_share = Some(v.number()?),
        U::CpuRtPeriod => o.cpu_rt_period = Some(v.number()?),
        U::CpuRtRuntime => o.cpu_rt_runtime = Some(v.number()?),
        U::CpusetCpus => o.cpuset_cpus = Some(v.string()),
        U::CpusetMems => o.cpuset_mems = Some(v.string()),
        U::KernelMemory => o.kernel_memory = Some(v.string()),
        U::KernelMemoryTcp => o.kernel_memory_tcp = Some(v.string()),
        U::Memory => o.memory = Some(v.string()),
        U::MemoryReservation => o.memory_reservation = Some(v.string()),
        U::MemorySwap => o.memory_swap = Some(v.string()),
        U::PidsLimit => o.pids_limit = Some(v.number()?),
        U::L3CacheSchema => o.l3_cache_schema = Some(v.string()),
        U::MemBwSchema => o.mem_bw_schema = Some(v.string()),
    }
    Ok(())
}

/// Options of the small verbs (kill, delete, list, spec, ps, events).
#[derive(Clone, Copy)]
enum S {
    All,
    Force,
    Format,
    Quiet,
    Bundle,
    Stats,
    Interval,
}

const KILL: &[Opt<S>] = &[opt("all", Some('a'), Takes::Flag, S::All)];
const DELETE: &[Opt<S>] = &[opt("force", Some('f'), Takes::Flag, S::Force)];
const LIST: &[Opt<S>] = &[
    opt("format", Some('f'), Takes::Value, S::Format),
    opt("quiet", Some('q'), Takes::Flag, S::Quiet),
];
const SPEC: &[Opt<S>] = &[opt("bundle", Some('b'), Takes::Value, S::Bundle)];
const PS: &[Opt<S>] = &[opt("format", Some('f'), Takes::Value, S::Format)];
const EVENTS: &[Opt<S>] = &[
    opt("stats", None, Takes::Flag, S::Stats),
    opt("interval", None, Takes::Value, S::Interval),
];
const NO_OPTS: &[Opt<S>] = &[];

/// The small verbs' options, with clap's defaults.
struct Small {
    all: bool,
    force: bool,
    format: String,
    quiet: bool,
    bundle: PathBuf,
    stats: bool,
    interval: String,
}

impl Default for Small {
    fn default() -> Self {
        Small {
            all: false,
            force: false,
            format: "table".to_string(),
            quiet: false,
            bundle: PathBuf::from("."),
            stats: false,
            interval: "5s".to_string(),
        }
    }
}

fn set_small(o: &mut Small, field: S, v: Val) -> Result<()> {
    match field {
        S::All => o.all = true,
        S::Force => o.force = true,
        S::Format => o.format = v.string(),
        S::Quiet => o.quiet = true,
        S::Bundle => o.bundle = v.path()?,
        S::Stats => o.stats = true,
        S::Interval => o.interval = v.string(),
    }
    Ok(())
}

/// Parses verb `verb` and its arguments; `None` for a verb this runtime does
/// not know (the caller makes it a [`Command::Other`]).
fn parse_command(c: &mut Cursor, g: &mut GlobalOpts, verb: &str) -> Result<Option<Command>> {
    let command = match verb {
        "create" | "run" => {
            let mut opts = CreateOpts::default();
            let mut run = RunFlags::default();
            let tables: &[&[Opt<C>]] = match verb {
                "create" => &[CREATE],
                _ => &[CREATE, RUN_ONLY],
            };
            let w = parse_verb(c, g, tables, &ID, |f, v| {
                set_create(&mut opts, &mut run, f, v)
            })?;
            match verb {
                "create" => Command::Create { opts, id: w.id() },
                _ => Command::Run {
                    opts,
                    detach: run.detach,
                    keep: run.keep,
                    no_subreaper: run.no_subreaper,
                    id: w.id(),
                },
            }
        }
        "exec" => {
            let mut o = ExecOpts::default();
            let w = parse_verb(c, g, &[EXEC], &ID_THEN_COMMAND, |f, v| {
                set_exec(&mut o, f, v)
            })?;
            o.id = w.id();
            o.command = w.trailing;
            Command::Exec(o)
        }
        "update" => {
            let mut o = UpdateOpts::default();
            let w = parse_verb(c, g, &[UPDATE], &ID, |f, v| set_update(&mut o, f, v))?;
            o.id = w.id();
            Command::Update(o)
        }
        "features" => {
            parse_small(c, g, NO_OPTS, &NONE)?;
            Command::Features
        }
        _ => return parse_small_command(c, g, verb),
    };
    Ok(Some(command))
}

fn parse_small(
    c: &mut Cursor,
    g: &mut GlobalOpts,
    opts: &[Opt<S>],
    pos: &Positionals,
) -> Result<(Small, Words)> {
    let mut o = Small::default();
    let w = parse_verb(c, g, &[opts], pos, |f, v| set_small(&mut o, f, v))?;
    Ok((o, w))
}

fn parse_small_command(c: &mut Cursor, g: &mut GlobalOpts, verb: &str) -> Result<Option<Command>> {
    const KILL_ARGS: Positionals = Positionals {
        names: &["ID", "SIGNAL"],
        required: 1,
        trailing: false,
    };
    let command = match verb {
        "start" | "state" | "pause" | "resume" => {
            let id = parse_small(c, g, NO_OPTS, &ID)?.1.id();
            match verb {
                "start" => Command::Start { id },
                "state" => Command::State { id },
                "pause" => Command::Pause { id },
                _ => Command::Resume { id },
            }
        }
        "kill" => {
            let (o, w) = parse_small(c, g, KILL, &KILL_ARGS)?;
            Command::Kill {
                all: o.all,
                id: w.id(),
                signal: w
                    .positionals
                    .get(1)
                    .cloned()
                    .unwrap_or_else(|| "SIGTERM".to_string()),
            }
        }
        "delete" => {
            let (o, w) = parse_small(c, g, DELETE, &ID)?;
            Command::Delete {
                force: o.force,
                id: w.id(),
            }
        }
        "list" | "ls" => {
            let (o, _) = parse_small(c, g, LIST, &NONE)?;
            Command::List {
                format: o.format,
                quiet: o.quiet,
            }
        }
        "spec" => {
            let (o, _) = parse_small(c, g, SPEC, &NONE)?;
            Command::Spec { bundle: o.bundle }
        }
        "ps" => {
            let (o, w) = parse_small(c, g, PS, &ID_THEN_COMMAND)?;
            Command::Ps {
                format: o.format,
                id: w.id(),
                ps_args: w.trailing,
            }
        }
        "events" => {
            let (o, w) = parse_small(c, g, EVENTS, &ID)?;
            Command::Events {
                stats: o.stats,
                interval: o.interval,
                id: w.id(),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(command))
}
