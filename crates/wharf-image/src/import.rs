//! `docker import`: a rootfs tar (plain, gzip or zstd) becomes a one-layer image.

use std::io::Read;

use wharf_types::Digest;

use crate::changes;
use crate::config::{ContainerConfig, History, RootFs};
use crate::db::{self, ImageRecord, LayerRecord};
use crate::error::{Error, Result};
use crate::fsutil::now_rfc3339;
use crate::layer::stream_layer;
use crate::load::host_arch;
use crate::store::{blob_key, snap_key};
use crate::{ImageConfigFile, ImageStore, ImportOptions};

impl ImageStore {
    /// Imports a rootfs tarball as a new single-layer image, tagged with `opts.reference`.
    pub fn import(&self, src: &mut dyn Read, opts: &ImportOptions) -> Result<Digest> {
        // The config is built (and the changes checked) before any byte is read.
        let mut cc = ContainerConfig::default();
        for c in &opts.changes {
            changes::apply(&mut cc, c)?;
        }
        if let Some(r) = &opts.reference {
            if r.digest.is_some() {
                return Err(Error::InvalidArgument(
                    "refusing to create a tag with a digest reference".into(),
                ));
            }
        }
        let src = std::io::BufReader::with_capacity(crate::compress::BUF_SIZE, src);
        let s = stream_layer(self.paths(), src, true, true)?;
        let (Some(blob), Some((snap, size))) = (s.blob, s.snapshot) else {
            return Err(Error::invalid("layer stream produced no blob or snapshot"));
        };
        let diff_id = s.diff_id;
        let chain = diff_id.clone();
        let created = now_rfc3339();
        let config = ImageConfigFile {
            architecture: if opts.architecture.is_empty() {
                host_arch().to_string()
            } else {
                opts.architecture.clone()
            },
            os: if opts.os.is_empty() {
                "linux".to_string()
            } else {
                opts.os.clone()
            },
            created: Some(created.clone()),
            config: Some(cc),
            rootfs: RootFs {
                diff_ids: vec![diff_id.to_string()],
                ..RootFs::default()
            },
            history: vec![History {
                created: Some(created.clone()),
                created_by: Some(String::new()),
                comment: Some(if opts.message.is_empty() {
                    "Imported from -".to_string()
                } else {
                    opts.message.clone()
                }),
                ..History::default()
            }],
            ..ImageConfigFile::default()
        };
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
        db::update(self.db(), |cat| {
            cat.images.insert(
                id.clone(),
                ImageRecord {
                    layers: vec![LayerRecord {
                        diff_id: diff_id.clone(),
                        chain_id: chain.clone(),
                        size,
                    }],
                    repo_digests: Vec::new(),
                    parent: None,
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
