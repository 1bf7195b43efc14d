//! load (OCI layout with gzip+zstd layers and whiteouts, legacy docker-archive, the real
//! `docker save` fixture), save → load round trips, snapshot contents.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use common::*;
use wharf_image::Digest;

fn base_layer() -> Vec<u8> {
    let mut t = RawTar::new();
    t.dir("etc")
        .file("etc/hello", b"hello\n")
        .dir("d")
        .file("d/a", b"a")
        .file("rm-me", b"bye");
    t.file_mode("bin-suid", b"#!", 0o4755);
    t.pax(&[("SCHILY.xattr.user.test", b"v1")])
        .file("with-xattr", b"x");
    t.raw("fifo", tar::EntryType::Fifo, b"", 0o600, "");
    t.symlink("link", "etc/hello").hardlink("hard", "etc/hello");
    t.finish()
}

fn top_layer() -> Vec<u8> {
    let mut t = RawTar::new();
    t.file(".wh.rm-me", b"")
        .dir("d")
        .file("d/.wh..wh..opq", b"")
        .file("d/b", b"b");
    t.finish()
}

fn check_snapshots(dirs: &[std::path::PathBuf]) {
    let (top, base) = (&dirs[0], &dirs[1]);
    assert_eq!(std::fs::read(base.join("etc/hello")).unwrap(), b"hello\n");
    assert_eq!(
        std::fs::metadata(base.join("bin-suid")).unwrap().mode() & 0o7777,
        0o4755
    );
    assert_eq!(
        rustix::fs::getxattr(base.join("with-xattr"), "user.test", &mut [0u8; 8]).unwrap(),
        2
    );
    assert!(std::fs::symlink_metadata(base.join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        std::fs::read_link(base.join("link")).unwrap(),
        Path::new("etc/hello")
    );
    assert_eq!(
        std::fs::metadata(base.join("hard")).unwrap().ino(),
        std::fs::metadata(base.join("etc/hello")).unwrap().ino()
    );
    assert_eq!(
        std::fs::metadata(base.join("etc/hello")).unwrap().mtime(),
        1_600_000_000
    );
    assert_eq!(
        std::fs::metadata(base.join("etc")).unwrap().mtime(),
        1_600_000_000,
        "dir mtime set after children"
    );
    // whiteout → char device 0:0; opaque → xattr
    let wh = std::fs::symlink_metadata(top.join("rm-me")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    let mut v = [0u8; 4];
    let n = rustix::fs::lgetxattr(top.join("d"), "trusted.overlay.opaque", &mut v).unwrap();
    assert_eq!(&v[..n], b"y");
    assert_eq!(std::fs::read(top.join("d/b")).unwrap(), b"b");
    assert!(!top.join("d/.wh..wh..opq").exists());
    assert!(!top.join(".wh.rm-me").exists());
}

#[test]
fn loads_oci_layout_with_gzip_and_zstd_layers() {
    let e = env();
    let (b, t) = (base_layer(), top_layer());
    let (archive, id) = oci_archive(
        Some("docker.io/library/test:oci"),
        &[gzip(&b), zstd(&t)],
        &[&b, &t],
        "2024-02-03T04:05:06.123456789Z",
    );
    let mut lines = Vec::new();
    let names = e
        .store
        .load(&mut &archive[..], &mut |l| lines.push(l.to_string()))
        .unwrap();
    assert_eq!(names, ["test:oci"]);
    assert_eq!(lines, ["Loaded image: test:oci"]);
    let img = e.store.resolve("test:oci").unwrap();
    assert_eq!(img.id.to_string(), id);
    assert_eq!(img.layers.len(), 2);
    assert_eq!(img.layers[0].diff_id.to_string(), sha(&b));
    assert_eq!(img.size, img.layers.iter().map(|l| l.size).sum::<u64>());
    assert_eq!(
        img.layers[0].size,
        6 + 1 + 3 + 2 + 1 + "etc/hello".len() as u64,
        "files + symlink target, a hardlink once (docker)"
    );
    assert_eq!(img.created, "2024-02-03T04:05:06.123456789Z");
    // stored uncompressed, keyed by diff_id
    assert_eq!(
        std::fs::read(e.root.join("blobs/sha256").join(&sha(&t)[7..])).unwrap(),
        t
    );
    assert_eq!(
        e.store.config_bytes(&img.id).unwrap(),
        std::fs::read(e.root.join("blobs/sha256").join(&id[7..])).unwrap()
    );
    let dirs = e.store.layer_dirs(&img.id).unwrap();
    assert_eq!(
        dirs[1].file_name().unwrap().to_str().unwrap(),
        &sha(&b)[7..],
        "bottom chain id = diff id"
    );
    check_snapshots(&dirs);
    assert!(
        std::fs::read_dir(e.root.join("tmp"))
            .unwrap()
            .next()
            .is_none(),
        "tmp is clean"
    );
}

#[test]
fn loads_legacy_docker_archive_and_reuses_snapshots() {
    let e = env();
    let (b, t) = (base_layer(), top_layer());
    let (archive, id) = legacy_archive("legacy:1", &[&b, &t], "2024-01-01T00:00:00Z");
    let names = e.store.load(&mut &archive[..], &mut noop).unwrap();
    assert_eq!(names, ["legacy:1"]);
    let img = e.store.resolve("legacy:1").unwrap();
    assert_eq!(img.id.to_string(), id);
    check_snapshots(&e.store.layer_dirs(&img.id).unwrap());
    // a second image on the same base: the base snapshot is reused (same inode), not re-unpacked
    let base_dir = &e.store.layer_dirs(&img.id).unwrap()[1];
    let ino = std::fs::metadata(base_dir.join("etc/hello")).unwrap().ino();
    let mut t2 = RawTar::new();
    t2.file("other", b"o");
    let t2 = t2.finish();
    let (archive2, id2) = legacy_archive("legacy:2", &[&b, &t2], "2024-01-02T00:00:00Z");
    e.store.load(&mut &archive2[..], &mut noop).unwrap();
    let img2 = e.store.resolve(&id2).unwrap();
    let dirs2 = e.store.layer_dirs(&img2.id).unwrap();
    assert_eq!(&dirs2[1], base_dir);
    assert_eq!(
        std::fs::metadata(dirs2[1].join("etc/hello")).unwrap().ino(),
        ino
    );
    assert_eq!(img2.layers[0].size, img.layers[0].size);
    // newest first
    let list: Vec<String> = e
        .store
        .list()
        .unwrap()
        .iter()
        .map(|i| i.id.to_string())
        .collect();
    assert_eq!(list, [id2, id]);
}

#[test]
fn loads_real_docker_save_fixture() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/docker-save-busybox.tar");
    if !fixture.exists() {
        eprintln!(
            "skipping: {} not present (made by the engine author with a real dockerd)",
            fixture.display()
        );
        return;
    }
    let e = env();
    let mut f = std::fs::File::open(&fixture).unwrap();
    let mut lines = Vec::new();
    let names = e
        .store
        .load(&mut f, &mut |l| lines.push(l.to_string()))
        .unwrap();
    assert!(!names.is_empty());
    assert!(
        lines.iter().all(|l| l.starts_with("Loaded image")),
        "{lines:?}"
    );
    for img in e.store.list().unwrap() {
        let dirs = e.store.layer_dirs(&img.id).unwrap();
        assert_eq!(dirs.len(), img.config.rootfs.diff_ids.len());
        for d in &dirs {
            assert!(d.is_dir());
        }
        assert!(!e.store.history(&img.id).unwrap().is_empty());
    }
    // Docker's own numbers for this fixture (docker image inspect / docker history), and
    // its whiteouts turned into overlay ones.
    if let Ok(img) = e.store.resolve("fixture/layered:2") {
        assert_eq!(img.size, 1_982_345);
        let sizes: Vec<u64> = e
            .store
            .history(&img.id)
            .unwrap()
            .iter()
            .map(|h| h.size)
            .collect();
        assert_eq!(sizes, [0, 0, 4, 3, 1_982_338]);
        let dirs = e.store.layer_dirs(&img.id).unwrap();
        let wh = std::fs::symlink_metadata(dirs[1].join("bin/false")).unwrap();
        assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
        let mut v = [0u8; 4];
        let n = rustix::fs::lgetxattr(dirs[0].join("data/sub"), "trusted.overlay.opaque", &mut v)
            .unwrap();
        assert_eq!(&v[..n], b"y");
        assert_eq!(std::fs::read(dirs[0].join("data/sub/y")).unwrap(), b"new\n");
    }
    // save → load into a fresh store: same IDs and tags
    let all: Vec<String> = names.clone();
    let mut out = Vec::new();
    e.store.save(&all, &mut out).unwrap();
    let e2 = env();
    let names2 = e2.store.load(&mut &out[..], &mut noop).unwrap();
    let mut a = names.clone();
    let mut b = names2.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    let ids = |e: &Env| {
        e.store
            .list()
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect::<Vec<Digest>>()
    };
    assert_eq!(ids(&e), ids(&e2));
}

fn entries(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut a = tar::Archive::new(archive);
    let mut m = BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        assert_eq!(e.header().mtime().unwrap(), 0);
        assert_eq!(e.header().uid().unwrap(), 0);
        let name = e.path().unwrap().display().to_string();
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut v).unwrap();
        m.insert(name, v);
    }
    m
}

