//! Host devices in a container: `--device HOST[:CONTAINER[:PERMS]]` and, with
//! `--privileged`, every device node of the host's `/dev` (as docker and runc do).
//!
//! A device is described to libcontainer by type and numbers (`linux.devices`), which it
//! `mknod`s in the container's fresh `/dev` tmpfs; the cgroup device controller gets a
//! matching allow rule with the requested permissions.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::config::DeviceMapping;
use crate::error::{Error, Result};

/// Directories of the host's /dev that hold no devices of the host's own to pass on:
/// per-mount instances (pts, shm, mqueue) and bookkeeping (runc skips the same ones).
const SKIP_DIRS: &[&str] = &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];

/// One device node as the OCI spec describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Path in the container.
    pub path: String,
    /// `c` or `b`.
    pub kind: char,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Node {
    pub fn spec(&self) -> Value {
        json!({
            "path": self.path, "type": self.kind.to_string(), "major": self.major,
            "minor": self.minor, "fileMode": self.mode & 0o7777, "uid": self.uid, "gid": self.gid,
        })
    }

    pub fn rule(&self, access: &str) -> Value {
        json!({"allow": true, "type": self.kind.to_string(), "major": self.major,
               "minor": self.minor, "access": access})
    }
}

/// The device node at `host` (following symlinks, as docker does for `/dev/disk/by-id/…`),
/// to appear at `path` in the container. `None` for anything that is not a device.
fn node_at(host: &Path, path: String) -> std::io::Result<Option<Node>> {
    let md = std::fs::metadata(host)?;
    let ft = md.file_type();
    let kind = if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else {
        return Ok(None);
    };
    let rdev = md.rdev();
    Ok(Some(Node {
        path,
        kind,
        major: rustix::fs::major(rdev) as u64,
        minor: rustix::fs::minor(rdev) as u64,
        mode: md.mode(),
        uid: md.uid(),
        gid: md.gid(),
    }))
}

/// Every device under the host directory `dir`, placed under `dest` in the container.
fn nodes_under(dir: &Path, dest: &str, top: bool, out: &mut Vec<Node>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let Ok(ft) = e.file_type() else { continue };
        let path = format!("{}/{name}", dest.trim_end_matches('/'));
        if ft.is_dir() {
            if top && SKIP_DIRS.contains(&name.as_ref()) {
                continue;
            }
            nodes_under(&e.path(), &path, false, out)?;
        } else if ft.is_char_device() || ft.is_block_device() {
            if top && name == "console" {
                continue; // the container's console is its own (a pty or nothing)
            }
            if let Some(n) = node_at(&e.path(), path)? {
                out.push(n);
            }
        }
    }
    Ok(())
}

/// Checks `--device` permissions: a non-empty combination of `r`, `w` and `m`.
pub fn check_perms(p: &str) -> Result<()> {
    if p.is_empty() || !p.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(Error::InvalidConfig(format!("invalid device mode: {p}")));
    }
    Ok(())
}

/// The nodes and cgroup rules for a container: the host's whole /dev when privileged (the
/// cgroup then allows everything already), plus each `--device`.
pub fn resolve(privileged: bool, mappings: &[DeviceMapping]) -> Result<(Vec<Node>, Vec<Value>)> {
    resolve_in(Path::new("/dev"), privileged, mappings)
}

fn resolve_in(
    host_dev: &Path,
    privileged: bool,
    mappings: &[DeviceMapping],
) -> Result<(Vec<Node>, Vec<Value>)> {
    let mut nodes = Vec::new();
    let mut rules = Vec::new();
    if privileged {
        nodes_under(host_dev, "/dev", true, &mut nodes).map_err(|e| {
            Error::InvalidConfig(format!("error gathering the host's devices: {e}"))
        })?;
    }
    for m in mappings {
        let perms = if m.perms.is_empty() { "rwm" } else { &m.perms };
        check_perms(perms)?;
        let dest = if m.container.is_empty() {
            &m.host
        } else {
            &m.container
        };
        if !dest.starts_with("/dev/") {
            return Err(Error::InvalidConfig(format!(
                "{dest} is not an absolute path under /dev"
            )));
        }
        let gather = |e: std::io::Error| {
            Error::InvalidConfig(format!(
                "error gathering device information while adding custom device {:?}: {e}",
                m.host
            ))
        };
        let host = PathBuf::from(&m.host);
        let mut found = Vec::new();
        if std::fs::metadata(&host).map_err(gather)?.is_dir() {
            nodes_under(&host, dest, false, &mut found).map_err(gather)?;
        } else {
            match node_at(&host, dest.clone()).map_err(gather)? {
                Some(n) => found.push(n),
                None => {
                    return Err(Error::InvalidConfig(format!(
                        "error gathering device information while adding custom device {:?}: not a device node",
                        m.host
                    )))
                }
            }
        }
        for n in found {
            rules.push(n.rule(perms));
            nodes.retain(|o: &Node| o.path != n.path);
            nodes.push(n);
        }
    }
    Ok((nodes, rules))
}

