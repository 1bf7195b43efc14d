//! Errors of the runtime: one enum, each variant naming the operation that failed, each
//! with an [`ErrorKind`] the daemon maps to an HTTP status.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Broad class of an error, shared with the rest of Wharf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    InvalidArgument,
    AlreadyExists,
    Conflict,
    PermissionDenied,
    Unavailable,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container config: {0}")]
    InvalidConfig(String),
    #[error("container {0} not found")]
    NotFound(String),
    #[error("container {0} already exists")]
    AlreadyExists(String),
    #[error("unknown capability {0}")]
    UnknownCapability(String),
    #[error("invalid seccomp profile: {0}")]
    InvalidSeccomp(String),
    #[error("seccomp was requested but is not available: {0}")]
    SeccompUnavailable(String),
    #[error("failed to resolve user {user:?} in the container root: {reason}")]
    User { user: String, reason: String },
    #[error("failed to {op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to build the runtime spec")]
    Spec(#[source] oci_spec::OciSpecError),
    #[error("libcontainer failed to {op} container {id}")]
    Libcontainer {
        op: &'static str,
        id: String,
        #[source]
        source: Box<libcontainer::error::LibcontainerError>,
    },
    /// A create run in a forked child (see `cgroup::V1Attach`), whose error came back as text.
    /// A create or exec run in a forked child (see `cgroup::V1Attach`), whose error came
    /// back as text.
    #[error("libcontainer failed to {op} container {id}: {reason}")]
    Create {
        op: &'static str,
        id: String,
        reason: String,
    },
    #[error("failed to {op} cgroup of container {id}: {reason}")]
    Cgroup {
        op: &'static str,
        id: String,
        reason: String,
    },
    #[error("container {id} is {state}, cannot {op}")]
    WrongState {
        op: &'static str,
        id: String,
        state: String,
    },
    #[error("{0}")]
    Multiple(String),
}

impl Error {
    /// The kind the daemon maps to an HTTP status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidConfig(_)
            | Error::UnknownCapability(_)
            | Error::InvalidSeccomp(_)
            | Error::User { .. } => ErrorKind::InvalidArgument,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::AlreadyExists(_) => ErrorKind::AlreadyExists,
            Error::WrongState { .. } => ErrorKind::Conflict,
            Error::SeccompUnavailable(_) => ErrorKind::Unavailable,
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                ErrorKind::PermissionDenied
            }
            _ => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
