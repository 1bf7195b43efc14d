//! `docker load`: docker-archive (manifest.json; legacy `<id>/layer.tar` with symlinked
//! duplicate layers, and Docker 25+ `blobs/sha256/`) and OCI image layout archives.
//!
//! The outer tar is spooled into `tmp/` first: regular files only, each into a file named by
//! a counter (no archive-controlled names touch the disk), symlinks and hardlinks kept as
//! in-memory aliases resolved inside the archive. Every blob the archive names by digest is
//! verified while spooling; configs are checked against their names and layers against the
//! config's diff_ids. Then the layers are ingested in parallel, everything is synced, and
//! all image records and tags are committed in one transaction.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{self, File};
use std::io::{BufWriter, Read};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};

use serde::Deserialize;
use wharf_types::{Digest, HashingWriter, Reference};

use crate::compress::BUF_SIZE;
use crate::db::{self, ImageRecord, LayerRecord};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{chain_ids, TempPath};
use crate::layer::{content_size, run_job, run_parallel, speculate, LayerJob, Spec};
use crate::store::{blob_key, snap_key};
use crate::unpack::clean_path;
use crate::{ImageConfigFile, ImageStore};

const MAX_JSON: u64 = 16 << 20;

struct SpoolFile {
    path: PathBuf,
    digest: Digest,
    size: u64,
}

struct Spool {
    _dir: TempPath,
    files: HashMap<String, SpoolFile>,
    links: HashMap<String, String>,
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::invalid(format!("invalid archive: {msg}"))
}

fn clean(raw: &[u8]) -> Result<String> {
    let parts = clean_path(raw).map_err(|_| {
        bad(format!(
            "path {:?} escapes the archive",
            String::from_utf8_lossy(raw)
        ))
    })?;
    let s = parts.join(&b'/');
    String::from_utf8(s).map_err(|_| bad("non UTF-8 path"))
}

