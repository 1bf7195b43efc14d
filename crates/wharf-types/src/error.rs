//! The kind of an error, independent of where it happened. The daemon maps each kind to an
//! HTTP status in exactly one place (moby `daemon/server/httpstatus/status.go`).

/// What sort of failure an error is; decides the HTTP status the daemon answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// 404
    NotFound,
    /// 400
    InvalidArgument,
    /// 409 (an object with this name exists)
    AlreadyExists,
    /// 409 (state forbids the operation)
    Conflict,
    /// 403
    PermissionDenied,
    /// 503
    Unavailable,
    /// 500
    Internal,
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        };
        f.write_str(s)
    }
}
