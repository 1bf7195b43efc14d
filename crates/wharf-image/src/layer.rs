//! Layer ingestion: one streaming pass decompresses (gzip/zstd/plain), hashes (the diff_id),
//! writes the uncompressed tar as a blob and unpacks it into a snapshot — all into `tmp/`.
//! Only when the diff_id checks out are the blob and snapshot renamed into place; on any
//! error the temporaries are removed and the store is unchanged.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use wharf_types::{Digest, Digester};

use crate::compress::{self, Compression, BUF_SIZE};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{Paths, TempPath};
use crate::unpack::unpack;

/// Reads through `inner`, hashing every byte and copying it to an optional blob file.
struct Tee<R> {
    inner: R,
    hasher: Digester,
    sink: Option<BufWriter<File>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        if let Some(s) = &mut self.sink {
            s.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

/// What one streaming pass produced, still in `tmp/`.
pub(crate) struct Streamed {
    pub diff_id: Digest,
    pub blob: Option<TempPath>,
    pub snapshot: Option<(TempPath, u64)>,
}

/// Decompresses `src`, hashing the tar; writes it to a temp blob if `want_blob`, unpacks it
/// into a temp snapshot if `want_snapshot`.
pub(crate) fn stream_layer(
    paths: &Paths,
    src: impl BufRead,
    want_blob: bool,
    want_snapshot: bool,
) -> Result<Streamed> {
    let decoder = compress::decompressed(src)?;
    let blob = if want_blob {
        Some(TempPath::new(paths.temp_path("layer")))
    } else {
        None
    };
    let sink = match &blob {
        Some(t) => Some(BufWriter::with_capacity(
            BUF_SIZE,
            File::create(&t.path).ctx(|| format!("failed to create {}", t.path.display()))?,
        )),
        None => None,
    };
    let mut tee = Tee {
        inner: decoder,
        hasher: Digester::new(),
        sink,
    };
    let snapshot = if want_snapshot {
        let dir = paths.temp_dir("snapshot")?;
        let size = unpack(&mut tee, &dir.path)?;
        Some((dir, size))
    } else {
        None
    };
    // The diff_id covers the whole uncompressed stream, including what follows the tar's
    // end-of-archive marker.
    io::copy(&mut tee, &mut io::sink()).map_err(|e| Error::Invalid {
        message: format!("failed to read layer: {e}"),
        source: Some(e),
    })?;
    if let Some(s) = tee.sink.take() {
        let f = s
            .into_inner()
            .map_err(|e| Error::io("failed to write layer blob", e.into_error()))?;
        f.sync_data().ctx(|| "failed to sync layer blob".into())?;
    }
    Ok(Streamed {
        diff_id: tee.hasher.finish(),
        blob,
        snapshot,
    })
}

/// Unpacks an uncompressed tar file into a temp snapshot.
pub(crate) fn unpack_file(paths: &Paths, tar: &Path) -> Result<(TempPath, u64)> {
    let f = File::open(tar).ctx(|| format!("failed to open {}", tar.display()))?;
    unpack_reader(paths, f)
}

/// Unpacks a stored layer (plain or kept compressed) into a temp snapshot.
pub(crate) fn unpack_layer(paths: &Paths, diff_id: &Digest) -> Result<(TempPath, u64)> {
    unpack_reader(paths, paths.open_layer(diff_id)?)
}

fn unpack_reader(paths: &Paths, tar: impl Read) -> Result<(TempPath, u64)> {
    let mut r = BufReader::with_capacity(BUF_SIZE, tar);
    let dir = paths.temp_dir("snapshot")?;
    let size = unpack(&mut r, &dir.path)?;
    Ok((dir, size))
}

/// Sum of regular file sizes in a stored layer's tar (the layer size docker reports),
/// without unpacking.
pub(crate) fn content_size(paths: &Paths, diff_id: &Digest) -> Result<u64> {
    let mut a = tar::Archive::new(BufReader::with_capacity(
        BUF_SIZE,
        paths.open_layer(diff_id)?,
    ));
    let mut n = 0;
    for e in a.entries().ctx(|| "failed to read layer".into())? {
        let e = e.ctx(|| "failed to read layer".into())?;
        match e.header().entry_type() {
            t if t.is_file() => n += e.size(),
            tar::EntryType::Symlink => {
                n += e.link_name_bytes().map(|l| l.len() as u64).unwrap_or(0)
            }
            _ => {}
        }
    }
    Ok(n)
}

pub(crate) fn mismatch(expected: &Digest, got: &Digest) -> Error {
    Error::invalid(format!(
        "layer digest mismatch: config names diff_id {expected} but the layer's content is {got}"
    ))
}

/// A layer ingested speculatively while the rest of the archive was still being spooled
/// (before the manifest said what it is): still all in `tmp/`.
pub(crate) struct Spec {
    pub diff_id: Digest,
    /// The uncompressed blob; `None` when the spooled file itself is the plain tar.
    pub blob: Option<TempPath>,
    pub snapshot: (TempPath, u64),
}

/// Ingests a spooled file if it looks like a layer (gzip, zstd, or a tar with the ustar
/// magic); `Ok(None)` when it does not (configs, manifests).
pub(crate) fn speculate(paths: &Paths, path: &Path, digest: &Digest) -> Result<Option<Spec>> {
    let f = File::open(path).ctx(|| format!("failed to open {}", path.display()))?;
    let mut br = BufReader::with_capacity(BUF_SIZE, f);
    let head = br.fill_buf().ctx(|| "failed to read layer".into())?;
    let plain = match head {
        [0x1f, 0x8b, ..] | [0x28, 0xb5, 0x2f, 0xfd, ..] => false,
        h if h.len() >= 262 && &h[257..262] == b"ustar" => true,
        _ => return Ok(None),
    };
    if plain {
        drop(br);
        let snapshot = unpack_file(paths, path)?;
        return Ok(Some(Spec {
            diff_id: digest.clone(),
            blob: None,
            snapshot,
        }));
    }
    let s = stream_layer(paths, br, true, true)?;
    let snapshot = s
        .snapshot
        .ok_or_else(|| Error::invalid("layer produced no snapshot"))?;
    Ok(Some(Spec {
        diff_id: s.diff_id,
        blob: s.blob,
        snapshot,
    }))
}

/// One layer of a load: a spooled file holding it (maybe compressed) whose sha256 is known.
pub(crate) struct LayerJob {
    pub source: PathBuf,
    pub source_digest: Digest,
    pub diff_id: Digest,
    pub need_blob: bool,
    /// Chain ids whose snapshot (this layer unpacked) must be made.
    pub snapshots: Vec<Digest>,
    /// The speculative result for `source`, if one was made.
    pub spec: Mutex<Option<Result<Spec>>>,
}

/// Keeps a pulled layer in the compressed form it was downloaded in: `blobs/packed/<diff_id>`
/// becomes a hard link to the verified download (which the engine's distribution cache then
/// takes as the blob to push), so the layer's bytes are written once, not again as a tar.
fn link_packed(paths: &Paths, job: &LayerJob) -> Result<()> {
    let dst = paths.packed(&job.diff_id);
    let failed = |e: io::Error| Error::io(format!("failed to store layer {}", dst.display()), e);
    fs::create_dir_all(&paths.packed).map_err(failed)?;
    match fs::hard_link(&job.source, &dst) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        // another filesystem: a copy under a temp name, then the rename
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) => {
            let tmp = TempPath::new(paths.temp_path("packed"));
            fs::copy(&job.source, &tmp.path).map_err(failed)?;
            fs::rename(&tmp.path, &dst).map_err(failed)?;
            tmp.keep();
            Ok(())
        }
        Err(e) => Err(failed(e)),
    }
}

