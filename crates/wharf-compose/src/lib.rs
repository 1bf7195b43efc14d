//! wharf-compose: the Compose Specification for `wharf compose`.
//! Pure: reads files, never talks to the daemon (the CLI executes the plan).

pub mod model;

pub use model::*;
