//! The CLI's error type. Each variant prints the way docker's CLI prints it, and carries the
//! exit status docker would use.

use crate::format::template::TemplateError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A non-2xx answer: docker prints the daemon's `message` with this prefix.
    #[error("Error response from daemon: {message}")]
    Daemon { status: u16, message: String },
    /// Nothing answered on the host.
    #[error("Cannot connect to the Wharf daemon at {host}. Is the wharf daemon running?")]
    Connect { host: String },
    /// A message printed as-is (docker's `errors.New(…)` in commands).
    #[error("{0}")]
    Message(String),
    /// Exit with `code`, printing `message` unless it is empty (docker's `cli.StatusError`).
    #[error("{message}")]
    Status { code: i32, message: String },
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("error reading the daemon's response: {0}")]
    Protocol(String),
}

impl CliError {
    pub fn msg(s: impl Into<String>) -> Self {
        CliError::Message(s.into())
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Status { code, .. } => *code,
            _ => 1,
        }
    }

    /// Is this the daemon saying "not found" (404)?
    pub fn is_not_found(&self) -> bool {
        matches!(self, CliError::Daemon { status: 404, .. })
    }
}

/// An I/O error as Go prints it: "open /x: no such file or directory".
pub fn go_io_error(op: &str, path: &str, e: &std::io::Error) -> CliError {
    CliError::Message(go_io_message(op, path, e))
}

/// The text of [`go_io_error`].
pub fn go_io_message(op: &str, path: &str, e: &std::io::Error) -> String {
    let text = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::AlreadyExists => "file exists".to_string(),
        _ => {
            let s = e.to_string();
            let s = s.split(" (os error").next().unwrap_or(&s).to_string();
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_lowercase().chain(c).collect(),
                None => s,
            }
        }
    };
    format!("{op} {path}: {text}")
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;
