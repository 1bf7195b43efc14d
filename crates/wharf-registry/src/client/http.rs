//! The HTTP side: endpoints, auth challenges, tokens, GETs over hyper (plain HTTP only).

use std::sync::{Arc, Mutex};

use axum::http::{header, Method, Request, StatusCode};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use wharf_credentials::RegistryAuth;
use wharf_types::{Digest, ErrorKind, Reference};

use super::Error;

/// Where a registry is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// `host[:port]` as used in the URL.
    pub host: String,
}

impl Endpoint {
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.host, path)
    }
}

fn host_only(hostport: &str) -> &str {
    if let Some(rest) = hostport.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    hostport.rsplit_once(':').map_or(hostport, |(h, _)| h)
}

/// The registry endpoint of a reference: docker.io is registry-1.docker.io; localhost,
/// loopback addresses and `WHARF_INSECURE_REGISTRIES` entries are plain HTTP.
/// For those, HTTPS is still tried first (see `tls::negotiate`).
pub async fn registry_endpoint(r: &Reference) -> Result<Endpoint, Error> {
    super::tls::negotiate(endpoint_for(&r.domain, &insecure_registries())).await
}

static INSECURE: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Sets the daemon's `--insecure-registry` list (once, at start).
pub fn set_insecure_registries(list: Vec<String>) {
    let _ = INSECURE.set(list);
}

/// The registries that may be spoken to in plain HTTP besides loopback ones: the daemon's
/// `--insecure-registry` flags and `WHARF_INSECURE_REGISTRIES` (comma-separated), joined by
/// commas.
pub fn insecure_registries() -> String {
    let mut v: Vec<String> = INSECURE.get().cloned().unwrap_or_default();
    if let Ok(e) = std::env::var("WHARF_INSECURE_REGISTRIES") {
        v.extend(
            e.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
        );
    }
    v.join(",")
}

pub fn endpoint_for(domain: &str, insecure: &str) -> Endpoint {
    let host = if domain == "docker.io" || domain == "index.docker.io" {
        "registry-1.docker.io".to_string()
    } else {
        domain.to_string()
    };
    let h = host_only(&host);
    let plain = matches!(h, "localhost" | "127.0.0.1" | "::1")
        || h.starts_with("127.")
        || insecure
            .split(',')
            .map(str::trim)
            .any(|e| !e.is_empty() && (e == host || e == h));
    Endpoint {
        scheme: if plain { "http" } else { "https" },
        host,
    }
}

/// A `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Challenge {
    /// Lower-cased: `bearer`, `basic`.
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `Bearer realm="…",service="…",scope="…"` (quoted or token values).
pub fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = match h.find(' ') {
        Some(i) => (&h[..i], &h[i + 1..]),
        None => (h, ""),
    };
    if scheme.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    let mut s = rest.trim_start();
    while !s.is_empty() {
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_string();
        s = &s[eq + 1..];
        let value;
        if let Some(q) = s.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            s = &q[end?..];
        } else {
            let e = s.find(',').unwrap_or(s.len());
            value = s[..e].trim().to_string();
            s = &s[e..];
        }
        params.push((key, value));
        s = s.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

/// Splits `http://host:port/path?q` into (scheme, host:port, path?q).
pub fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let i = rest.find('/').unwrap_or(rest.len());
    let path = if i == rest.len() { "/" } else { &rest[i..] };
    Some((scheme, &rest[..i], path))
}

pub fn unavailable(msg: String) -> Error {
    Error::new(ErrorKind::Unavailable, msg)
}

/// A request body: in memory or streamed.
pub type ReqBody = BoxBody<Bytes, std::io::Error>;

pub fn empty_body() -> ReqBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

pub fn full_body(b: Bytes) -> ReqBody {
    Full::new(b).map_err(|never| match never {}).boxed()
}

