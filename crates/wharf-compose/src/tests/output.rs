//! Output: `to_yaml` (round trip, golden file) and `config_hash`.

use super::*;

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
