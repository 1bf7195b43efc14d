//! `POST /build` (the classic builder's endpoint: the context as a tar body, progress as a JSON
//! message stream) and `POST /build/prune`.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::AsFd;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures_util::TryStreamExt;
use serde_json::{json, Value};
use tokio_util::io::{StreamReader, SyncIoBridge};
use wharf_types::Reference;

use super::params::Params;
use super::{blocking, stream, ApiError, ApiResult, AppState};
use crate::build::{self, BuildOptions};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/build", post(build_image))
        .route("/build/prune", post(prune))
}

fn json_param<T: serde::de::DeserializeOwned + Default>(p: &Params, key: &str) -> ApiResult<T> {
    match p.get(key).filter(|s| !s.is_empty()) {
        None => Ok(T::default()),
        Some(s) => {
            serde_json::from_str(s).map_err(|e| ApiError::invalid(format!("invalid {key}: {e}")))
        }
    }
}

fn options(p: &Params, headers: &HeaderMap) -> ApiResult<BuildOptions> {
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
    if p.get("version") == Some("2") {
        return Err(ApiError::invalid(
            "BuildKit sessions are not supported: this daemon builds with the classic builder API (set DOCKER_BUILDKIT=0)",
        ));
    }
    if let Some(pl) = p.get("platform").filter(|s| !s.is_empty()) {
        let host = if cfg!(target_arch = "aarch64") {
            "arm64"
        } else {
            "amd64"
        };
        if pl != format!("linux/{host}") && pl != "linux" {
            return Err(ApiError::invalid(format!(
                "building for platform {pl} is not supported on this linux/{host} daemon"
            )));
        }
    }
    let mut tags = Vec::new();
    for t in p.all("t") {
        tags.push(Reference::parse_normalized(t)?);
    }
    let build_args: HashMap<String, Option<String>> = json_param(p, "buildargs")?;
    let labels: BTreeMap<String, String> = json_param(p, "labels")?;
    Ok(BuildOptions {
        dockerfile: match p.str("dockerfile") {
            "" => "Dockerfile".into(),
            f => f.to_string(),
        },
        tags,
        build_args,
        target: p.get("target").map(str::to_string),
        no_cache: p.bool("nocache"),
        pull: p.bool("pull"),
        labels,
        quiet: p.bool("q"),
        network_mode: p.get("networkmode").map(str::to_string),
        events: p.bool("wharfprogress"),
        secrets: build::secrets::parse_secrets(header("x-wharf-build-secrets"))?,
        ssh: build::secrets::parse_ssh(header("x-wharf-build-ssh"))?,
    })
}

async fn build_image(
    State(d): State<AppState>,
    headers: HeaderMap,
    p: Params,
    body: Body,
) -> Response {
    let opts = match options(&p, &headers) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let work = d
        .data_root
        .join("build")
        .join(&wharf_types::id::random_id()[..16]);
    let ctx = work.join("context");
    // The context: a tar (plain, gzip or zstd) extracted with the same hostile-archive rules
    // as `docker cp`; a body that is not a tar is taken as the Dockerfile itself.
    let s = body.into_data_stream().map_err(std::io::Error::other);
    let mut reader = SyncIoBridge::new(StreamReader::new(s));
    let dfname = opts.dockerfile.clone();
    let c2 = ctx.clone();
    let unpacked = blocking(move || {
        use std::io::Read;
        std::fs::create_dir_all(&c2).map_err(|e| ApiError::internal(e.to_string()))?;
        let mut buf = std::io::BufReader::with_capacity(256 * 1024, &mut reader);
        let mut r = wharf_image::decompressed(&mut buf)?;
        let mut head = Vec::with_capacity(512);
        (&mut r)
            .take(512)
            .read_to_end(&mut head)
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        let is_tar = head.len() >= 262 && &head[257..262] == b"ustar"
            || head.is_empty()
            || (head.len() == 512 && head.iter().all(|b| *b == 0));
        if !is_tar {
            let mut rest = Vec::new();
            r.read_to_end(&mut rest)
                .map_err(|e| ApiError::invalid(e.to_string()))?;
            head.extend(rest);
            std::fs::write(c2.join(&dfname), head)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            return Ok(());
        }
        let chained = std::io::Cursor::new(head).chain(r);
        let root = rustix::fs::open(
            &c2,
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| ApiError::internal(e.to_string()))?;
        crate::container::fs::extract(root.as_fd(), "/", chained, false, true)?;
        Ok(())
    })
    .await;
    if let Err(e) = unpacked {
        let _ = crate::container::remove_dir_all_no_follow(&work);
        return e.into_response();
    }
    let (tx, rx) = stream::channel();
    tokio::spawn(async move {
        let r = build::build(d.clone(), ctx, work.clone(), opts, tx.clone()).await;
        let w = work.clone();
        let _ = tokio::task::spawn_blocking(move || {
            crate::container::unmount_under(&w);
            crate::container::remove_dir_all_no_follow(&w)
        })
        .await;
        if let Err(e) = r {
            tx.fail_async(e).await;
        }
    });
    stream::respond(rx).await
}

async fn prune(State(d): State<AppState>) -> ApiResult<Json<Value>> {
    let n = blocking(move || build::prune_cache(&d)).await?;
    Ok(Json(json!({
        "CachesDeleted": Value::Null,
        "SpaceReclaimed": 0,
        "Entries": n,
    })))
}
