//! Safe layer unpacking into one overlay-style snapshot directory.
//!
//! This is the first line of defence against hostile images (SECURITY.md: CVE-2021-32760,
//! tar parser desync). The rules:
//! - the `tar` crate only parses headers and data (a current `tar`, which honours PAX size
//!   headers); nothing here calls `Entry::unpack`;
//! - every filesystem operation is relative to a directory fd. Parent directories are opened
//!   with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`, so a
//!   symlink made by an earlier entry is never followed (`a` symlink, then `a/b` → error);
//! - paths are cleaned lexically: absolute paths become relative, `..` that would leave the
//!   layer is refused; hardlink targets are resolved the same way (inside the layer, no
//!   symlinks on the way);
//! - ownership, modes (setuid included: chmod after chown), device nodes, fifos, PAX xattrs
//!   (`SCHILY.xattr.*`) and mtimes are kept; directory mtimes are set after their children;
//! - OCI whiteouts become overlayfs whiteouts (`.wh.NAME` → char device 0:0 `NAME`,
//!   `.wh..wh..opq` → `trusted.overlay.opaque=y` on the directory). `trusted.overlay.*`
//!   xattrs carried by the layer itself are dropped: only we decide overlay semantics.
//!
//! The caller unpacks into a fresh directory under `tmp/` and renames it into place only
//! when the whole layer (and its digest) checked out.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use rustix::fs::{
    self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags,
    CWD,
};
use rustix::io::Errno;

use crate::compress::BUF_SIZE;
use crate::error::{Error, Result};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";

/// Unpacks the tar stream `src` into the existing empty directory `dest`. Returns the
/// layer's content size as docker reports it (sum of regular file sizes and symlink target
/// lengths; hardlinks counted once).
/// The tar stream is read up to its end-of-archive marker; the caller drains the rest.
pub(crate) fn unpack<R: Read>(src: &mut R, dest: &Path) -> Result<u64> {
    let root = rfs::open(dest, dir_flags() | OFlags::NOFOLLOW, Mode::empty()).map_err(|e| {
        Error::io(
            format!("failed to open snapshot directory {}", dest.display()),
            e.into(),
        )
    })?;
    let mut u = Unpacker {
        root,
        cache: None,
        dirs: Vec::new(),
        buf: vec![0; BUF_SIZE],
        size: 0,
    };
    let mut archive = tar::Archive::new(src);
    let entries = archive.entries().map_err(bad_tar)?;
    for entry in entries {
        let mut entry = entry.map_err(bad_tar)?;
        let raw = entry.path_bytes().into_owned();
        u.entry(&mut entry, &raw).map_err(|e| match e {
            Error::Invalid { message, source } => Error::Invalid {
                message: format!(
                    "failed to unpack layer: entry {:?}: {message}",
                    String::from_utf8_lossy(&raw)
                ),
                source,
            },
            Error::Io { context, source } => Error::Io {
                context: format!(
                    "failed to unpack layer: entry {:?}: {context}",
                    String::from_utf8_lossy(&raw)
                ),
                source,
            },
            other => other,
        })?;
    }
    u.finish()?;
    Ok(u.size)
}

fn bad_tar(e: io::Error) -> Error {
    Error::Invalid {
        message: format!("failed to unpack layer: invalid tar stream: {e}"),
        source: Some(e),
    }
}

/// Lexically cleans a tar path: strips `/` and `.` components, resolves `..` and refuses it
/// when it would leave the layer root. Returns the components; empty means the root itself.
pub(crate) fn clean_path(raw: &[u8]) -> Result<Vec<&[u8]>> {
    let mut out: Vec<&[u8]> = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(Error::invalid("path escapes the layer root (\"..\")"));
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn join(parts: &[&[u8]]) -> Vec<u8> {
    parts.join(&b'/')
}

/// openat2 flags that keep resolution inside the layer and never follow a symlink.
fn beneath() -> ResolveFlags {
    ResolveFlags::BENEATH
        | ResolveFlags::NO_SYMLINKS
        | ResolveFlags::NO_MAGICLINKS
        | ResolveFlags::NO_XDEV
}

/// For openat2: RESOLVE_NO_SYMLINKS already refuses a symlink anywhere (ELOOP, a clear
/// error); O_NOFOLLOW would turn a final symlink into a vaguer ENOTDIR.
fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
}

