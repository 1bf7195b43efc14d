//! Docker image references: `[domain[:port]/]path[:tag][@digest]`, parsed and normalized
//! exactly as `github.com/distribution/reference` does (`ParseNormalizedNamed`,
//! `TagNameOnly`, `FamiliarName`, `FamiliarString`).
//!
//! Grammar (distribution/reference `reference.go`):
//! ```text
//! reference       := name [ ":" tag ] [ "@" digest ]
//! name            := [domain '/'] remote-name
//! domain          := host [':' port-number]
//! host            := domain-name | IPv4address | \[ IPv6address \]
//! domain-name     := domain-component ['.' domain-component]*
//! domain-component:= /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! remote-name     := path-component ['/' path-component]*
//! path-component  := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric   := /[a-z0-9]+/
//! separator       := /[_.]|__|[-]+/
//! tag             := /[\w][\w.-]{0,127}/
//! ```
//! Normalization: a first component without `.` or `:` (and not `localhost`, and lowercase) is
//! not a domain, so `docker.io` is assumed; single-component names on docker.io get
//! `library/`; `index.docker.io` becomes `docker.io`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::{is_hex64, Digest};

/// The registry assumed when a name has none.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag added to names that have neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// Longest repository path accepted.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Why a string is not a valid image reference. Messages are docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format")]
    InvalidFormat,
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    #[error("invalid tag format")]
    InvalidTag,
    #[error("unsupported digest algorithm")]
    UnsupportedDigest,
    #[error("invalid checksum digest format")]
    InvalidDigest,
}

/// A normalized image reference. `domain` and `path` are always set (`docker.io`,
/// `library/busybox`); `tag` and `digest` are optional.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// `ParseNormalizedNamed` followed by `TagNameOnly`: a reference with neither tag nor
    /// digest gets `:latest`.
    pub fn parse_normalized(s: &str) -> Result<Reference, ReferenceError> {
        let mut r = Reference::parse_named(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// `ParseNormalizedNamed`: normalizes the domain and `library/`, no tag defaulting.
    pub fn parse_named(s: &str) -> Result<Reference, ReferenceError> {
        if is_hex64(s) {
            return Err(ReferenceError::HexName(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = match remainder.find(':') {
            Some(i) => &remainder[..i],
            None => &remainder[..],
        };
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::Uppercase(remote.to_string()));
        }
        parse_full(&domain, &remainder)
    }

    /// The full repository name: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// Docker's short name: `busybox`, `user/name`, `localhost:5000/a/b`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// Docker's short form with tag and digest: `busybox:latest`, `busybox@sha256:…`.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    /// The same repository (and digest) with `tag`.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !valid_tag(tag) {
            return Err(ReferenceError::InvalidTag);
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            ..self.clone()
        })
    }

    /// The same repository with neither tag nor digest.
    pub fn name_only(&self) -> Reference {
        Reference {
            tag: None,
            digest: None,
            ..self.clone()
        }
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_str());
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    /// Same as [`Reference::parse_named`].
    fn from_str(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse_named(s)
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Reference, D::Error> {
        let s = String::deserialize(d)?;
        Reference::parse_named(&s).map_err(serde::de::Error::custom)
    }
}

/// distribution/reference `splitDockerDomain`.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.find('/') {
        Some(i) => {
            let first = &name[..i];
            if !first.contains(['.', ':']) && first != "localhost" && first.to_lowercase() == first
            {
                (DEFAULT_DOMAIN.to_string(), name.to_string())
            } else {
                (first.to_string(), name[i + 1..].to_string())
            }
        }
        None => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

/// Parses `remainder` = `path[:tag][@digest]` under an already split `domain`, validating
/// both against the grammar.
fn parse_full(domain: &str, remainder: &str) -> Result<Reference, ReferenceError> {
    if !valid_domain(domain) {
        return Err(ReferenceError::InvalidFormat);
    }
    let (name_tag, digest) = match remainder.split_once('@') {
        Some((l, r)) => (l, Some(r)),
        None => (remainder, None),
    };
    // path components have no ':', so the first ':' starts the tag
    let (path, tag) = match name_tag.split_once(':') {
        Some((p, t)) => (p, Some(t)),
        None => (name_tag, None),
    };
    if !valid_path(path) {
        return Err(ReferenceError::InvalidFormat);
    }
    if let Some(t) = tag {
        if !valid_tag(t) {
            return Err(ReferenceError::InvalidFormat);
        }
    }
    let digest = match digest {
        None => None,
        Some(d) => Some(parse_digest(d)?),
    };
    if path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::NameTooLong);
    }
    Ok(Reference {
        domain: domain.to_string(),
        path: path.to_string(),
        tag: tag.map(str::to_string),
        digest,
    })
}

fn parse_digest(d: &str) -> Result<Digest, ReferenceError> {
    let (alg, hex) = d.split_once(':').ok_or(ReferenceError::InvalidFormat)?;
    // digest grammar: algorithm component(s) then ':' then >= 32 hex
    let alg_ok = !alg.is_empty()
        && alg.split(['-', '_', '+', '.']).all(|c| {
            c.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
                && c.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if !alg_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ReferenceError::InvalidFormat);
    }
    if alg != "sha256" {
        return Err(ReferenceError::UnsupportedDigest);
    }
    Digest::from_hex(hex).map_err(|_| ReferenceError::InvalidDigest)
}

fn valid_tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

