//! Storing a pulled image: the registry client (in the daemon) downloads the manifest's
//! blobs into a temporary directory, verifying each against its digest; this turns them into
//! an image as `load` does (decompress, check the diff_id against the config, blob and
//! snapshot into `tmp/` then renamed, one sync, then one metadata transaction).
//!
//! Layers are unpacked while they download: each layer's job reads its file behind the
//! download ([`LayerGate`] says how many bytes are written and, at the end, whether the
//! blob's digest checked out), decompressing, hashing and unpacking into `tmp/` in one pass.
//! The whole blob's digest (checked by the download) and the diff_id of the decompressed
//! stream (checked here) must both match before anything is renamed into place, and nothing
//! is renamed until every layer is staged: a failure anywhere leaves the store unchanged.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use wharf_types::{Digest, Reference};

use crate::db::{self, ImageRecord, LayerRecord};
use crate::error::{Error, Result};
use crate::fsutil::chain_ids;
use crate::layer::{commit_staged, content_size, run_job, run_parallel, stage_streamed, LayerJob};
use crate::store::{blob_key, snap_key};
use crate::{ImageConfigFile, ImageStore};

/// One downloaded layer: the file holding it as the registry served it (gzip, zstd or
/// plain) and that file's verified digest.
#[derive(Clone, Debug)]
pub struct PulledLayer {
    pub path: PathBuf,
    pub digest: Digest,
}

/// How far each layer's download has come, so [`ImageStore::store_pulled`] can unpack a
/// layer while its bytes still arrive. The pull reports, per layer, how many bytes of its
/// file are written ([`LayerGate::progress`]: only ever growing — a resumed download appends,
/// so the unpacker sees one continuous stream), then opens the layer's gate once with the
/// download's outcome ([`LayerGate::open`]: `Ok` only after the digest and size checked out).
#[derive(Debug)]
pub struct LayerGate {
    layers: Mutex<Vec<Slot>>,
    changed: Condvar,
}

#[derive(Clone, Debug, Default)]
struct Slot {
    written: u64,
    outcome: Option<std::result::Result<(), String>>,
}

