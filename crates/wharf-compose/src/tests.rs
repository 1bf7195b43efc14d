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
fn empty_file_is_an_error() {
    assert_eq!(err_text("\n"), "compose.yaml:1: empty compose file");
    assert!(err_text("- a\n").contains("must be a mapping"));
}

#[test]
fn missing_image_and_build() {
    let e = err_text("services:\n  web:\n    command: hi\n");
    assert!(
        e.starts_with("compose.yaml:2:") && e.contains("neither an image nor a build"),
        "{e}"
    );
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
fn env_file_raw_format() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "raw.env", "# c\nA=\"quoted $X\"\n");
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web:\n    image: x\n    env_file:\n      - path: raw.env\n        format: raw\n",
    );
    let p = load(&opts(d.path())).unwrap();
    assert_eq!(
        p.services["web"].environment["A"].as_deref(),
        Some("\"quoted $X\"")
    );
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
    write(d.path(), "bad.env", "A=1\nB=${NEED:?need it}\n");
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web:\n    image: x\n    env_file: bad.env\n",
    );
    let e = load(&opts(d.path())).unwrap_err().to_string();
    assert_eq!(
        e,
        "bad.env:2: required variable NEED is missing a value: need it"
    );
    write(d.path(), ".env", "OK=1\nBROKEN='x\n");
    let e = load(&opts(d.path())).unwrap_err().to_string();
    assert!(e.starts_with(".env:2:"), "{e}");
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
    sysctls: [net.core.somaxconn=1024]
    shm_size: 64m
    devices: ["/dev/fuse", {source: /dev/a, target: /dev/b, permissions: r}]
    logging: {driver: json-file, options: {max-size: 10m}}
    memswap_limit: -1
    volumes_from: ["db:ro"]
    dns_search: example.com
  db:
    image: postgres
    networks: [front, default]
  sidecar:
    image: busybox
    network_mode: service:db
    links: ["web:w"]
networks:
  front:
    driver_opts: {com.docker.network.bridge.name: br0}
    ipam: {config: [{subnet: 10.1.0.0/24, ip_range: 10.1.0.0/25}]}
volumes:
  data: {external: true}
secrets:
  s1: {file: ./s1.txt}
"#,
    );
    let o = opts(d.path());
    let p = load(&o).unwrap();
    let web = &p.services["web"];
    assert_eq!(web.command.as_ref().unwrap()[1], "$HOME costs $5");
    assert_eq!(web.devices, ["/dev/fuse", "/dev/a:/dev/b:r"]);
    assert_eq!(web.shm_size, Some(64 << 20));
    assert_eq!(web.memswap_limit, Some(-1));
    assert_eq!(web.sysctls["net.core.somaxconn"], "1024");
    assert_eq!(web.logging.as_ref().unwrap().options["max-size"], "10m");
    assert_eq!(web.dns_search, ["example.com"]);
    assert!(web.depends_on.contains_key("db"));
    let sidecar = &p.services["sidecar"];
    assert!(sidecar.depends_on.contains_key("db") && sidecar.depends_on.contains_key("web"));
    assert!(sidecar.networks.is_empty());
    assert_eq!(p.networks["front"].ip_range.as_deref(), Some("10.1.0.0/25"));
    let y = to_yaml(&p);
    assert_eq!(y, to_yaml(&load(&o).unwrap()));
    let d2 = tempfile::tempdir().unwrap();
    write(d2.path(), "compose.yaml", &y);
    let mut o2 = opts(d2.path());
    o2.project_directory = Some(d.path().to_path_buf());
    o2.files = vec![d2.path().join("compose.yaml")];
    let mut p2 = load(&o2).unwrap_or_else(|e| panic!("{e}\n{y}"));
    assert_eq!(p2.config_files, [d2.path().join("compose.yaml")]);
    p2.config_files = p.config_files.clone();
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

#[test]
fn merge_of_two_files() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        r#"
services:
  web:
    image: a
    command: echo one
    ports: ["80:80"]
    expose: ["1"]
    dns: 1.1.1.1
    environment: [A=1, B=2]
    labels: {x: "1"}
    volumes: ["./a:/data", "/keep"]
    build: ./ctx
    depends_on: [db]
  db:
    image: db
