//! The HTTP side of the distribution spec: one axum fallback handler routes `/v2/…` by
//! hand, because repository names contain `/` and the route is known only from the path's
//! tail (`…/blobs/uploads/<uuid>`, `…/blobs/<digest>`, `…/manifests/<ref>`, `…/tags/list`,
//! `…/referrers/<digest>`). Handlers are thin: parse, call the store, map the result.
//! Auth: Basic against an htpasswd file ([`crate::auth`]) or bearer tokens ([`crate::token`]).

use std::collections::HashMap;
use std::io::SeekFrom;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use wharf_types::Digest;

use crate::auth::Htpasswd;
use crate::error::{Code, RegistryError, Result};
use crate::manifest;
use crate::names::{parse_digest, parse_manifest_ref, validate_name, ManifestRef};
use crate::storage::{Link, Store};

/// What the handlers share.
pub struct AppState {
    pub store: Store,
    pub htpasswd: Option<Htpasswd>,
    /// Token auth: requests need a bearer token (then `htpasswd` only guards `/token`).
    pub token: Option<crate::token::Verifier>,
    /// Hands out tokens at `GET /token` and `POST /token`.
    pub issuer: Option<crate::token::Issuer>,
}

/// The registry's router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

const API_VERSION: &str = "registry/2.0";

async fn dispatch(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let mut r = match route(&st, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    r.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static(API_VERSION),
    );
    r
}

fn query(req: &Request) -> HashMap<String, String> {
    req.uri()
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    Some((pct_decode(k)?, pct_decode(v)?))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pct_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

async fn route(st: &AppState, req: Request) -> Result<Response> {
    let path = req.uri().path().to_string();
    if let (Some(iss), "/token") = (&st.issuer, path.as_str()) {
        if req.method() == Method::GET {
            let q = req.uri().query().unwrap_or("");
            return Ok(iss.issue(req.headers(), q, st.htpasswd.as_ref()));
        }
        if req.method() == Method::POST {
            // the OAuth2 form: a few short fields
            let form = axum::body::to_bytes(req.into_body(), 64 * 1024)
                .await
                .map_err(|_| {
                    RegistryError::new(Code::Unsupported, "token request body too large")
                        .with_status(StatusCode::PAYLOAD_TOO_LARGE)
                })?;
            return Ok(iss.issue_oauth(&form, st.htpasswd.as_ref()));
        }
    }
    if let Some(v) = &st.token {
        let q = query(&req);
        let from = q.get("mount").and(q.get("from")).map(String::as_str);
        let needs = crate::token::needs(req.method(), &path, from);
        if let Err(r) = v.check(req.headers(), &needs) {
            return Ok(*r);
        }
    } else if let Some(h) = &st.htpasswd {
        h.check(req.headers())?;
    }
    if path == "/v1/search" && req.method() == Method::GET {
        return search(st, &query(&req));
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Err(
            RegistryError::new(Code::NameUnknown, "not found").with_status(StatusCode::NOT_FOUND)
        );
    };
    if rest.is_empty() {
        return Ok(json_response(StatusCode::OK, &serde_json::json!({})));
    }
    if rest == "_catalog" && req.method() == Method::GET {
        return catalog(st, &query(&req));
    }
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let m = req.method().clone();
    // …/blobs/uploads/<uuid or empty>
    if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        let name = segs[..n - 3].join("/");
        validate_name(&name)?;
        let uuid = segs[n - 1].to_string();
        return uploads(st, m, &name, &uuid, req).await;
    }
    if n >= 3 && segs[n - 2] == "blobs" {
        let name = segs[..n - 2].join("/");
        validate_name(&name)?;
        let d = parse_digest(segs[n - 1])?;
        return blobs(st, m, &name, &d, req.headers()).await;
    }
    if n >= 3 && segs[n - 2] == "manifests" {
        let name = segs[..n - 2].join("/");
        validate_name(&name)?;
        let r = parse_manifest_ref(segs[n - 1])?;
        return manifests(st, m, &name, r, req).await;
    }
    if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" && m == Method::GET {
        let name = segs[..n - 2].join("/");
        validate_name(&name)?;
        return tags_list(st, &name, &query(&req));
    }
    if n >= 3 && segs[n - 2] == "referrers" && m == Method::GET {
        let name = segs[..n - 2].join("/");
        validate_name(&name)?;
        let d = parse_digest(segs[n - 1])?;
        return referrers(st, &name, &d, &query(&req));
    }
    Err(RegistryError::new(
        Code::Unsupported,
        "unsupported operation",
    ))
}

