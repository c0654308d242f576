use crate::cli::GlobalOpts;
use crate::container::{Status, Store};
use crate::error::{Error, Result};

/// `pause` freezes a running or created container; `resume` thaws a paused one.
pub fn run(g: &GlobalOpts, id: &str, pause: bool) -> Result<()> {
    let store = Store::new(&g.root);
    let c = store.load(id)?;
    let state = c.state()?;
    let status = c.status();
    let cg = state
        .cgroup
        .as_ref()
        .ok_or_else(|| Error::Invalid(format!("container {id} has no cgroup to freeze")))?;
    match (pause, status) {
        (true, Status::Running | Status::Created) => cg.freeze().map_err(Error::from),
        (false, Status::Paused) => cg.thaw().map_err(Error::from),
        (true, Status::Paused) => Err(Error::Invalid(
            "container not running: already paused".into(),
        )),
        (false, _) => Err(Error::Invalid("container not paused".into())),
        (true, _) => Err(Error::NotRunning),
    }
}
