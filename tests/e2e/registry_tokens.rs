//! Tokens issued by `wharf registry serve --token-key` carry libtrust's `kid` and the signing
//! certificate's `x5c`, so Debian's distribution 2.8 (`auth: token` with the signer's
//! certificate, or a CA of it, as `rootcertbundle`) verifies them: our registry as the token
//! server of theirs, `wharf login`/`push`/`pull` through it. Refresh tokens: OAuth2's
//! `POST /token`, `offline_token=true`, identity tokens stored by `wharf login`/`docker login`
//! and used by pull/push.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::common::*;
use crate::pull::{htpasswd_line, Registry};
use crate::push::{
    es256_token, fake_cred_helper, make_token_key, ok_cfg, raw_get, wharf_cfg, wharf_helpers,
    WharfRegistry,
};
use crate::regsetup::{daemon_with_busybox, login, scratch, search_lists, TokenRegistry};

/// One raw HTTP/1.1 POST of a form on 127.0.0.1: (status code, body as JSON or null).
fn post_form(port: u16, path: &str, form: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// base64url (or standard base64), padded or not.
fn b64_decode(s: &str) -> Vec<u8> {
    wharf_credentials::b64::decode(s).expect("base64")
}

/// A JWT's header and claims.
fn jwt_parts(token: &str) -> (Value, Value) {
    let mut p = token.split('.');
    let mut next = || serde_json::from_slice(&b64_decode(p.next().expect("part"))).expect("json");
    (next(), next())
}

/// The same token with one character of its signature changed.
fn with_bad_signature(token: &str) -> String {
    let mut b = token.as_bytes().to_vec();
    let i = b.len() - 20;
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).expect("ascii")
}

/// `auths.<server>` of the CLI config in `cfg`.
fn config_entry(cfg: &Path, server: &str) -> Value {
    let text = std::fs::read_to_string(cfg.join("config.json")).expect("config.json");
    let v: Value = serde_json::from_str(&text).expect("json");
    v["auths"][server].clone()
}

