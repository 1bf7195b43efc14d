//! A container's filesystem as `cp`, `export` and friends see it: its overlay (the write layer
//! `upper/` over the image's snapshots) opened as a directory fd — the running container's
//! mounted `rootfs/`, or for a stopped one the same overlay mounted for the time of the call
//! ([`RootView`]). Writes through it land in `upper/` (the kernel copies parents up).
//!
//! Security (SECURITY.md, CVE-2018-15664 and CVE-2019-14271): every container path is resolved
//! relative to the root fd with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, so a symlink
//! the container made (even one swapped in mid-copy) resolves inside the container, never on the
//! host. The last component is never followed (`*at` calls with `AT_SYMLINK_NOFOLLOW`,
//! `O_NOFOLLOW`); walks descend only into directories opened with `O_NOFOLLOW`. Tar streams
//! are read and written in-process with the `tar` crate (headers parsed, never `unpack`ed);
//! nothing here loads code or resolves users from the container.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use rustix::fs::{
    self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat, Timespec, Timestamps,
};
use rustix::io::Errno;
use serde::Serialize;
use wharf_types::ErrorKind;

use super::store::Container;
use crate::api::ApiError;
use crate::state::Daemon;

/// The container's root directory, open. A stopped container's overlay is mounted for the
/// time of the call; concurrent calls share that mount (counted in [`TEMP_MOUNTS`]) and the
/// last one unmounts it — unless the container was started meanwhile and now runs on it
/// (its shim's socket exists), in which case the runtime's teardown will.
pub struct RootView {
    pub fd: OwnedFd,
    _mount: MountRef,
}

/// One reference to the rootfs mount (a temporary one when `temp`).
struct MountRef {
    container_dir: PathBuf,
    temp: bool,
}

/// rootfs path → number of open [`RootView`]s on a mount we made.
static TEMP_MOUNTS: std::sync::Mutex<Option<HashMap<PathBuf, usize>>> = std::sync::Mutex::new(None);

fn temp_mounts() -> std::sync::MutexGuard<'static, Option<HashMap<PathBuf, usize>>> {
    TEMP_MOUNTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether the daemon has the root of the container at `dir` mounted for reading (`cp`,
/// `export`, `diff` of a stopped container).
pub fn mounted_for_reading(dir: &std::path::Path) -> bool {
    temp_mounts()
        .as_ref()
        .is_some_and(|m| m.contains_key(&dir.join("rootfs")))
}

impl Drop for MountRef {
    fn drop(&mut self) {
        if !self.temp {
            return;
        }
        let rootfs = self.container_dir.join("rootfs");
        let mut g = temp_mounts();
        let map = g.get_or_insert_with(HashMap::new);
        let n = map.get(&rootfs).copied().unwrap_or(1).saturating_sub(1);
        if n > 0 {
            map.insert(rootfs, n);
            return;
        }
        map.remove(&rootfs);
        if crate::shim::socket_dir(&self.container_dir)
            .join("shim.sock")
            .exists()
        {
            return; // started meanwhile: the container's own mount now
        }
        let flags = rustix::mount::UnmountFlags::DETACH | rustix::mount::UnmountFlags::NOFOLLOW;
        if let Err(e) = rustix::mount::unmount(&rootfs, flags) {
            tracing::warn!(path = %rootfs.display(), error = %e, "failed to unmount a container rootfs");
        } else {
            let _ = std::fs::remove_dir(&rootfs);
        }
    }
}

fn io_err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("{what}: {e}"))
}

fn errno_err(path: &str, e: Errno) -> ApiError {
    match e {
        Errno::NOENT | Errno::NOTDIR => ApiError::new(
            ErrorKind::NotFound,
            format!("Could not find the file {path} in container"), // + name, by the handler
        ),
        _ => ApiError::internal(format!("{path}: {e}")),
    }
}

impl Daemon {
    /// Opens the container's merged filesystem (mounting its overlay if it is not running).
    pub fn open_rootfs(&self, c: &Container) -> Result<RootView, ApiError> {
        let dir = self.container_dir(&c.id);
        let layout = wharf_runtime::rootfs::Layout::new(&dir);
        let rootfs = layout.rootfs();
        let mut temp = false;
        {
            let mut g = temp_mounts();
            let map = g.get_or_insert_with(HashMap::new);
            if let Some(n) = map.get_mut(&rootfs) {
                *n += 1;
                temp = true;
            } else if !wharf_runtime::rootfs::is_mounted(&rootfs) {
                let lowers = self.lower_dirs(&c.image_id)?;
                wharf_runtime::rootfs::mount_overlay(&layout, &lowers)
                    .map_err(|e| io_err("failed to mount the container's filesystem", e))?;
                map.insert(rootfs.clone(), 1);
                temp = true;
            }
        }
        // From here the reference's drop releases the count, whatever happens.
        let mount = MountRef {
            container_dir: dir,
            temp,
        };
        let fd = File::open(&rootfs).map_err(|e| io_err(rootfs.display(), e))?;
        Ok(RootView {
            fd: OwnedFd::from(fd),
            _mount: mount,
        })
    }
}

