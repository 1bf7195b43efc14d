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

/// Docker's `X-Registry-Auth` header value: base64url of the auth config JSON.
pub fn registry_auth_header(user: &str, password: &str, server: &str) -> String {
    let json = serde_json::json!({"username": user, "password": password, "serveraddress": server});
    encode(json.to_string().as_bytes())
        .replace('+', "-")
        .replace('/', "_")
}

/// The Basic credentials (base64 `user:pass`) in an `X-Registry-Auth` header, if any.
pub fn registry_auth_basic(header: &str) -> Option<String> {
    let json = decode(header)?;
    let v: serde_json::Value = serde_json::from_slice(&json).ok()?;
    let user = v.get("username")?.as_str()?;
    let pass = v.get("password").and_then(|p| p.as_str()).unwrap_or("");
    if user.is_empty() {
        return None;
    }
    Some(encode(format!("{user}:{pass}").as_bytes()))
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
        let h = registry_auth_header("user", "pass", "r");
        assert_eq!(registry_auth_basic(&h).as_deref(), Some("dXNlcjpwYXNz"));
        let unpadded = h.trim_end_matches('=');
        assert_eq!(
            registry_auth_basic(unpadded).as_deref(),
            Some("dXNlcjpwYXNz")
        );
        assert_eq!(registry_auth_basic(&encode(b"{}")), None);
        assert_eq!(registry_auth_basic("e30="), None);
    }
}
