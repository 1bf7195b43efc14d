//! Sending one blob to a registry (distribution spec, "Pushing blobs"): `HEAD` first (a blob
//! the repository has is not sent again), then a cross-repository mount when another
//! repository of the same registry is known to hold it, else an upload session: one `PUT
//! ?digest=` with the whole body for small blobs, `PATCH` chunks (`Content-Range`) then an
//! empty `PUT ?digest=` for large ones. The registry verifies the digest on the final `PUT`;
//! until then nothing is visible in the repository.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::http::{header, Method, StatusCode};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use wharf_types::{Digest, ErrorKind};

use super::http::{full_body, read_all, unavailable, Client, ReqBody};
use super::Error;

/// Blobs up to this size go in one `PUT`; larger ones in `PATCH` chunks of [`CHUNK`].
pub const MONOLITHIC_MAX: u64 = 16 << 20;
pub const CHUNK: u64 = 128 << 20;

/// Where a blob's bytes are.
pub enum Blob {
    File(PathBuf),
    Bytes(Bytes),
}

/// What pushing a blob did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Exists,
    Mounted(String),
    Pushed,
}

/// Docker's rendering of a registry error answer: `code: message` from the body's
/// `errors`, else the status.
pub async fn registry_error(what: &str, resp: hyper::Response<Incoming>) -> Error {
    let status = resp.status();
    let body = read_all(resp, 1 << 20).await.unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let detail = match (
        v.pointer("/errors/0/code").and_then(|c| c.as_str()),
        v.pointer("/errors/0/message").and_then(|c| c.as_str()),
    ) {
        (Some(c), Some(m)) => format!("{}: {m}", c.to_ascii_lowercase()),
        _ => format!(
            "received unexpected HTTP status: {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ),
    };
    let kind = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ErrorKind::PermissionDenied,
        s if s.is_server_error() => ErrorKind::Unavailable,
        _ => ErrorKind::InvalidArgument,
    };
    Error::new(kind, format!("{what}: {detail}"))
}

fn location(resp: &hyper::Response<Incoming>) -> Result<String, Error> {
    resp.headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .ok_or_else(|| unavailable("registry answered an upload without a Location".into()))
}

fn with_digest(loc: &str, d: &Digest) -> String {
    let sep = if loc.contains('?') { '&' } else { '?' };
    format!("{loc}{sep}digest={}", d.as_str().replace(':', "%3A"))
}

/// Opens an upload session; returns its `Location`.
async fn start_upload(client: &Client, repo: &str, what: &str) -> Result<String, Error> {
    let resp = client
        .authed(
            Method::POST,
            &format!("/v2/{repo}/blobs/uploads/"),
            &[(header::CONTENT_LENGTH, "0".into())],
            Bytes::new(),
        )
        .await?;
    if resp.status() != StatusCode::ACCEPTED {
        return Err(registry_error(&format!("failed to start uploading {what}"), resp).await);
    }
    location(&resp)
}

/// Uploads a blob whose digest is known only once `body` has been produced (a layer compressed
/// while it is sent, as docker does): one streaming `PATCH`, then `PUT ?digest=` with the
/// digest `done` yields. The registry verifies it.
pub async fn push_streamed<F>(
    client: &Client,
    repo: &str,
    what: &str,
    body: ReqBody,
    done: F,
) -> Result<Digest, Error>
where
    F: std::future::Future<Output = Result<Digest, Error>>,
{
    let loc = start_upload(client, repo, what).await?;
    let h = [(header::CONTENT_TYPE, "application/octet-stream".to_string())];
    let resp = client.send_stream(Method::PATCH, &loc, &h, body).await;
    let digest = done.await;
    // A failed request stops the producer ("stopped"): then the request's error is the news;
    // otherwise the producer's (a corrupt layer) explains a failed request better.
    let (resp, digest) = match (resp, digest) {
        (Err(e), Err(p)) if p.message.contains("upload of this layer stopped") => return Err(e),
        (_, Err(p)) => return Err(p),
        (r, Ok(d)) => (r?, d),
    };
    if resp.status() != StatusCode::ACCEPTED {
        return Err(registry_error(&format!("failed to upload {what}"), resp).await);
    }
    let loc = location(&resp)?;
    let h = [(header::CONTENT_LENGTH, "0".to_string())];
    let resp = client
        .send_stream(
            Method::PUT,
            &client.resolve(&with_digest(&loc, &digest)),
            &h,
            full_body(Bytes::new()),
        )
        .await?;
    if resp.status() != StatusCode::CREATED {
        return Err(registry_error(&format!("failed to upload {digest}"), resp).await);
    }
    Ok(digest)
}

