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

/// The steps of a plain-progress build log (`#N [stage k/n] TEXT` … `#N DONE 0.1s` /
/// `#N CACHED`): (label, "DONE" | "CACHED" | "ERROR") in the order they ended.
fn steps(out: &str) -> Vec<(String, String)> {
    let mut labels = std::collections::HashMap::new();
    let mut v = Vec::new();
    for line in out.lines() {
        let Some((n, rest)) = line.strip_prefix('#').and_then(|l| l.split_once(' ')) else {
            continue;
        };
        if rest.starts_with('[') {
            labels.insert(n.to_string(), rest.to_string());
        } else if let Some(l) = labels.get(n) {
            for st in ["DONE", "CACHED", "ERROR"] {
                if rest.starts_with(st) {
                    v.push((l.clone(), st.to_string()));
                }
            }
        }
    }
    v
}

/// How many steps came from the cache, and the RUN steps that ran.
fn cached_and_run(out: &str) -> (usize, Vec<String>) {
    let s = steps(out);
    let cached = s.iter().filter(|(_, st)| st == "CACHED").count();
    let ran = s
        .into_iter()
        .filter(|(l, st)| st == "DONE" && l.contains("] RUN "))
        .map(|(l, _)| l)
        .collect();
    (cached, ran)
}

/// `POST /build?QUERY` as docker's CLI sends it (no wharf parameter): the raw message stream.
fn classic_build(d: &Daemon, dir: &Path, query: &str) -> String {
    let tar = std::process::Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["-cf", "-", "."])
        .output()
        .expect("tar");
    assert!(tar.status.success());
    let mut s = std::os::unix::net::UnixStream::connect(d.sock()).expect("connect");
    write!(
        s,
        "POST /build?{query} HTTP/1.0\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        tar.stdout.len()
    )
    .expect("write");
    s.write_all(&tar.stdout).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
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
    // Not a terminal: BuildKit-like plain progress.
    assert!(out.starts_with("#1 [1/8] FROM bb\n#1 DONE "), "{out}");
    assert!(out.contains("\n#6 [6/8] RUN "), "{out}");
    assert!(out.contains(" naming to webapp:1 done\n"), "{out}");
    assert!(!out.contains("Step 1/8"), "{out}");

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
    assert_eq!(cached_and_run(&stdout(&o)).0, 0, "{}", stdout(&o));
    let first = image_id(&d, "c:1");

    // Nothing changed: nothing runs.
    let o = build(&d, ctx.path(), &["-t", "c:2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(cached_and_run(&out), (4, vec![]), "{out}");
    assert_eq!(image_id(&d, "c:2"), first);

    // b.txt changed (content, not mtime): the first two steps stay cached.
    write(ctx.path(), "b.txt", "b2\n");
    let o = build(&d, ctx.path(), &["-t", "c:3"]);
    let out = stdout(&o);
    assert_eq!(
        cached_and_run(&out),
        (2, vec!["[5/5] RUN cat /b.txt > /copy-of-b".to_string()]),
        "{out}"
    );
    assert_eq!(
        d.ok(&["run", "--rm", "c:3", "cat", "/copy-of-a", "/copy-of-b"]),
        "a1\nb2\n"
    );

    // Touching a file without changing it re-runs nothing.
    write(ctx.path(), "a.txt", "a1\n");
    let o = build(&d, ctx.path(), &["-t", "c:4"]);
    assert_eq!(cached_and_run(&stdout(&o)).0, 4, "{}", stdout(&o));

    // Reproducible: --no-cache from scratch gives the same digest again.
    let o = build(&d, ctx.path(), &["--no-cache", "-t", "c:5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(cached_and_run(&stdout(&o)).0, 0);
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
    // docker's classic output, untouched by wharf's progress events.
    let out = stdout(&o);
    for want in [
        "Step 1/4 : FROM bb\n",
        "Step 3/4 : RUN cat /hello.txt\n",
        "\nhello from docker build\n",
        "Successfully built ",
        "Successfully tagged dk:1\n",
    ] {
        assert!(out.contains(want), "{want:?} in {out}");
    }
    assert!(!out.contains("wharfStep") && !out.contains("#1 "), "{out}");
    // Again: the cache, in docker's words.
    let mut cmd = d
        .docker_cmd(&["build", "-t", "dk:2", &ctx.path().display().to_string()])
        .expect("docker");
    cmd.env("DOCKER_BUILDKIT", "0");
    let o = cmd.output().expect("docker build");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).matches(" ---> Using cache\n").count(),
        2,
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
    // wharf's progress shows both stages live: b's RUN starts before a's ends.
    let out = stdout(&o);
    let pos = |s: &str| out.find(s).unwrap_or(usize::MAX);
    assert!(pos("#4 [b 2/2] RUN ") < pos("#2 DONE"), "{out}");
    assert!(pos("#2 DONE") < pos("#5 [stage-2 1/4] FROM bb"), "{out}");
    // docker's classic stream (what the docker CLI sees) still reads in order.
    let raw = classic_build(&d, ctx.path(), "nocache=1");
    let pos = |s: &str| raw.find(s).unwrap_or(usize::MAX);
    assert!(
        pos("Step 1/8 : FROM bb AS a") < pos("Step 3/8 : FROM bb AS b"),
        "{raw}"
    );
    assert!(
        pos("Step 3/8 : FROM bb AS b") < pos("Step 5/8 : FROM bb\\n"),
        "{raw}"
    );
    assert!(!raw.contains("wharfStep"), "{raw}");
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
    assert_eq!(cached_and_run(&stdout(&o)).0, 2, "{}", stdout(&o));
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

/// `s` without ANSI escape sequences, carriage returns as line ends.
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\u{1b}' => {
                if it.peek() == Some(&'[') {
                    it.next();
                    for c in it.by_ref() {
                        if c.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            '\r' => out.push('\n'),
            c => out.push(c),
        }
    }
    out
}

#[test]
fn progress_on_a_terminal_is_a_live_view_ending_with_a_summary() {
    let d = Daemon::start();
    d.import_busybox("bb:latest");
    let ctx = context();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM bb\nRUN echo tail-marker-1; sleep 1; echo tail-marker-2; sleep 1\nCOPY f /f\n",
    );
    write(ctx.path(), "f", "x");
    // A real terminal: script(1) runs the command on a pty.
    let run = |extra: &str| {
        let cmd = format!(
            "WHARF_NO_AUTOSTART=1 {WHARF} -H {} build {extra} -t tty:1 {}",
            d.host(),
            ctx.path().display()
        );
        let o = std::process::Command::new("script")
            .args(["-qefc", &cmd, "/dev/null"])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("script");
        (o.status.success(), strip_ansi(&stdout(&o)))
    };
    let (ok, out) = run("");
    assert!(ok, "{out}\n{}", d.log());
    assert!(out.contains("[+] Building "), "{out}");
    // the running step's output, indented beneath it
    assert!(out.contains("    tail-marker-1"), "{out}");
    assert!(out.contains(" => [2/3] RUN echo tail-marker-1"), "{out}");
    assert!(out.contains(" => [3/3] COPY f /f"), "{out}");
    assert!(out.contains("(3/3) FINISHED"), "{out}");
    assert!(!out.contains("Step 1/3"), "{out}");
    let last: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    let n = last.len();
    assert_eq!(last[n - 2].trim(), "=> naming to tty:1", "{out}");
    assert!(
        last[n - 1].starts_with("Built ") && last[n - 1].ends_with(": 3 steps, 0 cached"),
        "{out}"
    );
    // Again: the cache hits say so.
    let (ok, out) = run("");
    assert!(ok, "{out}");
    assert!(
        out.contains(" => CACHED [2/3] RUN echo tail-marker-1"),
        "{out}"
    );
    assert!(out.trim_end().ends_with(": 3 steps, 2 cached"), "{out}");
    // -q on a terminal: the ID only.
    let (ok, out) = run("-q");
    assert!(ok);
    assert_eq!(out.trim(), image_id(&d, "tty:1"));
    // --progress=tty without a terminal: a clear error, nothing built.
    let o = build(&d, ctx.path(), &["--progress=tty"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not a terminal"), "{}", stderr(&o));
}

#[test]
fn plain_progress_shows_the_failed_steps_output_and_error() {
    let d = Daemon::start();
    d.import_busybox("bb:latest");
    let ctx = context();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM bb\nRUN echo before the failure; exit 3\n",
    );
    let o = build(&d, ctx.path(), &["--progress=plain"]);
    assert!(!o.status.success());
    let out = stdout(&o);
    assert!(
        out.contains("#2 [2/2] RUN echo before the failure; exit 3\n"),
        "{out}"
    );
    assert!(out.contains(" before the failure\n"), "{out}");
    assert!(
        out.contains("#2 ERROR: The command '/bin/sh -c echo before the failure; exit 3' returned a non-zero code: 3"),
        "{out}"
    );
    // rawjson: the daemon's messages as sent, step events included
    let o = build(&d, ctx.path(), &["--progress=rawjson"]);
    assert!(!o.status.success());
    assert!(stdout(&o).contains(r#""wharfStep""#), "{}", stdout(&o));
}

#[test]
fn secret_and_ssh_mounts_never_reach_the_image() {
    let d = Daemon::start();
    d.import_busybox("bb:latest");
    let ctx = context();
    const VALUE: &str = "S3CR3T-never-in-a-layer-4711";
    write(
        ctx.path(),
        "Dockerfile",
        concat!(
            "FROM bb\n",
            "RUN --mount=type=secret,id=tok test -s /run/secrets/tok && ls -ln /run/secrets/tok\n",
            "RUN --mount=type=secret,id=tok,target=/etc/t,mode=0440,uid=5,gid=6 ls -ln /etc/t\n",
            "RUN --mount=type=secret,id=tok,env=TOKV --mount=type=secret,id=tok sh -c 'test -n \"$TOKV\" && test \"$TOKV\" = \"$(cat /run/secrets/tok)\" && echo env-ok'\n",
            "RUN --mount=type=secret,id=absent echo optional-missing-ok\n",
            "RUN --mount=type=ssh sh -c 'test -S \"$SSH_AUTH_SOCK\" && echo agent-at-$SSH_AUTH_SOCK'\n",
        ),
    );
    // Outside the context: the secret file and a fake agent socket.
    let outside = context();
    write(outside.path(), "tok", VALUE);
    let agent = outside.path().join("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&agent).expect("agent socket");
    let src = format!("id=tok,src={}", outside.path().join("tok").display());
    let ssh = format!("default={}", agent.display());
    let o = build(
        &d,
        ctx.path(),
        &[
            "--progress=plain",
            "--secret",
            &src,
            "--ssh",
            &ssh,
            "-t",
            "sec:1",
        ],
    );
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}\n{}", stderr(&o), d.log());
    assert!(out.contains(" -r--------    1 0        0 "), "{out}");
    assert!(out.contains(" -r--r-----    1 5        6 "), "{out}");
    assert!(out.contains(" env-ok\n"), "{out}");
    assert!(out.contains(" optional-missing-ok\n"), "{out}");
    assert!(
        out.contains(" agent-at-/run/buildkit/ssh_agent.0\n"),
        "{out}"
    );
    assert!(!out.contains(VALUE), "{out}");
    let log = d.log();
    let leaked: Vec<&str> = log.lines().filter(|l| l.contains(VALUE)).collect();
    assert!(leaked.is_empty(), "{leaked:?}");
    // Not in any layer (nor the config): save the image and read every file of the archive,
    // every layer unpacked.
    let saved = outside.path().join("sec.tar");
    d.ok(&["save", "-o", &saved.display().to_string(), "sec:1"]);
    let x = outside.path().join("x");
    std::fs::create_dir(&x).unwrap();
    let untar = |tar: &Path, to: &Path| {
        assert!(std::process::Command::new("tar")
            .arg("-C")
            .arg(to)
            .arg("-xf")
            .arg(tar)
            .status()
            .unwrap()
            .success());
    };
    untar(&saved, &x);
    let mut files = vec![x.clone()];
    let mut layers = 0;
    while let Some(p) = files.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if m.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            assert!(
                !bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()),
                "secret in {}",
                p.display()
            );
            // a layer: unpack it beside and look inside too (file names included)
            if bytes.len() > 262 && &bytes[257..262] == b"ustar" && !p.ends_with("sec.tar") {
                layers += 1;
                let to = p.with_extension("unpacked");
                std::fs::create_dir(&to).unwrap();
                untar(&p, &to);
                files.push(to);
            }
        }
    }
    // busybox; the RUN steps' layers are empty (one shared blob): their mount points come
    // from the shared mount point layer (docs/adr-0018-mountpoint-layer.md)
    assert!(layers >= 1, "{layers} layers");
    // The mount points are not left behind in the image either.
    let ls = d.ok(&[
        "run",
        "--rm",
        "sec:1",
        "sh",
        "-c",
        "ls -a /run /run/secrets /run/buildkit 2>&1 || true",
    ]);
    assert!(ls.contains("/run/secrets: No such file"), "{ls}");
    assert!(ls.contains("/run/buildkit: No such file"), "{ls}");

    // Cached without the secret, as BuildKit (its value is not in the cache key) …
    let o = build(&d, ctx.path(), &["--progress=plain", "-t", "sec:2"]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert_eq!(image_id(&d, "sec:2"), image_id(&d, "sec:1"));
    // … but a required secret that is not given is BuildKit's error.
    write(
        ctx.path(),
        "Dockerfile",
        "FROM bb\nRUN --mount=type=secret,id=tok,required cat /run/secrets/tok\n",
    );
    let o = build(&d, ctx.path(), &["--progress=plain"]);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("#2 ERROR: secret tok not found"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("secret tok not found"),
        "{}",
        stderr(&o)
    );
    // From the environment, required: fine.
    let o = d
        .wharf_cmd(&[
            "build",
            "-q",
            "--secret",
            "id=tok,env=MY_TOKEN",
            &ctx.path().display().to_string(),
        ])
        .env("MY_TOKEN", VALUE)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // A bad --ssh socket is the client's error.
    let o = build(&d, ctx.path(), &["--ssh", "default=/nonexistent.sock"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("ssh agent socket /nonexistent.sock"),
        "{}",
        stderr(&o)
    );
}

/// A `git daemon` serving `base` on a free loopback port; killed on drop.
struct GitDaemon {
    child: std::process::Child,
    port: u16,
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        // `git daemon` runs `git-daemon` as a child: end the whole process group, or the
        // server outlives the test.
        if let Some(pg) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process_group(pg, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn git_daemon(base: &Path) -> GitDaemon {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    use std::os::unix::process::CommandExt;
    let child = std::process::Command::new("git")
        .arg("daemon")
        .arg("--export-all")
        .arg(format!("--base-path={}", base.display()))
        .arg("--listen=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg("--reuseaddr")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .expect("git daemon");
    let g = GitDaemon { child, port };
    let t0 = Instant::now();
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(10), "git daemon not up");
        std::thread::sleep(Duration::from_millis(50));
    }
    g
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .output()
        .expect("git");
    assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
    stdout(&o).trim().to_string()
}

#[test]
fn add_git_repositories_from_a_local_git_daemon() {
    let d = Daemon::start();
    d.import_busybox("bb:latest");
    let base = context();
    let repo = base.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    write(&repo, "sub/a.txt", "a at v1\n");
    write(&repo, "top.txt", "top\n");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "one"]);
    git(&repo, &["tag", "-a", "v1", "-m", "v1"]);
    write(&repo, "sub/a.txt", "a at main\n");
    git(&repo, &["commit", "-q", "-am", "two"]);
    let gd = git_daemon(base.path());
    let url = format!("git://127.0.0.1:{}/repo", gd.port);

    let ctx = context();
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM bb\nADD {url} /all\nADD {url}#v1:sub /v1sub\nADD --keep-git-dir {url}#main /kept\n"
        ),
    );
    let o = build(&d, ctx.path(), &["-t", "git:1"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let show = |img: &str| {
        d.ok(&[
            "run", "--rm", img, "sh", "-c",
            "cat /all/top.txt /all/sub/a.txt /v1sub/a.txt; ls -a /all /v1sub; test -d /kept/.git && echo kept-git",
        ])
    };
    assert_eq!(
        show("git:1"),
        "top\na at main\na at v1\n/all:\n.\n..\nsub\ntop.txt\n\n/v1sub:\n.\n..\na.txt\nkept-git\n"
    );
    // Unchanged remote: every ADD from the cache.
    let o = build(&d, ctx.path(), &["-t", "git:2", "--progress=plain"]);
    assert_eq!(cached_and_run(&stdout(&o)).0, 3, "{}", stdout(&o));
    assert_eq!(image_id(&d, "git:2"), image_id(&d, "git:1"));
    // Reproducible: fetched again from scratch, the same digest (mtimes clamped).
    let no_keep = context();
    write(
        no_keep.path(),
        "Dockerfile",
        &format!("FROM bb\nADD {url}#v1 /src\n"),
    );
    let o = build(&d, no_keep.path(), &["-t", "git:3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = build(&d, no_keep.path(), &["--no-cache", "-t", "git:4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(image_id(&d, "git:3"), image_id(&d, "git:4"));
    // main moves: its ADD re-runs (a new commit), and so do the steps after it.
    write(&repo, "sub/a.txt", "a at main, later\n");
    git(&repo, &["commit", "-q", "-am", "three"]);
    let o = build(&d, ctx.path(), &["-t", "git:5", "--progress=plain"]);
    let out = stdout(&o);
    let s = steps(&out);
    assert_eq!(
        s.iter().map(|(_, st)| st.as_str()).collect::<Vec<_>>(),
        ["DONE", "DONE", "DONE", "DONE"],
        "{out}"
    );
    assert!(d
        .ok(&["run", "--rm", "git:5", "cat", "/all/sub/a.txt"])
        .contains("later"));
    // Errors: a missing ref, a missing subdirectory, COPY, a host off this machine (refused
    // before any traffic by the tests' loopback guard).
    for (df, want) in [
        (
            format!("FROM bb\nADD {url}#nope /x\n"),
            "git ref nope not found".to_string(),
        ),
        (
            format!("FROM bb\nADD {url}#v1:missing /x\n"),
            "missing is not a directory of the repository".to_string(),
        ),
        (
            format!("FROM bb\nCOPY {url} /x\n"),
            "COPY cannot copy from a git repository".to_string(),
        ),
        (
            "FROM bb\nADD git://192.0.2.1/repo /x\n".to_string(),
            "not a loopback address".to_string(),
        ),
        (
            "FROM bb\nADD git@github.com:o/r.git /x\n".to_string(),
            "no ssh".to_string(),
        ),
    ] {
        write(ctx.path(), "Dockerfile", &df);
        let o = build(&d, ctx.path(), &["--progress=plain"]);
        assert!(!o.status.success(), "{df}");
        assert!(stderr(&o).contains(&want), "{df}: {}", stderr(&o));
    }
    drop(gd);
}

#[test]
fn the_whole_context_is_sent_when_a_base_image_has_onbuild_triggers() {
    // wharf sends only the paths the Dockerfile reads; a base's ONBUILD COPY reads others.
    let d = Daemon::start();
    d.import_busybox("bb:latest");
    let base = context();
    write(
        base.path(),
        "Dockerfile",
        "FROM bb\nONBUILD COPY other.txt /other\n",
    );
    let o = build(&d, base.path(), &["-t", "trig:1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ctx = context();
    write(ctx.path(), "Dockerfile", "FROM trig:1\nCOPY a.txt /a\n");
    write(ctx.path(), "a.txt", "a\n");
    write(ctx.path(), "other.txt", "other\n");
    let o = build(&d, ctx.path(), &["-t", "child:2"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(
        d.ok(&["run", "--rm", "child:2", "cat", "/a", "/other"]),
        "a\nother\n"
    );
    // Without triggers, what the Dockerfile names is there (and the rest is not needed).
    write(
        ctx.path(),
        "Dockerfile",
        "FROM bb\nCOPY a.txt /a\nRUN --mount=type=bind,source=other.txt,target=/o cat /o > /o2\n",
    );
    let o = build(&d, ctx.path(), &["-t", "child:3"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(
        d.ok(&["run", "--rm", "child:3", "cat", "/a", "/o2"]),
        "a\nother\n"
    );
}
