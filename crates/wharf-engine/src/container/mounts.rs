//! A container's mounts: `HostConfig.Binds`, `HostConfig.Mounts`, `HostConfig.VolumesFrom`
//! and the image's `Config.Volumes`, resolved at create into [`MountPoint`]s (moby's
//! `registerMountPoints`): named volumes are created on first use, each `VOLUME` path not
//! covered by another mount gets an anonymous volume, and a new, empty volume is filled with
//! what the image has at that path ([`copy_up`], unless `nocopy`).
//!
//! The runtime mounts them (see `Daemon::shim_spec`); destinations are resolved inside the
//! container root by libcontainer (pathrs, `openat2(RESOLVE_IN_ROOT)`, `move_mount` onto the
//! resolved fd), so an image symlink cannot redirect a mount onto the host (CVE-2021-30465).

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use bollard_stubs::models::{ContainerConfig, HostConfig, MountTypeEnum};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use wharf_types::ErrorKind;

use crate::api::ApiError;
use crate::state::Daemon;

/// One mount of a container, as recorded and as `inspect` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    /// "volume", "bind" or "tmpfs".
    pub typ: String,
    /// Volume name ("" for binds and tmpfs).
    pub name: String,
    /// Host path of a bind ("" otherwise; a volume's is its mountpoint).
    pub source: String,
    pub destination: String,
    pub driver: String,
    /// The mode as docker shows it ("z", "ro", "" …).
    pub mode: String,
    pub rw: bool,
    pub propagation: String,
    /// Made for this container (image `VOLUME`, `-v /path`): removed by `rm -v`.
    pub anonymous: bool,
    pub no_copy: bool,
    /// tmpfs options (`size=…,mode=…`).
    pub tmpfs_options: String,
}

impl MountPoint {
    /// Docker's `MountPoint` object.
    pub fn to_json(&self, d: &Daemon) -> Value {
        let source = if self.typ == "volume" {
            d.volumes.mountpoint(&self.name).display().to_string()
        } else {
            self.source.clone()
        };
        let mut v = json!({
            "Type": self.typ,
            "Source": source,
            "Destination": self.destination,
            "Mode": self.mode,
            "RW": self.rw,
            "Propagation": self.propagation,
        });
        if self.typ == "volume" {
            v["Name"] = json!(self.name);
            v["Driver"] = json!(self.driver);
        }
        v
    }
}

fn invalid_spec(spec: &str, typ: &str, why: &str) -> ApiError {
    ApiError::invalid(format!(
        "invalid volume specification: '{spec}': invalid mount config for type \"{typ}\": {why}"
    ))
}

fn check_dest(dest: &str) -> Result<String, String> {
    if !dest.starts_with('/') {
        return Err(format!(
            "invalid mount path: '{dest}' mount path must be absolute"
        ));
    }
    if dest.split('/').any(|c| c == "..") {
        return Err(format!("invalid mount path: '{dest}'"));
    }
    // Clean like Go's filepath.Clean: no trailing or doubled slashes.
    let clean: Vec<&str> = dest
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    Ok(format!("/{}", clean.join("/")))
}

const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// One `HostConfig.Binds` entry: `name:/path[:mode]`, `/host:/path[:mode]` or `/path`.
fn parse_bind(spec: &str) -> Result<MountPoint, ApiError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => {
            return Err(ApiError::invalid(format!(
                "invalid volume specification: '{spec}'"
            )))
        }
    };
    let typ = if src.starts_with('/') {
        "bind"
    } else {
        "volume"
    };
    let destination = check_dest(dst).map_err(|why| invalid_spec(spec, typ, &why))?;
    let mut m = MountPoint {
        typ: typ.into(),
        destination,
        rw: true,
        ..Default::default()
    };
    let mut propagation = String::new();
    for o in mode.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => m.rw = false,
            "rw" => m.rw = true,
            "nocopy" => m.no_copy = true,
            "z" | "Z" | "cached" | "delegated" | "consistent" => {}
            p if PROPAGATIONS.contains(&p) => propagation = p.to_string(),
            _ => return Err(ApiError::invalid(format!("invalid mode: {mode}"))),
        }
    }
    m.mode = mode.to_string();
    if typ == "bind" {
        m.source = check_dest(src).map_err(|why| invalid_spec(spec, typ, &why))?;
        m.propagation = if propagation.is_empty() {
            "rprivate".into()
        } else {
            propagation
        };
    } else {
        if !src.is_empty() {
            crate::volume::validate_name(src)?;
        }
        m.name = src.to_string();
        m.anonymous = src.is_empty();
        m.driver = "local".into();
        if m.mode.is_empty() && !m.anonymous {
            m.mode = "z".into();
        }
    }
    Ok(m)
}

