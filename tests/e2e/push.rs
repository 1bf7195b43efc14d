//! `wharf push` / `docker push`, `login`/`logout` and `search` against our socket, with
//! Debian's `docker-registry` (distribution 2.8) and `wharf registry serve` on 127.0.0.1, and
//! skopeo as the reference reader.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::pull::{htpasswd_line, Registry};
use crate::regsetup::{daemon_with_busybox, login, scratch, search_lists, TokenRegistry};

/// `wharf registry serve` on a free loopback port; killed on drop.
pub(crate) struct WharfRegistry {
    child: Child,
    pub(crate) port: u16,
}

impl WharfRegistry {
    pub(crate) fn start(dir: &Path, extra: &[&str]) -> WharfRegistry {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = std::fs::File::create(dir.join("registry.log")).expect("log");
        let child = Command::new(WHARF)
            .args(["registry", "serve", "--addr", &format!("127.0.0.1:{port}")])
            .arg("--root")
            .arg(dir.join("registry"))
            // `{port}` in an argument is this registry's port (a token realm names it)
            .args(extra.iter().map(|a| a.replace("{port}", &port.to_string())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn registry");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "registry did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        WharfRegistry { child, port }
    }

    pub(crate) fn name(&self, repo: &str) -> String {
        format!("127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for WharfRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `wharf ARGS` with the CLI's config dir set (never the real ~/.docker).
pub(crate) fn wharf_cfg(d: &Daemon, cfg: &Path, args: &[&str]) -> Output {
    d.wharf_cmd(args)
        .env("DOCKER_CONFIG", cfg)
        .output()
        .expect("run wharf")
}

pub(crate) fn ok_cfg(d: &Daemon, cfg: &Path, args: &[&str]) -> String {
    let o = wharf_cfg(d, cfg, args);
    assert!(
        o.status.success(),
        "wharf {args:?} failed: {}\n{}",
        stderr(&o),
        d.log()
    );
    stdout(&o)
}

/// The manifest digest skopeo sees for `name` (plain HTTP, optional creds).
fn skopeo_digest(name: &str, creds: Option<&str>) -> String {
    let mut c = Command::new("skopeo");
    c.args(["inspect", "--tls-verify=false"]);
    if let Some(cr) = creds {
        c.arg(format!("--creds={cr}"));
    }
    let o = c.arg(format!("docker://{name}")).output().expect("skopeo");
    assert!(o.status.success(), "skopeo inspect {name}: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    v["Digest"].as_str().expect("digest").to_string()
}

pub(crate) fn pushed_digest(out: &str, tag: &str) -> String {
    let prefix = format!("{tag}: digest: ");
    let line = out
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no digest line for {tag} in:\n{out}"));
    line[prefix.len()..]
        .split(' ')
        .next()
        .expect("digest")
        .to_string()
}

#[test]
fn push_to_distribution_then_mount_and_pull_back_byte_identical() {
    let Some(reg) = Registry::start() else {
        return;
    };
    let d = Daemon::start();
    let name = reg.name("wharf/bb:1");
    let id = d.import_busybox(&name);
    let out = d.ok(&["push", &name]);
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}]",
            reg.name("wharf/bb")
        )),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    let digest = pushed_digest(&out, "1");
    assert_eq!(skopeo_digest(&name, None), digest);

    // again: nothing is sent
    let out = d.ok(&["push", &name]);
    assert!(out.contains(": Layer already exists"), "{out}");
    assert_eq!(pushed_digest(&out, "1"), digest, "pushes are deterministic");

    // another repository of the same registry: the layer is mounted, not uploaded
    let other = reg.name("other/bb:2");
    d.ok(&["tag", &name, &other]);
    let out = d.ok(&["push", &other]);
    assert!(out.contains(": Mounted from wharf/bb"), "{out}");
    assert_eq!(pushed_digest(&out, "2"), digest);

    // a second daemon pulls it (same image id) and pushes it on: the very same manifest
    let d2 = Daemon::start();
    d2.ok(&["pull", &name]);
    assert_eq!(d2.image_ids(), vec![id.clone()]);
    let third = reg.name("third/bb:3");
    d2.ok(&["tag", &name, &third]);
    let out = d2.ok(&["push", &third]);
    assert_eq!(pushed_digest(&out, "3"), digest);
    assert_eq!(skopeo_digest(&third, None), digest);

    // the docker CLI against our socket: its progress and the aux digest
    if let Some(o) = d.docker(&["push", &name]) {
        assert!(o.status.success(), "docker push: {}", stderr(&o));
        let out = stdout(&o);
        assert!(out.contains("Layer already exists"), "{out}");
        assert_eq!(pushed_digest(&out, "1"), digest);
    }
}

#[test]
fn push_all_tags_and_large_layers_in_chunks() {
    let tmp = tempfile::Builder::new()
        .prefix("wharf-push-")
        .tempdir_in(test_tmp())
        .expect("tempdir");
    let reg = WharfRegistry::start(tmp.path(), &[]);
    let d = Daemon::start();
    // a layer larger than the monolithic limit (16 MiB): sent as PATCH chunks
    let mut big = vec![0u8; 20 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in big.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let tar = busybox_rootfs_tar(&[("big.bin", &big)]);
    let name = reg.name("big/img");
    let o = d.wharf_stdin(&["import", "-", &format!("{name}:a")], &tar);
    assert!(o.status.success(), "import: {}", stderr(&o));
    d.ok(&["tag", &format!("{name}:a"), &format!("{name}:b")]);
    let o = d.wharf(&["push", "-a", &format!("{name}:a")]);
    assert!(!o.status.success(), "a tag with -a is refused");
    let out = d.ok(&["push", "-a", &name]);
    let (a, b) = (pushed_digest(&out, "a"), pushed_digest(&out, "b"));
    assert_eq!(a, b);
    if Path::new("/usr/bin/skopeo").exists() {
        assert_eq!(skopeo_digest(&format!("{name}:b"), None), a);
    }
    // a second registry: the layer is compressed already (cached), so it is sent from the
    // cache, in a Content-Range PATCH (larger than the monolithic limit)
    let tmp2 = tempfile::Builder::new()
        .prefix("wharf-push-")
        .tempdir_in(test_tmp())
        .expect("tempdir");
    let reg2 = WharfRegistry::start(tmp2.path(), &[]);
    let name2 = reg2.name("big/img:a");
    d.ok(&["tag", &format!("{name}:a"), &name2]);
    let out = d.ok(&["push", &name2]);
    assert!(out.contains(": Pushed"), "{out}");
    assert_eq!(
        pushed_digest(&out, "a"),
        a,
        "the same bytes on every registry"
    );
    // and back through a fresh daemon
    let d2 = Daemon::start();
    d2.ok(&["pull", &format!("{name}:a")]);
    assert_eq!(d2.image_ids(), d.image_ids());
    // a name with no local image
    let o = d.wharf(&["push", &reg.name("nothing:here")]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("An image does not exist locally with the tag"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn login_logout_and_push_with_credentials() {
    let Some(line) = htpasswd_line() else {
        eprintln!("SKIP: no bcrypt from python3's crypt module");
        return;
    };
    let tmp = tempfile::Builder::new()
        .prefix("wharf-login-")
        .tempdir_in(test_tmp())
        .expect("tempdir");
    let htpasswd = tmp.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("{line}\n")).expect("htpasswd");
    let reg = WharfRegistry::start(
        tmp.path(),
        &["--htpasswd", htpasswd.to_str().expect("utf8")],
    );
    let server = format!("127.0.0.1:{}", reg.port);
    let d = Daemon::start();
    let cfg = tmp.path().join("cli-config");
    std::fs::create_dir_all(&cfg).expect("cfg");
    std::fs::write(
        cfg.join("config.json"),
        r#"{"auths":{"other:1":{"auth":"eDp5"}},"psFormat":"table {{.ID}}"}"#,
    )
    .expect("config");

    let o = wharf_cfg(&d, &cfg, &["login", "-u", "user", "-p", "wrong", &server]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!(
            "login attempt to http://{server}/v2/ failed with status: 401 Unauthorized"
        )),
        "{}",
        stderr(&o)
    );
    let name = reg.name("sec/bb:1");
    d.import_busybox(&name);
    let o = wharf_cfg(&d, &cfg, &["push", &name]);
    assert!(!o.status.success(), "push without credentials must fail");

    let mut c = d.wharf_cmd(&["login", "-u", "user", "--password-stdin", &server]);
    c.env("DOCKER_CONFIG", &cfg);
    let o = run_with_stdin(c, b"pass\n");
    assert!(o.status.success(), "login: {}", stderr(&o));
    assert!(stdout(&o).contains("Login Succeeded"));
    let meta = std::fs::metadata(cfg.join("config.json")).expect("config");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg.join("config.json")).expect("read"))
            .expect("json");
    assert_eq!(v["auths"][&server]["auth"], "dXNlcjpwYXNz");
    assert_eq!(v["auths"]["other:1"]["auth"], "eDp5", "other entries kept");
    assert_eq!(v["psFormat"], "table {{.ID}}", "other keys kept");

    let out = ok_cfg(&d, &cfg, &["push", &name]);
    let digest = pushed_digest(&out, "1");
    // wharf pull sends the stored credentials too
    let d2 = Daemon::start();
    assert!(!d2.wharf(&["pull", &name]).status.success());
    ok_cfg(&d2, &cfg, &["pull", &name]);
    assert_eq!(d2.image_ids(), d.image_ids());
    if Path::new("/usr/bin/skopeo").exists() {
        assert_eq!(skopeo_digest(&name, Some("user:pass")), digest);
    }
    // search against our registry's /v1/search (with the stored credentials)
    search_lists(&d, &cfg, &format!("{server}/bb"), "sec/bb");

    assert!(ok_cfg(&d, &cfg, &["logout", &server])
        .contains(&format!("Removing login credentials for {server}")));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg.join("config.json")).expect("read"))
            .expect("json");
    assert!(v["auths"].get(&server).is_none());
    assert_eq!(v["auths"]["other:1"]["auth"], "eDp5");
    assert!(ok_cfg(&d, &cfg, &["logout", &server]).contains("Not logged in to"));