/// A CLI config directory holding only `auths.<server>.identitytoken`.
fn token_only_config(dir: &Path, name: &str, server: &str, token: &str) -> PathBuf {
    let cfg = dir.join(name);
    std::fs::create_dir_all(&cfg).expect("mkdir");
    std::fs::write(
        cfg.join("config.json"),
        json!({"auths": {server: {"identitytoken": token}}}).to_string(),
    )
    .expect("write config");
    cfg
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[test]
fn distribution_verifies_tokens_from_our_issuer_by_their_kid() {
    let Some(t) = TokenRegistry::start("wharf-kid-") else {
        return;
    };
    let (issuer, key, cert, tmp) = (&t.reg, &t.key, &t.cert, &t.tmp);
    let realm = format!("http://127.0.0.1:{}/token", issuer.port);
    let Some(dist) = Registry::start_with(|_| {
        format!(
            "auth:\n  token:\n    realm: {realm}\n    service: wharf-test\n    issuer: wharf-test-issuer\n    rootcertbundle: {}\n",
            cert.display()
        )
    }) else {
        return;
    };
    let server = format!("127.0.0.1:{}", dist.port);

    // the kid is libtrust's id of the signing key: sha256 of its SubjectPublicKeyInfo, 240
    // bits in base32, grouped by 4 (computed here with openssl and python)
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl pkey -in {} -pubout -outform DER | python3 -c 'import sys,hashlib,base64; s=base64.b32encode(hashlib.sha256(sys.stdin.buffer.read()).digest()[:30]).decode(); print(\":\".join(s[i:i+4] for i in range(0,48,4)))'",
            key.display()
        ))
        .output()
        .expect("openssl");
    let want_kid = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(want_kid.len(), 59, "{}", stderr(&o));
    let (code, _, body) = raw_get(
        issuer.port,
        "/token?service=wharf-test&scope=repository:kid/bb:pull",
        &[("Authorization", "Basic dXNlcjpwYXNz")],
    );
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let token = v["token"].as_str().expect("token").to_string();
    let head = token.split('.').next().expect("header");
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "python3 -c 'import base64,sys; h=sys.argv[1]; print(base64.urlsafe_b64decode(h+\"=\"*(-len(h)%4)).decode())' {head}"
        ))
        .output()
        .expect("python3");
    let header: serde_json::Value = serde_json::from_slice(&o.stdout).expect("header json");
    assert_eq!(header["kid"], want_kid.as_str(), "{header}");
    // distribution takes it: /v2/ with the token
    let (code, head, _) = raw_get(
        dist.port,
        "/v2/",
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(code, 200, "distribution refused our token: {head}");
    // the same claims signed by the same key without a kid: distribution cannot tell the key
    let claims = token.split('.').nth(1).expect("claims");
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "python3 -c 'import base64,sys; h=sys.argv[1]; print(base64.urlsafe_b64decode(h+\"=\"*(-len(h)%4)).decode())' {claims}"
        ))
        .output()
        .expect("python3");
    let claims: serde_json::Value = serde_json::from_slice(&o.stdout).expect("claims json");
    let bare = es256_token(
        tmp.path(),
        key,
        &serde_json::json!({"alg": "ES256", "typ": "JWT"}),
        &claims,
    );
    let (code, _, _) = raw_get(
        dist.port,
        "/v2/",
        &[("Authorization", &format!("Bearer {bare}"))],
    );
    assert_eq!(code, 401, "a token without kid");
    // our tokens carry x5c too, which distribution checks first; the same claims with only
    // the kid still pass, by the kid alone
    let kid_only = es256_token(
        tmp.path(),
        key,
        &json!({"alg": "ES256", "typ": "JWT", "kid": want_kid}),
        &claims,
    );
    let (code, head, _) = raw_get(
        dist.port,
        "/v2/",
        &[("Authorization", &format!("Bearer {kid_only}"))],
    );
    assert_eq!(code, 200, "a token with only the kid: {head}");

    // our client, through distribution's challenge and our token server
    let name = dist.name("kid/bb:1");
    let (d, cfg) = daemon_with_busybox(&name, tmp.path());
    assert!(!wharf_cfg(&d, &cfg, &["push", &name]).status.success());
    login(&d, &cfg, &server);
    ok_cfg(&d, &cfg, &["push", &name]);
    let d2 = Daemon::start();
    ok_cfg(&d2, &cfg, &["pull", &name]);
    assert_eq!(d2.image_ids(), d.image_ids());
}

