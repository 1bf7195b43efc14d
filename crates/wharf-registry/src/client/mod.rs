//! The registry client: the distribution API (v2) with Docker Hub's conventions, used by the
//! daemon for pull, push, login and search. [`http`] (requests, auth challenges, tokens, the
//! per-repository [`http::Client`]), [`tls`] (rustls; which registries may be plain HTTP),
//! [`upload`] (sending blobs), [`login`] (`POST /auth`'s check), [`search`] (`/v1/search`),
//! [`platform`] (choosing from an index). Credentials and `X-Registry-Auth`: the
//! `wharf-credentials` crate, shared with the CLI. Decisions:
//! docs/adr-0008-registry-client.md.

pub mod http;
pub mod login;
pub mod platform;
pub mod search;
pub mod tls;
pub mod upload;

pub use wharf_credentials::{registry_auth, RegistryAuth};

use std::path::PathBuf;

use serde_json::json;
use wharf_types::ErrorKind;

/// A client error: a kind (the daemon maps it to an HTTP status) and docker's message.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<wharf_types::reference::ReferenceError> for Error {
    fn from(e: wharf_types::reference::ReferenceError) -> Error {
        Error::invalid(e.to_string())
    }
}

static CERTS_DIR: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

/// Sets the daemon's extra per-registry CA directory (`--registry-certs-dir`), once, at start.
pub fn set_certs_dir(dir: Option<PathBuf>) {
    let _ = CERTS_DIR.set(dir);
}

/// Directories searched for `<host[:port]>/ca.crt`, first match wins.
pub fn certs_dirs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = CERTS_DIR.get().cloned().flatten().into_iter().collect();
    v.push(PathBuf::from("/etc/wharf/certs.d"));
    v.push(PathBuf::from("/etc/docker/certs.d"));
    v
}

/// `/info`'s `RegistryConfig`, as docker shows it.
pub fn registry_config() -> serde_json::Value {
    let mut index = serde_json::Map::new();
    index.insert(
        "docker.io".into(),
        json!({"Name": "docker.io", "Mirrors": [], "Secure": true, "Official": true}),
    );
    let insecure = http::insecure_registries();
    for h in insecure.split(',').filter(|h| !h.is_empty()) {
        index.insert(
            h.to_string(),
            json!({"Name": h, "Mirrors": [], "Secure": false, "Official": false}),
        );
    }
    json!({
        "AllowNondistributableArtifactsCIDRs": null,
        "AllowNondistributableArtifactsHostnames": null,
        "InsecureRegistryCIDRs": ["::1/128", "127.0.0.0/8"],
        "IndexConfigs": index,
        "Mirrors": null,
    })
}

/// Media types asked for, preferred first.
pub const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json";