/// One request on a fresh connection (no redirects followed here).
pub async fn send_once(
    method: Method,
    url: &str,
    headers: &[(header::HeaderName, String)],
    body: ReqBody,
) -> Result<hyper::Response<Incoming>, Error> {
    let (scheme, host, path) =
        split_url(url).ok_or_else(|| Error::invalid(format!("invalid URL {url}")))?;
    let io = super::tls::connect(scheme, host).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| unavailable(format!("failed to talk to registry {host}: {e}")))?;
    // the connection's own error (a TLS alert, a reset) says more than the request's
    // "operation was canceled"
    let (conn_err_tx, conn_err) = tokio::sync::oneshot::channel::<String>();
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            let _ = conn_err_tx.send(error_chain(&e));
        }
    });
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, host)
        .header(
            header::USER_AGENT,
            concat!("wharf/", env!("CARGO_PKG_VERSION")),
        );
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let req = req
        .body(body)
        .map_err(|e| Error::internal(format!("failed to build request: {e}")))?;
    // A request held in memory must be answered within the timeout (a stalled registry is an
    // error, not a hang); a streamed upload may legitimately take longer to send.
    let in_memory = hyper::body::Body::size_hint(req.body()).exact().is_some();
    let sent = sender.send_request(req);
    let resp = if in_memory {
        tokio::time::timeout(registry_timeout(), sent)
            .await
            .map_err(|_| {
                unavailable(format!(
                    "registry {host} did not answer within {}s",
                    registry_timeout().as_secs()
                ))
            })?
    } else {
        sent.await
    };
    match resp {
        Ok(r) => Ok(r),
        Err(e) => {
            let cause =
                match tokio::time::timeout(std::time::Duration::from_secs(1), conn_err).await {
                    Ok(Ok(c)) => c,
                    _ => error_chain(&e),
                };
            let hint = if cause.contains("CertificateRequired") || cause.contains("BadCertificate")
            {
                format!(" (the registry wants a client certificate it trusts: client.cert and client.key in /etc/docker/certs.d/{host}/)")
            } else {
                String::new()
            };
            Err(unavailable(format!(
                "request to registry {host} failed: {cause}{hint}"
            )))
        }
    }
}

/// An error and its causes, `: `-separated (hyper's own message is often just the outer one).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// How long a registry may stay silent: for an answer, a connection, a handshake, or the next
/// bytes of a download. `WHARF_REGISTRY_TIMEOUT` (seconds) overrides the 60 s default.
pub fn registry_timeout() -> std::time::Duration {
    static T: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    std::time::Duration::from_secs(*T.get_or_init(|| {
        std::env::var("WHARF_REGISTRY_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(60)
    }))
}

async fn get_once(
    url: &str,
    accept: Option<&str>,
    auth: Option<&str>,
    extra: &[(header::HeaderName, String)],
) -> Result<hyper::Response<Incoming>, Error> {
    let mut h = extra.to_vec();
    if let Some(a) = accept {
        h.push((header::ACCEPT, a.to_string()));
    }
    if let Some(a) = auth {
        h.push((header::AUTHORIZATION, a.to_string()));
    }
    send_once(Method::GET, url, &h, empty_body()).await
}

/// GET following up to 5 redirects (blob stores redirect to storage).
pub async fn get(
    url: &str,
    accept: Option<&str>,
    auth: Option<&str>,
) -> Result<hyper::Response<Incoming>, Error> {
    get_with(url, accept, auth, &[]).await
}

/// [`get`] with more headers (a `Range`), sent again after each redirect.
pub async fn get_with(
    url: &str,
    accept: Option<&str>,
    auth: Option<&str>,
    extra: &[(header::HeaderName, String)],
) -> Result<hyper::Response<Incoming>, Error> {
    let mut url = url.to_string();
    let mut auth = auth.map(str::to_string);
    for _ in 0..6 {
        let resp = get_once(&url, accept, auth.as_deref(), extra).await?;
        if resp.status().is_redirection() {
            if let Some(loc) = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
            {
                let next = if loc.starts_with('/') {
                    let (scheme, host, _) = split_url(&url).unwrap_or(("http", "", ""));
                    format!("{scheme}://{host}{loc}")
                } else {
                    loc.to_string()
                };
                // credentials stay with the registry's own host
                if split_url(&next).map(|p| p.1) != split_url(&url).map(|p| p.1) {
                    auth = None;
                }
                url = next;
                continue;
            }
        }
        return Ok(resp);
    }
    Err(unavailable(format!("too many redirects fetching {url}")))
}

pub async fn read_all(resp: hyper::Response<Incoming>, max: usize) -> Result<Bytes, Error> {
    let body = http_body_util::Limited::new(resp.into_body(), max);
    body.collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| unavailable(format!("failed to read registry response: {e}")))
}