impl Spool {
    /// `on_file` sees each regular file once it is completely spooled and verified.
    fn read(
        paths: &crate::fsutil::Paths,
        src: &mut dyn Read,
        on_file: &mut dyn FnMut(&str, &SpoolFile),
    ) -> Result<Spool> {
        let dir = paths.temp_dir("load")?;
        let mut files = HashMap::new();
        let mut links = HashMap::new();
        let mut archive = tar::Archive::new(src);
        let mut n = 0usize;
        let mut buf = vec![0u8; BUF_SIZE];
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let name = clean(&entry.path_bytes())?;
            match entry.header().entry_type() {
                t if t.is_file() => {
                    n += 1;
                    let path = dir.path.join(n.to_string());
                    let f = File::create(&path)
                        .ctx(|| format!("failed to create {}", path.display()))?;
                    let mut w = HashingWriter::new(BufWriter::with_capacity(BUF_SIZE, f));
                    let want = entry.size();
                    loop {
                        let k = entry
                            .read(&mut buf)
                            .map_err(|e| bad(format!("reading {name}: {e}")))?;
                        if k == 0 {
                            break;
                        }
                        std::io::Write::write_all(&mut w, &buf[..k])
                            .ctx(|| "failed to spool archive".into())?;
                    }
                    let (digest, size, bw) = w.finish();
                    bw.into_inner()
                        .map_err(|e| Error::io("failed to spool archive", e.into_error()))?;
                    if size != want {
                        return Err(bad(format!(
                            "truncated archive: {name} ends after {size} of {want} bytes"
                        )));
                    }
                    if let Some(hex) = name.strip_prefix("blobs/sha256/") {
                        if digest.hex() != hex {
                            return Err(bad(format!("blob {name} has digest {digest}")));
                        }
                    }
                    links.remove(&name);
                    let f = SpoolFile { path, digest, size };
                    on_file(&name, &f);
                    files.insert(name, f);
                }
                tar::EntryType::Symlink => {
                    let target = entry
                        .link_name_bytes()
                        .ok_or_else(|| bad("symlink without target"))?;
                    let full = if target.starts_with(b"/") {
                        target.to_vec()
                    } else {
                        let parent = name.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                        [parent.as_bytes(), b"/", &target].concat()
                    };
                    let t = clean(&full)?;
                    files.remove(&name);
                    links.insert(name, t);
                }
                tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .ok_or_else(|| bad("hardlink without target"))?;
                    let t = clean(&target)?;
                    files.remove(&name);
                    links.insert(name, t);
                }
                _ => {} // directories and anything else carry nothing we need
            }
        }
        Ok(Spool {
            _dir: dir,
            files,
            links,
        })
    }

    fn get(&self, name: &str) -> Result<&SpoolFile> {
        let mut cur = clean(name.as_bytes())?;
        for _ in 0..16 {
            if let Some(f) = self.files.get(&cur) {
                return Ok(f);
            }
            match self.links.get(&cur) {
                Some(t) => cur = t.clone(),
                None => break,
            }
        }
        Err(bad(format!("{name} not found in the archive")))
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_ok()
    }

    fn json<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<T> {
        let f = self.get(name)?;
        if f.size > MAX_JSON {
            return Err(bad(format!("{name} is too large")));
        }
        let bytes = fs::read(&f.path).ctx(|| format!("failed to read {name}"))?;
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("{name}: {e}")))
    }

    fn blob_name(d: &Digest) -> String {
        format!("blobs/sha256/{}", d.hex())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestItem {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: i64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct OciManifest {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// One image of the archive, checked.
struct Candidate {
    id: Digest,
    config_bytes: Vec<u8>,
    config: ImageConfigFile,
    diff_ids: Vec<Digest>,
    layer_files: Vec<String>,
    tags: Vec<Reference>,
}

pub(crate) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn is_index(media_type: &str) -> bool {
    media_type.ends_with("image.index.v1+json") || media_type.ends_with("manifest.list.v2+json")
}

impl ImageStore {
    /// Accepts a docker-archive (manifest.json; legacy `<id>/layer.tar` and Docker 25+ `blobs/sha256/` layouts)
    /// or an OCI image layout archive (oci-layout + index.json, tags from `org.opencontainers.image.ref.name`
    /// / `io.containerd.image.name` annotations); layers gzip, zstd or plain.
    /// Returns the loaded names: familiar references, or "sha256:…" ids of untagged images.
    pub fn load(&self, src: &mut dyn Read, progress: &mut dyn FnMut(&str)) -> Result<Vec<String>> {
        let t0 = std::time::Instant::now();
        let (spool, mut specs) = self.spool_and_speculate(src)?;
        tracing::debug!(elapsed = ?t0.elapsed(), speculative = specs.len(), "spooled archive");
        let candidates = if spool.has("manifest.json") {
            self.docker_candidates(&spool)?
        } else if spool.has("index.json") {
            self.oci_candidates(&spool)?
        } else {
            return Err(bad(
                "neither manifest.json nor index.json found (not a docker-archive or OCI layout)",
            ));
        };
        if candidates.is_empty() {
            return Err(bad("no images found"));
        }

        // Pin what we rely on before looking at what exists (see store::Pins).
        let mut keys = Vec::new();
        let mut chains_of = Vec::new();
        for c in &candidates {
            keys.push(blob_key(&c.id));
            let chains = chain_ids(&c.diff_ids);
            for (d, ch) in c.diff_ids.iter().zip(&chains) {
                keys.push(blob_key(d));
                keys.push(snap_key(ch));
            }
            chains_of.push(chains);
        }
        let _pins = self.pin(keys);
        let cat = self.catalog()?;

        // One job per distinct diff_id: its blob and every snapshot it is the top of.
        let mut jobs: BTreeMap<Digest, LayerJob> = BTreeMap::new();
        let mut sizes: HashMap<Digest, u64> = HashMap::new();
        for (c, chains) in candidates.iter().zip(&chains_of) {
            for ((d, ch), file) in c.diff_ids.iter().zip(chains).zip(&c.layer_files) {
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
                let sf = spool.get(file)?;
                let job = jobs.entry(d.clone()).or_insert_with(|| LayerJob {
                    source: sf.path.clone(),
                    source_digest: sf.digest.clone(),
                    diff_id: d.clone(),
                    need_blob,
                    snapshots: Vec::new(),
                    spec: Mutex::new(specs.remove(&sf.path)),
                });
                if need_snap && !job.snapshots.contains(ch) {
                    job.snapshots.push(ch.clone());
                }
            }
        }
        let jobs: Vec<LayerJob> = jobs.into_values().collect();
        let t1 = std::time::Instant::now();
        let results = run_parallel(jobs.len(), &|i| run_job(self.paths(), &jobs[i]))?;
        tracing::debug!(elapsed = ?t1.elapsed(), layers = jobs.len(), "layers ingested");
        drop(specs); // speculative work nobody needed: its temporaries go
        {
            let mut known = self.known_sources_lock();
            for j in &jobs {
                if j.source_digest != j.diff_id {
                    known.insert(j.source_digest.clone(), j.diff_id.clone());
                }
            }
        }
        for (job, size) in jobs.iter().zip(results) {
            if let Some(s) = size {
                for ch in &job.snapshots {
                    sizes.insert(ch.clone(), s);
                }
            }
        }
        // Layers whose snapshot existed without a recorded size (not expected): count them.
        for (c, chains) in candidates.iter().zip(&chains_of) {
            for (d, ch) in c.diff_ids.iter().zip(chains) {
                if !sizes.contains_key(ch) {
                    sizes.insert(ch.clone(), content_size(self.paths(), d)?);
                }
            }
        }
        for c in &candidates {
            self.paths().put_blob(&c.config_bytes)?;
        }
        // The spooled archive is not needed any more: remove it before the sync, so the
        // sync does not write it out.
        drop(spool);
        let t2 = std::time::Instant::now();
        self.paths().sync()?;
        tracing::debug!(elapsed = ?t2.elapsed(), "synced");

        let mut lines = Vec::new();
        let mut names = Vec::new();
        db::update(self.db(), |cat| {
            for (c, chains) in candidates.iter().zip(&chains_of) {
                let layers = c
                    .diff_ids
                    .iter()
                    .zip(chains)
                    .map(|(d, ch)| LayerRecord {
                        diff_id: d.clone(),
                        chain_id: ch.clone(),
                        size: sizes[ch],
                    })
                    .collect();
                let old = cat.images.get(&c.id);
                let rec = ImageRecord {
                    layers,
                    repo_digests: old.map(|o| o.repo_digests.clone()).unwrap_or_default(),
                    parent: old.and_then(|o| o.parent.clone()),
                    created: c.config.created.clone().unwrap_or_default(),
                };
                cat.images.insert(c.id.clone(), rec);
                for t in &c.tags {
                    if let Some(prev) = cat.set_tag(t, &c.id) {
                        lines.push(format!(
                            "The image {} already exists, renaming the old one with ID {prev} to empty string",
                            t.familiar_string()
                        ));
                    }
                    lines.push(format!("Loaded image: {}", t.familiar_string()));
                    names.push(t.familiar_string());
                }
                if c.tags.is_empty() {
                    lines.push(format!("Loaded image ID: {}", c.id));
                    names.push(c.id.to_string());
                }
            }
            Ok(())
        })?;
        for l in &lines {
            progress(l);
        }
        Ok(names)
    }

    /// Spools the archive while worker threads already ingest the files that look like
    /// layers (decompress, hash, blob, unpack — all into `tmp/`), overlapping the sequential
    /// read of the archive with the layer work. Files that are already stored (plain tars
    /// whose digest is a blob; compressed files seen before) are left for the normal path,
    /// which reuses existing snapshots.
    #[allow(clippy::type_complexity)]
    fn spool_and_speculate(
        &self,
        src: &mut dyn Read,
    ) -> Result<(Spool, HashMap<PathBuf, Result<Spec>>)> {
        let known = self.known_sources_lock().clone();
        let queue: Mutex<(VecDeque<(PathBuf, Digest)>, bool)> =
            Mutex::new((VecDeque::new(), false));
        let cv = Condvar::new();
        let specs: Mutex<HashMap<PathBuf, Result<Spec>>> = Mutex::new(HashMap::new());
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 8);
        let spool = std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let item = {
                        let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
                        loop {
                            if let Some(it) = q.0.pop_front() {
                                break Some(it);
                            }
                            if q.1 {
                                break None;
                            }
                            q = cv.wait(q).unwrap_or_else(|p| p.into_inner());
                        }
                    };
                    let Some((path, digest)) = item else { break };
                    let r = match speculate(self.paths(), &path, &digest) {
                        Ok(None) => continue,
                        Ok(Some(spec)) => Ok(spec),
                        Err(e) => Err(e),
                    };
                    specs
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(path, r);
                });
            }
            let r = Spool::read(self.paths(), src, &mut |name, f| {
                let base = name.rsplit('/').next().unwrap_or(name);
                if f.size < 512
                    || base.ends_with(".json")
                    || matches!(base, "json" | "VERSION" | "repositories" | "oci-layout")
                {
                    return;
                }
                if self.paths().blob(&f.digest).is_file() {
                    return;
                }
                if known
                    .get(&f.digest)
                    .is_some_and(|d| self.paths().has_layer(d))
                {
                    return;
                }
                queue
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .0
                    .push_back((f.path.clone(), f.digest.clone()));
                cv.notify_one();
            });
            queue.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
            cv.notify_all();
            r
        })?;
        Ok((spool, specs.into_inner().unwrap_or_else(|p| p.into_inner())))
    }

    fn candidate(
        &self,
        spool: &Spool,
        config_name: &str,
        expect_id: Option<&Digest>,
        layer_files: Vec<String>,
        tags: Vec<Reference>,
    ) -> Result<Candidate> {
        let f = spool.get(config_name)?;
        if f.size > MAX_JSON {
            return Err(bad(format!("config {config_name} is too large")));
        }
        let config_bytes = fs::read(&f.path).ctx(|| format!("failed to read {config_name}"))?;
        let id = Digest::of(&config_bytes);
        if let Some(e) = expect_id {
            if *e != id {
                return Err(bad(format!(
                    "config {config_name} has digest {id}, expected {e}"
                )));
            }
        }
        let config: ImageConfigFile = serde_json::from_slice(&config_bytes)
            .map_err(|e| bad(format!("config {config_name}: {e}")))?;
        let diff_ids = config
            .rootfs
            .diff_ids
            .iter()
            .map(|d| {
                d.parse::<Digest>()
                    .map_err(|e| bad(format!("config {config_name}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        if diff_ids.len() != layer_files.len() {
            return Err(bad(format!(
                "image {id}: config lists {} layers but the manifest has {}",
                diff_ids.len(),
                layer_files.len()
            )));
        }
        Ok(Candidate {
            id,
            config_bytes,
            config,
            diff_ids,
            layer_files,
            tags,
        })
    }

    fn docker_candidates(&self, spool: &Spool) -> Result<Vec<Candidate>> {
        let items: Vec<ManifestItem> = spool.json("manifest.json")?;
        let mut out = Vec::new();
        for it in items {
            // Legacy archives name the config "<id>.json": that name is its digest.
            let expect = it
                .config
                .strip_suffix(".json")
                .and_then(|h| Digest::from_hex(h).ok())
                .or_else(|| {
                    it.config
                        .strip_prefix("blobs/sha256/")
                        .and_then(|h| Digest::from_hex(h).ok())
                });
            let mut tags = Vec::new();
            for t in it.repo_tags.unwrap_or_default() {
                let r = Reference::parse_normalized(&t)
                    .map_err(|e| bad(format!("repo tag {t:?}: {e}")))?;
                if r.digest.is_some() {
                    return Err(bad(format!("repo tag {t:?} has a digest")));
                }
                tags.push(r);
            }
            out.push(self.candidate(spool, &it.config, expect.as_ref(), it.layers, tags)?);
        }
        Ok(out)
    }

    fn oci_candidates(&self, spool: &Spool) -> Result<Vec<Candidate>> {
        if !spool.has("oci-layout") {
            return Err(bad("index.json without oci-layout"));
        }
        let index: Index = spool.json("index.json")?;
        let mut out: Vec<Candidate> = Vec::new();
        for desc in &index.manifests {
            let mut tags = Vec::new();
            let name = desc
                .annotations
                .get("io.containerd.image.name")
                .or_else(|| {
                    desc.annotations
                        .get("org.opencontainers.image.ref.name")
                        .filter(|n| n.contains(['/', ':']))
                });
            if let Some(n) = name {
                let r = Reference::parse_normalized(n)
                    .map_err(|e| bad(format!("image name {n:?}: {e}")))?;
                if r.digest.is_none() {
                    tags.push(r);
                }
            }
            let manifest = self.pick_manifest(spool, desc, 0)?;
            let config = manifest
                .config
                .as_ref()
                .ok_or_else(|| bad("manifest without config"))?;
            let cd: Digest = config.digest.parse().map_err(bad)?;
            let mut files = Vec::new();
            for l in &manifest.layers {
                let d: Digest = l.digest.parse().map_err(bad)?;
                let name = Spool::blob_name(&d);
                if spool.get(&name)?.size as i64 != l.size && l.size != 0 {
                    return Err(bad(format!(
                        "layer {d}: size does not match its descriptor"
                    )));
                }
                files.push(name);
            }
            // The same image named by several descriptors: one candidate, all tags.
            if let Some(c) = out.iter_mut().find(|c| c.id == cd) {
                for t in tags {
                    if !c.tags.contains(&t) {
                        c.tags.push(t);
                    }
                }
                continue;
            }
            out.push(self.candidate(spool, &Spool::blob_name(&cd), Some(&cd), files, tags)?);
        }
        Ok(out)
    }

    /// Follows an index descriptor down to one image manifest (this platform's, else the
    /// first).
    fn pick_manifest(&self, spool: &Spool, desc: &Descriptor, depth: usize) -> Result<OciManifest> {
        if depth > 4 {
            return Err(bad("image indexes nested too deeply"));
        }
        let d: Digest = desc.digest.parse().map_err(bad)?;
        let m: OciManifest = spool.json(&Spool::blob_name(&d))?;
        if is_index(&desc.media_type)
            || is_index(&m.media_type)
            || (m.config.is_none() && !m.manifests.is_empty())
        {
            let chosen = m
                .manifests
                .iter()
                .find(|x| {
                    x.platform
                        .as_ref()
                        .is_some_and(|p| p.os == "linux" && p.architecture == host_arch())
                })
                .or_else(|| m.manifests.iter().find(|x| x.platform.is_none()))
                .or_else(|| m.manifests.first())
                .ok_or_else(|| bad(format!("index {d} lists no manifests")))?;
            return self.pick_manifest(spool, chosen, depth + 1);
        }
        Ok(m)
    }
}
