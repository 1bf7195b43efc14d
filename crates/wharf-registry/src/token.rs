//! Token authentication, as distribution's `auth: token` and the Docker token spec
//! (distribution `registry/auth/token`, docs `spec/auth/token.md`, `jwt.md`, `scope.md`).
//!
//! [`Verifier`] (`--token-realm`, `--token-service`, `--token-issuer`,
//! `--token-rootcertbundle`): every request needs `Authorization: Bearer <JWT>`; without one, or
//! with one lacking the access asked for, a 401 with `WWW-Authenticate: Bearer realm=…,
//! service=…,scope=repository:<name>:<actions>` (plus `error="insufficient_scope"`). A token
//! is accepted when its signature (ES256 or RS256) verifies with the public key of a
//! certificate in the bundle, `iss` is the issuer, `aud` names the service, `exp`/`nbf` hold
//! (60 s leeway), and its `access` claims grant the actions.
//!
//! [`Issuer`] (`--token-key KEY.pem` with `--htpasswd`): the same server also hands out tokens
//! at `GET /token?service=&scope=…` for Basic credentials checked against the htpasswd file
//! (every user gets what it asks for, as distribution's htpasswd access gives every user
//! everything; anonymous requests get a token without access). Signed ES256 with a P-256
//! PKCS#8 key; its certificate is what a verifier's bundle must hold.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use wharf_credentials::b64;

use crate::auth::Htpasswd;
use crate::error::{Code, RegistryError};

/// Seconds of clock skew allowed on `exp` and `nbf`.
const LEEWAY: u64 = 60;
/// How long an issued token lives (distribution's default token expiration is 5 minutes).
const TTL: u64 = 300;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn b64url(data: &[u8]) -> String {
    b64::encode(data)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

/// One access a request needs: `repository:<name>:<action>` or `registry:catalog:*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    pub kind: &'static str,
    pub name: String,
    pub actions: Vec<&'static str>,
}

impl Need {
    fn scope(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

/// What a request to `path` with `method` needs (none for `/v2/` itself: any valid token).
/// `mount_from` is the `from` repository of a cross-repository mount.
pub fn needs(method: &Method, path: &str, mount_from: Option<&str>) -> Vec<Need> {
    let Some(rest) = path.strip_prefix("/v2/") else {
        return vec![Need {
            kind: "registry",
            name: "catalog".into(),
            actions: vec!["*"],
        }];
    };
    if rest.is_empty() {
        return Vec::new();
    }
    if rest == "_catalog" {
        return vec![Need {
            kind: "registry",
            name: "catalog".into(),
            actions: vec!["*"],
        }];
    }
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    // the same shapes `server::route` knows; the repository name is what precedes them
    let cut = if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        n - 3
    } else if n >= 3 && ["blobs", "manifests", "tags", "referrers"].contains(&segs[n - 2]) {
        n - 2
    } else {
        n
    };
    let name = segs[..cut].join("/");
    let actions = match *method {
        Method::GET | Method::HEAD => vec!["pull"],
        Method::DELETE => vec!["delete"],
        _ => vec!["pull", "push"],
    };
    let mut v = vec![Need {
        kind: "repository",
        name,
        actions,
    }];
    if let Some(from) = mount_from.filter(|f| !f.is_empty()) {
        v.push(Need {
            kind: "repository",
            name: from.to_string(),
            actions: vec!["pull"],
        });
    }
    v
}

/// Verifies bearer tokens (see the module doc).
pub struct Verifier {
    pub realm: String,
    pub service: String,
    pub issuer: String,
    certs: Vec<CertificateDer<'static>>,
}

impl Verifier {
    pub fn new(
        realm: String,
        service: String,
        issuer: String,
        bundle: &Path,
    ) -> std::io::Result<Verifier> {
        let bad = |e: &dyn std::fmt::Display| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("reading token root cert bundle {}: {e}", bundle.display()),
            )
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(bundle)
            .map_err(|e| bad(&e))?
            .collect::<Result<_, _>>()
            .map_err(|e| bad(&e))?;
        if certs.is_empty() {
            return Err(bad(&"no certificate found"));
        }
        for c in &certs {
            webpki::EndEntityCert::try_from(c).map_err(|e| bad(&e))?;
        }
        Ok(Verifier {
            realm,
            service,
            issuer,
            certs,
        })
    }