/// The credentials for `host` from the daemon user's docker config: its credential helper,
/// else `auths.<host>` (wharf-credentials, shared with the CLI).
pub fn stored_auth(host: &str) -> Option<RegistryAuth> {
    wharf_credentials::store::auth_for_host(host)
}

struct Inner {
    ep: Endpoint,
    auth: Option<RegistryAuth>,
    token: Mutex<Option<String>>,
    repo: String,
    /// `pull` or `pull,push`: the actions a token is asked for on `repo`.
    actions: &'static str,
    /// More scopes a token must cover (`repository:<other>:pull` for cross-repo mounts).
    extra_scopes: Vec<String>,
}

/// The `client_id` docker's daemon names itself with to token servers (moby
/// `registry.AuthClientID`).
pub const CLIENT_ID: &str = "docker";

/// A token from a Bearer challenge's realm. With an identity token, OAuth2's `POST realm`
/// with `grant_type=refresh_token` (the Docker token spec's `oauth.md`, as distribution's
/// `registry/client/auth` does when its credential store has a refresh token); else the
/// token spec's `GET realm?service=&scope=…`, with Basic credentials when there are some.
pub async fn bearer_token(
    ch: &Challenge,
    auth: Option<&RegistryAuth>,
    scopes: &[String],
) -> Result<String, Error> {
    let realm = ch
        .param("realm")
        .ok_or_else(|| unavailable("registry's auth challenge has no realm".into()))?;
    let resp = match auth {
        Some(RegistryAuth::IdentityToken(t)) => {
            refresh_grant(realm, ch.param("service"), t, scopes, false).await?
        }
        _ => {
            let query = {
                let mut q = form_urlencoded::Serializer::new(String::new());
                if let Some(s) = ch.param("service") {
                    q.append_pair("service", s);
                }
                for s in scopes {
                    q.append_pair("scope", s);
                }
                q.finish()
            };
            let sep = if realm.contains('?') { '&' } else { '?' };
            let url = format!("{realm}{sep}{query}");
            let basic = match auth {
                Some(RegistryAuth::Basic(b)) => Some(format!("Basic {b}")),
                _ => None,
            };
            get(&url, None, basic.as_deref()).await?
        }
    };
    let v = token_response(realm, resp).await?;
    v.get("token")
        .or_else(|| v.get("access_token"))
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| unavailable(format!("no token in the response from {realm}")))
}

/// `POST realm` with `grant_type=refresh_token` (form: `refresh_token`, `service`,
/// `client_id`, `scope` space-separated; `access_type=offline` when `offline`, asking for
/// the refresh token back).
pub async fn refresh_grant(
    realm: &str,
    service: Option<&str>,
    refresh_token: &str,
    scopes: &[String],
    offline: bool,
) -> Result<hyper::Response<Incoming>, Error> {
    let body = {
        let mut f = form_urlencoded::Serializer::new(String::new());
        f.append_pair("grant_type", "refresh_token");
        f.append_pair("refresh_token", refresh_token);
        if let Some(s) = service {
            f.append_pair("service", s);
        }
        f.append_pair("client_id", CLIENT_ID);
        if !scopes.is_empty() {
            f.append_pair("scope", &scopes.join(" "));
        }
        if offline {
            f.append_pair("access_type", "offline");
        }
        Bytes::from(f.finish())
    };
    send_once(
        Method::POST,
        realm,
        &[(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".to_string(),
        )],
        full_body(body),
    )
    .await
}

