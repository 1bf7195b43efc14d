//! A container's files over the API: `archive` (GET/HEAD/PUT, what `docker cp` uses),
//! `changes` (`docker diff`), `export`, and `POST /commit`. The filesystem work is in
//! [`crate::container::fs`] and [`crate::container::changes`]; handlers parse, run it on the
//! blocking pool and stream the tar.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::TryStreamExt;
use serde_json::{json, Value};
use tokio_util::io::{ReaderStream, StreamReader, SyncIoBridge};
use wharf_image::{CommitOptions, Reference};

use super::params::Params;
use super::{blocking, ApiError, ApiResult, AppState};
use crate::container::store::Status;
use crate::container::{changes, fs};
use crate::shim::client;
use crate::shim::proto::Request as ShimRequest;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/containers/{id}/archive",
            get(get_archive).head(head_archive).put(put_archive),
        )
        .route("/containers/{id}/changes", get(changes))
        .route("/containers/{id}/export", get(export))
        .route("/commit", post(commit))
}

/// Standard base64 with padding (Go's `base64.StdEncoding`).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for ch in data.chunks(3) {
        let b = [ch[0], *ch.get(1).unwrap_or(&0), *ch.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= ch.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn path_param(p: &Params) -> ApiResult<String> {
    match p.get("path") {
        Some(s) if !s.is_empty() => Ok(s.to_string()),
        _ => Err(ApiError::invalid("path is required")),
    }
}

/// docker names the container as the client did: "Could not find the file /x in container c1".
fn in_container(name: &str) -> impl Fn(ApiError) -> ApiError + '_ {
    move |mut e| {
        if e.message.ends_with(" in container") {
            e.message = format!("{} {name}", e.message);
        }
        e
    }
}

fn stat_header(st: &fs::PathStat) -> ApiResult<HeaderValue> {
    let j = serde_json::to_vec(st).map_err(|e| ApiError::internal(e.to_string()))?;
    HeaderValue::from_str(&base64(&j)).map_err(|e| ApiError::internal(e.to_string()))
}

async fn head_archive(
    State(d): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Response> {
    let path = path_param(&p)?;
    let st = blocking(move || {
        let c = d.containers.resolve(&id)?;
        d.with_cp_view(&c, |root| {
            Ok(fs::stat_path(root, &path).map_err(in_container(&id))?.1)
        })
    })
    .await?;
    Ok((
        StatusCode::OK,
        [("X-Docker-Container-Path-Stat", stat_header(&st)?)],
    )
        .into_response())
}

async fn get_archive(
    State(d): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Response> {
    let path = path_param(&p)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (w, r) = tokio::io::duplex(1 << 20);
    let mut w = SyncIoBridge::new(w);
    tokio::task::spawn_blocking(move || {
        let c = match d.containers.resolve(&id) {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let mut tx = Some(tx);
        // The archive's end goes out after the view (and any mount it made) is gone.
        let mut out = fs::HoldTail::new(&mut w, fs::TAR_TRAILER);
        let r = d.with_cp_view(&c, |root| {
            let (l, st) = fs::stat_path(root, &path).map_err(in_container(&id))?;
            let rebase = st.name.clone();
            let rebase = if rebase == "/" { ".".into() } else { rebase };
            if tx.take().is_some_and(|tx| tx.send(Ok(st)).is_err()) {
                return Ok(());
            }
            fs::archive(root, &l, &rebase, &mut out)
                .map_err(|e| ApiError::internal(format!("archive failed mid-stream: {e}")))
        });
        match (r, tx) {
            // A stream cut short stays without its end: the client sees a truncated archive.
            (Err(e), None) => tracing::warn!(error = %e.message, "archive failed"),
            (Err(e), Some(tx)) => {
                let _ = tx.send(Err(e));
            }
            (Ok(()), _) => {
                let _ = out.release();
            }
        }
    });
    let st = rx
        .await
        .map_err(|_| ApiError::internal("archive task ended early"))??;
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/x-tar")),
            (
                axum::http::HeaderName::from_static("x-docker-container-path-stat"),
                stat_header(&st)?,
            ),
        ],
        Body::from_stream(ReaderStream::with_capacity(r, 1 << 18)),
    )
        .into_response())
}

async fn put_archive(
    State(d): State<AppState>,
    Path(id): Path<String>,
    p: Params,
    body: Body,
) -> ApiResult<StatusCode> {
    let path = path_param(&p)?;
    let no_overwrite = p.bool("noOverwriteDirNonDir");
    let copy_uid_gid = p.bool("copyUIDGID");
    let name = id.clone();
    let c = d.containers.resolve(&id)?;
    if c.host_config.readonly_rootfs.unwrap_or(false) {
        return Err(ApiError::new(
            wharf_types::ErrorKind::PermissionDenied,
            "container rootfs is marked read-only",
        ));
    }
    let s = body.into_data_stream().map_err(std::io::Error::other);
    let mut reader = SyncIoBridge::new(StreamReader::new(s));
    blocking(move || {
        let r = d.with_cp_view(&c, |root| {
            fs::extract(root, &path, &mut reader, no_overwrite, copy_uid_gid)
                .map_err(in_container(&name))
        });
        // Drain what the client still sends so it sees our answer, not a reset.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
        r
    })
    .await?;
    Ok(StatusCode::OK)
}

async fn changes(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let list = blocking(move || {
        let c = d.containers.resolve(&id)?;
        let upper = d.container_dir(&c.id).join("upper");
        let lowers = d.images.layer_dirs(&c.image_id)?;
        changes::changes(&upper, &lowers)
            .map_err(|e| ApiError::internal(format!("failed to list changes: {e}")))
    })
    .await?;
    Ok(Json(json!(list)))
}