fn valid_path(p: &str) -> bool {
    !p.is_empty() && p.split('/').all(valid_path_component)
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        // alpha-numeric run
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        // separator
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// `host[:port]`, host = domain-name | IPv4 | [IPv6].
fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return false;
        };
        let v6 = &rest[..end];
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        let after = &rest[end + 1..];
        match after.strip_prefix(':') {
            Some(p) => ("", Some(p)),
            None if after.is_empty() => ("", None),
            None => return false,
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if host.is_empty() {
        return d.starts_with('[');
    }
    host.split('.').all(|c| {
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const HEX: &str = "1234567890098765432112345667890098765432112345667890098765432112";

    fn n(s: &str) -> Reference {
        Reference::parse_normalized(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn normalizes_like_docker() {
        // distribution/reference normalize_test.go TestParseNormalizedNamed / TestNormalizedSplitHostname
        let cases = [
            ("busybox", "docker.io", "library/busybox", "busybox"),
            ("test_com", "docker.io", "library/test_com", "test_com"),
            ("test.com:5000", "docker.io", "library/test.com", "test.com"),
            ("library/foo", "docker.io", "library/foo", "foo"),
            ("docker.io/library/foo", "docker.io", "library/foo", "foo"),
            (
                "index.docker.io/library/foo",
                "docker.io",
                "library/foo",
                "foo",
            ),
            ("docker.io/foo", "docker.io", "library/foo", "foo"),
            ("user/name", "docker.io", "user/name", "user/name"),
            ("test.com/foo", "test.com", "foo", "test.com/foo"),
            ("test:8080/foo", "test:8080", "foo", "test:8080/foo"),
            ("localhost/foo", "localhost", "foo", "localhost/foo"),
            (
                "localhost:5000/a/b:t",
                "localhost:5000",
                "a/b",
                "localhost:5000/a/b",
            ),
            (
                "xn--n3h.com/myimage",
                "xn--n3h.com",
                "myimage",
                "xn--n3h.com/myimage",
            ),
            (
                "127.0.0.1:5000/foo",
                "127.0.0.1:5000",
                "foo",
                "127.0.0.1:5000/foo",
            ),
            ("[::1]:5000/foo", "[::1]:5000", "foo", "[::1]:5000/foo"),
            ("Docker.io/foo", "Docker.io", "foo", "Docker.io/foo"),
            ("a__b/c-d.e", "docker.io", "a__b/c-d.e", "a__b/c-d.e"),
        ];
        for (input, domain, path, fam) in cases {
            let r = n(input);
            assert_eq!(
                (r.domain.as_str(), r.path.as_str()),
                (domain, path),
                "{input}"
            );
            assert_eq!(r.familiar_name(), fam, "{input}");
        }
    }

    #[test]
    fn names_and_strings() {
        let r = n("busybox");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar_string(), "busybox:latest");
        assert_eq!(Reference::parse_named("busybox").unwrap().tag, None);

        let d = format!("busybox@sha256:{HEX}");
        let r = n(&d);
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_ref().unwrap().hex(), HEX);
        assert_eq!(r.familiar_string(), d);
        assert_eq!(
            r.to_string(),
            format!("docker.io/library/busybox@sha256:{HEX}")
        );

        let r = n(&format!("localhost:5000/a/b:t@sha256:{HEX}"));
        assert_eq!(r.tag.as_deref(), Some("t"));
        assert!(r.digest.is_some());
        assert_eq!(
            r.familiar_string(),
            format!("localhost:5000/a/b:t@sha256:{HEX}")
        );

        let t = n("busybox").with_tag("1.36").unwrap();
        assert_eq!(t.familiar_string(), "busybox:1.36");
        assert!(n("busybox").with_tag("-bad").is_err());
    }

    #[test]
    fn rejects_like_docker() {
        assert_eq!(
            Reference::parse_normalized("UPPER")
                .unwrap_err()
                .to_string(),
            "invalid reference format: repository name (library/UPPER) must be lowercase"
        );
        assert_eq!(
            Reference::parse_normalized("user/Name:tag")
                .unwrap_err()
                .to_string(),
            "invalid reference format: repository name (user/Name) must be lowercase"
        );
        assert_eq!(
            Reference::parse_normalized(HEX).unwrap_err().to_string(),
            format!("invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings")
        );
        let long = "a".repeat(256);
        assert_eq!(
            Reference::parse_normalized(&format!("x/{long}")).unwrap_err(),
            ReferenceError::NameTooLong
        );
        assert_eq!(
            ReferenceError::NameTooLong.to_string(),
            "repository name must not be more than 255 characters"
        );
        for bad in [
            "",
            "a//b",
            "/a",
            "a/",
            ":tag",
            "busybox:",
            "busybox:-x",
            "busybox:.x",
            &format!("busybox:{}", "a".repeat(129)),
            "a___b",
            "a-_b",
            "a..b",
            "-a",
            "a-",
            "busybox@sha256:abc",
            "busybox@",
            "test.com/foo@sha256:xyz",
            "-test.com/foo",
            "test.com:/foo",
            "a b",
            "foo/bar:tag:tag2",
        ] {
            assert!(
                Reference::parse_normalized(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert!(Reference::parse_normalized(&format!("busybox:{}", "a".repeat(128))).is_ok());
        assert_eq!(
            Reference::parse_normalized(&format!("busybox@sha512:{HEX}{HEX}")).unwrap_err(),
            ReferenceError::UnsupportedDigest
        );
    }
}
