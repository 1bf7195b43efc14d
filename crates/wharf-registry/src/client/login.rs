//! `POST /auth` (`docker login`): checks credentials against a registry as docker does —
//! `GET /v2/` anonymously; on a Basic challenge the same with the credentials, on a Bearer
//! challenge a token fetched from the realm with them, asking for a refresh token
//! (`offline_token=true`, `client_id=docker`, moby's `loginV2`). A refresh token in the
//! answer is the login's identity token, which the client keeps instead of the password.
//! Credentials that are an identity token are checked with OAuth2's refresh grant. The
//! daemon stores nothing: the client keeps the credentials (`~/.docker/config.json`).

use axum::http::{header, StatusCode};
use wharf_credentials::b64::encode as b64_encode;
use wharf_types::ErrorKind;

use super::http::{
    endpoint_for, get, parse_challenge, read_all, refresh_grant, Endpoint, CLIENT_ID,
};
use super::Error;

/// Docker Hub's login address, as docker's CLI and config.json spell it.
pub use wharf_credentials::HUB_ADDRESS;

/// The registry host of a login address: `https://host/v1/`, `host:port`, "" (Docker Hub).
pub fn login_host(server: &str) -> String {
    let s = server.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or("");
    match host {
        "" | "index.docker.io" | "docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

/// Why a login failed: docker's message (shown to the user after "Error response from
/// daemon: ") and whether it is an authentication failure (401) or another error.
pub struct LoginError {
    pub unauthorized: bool,
    pub error: Error,
}

impl From<Error> for LoginError {
    fn from(error: Error) -> LoginError {
        LoginError {
            unauthorized: false,
            error,
        }
    }
}

/// Checks `user`/`password` (or `identity_token`, when not empty) against the registry at
/// `server`. Returns the identity token the registry's token server gave (a refresh token),
/// or "" when it gave none.
pub async fn login(
    server: &str,
    user: &str,
    password: &str,
    identity_token: &str,
    insecure: &str,
) -> Result<String, LoginError> {
    let ep: Endpoint = super::tls::negotiate(endpoint_for(&login_host(server), insecure)).await?;
    let url = ep.url("/v2/");
    let basic = b64_encode(format!("{user}:{password}").as_bytes());
    let failed = |status: StatusCode| LoginError {
        unauthorized: true,
        error: Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "login attempt to {url} failed with status: {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
        ),
    };
    let resp = get(&url, None, None).await?;
    let status = resp.status();
    if status.is_success() {
        return Ok(String::new());
    }
    if status != StatusCode::UNAUTHORIZED {
        return Err(failed(status));
    }
    let ch = resp
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_challenge);
    match ch {
        Some(c) if c.scheme == "bearer" => {
            let realm = c.param("realm").ok_or_else(|| {
                Error::new(
                    ErrorKind::Unavailable,
                    "registry's auth challenge has no realm",
                )
            })?;
            let resp = if identity_token.is_empty() {
                let query = {
                    let mut q = form_urlencoded::Serializer::new(String::new());
                    if let Some(s) = c.param("service") {
                        q.append_pair("service", s);
                    }
                    q.append_pair("account", user);
                    q.append_pair("client_id", CLIENT_ID);
                    q.append_pair("offline_token", "true");
                    q.finish()
                };
                let sep = if realm.contains('?') { '&' } else { '?' };
                let token_url = format!("{realm}{sep}{query}");
                get(&token_url, None, Some(&format!("Basic {basic}"))).await?
            } else {
                refresh_grant(realm, c.param("service"), identity_token, &[], false).await?
            };
            let status = resp.status();
            let body = read_all(resp, 1 << 20).await.unwrap_or_default();
            if status.is_success() {
                // a refresh token is the identity token (distribution's client keeps it
                // through `SetRefreshToken`); without one, the one used stays good
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let refresh = v
                    .get("refresh_token")
                    .and_then(|t| t.as_str())
                    .filter(|t| !t.is_empty());
                Ok(refresh.unwrap_or(identity_token).to_string())
            } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                Err(LoginError {
                    unauthorized: true,
                    error: Error::new(
                        ErrorKind::PermissionDenied,
                        "unauthorized: incorrect username or password",
                    ),
                })
            } else {
                Err(failed(status))
            }
        }
        _ => {
            let resp = get(&url, None, Some(&format!("Basic {basic}"))).await?;
            let status = resp.status();
            if status.is_success() {
                Ok(String::new())
            } else {
                Err(failed(status))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_hosts() {
        assert_eq!(login_host(""), "docker.io");
        assert_eq!(login_host(HUB_ADDRESS), "docker.io");
        assert_eq!(login_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(login_host("http://localhost:5000/v2/"), "localhost:5000");
    }
}
