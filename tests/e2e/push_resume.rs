//! Resumable blob uploads: `wharf push` through a proxy on 127.0.0.1 that cuts upload
//! connections after some bytes; the client asks `wharf registry serve` where the upload
//! stands (`GET` on its location → `204`, `Range: 0-N`) and sends the rest with
//! `Content-Range` `PATCH`es.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::*;
use crate::push::WharfRegistry;
use crate::regsetup::scratch;

/// A TCP proxy to `upstream` that cuts a connection once the client sent more than `after`
/// bytes on it, for the first `cuts` such connections; records each connection's request
/// head (request line and headers). `fail_patches`: how many `PATCH`es with a
/// `Content-Length` it answers itself with a 500 (after reading their body), upstream never
/// seeing them. `cut_patches`: how many `PATCH`es it cuts after passing on their head and
/// the first `patch_bytes` bytes of their body (so the registry holds exactly that many).
struct CuttingProxy {
    port: u16,
    shared: Arc<Shared>,
}

/// What the proxy's connections share: its knobs and what it saw.
struct Shared {
    after: usize,
    cuts: usize,
    cut: AtomicUsize,
    fail_patches: AtomicUsize,
    cut_patches: AtomicUsize,
    patch_bytes: AtomicUsize,
    requests: Mutex<Vec<String>>,
}

impl CuttingProxy {
    fn start(upstream: u16, after: usize, cuts: usize) -> CuttingProxy {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let shared = Arc::new(Shared {
            after,
            cuts,
            cut: AtomicUsize::new(0),
            fail_patches: AtomicUsize::new(0),
            cut_patches: AtomicUsize::new(0),
            patch_bytes: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
        });
        let sh = shared.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(client) = s else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let sh = sh.clone();
                std::thread::spawn(move || pipe(client, server, &sh));
            }
        });
        CuttingProxy { port, shared }
    }

    fn name(&self, repo: &str) -> String {
        format!("127.0.0.1:{}/{repo}", self.port)
    }

    fn cuts(&self) -> usize {
        self.shared.cut.load(Ordering::SeqCst)
    }

    fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().expect("lock").clone()
    }
}

fn pipe(mut client: TcpStream, mut server: TcpStream, sh: &Shared) {
    let (Ok(mut c2), Ok(mut s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut s2, &mut c2);
        let _ = c2.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    let mut first = true;
    // where this connection is cut, and whether regardless of `cuts`
    let (mut after, mut forced) = (sh.after, false);
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if first {
            first = false;
            let head = String::from_utf8_lossy(&buf[..n]);
            let head = head.split("\r\n\r\n").next().unwrap_or("").to_string();
            sh.requests.lock().expect("lock").push(head.clone());
            let len = head.lines().find_map(|l| {
                let l = l.to_ascii_lowercase();
                l.strip_prefix("content-length:")?
                    .trim()
                    .parse::<usize>()
                    .ok()
            });
            if let (true, Some(len)) = (head.starts_with("PATCH "), len) {
                if take_one(&sh.fail_patches) {
                    // read the whole body, then answer 500 ourselves
                    let mut left = (head.len() + 4 + len).saturating_sub(n);
                    while left > 0 {
                        match client.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(k) => left = left.saturating_sub(k),
                        }
                    }
                    let body = r#"{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}"#;
                    let _ = client.write_all(
                        format!(
                            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    );
                    let _ = server.shutdown(Shutdown::Both);
                    let _ = client.shutdown(Shutdown::Write);
                    let _ = back.join();
                    return;
                }
                if take_one(&sh.cut_patches) {
                    after = head.len() + 4 + sh.patch_bytes.load(Ordering::SeqCst);
                    forced = true;
                }
            }
        }
        if total + n > after && (forced || sh.cut.load(Ordering::SeqCst) < sh.cuts) {
            sh.cut.fetch_add(1, Ordering::SeqCst);
            let keep = after.saturating_sub(total);
            let _ = server.write_all(&buf[..keep]);
            let _ = server.shutdown(Shutdown::Both);
            let _ = client.shutdown(Shutdown::Both);
            break;
        }
        total += n;
        if server.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Write);
    let _ = back.join();
}

