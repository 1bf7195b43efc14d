//! The model: short and long syntaxes expanded, names, profiles, resources.

use super::*;

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
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web:\n    image: x\n    depends_on:\n      ghost: {required: false}\n",
    );
    let l = load_with_warnings(&opts(d.path())).unwrap();
    assert!(
        l.warnings.iter().any(|w| w.contains("ghost")),
        "{:?}",
        l.warnings
    );
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
fn project_name_normalisation() {
    assert_eq!(loader::normalize_name("My App_1-x"), "myapp_1-x");
    assert_eq!(loader::normalize_name("__Foo"), "foo");
    assert_eq!(loader::normalize_name("!!!"), "");
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