networks:
  front: {driver: bridge}
"#,
    );
    write(
        d.path(),
        "compose.override.yaml",
        r#"
services:
  web:
    command: ["echo", "two"]
    ports: ["80:80", "443:443"]
    dns: 8.8.8.8
    environment: {B: override, C: "3"}
    labels: [y=2]
    volumes: ["./b:/data"]
    build:
      args: [V=1]
    depends_on:
      db: {condition: service_healthy}
    networks: [front]
  extra:
    image: e
networks:
  front: {internal: true}
"#,
    );
    let p = load(&opts(d.path())).unwrap();
    let web = &p.services["web"];
    assert_eq!(web.command.as_deref().unwrap(), ["echo", "two"]);
    assert_eq!(web.ports.len(), 2);
    assert_eq!(web.dns, ["1.1.1.1", "8.8.8.8"]);
    assert_eq!(web.environment["A"].as_deref(), Some("1"));
    assert_eq!(web.environment["B"].as_deref(), Some("override"));
    assert_eq!(web.environment["C"].as_deref(), Some("3"));
    assert_eq!(web.labels.len(), 2);
    assert_eq!(web.volumes.len(), 2);
    assert_eq!(
        web.volumes[0].source,
        Some(d.path().join("b").display().to_string())
    );
    let b = web.build.as_ref().unwrap();
    assert_eq!(b.context, d.path().join("ctx"));
    assert_eq!(b.args["V"].as_deref(), Some("1"));
    assert_eq!(web.depends_on["db"].condition, "service_healthy");
    assert!(p.services.contains_key("extra"));
    assert!(p.networks["front"].internal);
    assert_eq!(p.networks["front"].driver.as_deref(), Some("bridge"));

    // Explicit -f, in order; the override file is then not read implicitly.
    let mut o = opts(d.path());
    o.files = vec!["compose.yaml".into()];
    assert!(!load(&o).unwrap().services.contains_key("extra"));
}

#[test]
fn reset_and_override_tags() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.yaml", "services:\n  web:\n    image: a\n    ports: [\"80:80\"]\n    environment: {A: \"1\", B: \"2\"}\n");
    write(
        d.path(),
        "b.yaml",
        "services:\n  web:\n    ports: !reset []\n    environment: !override {C: \"3\"}\n",
    );
    let mut o = opts(d.path());
    o.files = vec!["a.yaml".into(), "b.yaml".into()];
    let p = load(&o).unwrap();
    let web = &p.services["web"];
    assert!(web.ports.is_empty());
    assert_eq!(web.environment.keys().collect::<Vec<_>>(), ["C"]);
}

#[test]
fn compose_file_variable() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "one.yaml", "services:\n  a:\n    image: x\n");
    write(d.path(), "two.yaml", "services:\n  b:\n    image: x\n");
    write(d.path(), ".env", "COMPOSE_FILE=one.yaml:two.yaml\n");
    let p = load(&opts(d.path())).unwrap();
    assert_eq!(p.services.keys().collect::<Vec<_>>(), ["a", "b"]);
    let mut o = opts(d.path());
    o.environment
        .insert("COMPOSE_FILE".into(), "two.yaml".into());
    assert_eq!(load(&o).unwrap().services.keys().collect::<Vec<_>>(), ["b"]);
}

#[test]
fn files_are_found_in_parent_directories() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "docker-compose.yml",
        "services:\n  web:\n    image: x\n",
    );
    std::fs::create_dir_all(d.path().join("sub/deeper")).unwrap();
    let mut o = opts(&d.path().join("sub/deeper"));
    let p = load(&o).unwrap();
    assert_eq!(p.working_dir, d.path());
    o.cwd = tempfile::tempdir().unwrap().path().to_path_buf();
    assert!(matches!(load(&o), Err(Error::NoConfigFile)));
}