/// Takes one from a countdown; false when it is at zero.
fn take_one(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| f.checked_sub(1))
        .is_ok()
}

/// `wharf registry serve` on 127.0.0.1 (no auth), with the scratch directory it stores in
/// (dropped after it).
fn our_registry() -> (tempfile::TempDir, WharfRegistry) {
    let tmp = scratch("wharf-resume-");
    let reg = WharfRegistry::start(tmp.path(), &[]);
    (tmp, reg)
}

/// An image with one layer of `mb` MiB of incompressible bytes.
fn import_random(d: &Daemon, name: &str, mb: usize, seed: u64) {
    let mut big = vec![0u8; mb << 20];
    let mut x: u64 = seed;
    for b in big.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let tar = busybox_rootfs_tar(&[("big.bin", &big)]);
    let o = d.wharf_stdin(&["import", "-", name], &tar);
    assert!(o.status.success(), "import: {}", stderr(&o));
}

/// A daemon holding a 20 MiB one-layer image `reg/<repo>`, pushed once straight to `reg`:
/// its compressed layer is cached, so later pushes send it in Content-Length `PATCH`es.
fn pushed_once(reg: &WharfRegistry, repo: &str, seed: u64) -> (Daemon, String) {
    let d = Daemon::start();
    let direct = reg.name(repo);
    import_random(&d, &direct, 20, seed);
    d.ok(&["push", &direct]);
    (d, direct)
}

/// Tags `image` as `<proxy>/<repo>` and pushes it through the proxy (another host to the
/// daemon: no cross-repository mounts); the push must succeed.
fn push_through(d: &Daemon, image: &str, proxy: &CuttingProxy, repo: &str) {
    let name = proxy.name(repo);
    d.ok(&["tag", image, &name]);
    let out = d.ok(&["push", &name]);
    assert!(out.contains(": Pushed"), "{out}");
}

/// Every blob of `name` in `reg` (straight from the registry, not through the proxy) hashes
/// to its digest.
fn blobs_verify(reg: &WharfRegistry, repo: &str, tag: &str) -> usize {
    let base = format!("http://127.0.0.1:{}/v2/{repo}", reg.port);
    let o = Command::new("curl")
        .args(["-sf", "-H"])
        .arg("Accept: application/vnd.docker.distribution.manifest.v2+json")
        .arg(format!("{base}/manifests/{tag}"))
        .output()
        .expect("curl");
    assert!(o.status.success(), "manifest of {repo}:{tag}");
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let mut digests = vec![m["config"]["digest"].as_str().expect("config").to_string()];
    for l in m["layers"].as_array().expect("layers") {
        digests.push(l["digest"].as_str().expect("digest").to_string());
    }
    for dg in &digests {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("curl -sf {base}/blobs/{dg} | sha256sum"))
            .output()
            .expect("sha256sum");
        let got = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            format!("sha256:{}", got.split(' ').next().unwrap_or("")),
            *dg,
            "stored blob hashes to its digest"
        );
    }
    digests.len()
}

