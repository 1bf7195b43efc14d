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
    use rustix::fs::{AtFlags, StatxAttributes, StatxFlags, CWD};
    // One statx instead of reading mountinfo, which grows with every running container (an
    // overlay line each, with all its lower dirs).
    match rustix::fs::statx(
        CWD,
        path,
        AtFlags::NO_AUTOMOUNT | AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::empty(),
    ) {
        Ok(st) if st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) => {
            st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT)
        }
        Err(e) if e != rustix::io::Errno::NOSYS => false,
        // Kernels before 5.8 do not tell.
        _ => in_mountinfo(path),
    }
}

fn in_mountinfo(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4) == Some(&want))
}

/// Mount the overlay rootfs (idempotent: an already mounted rootfs is reused).
pub fn mount_overlay(layout: &Layout, lower_dirs: &[PathBuf]) -> Result<PathBuf> {
    mount_overlay_opts(layout, lower_dirs, false)
}

/// [`mount_overlay`], `volatile` when the write layer dies with the container: overlayfs then
/// skips `syncfs` of the upper filesystem at unmount (which otherwise flushes every dirty
/// page of the data root's filesystem, not just the container's) and ignores fsync in the
/// container. Kernels without the option (before 5.10) get a plain mount.
pub fn mount_overlay_opts(
    layout: &Layout,
    lower_dirs: &[PathBuf],
    volatile: bool,
) -> Result<PathBuf> {
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
    // A `volatile` mount leaves `work/incompat/volatile` behind and overlayfs refuses to mount
    // that work dir again. Only ephemeral write layers are ever mounted volatile, and those are
    // discarded with their container (also after a host crash), so a later mount of the same
    // layer (a restart, or `cp` before the removal) may drop the marker.
    let marker = layout.work().join("work/incompat/volatile");
    if marker.symlink_metadata().is_ok() {
        let _ = std::fs::remove_dir_all(&marker);
        let _ = std::fs::remove_dir(layout.work().join("work/incompat"));
    }
    let mount = |data: String| {
        let data = std::ffi::CString::new(data)
            .map_err(|_| Error::InvalidConfig("NUL in overlay options".into()))?;
        rustix::mount::mount(
            "overlay",
            &rootfs,
            "overlay",
            MountFlags::empty(),
            Some(data.as_c_str()),
        )
        .map_err(|e| Error::io("mount overlay at", &rootfs, e.into()))
    };
    if volatile {
        match mount(format!("{data},volatile")) {
            Ok(()) => return Ok(rootfs),
            Err(e) => tracing::debug!(error = %e, "overlay without volatile"),
        }
    }
    mount(data)?;
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

/// What the runtime mounts on in every container, as the bottom layer of its root
/// ([`ensure_mountpoint_layer`]): docker's "init" layer, shared.
const MOUNTPOINT_LAYER: &[(&str, EntryKind)] = &[
    ("dev", EntryKind::Dir),
    ("proc", EntryKind::Dir),
    ("sys", EntryKind::Dir),
    ("etc", EntryKind::Dir),
    ("etc/hosts", EntryKind::File(0o644)),
    ("etc/hostname", EntryKind::File(0o644)),
    ("etc/resolv.conf", EntryKind::File(0o644)),
    ("etc/mtab", EntryKind::Symlink("/proc/mounts")),
    (".dockerenv", EntryKind::File(0o755)),
];

#[derive(Clone, Copy)]
enum EntryKind {
    Dir,
    File(u32),
    Symlink(&'static str),
}

/// Makes (or checks) `dir`, a read-only layer to put under every container's image layers:
/// the mount targets for /dev, /proc, /sys and the /etc files, `/.dockerenv` and
/// `/etc/mtab -> /proc/mounts`, as docker's per-container init layer has them.
///
/// Docker puts its init layer *above* the image and makes one per container. This one is
/// the bottom-most lower dir and shared: an image's own entry always wins over it, and a
/// container whose image lacks `/proc` or `/etc/hosts` no longer has them created in its
/// write layer at every start (each an ext4 inode, made through overlayfs and freed again
/// with the container). See docs/adr-0018-mountpoint-layer.md.
///
/// Missing entries are made (a crash may have left it half made; creating is harmless to
/// containers using it); an entry of another type is an error, and the caller then runs
/// containers without the layer.
pub fn ensure_mountpoint_layer(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let fresh = !dir.exists();
    let at = if fresh {
        let tmp = dir.with_extension("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        tmp
    } else {
        dir.to_path_buf()
    };
    mkdir(&at)?;
    let chmod = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("chmod", p, e))
    };
    chmod(&at, 0o755)?;
    for (rel, kind) in MOUNTPOINT_LAYER {
        let p = at.join(rel);
        let ok = match p.symlink_metadata().ok().map(|m| m.file_type()) {
            Some(t) => match kind {
                EntryKind::Dir => t.is_dir(),
                EntryKind::File(_) => t.is_file(),
                EntryKind::Symlink(_) => t.is_symlink(),
            },
            None => {
                match kind {
                    EntryKind::Dir => {
                        std::fs::create_dir(&p).map_err(|e| Error::io("create", &p, e))?;
                        chmod(&p, 0o755)?;
                    }
                    EntryKind::File(mode) => {
                        std::fs::File::create(&p).map_err(|e| Error::io("create", &p, e))?;
                        chmod(&p, *mode)?;
                    }
                    EntryKind::Symlink(to) => std::os::unix::fs::symlink(to, &p)
                        .map_err(|e| Error::io("create", &p, e))?,
                }
                true
            }
        };
        if !ok {
            return Err(Error::InvalidConfig(format!(
                "{} is not what the mount point layer needs there",
                p.display()
            )));
        }
    }
    if fresh {
        std::fs::rename(&at, dir).map_err(|e| Error::io("rename into place", dir, e))?;
    }
    Ok(())
}

/// Unmount the rootfs (lazily: a straggling process must not keep it busy). The directories
/// stay: `rootfs/`, `work/`, `bundle/` and `upper/` are reused as they are by the next start
/// (the mount is idempotent, `config.json` is rewritten) and the engine removes the whole
/// state dir on `rm`. Removing them here cost ≈ 1.5 ms of every `run --rm` on an ext4 data
/// root (each freed directory block is a synchronous discard with `-o discard`), only for the
/// engine to remove the rest a moment later.
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
    errors
}

