//! What the server needs to know of a manifest: its media type, the blobs or child
//! manifests it names (all must already be in the repository, spec "Pushing Manifests"),
//! its `subject` and `artifactType` (referrers API). The bytes are stored exactly as given.

use serde::Deserialize;
use wharf_types::Digest;

use crate::error::{Code, RegistryError, Result};
use crate::storage::{Link, Store};

/// Largest manifest accepted (distribution's limit is 4 MiB).
pub const MAX_SIZE: usize = 4 << 20;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

#[derive(Deserialize)]
struct Descriptor {
    digest: Digest,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<u32>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<serde_json::Value>,
}

/// A parsed manifest or index.
pub struct Parsed {
    pub media_type: String,
    pub artifact_type: Option<String>,
    /// Blobs (config and layers) an image manifest names.
    pub blobs: Vec<Digest>,
    /// Child manifests an index names.
    pub children: Vec<Digest>,
    pub subject: Option<Digest>,
    pub annotations: Option<serde_json::Value>,
}

fn invalid(msg: impl Into<String>) -> RegistryError {
    RegistryError::new(Code::ManifestInvalid, msg)
}

/// Parses manifest bytes; `content_type` is the request's (or stored) media type.
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Parsed> {
    let raw: Raw = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("manifest is not valid JSON: {e}")))?;
    if raw.schema_version != Some(2) {
        return Err(invalid("only schemaVersion 2 manifests are supported"));
    }
    let ct = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
        .filter(|c| !c.is_empty() && c != "application/json" && c != "application/octet-stream");
    let media_type = match (ct, raw.media_type.clone()) {
        (Some(c), Some(m)) if c != m => {
            return Err(invalid(format!(
                "Content-Type {c} does not match the manifest's mediaType {m}"
            )))
        }
        (Some(c), _) => c,
        (None, Some(m)) => m,
        (None, None) if raw.manifests.is_some() => OCI_INDEX.to_string(),
        (None, None) => OCI_MANIFEST.to_string(),
    };
    let is_index = media_type == OCI_INDEX || media_type == DOCKER_LIST;
    let (blobs, children) = if is_index {
        let m = raw
            .manifests
            .ok_or_else(|| invalid("index without manifests"))?;
        (Vec::new(), m.into_iter().map(|d| d.digest).collect())
    } else {
        let config = raw
            .config
            .ok_or_else(|| invalid("manifest without config"))?;
        let artifact = raw
            .artifact_type
            .clone()
            .or_else(|| config.media_type.clone());
        let mut b = vec![config.digest];
        b.extend(raw.layers.into_iter().map(|d| d.digest));
        return Ok(Parsed {
            media_type,
            artifact_type: artifact,
            blobs: b,
            children: Vec::new(),
            subject: raw.subject.map(|s| s.digest),
            annotations: raw.annotations,
        });
    };
    Ok(Parsed {
        media_type,
        artifact_type: raw.artifact_type,
        blobs,
        children,
        subject: raw.subject.map(|s| s.digest),
        annotations: raw.annotations,
    })
}

/// Refuses a manifest naming blobs (or child manifests) the repository lacks.
pub fn check_references(store: &Store, name: &str, p: &Parsed) -> Result<()> {
    for d in &p.blobs {
        if !store.linked(name, Link::Layer, d) || store.blob_size(d).is_none() {
            return Err(
                RegistryError::new(Code::ManifestBlobUnknown, "blob unknown to registry")
                    .detail(serde_json::json!({ "digest": d.as_str() })),
            );
        }
    }
    for d in &p.children {
        if !store.linked(name, Link::Manifest, d) {
            return Err(RegistryError::new(
                Code::ManifestBlobUnknown,
                "child manifest unknown to repository",
            )
            .detail(serde_json::json!({ "digest": d.as_str() })));
        }
    }
    Ok(())
}
