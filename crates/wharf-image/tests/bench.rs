//! Throughput check, ignored by default:
//! `WHARF_BENCH_TAR=/path/img.tar cargo test -p wharf-image --release --test bench -- --ignored --nocapture`
//! (make the archive with `python3 bench/gen-image.py img.tar 200 4 5000`).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

#[test]
#[ignore]
fn load_and_save_throughput() {
    let Ok(path) = std::env::var("WHARF_BENCH_TAR") else {
        eprintln!("set WHARF_BENCH_TAR");
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter("wharf_image=debug")
        .with_writer(std::io::stderr)
        .try_init();
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let db = Arc::new(redb::Database::create(dir.path().join("meta.db")).unwrap());
    let store = wharf_image::ImageStore::open(&dir.path().join("root"), db).unwrap();
    let t = Instant::now();
    let mut f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&path).unwrap());
    let names = store.load(&mut f, &mut |_| {}).unwrap();
    let load = t.elapsed().as_secs_f64();
    let size: u64 = store.list().unwrap().iter().map(|i| i.size).sum();
    let t = Instant::now();
    let mut out =
        std::io::BufWriter::new(std::fs::File::create(dir.path().join("out.tar")).unwrap());
    store.save(&names, &mut out).unwrap();
    drop(out);
    let save = t.elapsed().as_secs_f64();
    let mb = size as f64 / 1e6;
    eprintln!(
        "{mb:.1} MB content: load {load:.3}s ({:.0} MB/s), save {save:.3}s ({:.0} MB/s)",
        mb / load,
        mb / save
    );
}

/// Writes our `save` of the docker fixture to $WHARF_SAVE_OUT, to feed a real `docker load`.
#[test]
#[ignore]
fn save_fixture_for_docker() {
    let Ok(out) = std::env::var("WHARF_SAVE_OUT") else {
        return;
    };
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/docker-save-busybox.tar");
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let db = Arc::new(redb::Database::create(dir.path().join("meta.db")).unwrap());
    let store = wharf_image::ImageStore::open(&dir.path().join("root"), db).unwrap();
    let names = store
        .load(&mut std::fs::File::open(fixture).unwrap(), &mut |_| {})
        .unwrap();
    let mut names = names;
    let first = store.resolve(&names[0]).unwrap();
    names.push(first.id.hex()[..12].to_string());
    store
        .save(&names, &mut std::fs::File::create(out).unwrap())
        .unwrap();
    for i in store.list().unwrap() {
        eprintln!(
            "{} {:?}",
            i.id,
            i.repo_tags
                .iter()
                .map(|r| r.familiar_string())
                .collect::<Vec<_>>()
        );
    }
}
