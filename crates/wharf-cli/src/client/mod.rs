//! The Engine API client: HTTP/1.1 (hyper) over a unix socket or TCP. [`Client::connect`]
//! connects (starting the daemon on demand on a unix socket); the API version is the lower of
//! ours and the daemon's `Api-Version`, used as the `/v{version}` path prefix of every request,
//! as docker does. Unlike docker's CLI we do not ping first: the first request goes at our
//! version, and only a daemon that answers it is too new is pinged, and the request sent again
//! at the daemon's version (a request whose body cannot be sent twice pings first). Against a
//! daemon as new as we are (ours) that saves a round trip on every command.
//!
//! Requests whose answer is read whole (the ping, [`Client::call`]) share one kept-alive
//! connection, one after the other, as docker's CLI does; streamed answers, long waits and
//! hijacks get a connection of their own. `run` thus makes three connections, not five
//! (ping, create and start on one; attach; wait).

pub mod autostart;
pub mod host;
pub mod stream;

use std::pin::Pin;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt};

pub use self::host::Host;
use crate::error::CliError;

/// The newest API version this client speaks.
pub const API_VERSION: &str = "1.52";

pub type ReqBody = BoxBody<Bytes, std::io::Error>;

/// A request body: nothing, bytes in memory, or a reader streamed in chunks (files, stdin).
pub enum Body {
    Empty,
    Bytes(Bytes, &'static str),
    Reader(Pin<Box<dyn AsyncRead + Send + Sync>>, &'static str),
}

impl Body {
    /// The same body again, when it is in memory.
    fn try_clone(&self) -> Option<Body> {
        match self {
            Body::Empty => Some(Body::Empty),
            Body::Bytes(b, ct) => Some(Body::Bytes(b.clone(), ct)),
            Body::Reader(..) => None,
        }
    }

    fn into_parts(self) -> (ReqBody, Option<&'static str>) {
        match self {
            Body::Empty => (Empty::new().map_err(|never| match never {}).boxed(), None),
            Body::Bytes(b, ct) => (
                Full::new(b).map_err(|never| match never {}).boxed(),
                Some(ct),
            ),
            Body::Reader(r, ct) => {
                let stream = futures_util::stream::unfold(r, |mut r| async move {
                    let mut buf = vec![0u8; 256 * 1024];
                    match r.read(&mut buf).await {
                        Ok(0) => None,
                        Ok(n) => {
                            buf.truncate(n);
                            Some((Ok(Frame::data(Bytes::from(buf))), r))
                        }
                        Err(e) => Some((Err(e), r)),
                    }
                });
                (StreamBody::new(stream).boxed(), Some(ct))
            }
        }
    }
}

type Sender = hyper::client::conn::http1::SendRequest<ReqBody>;

#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
    /// The version asked for until the daemon has told us otherwise.
    version: String,
    /// The version settled on: set once the daemon accepted a request, or was pinged.
    settled: std::sync::Arc<std::sync::OnceLock<String>>,
    /// Extra request headers (`X-Registry-Auth` for push), see [`Client::with_header`].
    headers: Vec<(&'static str, String)>,
    /// The kept-alive connection, idle (its last answer read to the end), if any.
    idle: std::sync::Arc<std::sync::Mutex<Option<Sender>>>,
}

impl Client {
    /// Connects, starting the daemon if allowed; the version is settled by the first request.
    pub async fn connect(host: Host) -> Result<Client, CliError> {
        let client = Client::with_version(host, API_VERSION);
        match client.open().await {
            Ok(sender) => {
                if let Ok(mut g) = client.idle.lock() {
                    *g = Some(sender);
                }
            }
            Err(CliError::Connect { host }) => {
                let Host::Unix(path) = &client.host else {
                    return Err(CliError::Connect { host });
                };
                if !autostart::enabled() {
                    return Err(CliError::Connect { host });
                }
                let mut child = autostart::spawn(path)?;
                let probe = client.clone();
                let ok = autostart::wait_ready(&mut child, || {
                    let c = probe.clone();
                    async move { c.ping().await.is_ok() }
                })
                .await;
                if !ok {
                    return Err(CliError::msg(format!(
                        "Cannot connect to the Wharf daemon at {host}. Is the wharf daemon running?\n\
                         (starting it failed; see {})",
                        autostart::log_path(path).display()
                    )));
                }
                client.negotiate().await?;
            }
            Err(e) => return Err(e),
        }
        Ok(client)
    }

    /// A client that does not ping (tests, or when the version is known).
    pub fn with_version(host: Host, version: &str) -> Client {
        Client {
            host,
            version: version.to_string(),
            settled: Default::default(),
            headers: Vec::new(),
            idle: Default::default(),
        }
    }

    /// The same client, sending `name: value` with every request.
    pub fn with_header(&self, name: &'static str, value: String) -> Client {
        let mut c = self.clone();
        c.headers.push((name, value));
        c
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    pub fn version(&self) -> &str {
        self.settled.get().unwrap_or(&self.version)
    }

    /// Pings, and settles on the lower of our version and the daemon's.
    async fn negotiate(&self) -> Result<(), CliError> {
        let server = self.ping().await?;
        let mut v = self.version.clone();
        if let Some(s) = server {
            if parse_version(&s) < parse_version(&v) && parse_version(&s) > (0, 0) {
                v = s;
            }
        }
        let _ = self.settled.set(v);
        Ok(())
    }

    /// Runs `send` with the version prefix (`/v1.52`). Until the version is settled: a body
    /// that can be sent twice goes at ours, and on "client version … is too new" the daemon
    /// is pinged and the request sent again; any other body waits for a ping.
    async fn versioned<T, F, Fut>(&self, body: Body, mut send: F) -> Result<T, CliError>
    where
        F: FnMut(String, Body) -> Fut,
        Fut: std::future::Future<Output = Result<T, CliError>>,
    {
        if self.settled.get().is_none() {
            let Some(again) = body.try_clone() else {
                self.negotiate().await?;
                return send(format!("/v{}", self.version()), body).await;
            };
            return match send(format!("/v{}", self.version), body).await {
                Err(e) if is_too_new(&e) => {
                    self.negotiate().await?;
                    send(format!("/v{}", self.version()), again).await
                }
                r => {
                    // Any other answer: the daemon accepts our version.
                    if matches!(r, Ok(_) | Err(CliError::Daemon { .. })) {
                        let _ = self.settled.set(self.version.clone());
                    }
                    r
                }
            };
        }
        send(format!("/v{}", self.version()), body).await
    }

    /// `HEAD /_ping`; returns the daemon's `Api-Version` header.
    pub async fn ping(&self) -> Result<Option<String>, CliError> {
        let (_, headers, _) = self
            .exchange_whole(Method::HEAD, "/_ping", Body::Empty)
            .await?;
        Ok(headers
            .get("api-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string))
    }

    /// Sends a request under the negotiated version prefix; a non-2xx answer becomes
    /// [`CliError::Daemon`] with the body's `message`.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<Response<Incoming>, CliError> {
        self.versioned(body, |prefix, body| {
            let method = method.clone();
            async move {
                let resp = self.send(method, &format!("{prefix}{path}"), body).await?;
                if resp.status().is_success() {
                    return Ok(resp);
                }
                let status = resp.status();
                let bytes = collect(resp).await.unwrap_or_default();
                Err(daemon_error(status, &bytes))
            }
        })
        .await
    }

    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let bytes = self.get_bytes(path).await?;
        serde_json::from_slice(&bytes).map_err(|e| CliError::Protocol(e.to_string()))
    }

    pub async fn get_bytes(&self, path: &str) -> Result<Bytes, CliError> {
        let resp = self.request(Method::GET, path, Body::Empty).await?;
        collect(resp).await
    }

    /// Sends and collects the whole answer body, on the kept-alive connection; a non-2xx
    /// answer becomes [`CliError::Daemon`] as with [`Client::request`].
    pub async fn call(&self, method: Method, path: &str, body: Body) -> Result<Bytes, CliError> {
        self.versioned(body, |prefix, body| {
            let method = method.clone();
            async move {
                let full = format!("{prefix}{path}");
                let (status, _, bytes) = self.exchange_whole(method, &full, body).await?;
                if !status.is_success() {
                    return Err(daemon_error(status, &bytes));
                }
                Ok(bytes)
            }
        })
        .await
    }

    /// One request on the kept-alive connection (a new one if there is none or it closed),
    /// its answer read whole; the connection is then kept for the next.
    async fn exchange_whole(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<(StatusCode, hyper::HeaderMap, Bytes), CliError> {
        let req = self.build_request(method, path, body, false)?;
        let mut sender = self.take_or_open().await?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| CliError::Protocol(format!("{e}")))?;
        let (parts, body) = resp.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| CliError::Protocol(e.to_string()))?
            .to_bytes();
        if let Ok(mut g) = self.idle.lock() {
            *g = Some(sender);
        }
        Ok((parts.status, parts.headers, bytes))
    }

    /// The idle kept-alive connection, unless the daemon closed it meanwhile; else a new one.
    async fn take_or_open(&self) -> Result<Sender, CliError> {
        let kept = self.idle.lock().map(|mut g| g.take()).unwrap_or(None);
        match kept {
            Some(mut s) => match s.ready().await {
                Ok(()) => Ok(s),
                Err(_) => self.open().await,
            },
            None => self.open().await,
        }
    }

    /// A new connection to the daemon, its HTTP/1.1 handshake done (upgradable, for attach
    /// and exec).
    async fn open(&self) -> Result<Sender, CliError> {
        let connect_err = |_| CliError::Connect {
            host: self.host.url(),
        };
        let sender = match &self.host {
            Host::Unix(p) => {
                let s = tokio::net::UnixStream::connect(p)
                    .await
                    .map_err(connect_err)?;
                handshake(s).await
            }
            Host::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a)
                    .await
                    .map_err(connect_err)?;
                handshake(s).await
            }
        };
        sender.map_err(|e| CliError::Protocol(format!("{e}")))
    }