impl LayerGate {
    pub fn new(layers: usize) -> LayerGate {
        LayerGate {
            layers: Mutex::new(vec![Slot::default(); layers]),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.layers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The first `written` bytes of layer `i`'s file are written (and readable).
    pub fn progress(&self, i: usize, written: u64) {
        let mut g = self.lock();
        if let Some(slot) = g.get_mut(i) {
            if slot.outcome.is_none() && written > slot.written {
                slot.written = written;
                self.changed.notify_all();
            }
        }
    }

    /// Layer `i` is complete and verified (`Ok`), or will never be (`Err`, why). The first
    /// outcome stays.
    pub fn open(&self, i: usize, outcome: std::result::Result<(), String>) {
        let mut g = self.lock();
        if let Some(slot) = g.get_mut(i) {
            slot.outcome.get_or_insert(outcome);
        }
        self.changed.notify_all();
    }

    /// Every layer not complete yet never will be (`why`): what a pull that failed or was
    /// dropped does, so no layer job waits for it forever.
    pub fn abandon(&self, why: &str) {
        let mut g = self.lock();
        for slot in g.iter_mut() {
            slot.outcome.get_or_insert_with(|| Err(why.to_string()));
        }
        self.changed.notify_all();
    }

    /// Waits until layer `i` is complete and verified.
    pub fn wait(&self, i: usize) -> Result<()> {
        let mut g = self.lock();
        loop {
            match g.get(i) {
                None => return Err(Error::invalid(format!("no layer {i}"))),
                Some(Slot {
                    outcome: Some(o), ..
                }) => return o.clone().map_err(Error::invalid),
                Some(_) => g = self.changed.wait(g).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }

    /// Waits until every layer is complete.
    pub fn wait_all(&self) -> Result<()> {
        let n = self.lock().len();
        (0..n).try_for_each(|i| self.wait(i))
    }

    /// Waits until layer `i` has more than `pos` bytes written, or is over: returns how many
    /// are written (`pos` itself: the layer is complete, the end of the stream); the
    /// download's error if it failed (even with bytes left to read: they would be wasted).
    fn available(&self, i: usize, pos: u64) -> std::result::Result<u64, String> {
        let mut g = self.lock();
        loop {
            let Some(slot) = g.get(i) else {
                return Err(format!("no layer {i}"));
            };
            match &slot.outcome {
                Some(Err(e)) => return Err(e.clone()),
                Some(Ok(())) => return Ok(slot.written.max(pos)),
                None if slot.written > pos => return Ok(slot.written),
                None => g = self.changed.wait(g).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }
}

/// Reads layer `i`'s file behind its download: never past the bytes the download reported
/// written, waiting for more; the end of the stream only once the download is complete and
/// verified; an error as soon as the download failed.
struct Following<'a> {
    gate: &'a LayerGate,
    i: usize,
    path: &'a Path,
    file: Option<File>,
    pos: u64,
}

impl Read for Following<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let written = self
            .gate
            .available(self.i, self.pos)
            .map_err(std::io::Error::other)?;
        if written <= self.pos {
            return Ok(0);
        }
        let f = match &mut self.file {
            Some(f) => f,
            // opened at the first byte: the download creates the file before reporting any
            None => self.file.insert(File::open(self.path)?),
        };
        let want = usize::try_from(written - self.pos).map_or(buf.len(), |n| n.min(buf.len()));
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "{} ends at byte {} but {written} were written",
                    self.path.display(),
                    self.pos
                ),
            ));
        }
        self.pos += n as u64;
        Ok(n)
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
                self.paths().has_layer(d)
                    && self.paths().snapshot(ch).is_dir()
                    && cat.layer_size(ch).is_some()
            })
            .collect())
    }

    /// Stores a pulled image: `config` (its sha256 is the image id), its layers bottom first,
    /// tagged `reference` (if any) and recording `repo_digest` (`name@sha256:…`). With a
    /// `gate`, each layer is decompressed and unpacked (into `tmp/`) while its file is still
    /// being downloaded, reading behind the download; the layers are renamed into place only
    /// once every download is verified (the gate opened `Ok`) and every diff_id checked out,
    /// so a failed, truncated or mismatching download leaves the store unchanged. Without a
    /// gate, the files must be complete already.
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
            let need_blob = !self.paths().has_layer(d);
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
        let results = match gate {
            None => run_parallel(jobs.len(), &|j| run_job(self.paths(), &jobs[j]))?,
            Some(gate) => {
                // Each layer is unpacked into tmp/ as its bytes arrive; nothing is renamed
                // into the store until every download is verified and every layer staged.
                let staged = run_parallel(jobs.len(), &|j| {
                    let i = sources[j];
                    let src = Following {
                        gate,
                        i,
                        path: &layers[i].path,
                        file: None,
                        pos: 0,
                    };
                    stage_streamed(self.paths(), &jobs[j], src, &|| gate.wait(i))
                        // a stream that broke because its download failed: say why
                        .map_err(|e| match gate.wait(i) {
                            Err(download) => download,
                            Ok(()) => e,
                        })
                })?;
                gate.wait_all()?;
                jobs.iter()
                    .zip(staged)
                    .map(|(job, s)| commit_staged(self.paths(), job, s))
                    .collect::<Result<Vec<_>>>()?
            }
        };
        for (job, size) in jobs.iter().zip(results) {
            if let Some(s) = size {
                for ch in &job.snapshots {
                    sizes.insert(ch.clone(), s);
                }
            }
        }
        for (d, ch) in diff_ids.iter().zip(&chains) {
            if !sizes.contains_key(ch) {
                sizes.insert(ch.clone(), content_size(self.paths(), d)?);
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use super::*;

    /// A file holding `bytes`, of which the gate says `written` are written.
    fn partly_written(bytes: &[u8], written: u64) -> (tempfile::TempDir, PathBuf, LayerGate) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layer");
        std::fs::write(&path, bytes).unwrap();
        let gate = LayerGate::new(1);
        gate.progress(0, written);
        (dir, path, gate)
    }

    fn follow<'a>(gate: &'a LayerGate, path: &'a Path) -> Following<'a> {
        Following {
            gate,
            i: 0,
            path,
            file: None,
            pos: 0,
        }
    }

    /// A writer thread appends in pieces, reporting each; the reader sees exactly the bytes
    /// in order, and its end only once the gate opened.
    #[test]
    fn the_reader_follows_the_writer_and_ends_only_when_verified() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layer");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let gate = LayerGate::new(1);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut f = File::create(&path).unwrap();
                for (k, chunk) in data.chunks(40_000).enumerate() {
                    f.write_all(chunk).unwrap();
                    gate.progress(0, ((k * 40_000) + chunk.len()) as u64);
                    std::thread::sleep(Duration::from_millis(5));
                }
                // complete: still no end of stream until the digest is checked
                std::thread::sleep(Duration::from_millis(50));
                gate.open(0, Ok(()));
            });
            let mut got = Vec::new();
            follow(&gate, &path).read_to_end(&mut got).unwrap();
            assert_eq!(got.len(), data.len());
            assert!(got == data);
        });
    }

    /// A download that fails is an error for the reader, even mid-stream.
    #[test]
    fn a_failed_download_is_an_error_for_the_reader() {
        let (_dir, path, gate) = partly_written(b"partial", 7);
        let mut r = follow(&gate, &path);
        let mut buf = [0u8; 4];
        assert_eq!(r.read(&mut buf).unwrap(), 4);
        gate.open(0, Err("the registry sent 7 of 20 bytes".into()));
        let e = r.read(&mut buf).unwrap_err();
        assert!(e.to_string().contains("sent 7 of 20"), "{e}");
        // progress after the outcome is ignored; the outcome stays the first one
        gate.progress(0, 20);
        gate.open(0, Ok(()));
        assert!(gate.wait(0).is_err());
    }

    /// Abandoning opens only the layers still waiting; a reader waiting on one wakes up.
    #[test]
    fn abandoning_wakes_a_waiting_reader() {
        let (_dir, path, _) = partly_written(b"", 0);
        let gate = LayerGate::new(2);
        gate.open(1, Ok(()));
        std::thread::scope(|s| {
            let r = s.spawn(|| follow(&gate, &path).read(&mut [0u8; 4]));
            std::thread::sleep(Duration::from_millis(50));
            gate.abandon("the pull was abandoned");
            let e = r.join().unwrap().unwrap_err();
            assert!(e.to_string().contains("abandoned"), "{e}");
        });
        assert!(gate.wait(1).is_ok());
    }

    /// Nothing past what the writer reported is read, even if the file holds more.
    #[test]
    fn the_reader_never_reads_past_the_reported_bytes() {
        let (_dir, path, gate) = partly_written(b"0123456789", 3);
        let mut r = follow(&gate, &path);
        let mut buf = [0u8; 10];
        assert_eq!(r.read(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"012");
        gate.progress(0, 2); // never shrinks
        gate.progress(0, 10);
        gate.open(0, Ok(()));
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"3456789");
    }
}
