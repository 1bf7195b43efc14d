//! Our token issuer (`--token-key KEY.pem` with `--htpasswd`): the Docker token spec's
//! `GET /token` and its OAuth2 form, `POST /token` (distribution `docs/spec/auth/token.md`,
//! `oauth.md`), for the users of the htpasswd file. Every user gets the scopes it asks for
//! (as distribution's htpasswd access gives every user everything); anonymous `GET`s get a
//! token without access.
//!
//! - `GET /token?service=&scope=…` with Basic credentials; `offline_token=true` adds a
//!   `refresh_token` (what docker's daemon asks for on login).
//! - `POST /token` (form): `grant_type=password` with `username`/`password`, or
//!   `grant_type=refresh_token` with `refresh_token`; `scope` (space-separated), `service`,
//!   `client_id`; `access_type=offline` adds a `refresh_token` to a password grant, and gives
//!   the same refresh token back on a refresh grant (the spec: "this will only return the same
//!   refresh token and not a new one").
//!
//! Access tokens: ES256, 5 minutes, header `kid` + `x5c`. **Refresh tokens** are ES256 JWTs
//! of the same key that only this issuer takes: `aud` `<service>#refresh` (so no verifier of
//! the service, ours or distribution's, takes one as an access token), `token_use: refresh`
//! (which our verifier refuses outright), `sub` the user, `pwh` a digest of the user's
//! htpasswd entry (a changed password, or a removed user, voids them), `exp` 30 days
//! ([`REFRESH_TTL`]). They are checked against the signing key itself, never the bundle.

use std::path::Path;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};

use super::jws::{Jws, Signer};
use super::now;
use crate::auth::Htpasswd;

/// How long an access token lives (distribution's default token expiration is 5 minutes).
const TTL: u64 = 300;
/// How long a refresh token (a docker identity token) lives: 30 days. After that, pulls and
/// pushes with it fail to get a token and the user logs in again.
pub const REFRESH_TTL: u64 = 30 * 24 * 3600;
/// The claim that marks our refresh tokens (`refresh`); the verifier refuses them.
pub(crate) const TOKEN_USE: &str = "token_use";

/// Issues tokens (see the module doc).
pub struct Issuer {
    signer: Signer,
    issuer: String,
    service: String,
}

