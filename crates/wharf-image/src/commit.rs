//! `docker commit`: a container's write layer, packed as a layer tar by the caller, becomes a
//! new image on top of the container's image. Same path as `import`: the tar is streamed once
//! (hashed into its diff_id, written as a blob, unpacked into a snapshot, all in `tmp/`), then
//! renamed into place, synced, and only then the record committed — so a crash leaves either
//! the whole image or nothing visible.

use std::io::Read;

use serde_json::Value;
use wharf_types::Digest;

use crate::changes;
use crate::config::{ContainerConfig, History};
use crate::db::{self, ImageRecord, LayerRecord};
use crate::error::{Error, Result};
use crate::fsutil::{chain_ids, now_rfc3339};
use crate::layer::stream_layer;
use crate::store::{blob_key, snap_key};
use crate::{ImageConfigFile, ImageStore, Reference};

/// What `commit` records besides the layer.
#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    /// The container's config (docker's `Config` object); `None` keeps the parent's.
    pub config: Option<Value>,
    /// Dockerfile instructions applied on top (`CMD ["sh"]`, `ENV A=b`…), as `import -c`.
    pub changes: Vec<String>,
    pub comment: String,
    pub author: String,
    /// The history entry's `created_by` (docker: the container's command).
    pub created_by: String,
    pub reference: Option<Reference>,
}

impl ImageStore {
    /// Adds `layer_tar` (an uncompressed OCI layer) on top of image `parent` as a new image.
    pub fn commit(
        &self,
        parent: &Digest,
        layer_tar: &mut dyn Read,
        opts: &CommitOptions,
    ) -> Result<Digest> {
        if let Some(r) = &opts.reference {
            if r.digest.is_some() {
                return Err(Error::InvalidArgument(
                    "refusing to create a tag with a digest reference".into(),
                ));
            }
        }
        let cat = self.catalog()?;
        let prec = cat
            .images
            .get(parent)
            .cloned()
            .ok_or_else(|| Error::no_such_image(parent.as_str()))?;
        drop(cat);
        let mut pin_keys = vec![blob_key(parent)];
        pin_keys.extend(prec.layers.iter().map(|l| snap_key(&l.chain_id)));
        let _parent_pins = self.pin(pin_keys);
        let pbytes = self.config_bytes(parent)?;
        let mut config: ImageConfigFile = serde_json::from_slice(&pbytes)
            .map_err(|e| Error::Corrupt(format!("config of image {parent}: {e}")))?;
        let mut cc: ContainerConfig = match &opts.config {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| Error::invalid(format!("invalid container config: {e}")))?,
            None => config.config.clone().unwrap_or_default(),
        };
        for c in &opts.changes {
            changes::apply(&mut cc, c)?;
        }

        let src = std::io::BufReader::with_capacity(crate::compress::BUF_SIZE, layer_tar);
        let s = stream_layer(self.paths(), src, true, true)?;
        let (Some(blob), Some((snap, size))) = (s.blob, s.snapshot) else {
            return Err(Error::invalid("layer stream produced no blob or snapshot"));
        };
        let diff_id = s.diff_id;
        let mut diff_ids: Vec<Digest> = prec.layers.iter().map(|l| l.diff_id.clone()).collect();
        diff_ids.push(diff_id.clone());
        let chain = chain_ids(&diff_ids)
            .pop()
            .ok_or_else(|| Error::invalid("no layers"))?;

        let created = now_rfc3339();
        config.created = Some(created.clone());
        config.author = (!opts.author.is_empty()).then(|| opts.author.clone());
        config.config = Some(cc);
        config.rootfs.diff_ids = diff_ids.iter().map(Digest::to_string).collect();
        config.history.push(History {
            created: Some(created.clone()),
            created_by: Some(opts.created_by.clone()),
            author: (!opts.author.is_empty()).then(|| opts.author.clone()),
            comment: (!opts.comment.is_empty()).then(|| opts.comment.clone()),
            ..History::default()
        });
        // Legacy fields of the parent's creation describe another container.
        config.extra.remove("container");
        config.extra.remove("container_config");
        let bytes = serde_json::to_vec(&config).map_err(|e| Error::Corrupt(e.to_string()))?;
        let id = Digest::of(&bytes);
        let _pins = self.pin(vec![blob_key(&id), blob_key(&diff_id), snap_key(&chain)]);
        let dst = self.paths().blob(&diff_id);
        std::fs::rename(&blob.path, &dst)
            .map_err(|e| Error::io(format!("failed to store blob {}", dst.display()), e))?;
        blob.keep();
        self.paths().commit_snapshot(snap, &chain)?;
        self.paths().put_blob(&bytes)?;
        self.paths().sync()?;
        let mut layers = prec.layers.clone();
        layers.push(LayerRecord {
            diff_id,
            chain_id: chain,
            size,
        });
        db::update(self.db(), |cat| {
            if !cat.images.contains_key(parent) {
                return Err(Error::no_such_image(parent.as_str()));
            }
            cat.images.insert(
                id.clone(),
                ImageRecord {
                    layers,
                    repo_digests: Vec::new(),
                    parent: Some(parent.clone()),
                    created: created.clone(),
                },
            );
            if let Some(r) = &opts.reference {
                let r = match r.tag {
                    Some(_) => r.clone(),
                    None => r.with_tag(wharf_types::reference::DEFAULT_TAG)?,
                };
                cat.set_tag(&r, &id);
            }
            Ok(())
        })?;
        Ok(id)
    }
}