/// Maps resolution failures of a layer-relative path to clear errors.
fn resolve_err(what: &str, path: &[u8], e: Errno) -> Error {
    let p = String::from_utf8_lossy(path);
    match e {
        Errno::LOOP => Error::invalid(format!("{what} {p:?} goes through a symbolic link")),
        Errno::XDEV => Error::invalid(format!("{what} {p:?} escapes the layer root")),
        Errno::NOTDIR => Error::invalid(format!("{what} {p:?} is not a directory")),
        Errno::NOENT => Error::invalid(format!("{what} {p:?} does not exist in the layer")),
        e => Error::io(format!("failed to open {what} {p:?}"), e.into()),
    }
}

struct Attrs {
    mode: u32,
    uid: u32,
    gid: u32,
    times: Timestamps,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

struct Unpacker {
    root: OwnedFd,
    /// The last parent directory opened, by layer-relative path.
    /// (Rc: handing it out costs no dup/close syscalls per entry.)
    cache: Option<(Vec<u8>, Rc<OwnedFd>)>,
    /// Directories whose times are set at the end (after their children changed them).
    dirs: Vec<(Vec<u8>, Timestamps)>,
    buf: Vec<u8>,
    size: u64,
}

impl Unpacker {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, raw: &[u8]) -> Result<()> {
        let kind = entry.header().entry_type();
        if matches!(kind, tar::EntryType::XGlobalHeader) {
            return Ok(());
        }
        let parts = clean_path(raw)?;
        let attrs = attrs_of(entry)?;
        let Some((&name, parent)) = parts.split_last() else {
            // the layer root itself
            if kind.is_dir() {
                let root = self
                    .root
                    .try_clone()
                    .map_err(|e| Error::io("failed to dup root fd", e))?;
                apply_fd(root.as_fd(), &attrs, true)?;
                self.dirs.push((Vec::new(), attrs.times));
            }
            return Ok(());
        };
        let parent_path = join(parent);

