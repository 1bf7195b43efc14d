//! Files: discovery, `-f` merging, `extends`, `include`, `.env` and `env_file`, interpolation.

use super::*;

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
    write(d.path(), "a.yaml", "services:\n  web:\n    image: a\n    ports: [\"80:80\"]\n    environment: {A: \"1\", B: \"2\"}\n  gone:\n    image: g\n");
    write(
        d.path(),
        "b.yaml",
        "services:\n  web:\n    ports: !reset []\n    environment: !override {C: \"3\"}\n  gone: !reset\n",
    );
    let mut o = opts(d.path());
    o.files = vec!["a.yaml".into(), "b.yaml".into()];
    let p = load(&o).unwrap();
    let web = &p.services["web"];
    assert!(web.ports.is_empty());
    assert_eq!(web.environment.keys().collect::<Vec<_>>(), ["C"]);
    assert!(!p.services.contains_key("gone"));
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