/// A mount the creating process makes in the container's mount namespace made ahead
/// ([`crate::cgroup::V1Attach::mount_ahead`]), instead of libcontainer's init.
#[derive(Debug, Clone)]
pub enum Ahead {
    /// /dev, /dev/pts and, of this size, a private /dev/shm ([`mount_dev`]).
    Dev { shm_size: Option<i64> },
    /// /sys: sysfs of the network namespace at `netns` (`None`: the host's), read-only
    /// unless privileged.
    Sys {
        netns: Option<PathBuf>,
        read_only: bool,
    },
    /// /dev/mqueue: the message queues of the IPC namespace at `ipcns` (`None`: the host's).
    Mqueue { ipcns: Option<PathBuf> },
    /// The host file `src` bound at `dest` ([`bind_file`]).
    File { src: PathBuf, dest: String },
    /// The container's /sys/fs/cgroup ([`crate::cgroup::V1Attach::tree`]) moved into the
    /// /sys made ahead (`Sys`, before it), read-only all through unless privileged.
    CgroupTree { read_only: bool },
}

/// Makes `what` in `rootfs`.
pub fn mount_ahead(rootfs: &Path, what: &Ahead) -> Result<()> {
    use rustix::mount::mount;
    let flags = MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::NODEV;
    match what {
        Ahead::Dev { shm_size } => mount_dev(rootfs, *shm_size),
        Ahead::File { src, dest } => bind_file(rootfs, src, dest),
        Ahead::Sys { netns, read_only } => {
            // `rootfs/sys` is a real directory (sanitize_mountpoints).
            let at = rootfs.join("sys");
            let ro = if *read_only {
                MountFlags::RDONLY
            } else {
                MountFlags::empty()
            };
            in_namespace_at(libc::CLONE_NEWNET, "net", netns.as_deref(), || {
                mount("sysfs", &at, "sysfs", flags | ro, None)
                    .map_err(|e| Error::io("mount", &at, e.into()))
            })
        }
        // Placed by V1Attach, which has the tree.
        Ahead::CgroupTree { .. } => Ok(()),
        Ahead::Mqueue { ipcns } => {
            // In the /dev tmpfs made just before (Ahead::Dev).
            let at = rootfs.join("dev/mqueue");
            mkdir(&at)?;
            in_namespace_at(libc::CLONE_NEWIPC, "ipc", ipcns.as_deref(), || {
                mount("mqueue", &at, "mqueue", flags, None)
                    .map_err(|e| Error::io("mount", &at, e.into()))
            })
        }
    }
}

