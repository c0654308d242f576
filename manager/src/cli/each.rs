//! The loop of the verbs that take several containers (`stop`, `kill`, `rm`, ...):
//! each name in turn; a failure prints `Error: ...` and makes the exit code 1
//! without stopping the others.

/// Run `f` on each name. `Ok(None)` prints the name, `Ok(Some(line))` prints
/// `line` instead; an error goes to stderr. Returns the exit code: 1 if any
/// failed, else 0.
pub fn for_each_container(
    names: &[String],
    mut f: impl FnMut(&str) -> anyhow::Result<Option<String>>,
) -> i32 {
    let mut code = 0;
    for name in names {
        match f(name) {
            Ok(line) => println!("{}", line.as_deref().unwrap_or(name)),
            Err(e) => {
                eprintln!("Error: {e:#}");
                code = 1;
            }
        }
    }
    code
}