/// A body streaming `len` bytes of `path` from `offset`, counting them into `sent`.
async fn file_body(
    path: &PathBuf,
    offset: u64,
    len: u64,
    sent: Arc<AtomicU64>,
) -> Result<ReqBody, Error> {
    let mut f = tokio::fs::File::open(path)
        .await
        .map_err(|e| Error::internal(format!("failed to open {}: {e}", path.display())))?;
    f.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(|e| Error::internal(format!("failed to read {}: {e}", path.display())))?;
    let s = tokio_util::io::ReaderStream::with_capacity(f.take(len), 256 * 1024).map(move |r| {
        r.map(|b| {
            sent.fetch_add(b.len() as u64, Ordering::Relaxed);
            Frame::data(b)
        })
    });
    Ok(BodyExt::boxed(StreamBody::new(s)))
}

/// Pushes one blob to `repo` (the client's repository). `mount_from`: other repositories of
/// the same registry known to hold it. `sent` counts bytes sent, for progress.
pub async fn push_blob(
    client: &Client,
    repo: &str,
    digest: &Digest,
    size: u64,
    blob: Blob,
    mount_from: &[String],
    sent: Arc<AtomicU64>,
) -> Result<Outcome, Error> {
    let head = client
        .authed(
            Method::HEAD,
            &format!("/v2/{repo}/blobs/{digest}"),
            &[],
            Bytes::new(),
        )
        .await?;
    match head.status() {
        s if s.is_success() => return Ok(Outcome::Exists),
        StatusCode::NOT_FOUND => {}
        _ => return Err(registry_error(&format!("failed to check blob {digest}"), head).await),
    }
    let mut session = None;
    for from in mount_from.iter().take(3) {
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("mount", digest.as_str())
            .append_pair("from", from)
            .finish();
        let resp = client
            .authed(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?{q}"),
                &[(header::CONTENT_LENGTH, "0".into())],
                Bytes::new(),
            )
            .await?;
        match resp.status() {
            StatusCode::CREATED => return Ok(Outcome::Mounted(from.clone())),
            // the mount was not possible; the registry opened an ordinary upload instead
            StatusCode::ACCEPTED => {
                session = Some(location(&resp)?);
                break;
            }
            _ => {
                tracing::debug!(status = %resp.status(), %from, "cross-repository mount refused");
            }
        }
    }
    let loc = match session {
        Some(l) => l,
        None => start_upload(client, repo, digest.as_str()).await?,
    };
    let octet = (header::CONTENT_TYPE, "application/octet-stream".to_string());
    let finish = |loc: &str| client.resolve(&with_digest(loc, digest));
    let resp = if size <= MONOLITHIC_MAX {
        let body = match &blob {
            Blob::Bytes(b) => {
                sent.fetch_add(b.len() as u64, Ordering::Relaxed);
                full_body(b.clone())
            }
            Blob::File(p) => file_body(p, 0, size, sent.clone()).await?,
        };
        let h = [octet.clone(), (header::CONTENT_LENGTH, size.to_string())];
        client
            .send_stream(Method::PUT, &finish(&loc), &h, body)
            .await?
    } else {
        let Blob::File(path) = &blob else {
            return Err(Error::internal("large in-memory blob"));
        };
        let mut loc = loc;
        let mut off = 0;
        while off < size {
            let n = CHUNK.min(size - off);
            let body = file_body(path, off, n, sent.clone()).await?;
            let h = [
                octet.clone(),
                (header::CONTENT_LENGTH, n.to_string()),
                (header::CONTENT_RANGE, format!("{off}-{}", off + n - 1)),
            ];
            let resp = client.send_stream(Method::PATCH, &loc, &h, body).await?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(registry_error(&format!("failed to upload {digest}"), resp).await);
            }
            loc = location(&resp)?;
            off += n;
        }
        let h = [(header::CONTENT_LENGTH, "0".to_string())];
        client
            .send_stream(Method::PUT, &finish(&loc), &h, full_body(Bytes::new()))
            .await?
    };
    if resp.status() != StatusCode::CREATED {
        return Err(registry_error(&format!("failed to upload {digest}"), resp).await);
    }
    Ok(Outcome::Pushed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_joins_the_upload_location() {
        let d = Digest::of(b"x");
        assert_eq!(
            with_digest("/v2/a/blobs/uploads/u?_state=s", &d),
            format!("/v2/a/blobs/uploads/u?_state=s&digest=sha256%3A{}", d.hex())
        );
        assert!(with_digest("http://h/v2/a/blobs/uploads/u", &d).contains("/u?digest="));
    }
}
