//! Errors: each names the file and line, and the property path.

use super::*;

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
fn container_names_are_unique() {
    let e = err_text("services:\n  a:\n    image: x\n    container_name: c\n  b:\n    image: x\n    container_name: c\n");
    assert!(
        e.starts_with("compose.yaml:5:") && e.contains("same container_name"),
        "{e}"
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