    // the real docker CLI: login through POST /auth, push with its X-Registry-Auth
    if d.docker(&["version"]).is_some() {
        let o = d
            .docker(&["login", "-u", "user", "-p", "wrong", &server])
            .expect("docker");
        assert!(!o.status.success());
        assert!(stderr(&o).contains("401 Unauthorized"), "{}", stderr(&o));
        let o = d
            .docker(&["login", "-u", "user", "-p", "pass", &server])
            .expect("docker");
        assert!(o.status.success(), "docker login: {}", stderr(&o));
        assert!(stdout(&o).contains("Login Succeeded"));
        let o = d.docker(&["push", &name]).expect("docker");
        assert!(o.status.success(), "docker push: {}", stderr(&o));
        assert_eq!(pushed_digest(&stdout(&o), "1"), digest);
        let o = d
            .docker(&["search", &format!("{server}/sec")])
            .expect("docker");
        assert!(o.status.success(), "docker search: {}", stderr(&o));
        assert!(stdout(&o).contains("sec/bb"), "{}", stdout(&o));
    }
}

/// A registry that answers every request with 500.
fn broken_registry() -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let h = std::thread::spawn(move || {
        l.set_nonblocking(false).ok();
        let deadline = Instant::now() + Duration::from_secs(30);
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            if Instant::now() > deadline {
                break;
            }
        }
    });
    (port, h)
}

