//! Sending one blob to a registry (distribution spec, "Pushing blobs"): `HEAD` first (a blob
//! the repository has is not sent again), then a cross-repository mount when another
//! repository of the same registry is known to hold it, else an upload session: one `PUT
//! ?digest=` with the whole body for small blobs, `PATCH` chunks (`Content-Range`) then an
//! empty `PUT ?digest=` for large ones. The registry verifies the digest on the final `PUT`;
//! until then nothing is visible in the repository.
//!
//! An upload request that breaks off (a connection error) or gets a 5xx is resumed: the
//! upload's status (`GET <location>` → `204` with `Range: 0-<last byte>`, spec "Resuming an
//! upload"), then the rest in `PATCH` chunks with `Content-Range`, then `PUT ?digest=`; up to
//! [`UPLOAD_RESUMES`] times. A registry that no longer knows the upload gets a new one.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
/// How many times an upload that broke off is resumed before the push fails.
pub const UPLOAD_RESUMES: u32 = 5;

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
/// digest `done` yields. The registry verifies it. `done` also yields where the whole blob
/// was kept and its size: when the `PATCH` breaks off, the upload resumes from that file.
/// `stop` is set when the request failed for good (the producer may stop).
pub async fn push_streamed<F>(
    client: &Client,
    repo: &str,
    what: &str,
    body: ReqBody,
    stop: Arc<AtomicBool>,
    done: F,
) -> Result<Digest, Error>
where
    F: std::future::Future<Output = Result<(Digest, PathBuf, u64), Error>>,
{
    let loc = start_upload(client, repo, what).await?;
    let h = [(header::CONTENT_TYPE, "application/octet-stream".to_string())];
    let sent = client.send_stream(Method::PATCH, &loc, &h, body).await;
    let failed = format!("failed to upload {what}");
    let resp = match check(sent, StatusCode::ACCEPTED, &failed).await {
        Err(Failure::Fatal(e)) => {
            stop.store(true, Ordering::Relaxed);
            // A stopped producer says nothing new; otherwise its error (a corrupt layer)
            // explains a failed request better.
            return Err(match done.await {
                Err(p) if !p.message.contains("upload of this layer stopped") => p,
                _ => e,
            });
        }
        r => r,
    };
    let (digest, path, size) = done.await?;
    let blob = Blob::File(path);
    let (loc, broke) = match resp {
        Ok(resp) => {
            let loc = location(&resp)?;
            let h = [(header::CONTENT_LENGTH, "0".to_string())];
            let put = client
                .send_stream(
                    Method::PUT,
                    &client.resolve(&with_digest(&loc, &digest)),
                    &h,
                    full_body(Bytes::new()),
                )
                .await;
            match check(
                put,
                StatusCode::CREATED,
                &format!("failed to upload {digest}"),
            )
            .await
            {
                Ok(_) => return Ok(digest),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Broke(e)) => (loc, e),
            }
        }
        Err(Failure::Broke(e)) => (loc, e),
        Err(Failure::Fatal(e)) => return Err(e),
    };
    let up = Upload {
        client,
        repo,
        digest: &digest,
        size,
        blob: &blob,
        sent: Arc::new(AtomicU64::new(0)),
    };
    up.resume(loc, broke).await?;
    Ok(digest)
}

/// Why an upload request did not succeed.
enum Failure {
    /// A connection error or a 5xx: worth asking where the upload stands and resuming.
    Broke(Error),
    /// Any other answer (refused, a bad digest): the push fails.
    Fatal(Error),
}

/// Sorts a request's outcome: the expected status, a reason to resume, or a failure.
async fn check(
    sent: Result<hyper::Response<Incoming>, Error>,
    want: StatusCode,
    what: &str,
) -> Result<hyper::Response<Incoming>, Failure> {
    match sent {
        Ok(r) if r.status() == want => Ok(r),
        Ok(r) if r.status().is_server_error() => Err(Failure::Broke(registry_error(what, r).await)),
        Ok(r) => Err(Failure::Fatal(registry_error(what, r).await)),
        Err(e) if e.kind == ErrorKind::Unavailable => Err(Failure::Broke(e)),
        Err(e) => Err(Failure::Fatal(e)),
    }
}

