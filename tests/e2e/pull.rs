//! `wharf pull` / `docker pull` against a local registry: Debian's `docker-registry`
//! (distribution 2.8) on 127.0.0.1, filled with `skopeo copy` from a `wharf save` archive.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::common::*;

/// A registry child process on a free port, storage in a temp dir; killed on drop.
pub(crate) struct Registry {
    child: Child,
    pub(crate) port: u16,
    dir: tempfile::TempDir,
}

impl Registry {
    pub(crate) fn start() -> Option<Registry> {
        Registry::start_with(|_| String::new())
    }

    /// `extra(dir)`: more top-level config YAML (e.g. `auth:`), given the registry's dir.
    pub(crate) fn start_with(extra: impl Fn(&Path) -> String) -> Option<Registry> {
        for tool in ["/usr/bin/docker-registry", "/usr/bin/skopeo"] {
            if !Path::new(tool).exists() {
                eprintln!("SKIP: {tool} is not installed (scripts/install-deps.sh installs it)");
                return None;
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("wharf-registry-")
            .tempdir_in(test_tmp())
            .expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{}",
                dir.path().join("data").display(),
                extra(dir.path())
            ),
        )
        .expect("config");
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn docker-registry");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Registry { child, port, dir })
    }

    pub(crate) fn name(&self, repo: &str) -> String {
        format!("127.0.0.1:{}/{repo}", self.port)
    }

