//! Names: each container's /etc/hosts, /etc/hostname and /etc/resolv.conf
//! (files in its record directory, bind-mounted by the spec). On a user
//! network a container's /etc/hosts also lists its peers (name, aliases) and
//! is rewritten in place whenever a peer comes, goes or is renamed: name
//! resolution without a server process (docs/networking.md says why).

pub mod files;