    /// The 401 asking for a token that grants `needs`.
    pub fn challenge(&self, needs: &[Need], insufficient: bool) -> Response {
        let mut h = format!(
            "Bearer realm=\"{}\",service=\"{}\"",
            self.realm, self.service
        );
        if !needs.is_empty() {
            let scopes: Vec<String> = needs.iter().map(Need::scope).collect();
            h.push_str(&format!(",scope=\"{}\"", scopes.join(" ")));
        }
        if insufficient {
            h.push_str(",error=\"insufficient_scope\"");
        }
        let mut r = RegistryError::new(
            Code::Unauthorized,
            if insufficient {
                "authentication required: insufficient scope"
            } else {
                "authentication required"
            },
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&h) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r
    }

    /// Ok when the request's bearer token is valid and grants `needs`; else the 401.
    pub fn check(&self, headers: &HeaderMap, needs: &[Need]) -> Result<(), Box<Response>> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (s, t) = v.split_once(' ')?;
                s.eq_ignore_ascii_case("bearer")
                    .then(|| t.trim().to_string())
            });
        let Some(token) = token else {
            return Err(Box::new(self.challenge(needs, false)));
        };
        let claims = match self.verify(&token) {
            Ok(c) => c,
            Err(why) => {
                tracing::debug!(%why, "bearer token refused");
                return Err(Box::new(self.challenge(needs, false)));
            }
        };
        if needs.iter().all(|n| grants(&claims, n)) {
            Ok(())
        } else {
            Err(Box::new(self.challenge(needs, true)))
        }
    }

    /// The claims of a token whose signature, issuer, audience and times are good.
    pub fn verify(&self, token: &str) -> Result<Value, String> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not a JWS compact token".into());
        };
        let decode = |x: &str| b64::decode(x).ok_or_else(|| "bad base64url".to_string());
        let header: Value =
            serde_json::from_slice(&decode(h)?).map_err(|e| format!("bad header: {e}"))?;
        let sig = decode(s)?;
        let msg = format!("{h}.{p}");
        let (alg, sig): (
            &dyn rustls_pki_types::SignatureVerificationAlgorithm,
            Vec<u8>,
        ) = match header.get("alg").and_then(Value::as_str) {
            Some("ES256") => (webpki::ring::ECDSA_P256_SHA256, p256_fixed_to_der(&sig)?),
            Some("RS256") => (webpki::ring::RSA_PKCS1_2048_8192_SHA256, sig),
            a => return Err(format!("unsupported alg {a:?}")),
        };
        let signed = self.certs.iter().any(|c| {
            webpki::EndEntityCert::try_from(c)
                .is_ok_and(|ee| ee.verify_signature(alg, msg.as_bytes(), &sig).is_ok())
        });
        if !signed {
            return Err("signature does not verify with the root cert bundle".into());
        }
        let claims: Value =
            serde_json::from_slice(&decode(p)?).map_err(|e| format!("bad claims: {e}"))?;
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err("wrong issuer".into());
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => *a == self.service,
            Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(&self.service)),
            _ => false,
        };
        if !aud_ok {
            return Err("wrong audience".into());
        }
        let t = now();
        match claims.get("exp").and_then(Value::as_u64) {
            Some(exp) if exp + LEEWAY >= t => {}
            _ => return Err("expired (or no exp)".into()),
        }
        if let Some(nbf) = claims.get("nbf").and_then(Value::as_u64) {
            if nbf > t + LEEWAY {
                return Err("not valid yet".into());
            }
        }
        Ok(claims)
    }
}

