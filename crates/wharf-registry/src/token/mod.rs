//! Token authentication, as distribution's `auth: token` and the Docker token spec
//! (distribution `registry/auth/token`, docs `spec/auth/token.md`, `oauth.md`, `jwt.md`,
//! `scope.md`).
//!
//! [`Verifier`] (`--token-realm`, `--token-service`, `--token-issuer`,
//! `--token-rootcertbundle`): every request needs `Authorization: Bearer <JWT>`; without one, or
//! with one lacking the access asked for, a 401 with `WWW-Authenticate: Bearer realm=…,
//! service=…,scope=repository:<name>:<actions>` (plus `error="insufficient_scope"`). A token
//! is accepted when its signature (ES256 or RS256) verifies with the public key of a
//! certificate in the bundle — or, when its header carries an `x5c` chain, with the chain's
//! leaf, which must be a bundle certificate or lead to one ([`jws`]) — `iss` is the issuer,
//! `aud` names the service, `exp`/`nbf` hold (60 s leeway), it is not one of our refresh
//! tokens, and its `access` claims grant the actions.
//!
//! [`Issuer`] (`--token-key KEY.pem` with `--htpasswd`): the same server also hands out
//! tokens, at `GET /token` and OAuth2's `POST /token`, with refresh tokens ([`issuer`]).

mod issuer;
pub mod jws;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde_json::Value;

pub use issuer::{Issuer, REFRESH_TTL};
pub use jws::libtrust_key_id;

use crate::error::{Code, RegistryError};
use jws::Jws;

/// Seconds of clock skew allowed on `exp` and `nbf`.
const LEEWAY: u64 = 60;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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

    /// The root cert bundle's certificates.
    pub fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
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
        let jws = Jws::parse(token)?;
        jws.verify(&self.certs)?;
        let claims = jws.claims;
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
        // a refresh token of our issuer is for the issuer only (its audience differs too)
        if claims.get(issuer::TOKEN_USE).is_some_and(|u| u != "access") {
            return Err("not an access token".into());
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

#[cfg(test)]
mod tests {
    use serde_json::json;

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
}