/// Runs `f` in the namespace of type `flag` (`name` in /proc/PID/ns) at `path`, or in this
/// thread's own with `None`.
fn in_namespace_at<T>(
    flag: libc::c_int,
    name: &str,
    path: Option<&Path>,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let Some(path) = path else { return f() };
    let ns = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    crate::libcontainer_rt::in_namespace(
        flag,
        &format!("/proc/thread-self/ns/{name}"),
        || {
            use std::os::fd::AsRawFd;
            // SAFETY: setns(2) of the calling thread into an open namespace file.
            if unsafe { libc::setns(ns.as_raw_fd(), flag) } != 0 {
                return Err(Error::io("enter", path, std::io::Error::last_os_error()));
            }
            Ok(())
        },
        f,
    )
}

/// Mounts the container's /dev in `rootfs` as docker's spec has the runtime mount it: a
/// fresh tmpfs (`nosuid,strictatime,mode=755,size=65536k`; CVE-2026-41579: nothing of the
/// image's /dev shows), a new devpts instance at /dev/pts (`nosuid,noexec`,
/// `ptmxmode=0666,mode=0620,gid=5`) and, with `shm_size`, a tmpfs at /dev/shm
/// (`nosuid,noexec,nodev,mode=1777`). `rootfs/dev` is a real directory
/// ([`sanitize_mountpoints`]) and no process runs in the root yet: plain paths are safe.
/// Mounts a /dev/shm tmpfs of `size` bytes at `at`, as docker's: `shm`, `mode=1777`,
/// `nosuid,nodev,noexec`.
pub fn mount_shm(at: &Path, size: i64) -> std::io::Result<()> {
    let data =
        std::ffi::CString::new(format!("mode=1777,size={size}")).map_err(std::io::Error::other)?;
    rustix::mount::mount(
        "shm",
        at,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        Some(data.as_c_str()),
    )?;
    Ok(())
}

