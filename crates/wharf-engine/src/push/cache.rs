//! The distribution cache (`<data-root>/distribution/`): what the daemon knows about layers'
//! **compressed** forms, which the image store does not keep (it stores layers uncompressed,
//! by diff_id). Docker keeps the same knowledge in its `distribution/` metadata; we also keep
//! the bytes, so that pushing a pulled image sends the very blobs and manifest it was pulled
//! as (same digests), and a locally built layer is compressed once, not on every push.
//!
//! - `layers/<diff_id hex>.json`: [`LayerInfo`]: the compressed blob's digest, size, media
//!   type, and the repositories known to hold it (`sources`, for cross-repository mounts).
//! - `blobs/<hex>`: compressed layer blobs (kept from pulls, or made by push).
//! - `manifests/<image id hex>` + `.type`: the manifest an image was pulled or pushed as.
//!
//! Every file is written to `tmp/` and renamed, so a crash leaves no torn entry; entries whose
//! layer or image left the store are swept ([`DistCache::sweep`]). Synchronous: call from
//! the blocking pool.

use std::fs;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wharf_types::{Digest, Digester};

use crate::api::ApiError;

/// Docker's media type of a gzip layer (schema 2).
pub const GZIP_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// A repository of a registry that holds a blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub registry: String,
    pub repository: String,
}

/// The known compressed form of one layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    #[serde(default)]
    pub sources: Vec<Source>,
}

pub struct DistCache {
    root: PathBuf,
    /// The image store's blob directory (uncompressed layers by diff_id, configs by id).
    store_blobs: PathBuf,
    data_root: PathBuf,
}

fn io_err(what: String, e: std::io::Error) -> ApiError {
    ApiError::internal(format!("{what}: {e}"))
}

impl DistCache {
    pub fn new(data_root: &Path) -> DistCache {
        DistCache {
            root: data_root.join("distribution"),
            store_blobs: data_root.join("blobs").join("sha256"),
            data_root: data_root.to_path_buf(),
        }
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs").join(d.hex())
    }

    fn layer_path(&self, diff_id: &Digest) -> PathBuf {
        self.root
            .join("layers")
            .join(format!("{}.json", diff_id.hex()))
    }

    fn tmp_path(&self) -> Result<PathBuf, ApiError> {
        let dir = self.root.join("tmp");
        fs::create_dir_all(&dir)
            .map_err(|e| io_err(format!("failed to create {}", dir.display()), e))?;
        Ok(dir.join(wharf_types::id::random_id()))
    }

