//! `berth system ...`: the verbs only the system group has.

pub mod boot;
pub mod df;
pub mod prune;
pub mod reset;