impl Daemon {
    /// The container as its processes see it, for `cp`: a running container's root through
    /// `/proc/<pid>/root` (its volumes and bind mounts included, as docker's `cp` sees them),
    /// checked to be the same overlay as its `rootfs/` (a recycled pid is not trusted);
    /// otherwise [`Daemon::open_rootfs`].
    pub fn open_container_view(&self, c: &Container) -> Result<RootView, ApiError> {
        if c.state.status.is_live() && c.state.pid > 0 {
            let rootfs = self.container_dir(&c.id).join("rootfs");
            let proc_root = format!("/proc/{}/root", c.state.pid);
            if let (Ok(f), Ok(want)) = (File::open(&proc_root), rfs::stat(&rootfs)) {
                if let Ok(got) = rfs::fstat(&f) {
                    if got.st_dev == want.st_dev && got.st_ino == want.st_ino {
                        return Ok(RootView {
                            fd: OwnedFd::from(f),
                            _mount: MountRef {
                                container_dir: self.container_dir(&c.id),
                                temp: false,
                            },
                        });
                    }
                }
            }
        }
        self.open_rootfs(c)
    }
}

/// `openat2(root, rel, RESOLVE_IN_ROOT)`: symlinks are followed, but scoped to `root`.
pub fn open_in_root(root: BorrowedFd<'_>, rel: &str, flags: OFlags) -> Result<OwnedFd, Errno> {
    let rel = rel.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    rfs::openat2(
        root,
        rel,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY
}

/// Splits a container path into its parent and last component, lexically. `name` is `None`
/// for the root (and `/..`-style paths that clean to it).
pub fn split(path: &str) -> (String, Option<String>) {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    match parts.pop() {
        None => ("/".into(), None),
        Some(last) => (format!("/{}", parts.join("/")), Some(last.to_string())),
    }
}

/// A resolved path: its parent directory fd and name (the name is not followed).
pub struct Located {
    pub parent: OwnedFd,
    pub name: String,
    pub stat: Stat,
    /// The cleaned absolute container path.
    pub abs: String,
}

/// Resolves `path` inside the root without following its last component.
pub fn locate(root: BorrowedFd<'_>, path: &str) -> Result<Located, ApiError> {
    let (parent, name) = split(path);
    let (pfd, name) = match name {
        Some(n) => (
            open_in_root(root, &parent, dir_flags()).map_err(|e| errno_err(path, e))?,
            n,
        ),
        // The root itself: its "parent" is the root (`..` stays at the root under IN_ROOT).
        None => (
            open_in_root(root, "/", dir_flags()).map_err(|e| errno_err(path, e))?,
            ".".into(),
        ),
    };
    let stat = rfs::statat(&pfd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| errno_err(path, e))?;
    let abs = if name == "." {
        "/".to_string()
    } else if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    };
    Ok(Located {
        parent: pfd,
        name,
        stat,
        abs,
    })
}

/// docker's `PathStat` (`X-Docker-Container-Path-Stat`).
#[derive(Debug, Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits.
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Go's `os.FileMode` from a unix mode (docker's clients test `IsDir()` on it).
pub fn go_file_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    match FileType::from_raw_mode(st_mode) {
        FileType::Directory => m |= 1 << 31,
        FileType::Symlink => m |= 1 << 27,
        FileType::BlockDevice => m |= 1 << 26,
        FileType::CharacterDevice => m |= (1 << 26) | (1 << 21),
        FileType::Fifo => m |= 1 << 25,
        FileType::Socket => m |= 1 << 24,
        _ => {}
    }
    if st_mode & 0o4000 != 0 {
        m |= 1 << 23;
    }
    if st_mode & 0o2000 != 0 {
        m |= 1 << 22;
    }
    if st_mode & 0o1000 != 0 {
        m |= 1 << 20;
    }
    m
}