    /// Sends a request that asks to take over the connection (`Connection: Upgrade`,
    /// `Upgrade: tcp`), as docker's attach and exec start do. After `101` the socket is a raw
    /// bidirectional stream; a daemon that answers `200` instead streams the output in the body
    /// (docker's pre-1.24 behaviour), and then there is no way to write.
    pub async fn hijack(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<Hijacked, CliError> {
        match self.upgrade(method, path, body).await? {
            Upgrade::Upgraded(h, _) => Ok(h),
            Upgrade::Streamed(resp) => {
                let (mut tx, rx) = tokio::io::duplex(64 * 1024);
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    let mut body = resp.into_body();
                    while let Some(Ok(frame)) = body.frame().await {
                        if let Ok(data) = frame.into_data() {
                            if tx.write_all(&data).await.is_err() {
                                break;
                            }
                        }
                    }
                });
                Ok(Hijacked {
                    reader: Box::pin(rx),
                    writer: None,
                })
            }
        }
    }

    /// Sends a request that asks to take over the connection; the raw stream and the answer's
    /// headers after `101`, the answer itself for any other success.
    pub async fn upgrade(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<Upgrade, CliError> {
        let resp = self
            .versioned(body, |prefix, body| {
                let method = method.clone();
                async move {
                    let full = format!("{prefix}{path}");
                    let resp = self.exchange(method, &full, body, true).await?;
                    let status = resp.status();
                    if status == StatusCode::SWITCHING_PROTOCOLS || status.is_success() {
                        return Ok(resp);
                    }
                    let bytes = collect(resp).await.unwrap_or_default();
                    Err(daemon_error(status, &bytes))
                }
            })
            .await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Ok(Upgrade::Streamed(resp));
        }
        let headers = resp.headers().clone();
        let up = hyper::upgrade::on(resp)
            .await
            .map_err(|e| CliError::Protocol(format!("{e}")))?;
        let (r, w) = tokio::io::split(TokioIo::new(up));
        Ok(Upgrade::Upgraded(
            Hijacked {
                reader: Box::pin(r),
                writer: Some(Box::pin(w)),
            },
            headers,
        ))
    }

    fn build_request(
        &self,
        method: Method,
        path: &str,
        body: Body,
        upgrade: bool,
    ) -> Result<Request<ReqBody>, CliError> {
        let (body, content_type) = body.into_parts();
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "api.moby.localhost")
            .header(
                "user-agent",
                concat!("Wharf-Client/", env!("CARGO_PKG_VERSION"), " (linux)"),
            );
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        for (k, v) in &self.headers {
            req = req.header(*k, v);
        }
        if upgrade {
            req = req.header("connection", "Upgrade").header("upgrade", "tcp");
        }
        req.body(body)
            .map_err(|e| CliError::msg(format!("invalid request: {e}")))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<Response<Incoming>, CliError> {
        self.exchange(method, path, body, false).await
    }

    /// One request on a connection of its own (upgradable, for attach and exec): the idle
    /// kept-alive one if there is one, else a new one.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Body,
        upgrade: bool,
    ) -> Result<Response<Incoming>, CliError> {
        let req = self.build_request(method, path, body, upgrade)?;
        let mut sender = self.take_or_open().await?;
        sender
            .send_request(req)
            .await
            .map_err(|e| CliError::Protocol(format!("{e}")))
    }
}