/// One `HostConfig.Mounts` entry (`--mount`).
fn parse_mount(m: &bollard_stubs::models::Mount) -> Result<MountPoint, ApiError> {
    let typ = match m.typ {
        Some(MountTypeEnum::BIND) => "bind",
        Some(MountTypeEnum::VOLUME) => "volume",
        Some(MountTypeEnum::TMPFS) => "tmpfs",
        Some(ref t) => {
            return Err(ApiError::invalid(format!(
                "invalid mount config: mount type unknown: {t:?}"
            )))
        }
        None => {
            return Err(ApiError::invalid(
                "invalid mount config: mount type unknown",
            ))
        }
    };
    let bad =
        |why: String| ApiError::invalid(format!("invalid mount config for type \"{typ}\": {why}"));
    let target = m.target.clone().unwrap_or_default();
    if target.is_empty() {
        return Err(bad("field Target must not be empty".into()));
    }
    let destination = check_dest(&target).map_err(bad)?;
    let source = m.source.clone().unwrap_or_default();
    let rw = !m.read_only.unwrap_or(false);
    let mut out = MountPoint {
        typ: typ.into(),
        destination,
        rw,
        ..Default::default()
    };
    match typ {
        "bind" => {
            if source.is_empty() {
                return Err(bad("field Source must not be empty".into()));
            }
            let src = check_dest(&source).map_err(bad)?;
            if std::fs::metadata(&src).is_err() {
                return Err(bad(format!("bind source path does not exist: {src}")));
            }
            out.source = src;
            out.propagation = m
                .bind_options
                .as_ref()
                .and_then(|b| b.propagation)
                .map(|p| p.to_string())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "rprivate".into());
        }
        "volume" => {
            if !source.is_empty() {
                crate::volume::validate_name(&source)?;
            }
            out.name = source.clone();
            out.anonymous = source.is_empty();
            out.driver = "local".into();
            out.mode = "z".into();
            out.no_copy = m
                .volume_options
                .as_ref()
                .and_then(|v| v.no_copy)
                .unwrap_or(false);
        }
        _ => {
            if !source.is_empty() {
                return Err(bad("field Source must not be specified".into()));
            }
            let mut opts = Vec::new();
            if let Some(t) = &m.tmpfs_options {
                if let Some(s) = t.size_bytes.filter(|s| *s > 0) {
                    opts.push(format!("size={s}"));
                }
                if let Some(mode) = t.mode.filter(|m| *m > 0) {
                    opts.push(format!("mode={mode:o}"));
                }
            }
            if !rw {
                opts.push("ro".into());
            }
            out.tmpfs_options = opts.join(",");
        }
    }
    Ok(out)
}

