//! Hostile layers (SECURITY.md: CVE-2021-32760, tar desync): each one fails with a clear
//! error, nothing appears outside the data root, and the store is unchanged.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use wharf_image::{ImportOptions, Reference};
use wharf_types::ErrorKind;

fn import(e: &Env, layer: &[u8]) -> wharf_image::Result<wharf_image::Digest> {
    let opts = ImportOptions {
        reference: Some(Reference::parse_normalized("evil:1").unwrap()),
        ..Default::default()
    };
    e.store.import(&mut &layer[..], &opts)
}

/// Imports `layer`, expecting a failure whose message contains `want`; checks nothing
/// changed in the store and nothing appeared in `outside`.
fn refused(layer: &[u8], want: &str, outside_setup: impl Fn(&Path)) {
    let e = env();
    let outside = e.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    outside_setup(&outside);
    let before_out = listing(&outside);
    let before = tree(&e.root);
    let err = import(&e, layer).expect_err("hostile layer must be refused");
    let msg = err.to_string();
    assert!(msg.contains(want), "error {msg:?} should mention {want:?}");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{msg}");
    assert_eq!(tree(&e.root), before, "store changed after {msg}");
    assert_eq!(
        listing(&outside),
        before_out,
        "something appeared outside after {msg}"
    );
    assert!(e.store.list().unwrap().is_empty());
    assert!(e.store.resolve("evil:1").is_err());
}

fn listing(p: &Path) -> Vec<(String, u32)> {
    use std::os::unix::fs::MetadataExt;
    let mut v: Vec<_> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().mode(),
            )
        })
        .collect();
    v.sort();
    v
}

fn abs(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn symlink_then_write_through_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("outside");
    let mut t = RawTar::new();
    t.symlink("evil", &abs(&out)).file("evil/pwned", b"x");
    let layer = t.finish();
    refused(&layer, "symbolic link", |_| {});
    assert!(!out.join("pwned").exists());
    // relative variant, and through a symlinked directory deeper down
    let mut t = RawTar::new();
    t.dir("a")
        .symlink("a/b", "../../../../../../../../tmp")
        .file("a/b/wharf-pwned", b"x");
    refused(&t.finish(), "symbolic link", |_| {});
    assert!(!Path::new("/tmp/wharf-pwned").exists());
}

#[test]
fn dotdot_path_is_refused() {
    let mut t = RawTar::new();
    t.file("ok", b"1")
        .file("../../../../../../../../tmp/wharf-dotdot", b"x");
    refused(&t.finish(), "escapes the layer", |_| {});
    assert!(!Path::new("/tmp/wharf-dotdot").exists());
    let mut t = RawTar::new();
    t.file("a/../../wharf-dotdot2", b"x");
    refused(&t.finish(), "escapes the layer", |_| {});
}

#[test]
fn absolute_path_is_made_relative() {
    let e = env();
    let outside = e.dir.path().join("outside-abs");
    let mut t = RawTar::new();
    t.file(&format!("{}/file", abs(&outside)), b"inside");
    let id = import(&e, &t.finish()).unwrap();
    assert!(!outside.exists(), "absolute path was written outside");
    let dirs = e.store.layer_dirs(&id).unwrap();
    let inner = dirs[0]
        .join(outside.strip_prefix("/").unwrap())
        .join("file");
    assert_eq!(std::fs::read(inner).unwrap(), b"inside");
}

#[test]
fn hardlink_to_outside_is_refused() {
    let mut t = RawTar::new();
    t.hardlink("x", "../../../../../../../../etc/passwd");
    refused(&t.finish(), "escapes the layer", |_| {});
    // absolute targets are layer-relative: /etc/passwd is not in this layer
    let mut t = RawTar::new();
    t.hardlink("x", "/etc/passwd");
    refused(&t.finish(), "does not exist in the layer", |_| {});
}

#[test]
fn hardlink_through_symlink_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"s").unwrap();
    let mut t = RawTar::new();
    t.symlink("s", &abs(dir.path())).hardlink("h", "s/secret");
    refused(&t.finish(), "symbolic link", |_| {});
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&secret).unwrap().nlink(), 1);
}

