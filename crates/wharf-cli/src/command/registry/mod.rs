//! `wharf login` / `wharf logout`: credentials checked by the daemon (`POST /auth`) and kept
//! where docker keeps them — `~/.docker/config.json` or its credential helper (see [`config`]).

pub mod config;
pub mod login;
pub mod logout;

pub use wharf_credentials::{server_key, HUB_ADDRESS};