#[test]
fn extends_same_file_other_file_and_cycles() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "common/base.yaml",
        "services:\n  base:\n    image: base\n    environment: {FROM: base, X: \"1\"}\n    volumes: [\"./data:/data\"]\n  root:\n    extends: base\n    labels: {root: \"yes\"}\n",
    );
    write(
        d.path(),
        "compose.yaml",
        r#"
services:
  app:
    extends:
      file: common/base.yaml
      service: root
    environment: {X: "2"}
  worker:
    extends: app
    command: work
"#,
    );
    let p = load(&opts(d.path())).unwrap();
    let app = &p.services["app"];
    assert_eq!(app.image.as_deref(), Some("base"));
    assert_eq!(app.environment["FROM"].as_deref(), Some("base"));
    assert_eq!(app.environment["X"].as_deref(), Some("2"));
    assert_eq!(app.labels["root"], "yes");
    // Relative paths of the base resolve against its own file.
    let data = d.path().join("common/data").display().to_string();
    assert_eq!(app.volumes[0].source.as_deref(), Some(data.as_str()));
    let worker = &p.services["worker"];
    assert_eq!(worker.image.as_deref(), Some("base"));
    assert_eq!(worker.command.as_deref().unwrap(), ["work"]);

    let e = err_text(
        "services:\n  a:\n    extends: b\n    image: x\n  b:\n    extends: a\n    image: x\n",
    );
    assert!(
        e.contains("circular reference with extends: a -> b -> a"),
        "{e}"
    );
    let e = err_text("services:\n  a:\n    extends: nope\n");
    assert!(
        e.starts_with("compose.yaml:3:") && e.contains("nope"),
        "{e}"
    );
}

#[test]
fn include_adds_resources_and_detects_conflicts() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "db/.env", "DB_IMAGE=postgres:16\n");
    write(
        d.path(),
        "db/compose.yaml",
        "services:\n  db:\n    image: ${DB_IMAGE}\n    volumes: [\"./init:/init\", \"pg:/var/lib/postgresql\"]\nvolumes:\n  pg:\n",
    );
    write(
        d.path(),
        "compose.yaml",
        "include:\n  - db/compose.yaml\nservices:\n  web:\n    image: x\n    depends_on: [db]\n",
    );
    let p = load(&opts(d.path())).unwrap();
    let db = &p.services["db"];
    assert_eq!(db.image.as_deref(), Some("postgres:16"));
    let init = d.path().join("db/init").display().to_string();
    assert_eq!(db.volumes[0].source.as_deref(), Some(init.as_str()));
    assert_eq!(p.volumes["pg"].name, format!("{}_pg", p.name));
    assert_eq!(start_order(&p).unwrap(), vec![vec!["db"], vec!["web"]]);

    // Long form with env_file; a conflicting service is an error naming the line.
    write(d.path(), "db.env", "DB_IMAGE=mysql\n");
    write(
        d.path(),
        "compose.yaml",
        "include:\n  - path: db/compose.yaml\n    env_file: db.env\nservices:\n  db:\n    image: other\n",
    );
    let e = load(&opts(d.path())).unwrap_err().to_string();
    assert!(
        e.starts_with("compose.yaml:5:") && e.contains("conflicts"),
        "{e}"
    );

    // A later -f file may change an included service.
    write(
        d.path(),
        "compose.yaml",
        "include: [db/compose.yaml]\nservices:\n  web:\n    image: x\n",
    );
    write(
        d.path(),
        "compose.override.yaml",
        "services:\n  db:\n    environment: {EXTRA: \"1\"}\n",
    );
    let p = load(&opts(d.path())).unwrap();
    assert_eq!(p.services["db"].environment["EXTRA"].as_deref(), Some("1"));
    assert_eq!(p.services["db"].image.as_deref(), Some("postgres:16"));
    std::fs::remove_file(d.path().join("compose.override.yaml")).unwrap();

    write(d.path(), "a.yaml", "include: [b.yaml]\nservices: {}\n");
    write(d.path(), "b.yaml", "include: [a.yaml]\n");
    let mut o = opts(d.path());
    o.files = vec!["a.yaml".into()];
    let e = load(&o).unwrap_err().to_string();
    assert!(e.contains("include cycle"), "{e}");
}

