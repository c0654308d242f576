//! cgroup management (being written).
