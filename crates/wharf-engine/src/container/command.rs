//! Finding a container's command in its layers before it starts, so a missing or
//! non-executable command gets Docker's message (and the CLI's 127/126) instead of an opaque
//! runtime failure. Read-only, and every path is resolved inside the layers: symlinks are
//! followed as the container would see them, never on the host.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The merged view of a stack of overlay layers (top first), for lookups only.
pub struct Layers<'a>(pub &'a [PathBuf]);

impl Layers<'_> {
    /// The top-most entry at `rel` (already resolved, no symlinks in its parents).
    fn entry(&self, rel: &Path) -> Option<std::fs::Metadata> {
        for layer in self.0 {
            match std::fs::symlink_metadata(layer.join(rel)) {
                Ok(md) if md.file_type().is_char_device() && md.rdev() == 0 => return None, // whiteout
                Ok(md) => return Some(md),
                Err(_) => continue,
            }
        }
        None
    }

    fn link_target(&self, rel: &Path) -> Option<PathBuf> {
        self.0
            .iter()
            .find_map(|l| std::fs::read_link(l.join(rel)).ok())
    }

    /// Resolves `path` (absolute inside the container) component by component, following
    /// symlinks inside the layers. None when something on the way does not exist.
    pub fn resolve(&self, path: &str) -> Option<(PathBuf, std::fs::Metadata)> {
        let mut todo: Vec<String> = path
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .rev()
            .collect();
        let mut cur = PathBuf::new();
        let mut hops = 0;
        let mut last = None;
        while let Some(comp) = todo.pop() {
            match comp.as_str() {
                "." => continue,
                ".." => {
                    cur.pop();
                    continue;
                }
                _ => {}
            }
            let next = cur.join(&comp);
            let md = self.entry(&next)?;
            if md.file_type().is_symlink() {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                let target = self.link_target(&next)?;
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    cur = PathBuf::new();
                }
                todo.extend(
                    t.split('/')
                        .filter(|c| !c.is_empty())
                        .map(str::to_string)
                        .rev(),
                );
                continue;
            }
            cur = next;
            last = Some(md);
        }
        last.map(|md| (cur, md))
    }
}

/// Docker's error for a command that cannot run, or None when it looks runnable.
pub fn check(layers: &Layers<'_>, argv0: &str, env: &[String], cwd: &str) -> Option<String> {
    let runnable = |md: &std::fs::Metadata| md.is_file() && md.permissions().mode() & 0o111 != 0;
    if argv0.contains('/') {
        let abs = if argv0.starts_with('/') {
            argv0.to_string()
        } else {
            format!("{}/{argv0}", cwd.trim_end_matches('/'))
        };
        return match layers.resolve(&abs) {
            None => Some(format!(
                "exec: \"{argv0}\": stat {argv0}: no such file or directory"
            )),
            Some((_, md)) if md.is_dir() => Some(format!("exec: \"{argv0}\": is a directory")),
            Some((_, md)) if !runnable(&md) => {
                Some(format!("exec: \"{argv0}\": permission denied"))
            }
            Some(_) => None,
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let found = path
        .split(':')
        .filter(|d| !d.is_empty())
        .filter_map(|d| layers.resolve(&format!("{d}/{argv0}")))
        .any(|(_, md)| runnable(&md));
    (!found).then(|| format!("exec: \"{argv0}\": executable file not found in $PATH"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_commands_through_symlinks_and_whiteouts() {
        let lower = tempfile::tempdir().unwrap();
        let upper = tempfile::tempdir().unwrap();
        let l = lower.path();
        std::fs::create_dir_all(l.join("usr/bin")).unwrap();
        std::fs::write(l.join("usr/bin/busybox"), b"x").unwrap();
        std::fs::set_permissions(
            l.join("usr/bin/busybox"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("usr/bin", l.join("bin")).unwrap();
        std::os::unix::fs::symlink("busybox", l.join("usr/bin/sh")).unwrap();
        std::os::unix::fs::symlink("/usr/bin/busybox", l.join("usr/bin/gone")).unwrap();
        std::fs::write(l.join("usr/bin/data"), b"x").unwrap();
        // The upper layer deletes `gone` (an overlay whiteout).
        std::fs::create_dir_all(upper.path().join("usr/bin")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            upper.path().join("usr/bin/gone"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
        let dirs = vec![upper.path().to_path_buf(), l.to_path_buf()];
        let layers = Layers(&dirs);
        let env = vec!["PATH=/bin".to_string()];
        assert_eq!(check(&layers, "sh", &env, "/"), None);
        assert_eq!(check(&layers, "/bin/sh", &env, "/"), None);
        assert!(check(&layers, "gone", &env, "/")
            .unwrap()
            .contains("executable file not found in $PATH"));
        assert!(check(&layers, "/nope", &env, "/")
            .unwrap()
            .contains("no such file or directory"));
        assert!(check(&layers, "/usr/bin/data", &env, "/")
            .unwrap()
            .contains("permission denied"));
    }
}