impl Issuer {
    /// `key`: PKCS#8 P-256. The certificate chain for `x5c` is `cert` (PEM, the key's
    /// certificate first, then intermediates) or else the certificate of `bundle` that holds
    /// the key's public key; without either, an error (our own verifier could not take the
    /// tokens).
    pub fn new(
        key: &Path,
        cert: Option<&Path>,
        bundle: &[CertificateDer<'static>],
        issuer: String,
        service: String,
    ) -> std::io::Result<Issuer> {
        let bad = |what: &Path, e: &dyn std::fmt::Display| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("reading token key {}: {e}", what.display()),
            )
        };
        let der = match PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, &e))? {
            PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
            _ => {
                return Err(bad(
                    key,
                    &"must be a PKCS#8 P-256 key (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)",
                ))
            }
        };
        let signer = Signer::new(&der).map_err(|e| bad(key, &e))?;
        let signer = match cert {
            Some(c) => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(c)
                    .map_err(|e| bad(c, &e))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| bad(c, &e))?;
                signer
                    .with_chain(&chain)
                    .map_err(|e| bad(c, &format!("--token-cert: {e}")))?
            }
            None => match bundle.iter().find(|c| signer.holds_key_of(c)) {
                Some(leaf) => signer
                    .with_chain(std::slice::from_ref(leaf))
                    .map_err(|e| bad(key, &e))?,
                None => return Err(bad(
                    key,
                    &"no certificate of --token-rootcertbundle holds this key: put its certificate there, or give it with --token-cert",
                )),
            },
        };
        Ok(Issuer {
            signer,
            issuer,
            service,
        })
    }

    fn refresh_audience(&self) -> String {
        format!("{}#refresh", self.service)
    }

    /// A refresh token for `user` (see the module doc).
    fn refresh_token(&self, user: &str, users: &Htpasswd, client_id: &str) -> Option<String> {
        let t = now();
        let claims = json!({
            "iss": self.issuer,
            "sub": user,
            "aud": self.refresh_audience(),
            "exp": t + REFRESH_TTL,
            "iat": t,
            "jti": jti(),
            TOKEN_USE: "refresh",
            "client_id": client_id,
            "pwh": users.entry_digest(user)?,
        });
        let head = json!({"alg": "ES256", "typ": "JWT", "kid": self.signer.kid});
        self.signer.sign(&head, &claims).ok()
    }

    /// The user a refresh token was issued to, when it is one of ours, unexpired, and the
    /// user's htpasswd entry is unchanged.
    fn check_refresh(&self, token: &str, users: &Htpasswd) -> Result<String, String> {
        let jws = Jws::parse(token)?;
        if jws.header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Err("not ES256".into());
        }
        let sig = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            self.signer.public_key(),
        );
        sig.verify(jws.signed.as_bytes(), &jws.sig)
            .map_err(|_| "signature does not verify with the issuer's key".to_string())?;
        let c = &jws.claims;
        let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
        if s("iss") != self.issuer
            || s("aud") != self.refresh_audience()
            || s(TOKEN_USE) != "refresh"
        {
            return Err("not a refresh token of this issuer".into());
        }
        match c.get("exp").and_then(Value::as_u64) {
            Some(exp) if exp > now() => {}
            _ => return Err("refresh token expired".into()),
        }
        let user = s("sub");
        match users.entry_digest(user) {
            Some(d) if d == s("pwh") => Ok(user.to_string()),
            _ => Err("the user's password changed or the user is gone".into()),
        }
    }

    /// An access token for `sub` granting `scopes` (none when `granted` is false), and the
    /// scopes it grants.
    fn access_token(
        &self,
        sub: &str,
        scopes: &[String],
        granted: bool,
    ) -> Result<(String, Vec<String>), String> {
        let mut given = Vec::new();
        let mut access = Vec::new();
        for s in scopes.iter().filter(|_| granted) {
            let Some((t, rest)) = s.split_once(':') else {
                continue;
            };
            let Some((name, acts)) = rest.rsplit_once(':') else {
                continue;
            };
            access.push(
                json!({"type": t, "name": name, "actions": acts.split(',').collect::<Vec<_>>()}),
            );
            given.push(s.clone());
        }
        let t = now();
        let claims = json!({
            "iss": self.issuer,
            "sub": sub,
            "aud": self.service,
            "exp": t + TTL,
            "nbf": t.saturating_sub(1),
            "iat": t,
            "jti": jti(),
            "access": access,
        });
        let token = self.signer.sign(&self.signer.access_header(), &claims)?;
        Ok((token, given))
    }

    /// `GET /token?service=…&scope=…[&offline_token=true]`: a token for the scopes asked
    /// (Basic credentials checked against `users`; anonymous gets no access and no refresh
    /// token).
    pub fn issue(&self, headers: &HeaderMap, query: &str, users: Option<&Htpasswd>) -> Response {
        let mut scopes = Vec::new();
        let (mut account, mut offline, mut client_id) = (None, false, String::new());
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "scope" => scopes.extend(v.split(' ').map(str::to_string)),
                "account" => account = Some(v.to_string()),
                "offline_token" => offline = v == "true",
                "client_id" => client_id = v.to_string(),
                _ => {}
            }
        }
        let authed = headers.contains_key(header::AUTHORIZATION);
        let user = match (authed, users) {
            (true, Some(u)) => match u.check(headers) {
                Ok(()) => Some(u.user_of(headers).unwrap_or_default()),
                Err(e) => return e.into_response(),
            },
            _ => None,
        };
        let sub = user.clone().or(account).unwrap_or_default();
        let (token, _) = match self.access_token(&sub, &scopes, user.is_some()) {
            Ok(t) => t,
            Err(e) => return server_error(&e),
        };
        let mut body = json!({
            "token": token,
            "access_token": token,
            "expires_in": TTL,
            "issued_at": rfc3339(now()),
        });
        if let (true, Some(user), Some(users)) = (offline, &user, users) {
            match self.refresh_token(user, users, &client_id) {
                Some(r) => body["refresh_token"] = r.into(),
                None => return server_error("failed to sign refresh token"),
            }
        }
        json_response(StatusCode::OK, &body)
    }

    /// `POST /token`, the OAuth2 form (see the module doc). Errors are RFC 6749 §5.2's
    /// `{"error", "error_description"}`: 400 for a malformed request, 401 `invalid_grant`
    /// for wrong credentials or a refresh token that is not good (docker shows a 401 from the
    /// token server as "unauthorized").
    pub fn issue_oauth(&self, form: &[u8], users: Option<&Htpasswd>) -> Response {
        let mut f = std::collections::HashMap::new();
        for (k, v) in form_urlencoded::parse(form) {
            f.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
        let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
        if !get("service").is_empty() && get("service") != self.service {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("unknown service {:?}", get("service")),
            );
        }
        let Some(users) = users else {
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_grant", "no users");
        };
        let offline = get("access_type") == "offline";
        let (user, refresh) = match get("grant_type") {
            "password" => {
                if !users.verify(get("username"), get("password")) {
                    return oauth_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_grant",
                        "incorrect username or password",
                    );
                }
                let user = get("username").to_string();
                let refresh = if offline {
                    match self.refresh_token(&user, users, get("client_id")) {
                        Some(r) => Some(r),
                        None => return server_error("failed to sign refresh token"),
                    }
                } else {
                    None
                };
                (user, refresh)
            }
            "refresh_token" => match self.check_refresh(get("refresh_token"), users) {
                Ok(user) => (user, offline.then(|| get("refresh_token").to_string())),
                Err(why) => {
                    tracing::debug!(%why, "refresh token refused");
                    return oauth_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_grant",
                        "invalid refresh token",
                    );
                }
            },
            "" => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "no grant_type"),
            g => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    &format!("unsupported grant_type {g:?}"),
                )
            }
        };
        let scopes: Vec<String> = get("scope")
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let (token, given) = match self.access_token(&user, &scopes, true) {
            Ok(t) => t,
            Err(e) => return server_error(&e),
        };
        let mut body = json!({
            "access_token": token,
            "scope": given.join(" "),
            "expires_in": TTL,
            "issued_at": rfc3339(now()),
        });
        if let Some(r) = refresh {
            body["refresh_token"] = r.into();
        }
        json_response(StatusCode::OK, &body)
    }
}

