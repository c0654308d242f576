//! berth compose: load a compose project (loader -> typed model), plan the
//! difference between it and the containers that exist (planner), and carry
//! the plan out through the container lifecycle library (engine).

pub mod attached;
pub mod build;
pub mod create;
pub mod engine;
pub mod error;
pub mod events;
pub mod loader;
pub mod logs;
pub mod model;
pub mod networks;
pub mod observe;
pub mod oneoff;
pub mod output;
pub mod planner;
pub mod progress;
pub mod registry;
pub mod top;
pub mod units;
pub mod validate;