        // OCI whiteouts (image-spec layer.md "Whiteouts") → overlayfs whiteouts.
        if name.starts_with(WHITEOUT_PREFIX) {
            let dir = self.parent(&parent_path)?;
            if name == WHITEOUT_OPAQUE {
                return rfs::fsetxattr(&dir, "trusted.overlay.opaque", b"y", XattrFlags::empty())
                    .map_err(|e| Error::io("failed to mark directory opaque", e.into()));
            }
            if name.starts_with(WHITEOUT_META_PREFIX) {
                return Ok(()); // other AUFS metadata (.wh..wh.plnk…): nothing to do
            }
            let target = &name[WHITEOUT_PREFIX.len()..];
            if target.is_empty() || target == b"." || target == b".." {
                return Err(Error::invalid("invalid whiteout name"));
            }
            self.remove_existing(dir.as_fd(), target, false)?;
            rfs::mknodat(
                &dir,
                target,
                FileType::CharacterDevice,
                Mode::empty(),
                rfs::makedev(0, 0),
            )
            .map_err(|e| Error::io("failed to create whiteout device", e.into()))?;
            let a = Attrs {
                mode: 0,
                xattrs: Vec::new(),
                ..attrs
            };
            return apply_at(dir.as_fd(), target, &a, false);
        }

        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let dir = self.parent(&parent_path)?;
                let fd = self.create_file(dir.as_fd(), name)?;
                let mut f = File::from(fd);
                let want = entry.size();
                let mut got = 0u64;
                loop {
                    let n = match entry.read(&mut self.buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(bad_tar(e)),
                    };
                    f.write_all(&self.buf[..n])
                        .map_err(|e| Error::io("failed to write file", e))?;
                    got += n as u64;
                }
                if got != want {
                    return Err(Error::invalid(format!(
                        "truncated tar: file data ends after {got} of {want} bytes"
                    )));
                }
                self.size += got;
                apply_fd(f.as_fd(), &attrs, true)?;
                rfs::futimens(&f, &attrs.times)
                    .map_err(|e| Error::io("failed to set times", e.into()))
            }
            tar::EntryType::Directory => {
                let dir = self.parent(&parent_path)?;
                match rfs::mkdirat(&dir, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => {
                        if !self.remove_existing(dir.as_fd(), name, true)? {
                            rfs::mkdirat(&dir, name, Mode::from_raw_mode(0o755))
                                .map_err(|e| Error::io("failed to create directory", e.into()))?;
                        }
                    }
                    Err(e) => return Err(Error::io("failed to create directory", e.into())),
                }
                let fd = rfs::openat2(&dir, name, dir_flags(), Mode::empty(), beneath())
                    .map_err(|e| resolve_err("directory", raw, e))?;
                apply_fd(fd.as_fd(), &attrs, true)?;
                self.dirs.push((join(&parts), attrs.times));
                Ok(())
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| Error::invalid("symlink without a target"))?
                    .into_owned();
                let dir = self.parent(&parent_path)?;
                self.remove_existing(dir.as_fd(), name, false)?;
                // The target is stored verbatim: it is only ever resolved inside the
                // container's root, never by us.
                rfs::symlinkat(target.as_slice(), &dir, name)
                    .map_err(|e| Error::io("failed to create symlink", e.into()))?;
                // docker's layer size is a walk of the unpacked layer: a symlink counts its
                // lstat size, the length of its target
                self.size += target.len() as u64;
                apply_at(dir.as_fd(), name, &attrs, true)
            }
            tar::EntryType::Link => {
                let target_raw = entry
                    .link_name_bytes()
                    .ok_or_else(|| Error::invalid("hardlink without a target"))?
                    .into_owned();
                let tparts = clean_path(&target_raw)?;
                let Some((&tname, tparent)) = tparts.split_last() else {
                    return Err(Error::invalid("hardlink to the layer root"));
                };
                if tparts == parts {
                    return Ok(()); // a link to itself: already there
                }
                let tdir = self.open_existing(&join(tparent), "hardlink target")?;
                let dir = self.parent(&parent_path)?;
                self.remove_existing(dir.as_fd(), name, false)?;
                rfs::linkat(&tdir, tname, &dir, name, AtFlags::empty()).map_err(|e| match e {
                    Errno::NOENT => Error::invalid(format!(
                        "hardlink target {:?} does not exist in the layer",
                        String::from_utf8_lossy(&target_raw)
                    )),
                    Errno::PERM => Error::invalid("hardlink target is a directory"),
                    e => Error::io("failed to create hardlink", e.into()),
                })
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let (ft, dev) = match kind {
                    tar::EntryType::Fifo => (FileType::Fifo, rfs::makedev(0, 0)),
                    _ => {
                        let h = entry.header();
                        let major = h.device_major().map_err(bad_tar)?.unwrap_or(0);
                        let minor = h.device_minor().map_err(bad_tar)?.unwrap_or(0);
                        let ft = if kind == tar::EntryType::Char {
                            FileType::CharacterDevice
                        } else {
                            FileType::BlockDevice
                        };
                        (ft, rfs::makedev(major, minor))
                    }
                };
                let dir = self.parent(&parent_path)?;
                self.remove_existing(dir.as_fd(), name, false)?;
                rfs::mknodat(&dir, name, ft, Mode::empty(), dev)
                    .map_err(|e| Error::io("failed to create device node", e.into()))?;
                apply_at(dir.as_fd(), name, &attrs, false)
            }
            other => Err(Error::invalid(format!(
                "unsupported tar entry type {other:?}"
            ))),
        }
    }

    /// Opens (creating missing directories, like tar) the parent directory `rel` of an
    /// entry, without following any symlink.
    fn parent(&mut self, rel: &[u8]) -> Result<Rc<OwnedFd>> {
        if let Some((p, fd)) = &self.cache {
            if p == rel {
                return Ok(fd.clone());
            }
        }
        let fd = if rel.is_empty() {
            self.root
                .try_clone()
                .map_err(|e| Error::io("failed to dup fd", e))?
        } else {
            match rfs::openat2(&self.root, rel, dir_flags(), Mode::empty(), beneath()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => self.mkdir_all(rel)?,
                Err(e) => return Err(resolve_err("parent directory", rel, e)),
            }
        };
        let fd = Rc::new(fd);
        self.cache = Some((rel.to_vec(), fd.clone()));
        Ok(fd)
    }

    /// Opens an existing directory of the layer (no creation), no symlinks followed.
    fn open_existing(&self, rel: &[u8], what: &str) -> Result<OwnedFd> {
        if rel.is_empty() {
            return self
                .root
                .try_clone()
                .map_err(|e| Error::io("failed to dup fd", e));
        }
        rfs::openat2(&self.root, rel, dir_flags(), Mode::empty(), beneath())
            .map_err(|e| resolve_err(what, rel, e))
    }

    /// Creates the missing directories of `rel` one component at a time (mode 0755, as
    /// docker does for implied parents).
    fn mkdir_all(&self, rel: &[u8]) -> Result<OwnedFd> {
        let mut cur = self
            .root
            .try_clone()
            .map_err(|e| Error::io("failed to dup fd", e))?;
        for c in rel.split(|&b| b == b'/') {
            match rfs::mkdirat(&cur, c, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(Error::io("failed to create parent directory", e.into())),
            }
            cur = rfs::openat2(&cur, c, dir_flags(), Mode::empty(), beneath())
                .map_err(|e| resolve_err("parent directory", rel, e))?;
        }
        Ok(cur)
    }

    /// Creates a new regular file `name` in `dir`, replacing whatever non-directory (or,
    /// like docker, directory tree) was there.
    fn create_file(&mut self, dir: BorrowedFd<'_>, name: &[u8]) -> Result<OwnedFd> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rfs::openat(dir, name, flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => Ok(fd),
            Err(Errno::EXIST) => {
                self.remove_existing(dir, name, false)?;
                rfs::openat(dir, name, flags, Mode::from_raw_mode(0o600))
                    .map_err(|e| Error::io("failed to create file", e.into()))
            }
            Err(e) => Err(Error::io("failed to create file", e.into())),
        }
    }

    /// Removes `name` from `dir` if present (a directory with everything under it, never
    /// following symlinks). With `keep_dir`, an existing directory is kept (dir over dir).
    /// Returns whether a directory was kept.
    fn remove_existing(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        keep_dir: bool,
    ) -> Result<bool> {
        let st = match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(Error::io("failed to stat existing entry", e.into())),
        };
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            if keep_dir {
                return Ok(true);
            }
            self.cache = None; // the cached parent may have been under it
            remove_all_at(dir, name)?;
        } else {
            rfs::unlinkat(dir, name, AtFlags::empty())
                .map_err(|e| Error::io("failed to replace existing entry", e.into()))?;
        }
        Ok(false)
    }

    /// Sets directory times now that all children exist.
    fn finish(&mut self) -> Result<()> {
        self.cache = None;
        for (rel, times) in self.dirs.iter().rev() {
            let fd = if rel.is_empty() {
                self.root
                    .try_clone()
                    .map_err(|e| Error::io("failed to dup fd", e))?
            } else {
                match rfs::openat2(
                    &self.root,
                    rel.as_slice(),
                    dir_flags(),
                    Mode::empty(),
                    beneath(),
                ) {
                    Ok(fd) => fd,
                    Err(_) => continue, // replaced by a later entry
                }
            };
            rfs::futimens(&fd, times)
                .map_err(|e| Error::io("failed to set directory times", e.into()))?;
        }
        Ok(())
    }
}

