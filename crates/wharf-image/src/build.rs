//! One step of a Dockerfile build: a parent image (or `scratch`), an optional new layer, a new
//! config and a history entry become a new image. The same crash-safe path as `commit`: blob
//! and snapshot are made in `tmp/`, renamed into place, synced, then the record is committed.
//! The caller chooses `created` (a fixed time makes builds reproducible).

use std::io::Read;

use wharf_types::Digest;

use crate::config::{ContainerConfig, History, RootFs};
use crate::db::{self, ImageRecord, LayerRecord};
use crate::error::{Error, Result};
use crate::fsutil::chain_ids;
use crate::layer::stream_layer;
use crate::load::host_arch;
use crate::store::{blob_key, snap_key};
use crate::{ImageConfigFile, ImageStore};

/// What a build step records besides its layer.
#[derive(Clone, Debug, Default)]
pub struct StepOptions {
    pub config: ContainerConfig,
    /// The history entry's `created_by` (`/bin/sh -c #(nop) ENV A=b`, `RUN …`).
    pub created_by: String,
    /// RFC 3339; the image's and the history entry's time.
    pub created: String,
    pub comment: String,
}

impl ImageStore {
    /// A new image on `parent` (None: `scratch`) with `layer` (an uncompressed layer tar) on
    /// top if given, else an empty-layer history entry.
    pub fn build_step(
        &self,
        parent: Option<&Digest>,
        layer: Option<&mut dyn Read>,
        opts: &StepOptions,
    ) -> Result<Digest> {
        let (prec, mut config) = match parent {
            Some(p) => {
                let cat = self.catalog()?;
                let prec = cat
                    .images
                    .get(p)
                    .cloned()
                    .ok_or_else(|| Error::no_such_image(p.as_str()))?;
                drop(cat);
                let bytes = self.config_bytes(p)?;
                let config: ImageConfigFile = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Corrupt(format!("config of image {p}: {e}")))?;
                (Some(prec), config)
            }
            None => (
                None,
                ImageConfigFile {
                    architecture: host_arch().to_string(),
                    os: "linux".into(),
                    rootfs: RootFs {
                        kind: "layers".into(),
                        ..RootFs::default()
                    },
                    ..ImageConfigFile::default()
                },
            ),
        };
        let mut pin_keys = Vec::new();
        if let (Some(p), Some(prec)) = (parent, &prec) {
            pin_keys.push(blob_key(p));
            pin_keys.extend(prec.layers.iter().map(|l| snap_key(&l.chain_id)));
        }
        let _parent_pins = self.pin(pin_keys);
        let mut layers: Vec<LayerRecord> =
            prec.as_ref().map(|p| p.layers.clone()).unwrap_or_default();
        let mut new_layer = None;
        if let Some(tar) = layer {
            let src = std::io::BufReader::with_capacity(crate::compress::BUF_SIZE, tar);
            let s = stream_layer(self.paths(), src, true, true)?;
            let (Some(blob), Some((snap, size))) = (s.blob, s.snapshot) else {
                return Err(Error::invalid("layer stream produced no blob or snapshot"));
            };
            let mut diff_ids: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
            diff_ids.push(s.diff_id.clone());
            let chain = chain_ids(&diff_ids)
                .pop()
                .ok_or_else(|| Error::invalid("no layers"))?;
            new_layer = Some((blob, snap, s.diff_id, chain, size));
        }
        config.created = Some(opts.created.clone());
        config.config = Some(opts.config.clone());
        config.history.push(History {
            created: Some(opts.created.clone()),
            created_by: Some(opts.created_by.clone()),
            comment: (!opts.comment.is_empty()).then(|| opts.comment.clone()),
            empty_layer: new_layer.is_none(),
            ..History::default()
        });
        config.extra.remove("container");
        config.extra.remove("container_config");
        if let Some((_, _, diff_id, _, _)) = &new_layer {
            config.rootfs.diff_ids.push(diff_id.to_string());
        }
        if config.rootfs.kind.is_empty() {
            config.rootfs.kind = "layers".into();
        }
        let bytes = serde_json::to_vec(&config).map_err(|e| Error::Corrupt(e.to_string()))?;
        let id = Digest::of(&bytes);
        // Steps are deterministic: the same parent, config and layer give the same id. An
        // image that exists already is the answer (a rebuild writes and syncs nothing).
        if self.catalog()?.images.contains_key(&id) {
            return Ok(id);
        }
        let mut pins = vec![blob_key(&id)];
        if let Some((blob, snap, diff_id, chain, size)) = new_layer {
            pins.push(blob_key(&diff_id));
            pins.push(snap_key(&chain));
            let _pins = self.pin(pins.clone());
            let dst = self.paths().blob(&diff_id);
            std::fs::rename(&blob.path, &dst)
                .map_err(|e| Error::io(format!("failed to store blob {}", dst.display()), e))?;
            blob.keep();
            // The same layer may be built twice (no cache): an existing snapshot is kept.
            self.paths().commit_snapshot(snap, &chain)?;
            layers.push(LayerRecord {
                diff_id,
                chain_id: chain,
                size,
            });
        }
        let _pins = self.pin(pins);
        self.paths().put_blob(&bytes)?;
        self.paths().sync()?;
        let created = opts.created.clone();
        db::update(self.db(), |cat| {
            if let Some(p) = parent {
                if !cat.images.contains_key(p) {
                    return Err(Error::no_such_image(p.as_str()));
                }
            }
            cat.images.entry(id.clone()).or_insert(ImageRecord {
                layers,
                repo_digests: Vec::new(),
                parent: parent.cloned(),
                created,
            });
            Ok(())
        })?;
        Ok(id)
    }
}