fn rfc3339(secs: i64, nanos: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(secs as i128 * 1_000_000_000 + nanos as i128)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Stats `path` as docker's `HEAD /containers/{id}/archive` does. `linkTarget` is the
/// absolute container path a symlink points to.
pub fn stat_path(root: BorrowedFd<'_>, path: &str) -> Result<(Located, PathStat), ApiError> {
    let l = locate(root, path)?;
    let mut link_target = String::new();
    if FileType::from_raw_mode(l.stat.st_mode) == FileType::Symlink {
        let t = rfs::readlinkat(&l.parent, l.name.as_str(), Vec::new())
            .map_err(|e| errno_err(path, e))?;
        let t = t.to_string_lossy().into_owned();
        let joined = if t.starts_with('/') {
            t
        } else {
            format!("{}/{}", split(&l.abs).0, t)
        };
        let (p, n) = split(&joined);
        link_target = match n {
            None => "/".into(),
            Some(n) if p == "/" => format!("/{n}"),
            Some(n) => format!("{p}/{n}"),
        };
    }
    let name = if path.ends_with("/.") {
        ".".to_string()
    } else if l.name == "." {
        "/".to_string()
    } else {
        l.name.clone()
    };
    let st = PathStat {
        name,
        size: l.stat.st_size,
        mode: go_file_mode(l.stat.st_mode),
        mtime: rfc3339(l.stat.st_mtime, l.stat.st_mtime_nsec as i64),
        link_target,
    };
    Ok((l, st))
}

/// Writes a tree as a tar: entries sorted by name, headers carry only mode, owner, size,
/// mtime and type (no user/group names, no atime), so the same tree gives the same bytes.
pub struct TarWriter<W: Write> {
    pub b: tar::Builder<W>,
    /// (dev, ino) of multiply-linked files already written → their entry name.
    links: HashMap<(u64, u64), String>,
    /// Directories on another device (mounts) are not descended into.
    dev: Option<u64>,
    /// Overlay whiteouts (0:0 char devices, opaque dirs) become OCI `.wh.` entries.
    pub oci_whiteouts: bool,
    /// Entry names (and what is below them) left out.
    pub exclude: Option<fn(&str) -> bool>,
    /// Modification times later than this (seconds) are written as this (reproducible builds:
    /// SOURCE_DATE_EPOCH).
    pub clamp_mtime: Option<u64>,
}

fn header_for(st: &Stat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

/// A reader that yields exactly `n` bytes: a file that shrank mid-copy is padded with zeros,
/// one that grew is cut, so the tar never desyncs.
struct Exactly<R> {
    r: R,
    left: u64,
    eof: bool,
}

impl<R: Read> Read for Exactly<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let n = if self.eof {
            buf[..want].fill(0);
            want
        } else {
            match self.r.read(&mut buf[..want])? {
                0 => {
                    self.eof = true;
                    buf[..want].fill(0);
                    want
                }
                n => n,
            }
        };
        self.left -= n as u64;
        Ok(n)
    }
}

pub fn is_whiteout(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0
}

pub fn is_opaque(dir: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 4];
    matches!(rfs::fgetxattr(dir, "trusted.overlay.opaque", &mut buf), Ok(1) if buf[0] == b'y')
}

fn sorted_names(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
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
    Ok(names)
}

impl<W: Write> TarWriter<W> {
    pub fn new(w: W) -> TarWriter<W> {
        let mut b = tar::Builder::new(w);
        b.mode(tar::HeaderMode::Complete);
        b.follow_symlinks(false);
        TarWriter {
            b,
            links: HashMap::new(),
            dev: None,
            oci_whiteouts: false,
            exclude: None,
            clamp_mtime: None,
        }
    }

    fn header(&self, st: &Stat, kind: tar::EntryType) -> tar::Header {
        let mut h = header_for(st, kind);
        if let (Some(max), Ok(m)) = (self.clamp_mtime, h.mtime()) {
            h.set_mtime(m.min(max));
        }
        h
    }

    /// Appends `name` (in directory `parent`) as `entry`, recursing into directories.
    /// `entry` is "" for the root of an export (its children are named without a prefix).
    pub fn append(&mut self, parent: BorrowedFd<'_>, name: &str, entry: &str) -> io::Result<()> {
        let st = rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
        self.append_stat(parent, name.as_bytes(), entry, &st)
    }