fn json_response(status: StatusCode, v: &serde_json::Value) -> Response {
    let mut r = (status, v.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""))
}

fn blob_unknown(d: &Digest) -> RegistryError {
    RegistryError::new(Code::BlobUnknown, "blob unknown to registry")
        .detail(serde_json::json!({ "digest": d.as_str() }))
}

// --- blobs ---

async fn blobs(
    st: &AppState,
    m: Method,
    name: &str,
    d: &Digest,
    headers: &HeaderMap,
) -> Result<Response> {
    // A blob is served only to a repository that links it (as layer or manifest).
    let linked = st.store.linked(name, Link::Layer, d) || st.store.linked(name, Link::Manifest, d);
    if m == Method::DELETE {
        if !st.store.unlink(name, Link::Layer, d)? {
            return Err(blob_unknown(d));
        }
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    if m != Method::GET && m != Method::HEAD {
        return Err(RegistryError::new(
            Code::Unsupported,
            "unsupported operation",
        ));
    }
    let size = match (linked, st.store.blob_size(d)) {
        (true, Some(s)) => s,
        _ => return Err(blob_unknown(d)),
    };
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) => Some(parse_range(r, size)?),
        None => None,
    };
    let (status, start, len) = match range {
        Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        None => (StatusCode::OK, 0, size),
    };
    let body = if m == Method::HEAD {
        Body::empty()
    } else {
        let mut f = tokio::fs::File::open(st.store.blob_path(d)).await?;
        f.seek(SeekFrom::Start(start)).await?;
        Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
            f.take(len),
            256 * 1024,
        ))
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_LENGTH, hv(&len.to_string()));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert("Docker-Content-Digest", hv(d.as_str()));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            header::CONTENT_RANGE,
            hv(&format!("bytes {}-{}/{}", start, start + len - 1, size)),
        );
    }
    Ok(r)
}

/// `bytes=a-b` / `bytes=a-` / `bytes=-n` (RFC 9110 §14.1.2), one range only.
fn parse_range(r: &str, size: u64) -> Result<(u64, u64)> {
    let bad = || {
        RegistryError::new(Code::RangeInvalid, "invalid range")
            .detail(serde_json::json!({ "range": r }))
    };
    let spec = r.strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let (a, b) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| bad())?;
        if n == 0 || size == 0 {
            return Err(bad());
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let a: u64 = a.parse().map_err(|_| bad())?;
        let b: u64 = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| bad())?
                .min(size.saturating_sub(1))
        };
        (a, b)
    };
    if a > b || a >= size {
        return Err(bad());
    }
    Ok((a, b))
}

// --- uploads ---

