//! `docker push`: sends an image's layers, config and manifest to a registry, reporting
//! docker's JSON progress ("The push refers to repository […]", per layer "Preparing",
//! "Pushing", "Pushed" / "Layer already exists" / "Mounted from …", then `TAG: digest: …
//! size: N` and the `aux` message docker's CLI reads).
//!
//! Layers are sent in the compressed form the manifest names. The image store keeps layers
//! uncompressed, so that form comes from the distribution cache ([`cache::DistCache`]): the
//! blobs an image was pulled as (then the manifest pushed is the very one pulled, same
//! digest), or a gzip made once, deterministically, for layers built or loaded here.

pub mod cache;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::http::{header, Method, StatusCode};
use bytes::Bytes;
use serde_json::json;
use wharf_types::{Digest, ErrorKind, Reference};

use crate::api::stream::Progress;
use crate::api::ApiError;
use crate::pull::http::Client;
use crate::pull::registry_endpoint;
use crate::pull::upload::{self, push_blob, registry_error, Blob, Outcome};
use crate::pull::RegistryAuth;
use crate::state::Daemon;
use cache::{DistCache, LayerInfo, Source};

/// Layers sent at the same time (docker's default `max-concurrent-uploads` is 5).
const PARALLEL: usize = 4;

const SCHEMA2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const SCHEMA2_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The image a tag names, and what it is made of.
struct Target {
    tag: String,
    id: Digest,
    config: Vec<u8>,
    diff_ids: Vec<Digest>,
    stored_manifest: Option<(Vec<u8>, String)>,
}

/// Parses the push route's name (`repo` or `repo:tag`) and `tag` parameter.
pub fn push_reference(name: &str, tag: &str) -> Result<Reference, ApiError> {
    let named = Reference::parse_named(name)?;
    if named.digest.is_some() {
        return Err(ApiError::invalid("cannot push a digest reference"));
    }
    if tag.is_empty() {
        return Ok(named);
    }
    Ok(named.name_only().with_tag(tag)?)
}

/// Pushes `r` (all its tags when it has none) from the daemon's store.
pub async fn push(
    d: Arc<Daemon>,
    r: Reference,
    auth: Option<RegistryAuth>,
    tx: Progress,
) -> Result<(), ApiError> {
    let cache = Arc::new(DistCache::new(&d.data_root));
    let targets = {
        let (d, r, cache) = (d.clone(), r.clone(), cache.clone());
        tokio::task::spawn_blocking(move || targets(&d, &r, &cache)).await??
    };
    let ep = registry_endpoint(&r).await?;
    // Other repositories of this registry known to hold our layers: token scopes to mount.
    let mut extra = Vec::new();
    for t in &targets {
        for dl in &t.diff_ids {
            if let Some(info) = cache.layer(dl) {
                for s in info.sources {
                    let scope = format!("repository:{}:pull", s.repository);
                    if s.registry == ep.host && s.repository != r.path && !extra.contains(&scope) {
                        extra.push(scope);
                    }
                }
            }
        }
    }
    extra.truncate(8);
    let client = Client::with_scope(ep, &r, auth, "pull,push", extra);
    tx.send_async(json!({"status": format!("The push refers to repository [{}]", r.name())}))
        .await;
    for t in targets {
        push_one(&d, &client, &cache, &r, t, &tx).await?;
    }
    Ok(())
}

/// The tag asked for, or every tag of the repository.
fn targets(d: &Daemon, r: &Reference, cache: &DistCache) -> Result<Vec<Target>, ApiError> {
    cache.sweep();
    let not_found = || {
        ApiError::new(
            ErrorKind::NotFound,
            format!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name()
            ),
        )
    };
    let mut tagged: Vec<(String, Digest)> = Vec::new();
    if let Some(tag) = &r.tag {
        let img = d.images.resolve(&r.to_string()).map_err(|_| not_found())?;
        tagged.push((tag.clone(), img.id));
    } else {
        for img in d.images.list()? {
            for t in &img.repo_tags {
                if t.name_only() == r.name_only() {
                    if let Some(tag) = &t.tag {
                        tagged.push((tag.clone(), img.id.clone()));
                    }
                }
            }
        }
        tagged.sort();
        if tagged.is_empty() {
            return Err(not_found());
        }
    }
    tagged
        .into_iter()
        .map(|(tag, id)| {
            let img = d.images.get(&id)?;
            Ok(Target {
                tag,
                config: d.images.config_bytes(&id)?,
                diff_ids: img.layers.iter().map(|l| l.diff_id.clone()).collect(),
                stored_manifest: cache.manifest(&id),
                id,
            })
        })
        .collect()
}

