//! Loader tests: compose files written to temporary directories and loaded as the CLI would.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(p, text).unwrap();
}

fn opts(dir: &Path) -> LoadOptions {
    LoadOptions {
        cwd: dir.to_path_buf(),
        environment: BTreeMap::from([("HOME".to_string(), "/home/u".to_string())]),
        ..LoadOptions::default()
    }
}

fn load_text(text: &str) -> Result<Project, Error> {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "compose.yaml", text);
    load(&opts(d.path()))
}

fn err_text(text: &str) -> String {
    load_text(text).unwrap_err().to_string()
}

#[test]
fn basic_service() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        r#"
name: My_App!
services:
  web:
    image: nginx:${TAG:-latest}
    command: sh -c 'echo "hi there"'
    entrypoint: ["/bin/sh", "-c"]
    environment:
      - A=1
      - HOME
      - NOPE
    ports:
      - "8080:80"
      - 9000
      - target: 443
        published: "8443"
        host_ip: 127.0.0.1
    expose: [3000, "4000/udp"]
    volumes:
      - data:/data:ro
      - ./site:/usr/share/nginx/html
      - ~/cache:/cache
      - /anon
      - type: tmpfs
        target: /tmp
        tmpfs: {size: 1m}
    depends_on: [db]
    healthcheck:
      test: curl -f http://localhost
      interval: 1m30s
      timeout: 10s
      retries: 3
      start_period: 500ms
    restart: unless-stopped
    deploy:
      replicas: 2
      resources:
        limits: {memory: 512m, cpus: "0.5"}
    labels: [com.example=1]
    ulimits:
      nofile: {soft: 1024, hard: 2048}
      nproc: 65535
    stop_grace_period: 1m
    extra_hosts: ["host.docker.internal:host-gateway"]
  db:
    build: ./db
    mem_limit: 1g
volumes:
  data:
"#,
    );
    let p = load(&opts(d.path())).unwrap();
    assert_eq!(p.name, "my_app");
    let web = &p.services["web"];
    assert_eq!(web.image.as_deref(), Some("nginx:latest"));
    assert_eq!(
        web.command.as_deref().unwrap(),
        ["sh", "-c", "echo \"hi there\""]
    );
    assert_eq!(web.entrypoint.as_deref().unwrap(), ["/bin/sh", "-c"]);
    assert_eq!(web.environment["A"].as_deref(), Some("1"));
    assert_eq!(web.environment["HOME"].as_deref(), Some("/home/u"));
    assert_eq!(web.environment["NOPE"], None);
    assert_eq!(web.ports.len(), 3);
    assert_eq!(web.ports[0].published, Some(8080));
    assert_eq!(web.ports[1].target, 9000);
    assert_eq!(web.ports[2].host_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(web.expose, ["3000/tcp", "4000/udp"]);
    let v = &web.volumes;
    assert_eq!(
        (v[0].kind.as_str(), v[0].source.as_deref(), v[0].read_only),
        ("volume", Some("data"), true)
    );
    let site = d.path().join("site").display().to_string();
    assert_eq!(
        (v[1].kind.as_str(), v[1].source.as_deref()),
        ("bind", Some(site.as_str()))
    );
    assert!(v[1].create_host_path);
    assert_eq!(v[2].source.as_deref(), Some("/home/u/cache"));
    assert_eq!(
        (v[3].kind.as_str(), v[3].source.as_deref()),
        ("volume", None)
    );
    assert_eq!(v[4].tmpfs_size, Some(1 << 20));
    assert_eq!(web.depends_on["db"].condition, "service_started");
    let h = web.healthcheck.as_ref().unwrap();
    assert_eq!(h.test, ["CMD-SHELL", "curl -f http://localhost"]);
    assert_eq!(h.interval, Some(90_000_000_000));
    assert_eq!(h.start_period, Some(500_000_000));
    assert_eq!(web.restart.as_deref(), Some("unless-stopped"));
    let dep = web.deploy.as_ref().unwrap();
    assert_eq!(dep.replicas, Some(2));
    assert_eq!(dep.resources.memory, Some(512 << 20));
    assert_eq!(dep.resources.cpus, Some(0.5));
    assert_eq!(web.labels["com.example"], "1");
    assert_eq!(
        web.ulimits["nofile"],
        Ulimit {
            soft: 1024,
            hard: 2048
        }
    );
    assert_eq!(
        web.ulimits["nproc"],
        Ulimit {
            soft: 65535,
            hard: 65535
        }
    );
    assert_eq!(web.stop_grace_period, Some(60.0));
    assert_eq!(web.extra_hosts, ["host.docker.internal:host-gateway"]);
    assert!(web.networks.contains_key("default"));
    assert_eq!(p.networks["default"].name, "my_app_default");
    assert_eq!(p.volumes["data"].name, "my_app_data");
    let db = &p.services["db"];
    assert_eq!(db.build.as_ref().unwrap().context, d.path().join("db"));
    assert_eq!(db.build.as_ref().unwrap().dockerfile, "Dockerfile");
    assert_eq!(db.deploy.as_ref().unwrap().resources.memory, Some(1 << 30));
    assert_eq!(start_order(&p).unwrap(), vec![vec!["db"], vec!["web"]]);
}

