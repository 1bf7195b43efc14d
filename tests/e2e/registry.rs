//! `wharf registry serve` against a real client: skopeo pushes a `wharf save` archive, inspects
//! it and pulls it back, all over plain HTTP on 127.0.0.1. Skipped where skopeo is absent
//! (Debian package `skopeo`, in scripts/install-deps.sh).

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::common::*;

/// The registry process; killed on drop.
struct Registry {
    child: Child,
    port: u16,
}

impl Registry {
    fn start(root: &Path, log: &Path) -> Registry {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let log = std::fs::File::create(log).expect("log");
        let child = Command::new(WHARF)
            .args([
                "registry",
                "serve",
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--root",
            ])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn registry");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { child, port }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skopeo(args: &[&str]) -> std::process::Output {
    Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run skopeo")
}

#[test]
fn skopeo_pushes_inspects_and_pulls_back_through_wharf_registry() {
    if Command::new("skopeo").arg("--version").output().is_err() {
        eprintln!("skipping: skopeo is not installed (apt-get install skopeo)");
        return;
    }
    let d = Daemon::start();
    let id = d.import_busybox("bb:1");
    let tar = d.dir.path().join("bb.tar");
    d.ok(&["save", "-o", tar.to_str().expect("p"), "bb:1"]);

    let reg = Registry::start(
        &d.dir.path().join("registry"),
        &d.dir.path().join("registry.log"),
    );
    let dest = format!("docker://127.0.0.1:{}/test/bb:1", reg.port);
    let o = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("docker-archive:{}", tar.display()),
        &dest,
    ]);
    assert!(o.status.success(), "skopeo copy (push): {}", stderr(&o));

    let o = skopeo(&["inspect", "--tls-verify=false", &dest]);
    assert!(o.status.success(), "skopeo inspect: {}", stderr(&o));
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).expect("inspect json");
    let digest = info["Digest"].as_str().expect("Digest").to_string();
    assert_eq!(
        info["Layers"].as_array().expect("Layers").len(),
        1,
        "{info}"
    );

    let o = skopeo(&["inspect", "--tls-verify=false", "--raw", &dest]);
    assert!(o.status.success(), "skopeo inspect --raw: {}", stderr(&o));
    assert_eq!(
        format!("sha256:{}", hex::encode(Sha256::digest(&o.stdout))),
        digest,
        "the registry serves the manifest whose digest it reports"
    );

    let out = d.dir.path().join("pulled");
    let o = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &dest,
        &format!("dir:{}", out.display()),
    ]);
    assert!(o.status.success(), "skopeo copy (pull): {}", stderr(&o));
    let manifest = std::fs::read(out.join("manifest.json")).expect("manifest.json");
    assert_eq!(
        format!("sha256:{}", hex::encode(Sha256::digest(&manifest))),
        digest
    );
    // Every blob pulled back hashes to its name: what went in came out.
    let m: serde_json::Value = serde_json::from_slice(&manifest).expect("manifest");
    let mut blobs = vec![m["config"]["digest"].as_str().expect("config").to_string()];
    for l in m["layers"].as_array().expect("layers") {
        blobs.push(l["digest"].as_str().expect("digest").to_string());
    }
    for b in blobs {
        let hex = b.strip_prefix("sha256:").expect("sha256");
        let data = std::fs::read(out.join(hex)).expect("blob file");
        assert_eq!(hex::encode(Sha256::digest(&data)), hex);
    }

    // The repository is listed and its tag too.
    let o = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://127.0.0.1:{}/test/bb", reg.port),
    ]);
    assert!(o.status.success(), "skopeo list-tags: {}", stderr(&o));
    let tags: serde_json::Value = serde_json::from_slice(&o.stdout).expect("tags json");
    assert_eq!(tags["Tags"], serde_json::json!(["1"]));

    // wharf's own client pulls it from wharf's own server into a fresh daemon: same image id.
    let d2 = Daemon::start();
    d2.ok(&["pull", &format!("127.0.0.1:{}/test/bb:1", reg.port)]);
    assert_eq!(d2.image_ids(), vec![id]);

    // Everything stored is referenced: gc removes nothing.
    let o = Command::new(WHARF)
        .args(["registry", "gc", "--root"])
        .arg(d.dir.path().join("registry"))
        .output()
        .expect("run gc");
    assert!(o.status.success(), "gc: {}", stderr(&o));
    assert_eq!(stdout(&o), "", "gc removed referenced blobs");
}
