//! The container's root filesystem: an overlayfs of the image's snapshot dirs (read-only
//! lower dirs, top-most first) and the container's write layer (`upper/`, persisting
//! across stop/start) mounted at `<state_dir>/rootfs`.

use std::path::{Path, PathBuf};

use rustix::mount::{MountFlags, UnmountFlags};

use crate::error::{Error, Result};

/// Paths of one container under its state dir.
#[derive(Debug, Clone)]
pub struct Layout {
    pub state_dir: PathBuf,
}

impl Layout {
    pub fn new(state_dir: &Path) -> Self {
        Layout {
            state_dir: state_dir.to_path_buf(),
        }
    }
    pub fn bundle(&self) -> PathBuf {
        self.state_dir.join("bundle")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.state_dir.join("rootfs")
    }
    pub fn upper(&self) -> PathBuf {
        self.state_dir.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.state_dir.join("work")
    }
    /// Empty lower dir for `FROM scratch` (overlayfs needs at least one lower).
    pub fn empty(&self) -> PathBuf {
        self.state_dir.join("empty")
    }
}

fn mkdir(p: &Path) -> Result<()> {
    std::fs::create_dir_all(p).map_err(|e| Error::io("create directory", p, e))
}

/// Whether `path` is a mount point (its mount id differs from its parent's).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4) == Some(&want))
}

/// Mount the overlay rootfs (idempotent: an already mounted rootfs is reused).
pub fn mount_overlay(layout: &Layout, lower_dirs: &[PathBuf]) -> Result<PathBuf> {
    let rootfs = layout.rootfs();
    for d in [
        layout.bundle(),
        rootfs.clone(),
        layout.upper(),
        layout.work(),
    ] {
        mkdir(&d)?;
    }
    if is_mounted(&rootfs) {
        return Ok(rootfs);
    }
    let mut lowers: Vec<PathBuf> = lower_dirs.to_vec();
    if lowers.is_empty() {
        mkdir(&layout.empty())?;
        lowers.push(layout.empty());
    }
    for l in &lowers {
        let s = l.to_string_lossy();
        if s.contains(',') || s.contains(':') {
            return Err(Error::InvalidConfig(format!(
                "lower dir {s:?} contains ',' or ':'"
            )));
        }
    }
    let lowerdir = lowers
        .iter()
        .map(|l| l.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowerdir,
        layout.upper().display(),
        layout.work().display()
    );
    // Page-size limit on mount data; many-layer images need the fsconfig "lowerdir+" API.
    if data.len() >= 4096 {
        return Err(Error::InvalidConfig(format!(
            "overlay options too long ({} bytes)",
            data.len()
        )));
    }
    let data = std::ffi::CString::new(data)
        .map_err(|_| Error::InvalidConfig("NUL in overlay options".into()))?;
    rustix::mount::mount(
        "overlay",
        &rootfs,
        "overlay",
        MountFlags::empty(),
        Some(data.as_c_str()),
    )
    .map_err(|e| Error::io("mount overlay at", &rootfs, e.into()))?;
    Ok(rootfs)
}

/// CVE-2026-41579: `/dev`, `/proc` and `/sys` get fresh kernel filesystems mounted on
/// them, so an image must not be able to shape them. Where the image has a symlink or a
/// file there, replace it with an empty directory in the container's write layer. All
/// operations are relative to a directory fd of the rootfs and never follow the entry.
pub fn sanitize_mountpoints(rootfs: &Path) -> Result<()> {
    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    let dir = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open rootfs", rootfs, e.into()))?;
    for name in ["dev", "proc", "sys"] {
        let path = rootfs.join(name);
        match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => continue,
            Ok(_) => {
                tracing::warn!(path = %path.display(), "image has a non-directory here; replacing it with an empty directory");
                rustix::fs::unlinkat(&dir, name, AtFlags::empty())
                    .map_err(|e| Error::io("remove", &path, e.into()))?;
            }
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(Error::io("stat", &path, e.into())),
        }
        rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o755))
            .map_err(|e| Error::io("create", &path, e.into()))?;
    }
    Ok(())
}

/// Unmount the rootfs (lazily: a straggling process must not keep it busy) and remove the
/// runtime's dirs, keeping `upper/` (the engine removes it on `rm`).
pub fn teardown(layout: &Layout) -> Vec<Error> {
    let mut errors = Vec::new();
    let rootfs = layout.rootfs();
    // Loop: a rootfs mounted twice (crash between mount and bookkeeping) is fully removed.
    for _ in 0..8 {
        if !is_mounted(&rootfs) {
            break;
        }
        if let Err(e) =
            rustix::mount::unmount(&rootfs, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW)
        {
            errors.push(Error::io("unmount rootfs", &rootfs, e.into()));
            break;
        }
    }
    // Never recurse into the mount point: if the unmount failed, that would delete the
    // container's files through the overlay.
    for d in [rootfs, layout.empty()] {
        if let Err(e) = std::fs::remove_dir(&d) {
            if e.kind() != std::io::ErrorKind::NotFound {
                errors.push(Error::io("remove", &d, e));
            }
        }
    }
    for d in [layout.work(), layout.bundle()] {
        if let Err(e) = std::fs::remove_dir_all(&d) {
            if e.kind() != std::io::ErrorKind::NotFound {
                errors.push(Error::io("remove", &d, e));
            }
        }
    }
    errors
}