/// Whether the token's `access` claim grants every action of `need` (`*` grants all).
fn grants(claims: &Value, need: &Need) -> bool {
    let Some(access) = claims.get("access").and_then(Value::as_array) else {
        return false;
    };
    need.actions.iter().all(|want| {
        access.iter().any(|a| {
            a.get("type").and_then(Value::as_str) == Some(need.kind)
                && a.get("name").and_then(Value::as_str) == Some(need.name.as_str())
                && a.get("actions")
                    .and_then(Value::as_array)
                    .is_some_and(|acts| {
                        acts.iter()
                            .any(|x| x.as_str() == Some(want) || x.as_str() == Some("*"))
                    })
        })
    })
}

/// JWS ES256 signatures are `r || s` (32 bytes each); webpki wants ASN.1 DER.
fn p256_fixed_to_der(sig: &[u8]) -> Result<Vec<u8>, String> {
    if sig.len() != 64 {
        return Err("ES256 signature is not 64 bytes".into());
    }
    let int = |x: &[u8]| {
        let x = &x[x.iter().position(|&b| b != 0).unwrap_or(x.len() - 1)..];
        let mut v = vec![0x02];
        if x[0] & 0x80 != 0 {
            v.push((x.len() + 1) as u8);
            v.push(0);
        } else {
            v.push(x.len() as u8);
        }
        v.extend_from_slice(x);
        v
    };
    let (r, s) = (int(&sig[..32]), int(&sig[32..]));
    let mut out = vec![0x30, (r.len() + s.len()) as u8];
    out.extend(r);
    out.extend(s);
    Ok(out)
}

/// Issues tokens at `GET /token` (see the module doc).
pub struct Issuer {
    key: ring::signature::EcdsaKeyPair,
    /// The libtrust key id of the signing key: the `kid` header distribution looks the
    /// verifying key up by.
    kid: String,
    issuer: String,
    service: String,
}

/// The DER `SubjectPublicKeyInfo` prefix of a P-256 key (id-ecPublicKey, prime256v1), before
/// the 65-byte uncompressed point (RFC 5480).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// libtrust's key id (docker/libtrust `keyIDFromCryptoKey`, what distribution's token
/// verifier indexes its root-bundle keys by): the sha256 of the DER `SubjectPublicKeyInfo`,
/// its first 240 bits in base32 (RFC 4648 alphabet, no padding), in 12 groups of 4
/// joined by `:`.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let sum = ring::digest::digest(&ring::digest::SHA256, spki_der);
    let mut b32 = String::with_capacity(48);
    // 30 bytes = 240 bits = 48 five-bit groups, no padding needed
    for chunk in sum.as_ref()[..30].chunks(5) {
        let v = chunk.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b));
        for i in (0..8).rev() {
            b32.push(ALPHABET[((v >> (i * 5)) & 31) as usize] as char);
        }
    }
    b32.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

