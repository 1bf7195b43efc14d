//! Step events for wharf's own CLI (`POST /build?wharfprogress=1`, docs/adr-0007-build.md).
//!
//! The classic message stream has no structure beyond text: `Step N/M : …` lines, ` ---> Using
//! cache`, RUN output. Wharf's CLI draws a BuildKit-like view instead, so when it asks the
//! daemon sends, in `aux` messages docker's CLI never asks for:
//! `{"aux":{"wharfStep":{"step":N,"event":"start","stage":"build","stages":2,"index":2,
//! "count":4,"text":"RUN make"}}}` when a step starts, `{"event":"done","cached":bool,"ms":…}`
//! when it ends, and tags each RUN output message of the step with `"wharfStep":N`. Without
//! the parameter the stream is docker's, byte for byte.

use std::time::Instant;

use serde_json::{json, Value};

use crate::api::stream::{self, Progress};

/// Sends one step event.
pub async fn send(out: &Progress, ev: Value) {
    out.send_async(json!({ "aux": { "wharfStep": ev } })).await;
}

/// The end of a step.
pub fn done(cached: bool, started: Instant) -> Value {
    json!({
        "event": "done",
        "cached": cached,
        "ms": started.elapsed().as_millis() as u64,
    })
}

/// A sender whose `stream` messages reach `out` tagged with `step` (untagged when `None`: an
/// ONBUILD trigger's output); the classic ` ---> Running in …` line is dropped, the view shows
/// the step instead. Drop the sender,
/// then await the handle, before the step's `done` event so that its output comes first.
pub fn tagged(
    out: &Progress,
    step: Option<usize>,
) -> (Progress, Option<tokio::task::JoinHandle<()>>) {
    let (p, mut rx) = stream::channel();
    let out = out.clone();
    let h = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            match m {
                stream::Msg::Json(mut v) => {
                    if let Some(s) = v.get("stream").and_then(Value::as_str) {
                        if s.starts_with(" ---> Running in ") {
                            continue;
                        }
                        if let Some(step) = step {
                            v["wharfStep"] = json!(step);
                        }
                    }
                    out.send_async(v).await;
                }
                stream::Msg::Fail(e) => out.fail_async(e).await,
            }
        }
    });
    (p, Some(h))
}