fn layer_msg(status: &str, id: &str) -> serde_json::Value {
    json!({"status": status, "progressDetail": {}, "id": id})
}

/// The manifest an image was pulled/pushed as, when its layers are the ones we send.
fn reuse_manifest(
    stored: &Option<(Vec<u8>, String)>,
    infos: &[LayerInfo],
) -> Option<(Vec<u8>, String)> {
    let (bytes, mt) = stored.as_ref()?;
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let layers = v.get("layers")?.as_array()?;
    let same = layers.len() == infos.len()
        && layers
            .iter()
            .zip(infos)
            .all(|(l, i)| l.get("digest").and_then(|d| d.as_str()) == Some(i.digest.as_str()));
    same.then(|| (bytes.clone(), mt.clone()))
}

/// A Docker v2 schema 2 manifest for `config` and `layers` (deterministic bytes).
fn make_manifest(config: &[u8], infos: &[LayerInfo]) -> Vec<u8> {
    let m = json!({
        "schemaVersion": 2,
        "mediaType": SCHEMA2,
        "config": {
            "mediaType": SCHEMA2_CONFIG,
            "size": config.len(),
            "digest": Digest::of(config).to_string(),
        },
        "layers": infos.iter().map(|i| json!({
            "mediaType": i.media_type,
            "size": i.size,
            "digest": i.digest,
        })).collect::<Vec<_>>(),
    });
    serde_json::to_vec_pretty(&m).unwrap_or_default()
}

/// docker's progress bar text: `[=====>     ]  12.5MB/40MB`.
fn progress_bar(n: u64, total: u64) -> String {
    fn human(b: u64) -> String {
        let b = b as f64;
        match b {
            _ if b >= 1e9 => format!("{:.3}GB", b / 1e9),
            _ if b >= 1e6 => format!("{:.3}MB", b / 1e6),
            _ if b >= 1e3 => format!("{:.3}kB", b / 1e3),
            _ => format!("{b}B"),
        }
    }
    if total == 0 {
        return human(n);
    }
    let width = 50;
    let done = ((n.min(total) as f64 / total as f64) * width as f64) as usize;
    let bar = if done >= width {
        "=".repeat(width)
    } else {
        format!("{}>{}", "=".repeat(done), " ".repeat(width - done - 1))
    };
    format!("[{bar}] {:>9}/{}", human(n), human(total))
}

/// A layer whose compressed form is known: HEAD, mount or upload from the cache.
async fn push_known(
    client: &Client,
    cache: &Arc<DistCache>,
    repo: &str,
    host: &str,
    info: LayerInfo,
    sent: Arc<AtomicU64>,
) -> Result<(Outcome, LayerInfo), ApiError> {
    let digest: Digest = info
        .digest
        .parse()
        .map_err(|_| ApiError::internal(format!("bad cached digest {}", info.digest)))?;
    let mounts: Vec<String> = info
        .sources
        .iter()
        .rev()
        .filter(|s| s.registry == host && s.repository != repo)
        .map(|s| s.repository.clone())
        .collect();
    let outcome = push_blob(
        client,
        repo,
        &digest,
        info.size,
        Blob::File(cache.blob_path(&digest)),
        &mounts,
        sent,
    )
    .await?;
    Ok((outcome, info))
}