fn jti() -> String {
    let mut b = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut b[..]);
    hex::encode(b)
}

/// RFC 3339 UTC, seconds (the token spec's `issued_at`).
fn rfc3339(t: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t as i64)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

fn server_error(e: &str) -> Response {
    oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", e)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::token::Verifier;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/tokens")
            .join(name)
    }

    fn verifier(bundle: &str) -> Verifier {
        Verifier::new(
            "http://127.0.0.1/token".into(),
            "svc".into(),
            "iss".into(),
            &fixture(bundle),
        )
        .unwrap()
    }

    fn issuer(key: &str, cert: Option<&str>, bundle: &str) -> std::io::Result<Issuer> {
        let cert = cert.map(fixture);
        Issuer::new(
            &fixture(key),
            cert.as_deref(),
            verifier(bundle).certs(),
            "iss".into(),
            "svc".into(),
        )
    }

    fn users(password: &str) -> Htpasswd {
        let hash = bcrypt::hash(password, 4).unwrap();
        Htpasswd::parse(&format!("user:{hash}\n")).unwrap()
    }

    async fn body(r: Response) -> (StatusCode, Value) {
        let status = r.status();
        let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    fn header(token: &str) -> Value {
        Jws::parse(token).unwrap().header
    }

    #[tokio::test]
    async fn tokens_carry_x5c_and_verify_through_the_chain() {
        // a leaf certified by the bundle's CA: verified through x5c
        let iss = issuer("leaf.key", Some("leaf.crt"), "ca.crt").unwrap();
        let (status, v) = body(iss.issue(&HeaderMap::new(), "scope=repository:a:pull", None)).await;
        assert_eq!(status, StatusCode::OK);
        let token = v["token"].as_str().unwrap();
        let h = header(token);
        assert_eq!(h["x5c"].as_array().unwrap().len(), 1);
        assert_eq!(h["kid"], iss.signer.kid.as_str());
        assert!(v["issued_at"].as_str().unwrap().ends_with('Z'));
        verifier("ca.crt").verify(token).unwrap();
        // another CA does not lead to it
        let e = verifier("other-ca.crt").verify(token).unwrap_err();
        assert!(e.contains("x5c chain"), "{e}");
        // without x5c, the leaf's key is not a bundle key
        let claims = Jws::parse(token).unwrap().claims;
        let bare = iss
            .signer
            .sign(&json!({"alg": "ES256", "kid": iss.signer.kid}), &claims)
            .unwrap();
        assert!(verifier("ca.crt").verify(&bare).is_err());
        // an x5c naming a bundle certificate whose key did not sign the token
        let ca = std::fs::read_to_string(fixture("ca.crt")).unwrap();
        let ca = CertificateDer::from_pem_slice(ca.as_bytes()).unwrap();
        let lying = iss
            .signer
            .sign(
                &json!({"alg": "ES256", "x5c": [wharf_credentials::b64::encode(ca.as_ref())]}),
                &claims,
            )
            .unwrap();
        assert!(verifier("ca.crt").verify(&lying).is_err());
    }

    #[tokio::test]
    async fn the_certificate_is_found_in_the_bundle_or_the_issuer_refuses_to_start() {
        // the CA's own key: its (self-signed) certificate is the bundle's, x5c names it
        let iss = issuer("ca.key", None, "ca.crt").unwrap();
        let (_, v) = body(iss.issue(&HeaderMap::new(), "", None)).await;
        verifier("ca.crt")
            .verify(v["token"].as_str().unwrap())
            .unwrap();
        let e = issuer("leaf.key", None, "ca.crt").err().unwrap();
        assert!(e.to_string().contains("--token-cert"), "{e}");
        let e = issuer("leaf.key", Some("ca.crt"), "ca.crt").err().unwrap();
        assert!(e.to_string().contains("does not hold the key"), "{e}");
    }

    async fn post(iss: &Issuer, users: &Htpasswd, form: &str) -> (StatusCode, Value) {
        body(iss.issue_oauth(form.as_bytes(), Some(users))).await
    }

    #[tokio::test]
    async fn refresh_tokens_from_a_password_grant_get_access_tokens_and_nothing_else() {
        let iss = issuer("leaf.key", Some("leaf.crt"), "ca.crt").unwrap();
        let u = users("pass");
        let v = verifier("ca.crt");
        let (s, r) = post(&iss, &u, "grant_type=password&username=user&password=wrong&service=svc&client_id=docker&access_type=offline").await;
        assert_eq!(
            (s, r["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_grant"))
        );
        let (s, r) = post(&iss, &u, "grant_type=password&username=user&password=pass&service=svc&client_id=docker&access_type=offline&scope=repository:a:pull").await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["scope"], "repository:a:pull");
        assert_eq!(r["expires_in"], TTL);
        let refresh = r["refresh_token"].as_str().unwrap().to_string();
        let claims = v.verify(r["access_token"].as_str().unwrap()).unwrap();
        assert_eq!(claims["sub"], "user");
        // a refresh token is no access token
        assert!(v.verify(&refresh).is_err());
        // without access_type=offline, no refresh token
        let (_, r) = post(&iss, &u, "grant_type=password&username=user&password=pass").await;
        assert!(r.get("refresh_token").is_none());
        assert!(r["access_token"].is_string());

        // the refresh grant: an access token for other scopes; the same refresh token back
        // only with access_type=offline
        let form = format!("grant_type=refresh_token&refresh_token={refresh}&service=svc&client_id=docker&scope=repository:b:pull,push");
        let (s, r) = post(&iss, &u, &form).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert!(r.get("refresh_token").is_none());
        let claims = v.verify(r["access_token"].as_str().unwrap()).unwrap();
        assert_eq!(claims["access"][0]["name"], "b");
        assert_eq!(claims["sub"], "user");
        let (_, r) = post(&iss, &u, &format!("{form}&access_type=offline")).await;
        assert_eq!(r["refresh_token"].as_str(), Some(refresh.as_str()));

        // tampered, expired, for another service, after a password change: refused
        let jws = Jws::parse(&refresh).unwrap();
        let head = jws.header.clone();
        let mut parts: Vec<&str> = refresh.split('.').collect();
        let mut c = jws.claims.clone();
        c["sub"] = "admin".into();
        let forged = super::super::jws::b64url(c.to_string().as_bytes());
        parts[1] = &forged;
        let tampered = parts.join(".");
        let mut expired = jws.claims.clone();
        expired["exp"] = (now() - 1).into();
        let expired = iss.signer.sign(&head, &expired).unwrap();
        let other_key = issuer("ca.key", None, "ca.crt").unwrap();
        let foreign = other_key.signer.sign(&head, &jws.claims).unwrap();
        for (bad, why) in [
            (tampered.as_str(), "tampered"),
            (expired.as_str(), "expired"),
            (foreign.as_str(), "signed by another key"),
            (r#"x.y.z"#, "garbage"),
        ] {
            let (s, r) = post(
                &iss,
                &u,
                &format!("grant_type=refresh_token&refresh_token={bad}"),
            )
            .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{why}: {r}");
        }
        let (s, _) = post(&iss, &users("new password"), &form).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "password changed");
        // an access token is not a refresh token
        let (_, r) = post(&iss, &u, "grant_type=password&username=user&password=pass").await;
        let access = r["access_token"].as_str().unwrap();
        let (s, _) = post(
            &iss,
            &u,
            &format!("grant_type=refresh_token&refresh_token={access}"),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // malformed requests
        let (s, r) = post(&iss, &u, "grant_type=authorization_code&code=x").await;
        assert_eq!(
            (s, r["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
        );
        let (s, _) = post(&iss, &u, "username=user&password=pass").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _) = post(
            &iss,
            &u,
            "grant_type=password&username=user&password=pass&service=other",
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn get_with_offline_token_returns_a_refresh_token_to_users_only() {
        let iss = issuer("leaf.key", Some("leaf.crt"), "ca.crt").unwrap();
        let u = users("pass");
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcjpwYXNz"),
        );
        let q = "service=svc&client_id=docker&offline_token=true&account=user";
        let (s, r) = body(iss.issue(&h, q, Some(&u))).await;
        assert_eq!(s, StatusCode::OK);
        let refresh = r["refresh_token"].as_str().unwrap();
        let (s, _) = post(
            &iss,
            &u,
            &format!("grant_type=refresh_token&refresh_token={refresh}"),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let (_, r) = body(iss.issue(&h, "service=svc", Some(&u))).await;
        assert!(r.get("refresh_token").is_none());
        let (_, r) = body(iss.issue(&HeaderMap::new(), q, Some(&u))).await;
        assert!(r.get("refresh_token").is_none(), "anonymous");
    }
}