    fn append_stat(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        entry: &str,
        st: &Stat,
    ) -> io::Result<()> {
        let name_os = OsStr::from_bytes(name);
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let fd = rfs::openat(
                    parent,
                    name_os,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let dev = *self.dev.get_or_insert(st.st_dev);
                if !entry.is_empty() {
                    let h = self.header(st, tar::EntryType::Directory);
                    self.put(h, &format!("{entry}/"), None, io::empty())?;
                }
                if st.st_dev != dev {
                    return Ok(()); // a mount point: keep the directory, not what is on it
                }
                if self.oci_whiteouts && is_opaque(fd.as_fd()) {
                    let mut h = self.header(st, tar::EntryType::Regular);
                    h.set_mode(0o644);
                    self.put(h, &child(entry, ".wh..wh..opq"), None, io::empty())?;
                }
                for n in sorted_names(fd.as_fd())? {
                    let cst =
                        match rfs::statat(&fd, OsStr::from_bytes(&n), AtFlags::SYMLINK_NOFOLLOW) {
                            Ok(s) => s,
                            Err(Errno::NOENT) => continue, // removed meanwhile
                            Err(e) => return Err(e.into()),
                        };
                    let cname = child(entry, &String::from_utf8_lossy(&n));
                    self.append_stat(fd.as_fd(), &n, &cname, &cst)?;
                }
                Ok(())
            }
            FileType::RegularFile => {
                if st.st_nlink > 1 {
                    if let Some(target) = self.links.get(&(st.st_dev, st.st_ino)).cloned() {
                        let h = self.header(st, tar::EntryType::Link);
                        return self.put(h, entry, Some(target.as_bytes()), io::empty());
                    }
                    self.links.insert((st.st_dev, st.st_ino), entry.to_string());
                }
                let fd = rfs::openat(
                    parent,
                    name_os,
                    // NONBLOCK: a file swapped for a fifo meanwhile must not hang us.
                    OFlags::RDONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC
                        | OFlags::NOCTTY
                        | OFlags::NONBLOCK,
                    Mode::empty(),
                )?;
                let fst = rfs::fstat(&fd)?;
                if FileType::from_raw_mode(fst.st_mode) != FileType::RegularFile {
                    return Ok(()); // replaced meanwhile: skip it
                }
                let mut h = self.header(&fst, tar::EntryType::Regular);
                h.set_size(fst.st_size as u64);
                let r = Exactly {
                    r: File::from(fd),
                    left: fst.st_size as u64,
                    eof: false,
                };
                self.put(h, entry, None, r)
            }
            FileType::Symlink => {
                let t = rfs::readlinkat(parent, name_os, Vec::new())?;
                let h = self.header(st, tar::EntryType::Symlink);
                self.put(h, entry, Some(t.as_bytes()), io::empty())
            }
            FileType::CharacterDevice if self.oci_whiteouts && st.st_rdev == 0 => {
                let (dir, base) = match entry.rsplit_once('/') {
                    Some((d, b)) => (format!("{d}/"), b),
                    None => (String::new(), entry),
                };
                let mut h = self.header(st, tar::EntryType::Regular);
                h.set_mode(0o644);
                self.put(h, &format!("{dir}.wh.{base}"), None, io::empty())
            }
            t @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo) => {
                let kind = match t {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = self.header(st, kind);
                let rdev = st.st_rdev;
                h.set_device_major(rfs::major(rdev))?;
                h.set_device_minor(rfs::minor(rdev))?;
                self.put(h, entry, None, io::empty())
            }
            _ => Ok(()), // sockets are not archived (as docker)
        }
    }

    /// Appends one entry with its name exactly as given (the `tar` crate would drop a
    /// leading `./`, which docker's clients rely on for `cp SRC/.`); names and link targets
    /// longer than the header's 100 bytes get GNU long-name entries.
    fn put(
        &mut self,
        mut h: tar::Header,
        name: &str,
        link: Option<&[u8]>,
        data: impl Read,
    ) -> io::Result<()> {
        if self.exclude.is_some_and(|f| f(name)) {
            return Ok(());
        }
        let long = |b: &mut tar::Builder<W>, kind: tar::EntryType, v: &[u8]| {
            let mut lh = tar::Header::new_gnu();
            lh.as_gnu_mut()
                .map(|g| g.name[..13].copy_from_slice(b"././@LongLink"))
                .ok_or_else(|| io::Error::other("not a GNU header"))?;
            lh.set_mode(0o644);
            lh.set_entry_type(kind);
            let mut d = v.to_vec();
            d.push(0);
            lh.set_size(d.len() as u64);
            lh.set_cksum();
            b.append(&lh, &d[..])
        };
        let nb = name.as_bytes();
        if nb.len() > 100 {
            long(&mut self.b, tar::EntryType::GNULongName, nb)?;
        }
        let old = h.as_old_mut();
        let n = nb.len().min(100);
        old.name = [0; 100];
        old.name[..n].copy_from_slice(&nb[..n]);
        if let Some(l) = link {
            if l.len() > 100 {
                long(&mut self.b, tar::EntryType::GNULongLink, l)?;
            }
            let old = h.as_old_mut();
            let n = l.len().min(100);
            old.linkname = [0; 100];
            old.linkname[..n].copy_from_slice(&l[..n]);
        }
        h.set_cksum();
        self.b.append(&h, data)
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.b.finish()?;
        self.b.into_inner()
    }
}

