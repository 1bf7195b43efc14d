//! wharf-credentials: registry credentials where and how docker's CLI keeps them.
//!
//! - [`config`]: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json` — `auths.<server>.auth`
//!   (base64 `user:password`), `credsStore`, `credHelpers`; loaded and saved as docker does.
//! - [`helper`]: the `docker-credential-<name>` protocol (`get`/`store`/`erase` on
//!   stdin/stdout, docker/docker-credential-helpers' `client` package).
//! - [`store`]: docker's `GetAuthConfig`/`Store`/`Erase` over both: a helper named for the
//!   server in `credHelpers`, else `credsStore`, else the file itself.
//! - [`b64`]: base64 (standard and URL-safe), and the `X-Registry-Auth` header.
//!
//! The CLI uses it to log in and out and to send credentials with pull/push/search; the
//! daemon's registry client uses it as a fallback for its own user's config.json. Server
//! addresses are docker's config keys ([`server_key`]): `https://index.docker.io/v1/` for
//! Docker Hub, else the bare `host[:port]`.

pub mod b64;
pub mod config;
pub mod helper;
pub mod store;

pub use b64::{registry_auth, registry_auth_header};
pub use store::{erase, get, store, Stored};

/// Docker Hub's address in config.json and login messages.
pub const HUB_ADDRESS: &str = "https://index.docker.io/v1/";

/// A user name and its password, or an identity token (docker's `AuthConfig`: `Username`,
/// `Password`, `IdentityToken`). An identity token is an OAuth2 refresh token a registry's
/// token server gave on login; docker then keeps it instead of the password (`auths.<server>`
/// `identitytoken`, or a helper's `Secret` under the user name [`TOKEN_USERNAME`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
    pub identity_token: Option<String>,
}

/// The user name credential helpers store an identity token under (docker/cli
/// `credentials/native_store.go`'s `tokenUsername`).
pub const TOKEN_USERNAME: &str = "<token>";

/// What the registry client authenticates with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryAuth {
    /// base64 `user:password`: Basic auth, and the credentials of a token realm's `GET`.
    Basic(String),
    /// An identity token: exchanged at the token realm for access tokens with OAuth2's
    /// `grant_type=refresh_token` (docker's daemon, distribution `registry/client/auth`).
    IdentityToken(String),
}

impl RegistryAuth {
    /// As docker's daemon: an identity token wins over a user name and password (its
    /// credential store hands the token handler the refresh token first).
    pub fn of(c: &Credentials) -> Option<RegistryAuth> {
        if let Some(t) = c.identity_token.as_ref().filter(|t| !t.is_empty()) {
            return Some(RegistryAuth::IdentityToken(t.clone()));
        }
        if c.username.is_empty() || c.username == TOKEN_USERNAME {
            return None;
        }
        Some(RegistryAuth::Basic(b64::encode(
            format!("{}:{}", c.username, c.secret).as_bytes(),
        )))
    }
}

/// What went wrong reading or writing credentials, with docker's wording.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("loading config file: {path}: {reason}")]
    Load { path: String, reason: String },
    #[error("error saving credentials: {path}: {source}")]
    Save {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A credential helper failed (docker's `err: …, out: …`).
    #[error("error {action} credentials - err: {err}, out: `{out}`")]
    Helper {
        /// `getting`, `storing`, `erasing`.
        action: &'static str,
        err: String,
        out: String,
    },
}

/// docker's `ConvertToHostname` for config keys: `https://host:port/v2/` → `host:port`;
/// Docker Hub's names (and none) → [`HUB_ADDRESS`].
pub fn server_key(server: Option<&str>) -> String {
    let s = server.unwrap_or("").trim();
    if s.is_empty()
        || s == HUB_ADDRESS
        || s == "docker.io"
        || s == "index.docker.io"
        || s == "registry-1.docker.io"
    {
        return HUB_ADDRESS.to_string();
    }
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => HUB_ADDRESS.to_string(),
        h => h.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_keys_like_docker() {
        assert_eq!(server_key(None), HUB_ADDRESS);
        assert_eq!(server_key(Some("docker.io")), HUB_ADDRESS);
        assert_eq!(server_key(Some("registry-1.docker.io")), HUB_ADDRESS);
        assert_eq!(server_key(Some("127.0.0.1:5000")), "127.0.0.1:5000");
        assert_eq!(server_key(Some("https://reg.example/v2/")), "reg.example");
    }
}
