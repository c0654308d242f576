//! Named crash points for fault-injection tests (`BERTH_CRASH_AT`, points
//! named `runtime:<step>`): the hook the manager and the shim share too.

pub use berth_fault::crash_point;