fn child(entry: &str, name: &str) -> String {
    if entry.is_empty() {
        name.to_string()
    } else {
        format!("{entry}/{name}")
    }
}

/// Cleans a tar entry name: relative, no `.`; `..` may not leave the extraction root.
pub fn clean_entry(raw: &[u8]) -> Result<Vec<String>, ApiError> {
    let s = String::from_utf8_lossy(raw);
    let mut out: Vec<String> = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(ApiError::invalid(format!(
                        "invalid tar entry {s:?}: it would leave the destination"
                    )));
                }
            }
            c => out.push(c.to_string()),
        }
    }
    Ok(out)
}

/// Opens (creating as needed) the directory `rel` inside the root; every step resolved
/// with RESOLVE_IN_ROOT.
fn mkdir_in_root(root: BorrowedFd<'_>, comps: &[String]) -> Result<OwnedFd, ApiError> {
    let full = comps.join("/");
    match open_in_root(root, &full, dir_flags()) {
        Ok(fd) => return Ok(fd),
        Err(Errno::NOENT) => {}
        Err(e) => return Err(errno_err(&format!("/{full}"), e)),
    }
    let mut cur = open_in_root(root, "/", dir_flags()).map_err(|e| errno_err("/", e))?;
    for i in 0..comps.len() {
        let prefix = comps[..=i].join("/");
        cur = match open_in_root(root, &prefix, dir_flags()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                rfs::mkdirat(&cur, comps[i].as_str(), Mode::from_raw_mode(0o755))
                    .or_else(|e| if e == Errno::EXIST { Ok(()) } else { Err(e) })
                    .map_err(|e| errno_err(&format!("/{prefix}"), e))?;
                open_in_root(root, &prefix, dir_flags())
                    .map_err(|e| errno_err(&format!("/{prefix}"), e))?
            }
            Err(e) => return Err(errno_err(&format!("/{prefix}"), e)),
        };
    }
    Ok(cur)
}

/// Removes `name` in `dir` recursively, never following a symlink.
pub fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let st = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        let fd = rfs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        for n in sorted_names(fd.as_fd())? {
            remove_all_at(fd.as_fd(), OsStr::from_bytes(&n))?;
        }
        rfs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    } else {
        rfs::unlinkat(dir, name, AtFlags::empty())?;
    }
    Ok(())
}