/// A token server's JSON answer, or docker's error for a refusal.
pub async fn token_response(
    realm: &str,
    resp: hyper::Response<Incoming>,
) -> Result<serde_json::Value, Error> {
    let status = resp.status();
    let body = read_all(resp, 1 << 20).await?;
    if !status.is_success() {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "failed to get an auth token from {realm}: {status}: {}",
                String::from_utf8_lossy(&body).trim()
            ),
        ));
    }
    serde_json::from_slice(&body)
        .map_err(|e| unavailable(format!("invalid token response from {realm}: {e}")))
}

/// A registry client for one repository; cheap to clone.
#[derive(Clone)]
pub struct Client(Arc<Inner>);

impl Client {
    /// `auth`: credentials the client sent (`X-Registry-Auth`); else `~/.docker/config.json`'s.
    pub fn new(ep: Endpoint, r: &Reference, auth: Option<RegistryAuth>) -> Client {
        Client::with_scope(ep, r, auth, "pull", Vec::new())
    }

    /// A client whose tokens cover `actions` on `r`'s repository and `extra_scopes`.
    pub fn with_scope(
        ep: Endpoint,
        r: &Reference,
        auth: Option<RegistryAuth>,
        actions: &'static str,
        extra_scopes: Vec<String>,
    ) -> Client {
        let auth = auth.or_else(|| stored_auth(&ep.host));
        Client(Arc::new(Inner {
            ep,
            auth,
            token: Mutex::new(None),
            repo: r.path.clone(),
            actions,
            extra_scopes,
        }))
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.0.ep
    }

    pub fn auth_header(&self) -> Option<String> {
        let t = self
            .0
            .token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match t {
            Some(t) => Some(format!("Bearer {t}")),
            None => match &self.0.auth {
                Some(RegistryAuth::Basic(b)) => Some(format!("Basic {b}")),
                _ => None,
            },
        }
    }

    /// GET with auth: anonymous (or Basic) first; on 401 with a Bearer challenge, a token
    /// from the realm, then once more.
    async fn authed_get(
        &self,
        path: &str,
        accept: Option<&str>,
    ) -> Result<hyper::Response<Incoming>, Error> {
        self.authed_get_with(path, accept, &[]).await
    }

    async fn authed_get_with(
        &self,
        path: &str,
        accept: Option<&str>,
        extra: &[(header::HeaderName, String)],
    ) -> Result<hyper::Response<Incoming>, Error> {
        let url = self.0.ep.url(path);
        let resp = get_with(&url, accept, self.auth_header().as_deref(), extra).await?;
        if !self.take_challenge(&resp).await? {
            return Ok(resp);
        }
        get_with(&url, accept, self.auth_header().as_deref(), extra).await
    }