/// Where an upload stands, as its status answer says.
#[derive(Debug, PartialEq, Eq)]
enum Standing {
    /// The registry holds this many bytes; continue at the `Location`.
    Has(u64, String),
    /// `Range: 0-0`: zero bytes (distribution, and our server, write it for an empty upload)
    /// or one (the spec: the last byte received is byte 0). Not guessed: a wrong guess is a
    /// `416` that fails the push, so the upload (at most one byte) is dropped and started anew.
    AtMostOneByte(String),
    /// The registry does not know the upload any more, or did not say how far it is.
    Unknown,
}

/// Bytes received according to an upload's `Range` header: `0-<last byte>` (spec "Pushing
/// a blob in chunks"; distribution and older drafts also write `bytes=0-<last>`). `Ok(None)`
/// for the ambiguous `0-0`; `Err` for anything else (missing, not from 0, not numbers).
fn received(range: Option<&str>) -> Result<Option<u64>, ()> {
    let v = range.ok_or(())?.trim();
    let v = v.strip_prefix("bytes=").unwrap_or(v);
    let (a, b) = v.split_once('-').ok_or(())?;
    match (a.trim().parse::<u64>(), b.trim().parse::<u64>()) {
        (Ok(0), Ok(0)) => Ok(None),
        (Ok(0), Ok(last)) => last.checked_add(1).map(Some).ok_or(()),
        _ => Err(()),
    }
}

/// Where an upload stands (spec "Resuming an upload": `GET` on its location → `204`, `Range:
/// 0-<offset of the last byte>`, `Docker-Upload-UUID`).
async fn upload_status(client: &Client, loc: &str) -> Result<Standing, Error> {
    let resp = client.authed(Method::GET, loc, &[], Bytes::new()).await?;
    let status = resp.status();
    if status.is_server_error() {
        return Err(registry_error("failed to get the upload's status", resp).await);
    }
    if status != StatusCode::NO_CONTENT {
        return Ok(Standing::Unknown);
    }
    let range = resp
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok());
    let next = location(&resp).unwrap_or_else(|_| loc.to_string());
    Ok(match received(range) {
        Ok(Some(n)) => Standing::Has(n, next),
        Ok(None) => Standing::AtMostOneByte(next),
        Err(()) => Standing::Unknown,
    })
}

/// One blob being uploaded: what is needed to send it, or the rest of it.
struct Upload<'a> {
    client: &'a Client,
    repo: &'a str,
    digest: &'a Digest,
    size: u64,
    blob: &'a Blob,
    /// Bytes sent, for progress; set back to what the registry has on a resume.
    sent: Arc<AtomicU64>,
}

