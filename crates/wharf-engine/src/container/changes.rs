//! What a container changed: its write layer (`upper/`) read against the image's snapshots.
//! `docker diff` lists it ([`changes`]); `docker commit` packs it as a layer ([`layer_tar`]).
//!
//! The upper dir is container-made content: it is walked with fd-relative, non-following
//! calls only (a directory is descended into through `openat(O_NOFOLLOW)`), and the lower
//! dirs are only stat'ed beneath their root with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};
use serde::Serialize;

use super::fs::{is_opaque, is_whiteout, TarWriter};

/// One line of `GET /containers/{id}/changes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    #[serde(rename = "Path")]
    pub path: String,
    /// 0 modified, 1 added, 2 deleted.
    #[serde(rename = "Kind")]
    pub kind: u8,
}

pub const MODIFIED: u8 = 0;
pub const ADDED: u8 = 1;
pub const DELETED: u8 = 2;

fn open_dir(p: &Path) -> io::Result<OwnedFd> {
    Ok(rfs::open(
        p,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// What the runtime itself puts in the write layer (mount targets for /etc/hosts & co, the
/// kernel filesystems, `--init`'s binary): docker keeps these in a separate "init" layer, so
/// they are neither changes nor committed.
pub fn is_init_path(rel: &str) -> bool {
    let rel = rel.trim_start_matches('/').trim_end_matches('/');
    let top = rel.split('/').next().unwrap_or("");
    matches!(top, "dev" | "proc" | "sys" | ".dockerenv")
        || matches!(
            rel,
            "etc/hosts" | "etc/hostname" | "etc/resolv.conf" | "sbin/docker-init"
        )
}

/// `rel` as the image has it (lower dirs, top-most first), honouring the whiteouts and
/// opaque directories of the image's own layers, as overlayfs would.
fn in_lowers(lowers: &[OwnedFd], rel: &str) -> Option<Stat> {
    let parts: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    for l in lowers {
        let Ok(mut dir) = rfs::openat(
            l,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            continue;
        };
        let mut opaque = false;
        for (i, comp) in parts.iter().enumerate() {
            let st = match rfs::statat(&dir, *comp, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(_) if opaque => return None,
                Err(_) => break, // not in this layer: look lower
            };
            if is_whiteout(&st) {
                return None;
            }
            if i + 1 == parts.len() {
                return Some(st);
            }
            if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                return None; // a non-directory hides everything beneath it
            }
            match rfs::openat(
                &dir,
                *comp,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => {
                    opaque |= is_opaque(fd.as_fd());
                    dir = fd;
                }
                Err(_) => return None,
            }
        }
    }
    None
}

/// docker's `ChangesDirs` for an overlay upper dir: sorted by path. A directory the image
/// has is reported modified only when something beneath it changed or its mode or owner did
/// (copy-up alone, e.g. for a mount target, is not a change).
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> io::Result<Vec<Change>> {
    let mut out = Vec::new();
    let root = match open_dir(upper) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    let lowers: Vec<OwnedFd> = lowers.iter().filter_map(|p| open_dir(p).ok()).collect();
    walk(root.as_fd(), "", &lowers, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(
    dir: BorrowedFd<'_>,
    prefix: &str,
    lowers: &[OwnedFd],
    out: &mut Vec<Change>,
) -> io::Result<()> {
    let d = rfs::Dir::read_from(dir)?;
    let mut names = Vec::new();
    for e in d {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    names.sort();
    for n in names {
        let name = String::from_utf8_lossy(&n).into_owned();
        let rel = format!("{prefix}/{name}");
        if is_init_path(&rel) {
            continue;
        }
        let st = rfs::statat(dir, OsStr::from_bytes(&n), AtFlags::SYMLINK_NOFOLLOW)?;
        if is_whiteout(&st) {
            out.push(Change {
                path: rel,
                kind: DELETED,
            });
            continue;
        }
        let lower = in_lowers(lowers, &rel);
        let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        if !is_dir {
            let kind = if lower.is_some() { MODIFIED } else { ADDED };
            out.push(Change { path: rel, kind });
            continue;
        }
        let at = out.len();
        let fd = rfs::openat(
            dir,
            OsStr::from_bytes(&n),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        walk(fd.as_fd(), &rel, lowers, out)?;
        let kind = match &lower {
            None => Some(ADDED),
            Some(_) if out.len() > at => Some(MODIFIED),
            Some(l)
                if l.st_mode != st.st_mode
                    || l.st_uid != st.st_uid
                    || l.st_gid != st.st_gid
                    || is_opaque(fd.as_fd()) =>
            {
                Some(MODIFIED)
            }
            Some(_) => None,
        };
        if let Some(kind) = kind {
            out.push(Change { path: rel, kind });
        }
    }
    Ok(())
}

/// The write layer as an OCI layer tar written to `out`: entries sorted, deterministic
/// headers, overlay whiteouts as `.wh.NAME`, opaque directories with `.wh..wh..opq`.
pub fn layer_tar(upper: &Path, out: File) -> io::Result<File> {
    layer_tar_clamped(upper, out, None)
}

/// [`layer_tar`] with modification times clamped to `clamp` seconds (builds).
pub fn layer_tar_clamped(upper: &Path, out: File, clamp: Option<u64>) -> io::Result<File> {
    let root = match open_dir(upper) {
        Ok(fd) => Some(fd),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let mut w = TarWriter::new(io::BufWriter::new(out));
    w.oci_whiteouts = true;
    w.exclude = Some(is_init_path);
    w.clamp_mtime = clamp;
    if let Some(root) = root {
        w.append(root.as_fd(), ".", "")?;
    }
    let mut f = w.finish()?.into_inner().map_err(|e| e.into_error())?;
    f.flush()?;
    Ok(f)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lists_added_modified_and_deleted() {
        let t = tempfile::tempdir().unwrap();
        let lower = t.path().join("lower");
        let upper = t.path().join("upper");
        std::fs::create_dir_all(lower.join("tmp")).unwrap();
        std::fs::create_dir_all(lower.join("bin")).unwrap();
        std::fs::write(lower.join("bin/false"), "x").unwrap();
        std::fs::create_dir_all(upper.join("tmp")).unwrap();
        std::fs::write(upper.join("tmp/x"), "y").unwrap();
        std::fs::create_dir_all(upper.join("bin")).unwrap();
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::create_dir_all(lower.join("etc")).unwrap();
        std::fs::write(upper.join("etc/hosts"), "").unwrap();
        std::fs::create_dir_all(upper.join("proc")).unwrap();
        // A whiteout: char device 0:0 (needs root, as the daemon is).
        rfs::mknodat(
            rfs::CWD,
            upper.join("bin/false").as_path(),
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let c = changes(&upper, &[lower]).unwrap();
        let lines: Vec<(String, u8)> = c.into_iter().map(|c| (c.path, c.kind)).collect();
        assert_eq!(
            lines,
            vec![
                ("/bin".into(), MODIFIED),
                ("/bin/false".into(), DELETED),
                ("/tmp".into(), MODIFIED),
                ("/tmp/x".into(), ADDED),
            ]
        );
        let tmp = tempfile::tempfile().unwrap();
        let mut f = layer_tar(&upper, tmp).unwrap();
        use std::io::{Read, Seek};
        f.rewind().unwrap();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        let mut ar = tar::Archive::new(&bytes[..]);
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            vec!["bin/", "bin/.wh.false", "etc/", "tmp/", "tmp/x"]
        );
    }
}
