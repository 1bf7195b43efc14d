//! Just enough of docker's reference grammar for display: split `name:tag` and `name@digest`
//! and shorten names the way `reference.FamiliarName` does (`docker.io/library/busybox` →
//! `busybox`). Full validation lives in `wharf-types` on the daemon side.

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
}