#[test]
fn secrets_and_configs() {
    let p = load_text(
        r#"
services:
  web:
    image: x
    secrets:
      - db_pass
      - source: api
        target: api_key
        mode: 0400
    configs:
      - cfg
      - source: inline
        target: /etc/inline.conf
secrets:
  db_pass: {file: ./secrets/db.txt}
  api: {environment: API_KEY}
configs:
  cfg: {file: /etc/app.conf}
  inline: {content: "hello"}
"#,
    )
    .unwrap();
    let web = &p.services["web"];
    assert_eq!(web.secrets[0].target, "/run/secrets/db_pass");
    assert_eq!(web.secrets[1].target, "/run/secrets/api_key");
    assert_eq!(web.secrets[1].mode, Some(0o400));
    assert_eq!(web.configs[0].target, "/cfg");
    assert_eq!(web.configs[1].target, "/etc/inline.conf");
    assert!(p.secrets["db_pass"].file.as_ref().unwrap().is_absolute());
    assert!(p.secrets["db_pass"]
        .file
        .as_ref()
        .unwrap()
        .ends_with("secrets/db.txt"));
    assert_eq!(p.secrets["api"].environment.as_deref(), Some("API_KEY"));
    assert_eq!(p.configs["inline"].content.as_deref(), Some("hello"));

    let e = err_text("services:\n  web:\n    image: x\n    secrets: [nope]\n");
    assert!(e.contains("undefined secret nope"), "{e}");
}

#[test]
fn names_of_networks_and_volumes() {
    let p = load_text(
        "name: proj\nservices:\n  web:\n    image: x\n    networks: [a, b, c]\n    volumes: [v1:/1, v2:/2, v3:/3]\nnetworks:\n  a:\n  b: {name: custom}\n  c: {external: true}\nvolumes:\n  v1: {}\n  v2: {name: vol2}\n  v3: {external: true}\n",
    )
    .unwrap();
    assert_eq!(p.networks["a"].name, "proj_a");
    assert_eq!(p.networks["b"].name, "custom");
    assert_eq!(p.networks["c"].name, "c");
    assert!(p.networks["c"].external);
    assert!(!p.networks.contains_key("default"));
    assert_eq!(p.volumes["v1"].name, "proj_v1");
    assert_eq!(p.volumes["v2"].name, "vol2");
    assert_eq!(p.volumes["v3"].name, "v3");
}

#[test]
fn unused_resources_are_dropped() {
    let p = load_text(
        "services:\n  web:\n    image: x\n    networks: [used]\n  dbg:\n    image: x\n    profiles: [debug]\n    volumes: [dbgdata:/d]\nnetworks:\n  used:\n  unused:\nvolumes:\n  dbgdata:\n  spare:\nsecrets:\n  s: {file: ./s}\n",
    )
    .unwrap();
    assert_eq!(p.networks.keys().collect::<Vec<_>>(), ["used"]);
    assert!(p.volumes.is_empty());
    assert!(p.secrets.is_empty());
}

#[test]
fn extra_hosts_forms() {
    let p = load_text(
        "services:\n  a:\n    image: x\n    extra_hosts: [\"h1:1.2.3.4\", \"h2=::1\"]\n  b:\n    image: x\n    extra_hosts:\n      h3: 10.0.0.1\n      h4: [10.0.0.2, \"::2\"]\n",
    )
    .unwrap();
    assert_eq!(p.services["a"].extra_hosts, ["h1:1.2.3.4", "h2:::1"]);
    assert_eq!(
        p.services["b"].extra_hosts,
        ["h3:10.0.0.1", "h4:10.0.0.2", "h4:::2"]
    );
}

#[test]
fn exclusive_settings() {
    let e = err_text(
        "services:\n  web:\n    image: x\n    container_name: c\n    deploy: {replicas: 2}\n",
    );
    assert!(
        e.starts_with("compose.yaml:2:") && e.contains("container_name"),
        "{e}"
    );
    let e = err_text(
        "services:\n  web:\n    image: x\n    network_mode: host\n    networks: [default]\n",
    );
    assert!(e.contains("mutually exclusive"), "{e}");
    let e = err_text("services:\n  web:\n    image: x\n    scale: 2\n    deploy: {replicas: 3}\n");
    assert!(e.contains("disagree"), "{e}");
}

