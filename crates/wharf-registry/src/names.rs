//! Validation of what comes in a URL: repository names (the spec's
//! `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`), tags
//! (`[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`) and digests. Because a valid name never has an empty,
//! `.` or `..` component, or one starting with `_`, it is safe as a path under the root and
//! never collides with the `_tags`/`_manifests`/`_layers` directories.

use std::str::FromStr;

use wharf_types::Digest;

use crate::error::{Code, RegistryError, Result};

/// Longest repository name accepted (distribution's limit).
pub const NAME_MAX: usize = 255;

fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator: ".", "_", "__" or "-"+, between alphanumerics.
        let start = i;
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
        if i >= b.len() || !alnum(b[i]) || (start > 0 && !alnum(b[start - 1])) {
            return false;
        }
    }
    true
}

/// Checks a repository name against the spec's grammar.
pub fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > NAME_MAX || !name.split('/').all(component_ok) {
        return Err(
            RegistryError::new(Code::NameInvalid, "invalid repository name")
                .detail(serde_json::json!({ "name": name })),
        );
    }
    Ok(())
}

/// Checks a tag against the spec's grammar.
pub fn validate_tag(tag: &str) -> Result<()> {
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::new(Code::TagInvalid, "invalid tag")
            .detail(serde_json::json!({ "tag": tag })))
    }
}

/// Parses a digest (only sha256 is supported).
pub fn parse_digest(s: &str) -> Result<Digest> {
    Digest::from_str(s).map_err(|e| RegistryError::new(Code::DigestInvalid, e.to_string()))
}

/// A manifest reference: a tag or a digest.
pub enum ManifestRef {
    Tag(String),
    Digest(Digest),
}

pub fn parse_manifest_ref(s: &str) -> Result<ManifestRef> {
    if s.contains(':') {
        Ok(ManifestRef::Digest(parse_digest(s)?))
    } else {
        validate_tag(s)?;
        Ok(ManifestRef::Tag(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec_grammar() {
        for ok in ["a", "library/busybox", "a.b/c_d/e__f/g--h", "0-9", "x/y/z"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "A", "a/", "/a", "a//b", "..", "a/../b", "_a", "a_", "a___b", "a.-b", "a/.b",
            "a b", "-a", "a/_tags",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert!(validate_name(&"a".repeat(256)).is_err());
    }

    #[test]
    fn tags_follow_the_spec_grammar() {
        assert!(validate_tag("v1.0-rc_1").is_ok());
        assert!(validate_tag("_x").is_ok());
        assert!(validate_tag(".x").is_err());
        assert!(validate_tag(&"a".repeat(129)).is_err());
        assert!(validate_tag("a/b").is_err());
    }
}
