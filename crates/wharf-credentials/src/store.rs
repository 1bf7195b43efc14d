//! docker's credential store choice (cli/config/configfile `GetCredentialsStore`): a helper
//! from `credHelpers.<server>`, else from `credsStore`, else the file's own `auths`.
//! With a helper, login stores through it and keeps only an empty `auths.<server>` entry
//! (docker's native store saves the e-mail-only remainder), so logout still finds it.

use serde_json::{json, Map, Value};

use crate::{b64, config, helper, Credentials, Error, HUB_ADDRESS};

/// Where [`store`] put the credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// In config.json itself (docker warns they are unencrypted).
    File,
    /// With `docker-credential-<name>`.
    Helper(String),
}

/// The config.json spellings of a server key, most specific first (docker's file store
/// matches `http://` and `https://` forms of the same host).
fn spellings(key: &str) -> Vec<String> {
    if key == HUB_ADDRESS {
        vec![
            HUB_ADDRESS.to_string(),
            "index.docker.io".into(),
            "docker.io".into(),
        ]
    } else {
        vec![
            key.to_string(),
            format!("https://{key}"),
            format!("http://{key}"),
        ]
    }
}

/// The `auth` of a config.json entry, decoded.
fn from_file(cfg: &Map<String, Value>, key: &str) -> Option<Credentials> {
    let auths = cfg.get("auths")?.as_object()?;
    spellings(key).iter().find_map(|n| {
        let a = auths.get(n)?.get("auth")?.as_str()?;
        let plain = String::from_utf8(b64::decode(a)?).ok()?;
        let (u, p) = plain.split_once(':')?;
        Some(Credentials {
            username: u.to_string(),
            secret: p.to_string(),
        })
    })
}

/// The credentials stored for a server key (see [`crate::server_key`]): through its helper
/// when one is configured, else from config.json.
pub fn get(key: &str) -> Result<Option<Credentials>, Error> {
    let cfg = config::load()?;
    match config::helper_for(&cfg, key) {
        Some(h) => helper::get(&h, key),
        None => Ok(from_file(&cfg, key)),
    }
}

/// Stores credentials for a server key, as `docker login` does.
pub fn store(key: &str, creds: &Credentials) -> Result<Stored, Error> {
    let mut cfg = config::load()?;
    let entry = match config::helper_for(&cfg, key) {
        Some(h) => {
            helper::store(&h, key, creds)?;
            Some(h)
        }
        None => None,
    };
    let value = match &entry {
        Some(_) => json!({}),
        None => {
            json!({"auth": b64::encode(format!("{}:{}", creds.username, creds.secret).as_bytes())})
        }
    };
    config::auths_mut(&mut cfg).insert(key.to_string(), value);
    config::save(&cfg)?;
    Ok(entry.map_or(Stored::File, Stored::Helper))
}

/// What [`erase`] found and did.
#[derive(Debug, Default)]
pub struct Erased {
    /// The config.json entries removed (none: "Not logged in").
    pub removed: Vec<String>,
    /// Helpers that failed to erase (docker warns and goes on).
    pub warnings: Vec<(String, Error)>,
}

/// `docker logout`: every config.json entry of the server is removed, and for each its
/// helper (if any) erases its credentials.
pub fn erase(key: &str) -> Result<Erased, Error> {
    let mut cfg = config::load()?;
    let mut names = vec![key.to_string()];
    if key != HUB_ADDRESS {
        names.push(format!("http://{key}"));
        names.push(format!("https://{key}"));
    }
    let mut out = Erased::default();
    let present: Vec<String> = match cfg.get("auths").and_then(Value::as_object) {
        Some(a) => names.into_iter().filter(|n| a.contains_key(n)).collect(),
        None => Vec::new(),
    };
    if present.is_empty() {
        return Ok(out);
    }
    for n in &present {
        if let Some(h) = config::helper_for(&cfg, n) {
            if let Err(e) = helper::erase(&h, n) {
                out.warnings.push((n.clone(), e));
            }
        }
        config::auths_mut(&mut cfg).remove(n);
    }
    config::save(&cfg)?;
    out.removed = present;
    Ok(out)
}

/// For the daemon's registry client: base64 `user:pass` for a registry host
/// (`registry-1.docker.io` is Docker Hub's key). Errors (a broken helper) count as none.
pub fn basic_for_host(host: &str) -> Option<String> {
    let c = get(&crate::server_key(Some(host))).ok()??;
    if c.username.is_empty() || c.username == "<token>" {
        // identity tokens (OAuth refresh tokens) are not supported: anonymous instead
        return None;
    }
    Some(b64::encode(
        format!("{}:{}", c.username, c.secret).as_bytes(),
    ))
}
