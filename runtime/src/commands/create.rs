use crate::bundle::Bundle;
use crate::cli::{CreateOpts, GlobalOpts};
use crate::container::Store;
use crate::error::Result;
use crate::launcher::{self, ConsoleTarget, Launched};

/// Create a container; on any failure nothing is left under --root.
pub fn run(g: &GlobalOpts, opts: &CreateOpts, id: &str) -> Result<()> {
    crate::container::validate_id(id)?;
    let bundle = Bundle::load(&opts.bundle)?;
    create(g, &bundle, opts, id, None).map(|_| ())
}

pub fn create(
    g: &GlobalOpts,
    bundle: &Bundle,
    opts: &CreateOpts,
    id: &str,
    console: Option<std::os::fd::OwnedFd>,
) -> Result<Launched> {
    let store = Store::new(&g.root);
    let mut c = store.create(id)?;
    let target = match (console, &opts.console_socket) {
        (Some(fd), _) => ConsoleTarget::Connected(fd),
        (None, Some(p)) => ConsoleTarget::Socket(p),
        (None, None) => ConsoleTarget::None,
    };
    match launcher::launch(bundle, opts, &mut c, target, g.systemd_cgroup) {
        Ok(l) => Ok(l),
        Err(e) => {
            let _ = c.destroy();
            Err(e)
        }
    }
}