/// CVE-2021-32760: a symlink to a host file followed by an entry that changes its mode.
#[test]
fn cve_2021_32760_chmod_through_symlink() {
    use std::os::unix::fs::PermissionsExt;
    let e = env();
    let victim = e.dir.path().join("victim");
    std::fs::write(&victim, b"host").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut t = RawTar::new();
    t.symlink("v", &abs(&victim))
        .dir_mode("v", 0o777)
        .symlink("w", &abs(&victim))
        .file_mode("w", b"new", 0o4777);
    let id = import(&e, &t.finish()).unwrap();
    let m = std::fs::metadata(&victim).unwrap();
    assert_eq!(
        m.permissions().mode() & 0o7777,
        0o600,
        "host file mode changed"
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"host");
    let top = &e.store.layer_dirs(&id).unwrap()[0];
    assert!(top.join("v").is_dir());
    assert_eq!(
        std::fs::symlink_metadata(top.join("w"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o4777
    );
}

fn big_tar() -> Vec<u8> {
    let mut t = RawTar::new();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    t.dir("d").file("d/big", &data).file("d/small", b"s");
    t.finish()
}

#[test]
fn truncated_tar_is_refused() {
    let tar = big_tar();
    refused(&tar[..100_000], "truncated", |_| {});
}

#[test]
fn truncated_gzip_is_refused() {
    let gz = gzip(&big_tar());
    refused(&gz[..gz.len() / 2], "failed to", |_| {});
    refused(&gz[..gz.len() - 4], "failed to", |_| {});
}

#[test]
fn corrupt_zstd_is_refused() {
    // with a content checksum: corrupt data is caught by the frame checksum
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.include_checksum(true).unwrap();
    std::io::Write::write_all(&mut enc, &big_tar()).unwrap();
    let mut z = enc.finish().unwrap();
    let mid = z.len() / 2;
    for b in &mut z[mid..mid + 16] {
        *b ^= 0x5a;
    }
    refused(&z, "failed to", |_| {});
    // a broken block header
    let mut z = zstd(&big_tar());
    for b in &mut z[6..12] {
        *b = 0xff;
    }
    refused(&z, "failed to", |_| {});
    // truncated
    let z = zstd(&big_tar());
    refused(&z[..z.len() / 2], "failed to", |_| {});
}

#[test]
fn diff_id_mismatch_is_refused_on_load() {
    let e = env();
    let good = {
        let mut t = RawTar::new();
        t.file("a", b"a");
        t.finish()
    };
    let other = {
        let mut t = RawTar::new();
        t.file("b", b"b");
        t.finish()
    };
    // config names `good` but the archive carries `other`, gzip'd (streamed path) and plain
    for stored in [gzip(&other), other.clone()] {
        let config = config_for(&[&good], "2024-01-01T00:00:00Z");
        let id = sha(&config);
        let mut files = std::collections::BTreeMap::new();
        files.insert(format!("{}.json", &id[7..]), config);
        files.insert("l/layer.tar".into(), stored);
        files.insert(
            "manifest.json".into(),
            serde_json::to_vec(&serde_json::json!([{"Config": format!("{}.json", &id[7..]), "RepoTags": ["bad:1"], "Layers": ["l/layer.tar"]}])).unwrap(),
        );
        let before = tree(&e.root);
        let err = e
            .store
            .load(&mut &outer(&files)[..], &mut noop)
            .unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        assert_eq!(tree(&e.root), before);
        assert!(e.store.list().unwrap().is_empty());
    }
}

#[test]
fn blob_named_by_wrong_digest_is_refused() {
    let e = env();
    let mut t = RawTar::new();
    t.file("a", b"a");
    let layer = t.finish();
    let (mut archive, _) = oci_archive(
        Some("docker.io/library/x:1"),
        std::slice::from_ref(&layer),
        &[&layer],
        "2024-01-01T00:00:00Z",
    );
    // flip a byte of the layer's data inside the outer tar
    let idx = find(&archive, &layer[512..520]).unwrap();
    archive[idx] ^= 1;
    let before = tree(&e.root);
    let err = e.store.load(&mut &archive[..], &mut noop).unwrap_err();
    assert!(err.to_string().contains("has digest"), "{err}");
    assert_eq!(tree(&e.root), before);
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}