/// Removes `name` (a directory tree) under `dir` without following symlinks.
pub(crate) fn remove_all_at(dir: BorrowedFd<'_>, name: &[u8]) -> Result<()> {
    let fd = match rfs::openat(dir, name, dir_flags() | OFlags::NOFOLLOW, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOTDIR) | Err(Errno::LOOP) => {
            return rfs::unlinkat(dir, name, AtFlags::empty())
                .map_err(|e| Error::io("failed to remove", e.into()))
        }
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(Error::io("failed to open directory for removal", e.into())),
    };
    let mut children = Vec::new();
    for ent in
        rfs::Dir::read_from(&fd).map_err(|e| Error::io("failed to read directory", e.into()))?
    {
        let ent = ent.map_err(|e| Error::io("failed to read directory", e.into()))?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            children.push((n.to_vec(), ent.file_type() == FileType::Directory));
        }
    }
    for (n, is_dir) in children {
        if is_dir {
            remove_all_at(fd.as_fd(), &n)?;
        } else {
            match rfs::unlinkat(&fd, n.as_slice(), AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(Errno::ISDIR) => remove_all_at(fd.as_fd(), &n)?,
                Err(e) => return Err(Error::io("failed to remove", e.into())),
            }
        }
    }
    match rfs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(Error::io("failed to remove directory", e.into())),
    }
}

