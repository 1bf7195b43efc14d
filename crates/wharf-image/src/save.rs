//! `docker save`: one archive that is both a docker-archive (`manifest.json`,
//! `repositories`) and an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`),
//! like Docker 25+ writes. Layers are the stored uncompressed blobs, copied as they are.
//! Deterministic: entries sorted by name, mtime 0, uid/gid 0, mode 0644/0755.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use serde::Serialize;
use serde_json::json;
use wharf_types::{Digest, Reference};

use crate::compress::BUF_SIZE;
use crate::error::{Error, IoContext, Result};
use crate::ImageStore;

const MT_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MT_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MT_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const MT_INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[derive(Serialize)]
struct Desc {
    #[serde(rename = "mediaType")]
    media_type: &'static str,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Manifest {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'static str,
    config: Desc,
    layers: Vec<Desc>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestItem {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

enum Content {
    Dir,
    Bytes(Vec<u8>),
    /// A stored blob file and its size.
    Blob(Digest, u64),
}

impl ImageStore {
    /// Writes a docker-archive that real `docker load` accepts AND that is an OCI layout.
    /// Names are refs or IDs; a ref keeps its tag in RepoTags, an ID saves with no tags.
    pub fn save(&self, names: &[String], out: &mut dyn Write) -> Result<()> {
        let cat = self.catalog()?;
        // image id → tags asked for, in first-seen order
        let mut order: Vec<Digest> = Vec::new();
        let mut tags: BTreeMap<Digest, Vec<Reference>> = BTreeMap::new();
        for n in names {
            let (id, tag) = cat.resolve(n).ok_or_else(|| Error::no_such_image(n))?;
            if !order.contains(&id) {
                order.push(id.clone());
            }
            let t = tags.entry(id).or_default();
            if let Some(r) = tag {
                if !t.contains(&r) {
                    t.push(r);
                }
            }
        }

        let mut entries: BTreeMap<String, Content> = BTreeMap::new();
        entries.insert("blobs/".into(), Content::Dir);
        entries.insert("blobs/sha256/".into(), Content::Dir);
        let mut manifest_items = Vec::new();
        let mut index = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for id in &order {
            let rec = &cat.images[id];
            let config = self.config_bytes(id)?;
            let mut layers = Vec::new();
            for l in &rec.layers {
                let size = self.paths().layer_tar_size(&l.diff_id)?;
                entries.insert(
                    blob_name(&l.diff_id),
                    Content::Blob(l.diff_id.clone(), size),
                );
                layers.push(Desc {
                    media_type: MT_LAYER,
                    digest: l.diff_id.to_string(),
                    size,
                    annotations: BTreeMap::new(),
                });
            }
            let m = Manifest {
                schema_version: 2,
                media_type: MT_MANIFEST,
                config: Desc {
                    media_type: MT_CONFIG,
                    digest: id.to_string(),
                    size: config.len() as u64,
                    annotations: BTreeMap::new(),
                },
                layers,
            };
            let mbytes = serde_json::to_vec(&m).map_err(|e| Error::Corrupt(e.to_string()))?;
            let mdigest = Digest::of(&mbytes);
            let image_tags = &tags[id];
            if image_tags.is_empty() {
                index.push(Desc {
                    media_type: MT_MANIFEST,
                    digest: mdigest.to_string(),
                    size: mbytes.len() as u64,
                    annotations: BTreeMap::new(),
                });
            }
            for t in image_tags {
                let mut a = BTreeMap::new();
                a.insert("io.containerd.image.name".to_string(), t.to_string());
                a.insert(
                    "org.opencontainers.image.ref.name".to_string(),
                    t.tag.clone().unwrap_or_default(),
                );
                index.push(Desc {
                    media_type: MT_MANIFEST,
                    digest: mdigest.to_string(),
                    size: mbytes.len() as u64,
                    annotations: a,
                });
                if let (Some(tag), Some(top)) = (&t.tag, rec.layers.last()) {
                    repositories
                        .entry(t.familiar_name())
                        .or_default()
                        .insert(tag.clone(), top.diff_id.hex().to_string());
                }
            }
            manifest_items.push(ManifestItem {
                config: blob_name(id),
                repo_tags: image_tags.iter().map(Reference::familiar_string).collect(),
                layers: rec.layers.iter().map(|l| blob_name(&l.diff_id)).collect(),
            });
            entries.insert(blob_name(id), Content::Bytes(config));
            entries.insert(blob_name(&mdigest), Content::Bytes(mbytes));
        }
        let index = json!({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": index});
        entries.insert("index.json".into(), Content::Bytes(to_json(&index)?));
        entries.insert(
            "manifest.json".into(),
            Content::Bytes(to_json(&manifest_items)?),
        );
        entries.insert(
            "oci-layout".into(),
            Content::Bytes(br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        );
        entries.insert(
            "repositories".into(),
            Content::Bytes(to_json(&repositories)?),
        );

        let mut w = io::BufWriter::with_capacity(BUF_SIZE, out);
        let mut buf = vec![0u8; 1 << 20];
        for (name, content) in &entries {
            match content {
                Content::Dir => write_header(&mut w, name, 0, true)?,
                Content::Bytes(b) => {
                    write_header(&mut w, name, b.len() as u64, false)?;
                    w.write_all(b).ctx(|| "failed to write archive".into())?;
                    pad(&mut w, b.len() as u64)?;
                }
                Content::Blob(d, size) => {
                    write_header(&mut w, name, *size, false)?;
                    let mut f = self.paths().open_layer(d)?;
                    let mut left = *size;
                    while left > 0 {
                        let want = buf.len().min(left as usize);
                        let n = f
                            .read(&mut buf[..want])
                            .ctx(|| format!("failed to read layer {d}"))?;
                        if n == 0 {
                            return Err(Error::io(
                                format!("blob {d} changed while saving"),
                                io::ErrorKind::UnexpectedEof.into(),
                            ));
                        }
                        w.write_all(&buf[..n])
                            .ctx(|| "failed to write archive".into())?;
                        left -= n as u64;
                    }
                    pad(&mut w, *size)?;
                }
            }
        }
        w.write_all(&[0u8; 1024])
            .ctx(|| "failed to write archive".into())?;
        w.flush().ctx(|| "failed to write archive".into())
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Corrupt(e.to_string()))
}

fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn write_header(w: &mut dyn Write, name: &str, size: u64, dir: bool) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)
        .map_err(|e| Error::io(format!("invalid archive path {name}"), e))?;
    h.set_size(size);
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_cksum();
    w.write_all(h.as_bytes())
        .ctx(|| "failed to write archive".into())
}

fn pad(w: &mut dyn Write, size: u64) -> Result<()> {
    let rem = (size % 512) as usize;
    if rem != 0 {
        w.write_all(&[0u8; 512][..512 - rem])
            .ctx(|| "failed to write archive".into())?;
    }
    Ok(())
}