async fn handshake<S>(stream: S) -> Result<Sender, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // With upgrades: the same connection serves attach/exec hijacks.
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    Ok(sender)
}

/// A hijacked attach/exec connection: the raw stream from the daemon, and the way back (none
/// when the daemon did not upgrade).
pub struct Hijacked {
    pub reader: Pin<Box<dyn AsyncRead + Send>>,
    pub writer: Option<Pin<Box<dyn tokio::io::AsyncWrite + Send>>>,
}

/// What an upgrading request got: the connection (with the answer's headers), or, from a
/// daemon that did not upgrade, its answer with the body still to read.
pub enum Upgrade {
    Upgraded(Hijacked, hyper::HeaderMap),
    Streamed(Response<Incoming>),
}

/// The daemon's answer to a request at a version newer than its own.
fn is_too_new(e: &CliError) -> bool {
    matches!(e, CliError::Daemon { status: 400, message } if message.contains("is too new"))
}

/// Reads a whole response body.
pub async fn collect(resp: Response<Incoming>) -> Result<Bytes, CliError> {
    Ok(resp
        .into_body()
        .collect()
        .await
        .map_err(|e| CliError::Protocol(e.to_string()))?
        .to_bytes())
}

/// docker's error body `{"message": "…"}`; falls back to the raw text or the status.
pub fn daemon_error(status: StatusCode, body: &[u8]) -> CliError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body).trim().to_string();
            if text.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("unknown error")
                    .to_string()
            } else {
                text
            }
        });
    CliError::Daemon {
        status: status.as_u16(),
        message,
    }
}