#[test]
fn a_blob_upload_that_breaks_off_resumes_from_the_registrys_offset() {
    let (_tmp, reg) = our_registry();
    // the first two connections that carry more than 3 MiB are cut after 3 MiB
    let proxy = CuttingProxy::start(reg.port, 3 << 20, 2);
    let d = Daemon::start();
    let name = proxy.name("resume/img:1");
    import_random(&d, &name, 20, 0x9e3779b97f4a7c15);

    // First push: the layer is compressed while a streaming PATCH sends it; the PATCH is cut,
    // then the resumed one too; the rest comes from the compressed file kept in the cache.
    let out = d.ok(&["push", &name]);
    assert!(out.contains(": Pushed"), "{out}");
    assert_eq!(proxy.cuts(), 2, "{:?}", proxy.requests());
    let status_asks = proxy
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET /v2/resume/img/blobs/uploads/"))
        .count();
    assert_eq!(status_asks, 2, "{:?}", proxy.requests());
    let log = d.log();
    assert!(log.contains("blob upload broke off; resuming"), "{log}");
    assert!(
        !log.contains("starting over"),
        "resumed, not restarted: {log}"
    );
    assert_eq!(blobs_verify(&reg, "resume/img", "1"), 2);
    // the bytes before the cut were not sent twice: the resumed PATCHes say where they start
    let resumed: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("PATCH "))
        .collect();
    assert_eq!(
        resumed.len(),
        3,
        "one streamed PATCH, two resumed ones: {resumed:?}"
    );
    let starts: Vec<u64> = resumed[1..]
        .iter()
        .map(|h| {
            let cr = h
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-range:")
                        .map(str::to_string)
                })
                .unwrap_or_else(|| panic!("no Content-Range in {h}"));
            cr.trim()
                .split('-')
                .next()
                .and_then(|a| a.parse().ok())
                .expect("range start")
        })
        .collect();
    // each cut connection delivered about 3 MiB (less its request head)
    assert!(
        starts[0] > (3 << 20) - 4096 && starts[0] <= 3 << 20,
        "{starts:?}"
    );
    assert!(starts[1] > starts[0] + (3 << 20) - 4096, "{starts:?}");

    // Second push, to another repository through a fresh proxy: the layer is cached, so the
    // blob goes in Content-Range PATCHes from the file; cut once, resumed.
    let proxy2 = CuttingProxy::start(reg.port, 5 << 20, 1);
    let name2 = proxy2.name("resume/other:1");
    d.ok(&["tag", &name, &name2]);
    let out2 = d.ok(&["push", &name2]);
    assert!(out2.contains(": Pushed"), "{out2}");
    assert_eq!(proxy2.cuts(), 1, "{:?}", proxy2.requests());
    assert_eq!(blobs_verify(&reg, "resume/other", "1"), 2);
    assert_eq!(
        out2.lines().last().map(|l| l.split(' ').nth(2)),
        out.lines().last().map(|l| l.split(' ').nth(2)),
        "the same manifest digest"
    );

    // and a fresh daemon pulls it back (every digest verified again)
    let d2 = Daemon::start();
    d2.ok(&["pull", &reg.name("resume/img:1")]);
    assert_eq!(d2.image_ids(), d.image_ids());
}

#[test]
fn an_upload_that_keeps_breaking_off_fails_after_bounded_resumes_and_stores_nothing() {
    let (_tmp, reg) = our_registry();
    // every connection carrying more than 1 MiB is cut: each resume gets 1 MiB further
    let proxy = CuttingProxy::start(reg.port, 1 << 20, usize::MAX);
    let d = Daemon::start();
    let name = proxy.name("broken/img:1");
    import_random(&d, &name, 20, 0x2545f4914f6cdd1d);
    let o = d.wharf(&["push", &name]);
    assert!(!o.status.success(), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains("gave up after 5 resumes"), "{err}");
    assert!(
        proxy.cuts() >= 6,
        "the first try and 5 resumes: {}",
        proxy.cuts()
    );
    let status = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!(
            "http://127.0.0.1:{}/v2/broken/img/manifests/1",
            reg.port
        ))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&status.stdout), "404");
}