#[test]
fn save_then_load_round_trips_both_ways() {
    let e = env();
    let (b, t) = (base_layer(), top_layer());
    let (archive, id) = oci_archive(
        Some("docker.io/library/rt:1"),
        &[gzip(&b), zstd(&t)],
        &[&b, &t],
        "2024-02-03T04:05:06Z",
    );
    e.store.load(&mut &archive[..], &mut noop).unwrap();
    e.store
        .tag(
            "rt:1",
            &wharf_image::Reference::parse_normalized("localhost:5000/rt/two:x").unwrap(),
        )
        .unwrap();

    let mut out = Vec::new();
    e.store
        .save(&["rt:1".into(), "localhost:5000/rt/two:x".into()], &mut out)
        .unwrap();
    let mut again = Vec::new();
    e.store
        .save(
            &["rt:1".into(), "localhost:5000/rt/two:x".into()],
            &mut again,
        )
        .unwrap();
    assert_eq!(out, again, "save is deterministic");

    let files = entries(&out);
    let names: Vec<&String> = files.keys().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(
        files.contains_key("oci-layout")
            && files.contains_key("index.json")
            && files.contains_key("repositories")
    );
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(manifest[0]["Config"], format!("blobs/sha256/{}", &id[7..]));
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["rt:1", "localhost:5000/rt/two:x"])
    );
    assert_eq!(
        manifest[0]["Layers"][0],
        format!("blobs/sha256/{}", &sha(&b)[7..])
    );
    assert_eq!(
        files[&format!("blobs/sha256/{}", &sha(&b)[7..])],
        b,
        "layers saved uncompressed"
    );
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        "docker.io/library/rt:1"
    );
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "1"
    );

    // docker-archive path
    let e2 = env();
    let mut n = e2.store.load(&mut &out[..], &mut noop).unwrap();
    n.sort();
    assert_eq!(n, ["localhost:5000/rt/two:x", "rt:1"]);
    assert_eq!(e2.store.resolve("rt:1").unwrap().id.to_string(), id);
    check_snapshots(
        &e2.store
            .layer_dirs(&e2.store.resolve("rt:1").unwrap().id)
            .unwrap(),
    );

    // OCI-layout path: the same archive without manifest.json
    let mut oci_only = files.clone();
    oci_only.remove("manifest.json");
    oci_only.remove("repositories");
    let e3 = env();
    let mut n = e3
        .store
        .load(&mut &outer(&oci_only)[..], &mut noop)
        .unwrap();
    n.sort();
    assert_eq!(n, ["localhost:5000/rt/two:x", "rt:1"]);
    assert_eq!(
        e3.store
            .resolve("localhost:5000/rt/two:x")
            .unwrap()
            .id
            .to_string(),
        id
    );

    // by ID: no tags
    let mut by_id = Vec::new();
    e.store.save(&[id[7..19].to_string()], &mut by_id).unwrap();
    let f = entries(&by_id);
    let manifest: serde_json::Value = serde_json::from_slice(&f["manifest.json"]).unwrap();
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!([]));
    let e4 = env();
    let mut lines = Vec::new();
    e4.store
        .load(&mut &by_id[..], &mut |l| lines.push(l.to_string()))
        .unwrap();
    assert_eq!(lines, [format!("Loaded image ID: {id}")]);
}

