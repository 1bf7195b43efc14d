//! `wharf compose` for real: the seed's walkthrough (a web service built from a Dockerfile and
//! a database-like service with a named volume, a published port, up/down/up with the data
//! still there), replicas load-balanced behind one published port, dependency conditions,
//! convergence (only what changed is recreated), clear errors that start nothing, and
//! Debian's `docker-compose` 1.29 driving our daemon on the same file.
//! Traffic stays on this machine: loopback and the project's own networks.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// A host port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn http_get(port: u16) -> Option<String> {
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// A daemon with `busybox:latest` (no registry: tests never pull from outside).
fn daemon() -> Daemon {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    d
}

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, text).expect("write");
}

fn compose(d: &Daemon, dir: &Path, args: &[&str]) -> std::process::Output {
    let mut c = d.wharf_cmd(&["compose"]);
    c.args(args).current_dir(dir);
    c.output().expect("wharf compose")
}

fn compose_ok(d: &Daemon, dir: &Path, args: &[&str]) -> String {
    let o = compose(d, dir, args);
    assert!(
        o.status.success(),
        "wharf compose {args:?} failed: {}\n{}\n{}",
        stdout(&o),
        stderr(&o),
        d.log()
    );
    stdout(&o)
}

fn project_dir(d: &Daemon, name: &str) -> std::path::PathBuf {
    let p = d.dir.path().join(name);
    std::fs::create_dir_all(&p).expect("project dir");
    p
}

#[test]
fn walkthrough_build_volume_port_down_up_keeps_data() {
    let d = daemon();
    let dir = project_dir(&d, "shop");
    let port = free_port();
    write(&dir, "web/index.html", "hello from the web service\n");
    write(
        &dir,
        "web/Dockerfile",
        "FROM busybox\nCOPY index.html /www/index.html\nEXPOSE 80\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n",
    );
    write(
        &dir,
        "compose.yaml",
        &format!(
            r#"
services:
  web:
    build: ./web
    ports:
      - "127.0.0.1:{port}:80"
    depends_on:
      - db
  db:
    image: busybox
    # A database-like service: counts its starts in its volume.
    command: ["sh", "-c", "n=$$(cat /data/starts 2>/dev/null || echo 0); echo $$((n+1)) > /data/starts; exec httpd -f -p 5432 -h /data"]
    volumes:
      - dbdata:/data
volumes:
  dbdata:
"#
        ),
    );
    let o = compose(&d, &dir, &["up", "-d"]);
    assert!(o.status.success(), "{}\n{}", stderr(&o), d.log());
    let progress = stderr(&o);
    for want in [
        "Network shop_default  Created",
        "Volume \"shop_dbdata\"  Created",
        "Container shop-db-1  Started",
        "Container shop-web-1  Started",
    ] {
        assert!(progress.contains(want), "{want:?} in:\n{progress}");
    }
    // db starts before web (web depends on it).
    assert!(
        progress.find("shop-db-1  Started") < progress.find("shop-web-1  Started"),
        "{progress}"
    );
    let mut body = None;
    wait_until("the web page", Duration::from_secs(10), || {
        body = http_get(port);
        body.is_some()
    });
    assert_eq!(body.as_deref(), Some("hello from the web service\n"));

    // ps shows both, docker compose's columns.
    let ps = compose_ok(&d, &dir, &["ps"]);
    assert!(ps.starts_with("NAME"), "{ps}");
    assert!(
        ps.contains("shop-web-1") && ps.contains("shop-db-1"),
        "{ps}"
    );
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    // The containers carry docker compose's labels.
    let labels = d.ok(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"com.docker.compose.project\"}} {{index .Config.Labels \"com.docker.compose.service\"}} {{index .Config.Labels \"com.docker.compose.container-number\"}}",
        "shop-web-1",
    ]);
    assert_eq!(labels.trim(), "shop web 1");
    let starts = compose_ok(&d, &dir, &["exec", "-T", "db", "cat", "/data/starts"]);
    assert_eq!(starts.trim(), "1");

    // down removes containers and the network, keeps the named volume.
    compose_ok(&d, &dir, &["down"]);
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
    assert!(!d.ok(&["network", "ls"]).contains("shop_default"));
    assert!(d.ok(&["volume", "ls", "-q"]).contains("shop_dbdata"));
    assert!(
        http_get(port).is_none(),
        "the port still answers after down"
    );

    // up again: the data is still there.
    compose_ok(&d, &dir, &["up", "-d"]);
    let starts = compose_ok(&d, &dir, &["exec", "-T", "db", "cat", "/data/starts"]);
    assert_eq!(starts.trim(), "2");
    wait_until("the web page again", Duration::from_secs(10), || {
        http_get(port).is_some()
    });

    // down -v takes the volume too; nothing of the project is left.
    compose_ok(&d, &dir, &["down", "-v"]);
    assert!(!d.ok(&["volume", "ls", "-q"]).contains("shop_dbdata"));
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}

