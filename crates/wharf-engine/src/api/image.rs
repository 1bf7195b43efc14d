//! `/images/…`: list, inspect, history, tag, remove, import (`create?fromSrc=`), load, save
//! (`get`), prune. Image names may contain `/` and `:`, so the per-image routes take the rest
//! of the path and split off the verb (moby routes them as `{name:.*}`).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bollard_stubs::models::{HistoryResponseItem, ImageDeleteResponseItem, ImageSummary};
use futures_util::TryStreamExt;
use serde_json::{json, Value};
use tokio_util::io::{ReaderStream, StreamReader, SyncIoBridge};
use wharf_image::{DeleteItem, Image, ImportOptions, PruneOptions};
use wharf_types::{ErrorKind, Reference};

use super::params::{glob_match, labels_match, Params};
use super::{blocking, stream, ApiError, ApiResult, AppState};
use crate::state::Daemon;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/create", post(create))
        .route("/images/load", post(load))
        .route("/images/get", get(save_many))
        .route("/images/prune", post(prune))
        .route("/images/search", get(search))
        .route("/auth", post(auth))
        .route(
            "/images/{*rest}",
            get(get_one).post(post_one).delete(remove),
        )
}

/// The bytes of a request body as a blocking reader, for the synchronous store.
fn body_reader(body: Body) -> SyncIoBridge<impl tokio::io::AsyncRead + Unpin> {
    let s = body.into_data_stream().map_err(std::io::Error::other);
    SyncIoBridge::new(StreamReader::new(s))
}

fn labels_of(img: &Image) -> HashMap<String, String> {
    serde_json::to_value(&img.config)
        .ok()
        .and_then(|v| v.get("config").and_then(|c| c.get("Labels")).cloned())
        .and_then(|l| serde_json::from_value(l).ok())
        .unwrap_or_default()
}

fn created_unix(img: &Image) -> i64 {
    time::OffsetDateTime::parse(&img.created, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .unwrap_or(0)
}

/// Docker's list entries. With `shared`, `SharedSize` counts layers other images also have and
/// `Containers` counts users (as `system df` wants); otherwise both are -1, as docker does.
pub fn summaries(d: &Daemon, images: &[Image], shared: bool) -> Vec<ImageSummary> {
    let mut users: HashMap<&wharf_types::Digest, usize> = HashMap::new();
    if shared {
        for img in images {
            for l in &img.layers {
                *users.entry(&l.chain_id).or_default() += 1;
            }
        }
    }
    images
        .iter()
        .map(|img| ImageSummary {
            id: img.id.to_string(),
            parent_id: img
                .parent
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            repo_tags: img.repo_tags.iter().map(|r| r.familiar_string()).collect(),
            repo_digests: img.repo_digests.clone(),
            created: created_unix(img),
            size: img.size as i64,
            shared_size: if shared {
                img.layers
                    .iter()
                    .filter(|l| users.get(&l.chain_id).copied().unwrap_or(0) > 1)
                    .map(|l| l.size as i64)
                    .sum()
            } else {
                -1
            },
            labels: labels_of(img),
            containers: if shared {
                d.image_in_use(&img.id).map_or(0, |_| 1)
            } else {
                -1
            },
            manifests: None,
            descriptor: None,
        })
        .collect()
}

async fn list(State(d): State<AppState>, p: Params) -> ApiResult<Json<Vec<ImageSummary>>> {
    let filters = p.filters()?;
    filters.only(&["reference", "dangling", "label", "before", "since", "until"])?;
    let shared = p.bool("shared-size");
    let p_all = p.bool("all");
    let dd = d.clone();
    let images = blocking(move || {
        let mut images = dd.images.list()?;
        let dangling = filters.bool("dangling")?;
        let bound = |key: &str| -> ApiResult<Option<i64>> {
            match filters.get(key).first() {
                None => Ok(None),
                Some(name) => Ok(Some(created_unix(&dd.images.resolve(name)?))),
            }
        };
        let (before, since) = (bound("before")?, bound("since")?);
        let until = match filters.get("until").first() {
            None => None,
            Some(u) => Some(parse_until(u)?),
        };
        // Intermediate images (untagged parents of other images, as builds leave) show only
        // with `all`, and are not dangling, as in docker.
        let parents: std::collections::HashSet<wharf_types::Digest> =
            images.iter().filter_map(|i| i.parent.clone()).collect();
        let all = p_all;
        images.retain(|img| {
            let created = created_unix(img);
            let intermediate = img.repo_tags.is_empty() && parents.contains(&img.id);
            (all || !intermediate)
                && dangling.is_none_or(|want| (img.repo_tags.is_empty() && !intermediate) == want)
                && labels_match(filters.get("label"), &labels_of(img))
                && before.is_none_or(|b| created < b)
                && since.is_none_or(|s| created > s)
                && until.is_none_or(|u| created < u)
        });
        let refs = filters.get("reference");
        if !refs.is_empty() {
            // Like docker: keep the matching tags only, and drop images with none left.
            for img in images.iter_mut() {
                img.repo_tags.retain(|r| {
                    refs.iter().any(|pat| {
                        glob_match(pat, &r.familiar_name()) || glob_match(pat, &r.familiar_string())
                    })
                });
            }
            images.retain(|img| !img.repo_tags.is_empty());
        }
        Ok(images)
    })
    .await?;
    Ok(Json(summaries(&d, &images, shared)))
}

/// `until` is a unix timestamp, an RFC 3339 time, or a Go duration ("24h", "10m").
fn parse_until(s: &str) -> ApiResult<i64> {
    if let Ok(n) = s.parse::<f64>() {
        return Ok(n as i64);
    }
    if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let bad = || ApiError::invalid(format!("invalid filter 'until={s}'"));
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(bad)?);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    Ok(now - secs as i64)
}

