//! `/containers/…` and `/exec/…`: create, start, stop, kill, wait, attach (hijacked streams),
//! logs, rm, list, inspect, rename, pause, resize, top, prune and exec.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use bollard_stubs::models::{ContainerCreateBody, ContainerCreateResponse, ExecConfig};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use wharf_types::ErrorKind;

use super::params::{labels_match, Params};
use super::{blocking, ApiError, ApiResult, AppState};
use crate::container::store::{Container, Status};
use crate::container::{create, mounts, not_running};
use crate::exec::ExecRecord;
use crate::shim::proto::{ExecSpec, Request as ShimRequest};
use crate::shim::{client, log};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/json", get(list))
        .route("/containers/create", post(create_container))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}", delete(remove))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/stats", get(stats))
        .route("/containers/{id}/exec", post(exec_create))
        .route("/exec/{id}/start", post(exec_start))
        .route("/exec/{id}/resize", post(exec_resize))
        .route("/exec/{id}/json", get(exec_inspect))
}

/// Body as JSON, with docker's 400 for a malformed one (an empty body is the default value).
pub(crate) async fn json_body<T: serde::de::DeserializeOwned + Default>(
    body: Body,
) -> ApiResult<T> {
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .map_err(|e| ApiError::invalid(format!("failed to read the request body: {e}")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))
}

/// `POST /containers/create`. Our own CLI may ask for more in the same request (ADR-0020):
/// `wharf-start=1` also starts the container and answers once it runs (`run -d`);
/// `wharf-run=1`, with an upgrade and no tty, also attaches the `stdin`/`stdout`/`stderr` given,
/// starts, answers `101` with the id in `X-Wharf-Container-Id`, streams the output and ends the
/// stream with the wait's answer in a frame of its own ([`WAIT_FRAME`]): `run` in one request.
/// Other clients (docker's) never send these and get docker's create.
async fn create_container(
    State(d): State<AppState>,
    p: Params,
    mut req: Request,
) -> ApiResult<Response> {
    let body = std::mem::replace(req.body_mut(), Body::empty());
    let body: ContainerCreateBody = json_body(body).await?;
    let c = create_record(&d, p.get("name").map(str::to_string), body).await?;
    let tty = c.config.tty.unwrap_or(false);
    let run = p.bool("wharf-run") && wants_upgrade(&req) && !tty;
    if !run && !p.bool("wharf-start") {
        return Ok((
            StatusCode::CREATED,
            Json(ContainerCreateResponse {
                id: c.id,
                warnings: vec![],
            }),
        )
            .into_response());
    }
    let (stdin, stdout, stderr) = (p.bool("stdin"), p.bool("stdout"), p.bool("stderr"));
    // As docker's `run` does: the attach and the wait are in place before the start.
    let attached = run.then(|| d.pending.expect(&c.id, stdin, stdout, stderr));
    let condition = if c.host_config.auto_remove == Some(true) {
        "removed"
    } else {
        "next-exit"
    };
    let answer = wait_answer(d.containers.subscribe(&c.id)?, condition.to_string());
    if let Err(e) = d.start_container(&c.id).await {
        drop(d.pending.take(&c.id));
        return Err(e);
    }
    let Some(attached) = attached else {
        return Ok((
            StatusCode::CREATED,
            Json(json!({ "Id": c.id, "Warnings": [], "WharfStarted": true })),
        )
            .into_response());
    };
    let trailer = Box::pin(async move {
        let json = answer.await;
        let mut frame = vec![WAIT_FRAME, 0, 0, 0];
        frame.extend_from_slice(&(json.len() as u32).to_be_bytes());
        frame.extend_from_slice(&json);
        frame
    });
    let later = async move { attached.await.ok().and_then(Result::ok) };
    let mut resp = hijack(req, later, stdin, false, (), Some(trailer));
    if let Ok(v) = HeaderValue::from_str(&c.id) {
        resp.headers_mut().insert("X-Wharf-Container-Id", v);
    }
    Ok(resp)
}

/// The stream byte of the frame that ends a `wharf-run` stream: the wait's answer (JSON). Not
/// one of docker's (0–3), so no docker client can mistake it for output.
pub const WAIT_FRAME: u8 = 0x57;

/// Makes the container's record, directory and volumes, as `create` does.
async fn create_record(
    d: &AppState,
    name: Option<String>,
    body: ContainerCreateBody,
) -> ApiResult<Container> {
    let dd = d.clone();
    blocking(move || {
        let mut c = create::build(&dd, name.as_deref(), body)?;
        let (mounts, created) = mounts::resolve(&dd, &c.config, &c.host_config)?;
        c.mounts = mounts;
        let dir = dd.container_dir(&c.id);
        let made = (if dd.spares.take(&dir) {
            Ok(())
        } else {
            std::fs::create_dir_all(&dir)
                .map_err(|e| ApiError::internal(format!("{}: {e}", dir.display())))
                .map(|()| crate::container::store::spread_subdirectories(&dir))
        })
        .and_then(|()| mounts::copy_up(&dd, &c.image_id, &c.mounts, &dir.join("copyup")))
        .and_then(|()| {
            let generated = name.as_deref().is_none_or(str::is_empty);
            create::insert(&dd, &mut c, generated)
        });
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&dir);
            mounts::discard(&dd, &created);
            return Err(e);
        }
        Ok(c)
    })
    .await
}