    /// Pushes `image` from daemon `d` (via `wharf save` + skopeo) as `repo`; returns the
    /// manifest digest.
    pub(crate) fn push(&self, d: &Daemon, image: &str, repo: &str) -> String {
        let tar = self.dir.path().join("push.tar");
        d.ok(&["save", "-o", tar.to_str().expect("utf8"), image]);
        let digest_file = self.dir.path().join("digest");
        let o = Command::new("skopeo")
            .args([
                "copy",
                "--dest-tls-verify=false",
                "--dest-creds=user:pass",
                "--digestfile",
            ])
            .arg(&digest_file)
            .arg(format!("docker-archive:{}", tar.display()))
            .arg(format!("docker://{}", self.name(repo)))
            .output()
            .expect("skopeo");
        assert!(o.status.success(), "skopeo copy failed: {}", stderr(&o));
        std::fs::read_to_string(&digest_file)
            .expect("digest file")
            .trim()
            .to_string()
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// A minimal HTTP/1.1 request; returns (status, body).
    fn http(&self, method: &str, path: &str, ctype: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: {ctype}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        )
        .expect("write");
        s.write_all(body).expect("write");
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).expect("read");
        let text = String::from_utf8_lossy(&resp).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = match text.find("\r\n\r\n") {
            Some(i) => resp[i + 4..].to_vec(),
            None => Vec::new(),
        };
        (status, body)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// A failed pull stored nothing: no blob, no snapshot (not even of a layer that was
/// complete), no image, nothing left in tmp/.
fn nothing_stored(d: &Daemon) {
    assert!(d.image_ids().is_empty());
    for sub in ["blobs/sha256", "snapshots"] {
        let dir = d.data_root().join(sub);
        let left: Vec<_> = std::fs::read_dir(&dir)
            .map(|rd| rd.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left in {sub}/: {left:?}");
    }
    no_pull_leftovers(d);
}

fn no_pull_leftovers(d: &Daemon) {
    let tmp = d.data_root().join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in tmp/: {left:?}");
}

#[test]
fn pull_from_a_local_registry() {
    let Some(reg) = Registry::start() else { return };
    let src = Daemon::start();
    let id = src.import_busybox("bb:1");
    let manifest = reg.push(&src, "bb:1", "lib/bb:1");
    let name = reg.name("lib/bb:1");

    let d = Daemon::start();
    let t0 = Instant::now();
    let out = d.ok(&["pull", &name]);
    eprintln!(
        "pull of busybox from the local registry took {:?}",
        t0.elapsed()
    );
    assert!(out.contains("1: Pulling from lib/bb"), "{out}");
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.contains(&format!("Digest: {manifest}")), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    assert_eq!(d.image_ids(), vec![id.clone()]);
    let digests = d.ok(&["inspect", "-f", "{{json .RepoDigests}}", &name]);
    assert!(
        digests.contains(&format!("{}@{manifest}", reg.name("lib/bb"))),
        "{digests}"
    );
    assert_eq!(d.ok(&["run", "--rm", &name, "echo", "ok"]).trim(), "ok");
    no_pull_leftovers(&d);

    // again: up to date
    let out = d.ok(&["pull", &name]);
    assert!(
        out.contains(&format!("Status: Image is up to date for {name}")),
        "{out}"
    );

    // by digest, and `wharf run` pulling a missing image
    let fresh = Daemon::start();
    let by_digest = format!("{}@{manifest}", reg.name("lib/bb"));
    fresh.ok(&["pull", &by_digest]);
    assert_eq!(fresh.image_ids(), vec![id.clone()]);
    let run = Daemon::start();
    let o = run.wharf(&["run", "--rm", &name, "echo", "ok"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "ok");
    assert!(
        stderr(&o).contains("Unable to find image"),
        "{}",
        stderr(&o)
    );

    // errors
    let o = d.wharf(&["pull", &reg.name("lib/bb:nope")]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("manifest unknown"), "{}", stderr(&o));

    // the real docker CLI
    let other = Daemon::start();
    if let Some(o) = other.docker(&["pull", &name]) {
        assert!(o.status.success(), "docker pull: {}", stderr(&o));
        let out = stdout(&o);
        assert!(out.contains("Pulling from lib/bb"), "{out}");
        assert!(out.contains(&format!("Digest: {manifest}")), "{out}");
        assert_eq!(other.image_ids(), vec![id]);
    }
}

#[test]
fn pull_picks_the_hosts_platform_from_an_index() {
    let Some(reg) = Registry::start() else { return };
    let src = Daemon::start();
    let tar = busybox_rootfs_tar(&[]);
    let mine = src.import_busybox("mine:1");
    let o = src.wharf_stdin(&["import", "-c", "ENV OTHER=1", "-", "other:1"], &tar);
    assert!(o.status.success(), "{}", stderr(&o));
    let other = stdout(&o).trim().to_string();
    assert_ne!(mine, other);
    let m1 = reg.push(&src, "mine:1", "lib/multi:mine");
    let m2 = reg.push(&src, "other:1", "lib/multi:other");
    let size = |tag: &str| {
        let (st, body) = reg.http(
            "GET",
            &format!("/v2/lib/multi/manifests/{tag}"),
            "application/vnd.docker.distribution.manifest.v2+json",
            b"",
        );
        assert_eq!(st, 200);
        assert_eq!(
            format!("sha256:{}", hex::encode(Sha256::digest(&body))),
            if tag == "mine" {
                m1.clone()
            } else {
                m2.clone()
            }
        );
        body.len()
    };
    let foreign = if host_arch() == "s390x" {
        "ppc64le"
    } else {
        "s390x"
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": m2, "size": size("other"),
             "platform": {"os": "linux", "architecture": foreign}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": m1, "size": size("mine"),
             "platform": {"os": "linux", "architecture": host_arch()}},
        ]
    });
    let (st, body) = reg.http(
        "PUT",
        "/v2/lib/multi/manifests/multi",
        "application/vnd.oci.image.index.v1+json",
        &serde_json::to_vec(&index).expect("json"),
    );
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));

    let d = Daemon::start();
    let name = reg.name("lib/multi:multi");
    d.ok(&["pull", &name]);
    assert_eq!(d.image_ids(), vec![mine]);
    let d2 = Daemon::start();
    d2.ok(&["pull", "--platform", &format!("linux/{foreign}"), &name]);
    assert_eq!(d2.image_ids(), vec![other]);
    // the layer the two images share is not downloaded again
    let out = d2.ok(&["pull", &reg.name("lib/multi:mine")]);
    assert!(out.contains("Already exists"), "{out}");
    assert!(!out.contains("Pull complete"), "{out}");
    d2.ok(&["run", "--rm", &reg.name("lib/multi:mine"), "true"]);
    let o = d2.wharf(&["pull", "--platform", "linux/mips64", &name]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no matching manifest"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn pull_of_a_tampered_blob_stores_nothing() {
    let Some(reg) = Registry::start() else { return };
    let src = Daemon::start();
    src.import_busybox("bb:1");
    reg.push(&src, "bb:1", "lib/bad:1");
    // corrupt the layer (the biggest blob) in the registry's storage
    let blobs = reg.dir.path().join("data/docker/registry/v2/blobs/sha256");
    let mut biggest: Option<(u64, PathBuf)> = None;
    for a in std::fs::read_dir(&blobs).expect("blobs") {
        for b in std::fs::read_dir(a.expect("dir").path()).expect("blobs") {
            let p = b.expect("dir").path().join("data");
            let n = std::fs::metadata(&p).expect("blob").len();
            if biggest.as_ref().is_none_or(|(m, _)| n > *m) {
                biggest = Some((n, p));
            }
        }
    }
    let (_, layer) = biggest.expect("a layer blob");
    let hexname = layer.parent().and_then(|p| p.file_name()).expect("hex");
    assert_eq!(
        reg.blob_path(&format!("sha256:{}", hexname.to_string_lossy())),
        layer
    );
    let mut bytes = std::fs::read(&layer).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&layer, &bytes).expect("write");

    let d = Daemon::start();
    let o = d.wharf(&["pull", &reg.name("lib/bad:1")]);
    assert!(!o.status.success(), "{}", stdout(&o));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains("digest mismatch"), "{all}");
    nothing_stored(&d);
}

