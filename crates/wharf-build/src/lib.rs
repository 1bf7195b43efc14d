//! wharf-build: the front end of `docker build`, with no I/O.
//!
//! Docker's own behaviour is the specification: moby/buildkit's
//! `frontend/dockerfile/{parser,instructions,shell}` packages and `moby/patternmatcher`.
//!
//! - [`dockerfile`]: [`parse`] turns Dockerfile text into a [`Dockerfile`]: parser
//!   directives, meta `ARG`s and [`Stage`]s of typed [`Instruction`]s (flags, heredocs,
//!   exec/shell form). Arguments stay raw; [`Kind::expand`] and [`expand_base`] apply
//!   variable substitution exactly where docker does.
//! - [`shell`]: [`Lex`], docker's word expansion (`$VAR`, `${VAR:-word}`, quotes, escapes).
//! - [`ignore`]: [`Ignore`], `.dockerignore` patterns with docker's matching rules.

pub mod dockerfile;
pub mod ignore;
pub mod shell;

pub use dockerfile::{
    expand_base, heredoc_name, parse, Directives, Dockerfile, Healthcheck, Heredoc, Instruction,
    KeyValueOpt, Kind, ParseError, RunMount, ShellOrExec, Stage,
};
pub use ignore::{Ignore, IgnoreError};
pub use shell::{Lex, ShellError};