#[test]
fn push_to_a_failing_registry_is_a_clear_error() {
    let (port, _h) = broken_registry();
    let d = Daemon::start();
    let name = format!("127.0.0.1:{port}/x/y:1");
    d.import_busybox(&name);
    let o = d.wharf(&["push", &name]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("received unexpected HTTP status: 500"),
        "{}",
        stderr(&o)
    );
    if let Some(o) = d.docker(&["push", &name]) {
        assert!(!o.status.success());
        assert!(stderr(&o).contains("500"), "{}", stderr(&o));
    }
    // the image is untouched
    d.ok(&["image", "inspect", &name]);
}

/// A CA and a certificate for 127.0.0.1/localhost signed by it, made with the `openssl` CLI;
/// returns (ca.crt, server.crt, server.key), or None where openssl is missing.
pub(crate) fn make_certs(dir: &Path) -> Option<(PathBuf, PathBuf, PathBuf)> {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("SKIP: openssl is not installed (scripts/install-deps.sh installs it)");
        return None;
    }
    let p = |n: &str| dir.join(n);
    let run = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(o.status.success(), "openssl {args:?}: {}", stderr(&o));
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=wharf test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&a);
    let mut a = vec!["req"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&a);
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    Some((p("ca.crt"), p("server.crt"), p("server.key")))
}

/// A daemon started with extra flags (the harness's `Daemon::start` takes none).
pub(crate) fn daemon_with(args: &[&str]) -> Daemon {
    daemon_with_env(args, &[])
}

/// … and extra environment.
fn daemon_with_env(args: &[&str], env: &[(&str, &str)]) -> Daemon {
    let mut d = Daemon::unstarted();
    let log = std::fs::File::create(d.dir.path().join("daemon.log")).expect("log");
    let child = Command::new(WHARF)
        .args(["daemon", "--host", &d.host(), "--data-root"])
        .arg(d.data_root())
        .env("WHARF_REGISTRY_LOOPBACK_ONLY", "1")
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn daemon");
    d.child = Some(child);
    wait_for_socket(&d.sock(), Duration::from_secs(20));
    d
}

#[test]
fn push_and_pull_over_tls_with_a_registry_ca_in_certs_d() {
    let tmp = tempfile::Builder::new()
        .prefix("wharf-tls-")
        .tempdir_in(test_tmp())
        .expect("tempdir");
    let Some((ca, cert, key)) = make_certs(tmp.path()) else {
        return;
    };
    let reg = WharfRegistry::start(
        tmp.path(),
        &[
            "--tls-cert",
            cert.to_str().expect("utf8"),
            "--tls-key",
            key.to_str().expect("utf8"),
        ],
    );
    let certs_d = tmp.path().join("certs.d");
    let host_dir = certs_d.join(format!("127.0.0.1:{}", reg.port));
    std::fs::create_dir_all(&host_dir).expect("certs.d");
    std::fs::copy(&ca, host_dir.join("ca.crt")).expect("ca");
    let flag = format!("--registry-certs-dir={}", certs_d.display());

    let d = daemon_with(&[&flag]);
    let name = reg.name("tls/bb:1");
    let id = d.import_busybox(&name);
    let out = d.ok(&["push", &name]);
    let digest = pushed_digest(&out, "1");
    if Path::new("/usr/bin/skopeo").exists() {
        // skopeo verifies against the same CA: what we pushed is served over TLS
        let o = Command::new("skopeo")
            .args(["inspect", "--cert-dir"])
            .arg(&host_dir)
            .arg(format!("docker://{name}"))
            .output()
            .expect("skopeo");
        assert!(o.status.success(), "skopeo inspect: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["Digest"].as_str(), Some(digest.as_str()));
    }
    let d2 = daemon_with(&[&flag]);
    d2.ok(&["pull", &name]);
    assert_eq!(d2.image_ids(), vec![id]);

    // without the CA the certificate does not verify: an error, never plain HTTP
    let d3 = Daemon::start();
    let o = d3.wharf(&["pull", &name]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("failed to verify certificate"),
        "{}",
        stderr(&o)
    );
    assert!(d3.image_ids().is_empty());
}

#[test]
fn a_stalled_registry_is_an_error_not_a_hang() {
    // accepts connections and never answers
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
            if held.len() > 64 {
                break;
            }
        }
    });
    let d = daemon_with_env(&[], &[("WHARF_REGISTRY_TIMEOUT", "2")]);
    let name = format!("127.0.0.1:{port}/stall/bb:1");
    d.import_busybox(&name);
    let t0 = Instant::now();
    let o = d.wharf(&["push", &name]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("did not answer within 2s"),
        "{}",
        stderr(&o)
    );
    let o = d.wharf(&["pull", &name]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("did not answer within 2s"),
        "{}",
        stderr(&o)
    );
    assert!(t0.elapsed() < Duration::from_secs(60), "{:?}", t0.elapsed());
}

