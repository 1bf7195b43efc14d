//! `docker pull`: the daemon's side of pulling with the registry client
//! (`wharf_registry::client`). Manifests and blobs are verified against their sha256 digests
//! before anything is stored; layers are downloaded a few at a time into a temporary
//! directory, and the image store unpacks each one while it downloads, reading its file
//! behind the writer (`wharf_image::LayerGate`); nothing is renamed into the store before
//! every blob is verified (a failure leaves no half image).

pub use wharf_registry::client::{
    certs_dirs, http, login, registry_auth, registry_config, search, set_certs_dir, upload, Error,
    RegistryAuth, ACCEPT,
};

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use wharf_image::PulledLayer;
use wharf_types::{Digest, Digester, ErrorKind, Reference};

use crate::api::stream::Progress;
use crate::api::ApiError;
use crate::state::Daemon;
pub use wharf_registry::client::http::{parse_challenge, registry_endpoint, Challenge, Endpoint};
pub use wharf_registry::client::platform::{host_platform, select_manifest, Platform};

/// The registry client's errors keep their kind (→ HTTP status) and message.
impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError::new(e.kind, e.message)
    }
}

/// Layers downloaded at the same time.
const PARALLEL: usize = 3;

#[derive(Deserialize)]
struct Descriptor {
    #[serde(default, rename = "mediaType")]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: u64,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default, rename = "mediaType")]
    media_type: String,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Option<Vec<serde_json::Value>>,
}

fn is_index(mt: &str, m: &Manifest) -> bool {
    mt.ends_with("manifest.list.v2+json")
        || mt.ends_with("image.index.v1+json")
        || (m.config.is_none() && m.manifests.is_some())
}

fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    s.parse::<Digest>()
        .map_err(|_| ApiError::invalid(format!("unsupported digest {s:?} (only sha256 is)")))
}

/// Removes the download directory on every exit.
struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Abandons every download still open in its gate when dropped.
struct Abandon(Arc<wharf_image::LayerGate>);
impl Drop for Abandon {
    fn drop(&mut self) {
        self.0.abandon("the pull was abandoned");
    }
}

/// Parses docker's `fromImage` + `tag` (the tag may be a digest) into a reference.
pub fn pull_reference(from_image: &str, tag: &str) -> Result<Reference, ApiError> {
    let named = Reference::parse_named(from_image)?;
    if tag.is_empty() {
        if named.tag.is_none() && named.digest.is_none() {
            return Ok(named.with_tag(wharf_types::reference::DEFAULT_TAG)?);
        }
        return Ok(named);
    }
    if tag.contains(':') {
        let d = parse_digest(tag)?;
        let mut r = named.name_only();
        r.digest = Some(d);
        return Ok(r);
    }
    Ok(named.name_only().with_tag(tag)?)
}

