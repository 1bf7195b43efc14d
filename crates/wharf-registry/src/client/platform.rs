//! Choosing one manifest from a manifest list / OCI index.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: String,
}

impl Platform {
    /// `os/arch[/variant]`.
    pub fn parse(s: &str) -> Option<Platform> {
        let mut it = s.split('/');
        let os = it.next().filter(|s| !s.is_empty())?.to_string();
        let architecture = normalize_arch(it.next().filter(|s| !s.is_empty())?);
        let variant = it.next().unwrap_or("").to_string();
        Some(Platform {
            os,
            architecture,
            variant,
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

fn normalize_arch(a: &str) -> String {
    match a {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" => "386",
        other => other,
    }
    .to_string()
}

pub fn host_platform() -> Platform {
    Platform {
        os: "linux".into(),
        architecture: normalize_arch(std::env::consts::ARCH),
        variant: String::new(),
    }
}

/// The digest of the entry of `manifests` (an index's `manifests` array) for `want`: same
/// os and architecture; the variant must match when asked for (arm64 defaults to v8).
pub fn select_manifest(manifests: &[serde_json::Value], want: &Platform) -> Option<String> {
    manifests.iter().find_map(|m| {
        let p = m.get("platform")?;
        let s = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
        if s("os") != want.os || normalize_arch(&s("architecture")) != want.architecture {
            return None;
        }
        let v = s("variant");
        let arm64_default = want.architecture == "arm64" && want.variant == "v8" && v.is_empty();
        if !want.variant.is_empty() && v != want.variant && !arm64_default {
            return None;
        }
        m.get("digest").and_then(|v| v.as_str()).map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn index() -> Vec<serde_json::Value> {
        vec![
            json!({"digest": "sha256:aa", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}}),
            json!({"digest": "sha256:bb", "platform": {"os": "linux", "architecture": "amd64"}}),
            json!({"digest": "sha256:cc", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}),
            json!({"digest": "sha256:dd", "platform": {"os": "unknown", "architecture": "unknown"}}),
        ]
    }

    #[test]
    fn picks_the_platform_asked_for() {
        let p = |s: &str| Platform::parse(s).unwrap();
        assert_eq!(
            select_manifest(&index(), &p("linux/amd64")).as_deref(),
            Some("sha256:bb")
        );
        assert_eq!(
            select_manifest(&index(), &p("linux/arm64")).as_deref(),
            Some("sha256:cc")
        );
        assert_eq!(
            select_manifest(&index(), &p("linux/arm/v7")).as_deref(),
            Some("sha256:aa")
        );
        assert_eq!(select_manifest(&index(), &p("linux/arm/v6")), None);
        assert_eq!(select_manifest(&index(), &p("linux/s390x")), None);
        assert_eq!(
            select_manifest(&index(), &p("linux/x86_64")).as_deref(),
            Some("sha256:bb")
        );
    }

    #[test]
    fn host_platform_is_in_docker_terms() {
        let h = host_platform();
        assert_eq!(h.os, "linux");
        assert!(!h.architecture.contains('_'));
        assert_eq!(Platform::parse("linux"), None);
    }
}
