//! docker's output formats: `--format` Go templates, tabwriter columns, and
//! go-units' human sizes and durations.

pub mod human;
pub mod table;
pub mod template;

pub use human::{bytes_size, human_size, since};
pub use table::{tabulate, tabulate_cells};
pub use template::{Style, Template};