fn store_blob(paths: &Paths, job: &LayerJob, tmp: Option<TempPath>) -> Result<()> {
    let dst = paths.blob(&job.diff_id);
    match tmp {
        Some(b) => {
            fs::rename(&b.path, &dst).ctx(|| format!("failed to store blob {}", dst.display()))?;
            b.keep();
        }
        // hard link, so the spooled file can still be read below / by other images
        None => match fs::hard_link(&job.source, &dst) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(Error::io(
                    format!("failed to store blob {}", dst.display()),
                    e,
                ))
            }
        },
    }
    Ok(())
}

/// Runs one load job: verified blob and snapshots renamed into place. Returns the layer's
/// content size when it unpacked.
pub(crate) fn run_job(paths: &Paths, job: &LayerJob) -> Result<Option<u64>> {
    let spec = job.spec.lock().unwrap_or_else(|p| p.into_inner()).take();
    match spec {
        Some(Err(e)) => return Err(e),
        Some(Ok(spec)) => {
            if spec.diff_id != job.diff_id {
                return Err(mismatch(&job.diff_id, &spec.diff_id));
            }
            if job.need_blob {
                store_blob(paths, job, spec.blob)?;
            }
            let (dir, size) = spec.snapshot;
            if let Some((first, rest)) = job.snapshots.split_first() {
                paths.commit_snapshot(dir, first)?;
                for chain in rest {
                    let (dir, _) = unpack_layer(paths, &job.diff_id)?;
                    paths.commit_snapshot(dir, chain)?;
                }
            }
            return Ok(Some(size));
        }
        None => {}
    }
    let f = File::open(&job.source).ctx(|| format!("failed to open {}", job.source.display()))?;
    let mut br = BufReader::with_capacity(BUF_SIZE, f);
    let comp = compress::detect(&mut br)?;
    let mut size = None;
    let mut rest = job.snapshots.as_slice();
    if comp == Compression::None {
        // The spooled file is the uncompressed tar: its digest is the diff_id.
        if job.source_digest != job.diff_id {
            return Err(mismatch(&job.diff_id, &job.source_digest));
        }
        drop(br);
        if job.need_blob {
            // made durable by the caller's syncfs before the commit
            store_blob(paths, job, None)?;
        }
        for chain in rest {
            let (dir, n) = unpack_file(paths, &job.source)?;
            paths.commit_snapshot(dir, chain)?;
            size = Some(n);
        }
        return Ok(size);
    }
    let want_snap = !rest.is_empty();
    let s = stream_layer(paths, br, job.need_blob, want_snap)?;
    if s.diff_id != job.diff_id {
        return Err(mismatch(&job.diff_id, &s.diff_id));
    }
    if let Some(b) = s.blob {
        store_blob(paths, job, Some(b))?;
    }
    if let Some((dir, n)) = s.snapshot {
        paths.commit_snapshot(dir, &rest[0])?;
        size = Some(n);
        rest = &rest[1..];
    }
    // The same layer at another position in some stack (rare): unpack again from the blob.
    for chain in rest {
        let (dir, n) = unpack_layer(paths, &job.diff_id)?;
        paths.commit_snapshot(dir, chain)?;
        size = Some(n);
    }
    Ok(size)
}

