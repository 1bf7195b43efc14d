//! docker's client config file, `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
//! Rewritten whole through a temp file and a rename, mode 0600, directory 0700, tab-indented
//! (docker's `configfile.Save`); keys other than the entry changed are kept.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::Error;

pub fn dir() -> PathBuf {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .unwrap_or_else(|| PathBuf::from("/root/.docker"))
}

pub fn path() -> PathBuf {
    dir().join("config.json")
}

/// The config file's object (empty when there is none, or it is blank).
pub fn load() -> Result<Map<String, Value>, Error> {
    let p = path();
    let err = |reason: String| Error::Load {
        path: p.display().to_string(),
        reason,
    };
    match std::fs::read(&p) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(b) => match serde_json::from_slice::<Value>(&b) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(err("invalid JSON".into())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(err(e.to_string())),
    }
}

pub fn save(cfg: &Map<String, Value>) -> Result<(), Error> {
    let d = dir();
    let res = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(&d)?;
        let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700));
        let tmp = d.join(format!(".config.json.{}", std::process::id()));
        // docker writes the file tab-indented (json.MarshalIndent(…, "", "\t"))
        let mut bytes = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(
            &mut bytes,
            serde_json::ser::PrettyFormatter::with_indent(b"\t"),
        );
        serde::Serialize::serialize(&Value::Object(cfg.clone()), &mut ser)
            .map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        let written = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path())
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    })();
    res.map_err(|source| Error::Save {
        path: path().display().to_string(),
        source,
    })
}

/// The credential helper for a server: `credHelpers.<server>`, else `credsStore`
/// (docker's `getConfiguredCredentialStore`). Empty names count as none.
pub fn helper_for(cfg: &Map<String, Value>, server: &str) -> Option<String> {
    cfg.get("credHelpers")
        .and_then(|h| h.get(server))
        .and_then(Value::as_str)
        .or_else(|| cfg.get("credsStore").and_then(Value::as_str))
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

/// The `auths` object, created (or replaced when it is not an object).
pub fn auths_mut(cfg: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let auths = cfg
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    match auths {
        Value::Object(m) => m,
        _ => unreachable!("auths was just made an object"),
    }
}