#[test]
fn a_corrupt_cached_layer_is_refused_by_the_registry_then_dropped() {
    let tmp = tempfile::Builder::new()
        .prefix("wharf-push-")
        .tempdir_in(test_tmp())
        .expect("tempdir");
    let reg = WharfRegistry::start(tmp.path(), &[]);
    let d = Daemon::start();
    let name = reg.name("c/one:1");
    d.import_busybox(&name);
    let digest = pushed_digest(&d.ok(&["push", &name]), "1");
    // damage the cached compressed layer (same size, other bytes)
    let blobs = d.data_root().join("distribution/blobs");
    for e in std::fs::read_dir(&blobs).expect("cache") {
        let p = e.expect("entry").path();
        let mut b = std::fs::read(&p).expect("read");
        let n = b.len();
        b[n / 2] ^= 0xff;
        std::fs::write(&p, b).expect("write");
    }
    let tmp2 = tempfile::Builder::new()
        .prefix("wharf-push-")
        .tempdir_in(test_tmp())
        .expect("tempdir");
    let reg2 = WharfRegistry::start(tmp2.path(), &[]);
    let name2 = reg2.name("c/two:1");
    d.ok(&["tag", &name, &name2]);
    let o = d.wharf(&["push", &name2]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("digest_invalid"), "{}", stderr(&o));
    // the bad cache entry is gone: the layer is compressed again, same bytes as before
    let out = d.ok(&["push", &name2]);
    assert_eq!(pushed_digest(&out, "1"), digest);
}

/// `image inspect`'s RepoDigests, as a list.
fn repo_digests(d: &Daemon, name: &str) -> Vec<String> {
    let out = d.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        name,
    ]);
    serde_json::from_str(out.trim()).expect("RepoDigests json")
}

#[test]
fn push_records_repo_digests_as_docker_does() {
    let tmp = tempfile::Builder::new()
        .prefix("wharf-push-")
        .tempdir_in(test_tmp())
        .expect("tempdir");
    let reg = WharfRegistry::start(tmp.path(), &[]);
    let d = Daemon::start();
    let name = reg.name("rd/bb:1");
    d.import_busybox(&name);
    assert!(repo_digests(&d, &name).is_empty());
    let digest = pushed_digest(&d.ok(&["push", &name]), "1");
    let want = format!("{}@{digest}", reg.name("rd/bb"));
    assert_eq!(repo_digests(&d, &name), vec![want.clone()]);
    // pushing again records nothing twice
    d.ok(&["push", &name]);
    assert_eq!(repo_digests(&d, &name), vec![want.clone()]);
    // the image can be named by that digest
    let by_digest = d.ok(&["image", "inspect", "--format", "{{.Id}}", &want]);
    let by_tag = d.ok(&["image", "inspect", "--format", "{{.Id}}", &name]);
    assert_eq!(by_digest, by_tag);

    // the real docker CLI through our socket: same record for another repository
    let other = reg.name("rd/other:2");
    d.ok(&["tag", &name, &other]);
    if let Some(o) = d.docker(&["push", &other]) {
        assert!(o.status.success(), "docker push: {}", stderr(&o));
        let got = repo_digests(&d, &name);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.contains(&want), "{got:?}");
        assert!(
            got.contains(&format!("{}@{digest}", reg.name("rd/other"))),
            "{got:?}"
        );
        // `docker image inspect` shows them too
        let o = d
            .docker(&[
                "image",
                "inspect",
                "--format",
                "{{json .RepoDigests}}",
                &name,
            ])
            .expect("docker");
        assert!(stdout(&o).contains(&want), "{}", stdout(&o));
    }
}

