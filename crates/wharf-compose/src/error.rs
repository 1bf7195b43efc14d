//! Errors of the compose loader. A problem found in a file always names the file and the line
//! (`compose.yaml:12: services.web.portz: additional property portz is not allowed`), as the
//! docker compose CLI does, so a user can go straight to it.

use std::path::PathBuf;

/// What went wrong while loading a project.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem at a known place in a compose or env file.
    #[error("{file}:{line}: {message}")]
    At {
        file: String,
        line: usize,
        message: String,
    },
    /// A problem of the project as a whole (no single line to blame), e.g. a dependency cycle.
    #[error("{0}")]
    Invalid(String),
    /// A file named on the command line (or found) could not be read.
    #[error("failed to read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// No `-f` and no compose file in the working directory or its parents.
    #[error("no configuration file provided: not found")]
    NoConfigFile,
}

/// The kind of an error, for callers that map errors to exit codes or HTTP statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    InvalidArgument,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoConfigFile | Error::Read { .. } => ErrorKind::NotFound,
            Error::At { .. } | Error::Invalid(_) => ErrorKind::InvalidArgument,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
