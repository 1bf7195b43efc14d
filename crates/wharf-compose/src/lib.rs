//! wharf-compose: the Compose Specification for `wharf compose`.
//!
//! [`load`] finds and reads the compose files, interpolates variables (`.env` under the
//! process environment), resolves `include` and `extends`, merges several `-f` files, applies
//! profiles and turns the result into the resolved [`model`] ([`Project`]), with errors that
//! name the file and line. [`start_order`] plans the start waves, [`config_hash`] gives the
//! `com.docker.compose.config-hash` label and [`to_yaml`] prints `compose config`.
//! Pure: reads files, never talks to the daemon (the CLI executes the plan).
//!
//! The stages, one module each: `yaml` (a tree that keeps file and line for every
//! node; anchors, aliases, merge keys), `interpolate` and `dotenv` (variables and `.env`
//! syntax), `merge` (`-f` files, `extends`, `!reset`/`!override`), `loader` (files, `include`,
//! `extends`, names, profiles, reference checks), `service`/`fields`/`resources` (tree → model,
//! with the Compose Specification's property lists), `order`, `output`.
//!
//! Service properties of the specification that the model does not carry (`develop`,
//! `blkio_config`, `cgroup`, `gpus`, …) are accepted and reported in
//! [`Loaded::warnings`]; unknown properties are errors.

use std::collections::BTreeMap;
use std::path::PathBuf;

mod dotenv;
pub mod error;
mod fields;
mod interpolate;
mod loader;
mod merge;
pub mod model;
mod order;
mod output;
mod resources;
mod service;
mod syntax;
mod yaml;

pub use error::{Error, ErrorKind};
pub use model::*;
pub use order::start_order;
pub use output::{config_hash, to_yaml};

/// What `wharf compose` was given: files, names, profiles and the environment.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `-f`; empty = `COMPOSE_FILE`, else `compose.yaml` (or `compose.yml`,
    /// `docker-compose.yml`, `docker-compose.yaml`) in the working directory or a parent,
    /// plus its `compose.override.yaml` / `docker-compose.override.yml`.
    pub files: Vec<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--project-directory` (default: the first file's directory).
    pub project_directory: Option<PathBuf>,
    /// `--profile` (`COMPOSE_PROFILES` is added).
    pub profiles: Vec<String>,
    /// `--env-file`; default `<project dir>/.env` if present.
    pub env_files: Vec<PathBuf>,
    /// The process environment; it wins over the env files.
    pub environment: BTreeMap<String, String>,
    /// Relative paths above resolve against this.
    pub cwd: PathBuf,
}

/// A loaded project and what docker compose would have warned about (unset variables,
/// properties wharf ignores).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Loaded {
    pub project: Project,
    pub warnings: Vec<String>,
}

/// Loads the project `opts` describe.
pub fn load(opts: &LoadOptions) -> Result<Project, Error> {
    load_with_warnings(opts).map(|l| l.project)
}

/// [`load`], also returning the warnings.
pub fn load_with_warnings(opts: &LoadOptions) -> Result<Loaded, Error> {
    loader::load(opts)
}

#[cfg(test)]
mod tests;