/// docker's `PUT /containers/{id}/archive`: extracts `src` (a tar) into the existing
/// directory `dest` of the container. Parents an entry needs are created; a symlink in the
/// container is followed only within the container's root; the entry itself is created
/// with `O_EXCL`/`*at(…NOFOLLOW)` calls relative to its parent's fd.
pub fn extract(
    root: BorrowedFd<'_>,
    dest: &str,
    src: impl Read,
    no_overwrite_dir_non_dir: bool,
    copy_uid_gid: bool,
) -> Result<(), ApiError> {
    let l = locate(root, dest)?;
    let dest_abs = if FileType::from_raw_mode(l.stat.st_mode) == FileType::Symlink {
        // A symlink destination: docker resolves it (inside the container).
        let fd = open_in_root(root, &l.abs, dir_flags()).map_err(|e| errno_err(dest, e))?;
        drop(fd);
        l.abs.clone()
    } else if FileType::from_raw_mode(l.stat.st_mode) != FileType::Directory {
        return Err(ApiError::invalid(format!(
            "extraction point is not a directory: {dest}"
        )));
    } else {
        l.abs.clone()
    };
    let base: Vec<String> = clean_entry(dest_abs.as_bytes())?;
    let mut ar = tar::Archive::new(src);
    // Directory mtimes are set once their children are in place.
    let mut dir_times: Vec<(String, i64)> = Vec::new();
    let bad = |e: io::Error| ApiError::invalid(format!("failed to read the tar stream: {e}"));
    for entry in ar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let raw = entry.path_bytes().into_owned();
        let rel = clean_entry(&raw)?;
        let Some((name, parents)) = rel.split_last() else {
            continue; // "./": the destination itself
        };
        let mut comps = base.clone();
        comps.extend(parents.iter().cloned());
        let show = format!("/{}", {
            let mut c = comps.clone();
            c.push(name.clone());
            c.join("/")
        });
        let pfd = mkdir_in_root(root, &comps)?;
        let kind = entry.header().entry_type();
        let fail = |e: Errno| ApiError::internal(format!("failed to extract {show}: {e}"));
        let fail_io = |e: io::Error| ApiError::internal(format!("failed to extract {show}: {e}"));
        let existing = match rfs::statat(&pfd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Some(st),
            Err(Errno::NOENT) => None,
            Err(e) => return Err(fail(e)),
        };
        let is_dir_entry = kind == tar::EntryType::Directory;
        if let Some(st) = &existing {
            let exists_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
            if no_overwrite_dir_non_dir && exists_dir != is_dir_entry {
                return Err(ApiError::invalid(format!(
                    "cannot overwrite {} {show:?} with {}",
                    if exists_dir {
                        "directory"
                    } else {
                        "non-directory"
                    },
                    if is_dir_entry {
                        "directory"
                    } else {
                        "non-directory"
                    },
                )));
            }
            if !(exists_dir && is_dir_entry) {
                remove_all_at(pfd.as_fd(), OsStr::new(name)).map_err(fail_io)?;
            }
        }
        let h = entry.header();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        // docker: owners from the archive only with `copyUIDGID` (`cp -a`), else root.
        let (uid, gid) = if copy_uid_gid {
            (h.uid().unwrap_or(0), h.gid().unwrap_or(0))
        } else {
            (0, 0)
        };
        let mtime = h.mtime().unwrap_or(0) as i64;
        let name_c = name.as_str();
        match kind {
            tar::EntryType::Directory => {
                dir_times.push((show.clone(), h.mtime().unwrap_or(0) as i64));
                if existing.is_none() || !is_dir_entry {
                    rfs::mkdirat(&pfd, name_c, Mode::from_raw_mode(0o700))
                        .or_else(|e| if e == Errno::EXIST { Ok(()) } else { Err(e) })
                        .map_err(fail)?;
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let fd = rfs::openat(
                    &pfd,
                    name_c,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(fail)?;
                let mut f = File::from(fd);
                io::copy(&mut entry, &mut f).map_err(fail_io)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| ApiError::invalid(format!("symlink {show} has no target")))?
                    .into_owned();
                rfs::symlinkat(OsStr::from_bytes(&target), &pfd, name_c).map_err(fail)?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| ApiError::invalid(format!("hardlink {show} has no target")))?
                    .into_owned();
                let mut t = base.clone();
                t.extend(clean_entry(&target)?);
                let (tp, tn) = split(&t.join("/"));
                let tn = tn.ok_or_else(|| ApiError::invalid(format!("bad hardlink {show}")))?;
                let tdir = open_in_root(root, &tp, dir_flags()).map_err(fail)?;
                rfs::linkat(&tdir, tn.as_str(), &pfd, name_c, AtFlags::empty()).map_err(fail)?;
                continue; // attributes are the target's
            }
            // Device nodes are not made in a container by `cp` (the container's devices are
            // its runtime's business); fifos are harmless.
            tar::EntryType::Char | tar::EntryType::Block => {
                return Err(ApiError::invalid(format!(
                    "refusing to create device node {show} in a container"
                )))
            }
            tar::EntryType::Fifo => {
                rfs::mknodat(&pfd, name_c, FileType::Fifo, Mode::from_raw_mode(0o600), 0)
                    .map_err(fail)?;
            }
            _ => continue, // PAX/GNU metadata is consumed by the parser; others skipped
        }
        let is_link = kind == tar::EntryType::Symlink;
        rfs::chownat(
            &pfd,
            name_c,
            Some(rustix::fs::Uid::from_raw(uid as u32)),
            Some(rustix::fs::Gid::from_raw(gid as u32)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(fail)?;
        if !is_link {
            // chmod after chown, so setuid bits survive. Through an O_PATH fd of the entry
            // itself (never following it): if the container swapped it for a symlink
            // meanwhile, the fd is the symlink and nothing is changed.
            let fd = rfs::openat(
                &pfd,
                name_c,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(fail)?;
            if FileType::from_raw_mode(rfs::fstat(&fd).map_err(fail)?.st_mode) == FileType::Symlink
            {
                continue;
            }
            rfs::chmodat(
                rfs::CWD,
                format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd)),
                Mode::from_raw_mode(mode),
                AtFlags::empty(),
            )
            .map_err(fail)?;
        }
        let ts = Timespec {
            tv_sec: mtime,
            tv_nsec: 0,
        };
        let _ = rfs::utimensat(
            &pfd,
            name_c,
            &Timestamps {
                last_access: ts,
                last_modification: ts,
            },
            AtFlags::SYMLINK_NOFOLLOW,
        );
    }
    for (path, mtime) in dir_times.into_iter().rev() {
        let (parent, Some(name)) = split(&path) else {
            continue;
        };
        if let Ok(pfd) = open_in_root(root, &parent, dir_flags()) {
            let ts = Timespec {
                tv_sec: mtime,
                tv_nsec: 0,
            };
            let times = Timestamps {
                last_access: ts,
                last_modification: ts,
            };
            let _ = rfs::utimensat(&pfd, name.as_str(), &times, AtFlags::SYMLINK_NOFOLLOW);
        }
    }
    Ok(())
}