#[test]
fn login_stores_an_identity_token_and_a_fresh_daemon_pulls_and_pushes_with_it_alone() {
    let Some(t) = TokenRegistry::start("wharf-idtok-") else {
        return;
    };
    let server = t.server.as_str();
    let name = t.reg.name("idtok/bb:1");
    let (d, cfg) = daemon_with_busybox(&name, t.tmp.path());
    login(&d, &cfg, server);
    // docker/cli's file store after a login that gave an identity token: `auth` is `user:`
    // (the password is not kept), the token beside it
    let entry = config_entry(&cfg, server);
    assert_eq!(entry["auth"], "dXNlcjo=", "{entry}");
    let token = entry["identitytoken"]
        .as_str()
        .expect("identitytoken")
        .to_string();
    let text = std::fs::read_to_string(cfg.join("config.json")).expect("config");
    assert!(
        !text.contains("dXNlcjpwYXNz"),
        "the password was stored: {text}"
    );
    // it is a refresh token: /v2/ does not take it
    let (code, _, _) = raw_get(
        t.reg.port,
        "/v2/",
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(code, 401, "a refresh token opened /v2/");
    ok_cfg(&d, &cfg, &["push", &name]);

    // a fresh daemon, and a CLI config holding nothing but the identity token
    let only = token_only_config(t.tmp.path(), "token-only", server, &token);
    let d2 = Daemon::start();
    assert!(!d2.wharf(&["pull", &name]).status.success(), "anonymous");
    ok_cfg(&d2, &only, &["pull", &name]);
    assert_eq!(d2.image_ids(), d.image_ids());
    let other = t.reg.name("idtok/other:2");
    d2.ok(&["tag", &name, &other]);
    let out = ok_cfg(&d2, &only, &["push", &other]);
    assert!(out.contains("Mounted from idtok/bb"), "{out}");
    // search trades it for a catalog token the same way
    search_lists(&d2, &only, &format!("{server}/idtok"), "idtok/bb");
    // `POST /auth` with the identity token (no password) checks it with the refresh grant
    let auth = |tok: &str| {
        let o = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "--unix-socket"])
            .arg(d2.sock())
            .args(["-H", "Content-Type: application/json", "-d"])
            .arg(json!({"serveraddress": server, "identitytoken": tok}).to_string())
            .arg("http://localhost/auth")
            .output()
            .expect("curl");
        let out = stdout(&o);
        let (body, code) = out.rsplit_once('\n').expect("status line");
        (code.trim().to_string(), body.to_string())
    };
    let (code, body) = auth(&token);
    assert_eq!(code, "200", "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["IdentityToken"], token.as_str(), "{v}");
    let (code, body) = auth(&with_bad_signature(&token));
    assert_eq!(code, "401", "{body}");

    // a tampered identity token gets no access token: the push fails and says why
    let bad = token_only_config(
        t.tmp.path(),
        "bad-token",
        server,
        &with_bad_signature(&token),
    );
    let o = wharf_cfg(&d2, &bad, &["push", &other]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("failed to get an auth token"),
        "{}",
        stderr(&o)
    );

    // with a credential helper: the token is the secret of the user `<token>`, and pulls use it
    let bin = t.tmp.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    fake_cred_helper(&bin, "fake");
    let hcfg = t.tmp.path().join("helper-config");
    std::fs::create_dir_all(&hcfg).expect("cfg");
    std::fs::write(hcfg.join("config.json"), r#"{"credsStore": "fake"}"#).expect("config");
    let o = wharf_helpers(
        &d,
        &hcfg,
        &bin,
        &["login", "-u", "user", "--password-stdin", server],
        b"pass\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let stored = std::fs::read_to_string(
        bin.join(format!("store-fake/{}", server.replace([':', '/'], "_"))),
    )
    .expect("helper store");
    let stored: Value = serde_json::from_str(&stored).expect("json");
    assert_eq!(stored["Username"], "<token>", "{stored}");
    assert_ne!(stored["Secret"], "pass");
    assert_eq!(config_entry(&hcfg, server), json!({}));
    let d3 = Daemon::start();
    let o = wharf_helpers(&d3, &hcfg, &bin, &["pull", &name], b"");
    assert!(
        o.status.success(),
        "pull through the helper: {}",
        stderr(&o)
    );

    // the real docker CLI through our daemon: `docker login` stores the identity token our
    // `/auth` answers, and `docker push` sends it back (X-Registry-Auth `identitytoken`)
    if let Some(o) = d.docker(&["login", "-u", "user", "-p", "pass", server]) {
        assert!(o.status.success(), "docker login: {}", stderr(&o));
        let entry = config_entry(&d.dir.path().join("docker-config"), server);
        assert!(entry["identitytoken"].is_string(), "{entry}");
        assert_eq!(entry["auth"], "dXNlcjo=", "{entry}");
        let o = d.docker(&["push", &name]).expect("docker");
        assert!(o.status.success(), "docker push: {}", stderr(&o));
    }
}

#[test]
fn refresh_tokens_expire_cannot_be_forged_and_never_open_v2() {
    let Some(t) = TokenRegistry::start("wharf-refresh-") else {
        return;
    };
    let port = t.reg.port;
    let bearer = |tok: &str| format!("Bearer {tok}");
    let (code, v) = post_form(
        port,
        "/token",
        "grant_type=password&username=user&password=wrong&service=wharf-test&client_id=t&access_type=offline",
    );
    assert_eq!(
        (code, v["error"].as_str()),
        (401, Some("invalid_grant")),
        "{v}"
    );
    let (code, v) = post_form(
        port,
        "/token",
        "grant_type=password&username=user&password=pass&service=wharf-test&client_id=t&access_type=offline&scope=repository:r/a:pull",
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["expires_in"], 300);
    assert_eq!(v["scope"], "repository:r/a:pull");
    assert!(
        v["issued_at"].as_str().is_some_and(|s| s.ends_with('Z')),
        "{v}"
    );
    let refresh = v["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_string();
    let access = v["access_token"].as_str().expect("access_token");
    assert_eq!(
        raw_get(port, "/v2/", &[("Authorization", &bearer(access))]).0,
        200
    );
    assert_eq!(
        raw_get(port, "/v2/", &[("Authorization", &bearer(&refresh))]).0,
        401,
        "a refresh token is no access token"
    );
    // GET with offline_token=true (what docker's daemon asks on login) gives one too
    let (code, _, body) = raw_get(
        port,
        "/token?service=wharf-test&client_id=docker&offline_token=true",
        &[("Authorization", "Basic dXNlcjpwYXNz")],
    );
    assert_eq!(code, 200);
    let v: Value = serde_json::from_str(&body).expect("json");
    assert!(v["refresh_token"].is_string(), "{v}");

    // the refresh grant: an access token for other scopes
    let grant = |tok: &str| {
        post_form(
            port,
            "/token",
            &format!("grant_type=refresh_token&refresh_token={tok}&service=wharf-test&client_id=docker&scope=repository:r/b:pull,push"),
        )
    };
    let (code, v) = grant(&refresh);
    assert_eq!(code, 200, "{v}");
    let access = v["access_token"].as_str().expect("access_token");
    assert_eq!(
        raw_get(
            port,
            "/v2/r/b/tags/list",
            &[("Authorization", &bearer(access))]
        )
        .0,
        404,
        "the refreshed token grants r/b (which does not exist yet)"
    );

    // expired (the same claims, re-signed by the same key), tampered, another key: refused
    let (head, claims) = jwt_parts(&refresh);
    let mut expired = claims.clone();
    expired["exp"] = (now() - 1).into();
    let expired = es256_token(t.tmp.path(), &t.key, &head, &expired);
    let mut still_good = claims.clone();
    still_good["exp"] = (now() + 600).into();
    let still_good = es256_token(t.tmp.path(), &t.key, &head, &still_good);
    assert_eq!(grant(&still_good).0, 200, "the re-signing itself is sound");
    assert_eq!(grant(&expired).0, 401, "expired");
    let mut forged = claims.clone();
    forged["sub"] = "admin".into();
    let mut parts: Vec<String> = refresh.split('.').map(str::to_string).collect();
    parts[1] = {
        let c = es256_token(t.tmp.path(), &t.key, &head, &forged);
        c.split('.').nth(1).expect("claims").to_string()
    };
    assert_eq!(grant(&parts.join(".")).0, 401, "tampered claims");
    assert_eq!(grant(&with_bad_signature(&refresh)).0, 401, "bad signature");
    let (other_key, _) = make_token_key(t.tmp.path(), "other");
    assert_eq!(
        grant(&es256_token(t.tmp.path(), &other_key, &head, &claims)).0,
        401,
        "another key"
    );
    assert_eq!(grant(access).0, 401, "an access token is no refresh token");
}

/// A CA (self-signed) and a token signing key it certifies (`CA:FALSE`): (ca.crt, signer key,
/// signer cert).
fn make_ca_and_signer(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca_key, ca_crt) = make_token_key(dir, "ca");
    let key = dir.join("signer.key");
    let crt = dir.join("signer.crt");
    let run = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(o.status.success(), "openssl {args:?}: {}", stderr(&o));
    };
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "signer.key",
    ]);
    run(&[
        "req",
        "-new",
        "-subj",
        "/CN=wharf token signer",
        "-key",
        "signer.key",
        "-out",
        "signer.csr",
    ]);
    std::fs::write(
        dir.join("signer.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n",
    )
    .expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "signer.csr",
        "-CA",
        ca_crt.to_str().expect("utf8"),
        "-CAkey",
        ca_key.to_str().expect("utf8"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "signer.ext",
        "-out",
        "signer.crt",
    ]);
    (ca_crt, key, crt)
}

