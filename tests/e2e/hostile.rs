//! Hostile and broken input through the API: a clear error, and the store unchanged.

use std::io::Write;

use crate::common::*;

/// An OCI layout archive holding one image whose one layer is `layer` (plain tar bytes).
fn oci_archive(layer: &[u8], lie_about_diff_id: bool) -> Vec<u8> {
    use sha2::Digest as _;
    let sha = |b: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(layer).expect("gz");
    let gz = gz.finish().expect("gz");
    let diff_id = if lie_about_diff_id {
        sha(b"something else")
    } else {
        sha(layer)
    };
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "config": {"Cmd": ["sh"]},
    })
    .to_string()
    .into_bytes();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(&gz), "size": gz.len()}],
    })
    .to_string()
    .into_bytes();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(&manifest), "size": manifest.len(),
                       "annotations": {"io.containerd.image.name": "docker.io/library/evil:1", "org.opencontainers.image.ref.name": "1"}}],
    })
    .to_string()
    .into_bytes();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: String, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data).expect("append");
    };
    add("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json".into(), &index);
    for blob in [&config, &manifest, &gz] {
        add(format!("blobs/sha256/{}", &sha(blob)[7..]), blob);
    }
    b.into_inner().expect("tar")
}

fn layer_with(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, link, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        if !link.is_empty() {
            h.set_link_name(link).expect("link");
        }
        // Write the raw path so `../` survives (the tar crate refuses it in set_path).
        let name = h.as_old_mut().name.as_mut();
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, *data).expect("append");
    }
    b.into_inner().expect("tar")
}

fn assert_refused(d: &Daemon, archive: &[u8], what: &str) {
    let before = d.image_ids();
    let o = d.wharf_stdin(&["load"], archive);
    assert!(!o.status.success(), "{what}: load should fail");
    assert!(!stderr(&o).trim().is_empty(), "{what}: no error message");
    assert_eq!(d.image_ids(), before, "{what}: store changed");
    let tmp = d.data_root().join("tmp");
    assert_eq!(
        std::fs::read_dir(&tmp).map(|r| r.count()).unwrap_or(0),
        0,
        "{what}: tmp/ leftovers"
    );
}

#[test]
fn hostile_layers_are_refused_and_harm_nothing() {
    let d = Daemon::start();
    let victim = test_tmp().join(format!("victim-{}", std::process::id()));
    let _ = std::fs::remove_file(&victim);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "dot-dot path",
            layer_with(&[(
                "../../../../../../../tmp/pwned",
                tar::EntryType::Regular,
                "",
                b"x",
            )]),
        ),
        (
            "write through a symlink made by an earlier entry",
            layer_with(&[
                (
                    "escape",
                    tar::EntryType::Symlink,
                    victim.parent().expect("p").to_str().expect("s"),
                    b"",
                ),
                ("escape/victim-file", tar::EntryType::Regular, "", b"pwned"),
            ]),
        ),
        (
            "hardlink to a host file",
            layer_with(&[("h", tar::EntryType::Link, "/etc/shadow", b"")]),
        ),
        (
            "hardlink climbing out",
            layer_with(&[("h", tar::EntryType::Link, "../../../../etc/shadow", b"")]),
        ),
    ];
    for (what, layer) in cases {
        assert_refused(&d, &oci_archive(&layer, false), what);
    }
    assert!(!victim.exists());
    assert!(!test_tmp().join("escape").exists());
}

#[test]
fn corrupt_archives_are_refused() {
    let d = Daemon::start();
    let good_layer = busybox_rootfs_tar(&[]);
    let good = oci_archive(&good_layer, false);
    assert_refused(&d, b"this is not a tar archive at all", "garbage");
    assert_refused(&d, &good[..good.len() / 2], "truncated archive");
    assert_refused(&d, &oci_archive(&good_layer, true), "diff id mismatch");
    // A blob whose bytes do not match its name.
    let mut tampered = good.clone();
    let pos = tampered.len() - 3000;
    tampered[pos] ^= 0xff;
    assert_refused(&d, &tampered, "tampered blob");
    // Import: a truncated gzip stream.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&good_layer).expect("gz");
    let gz = gz.finish().expect("gz");
    let o = d.wharf_stdin(&["import", "-", "trunc:1"], &gz[..gz.len() / 2]);
    assert!(!o.status.success(), "truncated gzip import should fail");
    assert!(d.image_ids().is_empty());
    // The good one still loads after all that.
    let o = d.wharf_stdin(&["load"], &good);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("evil:1"), "{}", stdout(&o));
}

/// An image whose /etc/hosts and /etc/hostname are symlinks out of its root (absolute, and
/// relative with `..` past the top): the container's own files are bound where the links
/// lead *inside* the root, as libcontainer resolves a spec's bind destinations; the host's
/// files are untouched.
#[test]
fn etc_file_symlinks_stay_inside_the_root() {
    let d = Daemon::start();
    let plain = busybox_rootfs_tar(&[("etc/group", b"root:x:0:\n")]);
    let mut b = tar::Builder::new(Vec::new());
    for e in tar::Archive::new(&plain[..]).entries().expect("entries") {
        let mut e = e.expect("entry");
        let mut h = e.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).expect("read entry");
        let path = e.path().expect("path").into_owned();
        b.append_data(&mut h, path, &data[..]).expect("append");
    }
    for (at, to) in [
        ("etc/hosts", "/etc/passwd"),
        ("etc/hostname", "../../../../../../../../etc/group"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_mode(0o777);
        h.set_size(0);
        b.append_link(&mut h, at, to).expect("symlink");
    }
    let tar = b.into_inner().expect("tar");
    let o = d.wharf_stdin(&["import", "-", "links:1"], &tar);
    assert!(o.status.success(), "{}", stderr(&o));
    let host = |p: &str| std::fs::read(p).unwrap_or_default();
    let (passwd, group) = (host("/etc/passwd"), host("/etc/group"));
    let out = d.ok(&[
        "run",
        "--rm",
        "--hostname",
        "linked",
        "--add-host",
        "marker:10.9.8.7",
        "links:1",
        "cat",
        "/etc/passwd",
        "/etc/group",
    ]);
    assert!(
        out.contains("10.9.8.7\tmarker"),
        "hosts bound at the link's target: {out}"
    );
    assert!(
        out.contains("linked"),
        "hostname bound at the link's target: {out}"
    );
    assert_eq!(
        host("/etc/passwd"),
        passwd,
        "the host's /etc/passwd changed"
    );
    assert_eq!(host("/etc/group"), group, "the host's /etc/group changed");
    assert!(
        !std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .contains(" /etc/passwd "),
        "a mount on the host's /etc/passwd"
    );
}