/// The export of a container: its merged filesystem as a tar.
pub fn export(root: BorrowedFd<'_>, out: impl Write) -> io::Result<()> {
    let mut w = TarWriter::new(out);
    w.append(root, ".", "")?;
    w.finish()?.flush()
}

/// The archive of one path for `GET /containers/{id}/archive`, its entries rooted at the
/// path's base name (`.` for a path ending in `/.`).
pub fn archive(root: BorrowedFd<'_>, l: &Located, rebase: &str, out: impl Write) -> io::Result<()> {
    let _ = root;
    let mut w = TarWriter::new(out);
    w.append(l.parent.as_fd(), &l.name, rebase)?;
    w.finish()?.flush()
}

/// A writer that passes everything on except the last `keep` bytes, written by
/// [`HoldTail::release`]: a tar's end-of-archive blocks go out only after the caller has let go
/// of what it read (a stopped container's temporary mount), so a client that has the whole
/// archive never sees that mount still there.
pub struct HoldTail<W: Write> {
    inner: W,
    held: Vec<u8>,
    keep: usize,
}

impl<W: Write> HoldTail<W> {
    pub fn new(inner: W, keep: usize) -> HoldTail<W> {
        HoldTail {
            inner,
            held: Vec::with_capacity(keep),
            keep,
        }
    }

