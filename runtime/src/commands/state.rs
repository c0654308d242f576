use std::io::Write;

use crate::cli::GlobalOpts;
use crate::container::Store;
use crate::error::{Result, SysContext};

pub fn run(g: &GlobalOpts, id: &str) -> Result<()> {
    let store = Store::new(&g.root);
    let (state, status) = store.read(id)?;
    let out = serde_json::to_string_pretty(&state.output(status, ""))
        .map_err(|e| crate::error::Error::Invalid(e.to_string()))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{out}").ctx(|| "write state")
}
