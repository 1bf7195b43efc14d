//! `RUN --mount=type=secret` and `--mount=type=ssh` (docs/adr-0007-build.md, "Secrets and
//! ssh").
//!
//! The classic `/build` API has no session to carry them, so wharf's CLI sends them in two
//! headers of the request, never in the context: `X-Wharf-Build-Secrets` (hex of a JSON map
//! id → hex of the value) and `X-Wharf-Build-Ssh` (hex of a JSON map id → agent socket path on
//! the daemon's host). A secret is written for the one step that mounts it to a private file
//! bind-mounted read-only at its target, removed when the step ends; its value is never part of
//! the cache key, the layer (the mount point left in the layer is removed) or any message.

use std::collections::HashMap;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use wharf_build::dockerfile::RunMount;

use crate::api::ApiError;

/// The largest secrets a request may carry, all together (BuildKit's limit is 500 KiB each;
/// ours rides in a header).
pub const MAX_SECRETS: usize = 128 * 1024;

/// Secret values by id. Its `Debug` never shows a value.
#[derive(Clone, Default)]
pub struct Secrets(pub HashMap<String, Vec<u8>>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.0.keys().collect();
        ids.sort();
        write!(f, "Secrets({ids:?})")
    }
}

fn bad(what: &str) -> ApiError {
    ApiError::invalid(format!("invalid {what} header"))
}

/// Hex of a JSON map of strings.
fn decode_map(v: &str, what: &str) -> Result<HashMap<String, String>, ApiError> {
    let json = hex::decode(v.trim()).map_err(|_| bad(what))?;
    serde_json::from_slice(&json).map_err(|_| bad(what))
}

/// `X-Wharf-Build-Secrets`.
pub fn parse_secrets(v: Option<&str>) -> Result<Secrets, ApiError> {
    let Some(v) = v else {
        return Ok(Secrets::default());
    };
    let mut out = HashMap::new();
    let mut size = 0;
    for (id, val) in decode_map(v, "X-Wharf-Build-Secrets")? {
        let val = hex::decode(val).map_err(|_| bad("X-Wharf-Build-Secrets"))?;
        size += val.len();
        out.insert(id, val);
    }
    if size > MAX_SECRETS {
        return Err(ApiError::invalid(format!(
            "secrets too large: {size} bytes (at most {MAX_SECRETS})"
        )));
    }
    Ok(Secrets(out))
}

/// `X-Wharf-Build-Ssh`: each path must be a unix socket on this host.
pub fn parse_ssh(v: Option<&str>) -> Result<HashMap<String, PathBuf>, ApiError> {
    let Some(v) = v else {
        return Ok(HashMap::new());
    };
    let mut out = HashMap::new();
    for (id, p) in decode_map(v, "X-Wharf-Build-Ssh")? {
        let p = PathBuf::from(p);
        match std::fs::metadata(&p) {
            Ok(m) if m.file_type().is_socket() && p.is_absolute() => {}
            _ => {
                return Err(ApiError::invalid(format!(
                    "ssh agent socket for {id:?} not found on the daemon's host: {} (--ssh works only with a local daemon)",
                    p.display()
                )))
            }
        }
        out.insert(id, p);
    }
    Ok(out)
}

/// What a secret or ssh mount adds to a RUN: binds, environment, the mount points to drop from
/// the layer.
#[derive(Default)]
pub struct Mounted {
    pub binds: Vec<String>,
    pub env: Vec<String>,
    pub stubs: Vec<String>,
    pub ssh_count: usize,
}

fn parse_num(v: Option<&str>, radix: u32, default: u32) -> u32 {
    v.and_then(|s| u32::from_str_radix(s, radix).ok())
        .unwrap_or(default)
}

fn required(m: &RunMount) -> bool {
    m.option("required")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "" | "1" | "t" | "true"))
}

/// `--mount=type=secret`: id (default: the target's base name), target (default
/// `/run/secrets/ID`), `env`, `required`, `mode` (0400), `uid`/`gid` (0). The file is made in
/// `dir` (private to this step).
pub fn secret(
    m: &RunMount,
    secrets: &Secrets,
    dir: &Path,
    out: &mut Mounted,
) -> Result<(), ApiError> {
    let id =
        m.id.clone()
            .filter(|s| !s.is_empty())
            .or_else(|| m.source.clone().filter(|s| !s.is_empty()))
            .or_else(|| {
                Path::new(&m.target)
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
            })
            .unwrap_or_default();
    let Some(value) = secrets.0.get(&id) else {
        if required(m) {
            return Err(ApiError::invalid(format!("secret {id} not found")));
        }
        return Ok(());
    };
    if let Some(var) = m.option("env") {
        out.env
            .push(format!("{var}={}", String::from_utf8_lossy(value)));
        if m.target.is_empty() {
            return Ok(());
        }
    }
    let target = if m.target.is_empty() {
        format!("/run/secrets/{id}")
    } else {
        m.target.clone()
    };
    let internal = |e: std::io::Error| ApiError::internal(format!("failed to write secret: {e}"));
    std::fs::create_dir_all(dir).map_err(internal)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).map_err(internal)?;
    let file = dir.join(format!("s{}", out.binds.len()));
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .map_err(internal)?;
        f.write_all(value).map_err(internal)?;
    }
    let uid = parse_num(m.option("uid"), 10, 0);
    let gid = parse_num(m.option("gid"), 10, 0);
    std::os::unix::fs::chown(&file, Some(uid), Some(gid)).map_err(internal)?;
    let mode = parse_num(m.option("mode"), 8, 0o400) & 0o7777;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).map_err(internal)?;
    out.binds.push(format!("{}:{}:ro", file.display(), target));
    out.stubs.push(target);
    Ok(())
}

