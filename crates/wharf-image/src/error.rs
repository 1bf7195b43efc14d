//! The crate's error type: a docker-style message plus a [`ErrorKind`] the daemon maps to
//! an HTTP status.

use wharf_types::{ErrorKind, ReferenceError};

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure of the image store. `Display` is the message docker would print.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Something asked for does not exist ("No such image: busybox").
    #[error("{0}")]
    NotFound(String),
    /// Bad input from the caller (reference, change command, archive shape, hostile tar).
    #[error("{0}")]
    InvalidArgument(String),
    /// The operation conflicts with current state ("conflict: unable to delete …").
    #[error("{0}")]
    Conflict(String),
    /// An invalid image reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// Input that is not what it claims to be (digest mismatch, malformed/hostile layer).
    #[error("{message}")]
    Invalid {
        message: String,
        #[source]
        source: Option<std::io::Error>,
    },
    /// A filesystem operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The metadata database failed.
    #[error("image metadata store: {context}: {source}")]
    Db {
        context: &'static str,
        #[source]
        source: Box<redb::Error>,
    },
    /// Stored metadata could not be decoded.
    #[error("image metadata store: corrupt record: {0}")]
    Corrupt(String),
}

impl Error {
    /// The kind the daemon maps to an HTTP status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::InvalidArgument(_) | Error::Reference(_) | Error::Invalid { .. } => {
                ErrorKind::InvalidArgument
            }
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                ErrorKind::PermissionDenied
            }
            Error::Io { .. } | Error::Db { .. } | Error::Corrupt(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::Invalid {
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn db(context: &'static str, source: impl Into<redb::Error>) -> Error {
        Error::Db {
            context,
            source: Box::new(source.into()),
        }
    }

    pub(crate) fn no_such_image(input: &str) -> Error {
        Error::NotFound(format!("No such image: {input}"))
    }
}

/// Adds a context string to io results.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(context(), e))
    }
}

impl<T> IoContext<T> for rustix::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(context(), e.into()))
    }
}