    /// Writes `bytes` to `dst` through a temp file and a rename.
    fn write_atomic(&self, dst: &Path, bytes: &[u8]) -> Result<(), ApiError> {
        if let Some(dir) = dst.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| io_err(format!("failed to create {}", dir.display()), e))?;
        }
        let tmp = self.tmp_path()?;
        fs::write(&tmp, bytes)
            .map_err(|e| io_err(format!("failed to write {}", tmp.display()), e))?;
        fs::rename(&tmp, dst).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_err(format!("failed to write {}", dst.display()), e)
        })
    }

    /// The known compressed form of a layer, if its blob is here.
    pub fn layer(&self, diff_id: &Digest) -> Option<LayerInfo> {
        let info: LayerInfo =
            serde_json::from_slice(&fs::read(self.layer_path(diff_id)).ok()?).ok()?;
        let d: Digest = info.digest.parse().ok()?;
        self.blob_path(&d).is_file().then_some(info)
    }

    pub fn put_layer(&self, diff_id: &Digest, info: &LayerInfo) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec(info).map_err(|e| ApiError::internal(e.to_string()))?;
        self.write_atomic(&self.layer_path(diff_id), &bytes)
    }

    /// Records that `src` holds the compressed blob `digest` of `diff_id` (if that is the
    /// form known here).
    pub fn add_source(&self, diff_id: &Digest, digest: &str, src: &Source) -> Result<(), ApiError> {
        let Some(mut info) = self.layer(diff_id) else {
            return Ok(());
        };
        if info.digest != digest || info.sources.contains(src) {
            return Ok(());
        }
        info.sources.push(src.clone());
        // A bounded list: the most recent repositories are the likeliest to still hold it.
        if info.sources.len() > 16 {
            info.sources.remove(0);
        }
        self.put_layer(diff_id, &info)
    }

    /// Keeps a downloaded, verified compressed layer (`file`, moved) as the known form of
    /// `diff_id`.
    pub fn adopt(&self, diff_id: &Digest, file: &Path, info: LayerInfo) -> Result<(), ApiError> {
        let d: Digest = info
            .digest
            .parse()
            .map_err(|_| ApiError::invalid(format!("unsupported digest {}", info.digest)))?;
        let dst = self.blob_path(&d);
        if !dst.is_file() {
            if let Some(dir) = dst.parent() {
                fs::create_dir_all(dir)
                    .map_err(|e| io_err(format!("failed to create {}", dir.display()), e))?;
            }
            fs::rename(file, &dst)
                .map_err(|e| io_err(format!("failed to keep {}", dst.display()), e))?;
        }
        let mut info = info;
        if let Some(old) = self.layer(diff_id).filter(|o| o.digest == info.digest) {
            for s in old.sources {
                if !info.sources.contains(&s) {
                    info.sources.push(s);
                }
            }
        }
        self.put_layer(diff_id, &info)
    }

    /// Drops the known compressed form of a layer (a registry found it corrupt): the next push
    /// compresses the layer again.
    pub fn forget(&self, diff_id: &Digest) {
        if let Some(info) = self.layer(diff_id) {
            if let Ok(d) = info.digest.parse::<Digest>() {
                let _ = fs::remove_file(self.blob_path(&d));
            }
        }
        let _ = fs::remove_file(self.layer_path(diff_id));
    }

    /// The manifest (bytes, media type) an image was pulled or pushed as.
    pub fn manifest(&self, id: &Digest) -> Option<(Vec<u8>, String)> {
        let p = self.root.join("manifests").join(id.hex());
        let bytes = fs::read(&p).ok()?;
        let mt = fs::read_to_string(p.with_extension("type")).ok()?;
        Some((bytes, mt.trim().to_string()))
    }

    pub fn put_manifest(
        &self,
        id: &Digest,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<(), ApiError> {
        let p = self.root.join("manifests").join(id.hex());
        self.write_atomic(&p.with_extension("type"), media_type.as_bytes())?;
        self.write_atomic(&p, bytes)
    }

    /// The compressed form of a layer: the known one, or the stored uncompressed tar gzip'd
    /// now (deterministically: no name, mtime 0, fixed level), verified against `diff_id`
    /// while it is read, and kept.
    pub fn compressed(&self, diff_id: &Digest) -> Result<LayerInfo, ApiError> {
        if let Some(info) = self.layer(diff_id) {
            return Ok(info);
        }
        self.compress(diff_id, &mut |_| true, &mut |_| {})
    }

    /// Size of the stored uncompressed layer.
    pub fn plain_size(&self, diff_id: &Digest) -> u64 {
        std::fs::metadata(self.store_blobs.join(diff_id.hex())).map_or(0, |m| m.len())
    }

    /// Compresses the stored layer into the cache (as [`DistCache::compressed`]), handing every
    /// compressed chunk to `sink` as it is made (false: stop, the consumer is gone) and the
    /// count of uncompressed bytes read to `progress`.
    pub fn compress(
        &self,
        diff_id: &Digest,
        sink: &mut dyn FnMut(&[u8]) -> bool,
        progress: &mut dyn FnMut(u64),
    ) -> Result<LayerInfo, ApiError> {
        let src = self.store_blobs.join(diff_id.hex());
        let not_found = |e: &dyn std::fmt::Display| {
            ApiError::new(
                wharf_types::ErrorKind::NotFound,
                format!("layer {diff_id} is not in the image store: {e}"),
            )
        };
        // A plain tar; else a pulled layer the store keeps compressed (whose pulled blob this
        // cache lost): decompressed and compressed again, at level 1.
        let (level, f): (flate2::Compression, Box<dyn Read>) = match fs::File::open(&src) {
            Ok(f) => (level_for(&f), Box::new(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let r = wharf_image::open_layer_tar(&self.data_root, diff_id)
                    .map_err(|_| not_found(&e))?;
                (flate2::Compression::fast(), r)
            }
            Err(e) => return Err(not_found(&e)),
        };
        let tmp = self.tmp_path()?;
        let res = (|| -> Result<LayerInfo, ApiError> {
            let out = fs::File::create(&tmp)
                .map_err(|e| io_err(format!("failed to create {}", tmp.display()), e))?;
            let mut out = HashWriter {
                inner: std::io::BufWriter::with_capacity(256 * 1024, out),
                hash: Digester::new(),
                n: 0,
                sink,
            };
            let mut gz = flate2::GzBuilder::new()
                .mtime(0)
                .operating_system(255)
                .write(&mut out, level);
            let mut r = BufReader::with_capacity(256 * 1024, f);
            let mut plain = Digester::new();
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = r
                    .read(&mut buf)
                    .map_err(|e| io_err(format!("failed to read {}", src.display()), e))?;
                if n == 0 {
                    break;
                }
                plain.update(&buf[..n]);
                progress(n as u64);
                gz.write_all(&buf[..n])
                    .map_err(|e| io_err(format!("failed to write {}", tmp.display()), e))?;
            }
            gz.finish()
                .map_err(|e| io_err(format!("failed to write {}", tmp.display()), e))?;
            out.inner
                .flush()
                .map_err(|e| io_err(format!("failed to write {}", tmp.display()), e))?;
            let got = plain.finish();
            if &got != diff_id {
                return Err(ApiError::internal(format!(
                    "layer {diff_id} in the image store is corrupt (its content has digest {got})"
                )));
            }
            let (hash, n) = (out.hash, out.n);
            Ok(LayerInfo {
                digest: hash.finish().to_string(),
                size: n,
                media_type: GZIP_LAYER.to_string(),
                sources: Vec::new(),
            })
        })();
        match res {
            Ok(info) => {
                self.adopt(diff_id, &tmp, info.clone())?;
                let _ = fs::remove_file(&tmp);
                Ok(info)
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Drops entries whose layer or image is no longer in the store (and their blobs).
    pub fn sweep(&self) {
        let exists = |hex: &str| {
            self.store_blobs.join(hex).is_file()
                || Digest::from_hex(hex)
                    .is_ok_and(|d| wharf_image::layer_stored(&self.data_root, &d))
        };
        let mut keep_blobs = std::collections::HashSet::new();
        if let Ok(rd) = fs::read_dir(self.root.join("layers")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let hex = name.trim_end_matches(".json");
                let info: Option<LayerInfo> = fs::read(e.path())
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok());
                match info {
                    Some(i) if exists(hex) => {
                        keep_blobs.insert(i.digest.trim_start_matches("sha256:").to_string());
                    }
                    _ => {
                        let _ = fs::remove_file(e.path());
                    }
                }
            }
        }
        if let Ok(rd) = fs::read_dir(self.root.join("blobs")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !keep_blobs.contains(&name) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        if let Ok(rd) = fs::read_dir(self.root.join("manifests")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let hex = name.trim_end_matches(".type");
                if !exists(hex) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }
}

/// Writes to the cache file, hashing, and hands each chunk to a consumer.
struct HashWriter<'a, W: Write> {
    inner: W,
    hash: Digester,
    n: u64,
    sink: &'a mut dyn FnMut(&[u8]) -> bool,
}

impl<W: Write> Write for HashWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.n += n as u64;
        if !(self.sink)(&buf[..n]) {
            return Err(std::io::Error::other("the upload of this layer stopped"));
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The gzip level for a layer: 1 (fast), or 0 — stored deflate blocks, still gzip — when
/// four 64 KiB samples spread over it shrink by less than 10 % at level 1: random or
/// already-compressed content, on which level 1 spends about 19 ms of CPU per MB and can
/// even grow the data by 3 % (ADR-0008; tar headers and padding alone save a few percent in
/// a sample). Decided from the content alone, so a layer always compresses to the same bytes.
fn level_for(f: &fs::File) -> flate2::Compression {
    use std::os::unix::fs::FileExt;
    const SAMPLE: usize = 64 * 1024;
    let len = f.metadata().map_or(0, |m| m.len());
    if len < 4 * SAMPLE as u64 {
        return flate2::Compression::fast();
    }
    let (mut plain, mut packed) = (0usize, 0usize);
    let mut buf = vec![0u8; SAMPLE];
    for k in 0..4u64 {
        let Ok(()) = f.read_exact_at(&mut buf, (len - SAMPLE as u64) * k / 3) else {
            return flate2::Compression::fast();
        };
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        if e.write_all(&buf).is_err() {
            return flate2::Compression::fast();
        }
        plain += SAMPLE;
        packed += e.finish().map_or(SAMPLE, |o| o.len());
    }
    if packed * 10 >= plain * 9 {
        flate2::Compression::none()
    } else {
        flate2::Compression::fast()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn compression_is_deterministic_and_cached() {
        let dir = tempfile::tempdir().unwrap();
        let data = b"some layer bytes ".repeat(1000);
        let diff_id = Digest::of(&data);
        fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        fs::write(dir.path().join("blobs/sha256").join(diff_id.hex()), &data).unwrap();
        let c = DistCache::new(dir.path());
        let a = c.compressed(&diff_id).unwrap();
        let bytes = fs::read(c.blob_path(&a.digest.parse().unwrap())).unwrap();
        assert_eq!(Digest::of(&bytes).to_string(), a.digest);
        assert_eq!(bytes.len() as u64, a.size);
        // a fresh compression gives the same bytes
        fs::remove_dir_all(dir.path().join("distribution")).unwrap();
        let b = c.compressed(&diff_id).unwrap();
        assert_eq!(a, b);
        let src = Source {
            registry: "r".into(),
            repository: "x/y".into(),
        };
        c.add_source(&diff_id, &a.digest, &src).unwrap();
        assert_eq!(c.layer(&diff_id).unwrap().sources, vec![src]);
        // the store lost the layer: swept
        fs::remove_file(dir.path().join("blobs/sha256").join(diff_id.hex())).unwrap();
        c.sweep();
        assert!(c.layer(&diff_id).is_none());
    }

    #[test]
    fn a_layer_the_store_keeps_compressed_is_compressed_again_and_kept_by_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let data = b"a pulled layer ".repeat(1000);
        let diff_id = Digest::of(&data);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&data).unwrap();
        fs::create_dir_all(dir.path().join("blobs/packed")).unwrap();
        fs::write(
            dir.path().join("blobs/packed").join(diff_id.hex()),
            gz.finish().unwrap(),
        )
        .unwrap();
        let c = DistCache::new(dir.path());
        let a = c.compressed(&diff_id).unwrap();
        let bytes = fs::read(c.blob_path(&a.digest.parse().unwrap())).unwrap();
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, data);
        c.sweep();
        assert_eq!(c.layer(&diff_id), Some(a));
        fs::remove_file(dir.path().join("blobs/packed").join(diff_id.hex())).unwrap();
        c.sweep();
        assert!(c.layer(&diff_id).is_none());
    }

    #[test]
    fn incompressible_layers_are_stored_and_others_compressed() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        let c = DistCache::new(dir.path());
        // 1 MiB of xorshift noise (incompressible), and 1 MiB of text.
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let noise: Vec<u8> = (0..1 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let text = b"a line of a config file\n".repeat((1 << 20) / 24);
        for (data, stored) in [(&noise, true), (&text, false)] {
            let diff_id = Digest::of(data);
            fs::write(dir.path().join("blobs/sha256").join(diff_id.hex()), data).unwrap();
            let a = c.compressed(&diff_id).unwrap();
            let bytes = fs::read(c.blob_path(&a.digest.parse().unwrap())).unwrap();
            let mut back = Vec::new();
            flate2::read::MultiGzDecoder::new(&bytes[..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == *data);
            let n = data.len();
            if stored {
                assert!(
                    bytes.len() > n && bytes.len() < n + n / 100,
                    "{}",
                    bytes.len()
                );
            } else {
                assert!(bytes.len() < n / 10, "{}", bytes.len());
            }
            // the same bytes again: the choice depends on the content only
            fs::remove_dir_all(dir.path().join("distribution")).unwrap();
            assert_eq!(c.compressed(&diff_id).unwrap(), a);
        }
    }

    #[test]
    fn corrupt_store_layer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = Digest::of(b"expected");
        fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        fs::write(dir.path().join("blobs/sha256").join(d.hex()), b"other").unwrap();
        let c = DistCache::new(dir.path());
        assert!(c.compressed(&d).is_err());
        assert!(c.layer(&d).is_none());
    }
}