#[test]
fn load_moves_an_existing_tag() {
    let e = env();
    let mut t = RawTar::new();
    t.file("a", b"1");
    let l1 = t.finish();
    let mut t = RawTar::new();
    t.file("a", b"2");
    let l2 = t.finish();
    let (a1, id1) = legacy_archive("x:1", &[&l1], "2024-01-01T00:00:00Z");
    let (a2, id2) = legacy_archive("x:1", &[&l2], "2024-01-01T00:00:00Z");
    e.store.load(&mut &a1[..], &mut noop).unwrap();
    let mut lines = Vec::new();
    e.store
        .load(&mut &a2[..], &mut |l| lines.push(l.to_string()))
        .unwrap();
    assert_eq!(
        lines[0],
        format!("The image x:1 already exists, renaming the old one with ID {id1} to empty string")
    );
    assert_eq!(e.store.resolve("x:1").unwrap().id.to_string(), id2);
    assert!(e.store.resolve(&id1).unwrap().repo_tags.is_empty());
}

#[test]
fn parallel_loads_of_the_same_image_agree() {
    let e = env();
    let (b, t) = (base_layer(), top_layer());
    let (archive, id) = oci_archive(
        Some("docker.io/library/par:1"),
        &[gzip(&b), t.clone()],
        &[&b, &t],
        "2024-01-01T00:00:00Z",
    );
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| e.store.load(&mut &archive[..], &mut noop).unwrap());
        }
    });
    let img = e.store.resolve("par:1").unwrap();
    assert_eq!(img.id.to_string(), id);
    check_snapshots(&e.store.layer_dirs(&img.id).unwrap());
    assert_eq!(
        std::fs::read_dir(e.root.join("snapshots")).unwrap().count(),
        2
    );
    assert!(std::fs::read_dir(e.root.join("tmp"))
        .unwrap()
        .next()
        .is_none());
}