/// Resolves every mount of a new container and creates the volumes it names. Returns the
/// mount points and the names of the volumes created now (to fill and, on failure, remove).
pub fn resolve(
    d: &Daemon,
    config: &ContainerConfig,
    h: &HostConfig,
) -> Result<(Vec<MountPoint>, Vec<String>), ApiError> {
    let mut user: Vec<MountPoint> = Vec::new();
    let add = |m: MountPoint, user: &mut Vec<MountPoint>| -> Result<(), ApiError> {
        if user.iter().any(|u| u.destination == m.destination) {
            return Err(ApiError::invalid(format!(
                "Duplicate mount point: {}",
                m.destination
            )));
        }
        user.push(m);
        Ok(())
    };
    for b in h.binds.iter().flatten() {
        add(parse_bind(b)?, &mut user)?;
    }
    for m in h.mounts.iter().flatten() {
        add(parse_mount(m)?, &mut user)?;
    }
    let mut all: BTreeMap<String, MountPoint> = BTreeMap::new();
    // VolumesFrom first: the container's own mounts override them by destination.
    for vf in h.volumes_from.iter().flatten() {
        let (name, mode) = match vf.rsplit_once(':') {
            Some((n, m)) if matches!(m, "ro" | "rw" | "z" | "Z") => (n, m),
            _ => (vf.as_str(), ""),
        };
        let other = d.containers.resolve(name)?;
        for mut m in other.mounts {
            match mode {
                "ro" => m.rw = false,
                "rw" => m.rw = true,
                _ => {}
            }
            m.anonymous = false;
            all.insert(m.destination.clone(), m);
        }
    }
    for m in user {
        all.insert(m.destination.clone(), m);
    }
    let tmpfs: Vec<String> = h
        .tmpfs
        .iter()
        .flatten()
        .map(|(k, _)| check_dest(k).map_err(ApiError::invalid))
        .collect::<Result<_, _>>()?;
    for v in config.volumes.iter().flatten() {
        let dest = check_dest(v).map_err(|why| invalid_spec(v, "volume", &why))?;
        if all.contains_key(&dest) || tmpfs.contains(&dest) {
            continue;
        }
        all.insert(
            dest.clone(),
            MountPoint {
                typ: "volume".into(),
                destination: dest,
                driver: "local".into(),
                rw: true,
                anonymous: true,
                ..Default::default()
            },
        );
    }
    let mut created = Vec::new();
    let mut out: Vec<MountPoint> = all.into_values().collect();
    let res = (|| {
        for m in out.iter_mut().filter(|m| m.typ == "volume") {
            let labels = BTreeMap::new();
            let name = (!m.name.is_empty()).then_some(m.name.as_str());
            let (v, new) = d.volumes.create(name, None, labels, BTreeMap::new())?;
            if new {
                created.push(v.name.clone());
            }
            m.name = v.name;
        }
        // `-v /missing:/x` creates the host directory, as docker does (`--mount` refuses).
        for m in out.iter().filter(|m| m.typ == "bind") {
            if std::fs::symlink_metadata(&m.source).is_err() {
                std::fs::create_dir_all(&m.source).map_err(|e| {
                    ApiError::invalid(format!(
                        "error while creating mount source path '{}': {e}",
                        m.source
                    ))
                })?;
            }
        }
        Ok::<(), ApiError>(())
    })();
    if let Err(e) = res {
        discard(d, &created);
        return Err(e);
    }
    Ok((out, created))
}

/// Removes volumes made for a container that was not created after all.
pub fn discard(d: &Daemon, created: &[String]) {
    for name in created {
        if let Err(e) = d.volumes.remove(name) {
            tracing::warn!(volume = name, error = %e, "failed to remove a volume of a failed create");
        }
    }
}

/// Fills each empty volume of `mounts` (not `nocopy`) with what the image has at its path.
/// `scratch` is a directory of the container where the image's layers may be mounted.
pub fn copy_up(
    d: &Daemon,
    image: &wharf_types::Digest,
    mounts: &[MountPoint],
    scratch: &Path,
) -> Result<(), ApiError> {
    let wanted: Vec<&MountPoint> = mounts
        .iter()
        .filter(|m| m.typ == "volume" && !m.no_copy)
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let lowers = d.images.layer_dirs(image)?;
    let (root, mounted) = match lowers.len() {
        0 => return Ok(()),
        1 => (lowers[0].clone(), false),
        _ => {
            let lowerdir = lowers
                .iter()
                .map(|l| l.display().to_string())
                .collect::<Vec<_>>()
                .join(":");
            std::fs::create_dir_all(scratch)
                .map_err(|e| ApiError::internal(format!("{}: {e}", scratch.display())))?;
            let data = std::ffi::CString::new(format!("lowerdir={lowerdir}"))
                .map_err(|_| ApiError::internal("NUL in a layer path"))?;
            rustix::mount::mount(
                "overlay",
                scratch,
                "overlay",
                rustix::mount::MountFlags::RDONLY,
                Some(data.as_c_str()),
            )
            .map_err(|e| {
                ApiError::internal(format!("failed to mount the image for copy-up: {e}"))
            })?;
            (scratch.to_path_buf(), true)
        }
    };
    let mut result = Ok(());
    for m in wanted {
        let Ok(v) = d.volumes.get(&m.name) else {
            continue;
        };
        let res = d.volumes.ensure_mounted(&v).and_then(|()| {
            let dst = d.volumes.mountpoint(&v.name);
            if std::fs::read_dir(&dst)
                .map(|mut r| r.next().is_some())
                .unwrap_or(true)
            {
                return Ok(());
            }
            let Some(src) = resolve_no_symlinks(&root, &m.destination) else {
                return Ok(());
            };
            copy_tree(&src, &dst).map_err(|e| {
                ApiError::internal(format!(
                    "failed to copy image content into volume {}: {e}",
                    v.name
                ))
            })
        });
        if res.is_err() && result.is_ok() {
            result = res;
        }
    }
    if mounted {
        let _ = rustix::mount::unmount(scratch, rustix::mount::UnmountFlags::DETACH);
        let _ = std::fs::remove_dir(scratch);
    }
    result
}