pub fn mount_dev(rootfs: &Path, shm_size: Option<i64>) -> Result<()> {
    use rustix::mount::mount;
    let dev = rootfs.join("dev");
    let fail = |at: &Path, e: rustix::io::Errno| Error::io("mount", at, e.into());
    mount(
        "tmpfs",
        &dev,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::STRICTATIME,
        Some(c"mode=755,size=65536k"),
    )
    .map_err(|e| fail(&dev, e))?;
    let pts = dev.join("pts");
    mkdir(&pts)?;
    mount(
        "devpts",
        &pts,
        "devpts",
        MountFlags::NOSUID | MountFlags::NOEXEC,
        Some(c"newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )
    .map_err(|e| fail(&pts, e))?;
    if let Some(size) = shm_size {
        let shm = dev.join("shm");
        mkdir(&shm)?;
        mount_shm(&shm, size).map_err(|e| Error::io("mount", &shm, e))?;
    }
    Ok(())
}

/// Binds the host file `src` at `dest` inside `rootfs` (created empty if missing), as
/// libcontainer binds a spec's file mount: `dest` and its directories are resolved inside
/// the root (its symlinks followed there, never out of it, no /proc magic links), and must
/// not end at a directory. For the container's own /etc/hosts, /etc/resolv.conf and
/// /etc/hostname in its mount namespace made ahead ([`crate::cgroup::V1Attach`]).
pub fn bind_file(rootfs: &Path, src: &Path, dest: &str) -> Result<()> {
    use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
    use rustix::mount::{move_mount, open_tree, MoveMountFlags, OpenTreeFlags};
    let at = rootfs.join(dest.trim_start_matches('/'));
    let fail = |what: &'static str, e: rustix::io::Errno| Error::io(what, &at, e.into());
    let (parent, name) = match dest.trim_end_matches('/').rsplit_once('/') {
        Some((p, n)) if !n.is_empty() && n != "." && n != ".." => (p, n),
        _ => return Err(fail("bind at", rustix::io::Errno::INVAL)),
    };
    prepare_mountpoint(rootfs, parent)?;
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open rootfs", rootfs, e.into()))?;
    let in_root = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let dir = rustix::fs::openat2(
        &root,
        if parent.is_empty() { "/" } else { parent },
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        in_root,
    )
    .map_err(|e| fail("resolve the directory of", e))?;
    match rustix::fs::openat(
        &dir,
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    ) {
        Ok(_) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(fail("create", e)),
    }
    let target = rustix::fs::openat2(
        &root,
        dest,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        in_root,
    )
    .map_err(|e| fail("resolve", e))?;
    let st = rustix::fs::fstat(&target).map_err(|e| fail("stat", e))?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        return Err(fail("bind a file at", rustix::io::Errno::ISDIR));
    }
    let tree = open_tree(
        rustix::fs::CWD,
        src,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .map_err(|e| Error::io("open for a bind", src, e.into()))?;
    move_mount(
        &tree,
        "",
        &target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(|e| fail("bind", e))
}

/// CVE-2021-30465: create the directory a bind or tmpfs mount will cover, resolving `dest`
/// inside `rootfs` as the container would see it — symlinks (absolute ones included) are
/// followed *within* the root, never out of it — before the runtime mounts there.
/// Every step is relative to a directory fd opened with `openat2(RESOLVE_IN_ROOT |
/// RESOLVE_NO_SYMLINKS)` on a path that has no symlinks left, so an image symlink such as
/// `/data -> /host-dir` becomes `<rootfs>/host-dir`, never `/host-dir` on the host. (The
/// runtime then resolves the target again with pathrs and mounts onto the resolved fd;
/// this step only makes sure a dangling image symlink does not fail the container.)
pub fn prepare_mountpoint(rootfs: &Path, dest: &str) -> Result<()> {
    use std::collections::VecDeque;

    use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open rootfs", rootfs, e.into()))?;
    let fail = |what: &'static str, e: rustix::io::Errno| {
        Error::io(what, rootfs.join(dest.trim_start_matches('/')), e.into())
    };
    let mut todo: VecDeque<String> = dest.split('/').map(str::to_string).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop_front() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let parent_path = format!("/{}", resolved.join("/"));
        let parent = rustix::fs::openat2(
            &root,
            parent_path.as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|e| fail("resolve mount target", e))?;
        match rustix::fs::statat(&parent, c.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Err(rustix::io::Errno::NOENT) => {
                match rustix::fs::mkdirat(&parent, c.as_str(), Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(fail("create mount target", e)),
                }
                resolved.push(c);
            }
            Err(e) => return Err(fail("stat mount target", e)),
            Ok(st) => match FileType::from_raw_mode(st.st_mode) {
                FileType::Symlink => {
                    links += 1;
                    if links > 40 {
                        return Err(fail("resolve mount target", rustix::io::Errno::LOOP));
                    }
                    let target = rustix::fs::readlinkat(&parent, c.as_str(), Vec::new())
                        .map_err(|e| fail("read symlink at mount target", e))?;
                    let target = target.to_string_lossy().into_owned();
                    if target.starts_with('/') {
                        resolved.clear();
                    }
                    for (i, t) in target.split('/').enumerate() {
                        todo.insert(i, t.to_string());
                    }
                }
                // A file (a file bind mount) or directory: the runtime takes it from here.
                _ => resolved.push(c),
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made whole and in place, again without harm, completed when an entry went missing,
    /// refused when one has another type.
    #[test]
    fn the_mountpoint_layer_is_made_checked_and_completed() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("mountpoints");
        ensure_mountpoint_layer(&dir).unwrap();
        assert!(!t.path().join("mountpoints.tmp").exists());
        let mode = |p: &str| {
            let m = std::fs::symlink_metadata(dir.join(p)).unwrap();
            (m.is_dir(), m.permissions().mode() & 0o7777)
        };
        for d in ["dev", "proc", "sys", "etc"] {
            assert_eq!(mode(d), (true, 0o755), "{d}");
        }
        for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
            assert_eq!(mode(f), (false, 0o644), "{f}");
            assert_eq!(std::fs::metadata(dir.join(f)).unwrap().len(), 0);
        }
        assert_eq!(mode(".dockerenv"), (false, 0o755));
        let mtab = std::fs::read_link(dir.join("etc/mtab")).unwrap();
        assert_eq!(mtab, Path::new("/proc/mounts"));
        ensure_mountpoint_layer(&dir).unwrap();
        std::fs::remove_file(dir.join("etc/hosts")).unwrap();
        ensure_mountpoint_layer(&dir).unwrap();
        assert_eq!(mode("etc/hosts"), (false, 0o644));
        std::fs::remove_dir(dir.join("sys")).unwrap();
        std::fs::write(dir.join("sys"), "").unwrap();
        assert!(ensure_mountpoint_layer(&dir).is_err());
    }

    /// `is_mounted` (statx) agrees with mountinfo: a mount point, a plain directory, a path
    /// that is not there, a symlink to a mount point (not followed).
    #[test]
    fn is_mounted_tells_mount_points_as_mountinfo_does() {
        let t = tempfile::tempdir().unwrap();
        let (m, plain, link) = (
            t.path().join("m"),
            t.path().join("plain"),
            t.path().join("l"),
        );
        std::fs::create_dir(&m).unwrap();
        std::fs::create_dir(&plain).unwrap();
        std::os::unix::fs::symlink(&m, &link).unwrap();
        assert!(!is_mounted(&m));
        rustix::mount::mount("tmpfs", &m, "tmpfs", MountFlags::empty(), None).unwrap();
        let cases = [(&m, true), (&plain, false), (&link, false)];
        let seen: Vec<(bool, bool)> = cases
            .iter()
            .map(|(p, _)| (is_mounted(p), in_mountinfo(p)))
            .collect();
        let _ = rustix::mount::unmount(&m, UnmountFlags::DETACH);
        for ((p, want), (got, info)) in cases.iter().zip(seen) {
            assert_eq!(got, *want, "{}", p.display());
            assert_eq!(got, info, "{}", p.display());
        }
        assert!(!is_mounted(&t.path().join("absent")));
        assert!(!is_mounted(&m), "unmounted again");
    }

    #[test]
    fn mount_targets_behind_symlinks_are_created_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let outside = t.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        // Absolute, relative and `..`-escaping links all stay inside.
        std::os::unix::fs::symlink(outside.join("victim"), root.join("data")).unwrap();
        std::os::unix::fs::symlink("../../../../escape", root.join("rel")).unwrap();
        prepare_mountpoint(&root, "/data/sub").unwrap();
        prepare_mountpoint(&root, "/rel").unwrap();
        prepare_mountpoint(&root, "/plain/a/b").unwrap();
        assert!(root
            .join(outside.strip_prefix("/").unwrap())
            .join("victim/sub")
            .is_dir());
        assert!(root.join("escape").is_dir());
        assert!(root.join("plain/a/b").is_dir());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        assert!(!t.path().join("escape").exists());
    }
}