/// A bcrypt htpasswd line for user:pass (python3's crypt through libxcrypt), if available.
pub(crate) fn htpasswd_line() -> Option<String> {
    let o = Command::new("python3")
        .args([
            "-W",
            "ignore",
            "-c",
            "import crypt; print('user:' + crypt.crypt('pass', crypt.mksalt(crypt.METHOD_BLOWFISH)))",
        ])
        .output()
        .ok()?;
    let line = stdout(&o).trim().to_string();
    (o.status.success() && line.starts_with("user:$2")).then_some(line)
}

#[test]
fn pull_with_basic_auth_from_the_docker_cli() {
    let Some(line) = htpasswd_line() else {
        eprintln!("SKIP: no bcrypt from python3's crypt module");
        return;
    };
    let Some(reg) = Registry::start_with(|dir| {
        let p = dir.join("htpasswd");
        std::fs::write(&p, format!("{line}\n")).expect("htpasswd");
        format!(
            "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
            p.display()
        )
    }) else {
        return;
    };
    let src = Daemon::start();
    let id = src.import_busybox("bb:1");
    reg.push(&src, "bb:1", "lib/secret:1");
    let name = reg.name("lib/secret:1");
    let d = Daemon::start();
    let o = d.wharf(&["pull", &name]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("pull access denied"), "{}", stderr(&o));
    // the docker CLI sends its stored credentials in X-Registry-Auth
    let cfg = d.dir.path().join("docker-config");
    std::fs::create_dir_all(&cfg).expect("config dir");
    std::fs::write(
        cfg.join("config.json"),
        format!(
            r#"{{"auths":{{"127.0.0.1:{}":{{"auth":"dXNlcjpwYXNz"}}}}}}"#,
            reg.port
        ),
    )
    .expect("config");
    if let Some(o) = d.docker(&["pull", &name]) {
        assert!(o.status.success(), "docker pull: {}", stderr(&o));
        assert_eq!(d.image_ids(), vec![id]);
    }
}

