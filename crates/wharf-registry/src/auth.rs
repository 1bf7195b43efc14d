//! Basic authentication against an htpasswd file of bcrypt entries (`user:$2y$…`, as
//! `htpasswd -B` writes and distribution's `htpasswd` auth reads). Other hash schemes are
//! refused when the file is loaded. Token auth: [`crate::token`].

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use axum::http::{header, HeaderMap};

use crate::error::{Code, RegistryError, Result};

/// Users and their bcrypt hashes.
pub struct Htpasswd {
    users: HashMap<String, String>,
    /// sha256(user, password, hash) of credentials already verified: bcrypt is slow by design
    /// and a push makes dozens of requests, so each pair is checked against bcrypt once.
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl Htpasswd {
    /// Reads an htpasswd file; every entry must be bcrypt.
    pub fn load(path: &Path) -> std::io::Result<Htpasswd> {
        let text = std::fs::read_to_string(path)?;
        Htpasswd::parse(&text)
    }

    pub fn parse(text: &str) -> std::io::Result<Htpasswd> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (u, h) = line.split_once(':').ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("htpasswd line {}: expected user:hash", i + 1),
                )
            })?;
            if !(h.starts_with("$2y$") || h.starts_with("$2b$") || h.starts_with("$2a$")) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("htpasswd line {}: only bcrypt entries are supported", i + 1),
                ));
            }
            users.insert(u.to_string(), h.to_string());
        }
        Ok(Htpasswd {
            users,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Accepts the request's `Authorization: Basic …` or fails with 401 UNAUTHORIZED.
    pub fn check(&self, headers: &HeaderMap) -> Result<()> {
        let denied = || RegistryError::new(Code::Unauthorized, "authentication required");
        let v = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(denied)?;
        let (scheme, b64) = v.split_once(' ').ok_or_else(denied)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(denied());
        }
        let raw = base64_decode(b64.trim()).ok_or_else(denied)?;
        let raw = String::from_utf8(raw).map_err(|_| denied())?;
        let (u, p) = raw.split_once(':').ok_or_else(denied)?;
        if self.verify(u, p) {
            Ok(())
        } else {
            Err(denied())
        }
    }

    /// Whether `p` is `u`'s password.
    pub fn verify(&self, u: &str, p: &str) -> bool {
        let Some(hash) = self.users.get(u) else {
            return false;
        };
        let key: [u8; 32] = {
            use sha2::Digest as _;
            let mut h = sha2::Sha256::new();
            for part in [u, p, hash.as_str()] {
                h.update((part.len() as u64).to_le_bytes());
                h.update(part.as_bytes());
            }
            h.finalize().into()
        };
        if let Ok(v) = self.verified.lock() {
            if v.contains(&key) {
                return true;
            }
        }
        if bcrypt::verify(p, hash).unwrap_or(false) {
            if let Ok(mut v) = self.verified.lock() {
                v.insert(key);
            }
            true
        } else {
            false
        }
    }

    /// A digest of `user`'s entry (its bcrypt hash), for binding refresh tokens to the
    /// password they were issued for; `None` for an unknown user.
    pub fn entry_digest(&self, user: &str) -> Option<String> {
        use sha2::Digest as _;
        let hash = self.users.get(user)?;
        Some(hex::encode(&sha2::Sha256::digest(hash.as_bytes())[..16]))
    }
}

impl Htpasswd {
    /// The user name of a request's Basic credentials (after [`Htpasswd::check`]).
    pub fn user_of(&self, headers: &HeaderMap) -> Option<String> {
        let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (_, b64) = v.split_once(' ')?;
        let raw = String::from_utf8(base64_decode(b64.trim())?).ok()?;
        Some(raw.split_once(':')?.0.to_string())
    }
}

/// Standard base64 (RFC 4648 §4) with optional padding.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in s {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes() {
        assert_eq!(
            base64_decode("dXNlcjpwYXNz").as_deref(),
            Some(&b"user:pass"[..])
        );
        assert_eq!(base64_decode("YQ==").as_deref(), Some(&b"a"[..]));
        assert!(base64_decode("a$b").is_none());
    }

    #[test]
    fn non_bcrypt_entries_are_refused() {
        assert!(Htpasswd::parse("u:{SHA}abc").is_err());
        assert!(Htpasswd::parse("# c\nu:$2y$05$abcdefghijklmnopqrstuu").is_ok());
    }
}
