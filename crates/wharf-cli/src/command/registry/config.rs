//! docker's client config file, `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`:
//! `auths.<server>.auth` is base64 `user:password`. Rewritten whole through a temp file and a
//! rename, mode 0600 (docker's `configfile.Save`); keys other than the entry changed are kept.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::error::CliError;

pub fn dir() -> PathBuf {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .unwrap_or_else(|| PathBuf::from("/root/.docker"))
}

pub fn path() -> PathBuf {
    dir().join("config.json")
}

/// The config file's object (empty when there is none).
pub fn load() -> Result<Map<String, Value>, CliError> {
    let p = path();
    match std::fs::read(&p) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(b) => match serde_json::from_slice::<Value>(&b) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(CliError::msg(format!(
                "loading config file: {}: invalid JSON",
                p.display()
            ))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(crate::error::go_io_error(
            "open",
            &p.display().to_string(),
            &e,
        )),
    }
}

pub fn save(cfg: &Map<String, Value>) -> Result<(), CliError> {
    let d = dir();
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
        .map_err(|e| CliError::msg(e.to_string()))?;
    bytes.push(b'\n');
    let res = (|| -> std::io::Result<()> {
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
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(CliError::msg(format!(
            "error saving credentials: {}: {e}",
            path().display()
        )));
    }
    Ok(())
}

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn b64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(STD[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim().bytes() {
        let v = match c {
            b'=' => break,
            _ => STD.iter().position(|&x| x == c)? as u32,
        };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The stored credentials for a server key (see `server_key`), also under its `http://` and
/// `https://` spellings.
pub fn credentials(key: &str) -> Option<(String, String)> {
    let cfg = load().ok()?;
    let auths = cfg.get("auths")?.as_object()?;
    let names = [
        key.to_string(),
        format!("https://{key}"),
        format!("http://{key}"),
    ];
    names.iter().find_map(|n| {
        let a = auths.get(n)?.get("auth")?.as_str()?;
        let plain = String::from_utf8(b64_decode(a)?).ok()?;
        let (u, p) = plain.split_once(':')?;
        Some((u.to_string(), p.to_string()))
    })
}

/// Docker's `X-Registry-Auth` header value: base64url of the auth config JSON.
pub fn registry_auth_header(user: &str, password: &str, server: &str) -> String {
    let json = serde_json::json!({"username": user, "password": password, "serveraddress": server});
    b64_encode(json.to_string().as_bytes())
        .replace('+', "-")
        .replace('/', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_like_go() {
        assert_eq!(b64_encode(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(b64_encode(b"a"), "YQ==");
        assert_eq!(b64_encode(b"ab"), "YWI=");
        assert_eq!(b64_decode("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(b64_decode("YQ==").unwrap(), b"a");
    }
}