/// Sets its flag when dropped.
struct StopOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A layer never compressed here: gzip'd on the blocking pool while it is uploaded (one
/// streaming `PATCH`), and kept in the cache for the next push.
async fn push_compressing(
    client: &Client,
    cache: &Arc<DistCache>,
    repo: &str,
    diff_id: &Digest,
    sent: Arc<AtomicU64>,
) -> Result<(Outcome, LayerInfo), ApiError> {
    use http_body_util::BodyExt;
    const CHUNK: usize = 256 * 1024;
    let (btx, brx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    // Set when the upload failed for good. A request that merely broke off leaves it unset:
    // the compression goes on into the cache, and the upload resumes from the cached file.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producer = {
        let (cache, dl, stop) = (cache.clone(), diff_id.clone(), stop.clone());
        tokio::task::spawn_blocking(move || {
            let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
            let mut detached = false;
            let res = {
                let mut sink = |chunk: &[u8]| {
                    buf.extend_from_slice(chunk);
                    if buf.len() < CHUNK {
                        return !stop.load(Ordering::Relaxed);
                    }
                    let full = std::mem::replace(&mut buf, Vec::with_capacity(CHUNK));
                    if !detached && btx.blocking_send(Ok(Bytes::from(full))).is_err() {
                        detached = true; // the request is gone; keep compressing for a resume
                    }
                    !stop.load(Ordering::Relaxed)
                };
                let mut progress = |n: u64| {
                    sent.fetch_add(n, Ordering::Relaxed);
                };
                cache.compress(&dl, &mut sink, &mut progress)
            };
            match &res {
                Ok(_) if !buf.is_empty() && !detached => {
                    let _ = btx.blocking_send(Ok(Bytes::from(buf)));
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = btx.blocking_send(Err(std::io::Error::other(e.message.clone())));
                }
            }
            res
        })
    };
    let stream = futures_util::stream::unfold(brx, |mut rx| async move {
        rx.recv()
            .await
            .map(|r| (r.map(hyper::body::Frame::data), rx))
    });
    let body = BodyExt::boxed(http_body_util::StreamBody::new(stream));
    let done = async {
        let res = async {
            let info = producer.await??;
            let digest = info
                .digest
                .parse::<Digest>()
                .map_err(|_| ApiError::internal(format!("bad digest {}", info.digest)))?;
            let path = cache.blob_path(&digest);
            Ok::<_, ApiError>((digest, path, info.size))
        };
        res.await
            .map_err(|e| crate::pull::Error::new(e.kind, e.message))
    };
    let what = format!("layer {}", diff_id.short());
    // an abandoned push (another layer failed, the client went away) stops the compression
    let _stop_on_drop = StopOnDrop(stop.clone());
    upload::push_streamed(client, repo, &what, body, stop, done).await?;
    let info = {
        let (cache, dl) = (cache.clone(), diff_id.clone());
        tokio::task::spawn_blocking(move || cache.layer(&dl)).await?
    }
    .ok_or_else(|| ApiError::internal(format!("layer {diff_id} vanished from the cache")))?;
    Ok((Outcome::Pushed, info))
}