/// `GET /images/search?term=&limit=&filters=` (`docker search`; see `crate::pull::search`).
async fn search(
    headers: axum::http::HeaderMap,
    p: Params,
) -> ApiResult<Json<Vec<crate::pull::search::SearchResult>>> {
    let term = p.str("term").to_string();
    let limit = match p.str("limit") {
        "" => 25,
        l => l
            .parse::<i64>()
            .map_err(|_| ApiError::invalid(format!("invalid limit {l:?}")))?,
    };
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit {limit} is outside the range of [1, 100]"
        )));
    }
    let filters = p.filters()?;
    filters.only(&["is-automated", "is-official", "stars"])?;
    let official = filters.bool("is-official")?;
    let automated = filters.bool("is-automated")?;
    let stars = match filters.get("stars").first() {
        None => 0,
        Some(s) => s
            .parse::<i64>()
            .map_err(|_| ApiError::invalid(format!("invalid filter 'stars={s}'")))?,
    };
    let mut results =
        crate::pull::search::search(&term, limit as usize, registry_auth(&headers)).await?;
    results.retain(|r| {
        official.is_none_or(|o| r.is_official == o)
            && automated.is_none_or(|a| r.is_automated == a)
            && r.star_count >= stars
    });
    Ok(Json(results))
}

/// `POST /auth` (`docker login`): checks the credentials against the registry
/// (see `crate::pull::login`); `IdentityToken` is the refresh token the registry's token
/// server gave, which docker's CLI then stores instead of the password.
async fn auth(Json(body): Json<Value>) -> Response {
    let field = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (user, password, server) = (field("username"), field("password"), field("serveraddress"));
    let identity_token = field("identitytoken");
    let insecure = crate::pull::http::insecure_registries();
    match crate::pull::login::login(&server, &user, &password, &identity_token, &insecure).await {
        Ok(token) => {
            Json(json!({"Status": "Login Succeeded", "IdentityToken": token})).into_response()
        }
        Err(e) if e.unauthorized => (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "message": e.error.message })),
        )
            .into_response(),
        Err(e) => ApiError::from(e.error).into_response(),
    }
}

async fn get_one(State(d): State<AppState>, Path(rest): Path<String>) -> Response {
    let r = if let Some(name) = rest.strip_suffix("/json") {
        inspect(d, name.to_string())
            .await
            .map(IntoResponse::into_response)
    } else if let Some(name) = rest.strip_suffix("/history") {
        history(d, name.to_string())
            .await
            .map(IntoResponse::into_response)
    } else if let Some(name) = rest.strip_suffix("/get") {
        save(d, vec![name.to_string()]).await
    } else {
        Err(ApiError::new(
            ErrorKind::NotFound,
            format!("page not found: GET /images/{rest}"),
        ))
    };
    r.unwrap_or_else(IntoResponse::into_response)
}

async fn post_one(
    State(d): State<AppState>,
    Path(rest): Path<String>,
    headers: axum::http::HeaderMap,
    p: Params,
) -> Response {
    let r = if let Some(name) = rest.strip_suffix("/tag") {
        tag(d, name.to_string(), p).await
    } else if let Some(name) = rest.strip_suffix("/push") {
        push(d, name, &headers, p).await
    } else {
        Err(ApiError::new(
            ErrorKind::NotFound,
            format!("page not found: POST /images/{rest}"),
        ))
    };
    r.unwrap_or_else(IntoResponse::into_response)
}

/// The credentials in a request's `X-Registry-Auth` header, if any.
fn registry_auth(headers: &axum::http::HeaderMap) -> Option<crate::pull::RegistryAuth> {
    headers
        .get("x-registry-auth")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::pull::registry_auth)
}