/// Runs `n` independent jobs on a few threads (as many as cores, 2 to 8). The first error
/// wins: the other workers take no new job, and the error of the lowest failed index is
/// returned.
pub(crate) fn run_parallel<T: Send>(
    n: usize,
    job: &(dyn Fn(usize) -> Result<T> + Sync),
) -> Result<Vec<T>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<T>>>> = Mutex::new((0..n).map(|_| None).collect());
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8)
        .min(n);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let r = job(i);
                if r.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut out = Vec::with_capacity(n);
    for r in results {
        match r {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => return Err(e),
            None => {
                return Err(Error::invalid(
                    "layer not processed after an earlier failure",
                ))
            }
        }
    }
    Ok(out)
}

/// A layer made in `tmp/` and verified, not yet in place: a pull renames it into the store
/// only once every layer of the image is ([`commit_staged`]).
pub(crate) struct Staged {
    /// The uncompressed blob; `None` when the source itself is the plain tar (hard-linked)
    /// or is kept compressed (`packed`).
    blob: Option<TempPath>,
    /// The source is compressed and is kept as it is, in `blobs/packed/`.
    packed: bool,
    snapshots: Vec<(TempPath, Digest)>,
    size: Option<u64>,
}

/// Stages one layer read from `src` while its bytes still arrive (a pull's download): one
/// pass decompresses, hashes (the diff_id) and unpacks into `tmp/`. `verified` blocks until
/// the source is complete and its digest checked (the download's outcome); nothing is staged
/// unless it and the diff_id check out. Snapshots of the same layer at other positions (rare)
/// are unpacked again from the staged blob.
pub(crate) fn stage_streamed(
    paths: &Paths,
    job: &LayerJob,
    src: impl Read,
    verified: &dyn Fn() -> Result<()>,
) -> Result<Staged> {
    let mut br = BufReader::with_capacity(BUF_SIZE, src);
    let plain = compress::detect(&mut br)? == Compression::None;
    if plain && job.source_digest != job.diff_id {
        return Err(mismatch(&job.diff_id, &job.source_digest));
    }
    let want_snap = !job.snapshots.is_empty();
    // A compressed download is kept as it is (`blobs/packed/`), not written again as a tar.
    let s = stream_layer(paths, br, false, want_snap)?;
    verified()?;
    if s.diff_id != job.diff_id {
        return Err(mismatch(&job.diff_id, &s.diff_id));
    }
    let mut staged = Staged {
        blob: s.blob,
        packed: !plain,
        snapshots: Vec::new(),
        size: None,
    };
    let mut rest = job.snapshots.as_slice();
    if let Some((dir, n)) = s.snapshot {
        staged.snapshots.push((dir, rest[0].clone()));
        staged.size = Some(n);
        rest = &rest[1..];
    }
    for chain in rest {
        let f =
            File::open(&job.source).ctx(|| format!("failed to open {}", job.source.display()))?;
        let (dir, n) = unpack_reader(
            paths,
            compress::decompressed(BufReader::with_capacity(BUF_SIZE, f))?,
        )?;
        staged.snapshots.push((dir, chain.clone()));
        staged.size = Some(n);
    }
    Ok(staged)
}

/// Moves a staged layer into place: its blob (if the store needs it), then its snapshots.
/// Returns the layer's content size when it was unpacked.
pub(crate) fn commit_staged(paths: &Paths, job: &LayerJob, staged: Staged) -> Result<Option<u64>> {
    if job.need_blob {
        if staged.packed {
            link_packed(paths, job)?;
        } else {
            store_blob(paths, job, staged.blob)?;
        }
    }
    for (dir, chain) in staged.snapshots {
        paths.commit_snapshot(dir, &chain)?;
    }
    Ok(staged.size)
}
