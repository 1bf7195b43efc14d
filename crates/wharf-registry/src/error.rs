//! Registry errors in the distribution spec's JSON shape
//! (`{"errors":[{"code":…,"message":…,"detail":…}]}`, spec "Error Codes") and the one
//! function mapping a code to its HTTP status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The spec's error codes (plus `RANGE_INVALID` for an unsatisfiable blob range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Unsupported,
    TagInvalid,
    RangeInvalid,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Unsupported => "UNSUPPORTED",
            Code::TagInvalid => "TAG_INVALID",
            Code::RangeInvalid => "RANGE_INVALID",
            Code::Internal => "INTERNAL_ERROR",
        }
    }

    /// The HTTP status of each code: the one place this mapping lives.
    pub fn status(self) -> StatusCode {
        match self {
            Code::BlobUnknown
            | Code::BlobUploadUnknown
            | Code::ManifestUnknown
            | Code::NameUnknown => StatusCode::NOT_FOUND,
            Code::BlobUploadInvalid
            | Code::DigestInvalid
            | Code::ManifestBlobUnknown
            | Code::ManifestInvalid
            | Code::NameInvalid
            | Code::SizeInvalid
            | Code::TagInvalid => StatusCode::BAD_REQUEST,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            Code::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// One registry error: a code, a message and an optional detail.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct RegistryError {
    pub code: Code,
    pub message: String,
    pub detail: serde_json::Value,
    /// Overrides the code's status (e.g. 416 for an out-of-order chunk).
    pub status: Option<StatusCode>,
}

impl RegistryError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        RegistryError {
            code,
            message: message.into(),
            detail: serde_json::Value::Null,
            status: None,
        }
    }

    pub fn detail(mut self, d: impl Into<serde_json::Value>) -> Self {
        self.detail = d.into();
        self
    }

    pub fn with_status(mut self, s: StatusCode) -> Self {
        self.status = Some(s);
        self
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        RegistryError::new(Code::Internal, e.to_string())
    }
}

impl From<std::io::Error> for RegistryError {
    fn from(e: std::io::Error) -> Self {
        RegistryError::internal(format!("storage: {e}"))
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let status = self.status.unwrap_or(self.code.status());
        if status.is_server_error() {
            tracing::error!(error = %self, "registry request failed");
        }
        let body = serde_json::json!({"errors": [{
            "code": self.code.as_str(),
            "message": self.message,
            "detail": self.detail,
        }]});
        let mut r = (status, body.to_string()).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.code == Code::Unauthorized {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"wharf-registry\""),
            );
        }
        r
    }
}

pub type Result<T> = std::result::Result<T, RegistryError>;