#[test]
fn loads_oci_layout_through_a_nested_index() {
    let e = env();
    let mut t = RawTar::new();
    t.file("hello", b"hi");
    let layer = t.finish();
    let (archive, id) = oci_archive(None, &[zstd(&layer)], &[&layer], "2024-01-01T00:00:00Z");
    // wrap: index.json → image index (two platforms) → our manifest
    let mut files = entries(&archive);
    let top: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let mut inner = top["manifests"][0].clone();
    inner["platform"] = serde_json::json!({"os": "linux", "architecture": wharf_image_arch()});
    let other = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", "0".repeat(64)), "size": 1, "platform": {"os": "linux", "architecture": "s390x"}});
    let nested = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [other, inner]})).unwrap();
    let nd = sha(&nested);
    files.insert(format!("blobs/sha256/{}", &nd[7..]), nested.clone());
    let idx = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": nd, "size": nested.len(), "annotations": {"org.opencontainers.image.ref.name": "example.com/nested:2"}}]});
    files.insert("index.json".into(), serde_json::to_vec(&idx).unwrap());
    let names = e.store.load(&mut &outer(&files)[..], &mut noop).unwrap();
    assert_eq!(names, ["example.com/nested:2"]);
    assert_eq!(
        e.store
            .resolve("example.com/nested:2")
            .unwrap()
            .id
            .to_string(),
        id
    );
}

fn wharf_image_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}