/// `--mount=type=ssh`: the client's agent socket (id `default` unless given) at target
/// (default `/run/buildkit/ssh_agent.N`); the first one is `SSH_AUTH_SOCK`.
pub fn ssh(
    m: &RunMount,
    agents: &HashMap<String, PathBuf>,
    out: &mut Mounted,
) -> Result<(), ApiError> {
    let id =
        m.id.clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".into());
    let Some(sock) = agents.get(&id) else {
        if required(m) {
            return Err(ApiError::invalid(format!(
                "no SSH key {id:?} forwarded from the client (wharf build --ssh {id}[=SOCKET])"
            )));
        }
        return Ok(());
    };
    let target = if m.target.is_empty() {
        format!("/run/buildkit/ssh_agent.{}", out.ssh_count)
    } else {
        m.target.clone()
    };
    if out.ssh_count == 0 {
        out.env.push(format!("SSH_AUTH_SOCK={target}"));
    }
    out.ssh_count += 1;
    out.binds.push(format!("{}:{}", sock.display(), target));
    out.stubs.push(target);
    Ok(())
}

/// Removes the mount points a RUN's secret and ssh mounts left in its write layer `upper`:
/// the empty file at each target, then its parent directories while they are empty (an
/// empty directory in the upper layer adds nothing the lower one lacks, unless it is an
/// overlay "opaque" directory, which is kept). Never follows a symlink: the step's command may
/// have replaced a directory on the way with one pointing at the host (SECURITY.md, the BuildKit
/// teardown row, CVE-2024-23652); the container has exited, nothing moves meanwhile.
pub fn drop_stubs(upper: &Path, stubs: &[String]) {
    for t in stubs {
        let Some(rel) = super::copy::clean_rel(t) else {
            continue;
        };
        let Ok(Some(mut p)) = super::copy::resolve_no_symlinks(upper, &rel) else {
            continue;
        };
        match std::fs::symlink_metadata(&p) {
            Ok(m) if (m.is_file() && m.len() == 0) || m.file_type().is_socket() => {
                let _ = std::fs::remove_file(&p);
            }
            _ => continue,
        }
        while let Some(parent) = p.parent().map(Path::to_path_buf) {
            if parent == upper || !parent.starts_with(upper) {
                break;
            }
            let opaque =
                rustix::fs::lgetxattr(&parent, "trusted.overlay.opaque", &mut [0u8; 4]).is_ok();
            if opaque || std::fs::remove_dir(&parent).is_err() {
                break;
            }
            p = parent;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_point_cleanup_never_follows_a_container_made_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("host");
        std::fs::create_dir(&host).unwrap();
        std::fs::write(host.join("tok"), "").unwrap();
        let upper = dir.path().join("upper");
        std::fs::create_dir_all(upper.join("run")).unwrap();
        // RUN replaced /run/secrets with a symlink to a host directory
        std::os::unix::fs::symlink(&host, upper.join("run/secrets")).unwrap();
        drop_stubs(&upper, &["/run/secrets/tok".to_string()]);
        assert!(host.join("tok").exists());
        // the ordinary case: the empty stub and its empty parents go, the rest stays
        std::fs::remove_file(upper.join("run/secrets")).unwrap();
        std::fs::create_dir_all(upper.join("run/secrets")).unwrap();
        std::fs::write(upper.join("run/secrets/tok"), "").unwrap();
        std::fs::write(upper.join("kept"), "x").unwrap();
        drop_stubs(&upper, &["/run/secrets/tok".to_string()]);
        assert!(!upper.join("run").exists());
        assert!(upper.join("kept").exists());
        // a file the step wrote there is not a stub
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/t"), "written by RUN").unwrap();
        drop_stubs(&upper, &["/etc/t".to_string()]);
        assert!(upper.join("etc/t").exists());
    }

    #[test]
    fn secrets_headers_are_checked_and_never_printed() {
        let v = hex::encode(r#"{"tok":"73336372337421"}"#);
        let s = parse_secrets(Some(&v)).unwrap();
        assert_eq!(s.0["tok"], b"s3cr3t!");
        assert_eq!(format!("{s:?}"), r#"Secrets(["tok"])"#);
        assert!(parse_secrets(Some("zz")).is_err());
        let big = hex::encode(format!(r#"{{"a":"{}"}}"#, "00".repeat(MAX_SECRETS + 1)));
        assert!(parse_secrets(Some(&big))
            .unwrap_err()
            .message
            .contains("too large"));
        let ssh = hex::encode(r#"{"default":"/nonexistent.sock"}"#);
        assert!(parse_ssh(Some(&ssh))
            .unwrap_err()
            .message
            .contains("local daemon"));
    }
}
