//! [`ImageStore`]: opening (with crash-leftover garbage collection), lookups, tags, history.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use wharf_types::{Digest, Reference};

use crate::db::{self, Catalog, ImageRecord};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{parse_time, Paths};
use crate::unpack::remove_tree;
use crate::{HistoryItem, Image, ImageConfigFile, ImageStore, Layer};

/// Blobs and snapshots an unfinished operation relies on; deletion skips them. Taken under
/// the same mutex deletion holds, before the operation checks what already exists.
pub(crate) struct Pins<'a> {
    store: &'a ImageStore,
    keys: Vec<String>,
}

impl Drop for Pins<'_> {
    fn drop(&mut self) {
        let mut m = self.store.pins_lock();
        for k in &self.keys {
            if let Some(n) = m.get_mut(k) {
                *n -= 1;
                if *n == 0 {
                    m.remove(k);
                }
            }
        }
    }
}

pub(crate) fn blob_key(d: &Digest) -> String {
    format!("b:{}", d.hex())
}

pub(crate) fn snap_key(d: &Digest) -> String {
    format!("s:{}", d.hex())
}

impl ImageStore {
    /// Opens the store under `data_root`, creating its directories and tables, and removes
    /// what a crash may have left: everything in `tmp/`, and blobs and snapshots that no
    /// committed image record references.
    pub fn open(data_root: &Path, db: Arc<redb::Database>) -> Result<ImageStore> {
        let paths = Paths::new(data_root);
        for d in [&paths.blobs, &paths.snapshots] {
            fs::create_dir_all(d).ctx(|| format!("failed to create {}", d.display()))?;
        }
        if paths.tmp.exists() {
            remove_tree(&paths.tmp)?;
        }
        fs::create_dir_all(&paths.tmp)
            .ctx(|| format!("failed to create {}", paths.tmp.display()))?;
        crate::fsutil::mark_top_dir(&paths.tmp);
        db::init(&db)?;
        let store = ImageStore {
            paths,
            db,
            pins: Mutex::new(HashMap::new()),
            known_sources: Mutex::new(HashMap::new()),
        };
        store.collect_garbage()?;
        Ok(store)
    }

    fn collect_garbage(&self) -> Result<()> {
        let cat = db::read(&self.db)?;
        let blobs = cat.referenced_blobs();
        let snaps = cat.referenced_snapshots();
        for (dir, keep, is_dir) in [
            (&self.paths.blobs, &blobs, false),
            (&self.paths.packed, &blobs, false),
            (&self.paths.snapshots, &snaps, true),
        ] {
            let entries = match fs::read_dir(dir) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                r => r.ctx(|| format!("failed to read {}", dir.display()))?,
            };
            for ent in entries {
                let ent = ent.ctx(|| format!("failed to read {}", dir.display()))?;
                let name = ent.file_name().to_string_lossy().into_owned();
                if keep.contains(&name) {
                    continue;
                }
                tracing::info!(path = %ent.path().display(), "removing unreferenced leftover");
                if is_dir {
                    remove_tree(&ent.path())?;
                } else {
                    fs::remove_file(ent.path())
                        .ctx(|| format!("failed to remove {}", ent.path().display()))?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn pins_lock(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.pins.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn known_sources_lock(&self) -> MutexGuard<'_, HashMap<Digest, Digest>> {
        self.known_sources.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn pin(&self, keys: Vec<String>) -> Pins<'_> {
        let mut m = self.pins_lock();
        for k in &keys {
            *m.entry(k.clone()).or_insert(0) += 1;
        }
        drop(m);
        Pins { store: self, keys }
    }

    /// Deletes the given blobs and snapshots unless a committed image or a running
    /// operation still uses them. Returns the hexes of snapshots removed.
    pub(crate) fn delete_unreferenced(
        &self,
        blobs: &[Digest],
        snapshots: &[Digest],
    ) -> Result<HashSet<String>> {
        let mut trash = Vec::new();
        let mut removed = HashSet::new();
        let mut errors = Vec::new();
        {
            let pins = self.pins_lock();
            let cat = db::read(&self.db)?;
            let keep_b = cat.referenced_blobs();
            let keep_s = cat.referenced_snapshots();
            for b in blobs {
                if keep_b.contains(b.hex()) || pins.contains_key(&blob_key(b)) {
                    continue;
                }
                for p in [self.paths.blob(b), self.paths.packed(b)] {
                    match fs::remove_file(p) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => errors.push(Error::io(format!("failed to remove blob {b}"), e)),
                    }
                }
            }
            for s in snapshots {
                if keep_s.contains(s.hex())
                    || pins.contains_key(&snap_key(s))
                    || removed.contains(s.hex())
                {
                    continue;
                }
                // Renamed out of sight under the lock (fast), deleted after it.
                let t = self.paths.temp_path("trash");
                match fs::rename(self.paths.snapshot(s), &t) {
                    Ok(()) => {
                        trash.push(t);
                        removed.insert(s.hex().to_string());
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => errors.push(Error::io(format!("failed to remove snapshot {s}"), e)),
                }
            }
        }
        for t in trash {
            if let Err(e) = remove_tree(&t) {
                errors.push(e);
            }
        }
        // Cleanup keeps going and reports what failed; leftovers are collected at next open.
        for e in &errors {
            tracing::warn!(error = %e, "image cleanup");
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(removed),
        }
    }

    pub(crate) fn catalog(&self) -> Result<Catalog> {
        db::read(&self.db)
    }

    pub(crate) fn paths(&self) -> &Paths {
        &self.paths
    }

    pub(crate) fn db(&self) -> &redb::Database {
        &self.db
    }

    pub(crate) fn image_from(
        &self,
        cat: &Catalog,
        id: &Digest,
        rec: &ImageRecord,
    ) -> Result<Image> {
        let bytes = self.config_bytes(id)?;
        let config: ImageConfigFile = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Corrupt(format!("config of image {id}: {e}")))?;
        Ok(Image {
            id: id.clone(),
            layers: rec
                .layers
                .iter()
                .map(|l| Layer {
                    diff_id: l.diff_id.clone(),
                    chain_id: l.chain_id.clone(),
                    size: l.size,
                })
                .collect(),
            repo_tags: cat.tags_of(id),
            repo_digests: rec.repo_digests.clone(),
            size: rec.layers.iter().map(|l| l.size).sum(),
            parent: rec.parent.clone(),
            created: config.created.clone().unwrap_or_default(),
            config,
        })
    }

    /// All images, newest first.
    pub fn list(&self) -> Result<Vec<Image>> {
        let cat = self.catalog()?;
        let mut out = cat
            .images
            .iter()
            .map(|(id, rec)| self.image_from(&cat, id, rec))
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| {
            let ta = parse_time(&a.created).unwrap_or(0);
            let tb = parse_time(&b.created).unwrap_or(0);
            tb.cmp(&ta).then_with(|| a.id.cmp(&b.id))
        });
        Ok(out)
    }

    pub fn get(&self, id: &Digest) -> Result<Image> {
        let cat = self.catalog()?;
        let rec = cat
            .images
            .get(id)
            .ok_or_else(|| Error::no_such_image(id.as_str()))?;
        self.image_from(&cat, id, rec)
    }

    /// Docker's lookup: full ID ("sha256:…" or 64 hex), then normalized reference (tag or digest),
    /// then unambiguous ID prefix (with or without "sha256:"). NotFound: "No such image: {input}".
    pub fn resolve(&self, name_or_id: &str) -> Result<Image> {
        let cat = self.catalog()?;
        let (id, _) = cat
            .resolve(name_or_id)
            .ok_or_else(|| Error::no_such_image(name_or_id))?;
        let rec = &cat.images[&id];
        self.image_from(&cat, &id, rec)
    }

    /// The config JSON exactly as stored (its sha256 is the image ID).
    pub fn config_bytes(&self, id: &Digest) -> Result<Vec<u8>> {
        fs::read(self.paths.blob(id)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::no_such_image(id.as_str()),
            _ => Error::io(format!("failed to read config of image {id}"), e),
        })
    }

