//! The Docker Engine API: one route table per object (`system`, `image`, …), thin handlers,
//! errors mapped to HTTP status in exactly one place ([`status_of`]).
//!
//! Every path may carry a `/v1.NN` prefix (the version the client negotiated through `/_ping`);
//! [`strip_version`] removes it before routing and records it as an [`ApiVersion`] extension.

pub mod archive;
pub mod build;
pub mod container;
pub mod image;
pub mod network;
pub mod params;
pub mod stream;
pub mod system;
pub mod top;
pub mod volume;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_layer::Layer;
use wharf_types::ErrorKind;

use crate::state::Daemon;
use crate::{API_VERSION, MIN_API_VERSION};

pub type AppState = Arc<Daemon>;

/// Builds the whole API as a service: version-prefix stripping around the route table.
pub fn service(
    d: AppState,
) -> impl tower_service::Service<
    Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future: Send,
> + Clone
       + Send
       + 'static {
    let routes = Router::new()
        .merge(system::routes())
        .merge(image::routes())
        .merge(container::routes())
        .merge(archive::routes())
        .merge(volume::routes())
        .merge(network::routes())
        .merge(build::routes())
        .fallback(not_found)
        .layer(axum::middleware::map_response(add_api_headers))
        .with_state(d);
    axum::middleware::map_request(strip_version).layer(routes)
}

/// The API version of a request: its `/vX.Y` prefix, or ours when it had none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u32, pub u32);

impl ApiVersion {
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (a, b) = s.split_once('.')?;
        Some(ApiVersion(a.parse().ok()?, b.parse().ok()?))
    }
    pub fn current() -> ApiVersion {
        ApiVersion::parse(API_VERSION).unwrap_or(ApiVersion(1, 52))
    }
    pub fn at_least(&self, s: &str) -> bool {
        ApiVersion::parse(s).is_some_and(|v| *self >= v)
    }
}

async fn strip_version(mut req: Request) -> Result<Request, Response> {
    let path = req.uri().path();
    let mut version = ApiVersion::current();
    if let Some(rest) = path.strip_prefix("/v") {
        let (ver, tail) = rest.split_once('/').map_or((rest, ""), |(v, t)| (v, t));
        if let Some(v) = ApiVersion::parse(ver) {
            let min = ApiVersion::parse(MIN_API_VERSION).unwrap_or(ApiVersion(1, 24));
            if v > ApiVersion::current() {
                return Err(ApiError::invalid(format!(
                    "client version {ver} is too new. Maximum supported API version is {API_VERSION}"
                ))
                .into_response());
            }
            if v < min {
                return Err(ApiError::invalid(format!(
                    "client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
                ))
                .into_response());
            }
            version = v;
            let new_path = format!("/{tail}");
            let pq = match req.uri().query() {
                Some(q) => format!("{new_path}?{q}"),
                None => new_path,
            };
            let mut parts = req.uri().clone().into_parts();
            parts.path_and_query = pq.parse().ok();
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req.extensions_mut().insert(version);
    Ok(req)
}

async fn add_api_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    if let Ok(v) = HeaderValue::from_str(&format!("Wharf/{} (linux)", crate::VERSION)) {
        h.insert("Server", v);
    }
    resp
}

async fn not_found(req: Request) -> Response {
    ApiError::new(
        ErrorKind::NotFound,
        format!("page not found: {} {}", req.method(), req.uri().path()),
    )
    .into_response()
}

/// An error as the API shows it: a kind (→ status) and Docker's `{"message": …}` body.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::InvalidArgument, message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Internal, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<wharf_image::Error> for ApiError {
    fn from(e: wharf_image::Error) -> ApiError {
        ApiError::new(e.kind(), e.to_string())
    }
}

impl From<wharf_types::reference::ReferenceError> for ApiError {
    fn from(e: wharf_types::reference::ReferenceError) -> ApiError {
        ApiError::invalid(e.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        ApiError::internal(format!("internal error: {e}"))
    }
}

/// The one place an error kind becomes an HTTP status (moby's httpstatus).
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::AlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.kind == ErrorKind::Internal {
            tracing::error!(error = %self.message, "request failed");
        }
        (
            status_of(self.kind),
            axum::Json(serde_json::json!({ "message": self.message })),
        )
            .into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Runs a synchronous store call on the blocking pool.
pub async fn blocking<T, F>(f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> ApiResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ordering() {
        let v = ApiVersion::parse("1.41").unwrap();
        assert!(v.at_least("1.40"));
        assert!(!v.at_least("1.44"));
        assert!(ApiVersion::parse("1.9") < ApiVersion::parse("1.10"));
    }

    #[test]
    fn every_kind_has_dockers_status() {
        assert_eq!(status_of(ErrorKind::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(status_of(ErrorKind::Conflict), StatusCode::CONFLICT);
        assert_eq!(
            status_of(ErrorKind::InvalidArgument),
            StatusCode::BAD_REQUEST
        );
    }
}
