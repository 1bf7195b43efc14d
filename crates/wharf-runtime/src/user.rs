//! Docker's `-u` user spec resolved against the container's own `/etc/passwd` and
//! `/etc/group`.
//!
//! The files are opened with `openat2(RESOLVE_IN_ROOT)` relative to the rootfs, so a
//! symlinked `/etc/passwd` in an image resolves inside the image and never reaches the
//! host; and no libc NSS (getpwnam) or container code runs on the host (CVE-2019-14271).

use std::io::Read;
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::error::{Error, Result};

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups from `/etc/group` membership.
    pub additional_gids: Vec<u32>,
    /// Home directory from `/etc/passwd`, `/` when unknown.
    pub home: String,
}

/// Read a file of the container root, resolving the path as if `root` were `/`.
/// Returns `None` when it does not exist. Reads at most 4 MiB.
pub fn read_in_root(root: &Path, path: &str) -> Result<Option<String>> {
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open rootfs", root, e.into()))?;
    let fd = match rustix::fs::openat2(
        &dir,
        path.trim_start_matches('/'),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => {
            return Err(Error::io(
                "open in container root",
                root.join(path.trim_start_matches('/')),
                e.into(),
            ))
        }
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::io("stat", path, e.into()))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(Error::User {
            user: String::new(),
            reason: format!("{path} is not a regular file"),
        });
    }
    let mut s = String::new();
    std::fs::File::from(fd)
        .take(4 << 20)
        .read_to_string(&mut s)
        .map_err(|e| Error::io("read", path, e))?;
    Ok(Some(s))
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn parse_passwd(s: &str) -> Vec<PasswdEntry> {
    s.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

/// (name, gid, members)
fn parse_group(s: &str) -> Vec<(String, u32, Vec<String>)> {
    s.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            let members = f[3]
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect();
            Some((f[0].to_string(), f[2].parse().ok()?, members))
        })
        .collect()
}

/// Resolve docker's `user[:group]` (names or numbers; empty = root) inside `root`.
pub fn resolve(root: &Path, spec: &str) -> Result<ResolvedUser> {
    let err = |reason: String| Error::User {
        user: spec.to_string(),
        reason,
    };
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let passwd = parse_passwd(&read_in_root(root, "/etc/passwd")?.unwrap_or_default());
    let groups = parse_group(&read_in_root(root, "/etc/group")?.unwrap_or_default());

    let entry = match user_part.parse::<u32>() {
        Ok(uid) => passwd.iter().find(|p| p.uid == uid),
        Err(_) => Some(passwd.iter().find(|p| p.name == user_part).ok_or_else(|| {
            err(format!(
                "no matching entries in passwd file for {user_part:?}"
            ))
        })?),
    };
    let uid = match user_part.parse::<u32>() {
        Ok(uid) => uid,
        Err(_) => entry.map(|e| e.uid).unwrap_or(0),
    };
    let mut gid = entry.map(|e| e.gid).unwrap_or(0);
    if let Some(g) = group_part.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .iter()
                .find(|(name, _, _)| name == g)
                .map(|(_, gid, _)| *gid)
                .ok_or_else(|| err(format!("no matching entries in group file for {g:?}")))?,
        };
    }
    let mut additional_gids = Vec::new();
    if group_part.is_none() {
        if let Some(e) = entry {
            for (_, g, members) in &groups {
                if members.iter().any(|m| m == &e.name) && *g != gid && !additional_gids.contains(g)
                {
                    additional_gids.push(*g);
                }
            }
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home: entry
            .map(|e| e.home.clone())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "/".into()),
    })
}

/// docker's `--group-add`: each entry a group name of the container's /etc/group or a
/// number; added to the process's supplementary groups (no duplicates).
pub fn add_groups(root: &Path, user: &mut ResolvedUser, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let groups = parse_group(&read_in_root(root, "/etc/group")?.unwrap_or_default());
    for n in names {
        let gid = match n.parse::<u32>() {
            Ok(g) => g,
            Err(_) => groups
                .iter()
                .find(|(name, _, _)| name == n)
                .map(|(_, g, _)| *g)
                .ok_or_else(|| {
                    Error::InvalidConfig(format!(
                        "Unable to find group {n}: no matching entries in group file"
                    ))
                })?,
        };
        if !user.additional_gids.contains(&gid) {
            user.additional_gids.push(gid);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn root() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nwheel:x:10:app\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn forms() {
        let d = root();
        let r = resolve(d.path(), "").unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (0, 0, "/root"));
        let r = resolve(d.path(), "app").unwrap();
        assert_eq!(
            (r.uid, r.gid, r.additional_gids.clone()),
            (1000, 1000, vec![10])
        );
        let r = resolve(d.path(), "4242").unwrap();
        assert_eq!((r.uid, r.gid), (4242, 0));
        let r = resolve(d.path(), "4242:77").unwrap();
        assert_eq!((r.uid, r.gid), (4242, 77));
        let r = resolve(d.path(), "nobody:wheel").unwrap();
        assert_eq!((r.uid, r.gid), (65534, 10));
        assert!(resolve(d.path(), "ghost").is_err());
        assert!(resolve(d.path(), "app:ghosts").is_err());
    }

    #[test]
    fn passwd_symlink_stays_in_root() {
        // An image whose /etc/passwd points at the host's must read its own root instead.
        let d = root();
        std::fs::remove_file(d.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink(
            "/etc/../../etc/shadow-does-not-exist-here",
            d.path().join("etc/passwd"),
        )
        .unwrap();
        let r = resolve(d.path(), "").unwrap();
        assert_eq!(r.uid, 0);
        std::fs::remove_file(d.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/../../../../etc/hostname", d.path().join("etc/passwd"))
            .unwrap();
        // resolves to <root>/etc/hostname, which does not exist: no entries, not the host file
        assert!(resolve(d.path(), "root").is_err());
    }
}
