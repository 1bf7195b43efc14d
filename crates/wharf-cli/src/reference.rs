//! Just enough of docker's reference grammar for display: split `name:tag` and `name@digest`
//! and shorten names the way `reference.FamiliarName` does (`docker.io/library/busybox` →
//! `busybox`), plus [`validate_named`], the client-side check of flags such as `build -t`.
//! The daemon validates again (`wharf-types`).

/// `name:tag` → (name, tag); `None` when there is no tag or the reference is not valid-looking
/// (docker's `ParseNormalizedNamed` rejects such strings and the row is skipped).
pub fn split_tagged(s: &str) -> Option<(&str, &str)> {
    if s.contains('@') || !valid_name_chars(s) {
        return None;
    }
    let slash = s.rfind('/').map(|i| i + 1).unwrap_or(0);
    let colon = s[slash..].rfind(':')? + slash;
    let (name, tag) = (&s[..colon], &s[colon + 1..]);
    if name.is_empty() || tag.is_empty() {
        return None;
    }
    Some((name, tag))
}

/// `name@algo:hex` → (name without any tag, digest).
pub fn split_digested(s: &str) -> Option<(&str, &str)> {
    let (name, digest) = s.split_once('@')?;
    if !valid_name_chars(name) || !digest.contains(':') {
        return None;
    }
    let name = match split_tagged(name) {
        Some((n, _)) => n,
        None => name,
    };
    if name.is_empty() {
        return None;
    }
    Some((name, digest))
}

fn valid_name_chars(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:".contains(c))
}

/// `reference.FamiliarName`: drop the default registry and the `library/` namespace.
pub fn familiar_name(name: &str) -> &str {
    let rest = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"))
        .unwrap_or(name);
    if rest.len() != name.len() {
        if let Some(short) = rest.strip_prefix("library/") {
            if !short.contains('/') {
                return short;
            }
        }
    }
    rest
}

/// distribution/reference's `ParseNormalizedNamed`, as a validity check with docker's
/// messages (what `docker build -t` reports after "invalid argument … flag: ").
pub fn validate_named(s: &str) -> Result<(), String> {
    if s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
        ));
    }
    // splitDockerDomain
    let (domain, mut remainder) = match s.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first, rest.to_string())
        }
        _ => ("docker.io", s.to_string()),
    };
    if (domain == "docker.io" || domain == "index.docker.io") && !remainder.contains('/') {
        remainder = format!("library/{remainder}");
    }
    let remote = remainder.split(':').next().unwrap_or("");
    if remote.to_lowercase() != remote {
        return Err(format!(
            "invalid reference format: repository name ({remote}) must be lowercase"
        ));
    }
    const INVALID: &str = "invalid reference format";
    if !valid_domain(domain) {
        return Err(INVALID.into());
    }
    let (name_tag, digest) = match remainder.split_once('@') {
        Some((l, r)) => (l, Some(r)),
        None => (remainder.as_str(), None),
    };
    let (path, tag) = match name_tag.split_once(':') {
        Some((p, t)) => (p, Some(t)),
        None => (name_tag, None),
    };
    if path.is_empty() || !path.split('/').all(valid_path_component) {
        return Err(INVALID.into());
    }
    if let Some(t) = tag {
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let b = t.as_bytes();
        if b.is_empty()
            || b.len() > 128
            || !word(b[0])
            || !b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-')
        {
            return Err(INVALID.into());
        }
    }
    if let Some(d) = digest {
        let (alg, hex) = d.split_once(':').ok_or(INVALID)?;
        let alg_ok = !alg.is_empty()
            && alg.split(['-', '_', '+', '.']).all(|c| {
                c.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
                    && c.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        if !alg_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(INVALID.into());
        }
        if alg == "sha256" && hex.len() != 64 {
            return Err("invalid checksum digest length".into());
        }
    }
    if domain.len() + 1 + path.len() > 255 {
        return Err("repository name must not be more than 255 characters".into());
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
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

/// `host[:port]`: a domain name, an IPv4 address or a bracketed IPv6 address.
fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
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
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
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
mod tests {
    use super::*;

    #[test]
    fn splits_and_shortens() {
        assert_eq!(split_tagged("busybox:latest"), Some(("busybox", "latest")));
        assert_eq!(
            split_tagged("localhost:5000/a/b:v1"),
            Some(("localhost:5000/a/b", "v1"))
        );
        assert_eq!(split_tagged("localhost:5000/a"), None);
        assert_eq!(split_tagged("<none>:<none>"), None);
        assert_eq!(
            split_digested("busybox@sha256:abcd"),
            Some(("busybox", "sha256:abcd"))
        );
        assert_eq!(split_digested("<none>@<none>"), None);
        assert_eq!(familiar_name("docker.io/library/busybox"), "busybox");
        assert_eq!(familiar_name("docker.io/user/app"), "user/app");
        assert_eq!(familiar_name("quay.io/library/x"), "quay.io/library/x");
    }

    #[test]
    fn validates_like_parse_normalized_named() {
        for ok in [
            "app",
            "app:v1.0",
            "localhost:5000/a/b:t",
            "Registry.Example.com/a",
            "[::1]:5000/x",
            "a__b-c/e---f.g",
            "busybox@sha256:0123456789012345678901234567890123456789012345678901234567890123",
        ] {
            assert_eq!(validate_named(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            validate_named("Foo:1").unwrap_err(),
            "invalid reference format: repository name (library/Foo) must be lowercase"
        );
        assert_eq!(
            validate_named("user/Name").unwrap_err(),
            "invalid reference format: repository name (user/Name) must be lowercase"
        );
        for bad in [
            "", "a//b", "a:", "a:-x", "-a", "a___b", "a/", "x:1:2", "a b",
        ] {
            assert_eq!(
                validate_named(bad).unwrap_err(),
                "invalid reference format",
                "{bad:?}"
            );
        }
        let hex = "0123456789abcdef".repeat(4);
        assert!(validate_named(&hex)
            .unwrap_err()
            .contains("64-byte hexadecimal"));
    }
}
