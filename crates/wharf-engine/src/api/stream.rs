//! Docker's JSON message streams (load, import, pull, build progress): one JSON object per
//! line. A producer on the blocking pool sends [`Msg`]s; the response waits for the first
//! one, so a failure before any progress becomes a plain HTTP error with Docker's status,
//! and a failure after it becomes an `{"error": …, "errorDetail": …}` message in the stream.

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::ApiError;

pub enum Msg {
    Json(serde_json::Value),
    Fail(ApiError),
}

/// The sending half handed to the producer.
#[derive(Clone)]
pub struct Progress(mpsc::Sender<Msg>);

impl Progress {
    /// Sends from a blocking thread; a gone client is not an error for the producer.
    pub fn send(&self, v: serde_json::Value) {
        let _ = self.0.blocking_send(Msg::Json(v));
    }
    /// Sends from async code.
    pub async fn send_async(&self, v: serde_json::Value) {
        let _ = self.0.send(Msg::Json(v)).await;
    }
    pub fn stream_line(&self, line: &str) {
        self.send(serde_json::json!({ "stream": format!("{line}\n") }));
    }
    pub fn status(&self, s: &str) {
        self.send(serde_json::json!({ "status": s }));
    }
    pub async fn fail_async(&self, e: ApiError) {
        let _ = self.0.send(Msg::Fail(e)).await;
    }
    pub fn fail(&self, e: ApiError) {
        let _ = self.0.blocking_send(Msg::Fail(e));
    }
}

pub fn channel() -> (Progress, mpsc::Receiver<Msg>) {
    let (tx, rx) = mpsc::channel(64);
    (Progress(tx), rx)
}

fn line(v: &serde_json::Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.extend_from_slice(b"\r\n");
    Bytes::from(b)
}

fn error_json(e: &ApiError) -> serde_json::Value {
    serde_json::json!({ "errorDetail": { "message": e.message }, "error": e.message })
}

/// Turns the receiving half into the HTTP response (see the module docs).
pub async fn respond(mut rx: mpsc::Receiver<Msg>) -> Response {
    let first = match rx.recv().await {
        Some(Msg::Fail(e)) => return e.into_response(),
        Some(Msg::Json(v)) => line(&v),
        None => Bytes::new(),
    };
    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Some(Msg::Json(v)) => Some((Ok::<_, std::io::Error>(line(&v)), rx)),
            Some(Msg::Fail(e)) => Some((Ok(line(&error_json(&e))), rx)),
            None => None,
        }
    });
    let body =
        futures_util::StreamExt::chain(futures_util::stream::once(async { Ok(first) }), rest);
    (
        [(CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response()
}