/// Removes a directory tree by path, not following symlinks inside it.
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Error::invalid(format!(
            "refusing to remove {}",
            path.display()
        )));
    };
    let dir = match rfs::openat(CWD, parent, dir_flags() | OFlags::NOFOLLOW, Mode::empty()) {
        Ok(d) => d,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => {
            return Err(Error::io(
                format!("failed to open {}", parent.display()),
                e.into(),
            ))
        }
    };
    remove_all_at(dir.as_fd(), name.as_bytes())
}

fn attrs_of<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Attrs> {
    let h = entry.header();
    let mode = h.mode().map_err(bad_tar)? & 0o7777;
    let mut uid =
        u32::try_from(h.uid().map_err(bad_tar)?).map_err(|_| Error::invalid("uid out of range"))?;
    let mut gid =
        u32::try_from(h.gid().map_err(bad_tar)?).map_err(|_| Error::invalid("gid out of range"))?;
    let mut mtime = Timespec {
        tv_sec: h.mtime().map_err(bad_tar)? as i64,
        tv_nsec: 0,
    };
    let mut atime = None;
    let mut xattrs = Vec::new();
    if let Some(pax) = entry.pax_extensions().map_err(bad_tar)? {
        for ext in pax {
            let ext = ext.map_err(bad_tar)?;
            let key = ext.key_bytes();
            let value = ext.value_bytes();
            if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                if name.starts_with(b"trusted.overlay.") {
                    continue; // overlay semantics are ours to set, never the image's
                }
                xattrs.push((name.to_vec(), value.to_vec()));
            } else {
                let v = std::str::from_utf8(value).unwrap_or("");
                match key {
                    b"uid" => uid = v.parse().map_err(|_| Error::invalid("invalid PAX uid"))?,
                    b"gid" => gid = v.parse().map_err(|_| Error::invalid("invalid PAX gid"))?,
                    b"mtime" => mtime = pax_time(v).unwrap_or(mtime),
                    b"atime" => atime = pax_time(v),
                    _ => {}
                }
            }
        }
    }
    Ok(Attrs {
        mode,
        uid,
        gid,
        times: Timestamps {
            last_access: atime.unwrap_or(mtime),
            last_modification: mtime,
        },
        xattrs,
    })
}