#[test]
fn unknown_key_names_file_and_line() {
    let e = err_text("services:\n  web:\n    image: x\n    portz: [80]\n");
    assert_eq!(
        e,
        "compose.yaml:4: services.web.portz: additional property portz is not allowed"
    );
    let e = err_text("servicez: {}\n");
    assert!(e.starts_with("compose.yaml:1: servicez"), "{e}");
}

#[test]
fn type_error_names_file_and_line() {
    let e = err_text("services:\n  web:\n    image: x\n    ports: 80\n");
    assert!(e.starts_with("compose.yaml:4:"), "{e}");
    assert!(e.contains("services.web.ports must be a list"), "{e}");
    let e = err_text("services:\n  web:\n    image: x\n    tty: maybe\n");
    assert!(
        e.starts_with("compose.yaml:4:") && e.contains("boolean"),
        "{e}"
    );
}

#[test]
fn missing_required_variable_names_file_and_line() {
    let e = err_text("services:\n  web:\n    image: ${IMAGE:?set IMAGE}\n");
    assert_eq!(
        e,
        "compose.yaml:3: required variable IMAGE is missing a value: set IMAGE"
    );
}

#[test]
fn missing_image_and_build() {
    let e = err_text("services:\n  web:\n    command: hi\n");
    assert!(e.contains("neither an image nor a build"), "{e}");
}

#[test]
fn bad_port_has_line() {
    let e = err_text("services:\n  web:\n    image: x\n    ports:\n      - \"80:abc\"\n");
    assert!(
        e.starts_with("compose.yaml:5:") && e.contains("invalid port"),
        "{e}"
    );
}

#[test]
fn undeclared_references() {
    let e = err_text("services:\n  web:\n    image: x\n    depends_on: [db]\n");
    assert!(e.contains("undefined service \"db\""), "{e}");
    let e = err_text("services:\n  web:\n    image: x\n    networks: [front]\n");
    assert!(e.contains("undefined network front"), "{e}");
    let e = err_text("services:\n  web:\n    image: x\n    volumes: [data:/d]\n");
    assert!(e.contains("undefined volume data"), "{e}");
}

#[test]
fn cycle_detected_at_load() {
    let e = err_text(
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
    );
    assert_eq!(e, "dependency cycle detected: a -> b -> a");
}

#[test]
fn env_file_precedence() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        ".env",
        "TAG=fromdotenv\nOTHER=dot\nCOMPOSE_PROJECT_NAME=fromenv\n",
    );
    write(
        d.path(),
        "web.env",
        "# vars\nA=file\nB=\"quoted ${OTHER}\"\n",
    );
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web:\n    image: img:$TAG-${OTHER}\n    env_file: web.env\n    environment:\n      B: override\n",
    );
    let mut o = opts(d.path());
    o.environment.insert("TAG".into(), "fromshell".into());
    let p = load(&o).unwrap();
    assert_eq!(p.name, "fromenv");
    let web = &p.services["web"];
    assert_eq!(web.image.as_deref(), Some("img:fromshell-dot"));
    assert_eq!(web.environment["A"].as_deref(), Some("file"));
    assert_eq!(web.environment["B"].as_deref(), Some("override"));
    // -p wins.
    o.project_name = Some("Explicit".into());
    assert_eq!(load(&o).unwrap().name, "explicit");
}

