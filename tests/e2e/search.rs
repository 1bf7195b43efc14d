//! `wharf search` / `docker search` against `wharf registry serve` with token auth: the 401
//! Bearer challenge on `/v1/search` is answered with a `registry:catalog:*` token fetched
//! with the stored credentials.

use crate::common::*;
use crate::push::{ok_cfg, raw_get, wharf_cfg};
use crate::regsetup::{daemon_with_busybox, login, search_lists, TokenRegistry};

#[test]
fn search_against_a_token_auth_registry_fetches_a_catalog_token() {
    let Some(t) = TokenRegistry::start("wharf-search-") else {
        return;
    };
    let (reg, server, tmp) = (&t.reg, &t.server, &t.tmp);

    // the registry's challenge names the catalog scope
    let (code, head, _) = raw_get(reg.port, "/v1/search?q=bb", &[]);
    assert_eq!(code, 401, "{head}");
    assert!(head.contains("scope=\"registry:catalog:*\""), "{head}");

    let name = reg.name("tok/bb:1");
    let (d, cfg) = daemon_with_busybox(&name, tmp.path());
    // anonymous: the token server gives a token without access; the search stays refused
    let o = wharf_cfg(&d, &cfg, &["search", &format!("{server}/bb")]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("Unexpected status code 401"),
        "{}",
        stderr(&o)
    );

    login(&d, &cfg, server);
    ok_cfg(&d, &cfg, &["push", &name]);
    search_lists(&d, &cfg, &format!("{server}/bb"), "tok/bb");
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
    if let Some(o) = d.docker(&["login", "-u", "user", "-p", "pass", server]) {
        assert!(o.status.success(), "docker login: {}", stderr(&o));
        let o = d
            .docker(&["search", &format!("{server}/bb")])
            .expect("docker");
        assert!(o.status.success(), "docker search: {}", stderr(&o));
        assert!(stdout(&o).contains("tok/bb"), "{}", stdout(&o));
    }
}