/// The suite's own guard: every test daemon refuses registries beyond loopback, so a test
/// that would pull from Docker Hub fails here instead of sending traffic off this machine.
#[test]
fn test_daemons_never_contact_registries_beyond_loopback() {
    let d = Daemon::start();
    for image in ["busybox", "registry.example:5000/x/y:1"] {
        let o = d.wharf(&["pull", image]);
        assert!(!o.status.success(), "{image} was pulled");
        assert!(
            stderr(&o).contains("refusing to contact"),
            "{image}: {}",
            stderr(&o)
        );
    }
    // `run` of a missing image takes the same path.
    let o = d.wharf(&["run", "--rm", "no-such-image-anywhere", "true"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("refusing to contact"), "{}", stderr(&o));
    assert!(d.image_ids().is_empty());
}

/// How [`cutting_registry`] answers GETs of its layer blob.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// The first answer breaks off halfway; a `Range` request gets the rest (206).
    FirstThenRange,
    /// The first answer breaks off halfway; `Range` is ignored (the whole blob, 200).
    FirstThenIgnoreRange,
    /// Every answer breaks off halfway through what it should send.
    Always,
    /// The first answer breaks off halfway; the rest (206) has a byte flipped near its end:
    /// the blob's digest fails only once the layer is almost completely unpacked.
    FirstThenCorruptRange,
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A one-image registry in this process on 127.0.0.1 (`cut/bb:1`, one gzip'd busybox layer)
/// whose layer downloads break off as `mode` says. Returns the port, the image id, and the
/// `Range` header (or "-") of each GET of the layer.
fn cutting_registry(mode: Cut) -> (u16, String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::sync::{Arc, Mutex};
    let tar = busybox_rootfs_tar(&[]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip");
    let layer = gz.finish().expect("gzip");
    let config = serde_json::json!({
        "architecture": host_arch(), "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&tar))]},
    })
    .to_string()
    .into_bytes();
    let layer_digest = format!("sha256:{}", sha256_hex(&layer));
    let config_digest = format!("sha256:{}", sha256_hex(&config));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": config.len(), "digest": config_digest},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": layer.len(), "digest": layer_digest}],
    })
    .to_string()
    .into_bytes();
    let manifest_digest = format!("sha256:{}", sha256_hex(&manifest));
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let (layer, config, manifest, log2) = (
        Arc::new(layer),
        Arc::new(config),
        Arc::new(manifest),
        log.clone(),
    );
    let (ld, cd) = (layer_digest.clone(), config_digest.clone());
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let (layer, config, manifest, log) = (
                layer.clone(),
                config.clone(),
                manifest.clone(),
                log2.clone(),
            );
            let (ld, cd, md) = (ld.clone(), cd.clone(), manifest_digest.clone());
            std::thread::spawn(move || {
                let mut s = s;
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        // a TLS ClientHello (the client probes HTTPS first): hang up
                        Ok(n) if n > 0 && req.is_empty() && buf[0] == 0x16 => return,
                        Ok(n) if n > 0 && req.len() < 65536 => req.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                let text = String::from_utf8_lossy(&req).to_string();
                let path = text.split(' ').nth(1).unwrap_or("").to_string();
                let range = text
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("range")
                            .then(|| v.trim().to_string())
                    })
                    .unwrap_or_else(|| "-".to_string());
                let reply = |s: &mut TcpStream, status: &str, headers: &str, body: &[u8]| {
                    let _ = write!(
                        s,
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
                        body.len()
                    );
                    let _ = s.write_all(body);
                };
                let blob = |d: &str| format!("/v2/cut/bb/blobs/{d}");
                if path == "/v2/" {
                    reply(&mut s, "200 OK", "", b"{}");
                } else if path == "/v2/cut/bb/manifests/1"
                    || path == format!("/v2/cut/bb/manifests/{md}")
                {
                    let h = format!("Content-Type: application/vnd.docker.distribution.manifest.v2+json\r\nDocker-Content-Digest: {md}\r\n");
                    reply(&mut s, "200 OK", &h, &manifest);
                } else if path == blob(&cd) {
                    reply(&mut s, "200 OK", "", &config);
                } else if path == blob(&ld) {
                    let first = {
                        let mut g = log.lock().expect("log");
                        g.push(range.clone());
                        g.len() == 1
                    };
                    let from: usize = range
                        .strip_prefix("bytes=")
                        .and_then(|r| r.strip_suffix('-'))
                        .and_then(|r| r.parse().ok())
                        .unwrap_or(0);
                    let total = layer.len();
                    let (status, start) = if from > 0 && mode != Cut::FirstThenIgnoreRange {
                        (
                            format!(
                                "206 Partial Content\r\nContent-Range: bytes {from}-{}/{total}",
                                total - 1
                            ),
                            from,
                        )
                    } else {
                        ("200 OK".to_string(), 0)
                    };
                    let mut rest = layer[start..].to_vec();
                    if start > 0 && mode == Cut::FirstThenCorruptRange {
                        // inside the gzip trailer (CRC32, size): the tar decodes fine
                        let at = rest.len() - 3;
                        rest[at] ^= 0xff;
                    }
                    let _ = write!(
                        s,
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        rest.len()
                    );
                    let cut = first || mode == Cut::Always;
                    let send = if cut { rest.len() / 2 } else { rest.len() };
                    let _ = s.write_all(&rest[..send]);
                    let _ = s.flush();
                } else {
                    reply(
                        &mut s,
                        "404 Not Found",
                        "Content-Type: application/json\r\n",
                        br#"{"errors":[{"code":"NOT_FOUND","message":"not found"}]}"#,
                    );
                }
                let _ = s.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    (port, config_digest, log)
}