impl Upload<'_> {
    /// The blob's bytes `off..off + len` as a request body.
    async fn body(&self, off: u64, len: u64) -> Result<ReqBody, Error> {
        match self.blob {
            Blob::Bytes(b) => {
                let (a, z) = (off as usize, (off + len) as usize);
                let part = b
                    .get(a..z)
                    .map(|p| b.slice_ref(p))
                    .ok_or_else(|| Error::internal("blob range out of bounds"))?;
                self.sent.fetch_add(len, Ordering::Relaxed);
                Ok(full_body(part))
            }
            Blob::File(p) => file_body(p, off, len, self.sent.clone()).await,
        }
    }

    /// Sends the blob from byte `off` to the upload at `loc` in `PATCH` chunks, then `PUT
    /// ?digest=`. `loc` follows each answer's `Location`.
    async fn send_from(&self, loc: &mut String, mut off: u64) -> Result<(), Failure> {
        let failed = format!("failed to upload {}", self.digest);
        while off < self.size {
            let n = CHUNK.min(self.size - off);
            let body = self.body(off, n).await.map_err(Failure::Fatal)?;
            let h = [
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                (header::CONTENT_LENGTH, n.to_string()),
                (header::CONTENT_RANGE, format!("{off}-{}", off + n - 1)),
            ];
            let sent = self.client.send_stream(Method::PATCH, loc, &h, body).await;
            let resp = check(sent, StatusCode::ACCEPTED, &failed).await?;
            *loc = location(&resp).map_err(Failure::Broke)?;
            off += n;
        }
        let h = [(header::CONTENT_LENGTH, "0".to_string())];
        let url = self.client.resolve(&with_digest(loc, self.digest));
        let sent = self
            .client
            .send_stream(Method::PUT, &url, &h, full_body(Bytes::new()))
            .await;
        check(sent, StatusCode::CREATED, &failed).await.map(|_| ())
    }

    /// A new upload, after the registry lost the old one, or said `0-0` of it (then the old
    /// one is cancelled first, best effort: the spec's "Cancel a blob upload", so the
    /// registry drops its byte, if any, rather than keep it until its uploads expire).
    async fn start_over(&self, standing: Standing) -> Result<String, Error> {
        match &standing {
            Standing::AtMostOneByte(old) => {
                tracing::info!(digest = %self.digest, "upload status 0-0 (no byte or one): cancelling the upload; starting over");
                let h = [(header::CONTENT_LENGTH, "0".to_string())];
                match self
                    .client
                    .authed(Method::DELETE, old, &h, Bytes::new())
                    .await
                {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => tracing::debug!(status = %r.status(), "cancelling the upload"),
                    Err(e) => tracing::debug!(error = %e, "cancelling the upload"),
                }
            }
            _ => tracing::info!(digest = %self.digest, "registry lost the upload; starting over"),
        }
        start_upload(self.client, self.repo, self.digest.as_str()).await
    }

    /// After a request of the upload at `loc` broke off (`cause`): asks the registry what it
    /// has and sends the rest, up to [`UPLOAD_RESUMES`] times (200 ms, 400 ms, … apart).
    async fn resume(&self, mut loc: String, mut cause: Error) -> Result<(), Error> {
        for attempt in 1..=UPLOAD_RESUMES {
            tracing::info!(digest = %self.digest, error = %cause, attempt, "blob upload broke off; resuming");
            tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt))).await;
            let off = match upload_status(self.client, &loc).await {
                Err(e) => {
                    cause = e;
                    continue;
                }
                Ok(Standing::Has(n, next)) if n <= self.size => {
                    loc = next;
                    n
                }
                // lost, not said, beyond the blob, or `0-0`
                Ok(standing) => match self.start_over(standing).await {
                    Ok(next) => {
                        loc = next;
                        0
                    }
                    Err(e) => {
                        cause = e;
                        continue;
                    }
                },
            };
            self.sent.store(off, Ordering::Relaxed);
            match self.send_from(&mut loc, off).await {
                Ok(()) => return Ok(()),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Broke(e)) => cause = e,
            }
        }
        Err(Error::new(
            cause.kind,
            format!("{} (gave up after {UPLOAD_RESUMES} resumes)", cause.message),
        ))
    }
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
    let mut loc = loc;
    let up = Upload {
        client,
        repo,
        digest,
        size,
        blob: &blob,
        sent,
    };
    let first = if size <= MONOLITHIC_MAX {
        let body = up.body(0, size).await?;
        let h = [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
        ];
        let url = client.resolve(&with_digest(&loc, digest));
        let sent = client.send_stream(Method::PUT, &url, &h, body).await;
        check(
            sent,
            StatusCode::CREATED,
            &format!("failed to upload {digest}"),
        )
        .await
        .map(|_| ())
    } else {
        up.send_from(&mut loc, 0).await
    };
    match first {
        Ok(()) => {}
        Err(Failure::Fatal(e)) => return Err(e),
        Err(Failure::Broke(e)) => up.resume(loc, e).await?,
    }
    Ok(Outcome::Pushed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `0-0` is neither 0 nor 1 byte (distribution writes it for both); other ranges count
    /// their last byte; anything else is not an answer.
    #[test]
    fn upload_status_ranges() {
        assert_eq!(received(Some("0-0")), Ok(None));
        assert_eq!(received(Some("bytes=0-0")), Ok(None));
        assert_eq!(received(Some("0-1")), Ok(Some(2)));
        assert_eq!(received(Some("0-3145727")), Ok(Some(3 << 20)));
        assert_eq!(received(Some("bytes=0-99")), Ok(Some(100)));
        assert_eq!(received(Some(" 0-9 ")), Ok(Some(10)));
        assert_eq!(received(None), Err(()));
        assert_eq!(received(Some("5-9")), Err(()));
        assert_eq!(received(Some("0-")), Err(()));
        assert_eq!(received(Some("0-x")), Err(()));
        assert_eq!(received(Some("0-18446744073709551615")), Err(()));
    }

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