#[test]
fn env_file_long_syntax_and_missing() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web:\n    image: x\n    env_file:\n      - path: ./missing.env\n        required: false\n",
    );
    assert!(load(&opts(d.path())).is_ok());
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web:\n    image: x\n    env_file: missing.env\n",
    );
    let e = load(&opts(d.path())).unwrap_err().to_string();
    assert!(e.starts_with("compose.yaml:4:"), "{e}");
}

#[test]
fn profiles() {
    let text = "services:\n  web:\n    image: x\n  debug:\n    image: x\n    profiles: [dev]\n";
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "compose.yaml", text);
    let mut o = opts(d.path());
    let p = load(&o).unwrap();
    assert_eq!(p.services.keys().collect::<Vec<_>>(), ["web"]);
    o.profiles = vec!["dev".into()];
    assert_eq!(load(&o).unwrap().services.len(), 2);
    o.profiles.clear();
    o.environment
        .insert("COMPOSE_PROFILES".into(), "other,dev".into());
    assert_eq!(load(&o).unwrap().services.len(), 2);

    // An enabled service needing a disabled one is an error, unless required: false.
    let e = err_text("services:\n  web:\n    image: x\n    depends_on: [db]\n  db:\n    image: x\n    profiles: [db]\n");
    assert!(e.contains("disabled by its profiles"), "{e}");
    let p = load_text("services:\n  web:\n    image: x\n    depends_on:\n      db: {condition: service_healthy, required: false}\n  db:\n    image: x\n    profiles: [db]\n").unwrap();
    assert_eq!(start_order(&p).unwrap(), vec![vec!["web"]]);
}

#[test]
fn to_yaml_round_trip_is_deterministic() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        r#"
services:
  web:
    image: "nginx"
    command: ["echo", "$$HOME costs $$5", "a: b"]
    environment: {A: "1", EMPTY: "", UNSET: null}
    ports: ["127.0.0.1:8080:80/udp", "9000"]
    volumes: ["data:/data:ro", "./x:/x", "/anon"]
    networks:
      front:
        aliases: [w]
    depends_on:
      db: {condition: service_healthy}
    healthcheck: {test: ["CMD", "true"], interval: 1m30s, retries: 3}
    deploy: {replicas: 2, resources: {limits: {memory: 1g, cpus: 1.5}}}
    secrets: [s1]
    labels: {"a.b": "true"}
    stop_grace_period: 1.5s
  db:
    image: postgres
    networks: [front, default]
networks:
  front:
    ipam: {config: [{subnet: 10.1.0.0/24}]}
volumes:
  data: {external: true}
secrets:
  s1: {file: ./s1.txt}
"#,
    );
    let o = opts(d.path());
    let p = load(&o).unwrap();
    assert_eq!(
        p.services["web"].command.as_ref().unwrap()[1],
        "$HOME costs $5"
    );
    let y = to_yaml(&p);
    assert_eq!(y, to_yaml(&load(&o).unwrap()));
    let d2 = tempfile::tempdir().unwrap();
    write(d2.path(), "compose.yaml", &y);
    let mut o2 = opts(d2.path());
    o2.project_directory = Some(d.path().to_path_buf());
    o2.files = vec![d2.path().join("compose.yaml")];
    let p2 = load(&o2).unwrap_or_else(|e| panic!("{e}\n{y}"));
    assert_eq!(p2, p, "{y}");
    assert_eq!(to_yaml(&p2), y);
}

#[test]
fn config_hash_ignores_scale_and_dependencies() {
    let a = load_text("services:\n  web:\n    image: x\n    scale: 1\n").unwrap();
    let b = load_text("services:\n  web:\n    image: x\n    scale: 3\n    depends_on: {db: {condition: service_healthy, required: false}}\n").unwrap();
    let c = load_text("services:\n  web:\n    image: y\n").unwrap();
    let h = config_hash(&a.services["web"]);
    assert_eq!(h.len(), 64);
    assert_eq!(h, config_hash(&b.services["web"]));
    assert_ne!(h, config_hash(&c.services["web"]));
}

#[test]
fn anchors_and_extension_keys() {
    let p = load_text(
        "x-common: &common\n  image: base\n  restart: always\nservices:\n  a:\n    <<: *common\n    x-note: hi\n  b:\n    <<: *common\n    image: other\n",
    )
    .unwrap();
    assert_eq!(p.services["a"].image.as_deref(), Some("base"));
    assert_eq!(p.services["b"].image.as_deref(), Some("other"));
    assert_eq!(p.services["b"].restart.as_deref(), Some("always"));
}
