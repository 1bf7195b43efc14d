//! `wharf search` / `docker search` against `wharf registry serve` with token auth: the 401
//! Bearer challenge on `/v1/search` is answered with a `registry:catalog:*` token fetched
//! with the stored credentials.

use crate::common::*;
use crate::pull::htpasswd_line;
use crate::push::{make_token_key, ok_cfg, raw_get, token_registry, wharf_cfg};

#[test]
fn search_against_a_token_auth_registry_fetches_a_catalog_token() {
    let Some(line) = htpasswd_line() else {
        eprintln!("SKIP: no bcrypt from python3's crypt module");
        return;
    };
    let tmp = tempfile::Builder::new()
        .prefix("wharf-search-")
        .tempdir_in(test_tmp())
        .expect("tempdir");
    let htpasswd = tmp.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("{line}\n")).expect("htpasswd");
    let (key, cert) = make_token_key(tmp.path(), "signer");
    let reg = token_registry(tmp.path(), &htpasswd, &key, &cert);
    let server = format!("127.0.0.1:{}", reg.port);

    // the registry's challenge names the catalog scope
    let (code, head, _) = raw_get(reg.port, "/v1/search?q=bb", &[]);
    assert_eq!(code, 401, "{head}");
    assert!(head.contains("scope=\"registry:catalog:*\""), "{head}");

    let d = Daemon::start();
    let name = reg.name("tok/bb:1");
    d.import_busybox(&name);
    let cfg = tmp.path().join("cli-config");
    std::fs::create_dir_all(&cfg).expect("cfg");
    // anonymous: the token server gives a token without access; the search stays refused
    let o = wharf_cfg(&d, &cfg, &["search", &format!("{server}/bb")]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("Unexpected status code 401"),
        "{}",
        stderr(&o)
    );

    ok_cfg(&d, &cfg, &["login", "-u", "user", "-p", "pass", &server]);
    ok_cfg(&d, &cfg, &["push", &name]);
    let out = ok_cfg(&d, &cfg, &["search", &format!("{server}/bb")]);
    let mut lines = out.lines();
    assert_eq!(
        lines
            .next()
            .expect("header")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    );
    assert!(out.contains("tok/bb"), "{out}");
    let none = ok_cfg(&d, &cfg, &["search", &format!("{server}/nothing-like-it")]);
    assert_eq!(none.lines().count(), 1, "{none}");

    // a wrong password in the stored login gets no token: a clear refusal
    let bad = tmp.path().join("bad-config");
    std::fs::create_dir_all(&bad).expect("cfg");
    std::fs::write(
        bad.join("config.json"),
        format!("{{\"auths\":{{\"{server}\":{{\"auth\":\"dXNlcjp3cm9uZw==\"}}}}}}"),
    )
    .expect("config");
    let o = wharf_cfg(&d, &bad, &["search", &format!("{server}/bb")]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("failed to get an auth token"),
        "{}",
        stderr(&o)
    );

    // the real docker CLI through our daemon (it sends the login as X-Registry-Auth)
    if let Some(o) = d.docker(&["login", "-u", "user", "-p", "pass", &server]) {
        assert!(o.status.success(), "docker login: {}", stderr(&o));
        let o = d
            .docker(&["search", &format!("{server}/bb")])
            .expect("docker");
        assert!(o.status.success(), "docker search: {}", stderr(&o));
        assert!(stdout(&o).contains("tok/bb"), "{}", stdout(&o));
    }
}
