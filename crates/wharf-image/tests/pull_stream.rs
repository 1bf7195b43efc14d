//! `ImageStore::store_pulled` with a `LayerGate`, as a pull drives it: each layer is
//! unpacked while its file is still being written by a (here simulated) download, and
//! nothing reaches the store unless every download is verified and every diff_id checks out.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use wharf_image::{LayerGate, PullOutcome, PulledLayer, Reference};

/// A simulated download of layer `i`: appends to its file and reports to the gate.
struct Download {
    gate: Arc<LayerGate>,
    i: usize,
    f: File,
    written: u64,
}

impl Download {
    fn start(gate: &Arc<LayerGate>, i: usize, path: &Path) -> Download {
        Download {
            gate: gate.clone(),
            i,
            f: File::create(path).unwrap(),
            written: 0,
        }
    }

    /// Writes in 64 KiB pieces, reporting each (the daemon reports every 512 KiB).
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(64 * 1024) {
            self.f.write_all(c).unwrap();
            self.written += c.len() as u64;
            self.gate.progress(self.i, self.written);
        }
    }

    fn finish(self, outcome: Result<(), String>) {
        self.gate.open(self.i, outcome);
    }
}

/// Bytes gzip cannot shrink much (so a layer is many reads long).
fn noise(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A layer: a small file `<tag>-first`, then 2 MB of noise in `<tag>-last`.
fn layer(tag: &str, seed: u32) -> (Vec<u8>, Vec<u8>) {
    let mut t = RawTar::new();
    t.file(&format!("{tag}-first"), tag.as_bytes())
        .file(&format!("{tag}-last"), &noise(2 << 20, seed));
    let tar = t.finish();
    let gz = gzip(&tar);
    (tar, gz)
}

/// Waits (up to 20 s) until a snapshot being unpacked in `tmp/` holds `name` with `len`
/// bytes: the unpacker got that far.
fn unpacked_in_tmp(root: &Path, name: &str, len: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for e in std::fs::read_dir(root.join("tmp")).unwrap().flatten() {
            if let Ok(m) = std::fs::metadata(e.path().join(name)) {
                if m.len() == len {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Nothing visible in the store: no blob, no snapshot, nothing left in tmp/, no image.
fn store_unchanged(e: &Env) {
    // (the empty `blobs/sha256/` a fresh store has)
    assert_eq!(tree(&e.root), vec!["blobs/sha256/".to_string()]);
    assert!(e.store.list().unwrap().is_empty());
}

/// A pull in progress: an image whose config names the layers `tars` (uncompressed) and
/// whose blobs are `blobs` (as served), stored with a gate while the test plays the
/// downloads.
struct Pull {
    e: Env,
    config: Vec<u8>,
    layers: Vec<PulledLayer>,
    gate: Arc<LayerGate>,
}

impl Pull {
    fn new(tars: &[&[u8]], blobs: &[&[u8]]) -> Pull {
        let e = env();
        let dir = e.dir.path().join("downloads");
        std::fs::create_dir_all(&dir).unwrap();
        let layers = blobs
            .iter()
            .enumerate()
            .map(|(i, b)| PulledLayer {
                path: dir.join(format!("layer-{i}")),
                digest: sha(b).parse().unwrap(),
            })
            .collect();
        Pull {
            config: config_for(tars, "2024-01-01T00:00:00Z"),
            layers,
            gate: Arc::new(LayerGate::new(blobs.len())),
            e,
        }
    }

    /// Layer `i`'s download begins (its file is created).
    fn download(&self, i: usize) -> Download {
        Download::start(&self.gate, i, &self.layers[i].path)
    }

    /// Stores the pull on another thread (tagged `reference`) while `downloads` runs on this
    /// one; the store's result.
    fn run(
        &self,
        reference: Option<&Reference>,
        downloads: impl FnOnce(&Pull),
    ) -> wharf_image::Result<PullOutcome> {
        std::thread::scope(|s| {
            let store = s.spawn(|| {
                self.e.store.store_pulled(
                    &self.config,
                    &self.layers,
                    reference,
                    "",
                    Some(&self.gate),
                )
            });
            downloads(self);
            store.join().unwrap()
        })
    }

    /// How many snapshots are in the store (committed).
    fn snapshots(&self) -> usize {
        std::fs::read_dir(self.e.root.join("snapshots"))
            .unwrap()
            .count()
    }

    /// The pull failed with `error` and the store is as it was.
    fn refused(&self, r: wharf_image::Result<PullOutcome>, error: &str) {
        let err = r.unwrap_err();
        assert!(err.to_string().contains(error), "{err}");
        store_unchanged(&self.e);
    }
}

#[test]
fn a_layer_is_unpacked_while_its_download_is_still_arriving() {
    let (tar, gz) = layer("a", 1);
    let p = Pull::new(&[&tar], &[&gz]);
    let r = Reference::parse_normalized("127.0.0.1:5000/stream:1").unwrap();
    let (mut seen, mut in_store) = (false, usize::MAX);
    let out = p
        .run(Some(&r), |p| {
            let mut d = p.download(0);
            let half = gz.len() / 2;
            d.write(&gz[..half]);
            // Half the blob is here: the first file is unpacked already, into tmp/ only.
            seen = unpacked_in_tmp(&p.e.root, "a-first", 1);
            in_store = p.snapshots();
            d.write(&gz[half..]);
            d.finish(Ok(()));
        })
        .unwrap();
    assert!(seen, "nothing unpacked before the download completed");
    assert_eq!(
        in_store, 0,
        "a snapshot was committed before the layer was verified"
    );
    assert!(out.updated);
    let e = &p.e;
    let img = e.store.resolve("127.0.0.1:5000/stream:1").unwrap();
    assert_eq!(img.id.as_str(), sha(&p.config));
    let dirs = e.store.layer_dirs(&img.id).unwrap();
    assert_eq!(std::fs::read(dirs[0].join("a-first")).unwrap(), b"a");
    assert_eq!(
        std::fs::read(dirs[0].join("a-last")).unwrap(),
        noise(2 << 20, 1)
    );
    // The layer is kept as it was pulled, compressed, named by its diff_id: a hard link to
    // the download (what the engine keeps for push), not a second, uncompressed copy.
    let diff_hex = &sha(&tar)["sha256:".len()..];
    let packed = e.root.join("blobs/packed").join(diff_hex);
    assert_eq!(std::fs::read(&packed).unwrap(), gz);
    assert!(!e.root.join("blobs/sha256").join(diff_hex).exists());
    {
        use std::os::unix::fs::MetadataExt;
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        assert_eq!(ino(&packed), ino(&p.layers[0].path));
    }
    assert_eq!(std::fs::read_dir(e.root.join("tmp")).unwrap().count(), 0);
    // `save` still writes the layer as docker does: the uncompressed tar under its diff_id.
    let mut out = Vec::new();
    e.store
        .save(&["127.0.0.1:5000/stream:1".to_string()], &mut out)
        .unwrap();
    let mut a = tar::Archive::new(&out[..]);
    let saved = a
        .entries()
        .unwrap()
        .map(|x| x.unwrap())
        .find(|x| x.path().unwrap().to_string_lossy() == format!("blobs/sha256/{diff_hex}"))
        .map(|mut x| {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut x, &mut b).unwrap();
            b
        })
        .expect("the layer in the saved archive");
    assert_eq!(saved, tar);
    // Removing the image removes the packed layer too.
    e.store
        .remove("127.0.0.1:5000/stream:1", false, false, &|_| None)
        .unwrap();
    assert!(!packed.exists());
}

/// The download's digest check fails after the layer was completely unpacked (and another
/// layer was complete and verified): the store stays as it was.
#[test]
fn a_digest_mismatch_after_the_layer_unpacked_stores_nothing() {
    let (tar0, gz0) = layer("a", 1);
    let (tar1, gz1) = layer("b", 2);
    let p = Pull::new(&[&tar0, &tar1], &[&gz0, &gz1]);
    let (mut seen, mut in_store) = (false, usize::MAX);
    let r = p.run(None, |p| {
        let mut d0 = p.download(0);
        d0.write(&gz0);
        d0.finish(Ok(()));
        let mut d1 = p.download(1);
        d1.write(&gz1);
        seen = unpacked_in_tmp(&p.e.root, "b-last", 2 << 20);
        in_store = p.snapshots();
        d1.finish(Err(format!(
            "digest mismatch for blob {}: the registry sent content with digest {}",
            p.layers[1].digest,
            sha(b"other")
        )));
    });
    assert!(seen, "layer 1 was not unpacked before its outcome");
    assert_eq!(
        in_store, 0,
        "layer 0 was committed before layer 1 was verified"
    );
    p.refused(r, "digest mismatch for blob");
}

/// A download that breaks off for good (the daemon gave up resuming): the unpacker, which
/// was reading behind it, stops with the download's error; nothing is stored.
#[test]
fn a_truncated_download_stores_nothing() {
    let (tar, gz) = layer("a", 3);
    let p = Pull::new(&[&tar], &[&gz]);
    let mut seen = false;
    let r = p.run(None, |p| {
        let mut d = p.download(0);
        d.write(&gz[..gz.len() / 2]);
        seen = unpacked_in_tmp(&p.e.root, "a-first", 1);
        d.finish(Err(format!(
            "failed to download {}: the registry sent {} of {} bytes (gave up after 5 resumes)",
            p.layers[0].digest,
            gz.len() / 2,
            gz.len()
        )));
    });
    assert!(seen, "nothing unpacked before the download failed");
    p.refused(r, "gave up after 5 resumes");
}

/// Feeds every layer completely, each verified.
fn complete<'a>(blobs: &'a [&'a [u8]]) -> impl FnOnce(&Pull) + 'a {
    move |p| {
        for (i, b) in blobs.iter().enumerate() {
            let mut d = p.download(i);
            d.write(b);
            d.finish(Ok(()));
        }
    }
}

/// A blob whose digest checked out but whose content is not the config's diff_id.
#[test]
fn a_wrong_diff_id_is_refused_while_streaming() {
    let (_, gz) = layer("a", 4);
    let (other, _) = layer("a", 5);
    let p = Pull::new(&[&other], &[&gz]);
    p.refused(p.run(None, complete(&[&gz])), "layer digest mismatch");
}

/// The unpacker's refusals hold on the streamed path: a `..` entry fails the pull, nothing
/// is written outside the snapshot, nothing is stored.
#[test]
fn a_path_escape_is_refused_while_streaming() {
    let mut t = RawTar::new();
    t.file("ok", b"fine").file("../../escaped", b"x");
    let tar = t.finish();
    let gz = gzip(&tar);
    let p = Pull::new(&[&tar], &[&gz]);
    p.refused(p.run(None, complete(&[&gz])), "escapes the layer root");
    assert!(!p.e.root.join("escaped").exists());
    assert!(!p.e.root.join("tmp/escaped").exists());
}

/// A plain (uncompressed) layer blob streams too; its blob is the downloaded file itself.
#[test]
fn a_plain_tar_layer_streams_and_is_stored() {
    let (tar, _) = layer("p", 6);
    let p = Pull::new(&[&tar], &[&tar]);
    p.run(None, complete(&[&tar])).unwrap();
    let img = &p.e.store.list().unwrap()[0];
    let dirs = p.e.store.layer_dirs(&img.id).unwrap();
    assert_eq!(std::fs::read(dirs[0].join("p-first")).unwrap(), b"p");
    assert_eq!(std::fs::read_dir(p.e.root.join("tmp")).unwrap().count(), 0);
}