async fn start(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    match d.start_container(&id).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(e) if e.kind == ErrorKind::AlreadyExists => Ok(StatusCode::NOT_MODIFIED),
        Err(e) => Err(e),
    }
}

async fn stop(
    State(d): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<StatusCode> {
    let t = p.int("t")?.or(p.int("timeout")?);
    let stopped = d.stop_container(&id, t, p.get("signal")).await?;
    Ok(if stopped {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_MODIFIED
    })
}

async fn restart(
    State(d): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<StatusCode> {
    let t = p.int("t")?;
    d.stop_container(&id, t, p.get("signal")).await?;
    d.start_container(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn kill(
    State(d): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<StatusCode> {
    d.kill_container(&id, p.get("signal").unwrap_or("KILL"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove(
    State(d): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<StatusCode> {
    let c = d.containers.resolve(&id)?;
    d.remove_container(&c.id, p.bool("force"), p.bool("v"))
        .await?;
    d.execs.remove_container(&c.id);
    Ok(StatusCode::NO_CONTENT)
}

/// `wait?condition=not-running|next-exit|removed`.
async fn wait(State(d): State<AppState>, Path(id): Path<String>, p: Params) -> ApiResult<Response> {
    let c = d.containers.resolve(&id)?;
    let condition = p.get("condition").unwrap_or("not-running").to_string();
    if !matches!(
        condition.as_str(),
        "not-running" | "next-exit" | "removed" | ""
    ) {
        return Err(ApiError::invalid(format!(
            "invalid condition: {condition:?}"
        )));
    }
    let rx = d.containers.subscribe(&c.id)?;
    // Answer with headers now (docker does), the status once the condition holds.
    let body = async_stream_once(wait_answer(rx, condition));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The answer of `wait?condition=…` (a JSON line), once the condition holds; `rx` is
/// subscribed before anything that could change the state.
fn wait_answer(
    mut rx: tokio::sync::watch::Receiver<crate::container::store::State>,
    condition: String,
) -> impl std::future::Future<Output = Vec<u8>> + Send + 'static {
    let initial = rx.borrow().clone();
    async move {
        let mut last = initial.clone();
        let done = |s: &crate::container::store::State| match condition.as_str() {
            "next-exit" => s.status == Status::Exited && s.finished_at != initial.finished_at,
            "removed" => s.status == Status::Dead,
            _ => !s.status.is_live(),
        };
        if !done(&last) {
            loop {
                if rx.changed().await.is_err() {
                    break; // removed
                }
                last = rx.borrow().clone();
                if done(&last) {
                    break;
                }
            }
        }
        let mut v = json!({ "StatusCode": last.exit_code });
        if !last.error.is_empty() {
            v["Error"] = json!({ "Message": last.error });
        }
        let mut b = serde_json::to_vec(&v).unwrap_or_default();
        b.push(b'\n');
        b
    }
}

/// A body that sends nothing until `fut` yields its bytes.
fn async_stream_once(fut: impl std::future::Future<Output = Vec<u8>> + Send + 'static) -> Body {
    Body::from_stream(futures_util::stream::once(async move {
        Ok::<_, std::io::Error>(bytes::Bytes::from(fut.await))
    }))
}

/// Bytes that end a hijacked stream, once they are known.
type Trailer = std::pin::Pin<Box<dyn std::future::Future<Output = Vec<u8>> + Send>>;

fn wants_upgrade(req: &Request) -> bool {
    req.headers().get(header::UPGRADE).is_some()
}

/// Answers a hijack: `101 UPGRADED` (or, for a client that does not upgrade, a plain streamed
/// 200 of the output) and pumps bytes between the client and the shim stream `shim` resolves
/// to — at once, or when a created container starts. `guard` lives until the stream ends.
/// A `trailer`'s bytes follow the output on an upgraded stream (`wharf-run`).
fn hijack<G: Send + 'static>(
    mut req: Request,
    shim: impl std::future::Future<Output = Option<UnixStream>> + Send + 'static,
    stdin: bool,
    tty: bool,
    guard: G,
    trailer: Option<Trailer>,
) -> Response {
    let ctype = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    if !wants_upgrade(&req) {
        use futures_util::StreamExt;
        let out = futures_util::stream::once(shim)
            .filter_map(std::future::ready)
            .flat_map(tokio_util::io::ReaderStream::new)
            .map(move |chunk| {
                let _alive = &guard;
                chunk
            });
        return ([(header::CONTENT_TYPE, ctype)], Body::from_stream(out)).into_response();
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut client = TokioIo::new(upgraded);
        let Some(shim) = shim.await else {
            if let Some(t) = trailer {
                let _ = client.write_all(&t.await).await;
            }
            let _ = client.shutdown().await;
            return;
        };
        let (mut cr, mut cw) = tokio::io::split(client);
        let (mut sr, mut sw) = shim.into_split();
        let input = tokio::spawn(async move {
            if stdin {
                let _ = tokio::io::copy(&mut cr, &mut sw).await;
                let _ = sw.shutdown().await;
            } else {
                // Drain (and ignore) what the client sends; keep the shim side open.
                let mut buf = [0u8; 4096];
                while matches!(cr.read(&mut buf).await, Ok(n) if n > 0) {}
                std::future::pending::<()>().await;
            }
        });
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
        if let Some(t) = trailer {
            let _ = cw.write_all(&t.await).await;
        }
        let _ = cw.shutdown().await;
        input.abort();
        drop(guard);
    });
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    resp
}

async fn attach(
    State(d): State<AppState>,
    Path(id): Path<String>,
    p: Params,
    req: Request,
) -> ApiResult<Response> {
    let c = d.containers.resolve(&id)?;
    if !p.bool("stream") && !p.bool("logs") {
        return Err(ApiError::invalid(
            "at least one of stream or logs must be set",
        ));
    }
    let (stdin, stdout, stderr) = (p.bool("stdin"), p.bool("stdout"), p.bool("stderr"));
    let tty = c.config.tty.unwrap_or(false);
    let shim = if c.state.status == Status::Running || c.state.status == Status::Paused {
        client::attach(&d.container_dir(&c.id), stdin, stdout, stderr, false)
            .await
            .map_err(ApiError::internal)?
    } else {
        // Not running yet: the stream is handed over at start, before the process runs.
        let rx = d.pending.expect(&c.id, stdin, stdout, stderr);
        let later = async move { rx.await.ok().and_then(Result::ok) };
        return Ok(hijack(req, later, stdin, tty, (), None));
    };
    Ok(hijack(req, async move { Some(shim) }, stdin, tty, (), None))
}

fn parse_time_param(s: &str) -> ApiResult<Option<f64>> {
    if s.is_empty() || s == "0" {
        return Ok(None);
    }
    if let Ok(n) = s.parse::<f64>() {
        return Ok(Some(n));
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| Some(t.unix_timestamp_nanos() as f64 / 1e9))
        .map_err(|_| ApiError::invalid(format!("invalid time value {s:?}")))
}

fn record_time(r: &log::Record) -> f64 {
    time::OffsetDateTime::parse(&r.time, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp_nanos() as f64 / 1e9)
        .unwrap_or(0.0)
}

fn render_record(r: &log::Record, timestamps: bool, tty: bool) -> Vec<u8> {
    let mut payload = Vec::with_capacity(r.log.len() + 32);
    if timestamps {
        payload.extend_from_slice(r.time.as_bytes());
        payload.push(b' ');
    }
    payload.extend_from_slice(r.log.as_bytes());
    if tty {
        payload
    } else {
        crate::shim::proto::frame(if r.stream == "stderr" { 2 } else { 1 }, &payload)
    }
}

async fn logs(State(d): State<AppState>, Path(id): Path<String>, p: Params) -> ApiResult<Response> {
    let c = d.containers.resolve(&id)?;
    let (want_out, want_err) = (p.bool("stdout"), p.bool("stderr"));
    if !want_out && !want_err {
        return Err(ApiError::invalid("you must choose at least one stream"));
    }
    let follow = p.bool("follow");
    let timestamps = p.bool("timestamps");
    let since = parse_time_param(p.str("since"))?;
    let until = parse_time_param(p.str("until"))?;
    let tail: Option<usize> = match p.str("tail") {
        "" | "all" => None,
        t => Some(
            t.parse()
                .map_err(|_| ApiError::invalid(format!("invalid tail value {t:?}")))?,
        ),
    };
    let tty = c.config.tty.unwrap_or(false);
    let dir = d.container_dir(&c.id);
    let path = dir.join(format!("{}-json.log", c.id));
    let max_files = c
        .host_config
        .log_config
        .as_ref()
        .and_then(|l| l.config.as_ref())
        .and_then(|m| m.get("max-file"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1u32);
    let keep = move |r: &log::Record| {
        let stream_ok = if r.stream == "stderr" {
            want_err
        } else {
            want_out
        };
        let t = record_time(r);
        stream_ok && since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u)
    };
    let p2 = path.clone();
    // The live file is opened before it is read: a follower keeps reading that handle, so
    // what the container wrote is delivered even when the container is removed (its
    // directory renamed away) before the follower has caught up, as docker's does.
    let (mut initial, held) = blocking(move || {
        let mut recs = log::read_rotated(&p2, max_files);
        let held = std::fs::File::open(&p2).ok().map(|f| {
            let (live, used) = log::read_from(&f);
            recs.extend(live);
            (f, used)
        });
        Ok((recs, held))
    })
    .await?;
    initial.retain(|r| keep(r));
    if let Some(n) = tail {
        let skip = initial.len().saturating_sub(n);
        initial.drain(..skip);
    }
    let mut first = Vec::new();
    for r in &initial {
        first.extend(render_record(r, timestamps, tty));
    }
    let ctype = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    if !follow || !c.state.status.is_live() {
        return Ok(([(header::CONTENT_TYPE, ctype)], first).into_response());
    }
    // Follow: poll the held file for whole new lines until the container stops; on rotation
    // (a new file at the path) the old one is drained first.
    let rx = d.containers.subscribe(&c.id)?;
    let follower = LogFollower {
        path,
        file: held.map(|(f, offset)| (tokio::fs::File::from_std(f), offset)),
        rx,
    };
    let rest = futures_util::stream::unfold(follower, move |mut f| async move {
        loop {
            // Read after looking at the state: once it says stopped, all output is written.
            let live = f.rx.borrow().status.is_live();
            let mut chunk = Vec::new();
            let (buf, rotated) = f.next_bytes().await;
            let (recs, _) = log::read_from(&buf[..]);
            for r in recs.iter().filter(|r| keep(r)) {
                chunk.extend(render_record(r, timestamps, tty));
            }
            if !chunk.is_empty() {
                return Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), f));
            }
            if rotated {
                continue;
            }
            if !live {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let body = futures_util::StreamExt::chain(
        futures_util::stream::once(
            async move { Ok::<_, std::io::Error>(bytes::Bytes::from(first)) },
        ),
        rest,
    );
    Ok(([(header::CONTENT_TYPE, ctype)], Body::from_stream(body)).into_response())
}

/// A `logs -f` reader: the log file it holds open and how far it has delivered it.
struct LogFollower {
    path: std::path::PathBuf,
    file: Option<(tokio::fs::File, u64)>,
    rx: tokio::sync::watch::Receiver<crate::container::store::State>,
}

impl LogFollower {
    /// The whole new lines of the held file, and whether it was found rotated (then the
    /// next call reads the new file from its start).
    async fn next_bytes(&mut self) -> (Vec<u8>, bool) {
        use std::os::unix::fs::MetadataExt;
        use tokio::io::AsyncSeekExt;
        let Some((file, offset)) = self.file.as_mut() else {
            if let Ok(f) = tokio::fs::File::open(&self.path).await {
                self.file = Some((f, 0));
                return (Vec::new(), true);
            }
            return (Vec::new(), false);
        };
        let mut buf = Vec::new();
        if file.seek(std::io::SeekFrom::Start(*offset)).await.is_ok() {
            let _ = file.read_to_end(&mut buf).await;
        }
        // Only whole lines: a record being written is taken on the next round.
        let used = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        buf.truncate(used);
        *offset += used as u64;
        if !buf.is_empty() {
            return (buf, false);
        }
        let held = file.metadata().await.ok().map(|m| (m.dev(), m.ino()));
        let now = tokio::fs::metadata(&self.path)
            .await
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if now.is_some() && now != held {
            self.file = None;
            return (Vec::new(), true);
        }
        (Vec::new(), false)
    }
}

async fn resize(
    State(d): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<StatusCode> {
    let c = d.containers.resolve(&id)?;
    let (h, w) = (p.int("h")?.unwrap_or(0), p.int("w")?.unwrap_or(0));
    if !c.state.status.is_live() {
        return Err(not_running(&c.id));
    }
    client::call(
        &d.container_dir(&c.id),
        ShimRequest::Resize {
            height: h as u16,
            width: w as u16,
        },
    )
    .await
    .map_err(ApiError::internal)?;
    Ok(StatusCode::OK)
}

async fn pause(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let c = d.containers.resolve(&id)?;
    match c.state.status {
        Status::Running => {}
        Status::Paused => {
            return Err(ApiError::new(
                ErrorKind::Conflict,
                format!("Container {} is already paused", c.id),
            ))
        }
        _ => return Err(not_running(&c.id)),
    }
    client::call(&d.container_dir(&c.id), ShimRequest::Pause)
        .await
        .map_err(ApiError::internal)?;
    d.containers
        .update(&c.id, |c| c.state.status = Status::Paused)?;
    d.shared_ports_changed(&c).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn unpause(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let c = d.containers.resolve(&id)?;
    if c.state.status != Status::Paused {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            format!("Container {} is not paused", c.id),
        ));
    }
    client::call(&d.container_dir(&c.id), ShimRequest::Resume)
        .await
        .map_err(ApiError::internal)?;
    d.containers
        .update(&c.id, |c| c.state.status = Status::Running)?;
    d.shared_ports_changed(&c).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn rename(
    State(d): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<StatusCode> {
    let c = d.containers.resolve(&id)?;
    let name = crate::container::names::validate(p.str("name")).map_err(ApiError::invalid)?;
    d.containers.rename(&c.id, &name)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune(State(d): State<AppState>, p: Params) -> ApiResult<Json<Value>> {
    let filters = p.filters()?;
    filters.only(&["until", "label", "label!"])?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for c in d.containers.list() {
        if c.state.status.is_live() {
            continue;
        }
        let labels = c.config.labels.clone().unwrap_or_default();
        if !labels_match(filters.get("label"), &labels) {
            continue;
        }
        if filters
            .get("label!")
            .iter()
            .any(|l| labels_match(std::slice::from_ref(l), &labels))
        {
            continue;
        }
        let size = dir_size(&d.container_dir(&c.id).join("upper"));
        if d.remove_container(&c.id, false, false).await.is_ok() {
            reclaimed += size;
            deleted.push(c.id);
        }
    }
    Ok(Json(
        json!({ "ContainersDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) }, "SpaceReclaimed": reclaimed }),
    ))
}

/// Bytes used under `p` (files counted once; symlinks not followed).
pub fn dir_size(p: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else {
                total += md.len();
            }
        }
    }
    total
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    if s < 1 {
        return "Less than a second".into();
    }
    if s == 1 {
        return "1 second".into();
    }
    if s < 60 {
        return format!("{s} seconds");
    }
    let m = s / 60;
    if m == 1 {
        return "About a minute".into();
    }
    if m < 60 {
        return format!("{m} minutes");
    }
    let h = (s as f64 / 3600.0 + 0.5) as i64;
    if h == 1 {
        return "About an hour".into();
    }
    if h < 48 {
        return format!("{h} hours");
    }
    if h < 24 * 7 * 2 {
        return format!("{} days", h / 24);
    }
    if h < 24 * 30 * 2 {
        return format!("{} weeks", h / 24 / 7);
    }
    if h < 24 * 365 * 2 {
        return format!("{} months", h / 24 / 30);
    }
    format!("{} years", s / 3600 / 24 / 365)
}

fn unix_of(rfc: &str) -> Option<i64> {
    time::OffsetDateTime::parse(rfc, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The STATUS column of `docker ps`.
pub fn status_text(c: &Container) -> String {
    let s = &c.state;
    let since = |t: &str| human_duration(now_unix() - unix_of(t).unwrap_or_else(now_unix));
    match s.status {
        Status::Running => {
            let health = match s.health.as_ref().map(|h| h.status.as_str()) {
                Some("starting") => " (health: starting)",
                Some("healthy") => " (healthy)",
                Some("unhealthy") => " (unhealthy)",
                _ => "",
            };
            format!("Up {}{health}", since(&s.started_at))
        }
        Status::Paused => format!("Up {} (Paused)", since(&s.started_at)),
        Status::Restarting => format!("Restarting ({}) {} ago", s.exit_code, since(&s.finished_at)),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Created => "Created".into(),
        Status::Exited if s.finished_at.is_empty() => "Created".into(),
        Status::Exited => format!("Exited ({}) {} ago", s.exit_code, since(&s.finished_at)),
    }
}

/// The COMMAND of `ps`, as moby builds it: arguments with spaces in single quotes.
fn command_of(c: &Container) -> String {
    let mut v = vec![c.path.clone()];
    v.extend(c.args.iter().map(|a| {
        if a.contains(' ') {
            format!("'{a}'")
        } else {
            a.clone()
        }
    }));
    v.join(" ")
}

async fn list(State(d): State<AppState>, p: Params) -> ApiResult<Json<Vec<Value>>> {
    let filters = p.filters()?;
    filters.only(&[
        "status", "name", "label", "ancestor", "id", "exited", "before", "since", "health",
        "network", "volume", "publish", "expose", "is-task",
    ])?;
    let limit = p.int("limit")?.filter(|l| *l > 0);
    let all = p.bool("all") || limit.is_some();
    let size = p.bool("size");
    let mut cs = d.containers.list();
    let statuses = filters.get("status");
    for s in statuses {
        if !matches!(
            s.as_str(),
            "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
        ) {
            return Err(ApiError::invalid(format!("invalid filter 'status={s}'")));
        }
    }
    let ancestors: Vec<wharf_types::Digest> = filters
        .get("ancestor")
        .iter()
        .filter_map(|a| d.images.resolve(a).ok().map(|i| i.id))
        .collect();
    if !filters.get("ancestor").is_empty() && ancestors.is_empty() {
        cs.clear();
    }
    let created_of = |key: &str| -> ApiResult<Option<String>> {
        match filters.get(key).first() {
            Some(v) => Ok(Some(d.containers.resolve(v)?.created)),
            None => Ok(None),
        }
    };
    let (before, since) = (created_of("before")?, created_of("since")?);
    cs.retain(|c| {
        let st = c.state.status.as_str();
        (all || c.state.status.is_live() || !statuses.is_empty())
            && (statuses.is_empty() || statuses.iter().any(|s| s == st))
            && filters
                .get("name")
                .iter()
                .all(|n| c.name.contains(n.trim_start_matches('/')))
            && filters
                .get("id")
                .iter()
                .all(|i| c.id.starts_with(i.as_str()))
            && labels_match(
                filters.get("label"),
                &c.config.labels.clone().unwrap_or_default(),
            )
            && (ancestors.is_empty() || ancestors.contains(&c.image_id))
            && filters.get("exited").iter().all(|e| {
                c.state.status == Status::Exited && e.parse::<i64>().ok() == Some(c.state.exit_code)
            })
            && filters.get("network").iter().all(|n| {
                c.endpoints.iter().any(|(name, e)| {
                    name == n || (!n.is_empty() && e.network_id.starts_with(n.as_str()))
                }) || c.host_config.network_mode.as_deref() == Some(n.as_str())
            })
            && filters
                .get("publish")
                .iter()
                .all(|p| port_filter(p, c.ports.iter().map(|x| (x.host_port, x.proto.as_str()))))
            && filters.get("expose").iter().all(|p| {
                port_filter(
                    p,
                    c.config.exposed_ports.iter().flatten().filter_map(|k| {
                        let (n, proto) = k.split_once('/').unwrap_or((k, "tcp"));
                        Some((n.parse::<u16>().ok()?, proto))
                    }),
                )
            })
            && filters.get("volume").iter().all(|v| {
                c.mounts
                    .iter()
                    .any(|m| &m.name == v || &m.destination == v || &m.source == v)
            })
            && before.as_ref().is_none_or(|b| &c.created < b)
            && since.as_ref().is_none_or(|s| &c.created > s)
    });
    if let Some(l) = limit {
        cs.truncate(l as usize);
    }
    let out = cs
        .iter()
        .map(|c| {
            let mut v = json!({
                "Id": c.id,
                "Names": [format!("/{}", c.name)],
                "Image": c.image,
                "ImageID": c.image_id.to_string(),
                "Command": command_of(c),
                "Created": unix_of(&c.created).unwrap_or(0),
                "Ports": d.list_ports(c),
                "Labels": c.config.labels.clone().unwrap_or_default(),
                "State": c.state.status.as_str(),
                "Status": status_text(c),
                "HostConfig": { "NetworkMode": c.host_config.network_mode.clone().unwrap_or_else(|| "bridge".into()) },
                "NetworkSettings": { "Networks": d.network_settings(c)["Networks"].clone() },
                "Mounts": c.mounts.iter().map(|m| m.to_json(&d)).collect::<Vec<_>>(),
            });
            if size {
                v["SizeRw"] = json!(dir_size(&d.container_dir(&c.id).join("upper")));
                v["SizeRootFs"] = json!(d.images.get(&c.image_id).map(|i| i.size).unwrap_or(0));
            }
            v
        })
        .collect();
    Ok(Json(out))
}

/// docker's `publish=`/`expose=` filters: `PORT[-PORT][/PROTO]` against a container's ports.
fn port_filter<'a>(spec: &str, mut ports: impl Iterator<Item = (u16, &'a str)>) -> bool {
    let (range, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let (lo, hi) = range.split_once('-').unwrap_or((range, range));
    let (Ok(lo), Ok(hi)) = (lo.parse::<u16>(), hi.parse::<u16>()) else {
        return false;
    };
    ports.any(|(p, pr)| pr == proto && (lo..=hi).contains(&p))
}

fn or_zero_time(s: &str) -> String {
    if s.is_empty() {
        "0001-01-01T00:00:00Z".into()
    } else {
        s.to_string()
    }
}

async fn inspect(
    State(d): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    let c = d.containers.resolve(&id)?;
    let dir = d.container_dir(&c.id);
    let lower = d
        .images
        .layer_dirs(&c.image_id)
        .map(|v| {
            v.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(":")
        })
        .unwrap_or_default();
    let s = &c.state;
    let execs = d.execs.of_container(&c.id);
    let exec_ids = if execs.is_empty() {
        Value::Null
    } else {
        json!(execs)
    };
    let mut v = json!({
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": {
            "Status": s.status.as_str(),
            "Running": s.status == Status::Running || s.status == Status::Paused,
            "Paused": s.status == Status::Paused,
            "Restarting": s.status == Status::Restarting,
            "OOMKilled": s.oom_killed,
            "Dead": s.status == Status::Dead,
            "Pid": s.pid,
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": or_zero_time(&s.started_at),
            "FinishedAt": or_zero_time(&s.finished_at),
            "Health": s.health,
        },
        "Image": c.image_id.to_string(),
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": dir.join(format!("{}-json.log", c.id)),
        "Name": format!("/{}", c.name),
        "RestartCount": c.restart_count,
        "Driver": "overlayfs",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": exec_ids,
        "HostConfig": c.host_config,
        "GraphDriver": {
            "Name": "overlayfs",
            "Data": {
                "LowerDir": lower,
                "UpperDir": dir.join("upper"),
                "WorkDir": dir.join("work"),
                "MergedDir": dir.join("rootfs"),
            }
        },
        "Mounts": c.mounts.iter().map(|m| m.to_json(&d)).collect::<Vec<_>>(),
        "Config": c.config,
        "NetworkSettings": d.network_settings(&c),
    });
    if s.health.is_none() {
        if let Some(st) = v["State"].as_object_mut() {
            st.remove("Health");
        }
    }
    if p.bool("size") {
        v["SizeRw"] = json!(dir_size(&dir.join("upper")));
        v["SizeRootFs"] = json!(d.images.get(&c.image_id).map(|i| i.size).unwrap_or(0));
    }
    Ok(Json(v))
}

/// `top`: the container's processes, found by its pid namespace, in `ps -ef` columns.
async fn top(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let c = d.containers.resolve(&id)?;
    if !c.state.status.is_live() {
        return Err(not_running(&c.id));
    }
    let pid = c.state.pid;
    let procs = blocking(move || Ok(crate::api::top::processes(pid))).await?;
    Ok(Json(json!({
        "Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        "Processes": procs,
    })))
}

async fn stats(
    State(d): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Response> {
    let c = d.containers.resolve(&id)?;
    let one_shot = !p
        .get("stream")
        .map(|s| !matches!(s, "0" | "false"))
        .unwrap_or(true)
        || p.bool("one-shot");
    let dir = d.container_dir(&c.id);
    let name = format!("/{}", c.name);
    let cid = c.id.clone();
    let sample = move |dir: std::path::PathBuf, prev: Value| {
        let name = name.clone();
        let cid = cid.clone();
        async move {
            let raw = client::call(&dir, ShimRequest::Stats)
                .await
                .ok()
                .and_then(|r| r.stats)
                .unwrap_or(Value::Null);
            crate::api::top::docker_stats(&cid, &name, &raw, &prev)
        }
    };
    if one_shot || !c.state.status.is_live() {
        let v = sample(dir, Value::Null).await;
        return Ok(Json(v).into_response());
    }
    let s = futures_util::stream::unfold((dir, Value::Null, true), move |(dir, prev, first)| {
        let sample = sample.clone();
        async move {
            if !first {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let v = sample(dir.clone(), prev).await;
            let mut b = serde_json::to_vec(&v).unwrap_or_default();
            b.push(b'\n');
            Some((
                Ok::<_, std::io::Error>(bytes::Bytes::from(b)),
                (dir, v, false),
            ))
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(s),
    )
        .into_response())
}

async fn exec_create(
    State(d): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let c = d.containers.resolve(&id)?;
    let config: ExecConfig = json_body(body).await?;
    if c.state.status == Status::Paused {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            format!(
                "Container {} is paused, unpause the container before exec",
                c.id
            ),
        ));
    }
    if c.state.status != Status::Running {
        return Err(not_running(&c.id));
    }
    if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
        return Err(ApiError::invalid("No exec command specified"));
    }
    let id = wharf_types::id::random_id();
    d.execs.insert(ExecRecord {
        id: id.clone(),
        container_id: c.id.clone(),
        config,
        running: false,
        started: false,
        exit_code: None,
        pid: 0,
    });
    Ok((StatusCode::CREATED, Json(json!({ "Id": id }))).into_response())
}

#[derive(serde::Deserialize, Default)]
struct ExecStartBody {
    #[serde(rename = "Detach", default)]
    detach: bool,
    #[serde(rename = "Tty", default)]
    tty: Option<bool>,
}

async fn exec_start(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let rec = d.execs.get(&id).ok_or_else(|| {
        ApiError::new(ErrorKind::NotFound, format!("No such exec instance: {id}"))
    })?;
    if rec.started {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            format!("Error: Exec command {id} is already running"),
        ));
    }
    let (parts, body) = req.into_parts();
    let start: ExecStartBody = json_body(body).await?;
    let req = Request::from_parts(parts, Body::empty());
    let c = d.containers.resolve(&rec.container_id)?;
    if c.state.status != Status::Running {
        return Err(not_running(&c.id));
    }
    let cfg = &rec.config;
    let tty = start.tty.or(cfg.tty).unwrap_or(false);
    let mut env = c.config.env.clone().unwrap_or_default();
    for kv in cfg.env.iter().flatten() {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(kv.clone());
    }
    let spec = ExecSpec {
        exec_id: id.clone(),
        args: cfg.cmd.clone().unwrap_or_default(),
        env: crate::container::with_term(env, tty),
        cwd: cfg
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .or_else(|| c.config.working_dir.clone().filter(|w| !w.is_empty()))
            .unwrap_or_else(|| "/".into()),
        user: cfg
            .user
            .clone()
            .filter(|u| !u.is_empty())
            .or_else(|| c.config.user.clone())
            .unwrap_or_default(),
        tty,
        stdin: cfg.attach_stdin.unwrap_or(false) && !start.detach,
        privileged: cfg.privileged.unwrap_or(false),
    };
    let dir = d.container_dir(&c.id);
    let (stream, pid) = client::exec(&dir, spec).await.map_err(|e| {
        ApiError::new(
            ErrorKind::Internal,
            format!("failed to exec in container: {e}"),
        )
    })?;
    d.execs.update(&id, |r| {
        r.started = true;
        r.running = true;
        r.pid = pid;
    });
    // Record the exit code when the stream ends.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    {
        let d = d.clone();
        let id = id.clone();
        let dir = dir.clone();
        tokio::spawn(async move {
            let _ = rx.await;
            for _ in 0..100 {
                if settle_exec(&d, &dir, &id) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            d.execs.update(&id, |r| {
                r.running = false;
                r.exit_code = Some(126);
            });
        });
    }
    if start.detach {
        tokio::spawn(async move {
            let mut s = stream;
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(&mut s, &mut sink).await;
            let _ = tx.send(());
        });
        return Ok(StatusCode::OK.into_response());
    }
    let stdin = cfg.attach_stdin.unwrap_or(false);
    Ok(hijack(
        req,
        async move { Some(stream) },
        stdin,
        tty,
        NotifyOnDrop(Some(tx)),
        None,
    ))
}

/// Records an exec's exit code once its process has written it; true when recorded.
fn settle_exec(d: &AppState, dir: &std::path::Path, id: &str) -> bool {
    let Some(exit) = client::exec_exit(dir, id) else {
        return false;
    };
    d.execs.update(id, |r| {
        r.running = false;
        r.exit_code = Some(exit.exit_code);
    });
    let _ = std::fs::remove_file(dir.join(format!("exec-{id}.json")));
    true
}

/// Tells the exec's exit-code watcher that its stream has ended.
struct NotifyOnDrop(Option<tokio::sync::oneshot::Sender<()>>);
impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

async fn exec_resize(
    State(d): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<StatusCode> {
    let rec = d.execs.get(&id).ok_or_else(|| {
        ApiError::new(ErrorKind::NotFound, format!("No such exec instance: {id}"))
    })?;
    let (h, w) = (p.int("h")?.unwrap_or(0), p.int("w")?.unwrap_or(0));
    let _ = client::call(
        &d.container_dir(&rec.container_id),
        ShimRequest::ExecResize {
            exec_id: id,
            height: h as u16,
            width: w as u16,
        },
    )
    .await;
    Ok(StatusCode::OK)
}

async fn exec_inspect(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let mut r = d.execs.get(&id).ok_or_else(|| {
        ApiError::new(ErrorKind::NotFound, format!("No such exec instance: {id}"))
    })?;
    // The client asks as soon as its stream ends, which can be before the watcher has run:
    // the exit code is already on disk then (the exec process writes it before it exits).
    if r.running {
        settle_exec(&d, &d.container_dir(&r.container_id), &id);
        r = d.execs.get(&id).unwrap_or(r);
    }
    let args = r.config.cmd.clone().unwrap_or_default();
    Ok(Json(json!({
        "ID": r.id,
        "Running": r.running,
        "ExitCode": r.exit_code,
        "ProcessConfig": {
            "tty": r.config.tty.unwrap_or(false),
            "entrypoint": args.first().cloned().unwrap_or_default(),
            "arguments": args.iter().skip(1).collect::<Vec<_>>(),
            "privileged": r.config.privileged.unwrap_or(false),
            "user": r.config.user.clone().unwrap_or_default(),
        },
        "OpenStdin": r.config.attach_stdin.unwrap_or(false),
        "OpenStderr": r.config.attach_stderr.unwrap_or(false),
        "OpenStdout": r.config.attach_stdout.unwrap_or(false),
        "CanRemove": false,
        "ContainerID": r.container_id,
        "DetachKeys": "",
        "Pid": r.pid,
    })))
}