fn upload_response(status: StatusCode, name: &str, uuid: &str, size: u64) -> Response {
    let mut r = status.into_response();
    let h = r.headers_mut();
    h.insert(
        header::LOCATION,
        hv(&format!("/v2/{name}/blobs/uploads/{uuid}")),
    );
    h.insert("Docker-Upload-UUID", hv(uuid));
    h.insert(header::RANGE, hv(&format!("0-{}", size.saturating_sub(1))));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

fn blob_created(name: &str, d: &Digest) -> Response {
    let mut r = StatusCode::CREATED.into_response();
    let h = r.headers_mut();
    h.insert(header::LOCATION, hv(&format!("/v2/{name}/blobs/{d}")));
    h.insert("Docker-Content-Digest", hv(d.as_str()));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

/// Verifies and commits an upload off the async workers: hashing a large layer and the
/// fsyncs take long enough to stall other requests.
async fn finish_upload(store: &Store, uuid: &str, d: &Digest) -> Result<u64> {
    let (store, uuid, d) = (store.clone(), uuid.to_string(), d.clone());
    tokio::task::spawn_blocking(move || store.finish_upload(&uuid, &d))
        .await
        .map_err(RegistryError::internal)?
}

/// Streams a request body to the end of `path`; returns the bytes written.
async fn append_body(path: &std::path::Path, body: Body) -> Result<u64> {
    let mut f = tokio::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .await?;
    let mut body = body;
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            RegistryError::new(Code::BlobUploadInvalid, format!("reading body: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            f.write_all(&data).await?;
            n += data.len() as u64;
        }
    }
    f.flush().await?;
    Ok(n)
}

async fn uploads(
    st: &AppState,
    m: Method,
    name: &str,
    uuid: &str,
    req: Request,
) -> Result<Response> {
    let q = query(&req);
    if uuid.is_empty() {
        if m != Method::POST {
            return Err(RegistryError::new(
                Code::Unsupported,
                "unsupported operation",
            ));
        }
        // Cross-repository mount (spec "Mounting a blob from another repository").
        if let (Some(mount), Some(from)) = (q.get("mount"), q.get("from")) {
            if let (Ok(d), Ok(())) = (parse_digest(mount), validate_name(from)) {
                if st.store.linked(from, Link::Layer, &d) && st.store.blob_size(&d).is_some() {
                    st.store.link(name, Link::Layer, &d, d.as_str())?;
                    return Ok(blob_created(name, &d));
                }
            }
        }
        // Monolithic upload: POST with ?digest= and the whole blob as body.
        if let Some(dg) = q.get("digest") {
            let d = parse_digest(dg)?;
            let uuid = st.store.new_upload(name)?;
            let data = st.store.upload_dir(&uuid).join("data");
            if let Err(e) = append_body(&data, req.into_body()).await {
                let _ = st.store.remove_upload(&uuid);
                return Err(e);
            }
            finish_upload(&st.store, &uuid, &d).await?;
            st.store.link(name, Link::Layer, &d, d.as_str())?;
            return Ok(blob_created(name, &d));
        }
        let uuid = st.store.new_upload(name)?;
        return Ok(upload_response(StatusCode::ACCEPTED, name, &uuid, 0));
    }
    let size = st.store.upload_size(name, uuid)?;
    let data = st.store.upload_dir(uuid).join("data");
    match m {
        Method::GET => Ok(upload_response(StatusCode::NO_CONTENT, name, uuid, size)),
        Method::DELETE => {
            st.store.remove_upload(uuid)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Method::PATCH => {
            // Chunks must arrive in order: Content-Range "a-b" must start at the current end.
            if let Some(cr) = req.headers().get(header::CONTENT_RANGE) {
                let cr = cr.to_str().unwrap_or("");
                let cr = cr.strip_prefix("bytes ").unwrap_or(cr);
                let start = cr
                    .split('-')
                    .next()
                    .and_then(|a| a.trim().parse::<u64>().ok());
                if start != Some(size) {
                    return Err(RegistryError::new(
                        Code::BlobUploadInvalid,
                        "content range does not continue the upload",
                    )
                    .detail(serde_json::json!({"offset": size, "content-range": cr}))
                    .with_status(StatusCode::RANGE_NOT_SATISFIABLE));
                }
            }
            let n = append_body(&data, req.into_body()).await?;
            Ok(upload_response(StatusCode::ACCEPTED, name, uuid, size + n))
        }
        Method::PUT => {
            let Some(dg) = q.get("digest") else {
                return Err(RegistryError::new(
                    Code::DigestInvalid,
                    "digest parameter missing",
                ));
            };
            let d = parse_digest(dg)?;
            append_body(&data, req.into_body()).await?;
            finish_upload(&st.store, uuid, &d).await?;
            st.store.link(name, Link::Layer, &d, d.as_str())?;
            Ok(blob_created(name, &d))
        }
        _ => Err(RegistryError::new(
            Code::Unsupported,
            "unsupported operation",
        )),
    }
}

// --- manifests ---

fn manifest_unknown(r: &str) -> RegistryError {
    RegistryError::new(Code::ManifestUnknown, "manifest unknown")
        .detail(serde_json::json!({ "reference": r }))
}

fn resolve(st: &AppState, name: &str, r: &ManifestRef) -> Result<Digest> {
    let d = match r {
        ManifestRef::Tag(t) => st.store.tag(name, t).ok_or_else(|| manifest_unknown(t))?,
        ManifestRef::Digest(d) => d.clone(),
    };
    if !st.store.linked(name, Link::Manifest, &d) {
        return Err(manifest_unknown(d.as_str()));
    }
    Ok(d)
}

async fn manifests(
    st: &AppState,
    m: Method,
    name: &str,
    r: ManifestRef,
    req: Request,
) -> Result<Response> {
    match m {
        Method::GET | Method::HEAD => {
            let d = resolve(st, name, &r)?;
            let mt = st
                .store
                .link_content(name, Link::Manifest, &d)
                .unwrap_or_default();
            let bytes = st
                .store
                .read_blob(&d)
                .map_err(|_| manifest_unknown(d.as_str()))?;
            let len = bytes.len();
            let mut resp = if m == Method::HEAD {
                Response::new(Body::empty())
            } else {
                Response::new(Body::from(bytes))
            };
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, hv(&mt));
            h.insert(header::CONTENT_LENGTH, hv(&len.to_string()));
            h.insert("Docker-Content-Digest", hv(d.as_str()));
            Ok(resp)
        }
        Method::PUT => {
            let ct = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let bytes = axum::body::to_bytes(req.into_body(), manifest::MAX_SIZE)
                .await
                .map_err(|e| RegistryError::new(Code::SizeInvalid, e.to_string()))?;
            let parsed = manifest::parse(&bytes, ct.as_deref())?;
            if let ManifestRef::Digest(want) = &r {
                let got = Digest::of(&bytes);
                if &got != want {
                    return Err(RegistryError::new(
                        Code::DigestInvalid,
                        "manifest digest does not match its content",
                    ));
                }
            }
            manifest::check_references(&st.store, name, &parsed)?;
            let d = st.store.put_blob_bytes(&bytes)?;
            st.store
                .link(name, Link::Manifest, &d, &parsed.media_type)?;
            if let ManifestRef::Tag(t) = &r {
                st.store.set_tag(name, t, &d)?;
            }
            let mut resp = StatusCode::CREATED.into_response();
            let h = resp.headers_mut();
            h.insert(header::LOCATION, hv(&format!("/v2/{name}/manifests/{d}")));
            h.insert("Docker-Content-Digest", hv(d.as_str()));
            h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            if let Some(s) = &parsed.subject {
                h.insert("OCI-Subject", hv(s.as_str()));
            }
            Ok(resp)
        }
        Method::DELETE => {
            match &r {
                ManifestRef::Tag(t) => {
                    if !st.store.remove_tag(name, t)? {
                        return Err(manifest_unknown(t));
                    }
                }
                ManifestRef::Digest(d) => {
                    if !st.store.unlink(name, Link::Manifest, d)? {
                        return Err(manifest_unknown(d.as_str()));
                    }
                    // Tags naming a deleted manifest go with it.
                    for (t, td) in st.store.tags(name)? {
                        if &td == d {
                            st.store.remove_tag(name, &t)?;
                        }
                    }
                }
            }
            Ok(StatusCode::ACCEPTED.into_response())
        }
        _ => Err(RegistryError::new(
            Code::Unsupported,
            "unsupported operation",
        )),
    }
}

// --- listings ---

/// Applies `n` and `last` (spec "Listing Tags"): entries after `last`, at most `n`; a
/// `Link` header when more remain.
fn paginate(
    all: Vec<String>,
    q: &HashMap<String, String>,
    base: &str,
) -> Result<(Vec<String>, Option<String>)> {
    let mut v: Vec<String> = match q.get("last") {
        Some(l) => all
            .into_iter()
            .filter(|x| x.as_str() > l.as_str())
            .collect(),
        None => all,
    };
    let n = match q.get("n") {
        Some(n) => Some(n.parse::<usize>().map_err(|_| {
            RegistryError::new(Code::Unsupported, "invalid n").with_status(StatusCode::BAD_REQUEST)
        })?),
        None => None,
    };
    let mut link = None;
    if let Some(n) = n {
        if v.len() > n {
            v.truncate(n);
            if let Some(last) = v.last() {
                link = Some(format!("<{base}?n={n}&last={last}>; rel=\"next\""));
            }
        }
    }
    Ok((v, link))
}

fn with_link(mut r: Response, link: Option<String>) -> Response {
    if let Some(l) = link {
        r.headers_mut().insert(header::LINK, hv(&l));
    }
    r
}

fn tags_list(st: &AppState, name: &str, q: &HashMap<String, String>) -> Result<Response> {
    if !st.store.repo_exists(name) {
        return Err(
            RegistryError::new(Code::NameUnknown, "repository name not known to registry")
                .detail(serde_json::json!({ "name": name })),
        );
    }
    let all = st.store.tags(name)?.into_iter().map(|(t, _)| t).collect();
    let (tags, link) = paginate(all, q, &format!("/v2/{name}/tags/list"))?;
    Ok(with_link(
        json_response(
            StatusCode::OK,
            &serde_json::json!({"name": name, "tags": tags}),
        ),
        link,
    ))
}

fn catalog(st: &AppState, q: &HashMap<String, String>) -> Result<Response> {
    let (repos, link) = paginate(st.store.repos()?, q, "/v2/_catalog")?;
    Ok(with_link(
        json_response(
            StatusCode::OK,
            &serde_json::json!({ "repositories": repos }),
        ),
        link,
    ))
}

/// Docker Hub's search API (`GET /v1/search?q=&n=&page=`), answered from the catalog: the
/// repositories whose name contains the query (case-insensitive), so `docker search` works
/// against this registry. No descriptions or stars are kept here.
fn search(st: &AppState, q: &HashMap<String, String>) -> Result<Response> {
    let term = q.get("q").map(|s| s.to_lowercase()).unwrap_or_default();
    let n: usize = q
        .get("n")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=100).contains(n))
        .unwrap_or(25);
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let all: Vec<String> = st
        .store
        .repos()?
        .into_iter()
        .filter(|r| r.to_lowercase().contains(&term))
        .collect();
    let results: Vec<serde_json::Value> = all
        .iter()
        .skip((page - 1) * n)
        .take(n)
        .map(|name| {
            serde_json::json!({
                "name": name,
                "description": "",
                "star_count": 0,
                "is_official": false,
                "is_automated": false,
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "num_results": all.len(),
            "num_pages": all.len().div_ceil(n),
            "page": page,
            "page_size": n,
            "query": q.get("q").cloned().unwrap_or_default(),
            "results": results,
        }),
    ))
}

