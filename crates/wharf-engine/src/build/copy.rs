//! COPY and ADD: sources from the build context (or another stage's or image's root) copied
//! into a fresh directory that becomes the step's layer.
//!
//! Sources are resolved inside their root and never escape it ("forbidden path outside the
//! build context"); symlinks are copied as symlinks, never followed out. Wildcards are
//! matched per path component (Go's `filepath.Match`). Parents of the destination that the
//! image has keep its metadata; new ones are root-owned 0755, as docker makes them.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use wharf_types::digest::Digester;

/// `filepath.Match`: `*`, `?`, `[a-z]`, `[!x]`, `\` escapes, within one component.
pub fn glob_match(pat: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(c) = n.first() else { return false };
                let mut i = 1;
                let neg = matches!(p.get(1), Some('!') | Some('^'));
                if neg {
                    i += 1;
                }
                let mut hit = false;
                let start = i;
                while i < p.len() && (p[i] != ']' || i == start) {
                    let lo = if p[i] == '\\' && i + 1 < p.len() {
                        i += 1;
                        p[i]
                    } else {
                        p[i]
                    };
                    if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                        if (lo..=p[i + 2]).contains(c) {
                            hit = true;
                        }
                        i += 3;
                    } else {
                        if lo == *c {
                            hit = true;
                        }
                        i += 1;
                    }
                }
                i < p.len() && hit != neg && go(&p[i + 1..], &n[1..])
            }
            Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && go(&p[2..], &n[1..]),
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// `path` cleaned and made relative to a root; None if it climbs out.
pub fn clean_rel(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(n) => out.push(n),
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// `rel` (already cleaned) inside `root`, refusing a symlink anywhere on the way: the host
/// would follow it out of the root. None if some component is missing.
pub fn resolve_no_symlinks(root: &Path, rel: &Path) -> Result<Option<PathBuf>, String> {
    let mut walk = root.to_path_buf();
    for c in rel.components() {
        walk.push(c);
        match fs::symlink_metadata(&walk) {
            Err(_) => return Ok(None),
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "{}: a symlink in the build context cannot be used here",
                    rel.display()
                ))
            }
            Ok(_) => {}
        }
    }
    Ok(Some(walk))
}

/// Expands one source pattern in `root` to the relative paths it names (sorted). Parent
/// components are never symlinks followed out of the root.
pub fn expand_source(root: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let rel = clean_rel(pattern)
        .ok_or_else(|| format!("forbidden path outside the build context: {pattern}"))?;
    let mut found = vec![PathBuf::new()];
    let comps: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    for comp in &comps {
        let wild = comp.contains(['*', '?', '[']);
        let mut next = Vec::new();
        for base in &found {
            let dir = root.join(base);
            if fs::symlink_metadata(&dir)
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false)
            {
                continue; // never walk through a symlink
            }
            if wild {
                let Ok(rd) = fs::read_dir(&dir) else { continue };
                let mut names: Vec<String> = rd
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| glob_match(comp, n))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| base.join(n)));
            } else {
                let p = base.join(comp);
                if fs::symlink_metadata(root.join(&p)).is_ok() {
                    next.push(p);
                }
            }
        }
        found = next;
    }
    if found.is_empty() {
        return Err(if pattern.contains(['*', '?', '[']) {
            format!("no source files were specified (pattern {pattern} matched nothing)")
        } else {
            format!("\"{pattern}\": not found")
        });
    }
    Ok(found)
}

/// Who gets the copied files (`--chown`), and their mode (`--chmod`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Owner {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub mode: Option<u32>,
}

/// Copies `src` (file, symlink or directory tree) to `dst` (which must not exist).
pub fn copy_tree(src: &Path, dst: &Path, own: Owner) -> io::Result<()> {
    let md = fs::symlink_metadata(src)?;
    let ft = md.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(src)?;
        std::os::unix::fs::symlink(&target, dst)?;
    } else if ft.is_dir() {
        fs::create_dir(dst)?;
        let mut names: Vec<_> = fs::read_dir(src)?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            copy_tree(&src.join(&n), &dst.join(&n), own)?;
        }
    } else if ft.is_file() {
        fs::copy(src, dst)?;
    } else {
        return Ok(()); // sockets, devices, fifos: docker skips them in contexts too
    }
    let uid = own.uid.unwrap_or(md.uid());
    let gid = own.gid.unwrap_or(md.gid());
    rustix::fs::chownat(
        rustix::fs::CWD,
        dst,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )?;
    if !ft.is_symlink() {
        let mode = own.mode.unwrap_or(md.mode() & 0o7777);
        fs::set_permissions(dst, fs::Permissions::from_mode(mode))?;
        let t = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: md.atime(),
                tv_nsec: 0,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: md.mtime(),
                tv_nsec: 0,
            },
        };
        let _ = rustix::fs::utimensat(
            rustix::fs::CWD,
            dst,
            &t,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        );
    }
    Ok(())
}