/// `POST /images/{name}/push?tag=`: docker's progress stream (see `crate::push`); no tag
/// pushes every tag of the repository.
async fn push(
    d: AppState,
    name: &str,
    headers: &axum::http::HeaderMap,
    p: Params,
) -> ApiResult<Response> {
    let r = crate::push::push_reference(name, p.str("tag"))?;
    let auth = registry_auth(headers);
    let (tx, rx) = stream::channel();
    tokio::spawn(async move {
        if let Err(e) = crate::push::push(d, r, auth, tx.clone()).await {
            tx.fail_async(e).await;
        }
    });
    Ok(stream::respond(rx).await)
}

async fn inspect(d: AppState, name: String) -> ApiResult<Json<Value>> {
    blocking(move || {
        let img = d.images.resolve(&name)?;
        let raw: Value = serde_json::from_slice(&d.images.config_bytes(&img.id)?)
            .map_err(|e| ApiError::internal(format!("corrupt image config {}: {e}", img.id)))?;
        let dirs = d.images.layer_dirs(&img.id)?;
        let lower = dirs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":");
        let field = |k: &str| raw.get(k).cloned().unwrap_or(Value::Null);
        let str_field = |k: &str| raw.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Ok(Json(json!({
            "Id": img.id.to_string(),
            "RepoTags": img.repo_tags.iter().map(|r| r.familiar_string()).collect::<Vec<_>>(),
            "RepoDigests": img.repo_digests,
            "Parent": img.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
            "Comment": str_field("comment"),
            "Created": if img.created.is_empty() { Value::Null } else { Value::String(img.created.clone()) },
            "DockerVersion": str_field("docker_version"),
            "Author": str_field("author"),
            "Config": field("config"),
            "Architecture": str_field("architecture"),
            "Variant": raw.get("variant").cloned(),
            "Os": str_field("os"),
            "Size": img.size,
            "GraphDriver": { "Name": "overlayfs", "Data": { "LowerDir": lower } },
            "RootFS": {
                "Type": "layers",
                "Layers": img.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
            },
            "Metadata": { "LastTagTime": "0001-01-01T00:00:00Z" },
        })))
    })
    .await
}

async fn history(d: AppState, name: String) -> ApiResult<Json<Vec<HistoryResponseItem>>> {
    blocking(move || {
        let img = d.images.resolve(&name)?;
        let items = d.images.history(&img.id)?;
        Ok(Json(
            items
                .into_iter()
                .map(|h| HistoryResponseItem {
                    id: h.id,
                    created: h.created,
                    created_by: h.created_by,
                    tags: h.tags,
                    size: h.size as i64,
                    comment: h.comment,
                })
                .collect(),
        ))
    })
    .await
}

async fn tag(d: AppState, name: String, p: Params) -> ApiResult<Response> {
    let repo = p.str("repo").to_string();
    let tag = p.str("tag").to_string();
    if repo.is_empty() {
        return Err(ApiError::invalid(
            "repository name must have at least one component",
        ));
    }
    let named = Reference::parse_named(&repo)?;
    if named.digest.is_some() {
        return Err(ApiError::invalid(
            "refusing to create a tag with a digest reference",
        ));
    }
    let target = if !tag.is_empty() {
        named.with_tag(&tag)?
    } else if named.tag.is_some() {
        named
    } else {
        named.with_tag("latest")?
    };
    blocking(move || Ok(d.images.tag(&name, &target)?)).await?;
    Ok(StatusCode::CREATED.into_response())
}

async fn remove(
    State(d): State<AppState>,
    Path(name): Path<String>,
    p: Params,
) -> ApiResult<Json<Vec<ImageDeleteResponseItem>>> {
    let (force, prune) = (p.bool("force"), !p.bool("noprune"));
    blocking(move || {
        let dd = d.clone();
        let items = d
            .images
            .remove(&name, force, prune, &|id| dd.image_in_use(id))?;
        Ok(Json(items.into_iter().map(delete_item).collect()))
    })
    .await
}

fn delete_item(i: DeleteItem) -> ImageDeleteResponseItem {
    match i {
        DeleteItem::Untagged(s) => ImageDeleteResponseItem {
            untagged: Some(s),
            deleted: None,
        },
        DeleteItem::Deleted(s) => ImageDeleteResponseItem {
            untagged: None,
            deleted: Some(s),
        },
    }
}

