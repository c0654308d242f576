//! Named crash points for fault-injection tests (`BERTH_CRASH_AT`): the one
//! hook berth, berth-shim and berth-runtime share (the `berth-fault` crate).

pub use berth_fault::crash_point;