/// A fake `docker-credential-<name>` in `dir` (put `dir` first on PATH): keeps what it is
/// given under `dir/store-<name>/`, one file per server, and logs each call to
/// `dir/calls-<name>`; answers `get` for an unknown server as real helpers do.
pub(crate) fn fake_cred_helper(dir: &Path, name: &str) {
    let script = format!(
        r#"#!/bin/sh
store="{dir}/store-{name}"
mkdir -p "$store"
echo "$1" >> "{dir}/calls-{name}"
case "$1" in
store)
  json=$(cat)
  server=$(printf '%s' "$json" | sed 's/.*"ServerURL":"\([^"]*\)".*/\1/')
  printf '%s' "$json" > "$store/$(printf '%s' "$server" | tr '/:' '__')" ;;
get)
  server=$(cat)
  f="$store/$(printf '%s' "$server" | tr '/:' '__')"
  if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
erase)
  server=$(cat)
  rm -f "$store/$(printf '%s' "$server" | tr '/:' '__')" ;;
*) echo "unknown action"; exit 1 ;;
esac
"#,
        dir = dir.display()
    );
    let p = dir.join(format!("docker-credential-{name}"));
    std::fs::write(&p, script).expect("helper");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// `wharf ARGS` with the CLI's config dir and PATH (fake helpers first) set.
pub(crate) fn wharf_helpers(
    d: &Daemon,
    cfg: &Path,
    bin: &Path,
    args: &[&str],
    input: &[u8],
) -> Output {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = d.wharf_cmd(args);
    c.env("DOCKER_CONFIG", cfg).env("PATH", path);
    run_with_stdin(c, input)
}

#[test]
fn login_push_pull_logout_through_credential_helpers() {
    let Some(line) = htpasswd_line() else {
        eprintln!("SKIP: no bcrypt from python3's crypt module");
        return;
    };
    let tmp = tempfile::Builder::new()
        .prefix("wharf-creds-")
        .tempdir_in(test_tmp())
        .expect("tempdir");
    let htpasswd = tmp.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("{line}\n")).expect("htpasswd");
    let reg = WharfRegistry::start(
        tmp.path(),
        &["--htpasswd", htpasswd.to_str().expect("utf8")],
    );
    let server = format!("127.0.0.1:{}", reg.port);
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    fake_cred_helper(&bin, "fake");
    fake_cred_helper(&bin, "perreg");
    let cfg = tmp.path().join("cli-config");
    std::fs::create_dir_all(&cfg).expect("cfg");
    std::fs::write(cfg.join("config.json"), r#"{"credsStore":"fake"}"#).expect("config");
    let read_cfg = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(cfg.join("config.json")).expect("read"))
            .expect("json")
    };
    let calls = |name: &str| -> Vec<String> {
        std::fs::read_to_string(bin.join(format!("calls-{name}")))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };

    let d = Daemon::start();
    let name = reg.name("helper/bb:1");
    d.import_busybox(&name);
    // nothing stored yet: the helper is asked, finds nothing, the push is anonymous and refused
    let o = wharf_helpers(&d, &cfg, &bin, &["push", &name], b"");
    assert!(!o.status.success(), "push without credentials must fail");
    assert_eq!(calls("fake"), ["get"]);

    // login stores through credsStore: the helper has the JSON, config.json no password
    let o = wharf_helpers(
        &d,
        &cfg,
        &bin,
        &["login", "-u", "user", "--password-stdin", &server],
        b"pass\n",
    );
    assert!(o.status.success(), "login: {}", stderr(&o));
    assert!(stdout(&o).contains("Login Succeeded"));
    assert!(!stderr(&o).contains("stored unencrypted"), "{}", stderr(&o));
    let stored =
        std::fs::read_to_string(bin.join("store-fake").join(server.replace([':', '/'], "_")))
            .expect("helper got the credentials");
    let v: serde_json::Value = serde_json::from_str(&stored).expect("helper json");
    assert_eq!(
        v,
        serde_json::json!({"ServerURL": server, "Username": "user", "Secret": "pass"})
    );
    let c = read_cfg();
    assert_eq!(c["auths"][&server], serde_json::json!({}), "{c}");
    assert_eq!(c["credsStore"], "fake");
    assert!(!std::fs::read_to_string(cfg.join("config.json"))
        .expect("read")
        .contains("dXNlcjpwYXNz"));

    // push and pull get the credentials from the helper
    let o = wharf_helpers(&d, &cfg, &bin, &["push", &name], b"");
    assert!(o.status.success(), "push: {}", stderr(&o));
    let d2 = Daemon::start();
    let o = wharf_helpers(&d2, &cfg, &bin, &["pull", &name], b"");
    assert!(o.status.success(), "pull: {}", stderr(&o));
    assert_eq!(d2.image_ids(), d.image_ids());

    // the real docker CLI reads the same helper and config
    if docker_cli().is_some() {
        let o = d
            .docker_cmd(&["push", &name])
            .expect("docker")
            .env("DOCKER_CONFIG", &cfg)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .output()
            .expect("docker push");
        assert!(o.status.success(), "docker push: {}", stderr(&o));
    }

    // logout erases through the helper and drops the entry
    let before = calls("fake").len();
    let o = wharf_helpers(&d, &cfg, &bin, &["logout", &server], b"");
    assert!(o.status.success(), "logout: {}", stderr(&o));
    assert!(stdout(&o).contains(&format!("Removing login credentials for {server}")));
    assert_eq!(calls("fake")[before..], ["erase"]);
    assert!(std::fs::read_dir(bin.join("store-fake"))
        .expect("store")
        .next()
        .is_none());
    assert!(read_cfg()["auths"].get(&server).is_none());
    d2.ok(&["rmi", &name]);
    assert!(!wharf_helpers(&d2, &cfg, &bin, &["pull", &name], b"")
        .status
        .success());

    // credHelpers names a helper per registry, over credsStore
    std::fs::write(
        cfg.join("config.json"),
        format!(r#"{{"credsStore":"missing","credHelpers":{{"{server}":"perreg"}}}}"#),
    )
    .expect("config");
    let o = wharf_helpers(
        &d,
        &cfg,
        &bin,
        &["login", "-u", "user", "-p", "pass", &server],
        b"",
    );
    assert!(o.status.success(), "login: {}", stderr(&o));
    assert_eq!(calls("perreg"), ["store"]);
    let o = wharf_helpers(&d2, &cfg, &bin, &["pull", &name], b"");
    assert!(o.status.success(), "pull: {}", stderr(&o));
    assert_eq!(calls("perreg"), ["store", "get"]);

    // a helper that is not installed: docker's message, nothing written
    std::fs::write(cfg.join("config.json"), r#"{"credsStore":"missing"}"#).expect("config");
    let o = wharf_helpers(
        &d,
        &cfg,
        &bin,
        &["login", "-u", "user", "-p", "pass", &server],
        b"",
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(
            "error storing credentials - err: exec: \"docker-credential-missing\": executable file not found in $PATH"
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(cfg.join("config.json")).expect("read"),
        r#"{"credsStore":"missing"}"#
    );
}

/// A second CA (`dir/client/ca.crt`) and a client certificate it signed, in docker's
/// certs.d names: (client CA, client.cert, client.key).
fn make_client_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let d = dir.join("client");
    std::fs::create_dir_all(&d).expect("client dir");
    let run = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(&d)
            .output()
            .expect("openssl");
        assert!(o.status.success(), "openssl {args:?}: {}", stderr(&o));
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=wharf test client CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&a);
    let mut a = vec!["req"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "client.key",
        "-out",
        "client.csr",
        "-subj",
        "/CN=wharf client",
    ]);
    run(&a);
    std::fs::write(
        d.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "client.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "client.cert",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        d.join("ca.crt"),
        d.join("client.cert"),
        d.join("client.key"),
    )
}