#[test]
fn distribution_takes_x5c_tokens_whose_signer_only_a_bundle_ca_certifies() {
    let Some(line) = htpasswd_line() else {
        eprintln!("SKIP: no bcrypt from python3's crypt module");
        return;
    };
    let tmp = scratch("wharf-x5c-");
    let htpasswd = tmp.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("{line}\n")).expect("htpasswd");
    let (ca, key, crt) = make_ca_and_signer(tmp.path());
    let p = |x: &Path| x.to_str().expect("utf8").to_string();
    // our issuer signs with the CA-certified key; both registries trust only the CA
    let ours = WharfRegistry::start(
        tmp.path(),
        &[
            "--htpasswd",
            &p(&htpasswd),
            "--token-realm",
            "http://127.0.0.1:{port}/token",
            "--token-service",
            "wharf-test",
            "--token-issuer",
            "wharf-test-issuer",
            "--token-rootcertbundle",
            &p(&ca),
            "--token-key",
            &p(&key),
            "--token-cert",
            &p(&crt),
        ],
    );
    let realm = format!("http://127.0.0.1:{}/token", ours.port);
    let Some(dist) = Registry::start_with(|_| {
        format!(
            "auth:\n  token:\n    realm: {realm}\n    service: wharf-test\n    issuer: wharf-test-issuer\n    rootcertbundle: {}\n",
            ca.display()
        )
    }) else {
        return;
    };
    let (code, _, body) = raw_get(
        ours.port,
        "/token?service=wharf-test&scope=repository:x5c/bb:pull&offline_token=true",
        &[("Authorization", "Basic dXNlcjpwYXNz")],
    );
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    let token = v["token"].as_str().expect("token");
    let (head, claims) = jwt_parts(token);
    let x5c = head["x5c"].as_array().expect("x5c");
    assert_eq!(x5c.len(), 1, "{head}");
    let o = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&crt)
        .output()
        .expect("openssl");
    assert_eq!(
        b64_decode(x5c[0].as_str().expect("cert")),
        o.stdout,
        "x5c is the signing certificate"
    );
    assert!(head["kid"].is_string());
    let with = |t: &str| [("Authorization", format!("Bearer {t}"))];
    let get = |port: u16, t: &str| {
        let h = with(t);
        raw_get(port, "/v2/", &[(h[0].0, h[0].1.as_str())]).0
    };
    // the signing key is in no bundle: only the chain to the CA makes these pass
    assert_eq!(
        get(dist.port, token),
        200,
        "distribution refused our x5c token"
    );
    assert_eq!(
        get(ours.port, token),
        200,
        "our verifier refused our x5c token"
    );
    let kid_only = es256_token(
        tmp.path(),
        &key,
        &json!({"alg": "ES256", "typ": "JWT", "kid": head["kid"]}),
        &claims,
    );
    assert_eq!(
        get(dist.port, &kid_only),
        401,
        "no x5c, a kid of no bundle key"
    );
    assert_eq!(get(ours.port, &kid_only), 401);
    // a refresh token opens neither
    let refresh = v["refresh_token"].as_str().expect("refresh_token");
    assert_eq!(
        get(dist.port, refresh),
        401,
        "distribution took a refresh token"
    );
    assert_eq!(get(ours.port, refresh), 401);

    // our client against distribution, tokens from our realm: login keeps an identity token,
    // push and a fresh daemon's pull trade it for access tokens (POST /token)
    let server = format!("127.0.0.1:{}", dist.port);
    let name = dist.name("x5c/bb:1");
    let (d, cfg) = daemon_with_busybox(&name, tmp.path());
    login(&d, &cfg, &server);
    let token = config_entry(&cfg, &server)["identitytoken"]
        .as_str()
        .expect("identitytoken")
        .to_string();
    ok_cfg(&d, &cfg, &["push", &name]);
    let only = token_only_config(tmp.path(), "token-only", &server, &token);
    let d2 = Daemon::start();
    ok_cfg(&d2, &only, &["pull", &name]);
    assert_eq!(d2.image_ids(), d.image_ids());
}