fn parse_version(v: &str) -> (u32, u32) {
    let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// Builds a query string (`?a=b&c=d`) from pairs; empty when there are none.
pub fn query(pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    format!("?{}", s.finish())
}

/// Percent-encodes one path segment (image names contain `/` and `:`, which docker sends as-is;
/// only characters that would break the path are escaped).
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'/'
            | b':'
            | b'@' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare() {
        assert!(parse_version("1.41") < parse_version("1.52"));
        assert!(parse_version("1.9") < parse_version("1.41"));
    }

    #[test]
    fn queries_and_paths() {
        assert_eq!(query(&[]), "");
        assert_eq!(
            query(&[("repo", "a/b".into()), ("tag", "v 1".into())]),
            "?repo=a%2Fb&tag=v+1"
        );
        assert_eq!(
            path_segment("docker.io/library/busybox:1.36"),
            "docker.io/library/busybox:1.36"
        );
        assert_eq!(path_segment("a b?"), "a%20b%3F");
    }

    #[test]
    fn daemon_errors_use_message() {
        let e = daemon_error(
            StatusCode::NOT_FOUND,
            br#"{"message":"No such image: x:latest"}"#,
        );
        assert_eq!(
            e.to_string(),
            "Error response from daemon: No such image: x:latest"
        );
        assert!(e.is_not_found());
        let e = daemon_error(StatusCode::INTERNAL_SERVER_ERROR, b"");
        assert_eq!(
            e.to_string(),
            "Error response from daemon: Internal Server Error"
        );
    }
}

