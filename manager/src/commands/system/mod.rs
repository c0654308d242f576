//! `berth system ...`: the verbs only the system group has.

pub mod df;
pub mod prune;