/// Pulls `r` into the daemon's image store, reporting docker's JSON progress on `tx`;
/// `auth` is the client's credentials (from `X-Registry-Auth`: Basic, or an identity token).
/// Errors before the first progress message become the HTTP status (see api::stream).
pub async fn pull(
    d: Arc<Daemon>,
    r: Reference,
    platform: Option<Platform>,
    auth: Option<RegistryAuth>,
    tx: Progress,
) -> Result<(), ApiError> {
    let ep = registry_endpoint(&r).await?;
    let client = http::Client::new(ep, &r, auth);
    let want = platform.unwrap_or_else(host_platform);
    let reference_str = match (&r.digest, &r.tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => wharf_types::reference::DEFAULT_TAG.to_string(),
    };
    let (bytes, mt, manifest_digest) = client.manifest(&r, &reference_str).await?;
    let mut m: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::invalid(format!("invalid manifest for {}: {e}", r.familiar_name()))
    })?;
    let mut mt = if m.media_type.is_empty() {
        mt
    } else {
        m.media_type.clone()
    };
    let repo_digest_of = manifest_digest.clone();
    let mut manifest_bytes = bytes.clone();
    if is_index(&mt, &m) {
        let list = m.manifests.clone().unwrap_or_default();
        let child = select_manifest(&list, &want).ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotFound,
                format!(
                    "no matching manifest for {} in the manifest list entries",
                    want
                ),
            )
        })?;
        let (b, cmt, _) = client.manifest(&r, &child).await?;
        m = serde_json::from_slice(&b)
            .map_err(|e| ApiError::invalid(format!("invalid manifest {child}: {e}")))?;
        manifest_bytes = b;
        mt = if m.media_type.is_empty() {
            cmt
        } else {
            m.media_type.clone()
        };
        if is_index(&mt, &m) {
            return Err(ApiError::invalid("nested manifest lists are not supported"));
        }
    }
    if mt.contains("manifest.v1") || mt.contains("signed+json") {
        return Err(ApiError::invalid(
            "docker image manifest schema 1 is not supported",
        ));
    }
    let config_desc = m
        .config
        .as_ref()
        .ok_or_else(|| ApiError::invalid("manifest has no config"))?;
    let config_digest = parse_digest(&config_desc.digest)?;
    let tag_ref = r.tag.as_ref().map(|_| r.clone());
    let repo_digest = format!("{}@{}", r.name_only(), repo_digest_of);
    let status_name = match &r.tag {
        Some(_) => r.familiar_string(),
        None => format!("{}@{}", r.familiar_name(), repo_digest_of),
    };

    tx.send_async(json!({"status": format!("Pulling from {}", r.path), "id": reference_str}))
        .await;

    let mut layers = Vec::new();
    for l in &m.layers {
        let mt = &l.media_type;
        if !(mt.is_empty() || mt.contains("layer") || mt.contains("rootfs")) {
            return Err(ApiError::invalid(format!(
                "unsupported layer media type {}",
                l.media_type
            )));
        }
        layers.push((parse_digest(&l.digest)?, l.size));
    }
    let layer_types: Vec<String> = m.layers.iter().map(|l| l.media_type.clone()).collect();

    let images = d.images.clone();
    let cd = config_digest.clone();
    let exists = tokio::task::spawn_blocking(move || images.has_image(&cd)).await?;
    let tmp = TempDir(
        d.data_root
            .join("tmp")
            .join(format!("pull-{}", wharf_types::id::random_id())),
    );
    tokio::fs::create_dir_all(&tmp.0)
        .await
        .map_err(|e| ApiError::internal(format!("failed to create {}: {e}", tmp.0.display())))?;

    // Which layers to download: none when the image is here; else those not stored yet.
    let (config, fetch) = if exists {
        let config = tokio::task::spawn_blocking({
            let images = d.images.clone();
            let cd = config_digest.clone();
            move || images.config_bytes(&cd)
        })
        .await??;
        (config, vec![false; layers.len()])
    } else {
        let config = client.blob_bytes(&r, &config_digest).await?;
        let diff_ids: Vec<Digest> = serde_json::from_slice::<serde_json::Value>(&config)
            .ok()
            .and_then(|v| {
                v.pointer("/rootfs/diff_ids")?
                    .as_array()?
                    .iter()
                    .map(|d| d.as_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let present = if diff_ids.len() == layers.len() {
            let images = d.images.clone();
            tokio::task::spawn_blocking(move || images.layers_present(&diff_ids)).await??
        } else {
            vec![false; layers.len()] // store_pulled reports the mismatch
        };
        (config, present.into_iter().map(|p| !p).collect())
    };
    for ((dg, _), f) in layers.iter().zip(&fetch) {
        let status = if *f {
            "Pulling fs layer"
        } else {
            "Already exists"
        };
        tx.send_async(json!({"status": status, "id": dg.short()}))
            .await;
    }
    // Each layer is unpacked while it downloads: the store reads its file behind the
    // download (the gate tells how far the file is written, then the verified outcome).
    let gate = Arc::new(wharf_image::LayerGate::new(layers.len()));
    // However this future ends (an error, or dropped with a cancelled build), the store's
    // layer jobs are not left waiting for downloads that stopped.
    let _abandon = Abandon(gate.clone());
    for (i, f) in fetch.iter().enumerate() {
        if !f {
            gate.open(i, Ok(()));
        }
    }
    let pulled: Vec<PulledLayer> = layers
        .iter()
        .enumerate()
        .map(|(i, (dg, _))| PulledLayer {
            path: tmp.0.join(format!("layer-{i}")),
            digest: dg.clone(),
        })
        .collect();
    let images = d.images.clone();
    let source = crate::push::cache::Source {
        registry: client.endpoint().host.clone(),
        repository: r.path.clone(),
    };
    let cache = crate::push::cache::DistCache::new(&d.data_root);
    let (fetched, sizes) = (fetch.clone(), layers.clone());
    let store_gate = gate.clone();
    let store = tokio::task::spawn_blocking(move || {
        let gate = store_gate;
        let outcome = images.store_pulled(
            &config,
            &pulled,
            tag_ref.as_ref(),
            &repo_digest,
            Some(&gate),
        )?;
        // Every download is over before the cache takes the files.
        gate.wait_all()?;
        // What the distribution cache learns (for push): the compressed blobs as pulled,
        // the manifest, and that this repository holds them. Best effort: the image is
        // stored already.
        let diff_ids = images
            .get(&outcome.id)
            .map(|i| i.layers.into_iter().map(|l| l.diff_id).collect::<Vec<_>>())
            .unwrap_or_default();
        if diff_ids.len() == pulled.len() {
            let mt = if mt.is_empty() {
                "application/vnd.oci.image.manifest.v1+json".to_string()
            } else {
                mt
            };
            let mut res = cache.put_manifest(&outcome.id, &manifest_bytes, &mt);
            for (i, (dl, p)) in diff_ids.iter().zip(&pulled).enumerate() {
                let r = if fetched[i] {
                    cache.adopt(
                        dl,
                        &p.path,
                        crate::push::cache::LayerInfo {
                            digest: p.digest.to_string(),
                            size: sizes[i].1,
                            media_type: layer_types[i].clone(),
                            sources: vec![source.clone()],
                        },
                    )
                } else {
                    cache.add_source(dl, p.digest.as_str(), &source)
                };
                res = res.and(r);
            }
            if let Err(e) = res {
                tracing::warn!(error = %e, "failed to record pulled layers for push");
            }
        }
        Ok::<_, ApiError>(outcome)
    });

    let sem = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut set = tokio::task::JoinSet::new();
    for (i, (dg, size)) in layers.iter().cloned().enumerate() {
        if !fetch[i] {
            continue;
        }
        let (client, r, tx, sem, gate) = (
            client.clone(),
            r.clone(),
            tx.clone(),
            sem.clone(),
            gate.clone(),
        );
        let path = tmp.0.join(format!("layer-{i}"));
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let res = download(&client, &r, &dg, size, &path, &tx, (&gate, i)).await;
            gate.open(i, res.as_ref().map(|_| ()).map_err(|e| e.message.clone()));
            res?;
            tx.send_async(json!({"status": "Download complete", "id": dg.short()}))
                .await;
            Ok::<_, ApiError>(())
        });
    }
    let mut failed = None;
    while let Some(res) = set.join_next().await {
        let res = res.map_err(ApiError::from).and_then(|r| r);
        if let Err(e) = res {
            set.abort_all();
            failed = Some(e);
            break;
        }
    }
    if let Some(e) = failed {
        // Downloads that will not finish now: the store gives up on them, then we report.
        gate.abandon("the pull failed");
        let _ = store.await;
        return Err(e);
    }
    let outcome = store.await??;
    drop(tmp);
    for ((dg, _), _) in layers.iter().zip(&fetch).filter(|(_, f)| **f) {
        tx.send_async(json!({"status": "Pull complete", "id": dg.short()}))
            .await;
    }
    tx.send_async(json!({"status": format!("Digest: {repo_digest_of}")}))
        .await;
    let status = if outcome.updated || !exists {
        format!("Status: Downloaded newer image for {status_name}")
    } else {
        format!("Status: Image is up to date for {status_name}")
    };
    tx.send_async(json!({ "status": status })).await;
    Ok(())
}