async fn export(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (w, r) = tokio::io::duplex(1 << 20);
    let mut w = SyncIoBridge::new(w);
    tokio::task::spawn_blocking(move || {
        let view = d.containers.resolve(&id).and_then(|c| d.open_rootfs(&c));
        match view {
            Err(e) => {
                let _ = tx.send(Err(e));
            }
            Ok(view) => {
                if tx.send(Ok(())).is_err() {
                    return;
                }
                let mut out = fs::HoldTail::new(&mut w, fs::TAR_TRAILER);
                if let Err(e) = fs::export(std::os::fd::AsFd::as_fd(&view.fd), &mut out) {
                    tracing::warn!(error = %e, "export failed mid-stream");
                    return;
                }
                // The archive's end goes out after the temporary mount is gone.
                drop(view);
                let _ = out.release();
            }
        }
    });
    rx.await
        .map_err(|_| ApiError::internal("export task ended early"))??;
    Ok((
        [(CONTENT_TYPE, "application/x-tar")],
        Body::from_stream(ReaderStream::with_capacity(r, 1 << 18)),
    )
        .into_response())
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&changes=&pause=`, body: an optional
/// container config whose set fields override the container's.
async fn commit(State(d): State<AppState>, p: Params, body: Body) -> ApiResult<Response> {
    let name = p.str("container").to_string();
    if name.is_empty() {
        return Err(ApiError::invalid("container is required"));
    }
    let c = d.containers.resolve(&name)?;
    let reference = match (p.str("repo"), p.str("tag")) {
        ("", "") => None,
        ("", _) => return Err(ApiError::invalid("tag is given without a repository")),
        (repo, "") => Some(Reference::parse_normalized(repo)?),
        (repo, tag) => Some(Reference::parse_named(repo)?.with_tag(tag)?),
    };
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .map_err(|e| ApiError::invalid(format!("failed to read the request body: {e}")))?;
    let mut config =
        serde_json::to_value(&c.config).map_err(|e| ApiError::internal(e.to_string()))?;
    if !bytes.iter().all(u8::is_ascii_whitespace) {
        let over: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))?;
        if let (Some(cfg), Some(over)) = (config.as_object_mut(), over.as_object()) {
            for (k, v) in over {
                if !v.is_null() {
                    cfg.insert(k.clone(), v.clone());
                }
            }
        }
    }
    let mut created_by = vec![c.path.clone()];
    created_by.extend(c.args.iter().cloned());
    let opts = CommitOptions {
        config: Some(config),
        changes: p.all("changes").into_iter().map(str::to_string).collect(),
        comment: p.str("comment").to_string(),
        author: p.str("author").to_string(),
        created_by: created_by.join(" "),
        reference,
    };
    // docker pauses by default (`pause` absent or true) so the layer is consistent.
    let pause = p
        .get("pause")
        .is_none_or(|v| !matches!(v, "0" | "false" | "False"))
        && c.state.status == Status::Running;
    let dir = d.container_dir(&c.id);
    if pause {
        client::call(&dir, ShimRequest::Pause)
            .await
            .map_err(|e| ApiError::internal(format!("failed to pause for commit: {e}")))?;
        // As docker, the container shows as paused while its layer is read.
        d.containers.update(&c.id, |c| {
            if c.state.status == Status::Running {
                c.state.status = Status::Paused
            }
        })?;
    }
    let dd = d.clone();
    let cid = c.id.clone();
    let image_id = c.image_id.clone();
    let result = blocking(move || {
        let upper = dd.container_dir(&cid).join("upper");
        let tmp = tempfile_in(&dd.container_dir(&cid))?;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&tmp.0)
            .map_err(|e| ApiError::internal(format!("{}: {e}", tmp.0.display())))?;
        let mut f = changes::layer_tar(&upper, f)
            .map_err(|e| ApiError::internal(format!("failed to pack the write layer: {e}")))?;
        use std::io::Seek;
        f.rewind().map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(dd.images.commit(&image_id, &mut f, &opts)?)
    })
    .await;
    if pause {
        match client::call(&dir, ShimRequest::Resume).await {
            Ok(_) => {
                let _ = d.containers.update(&c.id, |c| {
                    if c.state.status == Status::Paused {
                        c.state.status = Status::Running
                    }
                });
            }
            Err(e) => tracing::error!(id = %c.id, error = %e, "failed to resume after commit"),
        }
    }
    let id = result?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": id.to_string() }))).into_response())
}

/// A temp file path that is removed when dropped.
struct TmpFile(std::path::PathBuf);

impl Drop for TmpFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn tempfile_in(dir: &std::path::Path) -> ApiResult<TmpFile> {
    let p = dir.join(format!("commit-{:016x}.tar", rand::random::<u64>()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&p)
        .map_err(|e| ApiError::internal(format!("{}: {e}", p.display())))?;
    Ok(TmpFile(p))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn call(d: &AppState, method: &str, uri: &str) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let resp = super::super::service(d.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn errors_have_dockers_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let d: AppState = Arc::new(crate::state::Daemon::open(dir.path()).unwrap());
        let (s, v) = call(&d, "GET", "/v1.45/containers/nope/archive?path=/etc").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(v["message"], "No such container: nope");
        let (s, _) = call(&d, "GET", "/containers/nope/archive").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _) = call(&d, "HEAD", "/containers/nope/archive?path=/").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = call(&d, "GET", "/containers/nope/changes").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = call(&d, "GET", "/containers/nope/export").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, v) = call(&d, "POST", "/commit").await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        let (s, _) = call(&d, "POST", "/commit?container=nope").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }

    #[test]
    fn base64_like_go() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"{\"name\":\"x\"}"), "eyJuYW1lIjoieCJ9");
    }
}
