//! `berth container ...`: the verbs only the container group has.

pub mod prune;