    /// Points `target` at the image `source` names; moves the tag if it pointed elsewhere.
    pub fn tag(&self, source: &str, target: &Reference) -> Result<()> {
        if target.digest.is_some() {
            return Err(Error::InvalidArgument(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let target = match target.tag {
            Some(_) => target.clone(),
            None => target.with_tag(wharf_types::reference::DEFAULT_TAG)?,
        };
        db::update(&self.db, |cat| {
            let (id, _) = cat
                .resolve(source)
                .ok_or_else(|| Error::no_such_image(source))?;
            cat.set_tag(&target, &id);
            Ok(())
        })
    }

    /// Newest first, docker's shape: the top entry carries the image id and tags, the
    /// ones below `"<missing>"`; empty_layer steps have size 0.
    pub fn history(&self, id: &Digest) -> Result<Vec<HistoryItem>> {
        let img = self.get(id)?;
        let secs = |s: Option<&str>| {
            s.and_then(parse_time)
                .map(|n| (n / 1_000_000_000) as i64)
                .unwrap_or(0)
        };
        let mut items = Vec::new();
        let mut layers = img.layers.iter();
        for h in &img.config.history {
            let size = if h.empty_layer {
                0
            } else {
                layers.next().map(|l| l.size).unwrap_or(0)
            };
            items.push(HistoryItem {
                id: "<missing>".into(),
                created: secs(h.created.as_deref()),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: Vec::new(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
            });
        }
        // Layers the history does not account for (configs without history).
        for l in layers {
            items.push(HistoryItem {
                id: "<missing>".into(),
                created: secs(Some(&img.created)),
                created_by: String::new(),
                tags: Vec::new(),
                size: l.size,
                comment: String::new(),
            });
        }
        items.reverse();
        if items.is_empty() {
            items.push(HistoryItem {
                id: String::new(),
                created: secs(Some(&img.created)),
                created_by: String::new(),
                tags: Vec::new(),
                size: 0,
                comment: String::new(),
            });
        }
        items[0].id = img.id.to_string();
        items[0].tags = img
            .repo_tags
            .iter()
            .map(Reference::familiar_string)
            .collect();
        Ok(items)
    }

    /// Snapshot dirs, TOP-most first (overlay lowerdir order).
    pub fn layer_dirs(&self, id: &Digest) -> Result<Vec<PathBuf>> {
        let cat = self.catalog()?;
        let rec = cat
            .images
            .get(id)
            .ok_or_else(|| Error::no_such_image(id.as_str()))?;
        Ok(rec
            .layers
            .iter()
            .rev()
            .map(|l| self.paths.snapshot(&l.chain_id))
            .collect())
    }
}
