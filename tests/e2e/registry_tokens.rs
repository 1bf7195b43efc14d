//! Tokens issued by `wharf registry serve --token-key` carry libtrust's `kid`, so Debian's
//! distribution 2.8 (`auth: token` with the signer's certificate as `rootcertbundle`) verifies
//! them: our registry as the token server of theirs, `wharf login`/`push`/`pull` through it.

use std::process::Command;

use crate::common::*;
use crate::pull::Registry;
use crate::push::{es256_token, ok_cfg, raw_get, wharf_cfg};
use crate::regsetup::{daemon_with_busybox, login, TokenRegistry};

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
