//! Storing a pulled image: the registry client (in the daemon) downloads the manifest's
//! blobs into a temporary directory, verifying each against its digest; this turns them into
//! an image exactly as `load` does (decompress, check the diff_id against the config, blob
//! and snapshot into `tmp/` then renamed, one sync, then one metadata transaction). A failure
//! anywhere leaves the store unchanged.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

use wharf_types::{Digest, Reference};

use crate::db::{self, ImageRecord, LayerRecord};
use crate::error::{Error, Result};
use crate::fsutil::chain_ids;
use crate::layer::{content_size, LayerJob};
use crate::store::{blob_key, snap_key};
use crate::{ImageConfigFile, ImageStore};

/// One downloaded layer: the file holding it as the registry served it (gzip, zstd or
/// plain) and that file's verified digest.
#[derive(Clone, Debug)]
pub struct PulledLayer {
    pub path: PathBuf,
    pub digest: Digest,
}

/// Which downloaded layers are complete, so [`ImageStore::store_pulled`] can unpack each one
/// while the others still download. The pull opens each layer's gate once, with its
/// download's outcome.
#[derive(Debug)]
pub struct LayerGate {
    done: Mutex<Vec<Option<std::result::Result<(), String>>>>,
    changed: std::sync::Condvar,
}

impl LayerGate {
    pub fn new(layers: usize) -> LayerGate {
        LayerGate {
            done: Mutex::new(vec![None; layers]),
            changed: std::sync::Condvar::new(),
        }
    }

    /// Layer `i` is complete (`Ok`), or will never be (`Err`, why).
    pub fn open(&self, i: usize, outcome: std::result::Result<(), String>) {
        let mut g = self.done.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = g.get_mut(i) {
            slot.get_or_insert(outcome);
        }
        self.changed.notify_all();
    }

    /// Waits until layer `i` is complete.
    pub fn wait(&self, i: usize) -> Result<()> {
        let mut g = self.done.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match g.get(i) {
                None => return Err(Error::invalid(format!("no layer {i}"))),
                Some(Some(Ok(()))) => return Ok(()),
                Some(Some(Err(e))) => return Err(Error::invalid(e.clone())),
                Some(None) => g = self.changed.wait(g).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }

    /// Waits until every layer is complete.
    pub fn wait_all(&self) -> Result<()> {
        let n = self.done.lock().unwrap_or_else(|p| p.into_inner()).len();
        (0..n).try_for_each(|i| self.wait(i))
    }
}

/// What [`ImageStore::store_pulled`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullOutcome {
    pub id: Digest,
    /// False when the tag already named this image ("Image is up to date").
    pub updated: bool,
}

impl ImageStore {
    /// Whether the image with this config digest is already complete in the store.
    pub fn has_image(&self, id: &Digest) -> bool {
        self.get(id).is_ok()
    }

    /// For each layer of a stack (diff_ids bottom first): whether it is stored already
    /// (blob and snapshot at that position), so a pull need not download it.
    pub fn layers_present(&self, diff_ids: &[Digest]) -> Result<Vec<bool>> {
        let chains = chain_ids(diff_ids);
        let cat = self.catalog()?;
        Ok(diff_ids
            .iter()
            .zip(&chains)
            .map(|(d, ch)| {
                self.paths().blob(d).is_file()
                    && self.paths().snapshot(ch).is_dir()
                    && cat.layer_size(ch).is_some()
            })
            .collect())
    }

