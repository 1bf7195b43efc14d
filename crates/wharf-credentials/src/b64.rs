//! Base64 as Go's `encoding/base64` writes it (standard alphabet, padded), decoding both
//! alphabets with or without padding; and docker's `X-Registry-Auth` header: base64url of
//! `{"username": …, "password": …, "serveraddress": …}`.

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn encode(data: &[u8]) -> String {
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

/// Decodes standard or URL-safe base64, padded or not.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Docker's `X-Registry-Auth` header value: base64url of the auth config JSON
/// (`identitytoken` too when the credentials hold one, as docker's CLI sends it).
pub fn registry_auth_header(c: &crate::Credentials, server: &str) -> String {
    let mut json =
        serde_json::json!({"username": c.username, "password": c.secret, "serveraddress": server});
    if let Some(t) = &c.identity_token {
        json["identitytoken"] = t.clone().into();
    }
    encode(json.to_string().as_bytes())
        .replace('+', "-")
        .replace('/', "_")
}

/// The credentials in an `X-Registry-Auth` header, if any: its identity token, else its
/// user name and password.
pub fn registry_auth(header: &str) -> Option<crate::RegistryAuth> {
    let json = decode(header)?;
    let v: serde_json::Value = serde_json::from_slice(&json).ok()?;
    let field = |k: &str| v.get(k).and_then(|p| p.as_str()).unwrap_or("").to_string();
    let identity_token = Some(field("identitytoken")).filter(|t| !t.is_empty());
    crate::RegistryAuth::of(&crate::Credentials {
        username: field("username"),
        secret: field("password"),
        identity_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_like_go() {
        for s in [
            "",
            "f",
            "fo",
            "foo",
            "foob",
            "fooba",
            "foobar",
            "user:pa ss",
        ] {
            assert_eq!(decode(&encode(s.as_bytes())).unwrap(), s.as_bytes());
        }
        assert_eq!(encode(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(encode(b"a"), "YQ==");
        assert_eq!(encode(b"ab"), "YWI=");
        assert_eq!(decode("_-8").unwrap(), vec![0xff, 0xef]);
        assert_eq!(decode("a*b"), None);
    }

    #[test]
    fn x_registry_auth_round_trips() {
        use crate::{Credentials, RegistryAuth};
        let basic = Some(RegistryAuth::Basic("dXNlcjpwYXNz".into()));
        let c = Credentials {
            username: "user".into(),
            secret: "pass".into(),
            identity_token: None,
        };
        let h = registry_auth_header(&c, "r");
        assert_eq!(registry_auth(&h), basic);
        assert_eq!(registry_auth(h.trim_end_matches('=')), basic);
        assert_eq!(registry_auth(&encode(b"{}")), None);
        assert_eq!(registry_auth("e30="), None);
        // docker's CLI after a login that gave an identity token: user, no password, token
        let c = Credentials {
            username: "user".into(),
            secret: String::new(),
            identity_token: Some("tok".into()),
        };
        let h = registry_auth_header(&c, "r");
        assert_eq!(
            registry_auth(&h),
            Some(RegistryAuth::IdentityToken("tok".into()))
        );
        let h = encode(br#"{"username":"<token>","password":"x"}"#);
        assert_eq!(
            registry_auth(&h),
            None,
            "a helper's token user name is no user"
        );
    }
}