    /// Writes the held bytes and flushes.
    pub fn release(mut self) -> io::Result<W> {
        self.inner.write_all(&self.held)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for HoldTail<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() >= self.keep {
            let (now, later) = buf.split_at(buf.len() - self.keep);
            self.inner.write_all(&self.held)?;
            self.inner.write_all(now)?;
            self.held.clear();
            self.held.extend_from_slice(later);
        } else {
            self.held.extend_from_slice(buf);
            if self.held.len() > self.keep {
                let out = self.held.len() - self.keep;
                self.inner.write_all(&self.held[..out])?;
                self.held.drain(..out);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The size of a tar's end-of-archive marker.
pub const TAR_TRAILER: usize = 1024;

impl Daemon {
    /// Runs `f` on the container's filesystem as `cp` must see it. A running container: its
    /// own view (`/proc/<pid>/root`). A stopped one with volumes or bind mounts: on a thread of
    /// its own that unshares a private mount namespace and mounts them over the rootfs there
    /// (as they would be at start), so `cp` reads and writes the volume, not the layer beneath
    /// it, as docker's does; the namespace, and the mounts, end with the thread.
    pub fn with_cp_view<T: Send>(
        &self,
        c: &Container,
        f: impl FnOnce(BorrowedFd<'_>) -> Result<T, ApiError> + Send,
    ) -> Result<T, ApiError> {
        let view = self.open_container_view(c)?;
        let running = c.state.status.is_live() && c.state.pid > 0;
        let mounts: Vec<&super::mounts::MountPoint> =
            c.mounts.iter().filter(|m| m.typ != "tmpfs").collect();
        if running || mounts.is_empty() {
            return f(view.fd.as_fd());
        }
        let mut binds: Vec<(String, PathBuf, bool)> = Vec::new();
        for m in mounts {
            let source = if m.typ == "volume" {
                let v = self
                    .volumes
                    .get(&m.name)
                    .map_err(|_| super::mounts::missing_volume(&m.name))?;
                self.volumes.ensure_mounted(&v)?;
                self.volumes.mountpoint(&v.name)
            } else {
                PathBuf::from(&m.source)
            };
            binds.push((m.destination.clone(), source, !m.rw));
        }
        binds.sort_by_key(|(d, _, _)| d.split('/').filter(|s| !s.is_empty()).count());
        let rootfs = self.container_dir(&c.id).join("rootfs");
        std::thread::scope(|s| {
            s.spawn(move || {
                use rustix::mount::{mount_bind_recursive, mount_change, MountPropagationFlags};
                // SAFETY: this thread is ours alone and ends after `f`; unsharing its
                // filesystem attributes and mount namespace affects nothing else.
                unsafe {
                    rustix::thread::unshare_unsafe(
                        rustix::thread::UnshareFlags::FS | rustix::thread::UnshareFlags::NEWNS,
                    )
                }
                .map_err(|e| io_err("failed to unshare a mount namespace", e))?;
                mount_change(
                    "/",
                    MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
                )
                .map_err(|e| io_err("failed to make mounts private", e))?;
                // The rootfs as this namespace has it (the view's fd is of the original one).
                let root = File::open(&rootfs).map_err(|e| io_err(rootfs.display(), e))?;
                for (dest, source, ro) in &binds {
                    if !source.is_dir() {
                        continue; // a bound file: not needed to reach the volumes
                    }
                    let comps = clean_entry(dest.as_bytes())?;
                    let target = mkdir_in_root(root.as_fd(), &comps)?;
                    let at = format!("/proc/thread-self/fd/{}", target.as_raw_fd());
                    mount_bind_recursive(source, &at)
                        .map_err(|e| io_err(format!("failed to mount {dest}"), e))?;
                    if *ro {
                        use rustix::mount::{mount_remount, MountFlags};
                        // The new mount, reached through the root (the old fd is beneath it).
                        let mounted = open_in_root(root.as_fd(), &comps.join("/"), dir_flags())
                            .map_err(|e| errno_err(dest, e))?;
                        mount_remount(
                            format!("/proc/thread-self/fd/{}", mounted.as_raw_fd()),
                            MountFlags::BIND | MountFlags::RDONLY,
                            "",
                        )
                        .map_err(|e| io_err(format!("failed to mount {dest} read-only"), e))?;
                    }
                }
                let root = File::open(&rootfs).map_err(|e| io_err(rootfs.display(), e))?;
                f(root.as_fd())
            })
            .join()
            .map_err(|_| ApiError::internal("cp: the copy thread panicked"))?
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn hold_tail_keeps_the_last_bytes_until_released() {
        let mut out = Vec::new();
        let mut h = HoldTail::new(&mut out, 4);
        h.write_all(b"ab").unwrap();
        h.write_all(b"cdefgh").unwrap();
        h.write_all(b"i").unwrap();
        h.flush().unwrap();
        assert_eq!(h.inner.as_slice(), b"abcde");
        h.release().unwrap();
        assert_eq!(out, b"abcdefghi");
    }

    #[test]
    fn splits_paths_lexically() {
        assert_eq!(split("/etc/passwd"), ("/etc".into(), Some("passwd".into())));
        assert_eq!(split("/"), ("/".into(), None));
        assert_eq!(split("/../.."), ("/".into(), None));
        assert_eq!(split("tmp/./x/"), ("/tmp".into(), Some("x".into())));
    }

    #[test]
    fn refuses_entries_that_leave() {
        assert!(clean_entry(b"../x").is_err());
        assert!(clean_entry(b"a/../../x").is_err());
        assert_eq!(clean_entry(b"./a/../b").unwrap(), vec!["b".to_string()]);
        assert_eq!(clean_entry(b"/etc/x").unwrap(), vec!["etc", "x"]);
    }

    #[test]
    fn go_modes() {
        assert_eq!(go_file_mode(0o040755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(0o120777), (1 << 27) | 0o777);
        assert_eq!(go_file_mode(0o104755), (1 << 23) | 0o755);
    }

    /// CVE-2018-15664: a symlink inside the root pointing at an absolute host path resolves
    /// inside the root (what the container sees), never to the host's file.
    #[test]
    fn cve_2018_15664_symlinks_resolve_in_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/hostname"), "container\n").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        let fd = OwnedFd::from(File::open(&root).unwrap());
        let l = locate(fd.as_fd(), "/link/hostname").unwrap();
        let f = rfs::openat(&l.parent, l.name.as_str(), OFlags::RDONLY, Mode::empty()).unwrap();
        let mut s = String::new();
        File::from(f).read_to_string(&mut s).unwrap();
        assert_eq!(s, "container\n");
        // Extracting through the symlink writes inside the root, not on the host's /etc.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, "wharf-cve-2018-15664", &b"hi\n"[..])
            .unwrap();
        let tar = b.into_inner().unwrap();
        extract(fd.as_fd(), "/link", &tar[..], false, false).unwrap();
        assert!(root.join("etc/wharf-cve-2018-15664").exists());
        assert!(!Path::new("/etc/wharf-cve-2018-15664").exists());
    }
}
