//! `wharf build` and `docker build` (classic API) for real: the example web app built from a
//! Dockerfile and served on a published port, the cache (nothing re-runs when nothing
//! changed; a changed file re-runs only what depends on it), reproducible digests, multi-stage
//! builds with --target, ARG/ENV substitution, ADD of a local archive, .dockerignore, and
//! docker's errors.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, text).expect("write");
}

fn context() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("build-ctx-")
        .tempdir_in(test_tmp())
        .expect("tempdir")
}

fn build(d: &Daemon, dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["build"];
    args.extend(extra);
    let p = dir.display().to_string();
    args.push(&p);
    d.wharf(&args)
}

fn image_id(d: &Daemon, name: &str) -> String {
    d.ok(&["image", "inspect", "-f", "{{.Id}}", name])
        .trim()
        .to_string()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s =
        TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(2))
            .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

const WEB_DOCKERFILE: &str = r#"# The example web app
FROM bb
ARG GREETING=hello
ENV GREETING=${GREETING} \
    APP_HOME=/www
WORKDIR $APP_HOME
COPY index.html ./
RUN echo "built with $GREETING" > built.txt
EXPOSE 80
CMD ["httpd", "-f", "-p", "80", "-h", "/www"]
"#;

#[test]
fn build_the_example_web_app_and_serve_it_on_a_published_port() {
    let d = Daemon::start();
    d.import_busybox("bb:latest");
    let ctx = context();
    write(ctx.path(), "Dockerfile", WEB_DOCKERFILE);
    write(ctx.path(), "index.html", "<h1>built by wharf</h1>\n");
    let o = build(
        &d,
        ctx.path(),
        &["-t", "webapp:1", "--build-arg", "GREETING=hi"],
    );
    assert!(o.status.success(), "{}\n{}", stderr(&o), d.log());
    let out = stdout(&o);
    assert!(out.contains("Step 1/8 : FROM bb"), "{out}");
    assert!(out.contains("Successfully built "), "{out}");
    assert!(out.contains("Successfully tagged webapp:1"), "{out}");

    let v: serde_json::Value =
        serde_json::from_str(&d.ok(&["image", "inspect", "webapp:1"])).expect("json");
    let cfg = &v[0]["Config"];
    assert_eq!(cfg["WorkingDir"], "/www");
    assert_eq!(
        cfg["Cmd"],
        serde_json::json!(["httpd", "-f", "-p", "80", "-h", "/www"])
    );
    assert!(cfg["ExposedPorts"]["80/tcp"].is_object(), "{cfg}");
    assert!(
        cfg["Env"]
            .as_array()
            .expect("env")
            .iter()
            .any(|e| e == "GREETING=hi"),
        "{cfg}"
    );

    d.ok(&["run", "-d", "--name", "app", "-p", "80", "webapp:1"]);
    let port: u16 = d
        .ok(&["port", "app", "80"])
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut body = None;
    while Instant::now() < deadline && body.is_none() {
        body = http_get(port, "/");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(body.as_deref(), Some("<h1>built by wharf</h1>\n"));
    assert_eq!(
        http_get(port, "/built.txt").as_deref(),
        Some("built with hi\n")
    );
    d.ok(&["rm", "-f", "app"]);
}

#[test]
fn the_cache_reruns_only_what_changed_and_builds_are_reproducible() {
    let d = Daemon::start();
    d.import_busybox("bb:latest");
    let ctx = context();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM bb\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy-of-a\nCOPY b.txt /b.txt\nRUN cat /b.txt > /copy-of-b\n",
    );
    write(ctx.path(), "a.txt", "a1\n");
    write(ctx.path(), "b.txt", "b1\n");
    let o = build(&d, ctx.path(), &["-t", "c:1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("Using cache"), "{}", stdout(&o));
    let first = image_id(&d, "c:1");

    // Nothing changed: nothing runs.
    let o = build(&d, ctx.path(), &["-t", "c:2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.matches("Using cache").count(), 4, "{out}");
    assert!(!out.contains("Running in"), "{out}");
    assert_eq!(image_id(&d, "c:2"), first);

    // b.txt changed (content, not mtime): the first two steps stay cached.
    write(ctx.path(), "b.txt", "b2\n");
    let o = build(&d, ctx.path(), &["-t", "c:3"]);
    let out = stdout(&o);
    assert_eq!(out.matches("Using cache").count(), 2, "{out}");
    assert_eq!(out.matches("Running in").count(), 1, "{out}");
    assert_eq!(
        d.ok(&["run", "--rm", "c:3", "cat", "/copy-of-a", "/copy-of-b"]),
        "a1\nb2\n"
    );

    // Touching a file without changing it re-runs nothing.
    write(ctx.path(), "a.txt", "a1\n");
    let o = build(&d, ctx.path(), &["-t", "c:4"]);
    assert_eq!(
        stdout(&o).matches("Using cache").count(),
        4,
        "{}",
        stdout(&o)
    );

    // Reproducible: --no-cache from scratch gives the same digest again.
    let o = build(&d, ctx.path(), &["--no-cache", "-t", "c:5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("Using cache"));
    assert_eq!(image_id(&d, "c:5"), image_id(&d, "c:4"));
}

#[test]
fn multi_stage_targets_args_archives_and_ignore_files() {
    let d = Daemon::start();
    d.import_busybox("bb:latest");
    let ctx = context();
    // A tar for ADD to unpack.
    let mut tb = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    tb.append_data(&mut h, "inner/file.txt", &b"inner\n"[..])
        .expect("tar");
    std::fs::write(ctx.path().join("bundle.tar"), tb.into_inner().expect("tar")).expect("write");
    write(
        ctx.path(),
        "Dockerfile",
        "ARG BASE=bb\nFROM ${BASE} AS builder\nARG VERSION=0.1\nRUN echo \"v$VERSION\" > /version\n\n\
         FROM bb AS unused\nRUN exit 1\n\n\
         FROM ${BASE}\nCOPY --from=builder /version /app/version\nADD bundle.tar /app/\nCOPY . /ctx/\n\
         LABEL stage=final\nCMD [\"cat\", \"/app/version\"]\n",
    );
    write(ctx.path(), ".dockerignore", "*.log\n!keep.log\nsecret/\n");
    write(ctx.path(), "drop.log", "no");
    write(ctx.path(), "keep.log", "yes");
    write(ctx.path(), "secret/key", "hidden");
    let o = build(
        &d,
        ctx.path(),
        &["-t", "ms:1", "--build-arg", "VERSION=2.0"],
    );
    assert!(o.status.success(), "{}\n{}", stderr(&o), stdout(&o));
    assert_eq!(d.ok(&["run", "--rm", "ms:1"]), "v2.0\n");
    assert_eq!(
        d.ok(&["run", "--rm", "ms:1", "cat", "/app/inner/file.txt"]),
        "inner\n"
    );
    let listing = d.ok(&["run", "--rm", "ms:1", "ls", "/ctx"]);
    assert!(
        listing.contains("keep.log") && !listing.contains("drop.log"),
        "{listing}"
    );
    assert!(!listing.contains("secret"), "{listing}");
    // --target builds only what the target needs.
    let o = build(&d, ctx.path(), &["--target", "builder", "-t", "ms:builder"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("exit 1"), "{}", stdout(&o));
    assert_eq!(
        d.ok(&["run", "--rm", "ms:builder", "cat", "/version"]),
        "v0.1\n"
    );
}

#[test]
fn build_errors_are_dockers() {
    let d = Daemon::start();
    d.import_busybox("bb:latest");
    let ctx = context();
    let fails = |df: &str| {
        write(ctx.path(), "Dockerfile", df);
        let o = build(&d, ctx.path(), &["-t", "bad:1"]);
        assert!(!o.status.success(), "{df} built");
        format!("{}{}", stdout(&o), stderr(&o))
    };
    assert!(fails("FROM bb\nRUN exit 3\n").contains("returned a non-zero code: 3"));
    assert!(fails("FROM bb\nFORM x\n").contains("unknown instruction"));
    assert!(fails("FROM nosuchimage:1\n").contains("nosuchimage"));
    assert!(fails("FROM bb\nCOPY missing.txt /x\n").contains("missing.txt"));
    assert!(fails("FROM bb\nCOPY ../../etc/passwd /x\n").contains("outside the build context"));
    assert!(fails("").contains("cannot be empty"));
    assert!(fails("FROM bb\nCOPY --from=nostage /x /x\n").contains("nostage"));
    assert!(fails("FROM bb\nRUN --bogus=1 true\n").contains("unknown flag"));
    // CVE-2024-21626 (Leaky Vessels) through a build: a WORKDIR of /proc/self/fd/N never
    // reaches a host directory.
    write(
        ctx.path(),
        "Dockerfile",
        "FROM bb\nWORKDIR /proc/self/fd/7\nRUN ls -a . .. 2>&1; true\n",
    );
    let o = build(&d, ctx.path(), &["--no-cache"]);
    let out = format!("{}{}", stdout(&o), stderr(&o));
    for host_only in ["wharf.redb", "shim.json", "containers", "engine-id"] {
        assert!(!out.contains(host_only), "host directory reached: {out}");
    }
    // A symlink in the context that points out of it is copied as a symlink, never followed.
    std::os::unix::fs::symlink("/etc/shadow", ctx.path().join("escape")).expect("symlink");
    write(
        ctx.path(),
        "Dockerfile",
        "FROM bb\nCOPY escape /escape\nRUN readlink /escape; cat /escape 2>&1; true\n",
    );
    let o = build(&d, ctx.path(), &["-t", "esc:1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("/etc/shadow"), "{}", stdout(&o));
    assert!(
        !stdout(&o).contains("root:"),
        "host file read: {}",
        stdout(&o)
    );
    std::fs::remove_file(ctx.path().join("escape")).expect("rm");
    d.ok(&["rmi", "esc:1"]);
    // Nothing half-made: the failed builds tagged nothing and left no container.
    assert!(d.wharf(&["image", "inspect", "bad:1"]).status.code() != Some(0));
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn docker_cli_builds_with_the_classic_builder() {
    let Some(()) = docker_cli() else { return };
    let d = Daemon::start();
    d.import_busybox("bb:latest");
    let ctx = context();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM bb\nCOPY hello.txt /\nRUN cat /hello.txt\nCMD [\"cat\", \"/hello.txt\"]\n",
    );
    write(ctx.path(), "hello.txt", "hello from docker build\n");
    let mut cmd = d
        .docker_cmd(&["build", "-t", "dk:1", &ctx.path().display().to_string()])
        .expect("docker");
    cmd.env("DOCKER_BUILDKIT", "0");
    let o = cmd.output().expect("docker build");
    assert!(o.status.success(), "{}\n{}", stderr(&o), stdout(&o));
    assert!(
        stdout(&o).contains("Successfully tagged dk:1"),
        "{}",
        stdout(&o)
    );
    assert_eq!(d.ok(&["run", "--rm", "dk:1"]), "hello from docker build\n");
}

#[test]
fn run_mounts_cache_bind_and_tmpfs() {
    let d = Daemon::start();
    d.import_busybox("bb:latest");
    let ctx = context();
    write(ctx.path(), "conf/app.conf", "setting=1\n");
    write(
        ctx.path(),
        "Dockerfile",
        "FROM bb\n\
         RUN --mount=type=cache,target=/cache sh -c 'echo run >> /cache/log; wc -l < /cache/log > /runs'\n\
         RUN --mount=type=bind,source=conf,target=/conf cat /conf/app.conf > /copied\n\
         RUN --mount=type=tmpfs,target=/scratch sh -c 'echo x > /scratch/f && grep -q tmpfs /proc/mounts'\n\
         RUN ls /cache /conf /scratch 2>&1 | grep -v '^/' > /listing; true\n",
    );
    let o = build(&d, ctx.path(), &["-t", "m:1"]);
    assert!(o.status.success(), "{}\n{}", stderr(&o), stdout(&o));
    assert_eq!(
        d.ok(&["run", "--rm", "m:1", "cat", "/copied"]),
        "setting=1\n"
    );
    assert_eq!(d.ok(&["run", "--rm", "m:1", "cat", "/runs"]), "1\n");
    // What was written into the mounts is not in the image.
    let listing = d.ok(&["run", "--rm", "m:1", "cat", "/listing"]);
    assert!(
        !listing.contains("log") && !listing.contains("app.conf"),
        "{listing}"
    );
    // The cache mount persists across builds (the step re-runs with --no-cache).
    let o = build(&d, ctx.path(), &["--no-cache", "-t", "m:2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(d.ok(&["run", "--rm", "m:2", "cat", "/runs"]), "2\n");
    // A context symlink is never bind-mounted (the host would follow it).
    std::os::unix::fs::symlink("/etc", ctx.path().join("hostetc")).expect("symlink");
    write(
        ctx.path(),
        "Dockerfile",
        "FROM bb\nRUN --mount=type=bind,source=hostetc,target=/h cat /h/shadow\n",
    );
    let o = build(&d, ctx.path(), &["-t", "m:3"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("symlink"), "{}", stderr(&o));
}

#[test]
fn independent_stages_run_at_the_same_time() {
    let d = Daemon::start();
    d.import_busybox("bb:latest");
    let ctx = context();
    // Each stage waits for the other's marker in a shared cache mount: built one after the
    // other, the first would give up after 10 s and fail the build.
    let wait_for = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,target=/sync,id=sync sh -c 'touch /sync/{me}; i=0; while [ ! -f /sync/{other} ]; do i=$((i+1)); [ $i -gt 200 ] && exit 1; sleep 0.05; done; echo {me} > /{me}'\n"
        )
    };
    let df = format!(
        "FROM bb AS a\n{}FROM bb AS b\n{}FROM bb\nCOPY --from=a /a /a\nCOPY --from=b /b /b\nCMD [\"cat\", \"/a\", \"/b\"]\n",
        wait_for("a", "b"),
        wait_for("b", "a")
    );
    write(ctx.path(), "Dockerfile", &df);
    let o = build(&d, ctx.path(), &["-t", "par:1"]);
    assert!(o.status.success(), "{}\n{}", stderr(&o), stdout(&o));
    assert_eq!(d.ok(&["run", "--rm", "par:1"]), "a\nb\n");
    // The log still reads in order.
    let out = stdout(&o);
    let pos = |s: &str| out.find(s).unwrap_or(usize::MAX);
    assert!(
        pos("Step 1/8 : FROM bb AS a") < pos("Step 3/8 : FROM bb AS b"),
        "{out}"
    );
    assert!(
        pos("Step 3/8 : FROM bb AS b") < pos("Step 5/8 : FROM bb\n"),
        "{out}"
    );
}

#[test]
fn onbuild_triggers_run_in_the_child_build() {
    let d = Daemon::start();
    d.import_busybox("bb:latest");
    let ctx = context();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM bb\nONBUILD COPY hello.txt /hello\nONBUILD RUN echo trig > /trig\n",
    );
    write(ctx.path(), "hello.txt", "from the child's context\n");
    let o = build(&d, ctx.path(), &["-t", "base:1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let onbuild = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.OnBuild}}",
        "base:1",
    ]);
    assert!(onbuild.contains("COPY hello.txt /hello"), "{onbuild}");
    write(
        ctx.path(),
        "Dockerfile",
        "FROM base:1\nCMD [\"cat\", \"/hello\", \"/trig\"]\n",
    );
    let o = build(&d, ctx.path(), &["-t", "child:1"]);
    assert!(o.status.success(), "{}\n{}", stderr(&o), stdout(&o));
    assert!(
        stdout(&o).contains("# Executing 2 build triggers"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        d.ok(&["run", "--rm", "child:1"]),
        "from the child's context\ntrig\n"
    );
    let onbuild = d.ok(&["image", "inspect", "-f", "{{json .Config}}", "child:1"]);
    assert!(!onbuild.contains("COPY"), "triggers carried on: {onbuild}");
}

/// A one-file HTTP server on 127.0.0.1 (the test's own): `/file.txt` → `body`, `/moved` →
/// a redirect to it, anything else 404. Serves until the test ends.
fn http_server(body: &'static str) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
            let resp = match path.as_str() {
                "/file.txt" => format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()),
                "/moved" => "HTTP/1.1 302 Found\r\nLocation: /file.txt\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
                _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
            };
            let _ = c.write_all(resp.as_bytes());
        }
    });
    port
}

#[test]
fn add_downloads_urls_from_a_local_server() {
    let d = Daemon::start();
    d.import_busybox("bb:latest");
    let port = http_server("downloaded by ADD\n");
    let ctx = context();
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM bb\nADD http://127.0.0.1:{port}/file.txt /dl/\nADD http://127.0.0.1:{port}/moved /dl/renamed.txt\n"
        ),
    );
    let o = build(&d, ctx.path(), &["-t", "dl:1"]);
    assert!(o.status.success(), "{}\n{}", stderr(&o), stdout(&o));
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "dl:1",
            "cat",
            "/dl/file.txt",
            "/dl/renamed.txt"
        ]),
        "downloaded by ADD\ndownloaded by ADD\n"
    );
    // Unchanged content: cached.
    let o = build(&d, ctx.path(), &["-t", "dl:2"]);
    assert_eq!(
        stdout(&o).matches("Using cache").count(),
        2,
        "{}",
        stdout(&o)
    );
    write(
        ctx.path(),
        "Dockerfile",
        &format!("FROM bb\nADD http://127.0.0.1:{port}/nope /x\n"),
    );
    let o = build(&d, ctx.path(), &["-t", "dl:3"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("404"), "{}", stderr(&o));
}

#[test]
fn pull_flag_fetches_a_newer_base_image() {
    let d = Daemon::start();
    let reg = crate::push::WharfRegistry::start(d.dir.path(), &[]);
    let base = reg.name("base:1");
    d.import_busybox("bb:1");
    d.ok(&["tag", "bb:1", &base]);
    d.ok(&["push", &base]);
    let b = Daemon::start();
    let ctx = context();
    write(
        ctx.path(),
        "Dockerfile",
        &format!("FROM {base}\nRUN cat /marker > /seen 2>/dev/null || echo none > /seen\n"),
    );
    // The base is missing: pulled.
    let o = build(&b, ctx.path(), &["-t", "app"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let seen = |b: &Daemon| b.ok(&["run", "--rm", "app", "cat", "/seen"]);
    assert_eq!(seen(&b), "none\n");
    // A newer base under the same tag.
    let tar = busybox_rootfs_tar(&[("marker", b"new base\n")]);
    let o = d.wharf_stdin(&["import", "-c", "CMD [\"sh\"]", "-", &base], &tar);
    assert!(o.status.success(), "{}", stderr(&o));
    d.ok(&["push", &base]);
    // Without --pull the local base (and the cache) is used; with it, the new one.
    let o = build(&b, ctx.path(), &["-t", "app"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(seen(&b), "none\n");
    let o = build(&b, ctx.path(), &["--pull", "-t", "app"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(seen(&b), "new base\n");
}

#[test]
fn add_downloads_https_urls_with_a_trusted_ca() {
    let tmp = tempfile::Builder::new()
        .prefix("wharf-add-tls-")
        .tempdir_in(test_tmp())
        .expect("tempdir");
    let Some((ca, cert, key)) = crate::push::make_certs(tmp.path()) else {
        return;
    };
    // A local HTTPS server: our registry over TLS (`/v2/` answers `{}`).
    let reg = crate::push::WharfRegistry::start(
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
    let d = crate::push::daemon_with(&[&format!("--registry-certs-dir={}", certs_d.display())]);
    d.import_busybox("busybox:latest");
    let ctx = context();
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM busybox\nADD https://127.0.0.1:{}/v2/ /got\n",
            reg.port
        ),
    );
    let o = build(&d, ctx.path(), &["-t", "fetched"]);
    assert!(o.status.success(), "{}\n{}", stderr(&o), stdout(&o));
    let got = d.ok(&["run", "--rm", "fetched", "cat", "/got"]);
    assert_eq!(got.trim(), "{}");
    // Without the CA the certificate does not verify: the build fails, clearly.
    let plain = Daemon::start();
    plain.import_busybox("busybox:latest");
    let o = build(&plain, ctx.path(), &["-t", "fetched"]);
    assert!(!o.status.success());
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains("certificate"), "{all}");
}
