//! The API router called as a service, without a socket (axum's testing pattern).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use wharf_engine::state::Daemon;

fn daemon() -> (tempfile::TempDir, Arc<Daemon>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Arc::new(Daemon::open(dir.path()).expect("open"));
    (dir, d)
}

async fn call(
    d: &Arc<Daemon>,
    method: &str,
    uri: &str,
) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let svc = wharf_engine::api::service(d.clone());
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .expect("request");
    let resp = svc.oneshot(req).await.expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::String(
        String::from_utf8_lossy(&bytes).into(),
    ));
    (status, headers, json)
}

#[tokio::test]
async fn ping_answers_with_the_api_version() {
    let (_dir, d) = daemon();
    for m in ["GET", "HEAD"] {
        let (status, headers, _) = call(&d, m, "/_ping").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["api-version"], wharf_engine::API_VERSION);
        assert_eq!(headers["ostype"], "linux");
    }
}

#[tokio::test]
async fn version_prefixes_are_stripped_and_checked() {
    let (_dir, d) = daemon();
    let (status, _, body) = call(&d, "GET", "/v1.41/version").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ApiVersion"], wharf_engine::API_VERSION);
    let (status, _, body) = call(&d, "GET", "/v1.99/version").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap_or("").contains("too new"),
        "{body}"
    );
    let (status, _, body) = call(&d, "GET", "/v1.12/version").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap_or("").contains("too old"),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_things_are_docker_shaped_404s() {
    let (_dir, d) = daemon();
    let (status, _, body) = call(&d, "GET", "/v1.50/images/nosuch:1/json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "No such image: nosuch:1");
    let (status, _, body) = call(&d, "GET", "/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["message"].is_string());
    let (status, _, body) = call(&d, "GET", "/images/json?filters=%7Bbad").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn empty_store_lists_nothing() {
    let (_dir, d) = daemon();
    let (status, _, body) = call(&d, "GET", "/v1.50/images/json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!([]));
    let (status, _, body) = call(&d, "GET", "/system/df").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["Images"], serde_json::json!([]));
}