    /// Stores a pulled image: `config` (its sha256 is the image id), its layers bottom first,
    /// tagged `reference` (if any) and recording `repo_digest` (`name@sha256:…`). With a
    /// `gate`, each layer is unpacked as soon as its download is complete (the others may
    /// still be downloading); without one, the files must be complete already.
    pub fn store_pulled(
        &self,
        config: &[u8],
        layers: &[PulledLayer],
        reference: Option<&Reference>,
        repo_digest: &str,
        gate: Option<&LayerGate>,
    ) -> Result<PullOutcome> {
        let id = Digest::of(config);
        let cfg: ImageConfigFile = serde_json::from_slice(config)
            .map_err(|e| Error::invalid(format!("invalid image config: {e}")))?;
        let diff_ids = cfg
            .rootfs
            .diff_ids
            .iter()
            .map(|s| s.parse::<Digest>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::invalid(format!("invalid diff_id in image config: {e}")))?;
        if diff_ids.len() != layers.len() {
            return Err(Error::invalid(format!(
                "manifest has {} layers but the image config names {} diff_ids",
                layers.len(),
                diff_ids.len()
            )));
        }
        let chains = chain_ids(&diff_ids);
        let mut keys = vec![blob_key(&id)];
        for (d, ch) in diff_ids.iter().zip(&chains) {
            keys.push(blob_key(d));
            keys.push(snap_key(ch));
        }
        let _pins = self.pin(keys);
        let cat = self.catalog()?;

        let mut jobs: BTreeMap<Digest, (usize, LayerJob)> = BTreeMap::new();
        let mut sizes: HashMap<Digest, u64> = HashMap::new();
        for (i, ((d, ch), l)) in diff_ids.iter().zip(&chains).zip(layers).enumerate() {
            let snap_exists = self.paths().snapshot(ch).is_dir();
            if snap_exists {
                if let Some(s) = cat.layer_size(ch) {
                    sizes.insert(ch.clone(), s);
                }
            }
            let need_snap = !snap_exists || !sizes.contains_key(ch);
            let need_blob = !self.paths().blob(d).is_file();
            if !need_snap && !need_blob {
                continue;
            }
            let (_, job) = jobs.entry(d.clone()).or_insert_with(|| {
                let job = LayerJob {
                    source: l.path.clone(),
                    source_digest: l.digest.clone(),
                    diff_id: d.clone(),
                    need_blob,
                    snapshots: Vec::new(),
                    spec: Mutex::new(None),
                };
                (i, job)
            });
            if need_snap && !job.snapshots.contains(ch) {
                job.snapshots.push(ch.clone());
            }
        }
        let (sources, jobs): (Vec<usize>, Vec<LayerJob>) = jobs.into_values().unzip();
        let results = self.run_jobs(&jobs, &|j| gate.map_or(Ok(()), |g| g.wait(sources[j])))?;
        for (job, size) in jobs.iter().zip(results) {
            if let Some(s) = size {
                for ch in &job.snapshots {
                    sizes.insert(ch.clone(), s);
                }
            }
        }
        for (d, ch) in diff_ids.iter().zip(&chains) {
            if !sizes.contains_key(ch) {
                sizes.insert(ch.clone(), content_size(&self.paths().blob(d))?);
            }
        }
        self.paths().put_blob(config)?;
        self.paths().sync()?;

        let updated = match reference {
            Some(r) => !(cat.images.contains_key(&id) && cat.tags_of(&id).contains(r)),
            None => !cat.images.contains_key(&id),
        };
        db::update(self.db(), |cat| {
            let layers = diff_ids
                .iter()
                .zip(&chains)
                .map(|(d, ch)| LayerRecord {
                    diff_id: d.clone(),
                    chain_id: ch.clone(),
                    size: sizes[ch],
                })
                .collect();
            let old = cat.images.get(&id).cloned();
            let mut repo_digests = old
                .as_ref()
                .map(|o| o.repo_digests.clone())
                .unwrap_or_default();
            if !repo_digest.is_empty() && !repo_digests.iter().any(|r| r == repo_digest) {
                repo_digests.push(repo_digest.to_string());
            }
            let rec = ImageRecord {
                layers,
                repo_digests,
                parent: old.and_then(|o| o.parent),
                created: cfg.created.clone().unwrap_or_default(),
            };
            cat.images.insert(id.clone(), rec);
            if let Some(r) = reference {
                cat.set_tag(r, &id);
            }
            Ok(())
        })?;
        Ok(PullOutcome { id, updated })
    }
}

impl ImageStore {
    /// Records `repo_digest` (`name@sha256:…`, the manifest a registry now holds for image
    /// `id`) among the image's `RepoDigests`, as docker does after a push. A no-op when it is
    /// already there; NotFound when the image left the store meanwhile.
    pub fn add_repo_digest(&self, id: &Digest, repo_digest: &str) -> Result<()> {
        db::update(self.db(), |cat| {
            let rec = cat
                .images
                .get_mut(id)
                .ok_or_else(|| Error::no_such_image(id.as_str()))?;
            if !rec.repo_digests.iter().any(|r| r == repo_digest) {
                rec.repo_digests.push(repo_digest.to_string());
            }
            Ok(())
        })
    }
}
