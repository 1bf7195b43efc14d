#![recursion_limit = "256"]
//! The Wharf daemon.
//!
//! [`daemon_main`] parses `wharf daemon` flags, takes the data root's lock, opens the one
//! crash-safe metadata store ([`redb`], shared by every service), opens the services (today the
//! image store of `wharf-image`) and serves the Docker Engine API ([`api`]) on a unix socket.
//! Handlers are thin: they parse a request, call a service on the blocking pool (the stores are
//! synchronous), and map the result to Docker's JSON shapes (bollard's stubs).

pub mod api;
pub mod background;
pub mod build;
pub mod container;
pub mod daemon;
pub mod exec;
pub mod network;
pub mod pull;
pub mod push;
pub mod shim;
pub mod state;
pub mod volume;

pub use daemon::daemon_main;
pub use shim::shim_main;

/// The Engine API version this daemon speaks (the newest); older prefixes are accepted.
pub const API_VERSION: &str = "1.52";
/// The oldest API version a client may ask for.
pub const MIN_API_VERSION: &str = "1.24";
/// Wharf's own version, shown by `version` and `info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
