//! seccomp filters (being written).