#[cfg(test)]
mod socket_tests {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A canned Engine API on a unix socket: answers each connection's request by its path and
    /// records the request lines it saw.
    async fn fake_daemon(path: std::path::PathBuf, seen: Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let line = head.lines().next().unwrap_or("").to_string();
                seen.lock().unwrap().push(line.clone());
                let (status, body) = if line.starts_with("HEAD /_ping") {
                    ("200 OK", String::new())
                } else if line.contains(" /v1.52/") {
                    (
                        "400 Bad Request",
                        r#"{"message":"client version 1.52 is too new. Maximum supported API version is 1.41"}"#.to_string(),
                    )
                } else if line.starts_with("GET /v1.41/images/json") {
                    ("200 OK", r#"[{"Id":"sha256:0123456789abcdef0123","RepoTags":["busybox:latest"],"Created":0,"Size":1000}]"#.to_string())
                } else {
                    (
                        "404 Not Found",
                        r#"{"message":"No such image: nope:latest"}"#.to_string(),
                    )
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                s.write_all(resp.as_bytes()).await.unwrap();
            });
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn negotiates_version_and_maps_errors() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("d.sock");
        let seen = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(fake_daemon(sock.clone(), seen.clone()));
        while !sock.exists() {
            tokio::task::yield_now().await;
        }
        let client = Client::connect(Host::Unix(sock.clone())).await.unwrap();
        // No ping up front: the first request goes at our version, and the daemon's "too new"
        // makes the client ping and send it again at the daemon's.
        assert_eq!(client.version(), API_VERSION);
        let images: Vec<serde_json::Value> = client.get_json("/images/json").await.unwrap();
        assert_eq!(images[0]["RepoTags"][0], "busybox:latest");
        assert_eq!(client.version(), "1.41");
        let err = client.get_bytes("/images/nope/json").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "Error response from daemon: No such image: nope:latest"
        );
        assert_eq!(
            seen.lock().unwrap().clone(),
            [
                "GET /v1.52/images/json HTTP/1.1",
                "HEAD /_ping HTTP/1.1",
                "GET /v1.41/images/json HTTP/1.1",
                "GET /v1.41/images/nope/json HTTP/1.1",
            ]
        );
        // A body that cannot be sent twice waits for the ping.
        seen.lock().unwrap().clear();
        let client = Client::connect(Host::Unix(sock)).await.unwrap();
        let body = Body::Reader(Box::pin(&b"data"[..]), "application/x-tar");
        let _ = client.request(Method::POST, "/images/load", body).await;
        assert_eq!(
            seen.lock().unwrap().clone(),
            ["HEAD /_ping HTTP/1.1", "POST /v1.41/images/load HTTP/1.1"]
        );
    }

    /// The ping and answers read whole share one kept-alive connection; a streamed request
    /// gets its own; a connection the daemon closed is replaced.
    #[tokio::test(flavor = "current_thread")]
    async fn whole_answers_share_one_kept_alive_connection() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("k.sock");
        let listener = tokio::net::UnixListener::bind(&sock).unwrap();
        let accepted = Arc::new(Mutex::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                *count.lock().unwrap() += 1;
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            match s.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        buf.drain(..end + 4);
                        let close = head.contains("/close");
                        let body = if head.starts_with("HEAD ") { "" } else { "{}" };
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\nApi-Version: 1.52\r\nContent-Length: 2\r\n{}\r\n{body}",
                            if close { "Connection: close\r\n" } else { "" }
                        );
                        s.write_all(resp.as_bytes()).await.unwrap();
                        if close {
                            return;
                        }
                    }
                });
            }
        });
        let client = Client::connect(Host::Unix(sock)).await.unwrap();
        client.call(Method::POST, "/a", Body::Empty).await.unwrap();
        client.call(Method::POST, "/b", Body::Empty).await.unwrap();
        assert_eq!(
            *accepted.lock().unwrap(),
            1,
            "the connect's connection, a and b on one connection"
        );
        let resp = client
            .request(Method::GET, "/stream", Body::Empty)
            .await
            .unwrap();
        collect(resp).await.unwrap();
        assert_eq!(
            *accepted.lock().unwrap(),
            1,
            "a streamed answer takes the idle connection"
        );
        client.call(Method::POST, "/d", Body::Empty).await.unwrap();
        assert_eq!(*accepted.lock().unwrap(), 2, "and the next call opens one");
        client
            .call(Method::POST, "/close", Body::Empty)
            .await
            .unwrap();
        client.call(Method::POST, "/c", Body::Empty).await.unwrap();
        assert_eq!(
            *accepted.lock().unwrap(),
            3,
            "a new connection after a close"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn nothing_listening_is_a_connect_error() {
        std::env::set_var("WHARF_NO_AUTOSTART", "1");
        let dir = tempfile::tempdir().unwrap();
        let err = Client::connect(Host::Unix(dir.path().join("none.sock")))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Cannot connect to the Wharf daemon at unix://"),
            "{err}"
        );
    }
}
