//! `/volumes`: list, create, inspect, remove and prune (moby `router/volume`).

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::params::{labels_match, Params};
use super::{blocking, ApiError, ApiResult, AppState};
use crate::volume::Volume;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: Option<String>,
    driver: Option<String>,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

fn std_labels(v: &Volume) -> std::collections::HashMap<String, String> {
    v.labels.clone().into_iter().collect()
}

async fn list(State(d): State<AppState>, p: Params) -> ApiResult<Json<Value>> {
    let filters = p.filters()?;
    filters.only(&["dangling", "name", "label", "driver"])?;
    let dangling = filters.bool("dangling")?;
    let refs = d.volume_ref_counts();
    let vols: Vec<Value> = d
        .volumes
        .list()
        .into_iter()
        .filter(|v| {
            dangling.is_none_or(|want| refs.contains_key(&v.name) != want)
                && filters
                    .get("name")
                    .iter()
                    .all(|n| v.name.contains(n.as_str()))
                && filters.get("driver").iter().all(|x| &v.driver == x)
                && labels_match(filters.get("label"), &std_labels(v))
        })
        .map(|v| d.volumes.to_json(&v))
        .collect();
    Ok(Json(json!({ "Volumes": vols, "Warnings": [] })))
}

async fn create(State(d): State<AppState>, body: Body) -> ApiResult<Response> {
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| ApiError::invalid(format!("failed to read the request body: {e}")))?;
    let b: CreateBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        CreateBody::default()
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))?
    };
    let dd = d.clone();
    let v = blocking(move || {
        dd.volumes
            .create(
                b.name.as_deref(),
                b.driver.as_deref(),
                b.labels.unwrap_or_default(),
                b.driver_opts.unwrap_or_default(),
            )
            .map(|(v, _)| v)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(d.volumes.to_json(&v))).into_response())
}

async fn inspect(State(d): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let v = d.volumes.get(&name)?;
    Ok(Json(d.volumes.to_json(&v)))
}

async fn remove(
    State(d): State<AppState>,
    Path(name): Path<String>,
    p: Params,
) -> ApiResult<StatusCode> {
    let force = p.bool("force");
    blocking(move || d.remove_volume(&name, force)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unused volumes; by default only anonymous ones (docker ≥ 23), all with `all=true`.
async fn prune(State(d): State<AppState>, p: Params) -> ApiResult<Json<Value>> {
    let filters = p.filters()?;
    filters.only(&["all", "label", "label!"])?;
    let all = filters.bool("all")?.unwrap_or(false);
    let dd = d.clone();
    let (deleted, reclaimed) = blocking(move || {
        let refs = dd.volume_ref_counts();
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for v in dd.volumes.list() {
            if refs.contains_key(&v.name) || (!all && !v.is_anonymous()) {
                continue;
            }
            let labels = std_labels(&v);
            if !labels_match(filters.get("label"), &labels)
                || filters
                    .get("label!")
                    .iter()
                    .any(|l| labels_match(std::slice::from_ref(l), &labels))
            {
                continue;
            }
            let size = super::container::dir_size(&dd.volumes.mountpoint(&v.name));
            match dd.volumes.remove(&v.name) {
                Ok(()) => {
                    reclaimed += size;
                    deleted.push(v.name);
                }
                Err(e) => tracing::warn!(volume = v.name, error = %e, "prune: failed to remove"),
            }
        }
        Ok((deleted, reclaimed))
    })
    .await?;
    Ok(Json(json!({
        "VolumesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
        "SpaceReclaimed": reclaimed,
    })))
}

/// `system df`'s `Volumes` and `VolumesDiskUsage`.
pub fn disk_usage(d: &crate::state::Daemon) -> (Vec<Value>, Value) {
    let refs = d.volume_ref_counts();
    let (mut active, mut total, mut reclaimable) = (0, 0u64, 0u64);
    let mut out = Vec::new();
    let vols = d.volumes.list();
    for v in &vols {
        let size = super::container::dir_size(&d.volumes.mountpoint(&v.name));
        let rc = refs.get(&v.name).copied().unwrap_or(0);
        total += size;
        if rc > 0 {
            active += 1;
        } else {
            reclaimable += size;
        }
        let mut j = d.volumes.to_json(v);
        j["UsageData"] = json!({ "Size": size, "RefCount": rc });
        out.push(j);
    }
    let summary = json!({
        "ActiveCount": active, "TotalCount": vols.len(), "Reclaimable": reclaimable, "TotalSize": total,
    });
    (out, summary)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn call(d: &AppState, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body.to_string()))
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
    async fn create_list_inspect_remove() {
        let dir = tempfile::tempdir().unwrap();
        let d: AppState = Arc::new(crate::state::Daemon::open(dir.path()).unwrap());
        let (s, v) = call(
            &d,
            "POST",
            "/v1.45/volumes/create",
            r#"{"Name":"data","Labels":{"a":"b"}}"#,
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(v["Name"], "data");
        assert_eq!(v["Driver"], "local");
        assert_eq!(v["Scope"], "local");
        assert!(v["Mountpoint"]
            .as_str()
            .unwrap()
            .ends_with("/volumes/data/_data"));
        let (s, v) = call(&d, "POST", "/volumes/create", r#"{"Name":"a/b"}"#).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        let (s, v) = call(
            &d,
            "GET",
            "/volumes?filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D",
            "",
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["Volumes"].as_array().unwrap().len(), 1);
        assert_eq!(v["Warnings"], json!([]));
        let (s, _) = call(&d, "GET", "/volumes/nope", "").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        // Named volumes survive a default prune; `all=true` takes them.
        let (_, v) = call(&d, "POST", "/volumes/prune", "").await;
        assert_eq!(v["VolumesDeleted"], Value::Null);
        let (s, _) = call(&d, "DELETE", "/volumes/data", "").await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = call(&d, "DELETE", "/volumes/data", "").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
}
