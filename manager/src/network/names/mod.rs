//! Names: each container's /etc/hosts, /etc/hostname and /etc/resolv.conf
//! (files in its record directory, bind-mounted by the spec), and on a user
//! network the network's DNS responder (`dns.rs`, started and stopped by
//! `responder.rs`): containers find each other by name through it, not
//! through peers' hosts files (docs/networking.md says why).

pub mod dns;
pub mod files;
pub mod responder;
pub mod table;
mod tcp;
pub mod watch;