/// Pulls from a [`cutting_registry`] cutting as `mode` (once): the pull succeeds after one
/// resume. Returns the daemon, the image's name and the `Range` of each GET of the layer.
fn resumed_pull(mode: Cut) -> (Daemon, String, Vec<String>) {
    let (port, id, log) = cutting_registry(mode);
    let d = Daemon::start();
    let name = format!("127.0.0.1:{port}/cut/bb:1");
    d.ok(&["pull", &name]);
    assert_eq!(d.image_ids(), vec![id]);
    no_pull_leftovers(&d);
    let ranges = log.lock().expect("log").clone();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert_eq!(ranges[0], "-");
    (d, name, ranges)
}

#[test]
fn a_blob_download_that_breaks_off_is_resumed_with_a_range() {
    let (d, name, ranges) = resumed_pull(Cut::FirstThenRange);
    let half: u64 = ranges[1]
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("not a resume: {ranges:?}"));
    assert!(half > 0, "{ranges:?}");
    d.ok(&["run", "--rm", &name, "true"]);
    no_pull_leftovers(&d);
}

#[test]
fn a_resume_the_server_answers_with_the_whole_blob_skips_what_was_received() {
    let (d, name, ranges) = resumed_pull(Cut::FirstThenIgnoreRange);
    assert!(ranges[1].starts_with("bytes="), "{ranges:?}");
    // the whole blob's first half was dropped, not appended again: the layer runs
    d.ok(&["run", "--rm", &name, "true"]);
}

/// Pulls from a [`cutting_registry`] cutting as `mode`: the pull must fail with `error` and
/// store nothing. Returns the `Range` of each GET of the layer.
fn failed_pull(mode: Cut, error: &str) -> Vec<String> {
    let (port, _, log) = cutting_registry(mode);
    let d = Daemon::start();
    let o = d.wharf(&["pull", &format!("127.0.0.1:{port}/cut/bb:1")]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains(error), "{}", stderr(&o));
    nothing_stored(&d);
    let ranges = log.lock().expect("log").clone();
    ranges
}

#[test]
fn a_blob_that_keeps_breaking_off_fails_the_pull_and_stores_nothing() {
    let ranges = failed_pull(Cut::Always, "gave up after 5 resumes");
    assert_eq!(ranges.len(), 6);
}

/// The layer is unpacked while it streams, across the resume; the resumed bytes are wrong
/// (a flipped byte in the gzip trailer, so the tar itself unpacks completely): the blob's
/// digest over the whole stream refuses it and nothing is stored.
#[test]
fn a_resumed_blob_with_a_wrong_digest_is_refused_and_nothing_is_stored() {
    let ranges = failed_pull(Cut::FirstThenCorruptRange, "digest mismatch for blob");
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert!(ranges[1].starts_with("bytes="), "{ranges:?}");
}