/// PAX times: decimal seconds with an optional fraction.
fn pax_time(v: &str) -> Option<Timespec> {
    let (s, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = s.parse().ok()?;
    let mut nsec = 0i64;
    let digits: String = frac.chars().take(9).collect();
    if !digits.is_empty() {
        nsec = format!("{digits:0<9}").parse().ok()?;
    }
    if secs < 0 && nsec > 0 {
        return Some(Timespec {
            tv_sec: secs - 1,
            tv_nsec: 1_000_000_000 - nsec,
        });
    }
    Some(Timespec {
        tv_sec: secs,
        tv_nsec: nsec,
    })
}

/// Owner, mode (after owner: chown clears setuid), xattrs (after chown, which clears
/// security.capability) on an open file or directory.
fn apply_fd(fd: BorrowedFd<'_>, a: &Attrs, chmod: bool) -> Result<()> {
    rfs::fchown(
        fd,
        Some(rfs::Uid::from_raw(a.uid)),
        Some(rfs::Gid::from_raw(a.gid)),
    )
    .map_err(|e| Error::io("failed to set owner", e.into()))?;
    if chmod {
        rfs::fchmod(fd, Mode::from_raw_mode(a.mode))
            .map_err(|e| Error::io("failed to set mode", e.into()))?;
    }
    for (k, v) in &a.xattrs {
        rfs::fsetxattr(fd, k.as_slice(), v, XattrFlags::empty()).map_err(|e| {
            Error::io(
                format!("failed to set xattr {}", String::from_utf8_lossy(k)),
                e.into(),
            )
        })?;
    }
    Ok(())
}

/// The same for an entry that cannot be opened (symlink, device, fifo, whiteout), by name
/// under its parent fd, never following the final component.
fn apply_at(dir: BorrowedFd<'_>, name: &[u8], a: &Attrs, is_symlink: bool) -> Result<()> {
    rfs::chownat(
        dir,
        name,
        Some(rfs::Uid::from_raw(a.uid)),
        Some(rfs::Gid::from_raw(a.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| Error::io("failed to set owner", e.into()))?;
    if !is_symlink {
        // Not a symlink (we just made this node in our private directory), so the
        // follow-by-default chmodat cannot go anywhere else.
        rfs::chmodat(dir, name, Mode::from_raw_mode(a.mode), AtFlags::empty())
            .map_err(|e| Error::io("failed to set mode", e.into()))?;
    }
    if !a.xattrs.is_empty() {
        // lsetxattr through the parent's /proc/self/fd link: the final component is not followed.
        let mut p =
            format!("/proc/self/fd/{}/", std::os::fd::AsRawFd::as_raw_fd(&dir)).into_bytes();
        p.extend_from_slice(name);
        for (k, v) in &a.xattrs {
            match rfs::lsetxattr(OsStr::from_bytes(&p), k.as_slice(), v, XattrFlags::empty()) {
                Ok(()) => {}
                // user.* xattrs are not allowed on symlinks/devices; docker ignores these too
                Err(Errno::PERM) | Err(Errno::NOTSUP) => {}
                Err(e) => {
                    return Err(Error::io(
                        format!("failed to set xattr {}", String::from_utf8_lossy(k)),
                        e.into(),
                    ))
                }
            }
        }
    }
    rfs::utimensat(dir, name, &a.times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| Error::io("failed to set times", e.into()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cleans_paths() {
        let c = |s: &str| clean_path(s.as_bytes()).map(|v| String::from_utf8(join(&v)).unwrap());
        assert_eq!(c("/etc/passwd").unwrap(), "etc/passwd");
        assert_eq!(c("./a/./b/").unwrap(), "a/b");
        assert_eq!(c("a/../b").unwrap(), "b");
        assert_eq!(c("./").unwrap(), "");
        assert!(c("../x").is_err());
        assert!(c("a/../../x").is_err());
        assert!(c("/../x").is_err());
    }

    #[test]
    fn pax_times() {
        assert_eq!(
            pax_time("12.5").map(|t| (t.tv_sec, t.tv_nsec)),
            Some((12, 500_000_000))
        );
        assert_eq!(pax_time("12").map(|t| (t.tv_sec, t.tv_nsec)), Some((12, 0)));
    }
}