impl Issuer {
    pub fn new(key: &Path, issuer: String, service: String) -> std::io::Result<Issuer> {
        let bad = |e: &dyn std::fmt::Display| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("reading token key {}: {e}", key.display()),
            )
        };
        let der = match PrivateKeyDer::from_pem_file(key).map_err(|e| bad(&e))? {
            PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
            _ => {
                return Err(bad(
                    &"must be a PKCS#8 P-256 key (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)",
                ))
            }
        };
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &der,
            &ring::rand::SystemRandom::new(),
        )
        .map_err(|e| bad(&e))?;
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(ring::signature::KeyPair::public_key(&key).as_ref());
        Ok(Issuer {
            kid: libtrust_key_id(&spki),
            key,
            issuer,
            service,
        })
    }

    /// `GET /token?service=…&scope=…`: a token for the scopes asked (Basic credentials
    /// checked against `users`; anonymous gets no access).
    pub fn issue(&self, headers: &HeaderMap, query: &str, users: Option<&Htpasswd>) -> Response {
        let mut scopes = Vec::new();
        let mut account = None;
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "scope" => scopes.extend(v.split(' ').map(str::to_string)),
                "account" => account = Some(v.to_string()),
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
        let access: Vec<Value> = if user.is_some() {
            scopes
                .iter()
                .filter_map(|s| {
                    let (t, rest) = s.split_once(':')?;
                    let (name, acts) = rest.rsplit_once(':')?;
                    Some(json!({"type": t, "name": name, "actions": acts.split(',').collect::<Vec<_>>()}))
                })
                .collect()
        } else {
            Vec::new()
        };
        let t = now();
        let mut jti = [0u8; 16];
        rand::Rng::fill(&mut rand::rng(), &mut jti[..]);
        let claims = json!({
            "iss": self.issuer,
            "sub": user.or(account).unwrap_or_default(),
            "aud": self.service,
            "exp": t + TTL,
            "nbf": t.saturating_sub(1),
            "iat": t,
            "jti": hex::encode(jti),
            "access": access,
        });
        let head = json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        let msg = format!(
            "{}.{}",
            b64url(head.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let sig = match self
            .key
            .sign(&ring::rand::SystemRandom::new(), msg.as_bytes())
        {
            Ok(s) => s,
            Err(_) => {
                return RegistryError::new(Code::Internal, "failed to sign token").into_response()
            }
        };
        let token = format!("{msg}.{}", b64url(sig.as_ref()));
        let body = json!({
            "token": token,
            "access_token": token,
            "expires_in": TTL,
        });
        let mut r = (StatusCode::OK, body.to_string()).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_of_requests() {
        let n = needs(&Method::GET, "/v2/a/b/manifests/1", None);
        assert_eq!(n[0].scope(), "repository:a/b:pull");
        let n = needs(&Method::PUT, "/v2/a/blobs/uploads/x", None);
        assert_eq!(n[0].scope(), "repository:a:pull,push");
        let n = needs(&Method::POST, "/v2/a/blobs/uploads/", Some("c/d"));
        assert_eq!(n[1].scope(), "repository:c/d:pull");
        assert!(needs(&Method::GET, "/v2/", None).is_empty());
        assert_eq!(
            needs(&Method::GET, "/v2/_catalog", None)[0].scope(),
            "registry:catalog:*"
        );
        let n = needs(&Method::GET, "/v2/blobs/tags/list", None);
        assert_eq!(n[0].name, "blobs");
        let n = needs(&Method::PATCH, "/v2/x/y/blobs/uploads/u1", None);
        assert_eq!(n[0].name, "x/y");
    }

    #[test]
    fn access_claims() {
        let c =
            json!({"access": [{"type": "repository", "name": "a", "actions": ["pull", "push"]}]});
        let need = |acts: Vec<&'static str>| Need {
            kind: "repository",
            name: "a".into(),
            actions: acts,
        };
        assert!(grants(&c, &need(vec!["pull"])));
        assert!(grants(&c, &need(vec!["pull", "push"])));
        assert!(!grants(&c, &need(vec!["delete"])));
        assert!(!grants(&json!({}), &need(vec!["pull"])));
    }

    #[test]
    fn es256_signature_to_der() {
        let mut sig = [0u8; 64];
        sig[0] = 0x80;
        sig[63] = 1;
        let der = p256_fixed_to_der(&sig).unwrap();
        assert_eq!(der[0], 0x30);
        assert_eq!(&der[2..5], &[0x02, 33, 0]);
        assert!(p256_fixed_to_der(&[0; 10]).is_err());
    }

    #[test]
    fn key_ids_are_libtrusts() {
        // the value Python's hashlib + base32 give for these bytes
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.push(4);
        spki.extend(1..=64u8);
        assert_eq!(
            libtrust_key_id(&spki),
            "CVML:EFWX:X7JT:253V:YRK5:MA4A:2ORM:6YPR:7WMA:5GRU:QOCV:SBRL"
        );
    }
}