#[test]
fn project_name_normalisation() {
    assert_eq!(loader::normalize_name("My App_1-x"), "myapp_1-x");
    assert_eq!(loader::normalize_name("__Foo"), "foo");
    assert_eq!(loader::normalize_name("!!!"), "");
}

#[test]
fn interpolation_in_files() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "compose.yaml", "services:\n  web:\n    image: \"${IMG:-busybox}\"\n    command: echo $$HOME ${UNSET_VAR}\n    labels: {\"$KEY\": \"${A:+set}\"}\n");
    let mut o = opts(d.path());
    o.environment.insert("A".into(), "1".into());
    let l = load_with_warnings(&o).unwrap();
    let web = &l.project.services["web"];
    assert_eq!(web.image.as_deref(), Some("busybox"));
    assert_eq!(web.command.as_deref().unwrap(), ["echo", "$HOME"]);
    assert_eq!(web.labels["$KEY"], "set");
    assert!(
        l.warnings.iter().any(|w| w.contains("UNSET_VAR")),
        "{:?}",
        l.warnings
    );
    let e = err_text("services:\n  web:\n    image: $\n");
    assert!(
        e.starts_with("compose.yaml:3:") && e.contains("invalid interpolation"),
        "{e}"
    );
}

#[test]
fn long_syntaxes() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        r#"
services:
  app:
    build:
      context: ./app
      dockerfile: docker/Dockerfile.dev
      args: {VERSION: "1.2", FROM_ENV: null}
      target: dev
      labels: [a=b]
      no_cache: true
      pull: true
      dockerfile_inline: |
        FROM busybox
        RUN echo "$$HOME"
      tags: [extra:1]
      network: host
    volumes:
      - type: bind
        source: ./src
        target: /src
        read_only: true
      - type: volume
        source: cache
        target: /cache
        volume: {nocopy: true}
      - type: volume
        target: /anon
    ports:
      - target: 80
        published: 8080
        protocol: udp
      - target: 81
    depends_on:
      db:
        condition: service_completed_successfully
        restart: true
    healthcheck:
      test: ["CMD", "curl", "-f", "localhost"]
      start_interval: 2s
    cpus: "1.25"
    pids_limit: 100
    deploy:
      resources:
        limits: {pids: 50}
      restart_policy: {condition: on-failure, max_attempts: 3}
    tmpfs: /run
    entrypoint: /bin/entry --flag "two words"
  db:
    image: db
volumes:
  cache:
"#,
    );
    let mut o = opts(d.path());
    o.environment.insert("FROM_ENV".into(), "env".into());
    let p = load(&o).unwrap();
    let app = &p.services["app"];
    let b = app.build.as_ref().unwrap();
    assert_eq!(b.context, d.path().join("app"));
    assert_eq!(b.dockerfile, "docker/Dockerfile.dev");
    assert_eq!(b.args["VERSION"].as_deref(), Some("1.2"));
    assert_eq!(b.args["FROM_ENV"].as_deref(), Some("env"));
    assert_eq!(b.target.as_deref(), Some("dev"));
    assert_eq!(b.labels["a"], "b");
    assert!(b.no_cache && b.pull);
    assert_eq!(
        b.dockerfile_inline.as_deref(),
        Some("FROM busybox\nRUN echo \"$HOME\"\n")
    );
    assert_eq!(b.tags, ["extra:1"]);
    assert_eq!(b.network.as_deref(), Some("host"));
    // The long syntaxes print and load back unchanged.
    let y = to_yaml(&p);
    let d2 = tempfile::tempdir().unwrap();
    write(d2.path(), "compose.yaml", &y);
    let mut o2 = o.clone();
    o2.cwd = d2.path().to_path_buf();
    o2.project_directory = Some(d.path().to_path_buf());
    o2.files = vec![d2.path().join("compose.yaml")];
    let mut p2 = load(&o2).unwrap_or_else(|e| panic!("{e}\n{y}"));
    p2.config_files = p.config_files.clone();
    assert_eq!(p2, p, "{y}");
    let v = &app.volumes;
    assert_eq!(v[0].kind, "bind");
    assert_eq!(
        v[0].source,
        Some(d.path().join("src").display().to_string())
    );
    assert!(v[0].read_only && !v[0].create_host_path);
    assert!(v[1].nocopy);
    assert_eq!(v[2].source, None);
    assert_eq!(
        app.ports,
        [
            Port {
                target: 80,
                published: Some(8080),
                host_ip: None,
                protocol: "udp".into()
            },
            Port {
                target: 81,
                published: None,
                host_ip: None,
                protocol: "tcp".into()
            },
        ]
    );
    let dep = &app.depends_on["db"];
    assert_eq!(dep.condition, "service_completed_successfully");
    assert!(dep.restart && dep.required);
    let h = app.healthcheck.as_ref().unwrap();
    assert_eq!(h.test, ["CMD", "curl", "-f", "localhost"]);
    assert_eq!(h.start_interval, Some(2_000_000_000));
    let r = &app.deploy.as_ref().unwrap().resources;
    assert_eq!(r.cpus, Some(1.25));
    assert_eq!(r.pids, Some(50));
    assert_eq!(app.restart.as_deref(), Some("on-failure:3"));
    assert_eq!(app.tmpfs, ["/run"]);
    assert_eq!(
        app.entrypoint.as_deref().unwrap(),
        ["/bin/entry", "--flag", "two words"]
    );
}