/// docker's `--device-cgroup-rule`: `TYPE MAJOR:MINOR ACCESS` with TYPE `a`, `b` or `c`,
/// numbers or `*`, ACCESS a combination of r, w and m.
pub fn parse_cgroup_rule(rule: &str) -> Result<Value> {
    let bad = || Error::InvalidConfig(format!("invalid device cgroup rule {rule:?}"));
    let f: Vec<&str> = rule.split_whitespace().collect();
    let [kind, nums, access] = f.as_slice() else {
        return Err(bad());
    };
    if !matches!(*kind, "a" | "b" | "c") {
        return Err(bad());
    }
    check_perms(access).map_err(|_| bad())?;
    let (maj, min) = nums.split_once(':').ok_or_else(bad)?;
    let num = |n: &str| -> Result<Option<u64>> {
        if n == "*" {
            Ok(None)
        } else {
            n.parse().map(Some).map_err(|_| bad())
        }
    };
    let mut r = json!({"allow": true, "type": kind, "access": access});
    if let Some(m) = num(maj)? {
        r["major"] = json!(m);
    }
    if let Some(m) = num(min)? {
        r["minor"] = json!(m);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(h: &str, c: &str, p: &str) -> DeviceMapping {
        DeviceMapping {
            host: h.into(),
            container: c.into(),
            perms: p.into(),
        }
    }

    #[test]
    fn a_device_keeps_its_numbers_and_takes_a_new_path() {
        let (nodes, rules) = resolve(false, &[map("/dev/null", "/dev/mynull", "rw")]).unwrap();
        assert_eq!(nodes.len(), 1);
        let n = &nodes[0];
        assert_eq!(
            (n.path.as_str(), n.kind, n.major, n.minor),
            ("/dev/mynull", 'c', 1, 3)
        );
        assert_eq!(rules[0]["access"], "rw");
        assert_eq!(rules[0]["major"], 1);
    }

    #[test]
    fn bad_devices_are_refused_clearly() {
        let e = resolve(false, &[map("/dev/nope-wharf", "", "")]).unwrap_err();
        assert!(
            e.to_string().contains("error gathering device information"),
            "{e}"
        );
        let e = resolve(false, &[map("/etc/hostname", "/dev/h", "")]).unwrap_err();
        assert!(e.to_string().contains("not a device node"), "{e}");
        let e = resolve(false, &[map("/dev/null", "/dev/x", "rx")]).unwrap_err();
        assert!(e.to_string().contains("invalid device mode"), "{e}");
        let e = resolve(false, &[map("/dev/null", "/etc/x", "")]).unwrap_err();
        assert!(e.to_string().contains("under /dev"), "{e}");
    }

    #[test]
    fn cgroup_rules() {
        let r = parse_cgroup_rule("c 1:3 rw").unwrap();
        assert_eq!(
            r,
            json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"})
        );
        let r = parse_cgroup_rule("b *:* m").unwrap();
        assert_eq!(r, json!({"allow": true, "type": "b", "access": "m"}));
        for bad in ["c", "x 1:3 r", "c 1:3 rx", "c 1 r", "c a:3 r"] {
            assert!(parse_cgroup_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn privileged_takes_the_host_dev_but_not_pts_or_console() {
        let (nodes, rules) = resolve(true, &[]).unwrap();
        assert!(rules.is_empty());
        assert!(nodes.iter().any(|n| n.path == "/dev/null"));
        assert!(nodes.iter().all(|n| !n.path.starts_with("/dev/pts/")));
        assert!(nodes.iter().all(|n| n.path != "/dev/console"));
    }
}