fn referrers(
    st: &AppState,
    name: &str,
    d: &Digest,
    q: &HashMap<String, String>,
) -> Result<Response> {
    let filter = q.get("artifactType").filter(|s| !s.is_empty());
    let mut descs = Vec::new();
    for md in st.store.links(name, Link::Manifest)? {
        let Ok(bytes) = st.store.read_blob(&md) else {
            continue;
        };
        let mt = st
            .store
            .link_content(name, Link::Manifest, &md)
            .unwrap_or_default();
        let Ok(p) = manifest::parse(&bytes, Some(&mt)) else {
            continue;
        };
        if p.subject.as_ref() != Some(d) {
            continue;
        }
        if let Some(f) = filter {
            if p.artifact_type.as_deref() != Some(f.as_str()) {
                continue;
            }
        }
        let mut desc = serde_json::json!({
            "mediaType": p.media_type,
            "digest": md.as_str(),
            "size": bytes.len(),
        });
        if let Some(at) = &p.artifact_type {
            desc["artifactType"] = serde_json::json!(at);
        }
        if let Some(a) = &p.annotations {
            desc["annotations"] = a.clone();
        }
        descs.push(desc);
    }
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_INDEX,
        "manifests": descs,
    });
    let mut r = json_response(StatusCode::OK, &body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(manifest::OCI_INDEX),
    );
    if filter.is_some() {
        r.headers_mut().insert(
            "OCI-Filters-Applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(r)
}