#[test]
fn a_broken_upload_to_distribution_resumes_or_starts_over_and_the_push_succeeds() {
    let Some(dist) = crate::pull::Registry::start() else {
        return;
    };
    // one connection carrying more than 3 MiB is cut
    let proxy = CuttingProxy::start(dist.port, 3 << 20, 1);
    let d = Daemon::start();
    let name = proxy.name("resume/dist:1");
    import_random(&d, &name, 20, 0x5851f42d4c957f2d);
    let out = d.ok(&["push", &name]);
    assert!(out.contains(": Pushed"), "{out}");
    assert_eq!(proxy.cuts(), 1, "{:?}", proxy.requests());
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.starts_with("GET /v2/resume/dist/blobs/uploads/")),
        "the upload's status was asked: {:?}",
        proxy.requests()
    );
    let log = d.log();
    let how: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("resuming") || l.contains("starting over"))
        .collect();
    // distribution 2.8 drops an upload whose PATCH broke off: the client starts a new one
    assert!(!how.is_empty(), "{log}");
    // distribution's verdict on the resumed upload (it checks the digest on the final PUT),
    // then a fresh daemon pulls it straight from distribution, verifying every digest
    let d2 = Daemon::start();
    d2.ok(&["pull", &dist.name("resume/dist:1")]);
    assert_eq!(d2.image_ids(), d.image_ids());
}

#[test]
fn a_5xx_answer_to_an_upload_chunk_is_resumed_from_the_registrys_offset() {
    let (_tmp, reg) = our_registry();
    let (d, direct) = pushed_once(&reg, "five/img:1", 0x27bb2ee687b0b0fd);
    // through the proxy the first PATCH is answered 500 by the proxy, the registry never
    // sees it
    let proxy = CuttingProxy::start(reg.port, usize::MAX, 0);
    proxy.shared.fail_patches.store(1, Ordering::SeqCst);
    push_through(&d, &direct, &proxy, "five/other:1");
    assert_eq!(proxy.shared.fail_patches.load(Ordering::SeqCst), 0);
    let reqs = proxy.requests();
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("GET /v2/five/other/blobs/uploads/")),
        "{reqs:?}"
    );
    let log = d.log();
    assert!(
        log.lines().any(
            |l| l.contains("blob upload broke off; resuming") && l.contains("injected failure")
        ),
        "{log}"
    );
    assert_eq!(blobs_verify(&reg, "five/other", "1"), 2);
}

/// `Range: 0-0` in an upload's status is no byte or one (distribution and our server write it
/// for an empty upload; the spec reads it as byte 0 received). The client does not guess: it
/// cancels that upload and starts a new one, so the push succeeds whether the registry holds
/// one byte of the cut `PATCH` or none (reading `0-0` as "nothing" made the first case a 416).
#[test]
fn an_upload_status_of_0_0_starts_a_new_upload_whether_the_registry_has_one_byte_or_none() {
    let (_tmp, reg) = our_registry();
    let (d, direct) = pushed_once(&reg, "zero/img:1", 0x3c6ef372fe94f82b);
    for (bytes, repo) in [(1, "zero/one"), (0, "zero/none")] {
        let proxy = CuttingProxy::start(reg.port, usize::MAX, 0);
        proxy.shared.patch_bytes.store(bytes, Ordering::SeqCst);
        proxy.shared.cut_patches.store(1, Ordering::SeqCst);
        push_through(&d, &direct, &proxy, &format!("{repo}:1"));
        assert_eq!(proxy.cuts(), 1, "{:?}", proxy.requests());
        // the status is asked, the 0-0 upload cancelled, and a new one started
        let reqs = proxy.requests();
        let at = |prefix: &str| reqs.iter().position(|r| r.starts_with(prefix));
        let uploads = format!("/v2/{repo}/blobs/uploads/");
        let status = at(&format!("GET {uploads}")).unwrap_or_else(|| panic!("{reqs:?}"));
        let cancel = at(&format!("DELETE {uploads}")).unwrap_or_else(|| panic!("{reqs:?}"));
        assert!(status < cancel, "{reqs:?}");
        assert!(
            reqs[cancel..]
                .iter()
                .any(|r| r.starts_with(&format!("POST {uploads}"))),
            "{reqs:?}"
        );
        assert_eq!(blobs_verify(&reg, repo, "1"), 2);
    }
    let log = d.log();
    assert_eq!(
        log.matches("upload status 0-0 (no byte or one)").count(),
        2,
        "{log}"
    );
}