/// `root/path` when every component is a real directory (never a symlink): image content
/// behind a symlink is not copied, so copy-up never reads outside the image.
fn resolve_no_symlinks(root: &Path, path: &str) -> Option<PathBuf> {
    let mut p = root.to_path_buf();
    for c in Path::new(path).components() {
        if let Component::Normal(n) = c {
            p.push(n);
            let md = std::fs::symlink_metadata(&p).ok()?;
            if !md.is_dir() {
                return None;
            }
        }
    }
    Some(p)
}

/// Copies the contents of `src` into the empty directory `dst`, keeping owners, modes and
/// symlinks (never followed). Whiteouts (0:0 char devices) and other devices are skipped.
fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    let md = std::fs::symlink_metadata(src)?;
    std::os::unix::fs::lchown(dst, Some(md.uid()), Some(md.gid()))?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(md.mode() & 0o7777))?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let (s, t) = (e.path(), dst.join(e.file_name()));
        let md = std::fs::symlink_metadata(&s)?;
        let ft = md.file_type();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&s)?, &t)?;
        } else if ft.is_dir() {
            std::fs::create_dir(&t)?;
            copy_tree(&s, &t)?;
            continue;
        } else if ft.is_file() {
            std::fs::copy(&s, &t)?;
            std::fs::set_permissions(&t, std::fs::Permissions::from_mode(md.mode() & 0o7777))?;
        } else {
            continue;
        }
        std::os::unix::fs::lchown(&t, Some(md.uid()), Some(md.gid()))?;
    }
    Ok(())
}

/// An error for a volume that went away under a container.
pub fn missing_volume(name: &str) -> ApiError {
    ApiError::new(ErrorKind::NotFound, format!("get {name}: no such volume"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_parse_like_docker() {
        let m = parse_bind("data:/srv/data:ro").unwrap();
        assert_eq!(
            (m.typ.as_str(), m.name.as_str(), m.rw),
            ("volume", "data", false)
        );
        let m = parse_bind("/host/dir:/in").unwrap();
        assert_eq!(m.typ, "bind");
        assert_eq!(m.source, "/host/dir");
        assert_eq!(m.propagation, "rprivate");
        let m = parse_bind("data:/d").unwrap();
        assert_eq!(m.mode, "z");
        let e = parse_bind("data:relative").unwrap_err();
        assert!(
            e.message.contains("mount path must be absolute"),
            "{}",
            e.message
        );
        let e = parse_bind("foo/bar:/x").unwrap_err();
        assert!(e.message.contains("includes invalid characters"));
        assert!(parse_bind("../x:/x").is_err());
        assert!(parse_bind("v1:/x/../etc").is_err());
    }

    #[test]
    fn a_missing_bind_source_is_refused_for_mount() {
        let m = bollard_stubs::models::Mount {
            typ: Some(MountTypeEnum::BIND),
            source: Some("/nonexistent-wharf-src".into()),
            target: Some("/x".into()),
            ..Default::default()
        };
        let e = parse_mount(&m).unwrap_err();
        assert_eq!(
            e.message,
            "invalid mount config for type \"bind\": bind source path does not exist: /nonexistent-wharf-src"
        );
    }

    #[test]
    fn tmpfs_mount_options() {
        let m = bollard_stubs::models::Mount {
            typ: Some(MountTypeEnum::TMPFS),
            target: Some("/t".into()),
            tmpfs_options: Some(bollard_stubs::models::MountTmpfsOptions {
                size_bytes: Some(1 << 20),
                mode: Some(0o1777),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            parse_mount(&m).unwrap().tmpfs_options,
            "size=1048576,mode=1777"
        );
    }

    #[test]
    fn copy_tree_keeps_modes_and_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let (s, d) = (t.path().join("s"), t.path().join("d"));
        std::fs::create_dir_all(s.join("sub")).unwrap();
        std::fs::write(s.join("sub/f"), b"hi").unwrap();
        std::fs::set_permissions(s.join("sub/f"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", s.join("link")).unwrap();
        std::fs::create_dir(&d).unwrap();
        copy_tree(&s, &d).unwrap();
        assert_eq!(std::fs::read(d.join("sub/f")).unwrap(), b"hi");
        let md = std::fs::metadata(d.join("sub/f")).unwrap();
        assert_eq!(md.mode() & 0o777, 0o640);
        assert_eq!(
            std::fs::read_link(d.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert!(resolve_no_symlinks(&s, "/link").is_none());
        assert!(resolve_no_symlinks(&s, "/sub").is_some());
    }
}