#[test]
fn long_syntax_errors_have_lines() {
    let e = err_text("services:\n  web:\n    image: x\n    ports:\n      - published: 80\n");
    assert!(
        e.starts_with("compose.yaml:5:") && e.contains("target is required"),
        "{e}"
    );
    let e = err_text(
        "services:\n  web:\n    image: x\n    volumes:\n      - type: nfs\n        target: /x\n",
    );
    assert!(
        e.starts_with("compose.yaml:5:") && e.contains("unsupported volume type"),
        "{e}"
    );
    let e = err_text("services:\n  web:\n    image: x\n    depends_on:\n      db:\n        condition: started\n  db:\n    image: x\n");
    assert!(e.contains("invalid condition"), "{e}");
    let e = err_text("services:\n  web:\n    image: x\n    mem_limit: lots\n");
    assert!(
        e.starts_with("compose.yaml:4:") && e.contains("invalid size"),
        "{e}"
    );
    let e = err_text("services:\n  web:\n    image: x\n    restart: sometimes\n");
    assert!(
        e.starts_with("compose.yaml:4:") && e.contains("restart policy"),
        "{e}"
    );
    let e = err_text("services:\n  web:\n    image: x\n    command: echo 'unbalanced\n");
    assert!(
        e.starts_with("compose.yaml:4:") && e.contains("quotes"),
        "{e}"
    );
}

#[test]
fn warnings_are_reported_once() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "compose.yaml", "version: '3'\nservices:\n  a:\n    image: ${NOPE}\n  b:\n    image: x${NOPE}\n    platform: linux/arm64\n    stop_signal: SIGINT\n    cgroup: host\n");
    let l = load_with_warnings(&opts(d.path())).unwrap();
    assert_eq!(l.warnings.iter().filter(|w| w.contains("NOPE")).count(), 1);
    assert!(l.warnings.iter().any(|w| w.contains("version")));
    assert!(
        l.warnings
            .iter()
            .any(|w| w.contains("compose.yaml:9: services.b.cgroup")),
        "{:?}",
        l.warnings
    );
}

/// `to_yaml` of `testdata/config/compose.yaml` matches the golden file.
#[test]
fn config_output_matches_golden_file() {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/config");
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(testdata.join("compose.yaml"), d.path().join("compose.yaml")).unwrap();
    let mut o = opts(d.path());
    o.environment.insert("USER".into(), "nobody".into());
    let y = to_yaml(&load(&o).unwrap()).replace(&d.path().display().to_string(), "/PROJECT");
    let golden = testdata.join("config.golden.yaml");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &y).unwrap();
    }
    assert_eq!(y, std::fs::read_to_string(&golden).unwrap());
}