/// Reads the greeting line of a connection to the load-balanced port.
fn greet(port: u16) -> (TcpStream, String) {
    let s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2))
        .expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut line = String::new();
    BufReader::new(s.try_clone().expect("clone"))
        .read_line(&mut line)
        .expect("greeting");
    (s, line.trim().to_string())
}

#[test]
fn replicas_share_one_published_port_round_robin_and_scale_without_dropping() {
    let d = daemon();
    let dir = project_dir(&d, "lb");
    let port = free_port();
    write(
        &dir,
        "compose.yaml",
        &format!(
            r#"
services:
  web:
    image: busybox
    # Each connection: the replica's hostname, then an echo of what is sent.
    command: ["nc", "-ll", "-p", "80", "-e", "sh", "-c", "hostname; exec cat"]
    ports: ["{port}:80"]
    deploy:
      replicas: 3
  client:
    image: busybox
    command: ["sleep", "3600"]
"#
        ),
    );
    compose_ok(&d, &dir, &["up", "-d"]);
    let ps = compose_ok(&d, &dir, &["ps", "--format", "{{.Name}}"]);
    for n in ["lb-web-1", "lb-web-2", "lb-web-3"] {
        assert!(ps.contains(n), "{ps}");
    }
    // Each replica answers its own hostname; new connections go round the replicas.
    let hosts: Vec<String> = (1..=3)
        .map(|i| {
            d.ok(&[
                "inspect",
                "-f",
                "{{.Config.Hostname}}",
                &format!("lb-web-{i}"),
            ])
            .trim()
            .to_string()
        })
        .collect();
    let mut conns = Vec::new();
    wait_until("the shared port", Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let mut seen = BTreeSet::new();
    for _ in 0..6 {
        let (s, h) = greet(port);
        assert!(hosts.contains(&h), "{h:?} not one of {hosts:?}");
        seen.insert(h.clone());
        conns.push((s, h));
    }
    assert_eq!(seen.len(), 3, "connections did not spread: {seen:?}");

    // The service name resolves to every replica for the other services.
    let ns = compose_ok(&d, &dir, &["exec", "-T", "client", "nslookup", "web"]);
    let addrs = ns.matches("Address").count();
    assert!(addrs >= 3, "{ns}");

    // Scale down to one: the survivor's open connection keeps working, new ones all go to it.
    compose_ok(&d, &dir, &["up", "-d", "--scale", "web=1"]);
    let ps = compose_ok(&d, &dir, &["ps", "--format", "{{.Name}}"]);
    assert!(ps.contains("lb-web-1") && !ps.contains("lb-web-2"), "{ps}");
    let (mut kept, _) = conns
        .into_iter()
        .find(|(_, h)| *h == hosts[0])
        .expect("a connection to replica 1");
    kept.write_all(b"still here\n").expect("write");
    let mut line = String::new();
    BufReader::new(kept.try_clone().expect("clone"))
        .read_line(&mut line)
        .expect("echo");
    assert_eq!(line, "still here\n");
    for _ in 0..3 {
        assert_eq!(greet(port).1, hosts[0]);
    }
    // And up again: three replicas behind the port again. A new replica joins the port as
    // soon as it runs, before its `nc` listens (as with docker, no health check here): a
    // refused connection in that moment is retried.
    compose_ok(&d, &dir, &["up", "-d"]);
    let mut seen = BTreeSet::new();
    wait_until(
        "three replicas behind the port",
        Duration::from_secs(10),
        || {
            if let Ok(s) =
                TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2))
            {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut line = String::new();
                if BufReader::new(s).read_line(&mut line).is_ok() && !line.trim().is_empty() {
                    seen.insert(line.trim().to_string());
                }
            }
            seen.len() == 3
        },
    );
    compose_ok(&d, &dir, &["down", "-t", "0"]);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn unhealthy_replicas_leave_the_shared_port_and_come_back() {
    let d = daemon();
    let dir = project_dir(&d, "hc");
    let port = free_port();
    write(
        &dir,
        "compose.yaml",
        &format!(
            r#"
services:
  web:
    image: busybox
    command: ["sh", "-c", "touch /tmp/ok; exec nc -ll -p 80 -e sh -c 'hostname; exec cat'"]
    ports: ["{port}:80"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ok"]
      interval: 200ms
      start_interval: 100ms
      retries: 1
    deploy:
      replicas: 2
"#
        ),
    );
    compose_ok(&d, &dir, &["up", "-d", "--wait"]);
    let host = |n: &str| {
        d.ok(&["inspect", "-f", "{{.Config.Hostname}}", n])
            .trim()
            .to_string()
    };
    let (h1, h2) = (host("hc-web-1"), host("hc-web-2"));
    let mut seen = BTreeSet::new();
    for _ in 0..4 {
        seen.insert(greet(port).1);
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    // Replica 2 turns unhealthy: new connections all go to replica 1.
    compose_ok(
        &d,
        &dir,
        &["exec", "-T", "--index", "2", "web", "rm", "/tmp/ok"],
    );
    wait_until("replica 2 unhealthy", Duration::from_secs(10), || {
        d.ok(&["inspect", "-f", "{{.State.Health.Status}}", "hc-web-2"])
            .trim()
            == "unhealthy"
    });
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..4 {
        assert_eq!(greet(port).1, h1);
    }
    // Healthy again: back in the set.
    compose_ok(
        &d,
        &dir,
        &["exec", "-T", "--index", "2", "web", "touch", "/tmp/ok"],
    );
    wait_until("replica 2 healthy", Duration::from_secs(10), || {
        d.ok(&["inspect", "-f", "{{.State.Health.Status}}", "hc-web-2"])
            .trim()
            == "healthy"
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut seen = BTreeSet::new();
    for _ in 0..4 {
        seen.insert(greet(port).1);
    }
    assert!(seen.contains(&h2), "{seen:?}");
    compose_ok(&d, &dir, &["down", "-t", "0"]);
}

#[test]
fn depends_on_conditions_and_convergence() {
    let d = daemon();
    let dir = project_dir(&d, "conv");
    write(
        &dir,
        "compose.yaml",
        r#"
services:
  init:
    image: busybox
    command: ["sh", "-c", "echo migrated > /shared/state"]
    volumes: [shared:/shared]
  db:
    image: busybox
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 3600"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 200ms
      retries: 20
  app:
    image: busybox
    command: ["sh", "-c", "cat /shared/state; exec sleep 3600"]
    environment:
      MODE: one
    volumes: [shared:/shared]
    depends_on:
      db:
        condition: service_healthy
      init:
        condition: service_completed_successfully
volumes:
  shared:
"#,
    );
    compose_ok(&d, &dir, &["up", "-d"]);
    let health = d.ok(&["inspect", "-f", "{{.State.Health.Status}}", "conv-db-1"]);
    assert_eq!(
        health.trim(),
        "healthy",
        "app started before db was healthy"
    );
    let logs = compose_ok(&d, &dir, &["logs", "--no-color", "app"]);
    assert!(logs.contains("app-1  | migrated"), "{logs}");

    // Nothing changed: nothing recreated.
    let id = |n: &str| d.ok(&["inspect", "-f", "{{.Id}}", n]).trim().to_string();
    let (db1, app1) = (id("conv-db-1"), id("conv-app-1"));
    compose_ok(&d, &dir, &["up", "-d"]);
    assert_eq!(id("conv-db-1"), db1);
    assert_eq!(id("conv-app-1"), app1);
    // One service changed: only it is recreated.
    let text = std::fs::read_to_string(dir.join("compose.yaml")).expect("read");
    write(
        &dir,
        "compose.yaml",
        &text.replace("MODE: one", "MODE: two"),
    );
    compose_ok(&d, &dir, &["up", "-d"]);
    assert_eq!(id("conv-db-1"), db1);
    assert_ne!(id("conv-app-1"), app1);
    let env = d.ok(&["inspect", "-f", "{{json .Config.Env}}", "conv-app-1"]);
    assert!(env.contains("MODE=two"), "{env}");
    compose_ok(&d, &dir, &["down", "-v", "-t", "0"]);
}

#[test]
fn smaller_commands_profiles_secrets_configs_and_env() {
    let d = daemon();
    let dir = project_dir(&d, "misc");
    let port = free_port();
    write(&dir, "secret.txt", "s3cr3t\n");
    write(&dir, ".env", "GREETING=hi from .env\nPORT_ON_HOST=0\n");
    write(
        &dir,
        "compose.yaml",
        &format!(
            r#"
x-common: &common
  image: busybox
services:
  app:
    <<: *common
    command: ["sh", "-c", "echo $$GREETING; exec sleep 3600"]
    environment:
      GREETING: ${{GREETING}}
    ports: ["127.0.0.1:{port}:80"]
    secrets: [token]
    configs:
      - source: motd
        target: /etc/motd
  tools:
    <<: *common
    profiles: [debug]
    command: ["sleep", "3600"]
secrets:
  token:
    file: ./secret.txt
configs:
  motd:
    content: "welcome"
"#
        ),
    );
    // config: the resolved model, with .env interpolated.
    let cfg = compose_ok(&d, &dir, &["config"]);
    assert!(
        cfg.contains("GREETING: \"hi from .env\"") || cfg.contains("GREETING: hi from .env"),
        "{cfg}"
    );
    assert_eq!(compose_ok(&d, &dir, &["config", "--services"]), "app\n");
    // `-f -`: the file from stdin.
    let mut c = d.wharf_cmd(&["compose", "-f", "-", "config", "--services"]);
    c.current_dir(&dir);
    let o = run_with_stdin(c, b"services:\n  fromstdin:\n    image: busybox\n");
    assert_eq!(stdout(&o), "fromstdin\n", "{}", stderr(&o));
    compose_ok(&d, &dir, &["up", "-d"]);
    // The profile's service is not started unless its profile is active.
    assert!(!d.ok(&["ps", "--format", "{{.Names}}"]).contains("tools"));
    let logs = compose_ok(&d, &dir, &["logs", "--no-color"]);
    assert!(logs.contains("app-1  | hi from .env"), "{logs}");
    assert_eq!(
        compose_ok(
            &d,
            &dir,
            &["exec", "-T", "app", "cat", "/run/secrets/token"]
        ),
        "s3cr3t\n"
    );
    assert_eq!(
        compose_ok(&d, &dir, &["exec", "-T", "app", "cat", "/etc/motd"]),
        "welcome"
    );
    assert_eq!(
        compose_ok(&d, &dir, &["port", "app", "80"]).trim(),
        format!("127.0.0.1:{port}")
    );
    let top = compose_ok(&d, &dir, &["top", "app"]);
    assert!(
        top.contains("misc-app-1") && top.contains("sleep 3600"),
        "{top}"
    );
    let images = compose_ok(&d, &dir, &["images"]);
    assert!(
        images.contains("misc-app-1") && images.contains("busybox"),
        "{images}"
    );
    // run: a one-off container of the service, its output and exit code.
    let o = compose(
        &d,
        &dir,
        &[
            "run",
            "--rm",
            "-T",
            "app",
            "sh",
            "-c",
            "echo one-off; exit 4",
        ],
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(stdout(&o), "one-off\n");
    // --profile enables the tools service.
    compose_ok(&d, &dir, &["--profile", "debug", "up", "-d"]);
    assert!(d
        .ok(&["ps", "--format", "{{.Names}}"])
        .contains("misc-tools-1"));
    // stop / start / restart / rm.
    compose_ok(&d, &dir, &["--profile", "debug", "stop", "-t", "0"]);
    let ps = compose_ok(&d, &dir, &["ps", "-a", "--format", "{{.Name}} {{.State}}"]);
    assert!(
        ps.contains("misc-app-1 exited") && ps.contains("misc-tools-1 exited"),
        "{ps}"
    );
    assert_eq!(compose_ok(&d, &dir, &["ps", "-q"]).trim(), "");
    compose_ok(&d, &dir, &["start", "app"]);
    assert!(
        compose_ok(&d, &dir, &["ps", "--format", "{{.Name}} {{.State}}"])
            .contains("misc-app-1 running")
    );
    compose_ok(&d, &dir, &["restart", "-t", "0", "app"]);
    compose_ok(&d, &dir, &["--profile", "debug", "rm", "-f", "tools"]);
    assert!(!d
        .ok(&["ps", "-a", "--format", "{{.Names}}"])
        .contains("misc-tools-1"));
    // ls lists the running project.
    let ls = compose_ok(&d, &dir, &["ls"]);
    assert!(ls.contains("misc") && ls.contains("running(1)"), "{ls}");
    compose_ok(&d, &dir, &["down", "-t", "0"]);
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn build_push_and_pull_through_a_local_registry() {
    let d = daemon();
    let reg = crate::push::WharfRegistry::start(d.dir.path(), &[]);
    let dir = project_dir(&d, "pp");
    let image = reg.name("shop/app:1");
    write(
        &dir,
        "app/Dockerfile",
        "FROM busybox\nRUN echo built > /built\nCMD [\"sleep\", \"3600\"]\n",
    );
    write(
        &dir,
        "compose.yaml",
        &format!("services:\n  app:\n    build: ./app\n    image: {image}\n"),
    );
    compose_ok(&d, &dir, &["build"]);
    let id = d.ok(&["image", "inspect", "-f", "{{.Id}}", &image]);
    compose_ok(&d, &dir, &["push"]);
    // Another daemon pulls what was pushed (same image id) and runs it.
    let other = Daemon::start();
    std::fs::write(
        dir.join("compose.yaml"),
        format!("services:\n  app:\n    image: {image}\n"),
    )
    .expect("write");
    compose_ok(&other, &dir, &["pull"]);
    assert_eq!(other.ok(&["image", "inspect", "-f", "{{.Id}}", &image]), id);
    compose_ok(&other, &dir, &["up", "-d"]);
    assert_eq!(
        compose_ok(&other, &dir, &["exec", "-T", "app", "cat", "/built"]),
        "built\n"
    );
    compose_ok(&other, &dir, &["down", "-t", "0"]);
}

#[test]
fn bad_files_give_file_and_line_and_start_nothing() {
    let d = daemon();
    let dir = project_dir(&d, "bad");
    let cases: [(&str, &str); 3] = [
        (
            "services:\n  web:\n    image: busybox\n    portz: [\"80\"]\n",
            "compose.yaml:4",
        ),
        (
            "services:\n  web:\n    image: \"busybox:${TAG:?TAG must be set}\"\n",
            "TAG must be set",
        ),
        (
            "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n",
            "cycle",
        ),
    ];
    for (text, want) in cases {
        write(&dir, "compose.yaml", text);
        let o = compose(&d, &dir, &["up", "-d"]);
        assert!(!o.status.success(), "{text} was accepted");
        assert!(stderr(&o).contains(want), "{want:?} not in {}", stderr(&o));
        assert_eq!(
            d.ok(&["ps", "-aq"]).trim(),
            "",
            "something started for {text}"
        );
        assert!(!d.ok(&["network", "ls"]).contains("bad_default"));
    }
}

/// Debian's docker-compose 1.29 (docker-py) drives our daemon through the Engine API on the
/// same file: the same containers, networks and volumes.
#[test]
fn docker_compose_1_29_drives_our_daemon() {
    if Command::new("docker-compose")
        .arg("version")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        eprintln!("SKIP: docker-compose (Debian 1.29) is not installed");
        return;
    }
    let d = daemon();
    let dir = project_dir(&d, "pyc");
    let port = free_port();
    write(
        &dir,
        "docker-compose.yml",
        &format!(
            r#"
version: "3.8"
services:
  web:
    image: busybox
    command: ["httpd", "-f", "-p", "80", "-h", "/data"]
    ports: ["127.0.0.1:{port}:80"]
    volumes: [data:/data]
    networks: [back]
networks:
  back:
volumes:
  data:
"#
        ),
    );
    let dc = |args: &[&str]| {
        let o = Command::new("docker-compose")
            .args(args)
            .current_dir(&dir)
            .env("DOCKER_HOST", d.host())
            .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
            .output()
            .expect("docker-compose");
        assert!(
            o.status.success(),
            "docker-compose {args:?}: {}\n{}",
            stderr(&o),
            d.log()
        );
        stdout(&o)
    };
    dc(&["up", "-d"]);
    let names = d.ok(&["ps", "--format", "{{.Names}}"]);
    assert!(names.contains("pyc_web_1"), "{names}");
    assert!(d.ok(&["network", "ls"]).contains("pyc_back"));
    assert!(d.ok(&["volume", "ls", "-q"]).contains("pyc_data"));
    wait_until("the published port", Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    // Our compose sees docker-compose's containers (same labels).
    let ps = compose_ok(&d, &dir, &["ps", "--format", "{{.Service}}"]);
    assert!(ps.contains("web"), "{ps}");
    dc(&["down", "-v"]);
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
    assert!(!d.ok(&["network", "ls"]).contains("pyc_back"));
}