async fn push_one(
    d: &Daemon,
    client: &Client,
    cache: &Arc<DistCache>,
    r: &Reference,
    t: Target,
    tx: &Progress,
) -> Result<(), ApiError> {
    let host = client.endpoint().host.clone();
    let ids: Vec<String> = t.diff_ids.iter().map(|d| d.short().to_string()).collect();
    // docker lists the top layer first
    for id in ids.iter().rev() {
        tx.send_async(layer_msg("Preparing", id)).await;
    }
    let sem = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut set = tokio::task::JoinSet::new();
    for (i, diff_id) in t.diff_ids.iter().cloned().enumerate() {
        let (client, cache, tx, sem) = (client.clone(), cache.clone(), tx.clone(), sem.clone());
        let (repo, host, id) = (r.path.clone(), host.clone(), ids[i].clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let known = {
                let (cache, dl) = (cache.clone(), diff_id.clone());
                tokio::task::spawn_blocking(move || (cache.layer(&dl), cache.plain_size(&dl)))
                    .await?
            };
            let sent = Arc::new(AtomicU64::new(0));
            let total = known.0.as_ref().map_or(known.1, |i| i.size);
            let ticker = {
                let (sent, tx, id) = (sent.clone(), tx.clone(), id.clone());
                tokio::spawn(async move {
                    let mut last = 0;
                    loop {
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        let n = sent.load(Ordering::Relaxed);
                        if n != last {
                            last = n;
                            tx.send_async(json!({
                                "status": "Pushing",
                                "progressDetail": {"current": n, "total": total},
                                "progress": progress_bar(n, total),
                                "id": id,
                            }))
                            .await;
                        }
                    }
                })
            };
            let res = match known.0 {
                Some(info) => {
                    let r = push_known(&client, &cache, &repo, &host, info, sent.clone()).await;
                    if r.as_ref()
                        .is_err_and(|e| e.message.contains("digest_invalid"))
                    {
                        // the cached blob does not hash to its name: never send it again
                        let (cache, dl) = (cache.clone(), diff_id.clone());
                        tokio::task::spawn_blocking(move || cache.forget(&dl)).await?;
                    }
                    r
                }
                None => push_compressing(&client, &cache, &repo, &diff_id, sent.clone()).await,
            };
            ticker.abort();
            let (outcome, info) = res?;
            let status = match outcome {
                Outcome::Exists => "Layer already exists".to_string(),
                Outcome::Mounted(from) => format!("Mounted from {from}"),
                Outcome::Pushed => "Pushed".to_string(),
            };
            tx.send_async(layer_msg(&status, &id)).await;
            Ok::<_, ApiError>((i, info))
        });
    }
    let mut infos: Vec<Option<LayerInfo>> = vec![None; t.diff_ids.len()];
    while let Some(res) = set.join_next().await {
        match res? {
            Ok((i, info)) => infos[i] = Some(info),
            Err(e) => {
                set.abort_all();
                return Err(e);
            }
        }
    }
    let infos: Vec<LayerInfo> = infos.into_iter().flatten().collect();

    let config_digest = t.id.clone();
    push_blob(
        client,
        &r.path,
        &config_digest,
        t.config.len() as u64,
        Blob::Bytes(Bytes::from(t.config.clone())),
        &[],
        Arc::new(AtomicU64::new(0)),
    )
    .await?;

    let (manifest, mt) = match reuse_manifest(&t.stored_manifest, &infos) {
        Some(m) => m,
        None => (make_manifest(&t.config, &infos), SCHEMA2.to_string()),
    };
    let mt = if mt.is_empty() {
        OCI_MANIFEST.to_string()
    } else {
        mt
    };
    let digest = Digest::of(&manifest);
    let resp = client
        .authed(
            Method::PUT,
            &format!("/v2/{}/manifests/{}", r.path, t.tag),
            &[(header::CONTENT_TYPE, mt.clone())],
            Bytes::from(manifest.clone()),
        )
        .await?;
    if resp.status() != StatusCode::CREATED && !resp.status().is_success() {
        return Err(
            registry_error(&format!("failed to push manifest for {}", t.tag), resp)
                .await
                .into(),
        );
    }
    {
        let cache = cache.clone();
        let (id, diff_ids, src) = (
            t.id.clone(),
            t.diff_ids.clone(),
            Source {
                registry: host,
                repository: r.path.clone(),
            },
        );
        let (manifest, mt, infos) = (manifest.clone(), mt.clone(), infos.clone());
        let images = d.images.clone();
        // docker records `name@digest` of the pushed manifest among the image's RepoDigests
        // (the same spelling a pull records).
        let repo_digest = format!("{}@{digest}", r.name_only());
        tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
            if cache.manifest(&id).is_none() {
                cache.put_manifest(&id, &manifest, &mt)?;
            }
            for (dl, info) in diff_ids.iter().zip(&infos) {
                cache.add_source(dl, &info.digest, &src)?;
            }
            images.add_repo_digest(&id, &repo_digest)?;
            Ok(())
        })
        .await??;
    }
    let size = manifest.len();
    tx.send_async(json!({
        "status": format!("{}: digest: {digest} size: {size}", t.tag),
    }))
    .await;
    tx.send_async(json!({
        "progressDetail": {},
        "aux": {"Tag": t.tag, "Digest": digest.to_string(), "Size": size},
    }))
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bars_like_docker() {
        assert!(progress_bar(0, 100).starts_with("[>"));
        assert!(progress_bar(100, 100).starts_with(&format!("[{}]", "=".repeat(50))));
        assert!(progress_bar(5_000_000, 10_000_000).ends_with("5.000MB/10.000MB"));
    }
}