#[test]
fn push_and_pull_with_a_client_certificate_the_registry_demands() {
    let tmp = tempfile::Builder::new()
        .prefix("wharf-mtls-")
        .tempdir_in(test_tmp())
        .expect("tempdir");
    let Some((ca, cert, key)) = make_certs(tmp.path()) else {
        return;
    };
    let (client_ca, client_cert, client_key) = make_client_certs(tmp.path());
    let s = |p: &Path| p.to_str().expect("utf8").to_string();
    let reg = WharfRegistry::start(
        tmp.path(),
        &[
            "--tls-cert",
            &s(&cert),
            "--tls-key",
            &s(&key),
            "--tls-client-ca",
            &s(&client_ca),
        ],
    );
    let name = reg.name("mtls/bb:1");
    let host = format!("127.0.0.1:{}", reg.port);

    // trusting the server is not enough: no client certificate, no push
    let only_ca = tmp.path().join("certs-ca-only");
    std::fs::create_dir_all(only_ca.join(&host)).expect("certs.d");
    std::fs::copy(&ca, only_ca.join(&host).join("ca.crt")).expect("ca");
    let d0 = daemon_with(&[&format!("--registry-certs-dir={}", only_ca.display())]);
    d0.import_busybox(&name);
    let o = d0.wharf(&["push", &name]);
    assert!(!o.status.success(), "push without a client certificate");
    assert!(
        stderr(&o).to_lowercase().contains("certificate"),
        "{}",
        stderr(&o)
    );

    // docker's layout: certs.d/<host:port>/{ca.crt,client.cert,client.key}
    let certs_d = tmp.path().join("certs.d");
    let host_dir = certs_d.join(&host);
    std::fs::create_dir_all(&host_dir).expect("certs.d");
    std::fs::copy(&ca, host_dir.join("ca.crt")).expect("ca");
    std::fs::copy(&client_cert, host_dir.join("client.cert")).expect("cert");
    std::fs::copy(&client_key, host_dir.join("client.key")).expect("key");
    let flag = format!("--registry-certs-dir={}", certs_d.display());
    let d = daemon_with(&[&flag]);
    let id = d.import_busybox(&name);
    let digest = pushed_digest(&d.ok(&["push", &name]), "1");
    let d2 = daemon_with(&[&flag]);
    d2.ok(&["pull", &name]);
    assert_eq!(d2.image_ids(), vec![id]);
    if Path::new("/usr/bin/skopeo").exists() {
        // skopeo reads the same directory layout
        let o = Command::new("skopeo")
            .args(["inspect", "--cert-dir"])
            .arg(&host_dir)
            .arg(format!("docker://{name}"))
            .output()
            .expect("skopeo");
        assert!(o.status.success(), "skopeo inspect: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["Digest"].as_str(), Some(digest.as_str()));
    }

    // a .cert without its .key: docker's error
    let broken = tmp.path().join("certs-broken");
    std::fs::create_dir_all(broken.join(&host)).expect("certs.d");
    std::fs::copy(&ca, broken.join(&host).join("ca.crt")).expect("ca");
    std::fs::copy(&client_cert, broken.join(&host).join("client.cert")).expect("cert");
    let d3 = daemon_with(&[&format!("--registry-certs-dir={}", broken.display())]);
    let o = d3.wharf(&["pull", &name]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("missing key") && stderr(&o).contains("client.key"),
        "{}",
        stderr(&o)
    );
    assert!(d3.image_ids().is_empty());
}

/// A PKCS#8 P-256 key and a self-signed certificate for it: (key, cert).
pub(crate) fn make_token_key(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.crt"));
    let o = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&key)
        .output()
        .expect("openssl");
    assert!(o.status.success(), "genpkey: {}", stderr(&o));
    let o = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=wharf token signer",
            "-key",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(o.status.success(), "req: {}", stderr(&o));
    (key, cert)
}