    /// On a 401 with a Bearer challenge: fetches a token; true when the request should be
    /// sent again.
    async fn take_challenge(&self, resp: &hyper::Response<Incoming>) -> Result<bool, Error> {
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(false);
        }
        let ch = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge);
        let Some(ch) = ch.filter(|c| c.scheme == "bearer") else {
            return Ok(false);
        };
        let token = self.fetch_token(&ch).await?;
        *self.0.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(token);
        Ok(true)
    }

    /// Any request with a body held in memory (so it can be sent again after a challenge).
    /// `target` is a path on the registry or an absolute URL (an upload `Location`).
    pub async fn authed(
        &self,
        method: Method,
        target: &str,
        headers: &[(header::HeaderName, String)],
        body: Bytes,
    ) -> Result<hyper::Response<Incoming>, Error> {
        let url = self.resolve(target);
        for attempt in 0..2 {
            let mut h = headers.to_vec();
            if let Some(a) = self.auth_header() {
                h.push((header::AUTHORIZATION, a));
            }
            let resp = send_once(method.clone(), &url, &h, full_body(body.clone())).await?;
            if attempt == 0 && self.take_challenge(&resp).await? {
                continue;
            }
            return Ok(resp);
        }
        Err(unavailable(format!(
            "registry kept asking for credentials for {url}"
        )))
    }

    /// A request with a streamed body, sent with the credentials already obtained.
    pub async fn send_stream(
        &self,
        method: Method,
        target: &str,
        headers: &[(header::HeaderName, String)],
        body: ReqBody,
    ) -> Result<hyper::Response<Incoming>, Error> {
        let url = self.resolve(target);
        let mut h = headers.to_vec();
        if let Some(a) = self.auth_header() {
            h.push((header::AUTHORIZATION, a));
        }
        send_once(method, &url, &h, body).await
    }

    /// An absolute URL for a path, or for a `Location` (absolute, or relative to the registry).
    pub fn resolve(&self, target: &str) -> String {
        if target.contains("://") {
            target.to_string()
        } else if target.starts_with('/') {
            self.0.ep.url(target)
        } else {
            self.0.ep.url(&format!("/{target}"))
        }
    }

    async fn fetch_token(&self, ch: &Challenge) -> Result<String, Error> {
        let own = format!("repository:{}:{}", self.0.repo, self.0.actions);
        let mut scopes: Vec<String> = Vec::new();
        if let Some(s) = ch.param("scope") {
            scopes.extend(s.split(' ').map(str::to_string));
        }
        for s in std::iter::once(own).chain(self.0.extra_scopes.iter().cloned()) {
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        bearer_token(ch, self.0.auth.as_ref(), &scopes).await
    }

    fn status_error(&self, r: &Reference, what: &str, status: StatusCode, body: &[u8]) -> Error {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let code = v
            .pointer("/errors/0/code")
            .and_then(|c| c.as_str())
            .unwrap_or("");
        let msg = v
            .pointer("/errors/0/message")
            .and_then(|c| c.as_str())
            .unwrap_or("");
        let name = r.familiar_name();
        match (status, code) {
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _)
            | (StatusCode::NOT_FOUND, "NAME_UNKNOWN") => Error::new(
                ErrorKind::NotFound,
                format!("pull access denied for {name}, repository does not exist or may require 'docker login'"),
            ),
            (StatusCode::NOT_FOUND, _) => Error::new(
                ErrorKind::NotFound,
                format!("manifest for {what} not found: manifest unknown: {}", if msg.is_empty() { "manifest unknown" } else { msg }),
            ),
            _ => unavailable(format!(
                "registry {} answered {status} for {what}: {}",
                self.0.ep.host,
                String::from_utf8_lossy(body).trim()
            )),
        }
    }

    /// Fetches a manifest by tag or digest; verifies it against the digest asked for (or
    /// the registry's `Docker-Content-Digest`). Returns (bytes, media type, digest).
    pub async fn manifest(
        &self,
        r: &Reference,
        reference: &str,
    ) -> Result<(Bytes, String, Digest), Error> {
        let path = format!("/v2/{}/manifests/{reference}", r.path);
        let resp = self.authed_get(&path, Some(super::ACCEPT)).await?;
        let status = resp.status();
        let mt = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_all(resp, 4 << 20).await?;
        let what = if reference.contains(':') {
            format!("{}@{reference}", r.familiar_name())
        } else {
            format!("{}:{reference}", r.familiar_name())
        };
        if !status.is_success() {
            return Err(self.status_error(r, &what, status, &body));
        }
        let got = Digest::of(&body);
        let expected = if reference.contains(':') {
            Some(reference.to_string())
        } else {
            header_digest
        };
        if let Some(e) = expected {
            if e != got.as_str() {
                return Err(Error::invalid(format!(
                    "manifest verification failed for {what}: expected digest {e}, got {got}"
                )));
            }
        }
        Ok((body, mt, got))
    }

    async fn blob_response(
        &self,
        r: &Reference,
        d: &Digest,
        from: u64,
    ) -> Result<hyper::Response<Incoming>, Error> {
        let path = format!("/v2/{}/blobs/{d}", r.path);
        let range = [(header::RANGE, format!("bytes={from}-"))];
        let extra: &[_] = if from > 0 { &range } else { &[] };
        let resp = self.authed_get_with(&path, None, extra).await?;
        if !resp.status().is_success() {
            let status = resp.status();
            let body = read_all(resp, 1 << 20).await.unwrap_or_default();
            return Err(match status {
                StatusCode::NOT_FOUND => Error::new(
                    ErrorKind::NotFound,
                    format!("blob {d} not found in {}", r.familiar_name()),
                ),
                _ => self.status_error(r, &d.to_string(), status, &body),
            });
        }
        Ok(resp)
    }

    /// The body of a blob, for streaming.
    pub async fn blob(&self, r: &Reference, d: &Digest) -> Result<Incoming, Error> {
        Ok(self.blob_response(r, d, 0).await?.into_body())
    }

    /// The rest of a blob from byte `from` (`Range: bytes=from-`), to resume a download that
    /// broke off. Returns the body and whether it starts at `from` (a 206 whose
    /// `Content-Range` starts there); false means the server sent the whole blob again (it
    /// ignored the range: a 200), so the download starts over.
    pub async fn blob_from(
        &self,
        r: &Reference,
        d: &Digest,
        from: u64,
    ) -> Result<(Incoming, bool), Error> {
        let resp = self.blob_response(r, d, from).await?;
        if from == 0 || resp.status() != StatusCode::PARTIAL_CONTENT {
            return Ok((resp.into_body(), false));
        }
        // `Content-Range: bytes <first>-<last>/<total>`
        let first = resp
            .headers()
            .get(header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().strip_prefix("bytes "))
            .and_then(|v| v.split('-').next())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if first != Some(from) {
            return Err(unavailable(format!(
                "registry {} answered a request for blob {d} from byte {from} with the wrong range",
                self.0.ep.host
            )));
        }
        Ok((resp.into_body(), true))
    }

    /// A small blob (a config), verified.
    pub async fn blob_bytes(&self, r: &Reference, d: &Digest) -> Result<Vec<u8>, Error> {
        let resp = self.blob_response(r, d, 0).await?;
        let body = read_all(resp, 16 << 20).await?;
        let got = Digest::of(&body);
        if &got != d {
            return Err(Error::invalid(format!(
                "digest mismatch for blob {d}: the registry sent content with digest {got}"
            )));
        }
        Ok(body.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("service"), Some("registry.docker.io"));
        assert_eq!(c.param("scope"), Some("repository:library/busybox:pull"));
        let b = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(b.scheme, "basic");
        assert_eq!(b.param("realm"), Some("Registry Realm"));
        let t = parse_challenge("Bearer realm=http://127.0.0.1:1/t, service=x").unwrap();
        assert_eq!(t.param("realm"), Some("http://127.0.0.1:1/t"));
        assert_eq!(t.param("service"), Some("x"));
        let e = parse_challenge(r#"Bearer realm="a\"b""#).unwrap();
        assert_eq!(e.param("realm"), Some("a\"b"));
    }

    #[test]
    fn endpoints() {
        let ep = |s: &str, ins: &str| {
            let r = Reference::parse_normalized(s).unwrap();
            endpoint_for(&r.domain, ins)
        };
        let hub = ep("busybox", "");
        assert_eq!(hub.scheme, "https");
        assert_eq!(hub.url("/v2/"), "https://registry-1.docker.io/v2/");
        assert_eq!(ep("localhost:5000/a/b", "").scheme, "http");
        assert_eq!(
            ep("127.0.0.1:5000/lib/bb:1", "").url("/v2/"),
            "http://127.0.0.1:5000/v2/"
        );
        assert_eq!(ep("[::1]:5000/a", "").scheme, "http");
        assert_eq!(ep("reg.example:5000/a", "").scheme, "https");
        assert_eq!(
            ep("reg.example:5000/a", "x:1, reg.example:5000").scheme,
            "http"
        );
        let r = Reference::parse_normalized("busybox").unwrap();
        assert_eq!(r.path, "library/busybox");
        assert_eq!(
            split_url("http://h:1/token?x=1"),
            Some(("http", "h:1", "/token?x=1"))
        );
        assert_eq!(split_url("http://h"), Some(("http", "h", "/")));
    }
}