/// Makes `rel` (a directory path) inside `stage`, each new component taking the metadata the
/// image has at that path (`image_root`), else root-owned 0755.
pub fn make_parents(stage: &Path, image_root: &Path, rel: &Path) -> io::Result<()> {
    let mut cur = PathBuf::new();
    for c in rel.components() {
        cur.push(c);
        let here = stage.join(&cur);
        if fs::symlink_metadata(&here).is_ok() {
            continue;
        }
        fs::create_dir(&here)?;
        let (mode, uid, gid) = match fs::symlink_metadata(image_root.join(&cur)) {
            Ok(m) if m.is_dir() => (m.mode() & 0o7777, m.uid(), m.gid()),
            _ => (0o755, 0, 0),
        };
        fs::set_permissions(&here, fs::Permissions::from_mode(mode))?;
        rustix::fs::chown(
            &here,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        )?;
    }
    Ok(())
}

/// A content hash of what a COPY reads (paths, types, modes, owners, bytes, link targets):
/// the cache key part that makes a changed file re-run the step, and nothing else.
pub fn hash_sources(root: &Path, rels: &[PathBuf]) -> io::Result<String> {
    let mut h = Digester::new();
    let mut seen = BTreeSet::new();
    fn walk(
        h: &mut Digester,
        root: &Path,
        rel: &Path,
        seen: &mut BTreeSet<PathBuf>,
    ) -> io::Result<()> {
        if !seen.insert(rel.to_path_buf()) {
            return Ok(());
        }
        let p = root.join(rel);
        let md = fs::symlink_metadata(&p)?;
        h.update(rel.as_os_str().as_encoded_bytes());
        h.update(&[0]);
        h.update(format!("{:o}:{}:{}", md.mode(), md.uid(), md.gid()).as_bytes());
        let ft = md.file_type();
        if ft.is_symlink() {
            h.update(fs::read_link(&p)?.as_os_str().as_encoded_bytes());
        } else if ft.is_file() {
            let mut f = fs::File::open(&p)?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = io::Read::read(&mut f, &mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
        } else if ft.is_dir() {
            let mut names: Vec<_> = fs::read_dir(&p)?.flatten().map(|e| e.file_name()).collect();
            names.sort();
            for n in names {
                walk(h, root, &rel.join(n), seen)?;
            }
        }
        h.update(&[0xff]);
        Ok(())
    }
    for r in rels {
        walk(&mut h, root, r, &mut seen)?;
    }
    Ok(h.finish().hex().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_go() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "a.txt.bak"));
        assert!(glob_match("file?.md", "file1.md"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[!a-c]x", "bx"));
        assert!(glob_match("\\*", "*"));
    }

    #[test]
    fn paths_stay_inside() {
        assert_eq!(clean_rel("/a/./b/../c").unwrap(), PathBuf::from("a/c"));
        assert!(clean_rel("../x").is_none());
        assert!(clean_rel("a/../../x").is_none());
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("a.txt"), "1").unwrap();
        fs::write(d.path().join("b.txt"), "2").unwrap();
        fs::create_dir(d.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("/etc", d.path().join("link")).unwrap();
        assert_eq!(expand_source(d.path(), "*.txt").unwrap().len(), 2);
        assert!(expand_source(d.path(), "../etc/passwd")
            .unwrap_err()
            .contains("outside"));
        // A symlink is a source itself, never a way through.
        assert!(expand_source(d.path(), "link/passwd").is_err());
        assert!(expand_source(d.path(), "nope")
            .unwrap_err()
            .contains("not found"));
        let h1 = hash_sources(d.path(), &[PathBuf::from("a.txt")]).unwrap();
        fs::write(d.path().join("a.txt"), "changed").unwrap();
        assert_ne!(
            h1,
            hash_sources(d.path(), &[PathBuf::from("a.txt")]).unwrap()
        );
    }
}