/// `POST /images/create`: `fromSrc=-` imports the body as a root filesystem (`docker import`);
/// `fromImage=` pulls from a registry (see `crate::pull`).
async fn create(
    State(d): State<AppState>,
    headers: axum::http::HeaderMap,
    p: Params,
    body: Body,
) -> ApiResult<Response> {
    if !p.str("fromImage").is_empty() {
        let auth = registry_auth(&headers);
        let r = crate::pull::pull_reference(p.str("fromImage"), p.str("tag"))?;
        let platform = match p.str("platform") {
            "" => None,
            pl => Some(
                crate::pull::Platform::parse(pl)
                    .ok_or_else(|| ApiError::invalid(format!("invalid platform {pl:?}")))?,
            ),
        };
        let (tx, rx) = stream::channel();
        tokio::spawn(async move {
            if let Err(e) = crate::pull::pull(d, r, platform, auth, tx.clone()).await {
                tx.fail_async(e).await;
            }
        });
        return Ok(stream::respond(rx).await);
    }
    let src = p.str("fromSrc");
    if src != "-" {
        return Err(ApiError::invalid(if src.is_empty() {
            "one of fromImage or fromSrc is required".to_string()
        } else {
            format!("importing from a URL is not supported: {src}")
        }));
    }
    let reference = match (p.str("repo"), p.str("tag")) {
        ("", _) => None,
        (repo, "") => Some(Reference::parse_normalized(repo)?),
        (repo, tag) => Some(Reference::parse_named(repo)?.with_tag(tag)?),
    };
    let (os, architecture) = match p.str("platform") {
        "" => (
            "linux".to_string(),
            std::env::consts::ARCH
                .replace("x86_64", "amd64")
                .replace("aarch64", "arm64"),
        ),
        pl => {
            let mut it = pl.split('/');
            let os = it.next().unwrap_or("linux").to_string();
            let arch = it
                .next()
                .ok_or_else(|| ApiError::invalid(format!("invalid platform {pl:?}")))?;
            (os, arch.to_string())
        }
    };
    let opts = ImportOptions {
        changes: p.all("changes").into_iter().map(str::to_string).collect(),
        message: p.str("message").to_string(),
        reference,
        os,
        architecture,
    };
    let mut reader = body_reader(body);
    let (tx, rx) = stream::channel();
    tokio::task::spawn_blocking(move || match d.images.import(&mut reader, &opts) {
        Ok(id) => tx.status(&id.to_string()),
        Err(e) => tx.fail(e.into()),
    });
    Ok(stream::respond(rx).await)
}

async fn load(State(d): State<AppState>, p: Params, body: Body) -> Response {
    let quiet = p.bool("quiet");
    let mut reader = body_reader(body);
    let (tx, rx) = stream::channel();
    tokio::task::spawn_blocking(move || {
        let progress = tx.clone();
        let mut on_line = |line: &str| {
            if !quiet || line.starts_with("Loaded") {
                progress.stream_line(line)
            }
        };
        if let Err(e) = d.images.load(&mut reader, &mut on_line) {
            tx.fail(e.into());
        }
    });
    stream::respond(rx).await
}

async fn save_many(State(d): State<AppState>, p: Params) -> Response {
    let names = p.all("names").into_iter().map(str::to_string).collect();
    save(d, names)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Streams a docker-archive. Names are checked first, so an unknown one is a 404, not a
/// truncated tar.
async fn save(d: AppState, names: Vec<String>) -> ApiResult<Response> {
    if names.is_empty() {
        return Err(ApiError::invalid("no images named"));
    }
    let dd = d.clone();
    let check = names.clone();
    blocking(move || {
        for n in &check {
            dd.images.resolve(n)?;
        }
        Ok(())
    })
    .await?;
    let (w, r) = tokio::io::duplex(1 << 20);
    let mut w = SyncIoBridge::new(w);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = d.images.save(&names, &mut w) {
            tracing::warn!(error = %e, "save failed mid-stream");
        }
    });
    Ok((
        [(CONTENT_TYPE, "application/x-tar")],
        Body::from_stream(ReaderStream::with_capacity(r, 1 << 18)),
    )
        .into_response())
}

async fn prune(State(d): State<AppState>, p: Params) -> ApiResult<Json<Value>> {
    let filters = p.filters()?;
    filters.only(&["dangling", "until", "label", "label!"])?;
    let all = filters.bool("dangling")? == Some(false);
    let until = match filters.get("until").first() {
        None => None,
        Some(u) => Some(parse_until(u)?),
    };
    let mut labels: Vec<String> = filters.get("label").to_vec();
    labels.extend(filters.get("label!").iter().map(|l| format!("!{l}")));
    let opts = PruneOptions { all, until, labels };
    blocking(move || {
        let dd = d.clone();
        let report = d.images.prune(&opts, &|id| dd.image_in_use(id))?;
        let deleted: Vec<ImageDeleteResponseItem> =
            report.deleted.into_iter().map(delete_item).collect();
        Ok(Json(json!({
            "ImagesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
            "SpaceReclaimed": report.space_reclaimed,
        })))
    })
    .await
}