/// One raw HTTP/1.1 GET on 127.0.0.1: (status code, head, body).
pub(crate) fn raw_get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_string(), body.to_string())
}

pub(crate) fn token_registry(
    dir: &Path,
    htpasswd: &Path,
    key: &Path,
    cert: &Path,
) -> WharfRegistry {
    let p = |x: &Path| x.to_str().expect("utf8").to_string();
    WharfRegistry::start(
        dir,
        &[
            "--htpasswd",
            &p(htpasswd),
            "--token-realm",
            "http://127.0.0.1:{port}/token",
            "--token-service",
            "wharf-test",
            "--token-issuer",
            "wharf-test-issuer",
            "--token-rootcertbundle",
            &p(cert),
            "--token-key",
            &p(key),
        ],
    )
}

#[test]
fn token_auth_in_wharf_registry_serve_with_its_own_token_issuer() {
    let Some(t) = TokenRegistry::start("wharf-token-") else {
        return;
    };
    let (reg, server) = (&t.reg, t.server.as_str());

    // distribution's challenge, naming the scope the request needs
    let (code, head, _) = raw_get(reg.port, "/v2/tok/bb/manifests/1", &[]);
    assert_eq!(code, 401, "{head}");
    assert!(
        head.contains(&format!(
            "Bearer realm=\"http://{server}/token\",service=\"wharf-test\",scope=\"repository:tok/bb:pull\""
        )),
        "{head}"
    );
    // Basic credentials are not a token
    let (code, _, _) = raw_get(reg.port, "/v2/", &[("Authorization", "Basic dXNlcjpwYXNz")]);
    assert_eq!(code, 401);
    // a wrong password gets no token; anonymous gets one without access
    let (code, _, _) = raw_get(
        reg.port,
        "/token?service=wharf-test&scope=repository:tok/bb:pull",
        &[("Authorization", "Basic dXNlcjp3cm9uZw==")],
    );
    assert_eq!(code, 401);
    let (code, _, body) = raw_get(
        reg.port,
        "/token?service=wharf-test&scope=repository:tok/bb:pull",
        &[],
    );
    assert_eq!(code, 200, "{body}");
    let anon: serde_json::Value = serde_json::from_str(&body).expect("json");
    let bearer = format!("Bearer {}", anon["token"].as_str().expect("token"));
    let (code, _, _) = raw_get(reg.port, "/v2/", &[("Authorization", &bearer)]);
    assert_eq!(code, 200, "a valid token opens /v2/");
    let (code, head, _) = raw_get(
        reg.port,
        "/v2/tok/bb/manifests/1",
        &[("Authorization", &bearer)],
    );
    assert_eq!(code, 401);
    assert!(head.contains("insufficient_scope"), "{head}");

    // a token signed by another key (another registry's issuer) is refused
    let tmp2 = scratch("wharf-token-");
    let (key2, cert2) = make_token_key(tmp2.path(), "other");
    let reg2 = token_registry(tmp2.path(), &t.htpasswd, &key2, &cert2);
    let (code, _, body) = raw_get(
        reg2.port,
        "/token?service=wharf-test&scope=repository:tok/bb:pull",
        &[("Authorization", "Basic dXNlcjpwYXNz")],
    );
    assert_eq!(code, 200, "{body}");
    let forged: serde_json::Value = serde_json::from_str(&body).expect("json");
    let forged = format!("Bearer {}", forged["token"].as_str().expect("token"));
    let (code, _, _) = raw_get(reg.port, "/v2/", &[("Authorization", &forged)]);
    assert_eq!(code, 401, "a token from an untrusted key");

    // our client: the bearer flow for login, push and pull
    let name = reg.name("tok/bb:1");
    let (d, cfg) = daemon_with_busybox(&name, t.tmp.path());
    assert!(!wharf_cfg(&d, &cfg, &["push", &name]).status.success());
    let o = wharf_cfg(&d, &cfg, &["login", "-u", "user", "-p", "wrong", server]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unauthorized: incorrect username or password"),
        "{}",
        stderr(&o)
    );
    login(&d, &cfg, server);
    let digest = pushed_digest(&ok_cfg(&d, &cfg, &["push", &name]), "1");
    let d2 = Daemon::start();
    assert!(!d2.wharf(&["pull", &name]).status.success());
    ok_cfg(&d2, &cfg, &["pull", &name]);
    assert_eq!(d2.image_ids(), d.image_ids());
    // a cross-repository mount asks for pull on the source too
    let other = reg.name("tok/other:1");
    d.ok(&["tag", &name, &other]);
    let out = ok_cfg(&d, &cfg, &["push", &other]);
    assert!(out.contains("Mounted from tok/bb"), "{out}");

    // the real docker CLI through our daemon: login (bearer) and push
    if let Some(o) = d.docker(&["login", "-u", "user", "-p", "pass", server]) {
        assert!(o.status.success(), "docker login: {}", stderr(&o));
        let o = d.docker(&["push", &name]).expect("docker");
        assert!(o.status.success(), "docker push: {}", stderr(&o));
        assert_eq!(pushed_digest(&stdout(&o), "1"), digest);
    }

    // skopeo (containers/image's bearer flow) against our token server
    if Path::new("/usr/bin/skopeo").exists() {
        assert_eq!(skopeo_digest(&name, Some("user:pass")), digest);
    }
}

fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A JWS signed ES256 by `key` with openssl (its DER ECDSA signature turned into `r||s`).
pub(crate) fn es256_token(
    dir: &Path,
    key: &Path,
    header: &serde_json::Value,
    claims: &serde_json::Value,
) -> String {
    let msg = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let input = dir.join("jws-input");
    std::fs::write(&input, &msg).expect("write");
    let o = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .arg(&input)
        .output()
        .expect("openssl dgst");
    assert!(o.status.success(), "openssl dgst: {}", stderr(&o));
    // SEQUENCE { INTEGER r, INTEGER s }
    let der = o.stdout;
    let mut i = 2;
    let mut fixed = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[i], 0x02);
        let len = der[i + 1] as usize;
        let int = &der[i + 2..i + 2 + len];
        let int = &int[int.len().saturating_sub(32)..];
        fixed.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        fixed.extend_from_slice(int);
        i += 2 + len;
    }
    format!("{msg}.{}", b64url(&fixed))
}

#[test]
fn registry_tokens_are_checked_for_signature_issuer_audience_time_and_access() {
    let Some(line) = htpasswd_line() else {
        eprintln!("SKIP: no bcrypt from python3's crypt module");
        return;
    };
    let tmp = tempfile::Builder::new()
        .prefix("wharf-token-")
        .tempdir_in(test_tmp())
        .expect("tempdir");
    let htpasswd = tmp.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("{line}\n")).expect("htpasswd");
    let (key, cert) = make_token_key(tmp.path(), "signer");
    let reg = token_registry(tmp.path(), &htpasswd, &key, &cert);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let es256 = serde_json::json!({"alg": "ES256", "typ": "JWT"});
    let good = serde_json::json!({
        "iss": "wharf-test-issuer", "aud": "wharf-test", "sub": "user",
        "exp": now + 300, "nbf": now - 10, "iat": now,
        "access": [{"type": "repository", "name": "t/a", "actions": ["pull"]}],
    });
    let status = |token: &str| {
        raw_get(
            reg.port,
            "/v2/t/a/tags/list",
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .0
    };
    // a token we mint ourselves with the trusted key passes (404: no such repository yet)
    assert_eq!(status(&es256_token(tmp.path(), &key, &es256, &good)), 404);
    let with = |k: &str, v: serde_json::Value| {
        let mut c = good.clone();
        c[k] = v;
        es256_token(tmp.path(), &key, &es256, &c)
    };
    assert_eq!(status(&with("iss", "someone-else".into())), 401, "issuer");
    assert_eq!(
        status(&with("aud", "other-service".into())),
        401,
        "audience"
    );
    assert_eq!(
        status(&with("aud", serde_json::json!(["x", "wharf-test"]))),
        404,
        "audience list"
    );
    assert_eq!(status(&with("exp", (now - 3600).into())), 401, "expired");
    assert_eq!(
        status(&with("nbf", (now + 3600).into())),
        401,
        "not yet valid"
    );
    assert_eq!(
        status(&with(
            "access",
            serde_json::json!([{"type": "repository", "name": "t/b", "actions": ["pull"]}])
        )),
        401,
        "access to another repository"
    );
    // alg none (no signature) and a tampered payload
    let none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none"}"#),
        b64url(good.to_string().as_bytes())
    );
    assert_eq!(status(&none), 401, "alg none");
    let t = es256_token(tmp.path(), &key, &es256, &good);
    let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
    let mut forged = good.clone();
    forged["access"][0]["name"] = "t/b".into();
    parts[1] = b64url(forged.to_string().as_bytes());
    let tampered = parts.join(".");
    let (code, _, _) = raw_get(
        reg.port,
        "/v2/t/b/tags/list",
        &[("Authorization", &format!("Bearer {tampered}"))],
    );
    assert_eq!(code, 401, "tampered claims");
    assert_eq!(status("not.a.jwt"), 401);
    assert_eq!(status(""), 401);
}