/// How many times a blob download that broke off is resumed before the pull fails.
const RESUMES: u32 = 5;

/// Bytes written between two reports of a download's progress (to the client and to the
/// unpacker reading behind it).
const REPORT_EVERY: u64 = 512 * 1024;

/// Streams one blob to `path`, hashing it; the digest (and size, when the manifest gives
/// one) must match. What is written is reported to `gate` as it goes (the store unpacks
/// behind it), always a prefix of the blob that only grows. A body that breaks off (a reset
/// connection, a short body, a stall) is resumed with `Range: bytes=<received>-`, hashing on;
/// a server that answers the range with the whole blob (200) has its first `<received>`
/// bytes skipped, so the file (and the unpacker) still see one continuous stream — the digest
/// over the whole file catches a server whose second answer differs from the first.
async fn download(
    client: &http::Client,
    r: &Reference,
    digest: &Digest,
    size: u64,
    path: &std::path::Path,
    tx: &Progress,
    (gate, layer): (&wharf_image::LayerGate, usize),
) -> Result<(), ApiError> {
    use http_body_util::BodyExt;
    let mut body = client.blob(r, digest).await?;
    let mut f = tokio::fs::File::create(path)
        .await
        .map_err(|e| ApiError::internal(format!("failed to create {}: {e}", path.display())))?;
    let write_err =
        |e: std::io::Error| ApiError::internal(format!("failed to write {}: {e}", path.display()));
    let mut hasher = Digester::new();
    let mut n: u64 = 0;
    let mut reported: u64 = 0;
    // bytes of the current answer that the file already holds (a 200 to a range request)
    let mut skip: u64 = 0;
    let mut resumes = 0;
    let id = digest.short().to_string();
    let idle = http::registry_timeout();
    loop {
        let next = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => Some(Err(format!(
                "the registry sent nothing for {}s",
                idle.as_secs()
            ))),
            Ok(None) => None,
            Ok(Some(Ok(frame))) => Some(Ok(frame)),
            Ok(Some(Err(e))) => Some(Err(e.to_string())),
        };
        let broke = match next {
            Some(Ok(frame)) => {
                let Ok(mut data) = frame.into_data() else {
                    continue;
                };
                if skip > 0 {
                    let k = usize::try_from(skip).map_or(data.len(), |s| s.min(data.len()));
                    let _ = data.split_to(k);
                    skip -= k as u64;
                }
                if data.is_empty() {
                    continue;
                }
                hasher.update(&data);
                n += data.len() as u64;
                f.write_all(&data).await.map_err(write_err)?;
                if n - reported >= REPORT_EVERY || (size > 0 && n == size) {
                    // written through to the file before the unpacker is told it may read it
                    f.flush().await.map_err(write_err)?;
                    gate.progress(layer, n);
                    reported = n;
                    tx.send_async(json!({
                        "status": "Downloading",
                        "progressDetail": {"current": n, "total": size},
                        "id": id,
                    }))
                    .await;
                }
                continue;
            }
            // the body ended: complete, unless the manifest says there is more (or the
            // whole-blob answer to a range ended before reaching what we had)
            None if skip == 0 && (size == 0 || n >= size) => break,
            None if skip > 0 => format!("the registry's whole-blob answer ended before byte {n}"),
            None => format!("the registry sent {n} of {size} bytes"),
            Some(Err(e)) => e,
        };
        if resumes == RESUMES {
            return Err(ApiError::new(
                ErrorKind::Unavailable,
                format!("failed to download {digest}: {broke} (gave up after {RESUMES} resumes)"),
            ));
        }
        resumes += 1;
        tracing::info!(%digest, received = n, error = %broke, attempt = resumes, "blob download broke off; resuming");
        tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(resumes))).await;
        let (next_body, partial) = client.blob_from(r, digest, n).await?;
        body = next_body;
        skip = if partial { 0 } else { n };
        if skip > 0 {
            tracing::info!(%digest, skip, "registry ignored the range; skipping what was received");
        }
    }
    f.flush().await.map_err(write_err)?;
    gate.progress(layer, n);
    let got = hasher.finish();
    if &got != digest {
        return Err(ApiError::invalid(format!(
            "digest mismatch for blob {digest}: the registry sent content with digest {got}"
        )));
    }
    if size > 0 && n != size {
        return Err(ApiError::invalid(format!(
            "size mismatch for blob {digest}: expected {size} bytes, got {n}"
        )));
    }
    Ok(())
}
