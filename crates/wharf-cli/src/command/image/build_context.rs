//! The build context of `wharf build`, as docker/cli's `cli/command/image/build/context.go`
//! and moby's `archive.TarWithOptions` make it:
//!
//! - a local directory: walked in lexical order, files excluded by the `.dockerignore` at
//!   its root left out (excluded directories are not even entered unless an exception
//!   pattern may re-include something below them), the `.dockerignore` and the Dockerfile
//!   always sent; entries keep their mode and mtime, symlinks stay symlinks, hard links
//!   become link entries, and owners are root (docker/cli's `ChownOpts{UID: 0, GID: 0}`);
//! - a Dockerfile outside the directory, or read from stdin (`-f -`), is added at the end
//!   under a random name `.dockerfile.<20 hex>`, which is also appended to `.dockerignore`
//!   (docker/cli's `AddDockerfileToBuildContext`);
//! - `-` as the context: stdin, sent as-is when it is an archive (tar, or compressed), or
//!   else taken as a Dockerfile and wrapped in a tar holding just `Dockerfile`.
//!
//! The directory is scanned (and checked for unreadable files, docker's
//! `ValidateContextDirectory`) before the request; the tar itself is written on a thread
//! while the request body is being sent, never held whole in memory.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;
use wharf_build::ignore::Ignore;

use crate::error::{go_io_message, CliError};

/// The Dockerfile name docker looks for in the context.
pub const DEFAULT_DOCKERFILE: &str = "Dockerfile";

/// Where the Dockerfile of a directory context comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerfileSource {
    /// `PATH/Dockerfile` (or `PATH/dockerfile` when only that exists).
    Default,
    /// `-f FILE`: relative to the current directory, not to the context.
    File(String),
    /// `-f -`: the Dockerfile's text, read from stdin.
    Stdin(Vec<u8>),
}

/// A Dockerfile sent in the context under a generated name.
#[derive(Debug, Clone)]
struct ExtraDockerfile {
    name: String,
    content: Vec<u8>,
}

/// A scanned context directory: what goes into the tar, in order.
#[derive(Debug)]
pub struct DirContext {
    root: PathBuf,
    /// Relative paths in walk order (directories before what they hold).
    entries: Vec<PathBuf>,
    extra: Option<ExtraDockerfile>,
    /// The `dockerfile` query parameter: the Dockerfile's path in the context.
    dockerfile: String,
}

impl DirContext {
    /// Resolves `context` and the Dockerfile as docker/cli's `GetContextFromLocalDir` does, reads
    /// `.dockerignore` and walks the directory. Errors read as docker's.
    pub fn prepare(context: &str, dockerfile: DockerfileSource) -> Result<DirContext, CliError> {
        let prep = |m: String| CliError::msg(format!("unable to prepare context: {m}"));
        let root = resolve_context_dir(context).map_err(prep)?;
        let (dockerfile_rel, extra) = match dockerfile {
            DockerfileSource::Stdin(content) => (None, Some(content)),
            source => {
                let file = match &source {
                    DockerfileSource::File(f) => Some(f.as_str()),
                    _ => None,
                };
                let abs = dockerfile_path(&root, file);
                let real = eval_symlinks(&abs).map_err(|e| {
                    prep(format!(
                        "unable to evaluate symlinks in Dockerfile path: {e}"
                    ))
                })?;
                match real.strip_prefix(&root) {
                    Ok(rel) => (Some(slash_path(rel)), None),
                    Err(_) => {
                        // Outside the context: sent under a generated name (docker reads the
                        // path as given).
                        let given = file.map(PathBuf::from).unwrap_or(abs);
                        let content = std::fs::read(&given).map_err(|e| {
                            CliError::msg(format!(
                                "unable to open Dockerfile: {}",
                                go_io_message("open", &given.to_string_lossy(), &e)
                            ))
                        })?;
                        (None, Some(content))
                    }
                }
            }
        };
        let ignore = read_dockerignore(&root)?;
        let mut forced = vec![".dockerignore".to_string()];
        forced.extend(dockerfile_rel.clone());
        let entries = scan(&root, ignore.as_ref(), &forced)?;
        let extra = extra.map(|content| ExtraDockerfile {
            name: format!(".dockerfile.{}", random_hex(20)),
            content,
        });
        let dockerfile = match (&extra, dockerfile_rel) {
            (Some(x), _) => x.name.clone(),
            (None, Some(rel)) => rel,
            (None, None) => DEFAULT_DOCKERFILE.to_string(),
        };
        Ok(DirContext {
            root,
            entries,
            extra,
            dockerfile,
        })
    }

    /// The Dockerfile's path inside the context (the `dockerfile` query parameter).
    pub fn dockerfile(&self) -> &str {
        &self.dockerfile
    }

    /// The relative paths that go into the tar, in order (without the generated Dockerfile).
    pub fn entries(&self) -> &[PathBuf] {
        &self.entries
    }

    /// The Dockerfile's text (`None` when it cannot be read: the daemon will say so).
    pub fn dockerfile_text(&self) -> Option<String> {
        match &self.extra {
            Some(x) => String::from_utf8(x.content.clone()).ok(),
            None => std::fs::read_to_string(self.root.join(&self.dockerfile)).ok(),
        }
    }

    /// Sends only the paths under `prefixes` (and the directories above them), the
    /// Dockerfile and `.dockerignore` (see [`needed_paths`]).
    pub fn keep_only(&mut self, prefixes: &[String]) {
        let df = self.dockerfile.clone();
        self.entries.retain(|rel| {
            let p = slash_path(rel);
            p == ".dockerignore"
                || p == df
                || prefixes.iter().any(|n| {
                    p == *n || p.starts_with(&format!("{n}/")) || n.starts_with(&format!("{p}/"))
                })
        });
    }

    /// Writes the context tar. A file that vanished or became unreadable since the scan is
    /// reported through `warn` and left out (moby logs "Can't add file" and goes on); an error
    /// writing to `out` ends the archive.
    pub fn write_tar<W: Write>(&self, out: W, warn: &mut dyn FnMut(String)) -> io::Result<W> {
        let mut b = tar::Builder::new(out);
        let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
        let mut saw_ignore = false;
        for rel in &self.entries {
            let path = self.root.join(rel);
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    warn(add_failed(&path, &e));
                    continue;
                }
            };
            let mut h = header_for(&meta);
            let ft = meta.file_type();
            if ft.is_dir() {
                let mut name = rel.as_os_str().to_os_string();
                name.push("/");
                b.append_data(&mut h, name, io::empty())?;
            } else if ft.is_symlink() {
                match std::fs::read_link(&path) {
                    Ok(target) => b.append_link(&mut h, rel, target)?,
                    Err(e) => warn(add_failed(&path, &e)),
                }
            } else if ft.is_file() {
                if meta.nlink() > 1 {
                    let key = (meta.dev(), meta.ino());
                    if let Some(first) = links.get(&key) {
                        h.set_entry_type(tar::EntryType::Link);
                        h.set_size(0);
                        b.append_link(&mut h, rel, first)?;
                        continue;
                    }
                    links.insert(key, rel.clone());
                }
                let is_ignore_file = rel.as_os_str() == ".dockerignore";
                saw_ignore |= is_ignore_file;
                let f = match File::open(&path) {
                    Ok(f) => f,
                    Err(e) => {
                        warn(add_failed(&path, &e));
                        continue;
                    }
                };
                match (&self.extra, is_ignore_file) {
                    (Some(x), true) => {
                        let mut content = Vec::new();
                        f.take(meta.len()).read_to_end(&mut content)?;
                        content.extend_from_slice(format!("\n{}\n", x.name).as_bytes());
                        h.set_size(content.len() as u64);
                        b.append_data(&mut h, rel, content.as_slice())?;
                    }
                    _ => {
                        // Exactly the size in the header, even if the file changed meanwhile.
                        let len = meta.len();
                        let data = f.take(len).chain(io::repeat(0)).take(len);
                        b.append_data(&mut h, rel, data)?;
                    }
                }
            } else if ft.is_socket() {
                warn(format!(
                    "Can't add file {} to tar: archive/tar: sockets not supported",
                    path.display()
                ));
            } else {
                b.append_data(&mut h, rel, io::empty())?;
            }
        }
        if let Some(x) = &self.extra {
            let now = crate::format::units::now_unix() as u64;
            let mut h = generated_header(0o600, now);
            h.set_size(x.content.len() as u64);
            b.append_data(&mut h, &x.name, x.content.as_slice())?;
            if !saw_ignore {
                let content = format!(".dockerignore\n{}\n", x.name);
                let mut h = generated_header(0o600, now);
                h.set_size(content.len() as u64);
                b.append_data(&mut h, ".dockerignore", content.as_bytes())?;
            }
        }
        b.into_inner()
    }

    /// Starts writing the tar on a thread; the returned reader is the request body. A fatal
    /// write error reaches the reader as an I/O error (the request then fails).
    pub fn stream(self) -> ChannelReader {
        let (tx, rx) = mpsc::channel(8);
        std::thread::spawn(move || {
            let w = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
            };
            let mut warn = |m: String| eprintln!("{m}");
            match self.write_tar(w, &mut warn) {
                Ok(mut w) => {
                    let _ = w.flush();
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                }
            }
        });
        ChannelReader {
            rx,
            cur: Bytes::new(),
        }
    }
}

fn add_failed(path: &Path, e: &io::Error) -> String {
    format!(
        "Can't add file {} to tar: {}",
        path.display(),
        go_io_message("lstat", &path.to_string_lossy(), e)
    )
}

/// A header for an entry on disk: type, permission bits (with setuid/setgid/sticky), size and
/// mtime from the file; owner root, as docker/cli sends the context.
fn header_for(meta: &Metadata) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(0);
    h.set_gid(0);
    let ft = meta.file_type();
    if ft.is_char_device() || ft.is_block_device() {
        let rdev = meta.rdev();
        let major = ((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0xfff);
        let minor = ((rdev >> 12) & 0xffff_ff00) | (rdev & 0xff);
        let _ = h.set_device_major(major as u32);
        let _ = h.set_device_minor(minor as u32);
    }
    h
}

/// A regular file made up here (the generated Dockerfile, a `.dockerignore`).
fn generated_header(mode: u32, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// `ResolveAndValidateContextPath` (after docker's "is it a local path at all" check).
fn resolve_context_dir(context: &str) -> Result<PathBuf, String> {
    if std::fs::metadata(context).is_err() {
        return Err(format!("path {context:?} not found"));
    }
    let abs = absolute(Path::new(context));
    let real = eval_symlinks(&abs)
        .map_err(|e| format!("unable to evaluate symlinks in context path: {e}"))?;
    let meta = std::fs::symlink_metadata(&real).map_err(|e| {
        format!(
            "unable to stat context directory {:?}: {}",
            real.display().to_string(),
            go_io_message("lstat", &real.to_string_lossy(), &e)
        )
    })?;
    if !meta.is_dir() {
        return Err(format!("context must be a directory: {}", real.display()));
    }
    Ok(real)
}

/// Where docker looks for the Dockerfile: `-f` relative to the current directory, or
/// `ROOT/Dockerfile`, or `ROOT/dockerfile` when only that one exists.
fn dockerfile_path(root: &Path, file: Option<&str>) -> PathBuf {
    match file {
        Some(f) => absolute(Path::new(f)),
        None => {
            let p = root.join(DEFAULT_DOCKERFILE);
            if std::fs::symlink_metadata(&p).is_err() {
                let alt = root.join(DEFAULT_DOCKERFILE.to_lowercase());
                if std::fs::symlink_metadata(&alt).is_ok() {
                    return alt;
                }
            }
            p
        }
    }
}

/// Go's `filepath.Abs`: joined to the current directory and cleaned (no symlinks resolved).
fn absolute(p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// Go's `filepath.EvalSymlinks`; the error names the first path that is missing, as Go's
/// does ("lstat /ctx/Dockerfile: no such file or directory").
fn eval_symlinks(p: &Path) -> Result<PathBuf, String> {
    std::fs::canonicalize(p).map_err(|e| {
        let mut missing = PathBuf::from("/");
        for c in p.components() {
            if let Component::Normal(n) = c {
                missing.push(n);
                if std::fs::symlink_metadata(&missing).is_err() {
                    break;
                }
            }
        }
        go_io_message("lstat", &missing.to_string_lossy(), &e)
    })
}

/// A relative path with `/` separators, as the API and `.dockerignore` matching want it.
fn slash_path(rel: &Path) -> String {
    rel.to_string_lossy().into_owned()
}

/// The context paths a Dockerfile reads — sources of `COPY`/`ADD` without `--from`, sources of
/// `RUN --mount=type=bind` without `from` — as literal path prefixes (up to the first
/// component with a wildcard). `None` when the whole context is needed or that cannot be told
/// from the text: a `$` in a source, `..`, the context root itself. (A base image's ONBUILD
/// triggers may read the context too: the caller checks the bases.)
pub fn needed_paths(df: &wharf_build::dockerfile::Dockerfile) -> Option<Vec<String>> {
    use wharf_build::dockerfile::Kind;
    let mut out = Vec::new();
    let mut add = |src: &str| -> Option<()> {
        if src.contains('$') {
            return None;
        }
        let mut prefix = Vec::new();
        for c in src.split('/') {
            match c {
                "" | "." => continue,
                ".." => return None,
                c if c.contains(['*', '?', '[', '\\']) => break,
                c => prefix.push(c),
            }
        }
        if prefix.is_empty() {
            return None; // the whole context
        }
        out.push(prefix.join("/"));
        Some(())
    };
    for st in &df.stages {
        for ins in &st.instructions {
            match &ins.kind {
                Kind::Copy {
                    srcs, from: None, ..
                }
                | Kind::Add { srcs, .. } => {
                    for s in srcs {
                        let remote =
                            s.starts_with("<<") || s.contains("://") || s.starts_with("git@");
                        if !remote {
                            add(s)?;
                        }
                    }
                }
                Kind::Run { mounts, .. } => {
                    for m in mounts
                        .iter()
                        .filter(|m| m.kind == "bind" && m.from.is_none())
                    {
                        add(m.source.as_deref().unwrap_or("."))?;
                    }
                }
                _ => {}
            }
        }
    }
    Some(out)
}

/// `.dockerignore` at the context root, if there is one.
fn read_dockerignore(root: &Path) -> Result<Option<Ignore>, CliError> {
    let path = root.join(".dockerignore");
    let text = match std::fs::read(&path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            let op = if path.is_dir() { "read" } else { "open" };
            return Err(CliError::msg(go_io_message(
                op,
                &path.to_string_lossy(),
                &e,
            )));
        }
    };
    Ignore::try_parse(&text)
        .map(Some)
        .map_err(|e| CliError::msg(format!("error checking context: {e}")))
}

/// Walks `root` in lexical order and returns the relative paths to send. Excluded directories
/// are entered only when something below them may be included (an exception pattern, or a
/// `forced` path: the Dockerfile and `.dockerignore`), and are then not sent themselves.
/// Unreadable files and directories fail the way docker's `ValidateContextDirectory` does.
pub fn scan(
    root: &Path,
    ignore: Option<&Ignore>,
    forced: &[String],
) -> Result<Vec<PathBuf>, CliError> {
    let mut out = Vec::new();
    walk(root, Path::new(""), ignore, forced, &mut out)?;
    Ok(out)
}

fn check_err(m: String) -> CliError {
    CliError::msg(format!("error checking context: {m}"))
}

fn walk(
    root: &Path,
    rel_dir: &Path,
    ignore: Option<&Ignore>,
    forced: &[String],
    out: &mut Vec<PathBuf>,
) -> Result<(), CliError> {
    let dir = root.join(rel_dir);
    let read_err = |e: io::Error| {
        if e.kind() == io::ErrorKind::PermissionDenied {
            check_err(format!("can't stat '{}'", dir.display()))
        } else {
            check_err(go_io_message("open", &dir.to_string_lossy(), &e))
        }
    };
    let mut names: Vec<OsString> = std::fs::read_dir(&dir)
        .map_err(read_err)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    names.sort();
    for name in names {
        let rel = rel_dir.join(&name);
        let rel_s = slash_path(&rel);
        let path = root.join(&rel);
        let meta = std::fs::symlink_metadata(&path).map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => {
                check_err(format!("can't stat '{}'", path.display()))
            }
            io::ErrorKind::NotFound => check_err(format!(
                "file ('{}') not found or excluded by .dockerignore",
                path.display()
            )),
            _ => check_err(go_io_message("lstat", &path.to_string_lossy(), &e)),
        })?;
        let excluded = ignore.is_some_and(|i| i.matches(&rel_s));
        if meta.is_dir() {
            if excluded {
                let prefix = format!("{rel_s}/");
                let may_include = ignore.is_some_and(|i| i.dir_may_contain_included(&rel_s))
                    || forced.iter().any(|f| f.starts_with(&prefix));
                if may_include {
                    walk(root, &rel, ignore, forced, out)?;
                }
                continue;
            }
            out.push(rel.clone());
            walk(root, &rel, ignore, forced, out)?;
            continue;
        }
        if excluded && !forced.contains(&rel_s) {
            continue;
        }
        if meta.is_file() {
            if let Err(e) = File::open(&path) {
                if e.kind() == io::ErrorKind::PermissionDenied {
                    return Err(check_err(format!(
                        "no permission to read from '{}'",
                        path.display()
                    )));
                }
            }
        }
        out.push(rel);
    }
    Ok(())
}

/// `n` lowercase hex digits from the system's random source (docker's
/// `stringid.GenerateRandomID()[:n]`).
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n.div_ceil(2)];
    let filled = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if filled.is_err() {
        // No /dev/urandom: the clock and the pid still make a name that will not collide
        // with a file of the context.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let seed = t ^ (u128::from(std::process::id()) << 64);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8;
        }
    }
    let mut s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    s.truncate(n);
    s
}

/// Is this the start of an archive, tar or compressed? (docker/cli's `IsArchive` on the first
/// 1024 bytes: a compression magic, or a tar header whose checksum holds.)
pub fn is_archive(head: &[u8]) -> bool {
    const MAGICS: [&[u8]; 4] = [
        &[0x1f, 0x8b, 0x08],
        b"BZh",
        &[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
        &[0x28, 0xb5, 0x2f, 0xfd],
    ];
    if MAGICS.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    if head.len() < 512 || head[..512].iter().all(|b| *b == 0) {
        return false;
    }
    let h = &head[..512];
    let field = &h[148..156];
    let digits: String = field
        .iter()
        .map(|&b| b as char)
        .filter(|c| ('0'..='7').contains(c))
        .collect();
    let Ok(want) = i64::from_str_radix(&digits, 8) else {
        return false;
    };
    let blank = |i: usize| (148..156).contains(&i);
    let unsigned: i64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| if blank(i) { 32 } else { i64::from(b) })
        .sum();
    let signed: i64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| if blank(i) { 32 } else { i64::from(b as i8) })
        .sum();
    want == unsigned || want == signed
}

/// A Dockerfile read from stdin, wrapped as docker/cli does: a tar holding only `Dockerfile`.
pub fn wrap_dockerfile(content: &[u8]) -> io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = generated_header(0o644, crate::format::units::now_unix() as u64);
    h.set_uid(u64::from(rustix::process::getuid().as_raw()));
    h.set_gid(u64::from(rustix::process::getgid().as_raw()));
    h.set_size(content.len() as u64);
    b.append_data(&mut h, DEFAULT_DOCKERFILE, content)?;
    b.into_inner()
}

const CHUNK: usize = 256 * 1024;

/// The writing half of the body channel: buffers, and sends full chunks.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// The request body side of [`DirContext::stream`].
pub struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    cur: Bytes,
}

impl AsyncRead for ChannelReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.cur.is_empty() {
                let n = this.cur.len().min(buf.remaining());
                buf.put_slice(&this.cur.split_to(n));
                return Poll::Ready(Ok(()));
            }
            match this.rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(Some(Ok(b))) => this.cur = b,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// (name, type, link target, size, mode, uid, gid, mtime, content) of each entry.
    type Row = (String, char, String, u64, u32, u64, u64, u64, Vec<u8>);

    fn entries(tar_bytes: &[u8]) -> Vec<Row> {
        let mut ar = tar::Archive::new(tar_bytes);
        let mut out = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let link = e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default();
            let mut content = Vec::new();
            e.read_to_end(&mut content).unwrap();
            let kind = match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                tar::EntryType::Link => 'h',
                tar::EntryType::Regular => 'f',
                _ => '?',
            };
            out.push((
                name,
                kind,
                link,
                h.size().unwrap(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.mtime().unwrap(),
                content,
            ));
        }
        out
    }

    fn names(rows: &[Row]) -> Vec<&str> {
        rows.iter().map(|r| r.0.as_str()).collect()
    }

    fn pack(ctx: &DirContext) -> Vec<Row> {
        let mut warnings = Vec::new();
        let bytes = ctx
            .write_tar(Vec::new(), &mut |m| warnings.push(m))
            .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        entries(&bytes)
    }

    fn write(root: &Path, rel: &str, content: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    fn prepare(root: &Path, source: DockerfileSource) -> DirContext {
        DirContext::prepare(root.to_str().unwrap(), source).unwrap()
    }

    /// The context of the docs' example: files, subdirectories, a symlink and a hard link,
    /// and a `.dockerignore` with an exception, a directory and a `**` pattern.
    fn sample() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "Dockerfile", "FROM busybox\nCOPY . /app\n");
        write(
            r,
            ".dockerignore",
            "*.log\n!keep.log\nnode_modules\n**/*.tmp\n",
        );
        write(r, "a.txt", "hello\n");
        write(r, "b.log", "drop me");
        write(r, "keep.log", "keep me");
        write(r, "x.tmp", "tmp");
        write(r, "node_modules/m/index.js", "big");
        write(r, "sub/c.txt", "c");
        write(r, "sub/d.tmp", "tmp");
        write(r, "sub/e.log", "only *.log at the root is excluded");
        write(r, "sub/deeper/f.tmp", "tmp");
        write(r, "sub/deeper/g.sh", "#!/bin/sh\n");
        std::os::unix::fs::symlink("a.txt", r.join("link")).unwrap();
        std::fs::hard_link(r.join("sub/c.txt"), r.join("sub/hard.txt")).unwrap();
        std::fs::set_permissions(
            r.join("sub/deeper/g.sh"),
            std::fs::Permissions::from_mode(0o4750),
        )
        .unwrap();
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        std::fs::File::options()
            .write(true)
            .open(r.join("a.txt"))
            .unwrap()
            .set_modified(t)
            .unwrap();
        dir
    }

    #[test]
    fn packs_the_context_as_docker_does() {
        let dir = sample();
        let ctx = prepare(dir.path(), DockerfileSource::Default);
        assert_eq!(ctx.dockerfile(), "Dockerfile");
        let rows = pack(&ctx);
        assert_eq!(
            names(&rows),
            [
                ".dockerignore",
                "Dockerfile",
                "a.txt",
                "keep.log",
                "link",
                "sub/",
                "sub/c.txt",
                "sub/deeper/",
                "sub/deeper/g.sh",
                "sub/e.log",
                "sub/hard.txt",
            ]
        );
        let row = |n: &str| rows.iter().find(|r| r.0 == n).unwrap();
        let a = row("a.txt");
        assert_eq!((a.1, a.3, a.7), ('f', 6, 1_700_000_000));
        assert_eq!(a.8, b"hello\n");
        // owners are root, as docker/cli's ChownOpts{0, 0}
        assert!(rows.iter().all(|r| r.5 == 0 && r.6 == 0));
        let l = row("link");
        assert_eq!((l.1, l.2.as_str(), l.3), ('l', "a.txt", 0));
        assert_eq!(row("sub/").1, 'd');
        // permission bits, setuid included, without the file type
        assert_eq!(row("sub/deeper/g.sh").4, 0o4750);
        let h = row("sub/hard.txt");
        assert_eq!((h.1, h.2.as_str(), h.3), ('h', "sub/c.txt", 0));
    }

    #[test]
    fn dockerfile_and_dockerignore_are_always_sent() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "Dockerfile", "FROM busybox\n");
        write(r, ".dockerignore", "*\n");
        write(r, "a.txt", "a");
        write(r, "sub/Dockerfile.dev", "FROM busybox\n");
        let ctx = prepare(r, DockerfileSource::Default);
        assert_eq!(names(&pack(&ctx)), [".dockerignore", "Dockerfile"]);
        // -f names a file in an excluded directory: sent, without its directory's entry
        let df = r.join("sub/Dockerfile.dev");
        let ctx = prepare(r, DockerfileSource::File(df.to_str().unwrap().into()));
        assert_eq!(ctx.dockerfile(), "sub/Dockerfile.dev");
        assert_eq!(names(&pack(&ctx)), [".dockerignore", "sub/Dockerfile.dev"]);
    }

    #[test]
    fn exceptions_reach_into_excluded_directories() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "Dockerfile", "FROM busybox\n");
        write(r, ".dockerignore", "node_modules\n!node_modules/keep.js\n");
        write(r, "node_modules/keep.js", "k");
        write(r, "node_modules/drop.js", "d");
        write(r, "node_modules/deep/x.js", "x");
        let ctx = prepare(r, DockerfileSource::Default);
        // moby's TarWithOptions: the excluded directory is walked, not sent itself
        assert_eq!(
            names(&pack(&ctx)),
            [".dockerignore", "Dockerfile", "node_modules/keep.js"]
        );
    }

    #[test]
    fn a_dockerfile_outside_the_context_is_added_under_a_random_name() {
        let dir = sample();
        let other = tempfile::tempdir().unwrap();
        write(other.path(), "build.Dockerfile", "FROM scratch\n");
        let df = other.path().join("build.Dockerfile");
        let ctx = prepare(
            dir.path(),
            DockerfileSource::File(df.to_str().unwrap().into()),
        );
        let name = ctx.dockerfile().to_string();
        let hex = name.strip_prefix(".dockerfile.").unwrap();
        assert_eq!(hex.len(), 20);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
        let rows = pack(&ctx);
        let last = rows.last().unwrap();
        assert_eq!(
            (last.0.as_str(), last.1, last.4),
            (name.as_str(), 'f', 0o600)
        );
        assert_eq!(last.8, b"FROM scratch\n");
        // the context's .dockerignore, in place, now also ignores the generated file
        assert_eq!(rows[0].0, ".dockerignore");
        assert_eq!(
            String::from_utf8(rows[0].8.clone()).unwrap(),
            format!("*.log\n!keep.log\nnode_modules\n**/*.tmp\n\n{name}\n")
        );
        assert_eq!(rows[0].3 as usize, rows[0].8.len());
        // the context's own Dockerfile is an ordinary file then
        assert!(names(&rows).contains(&"Dockerfile"));
    }

    #[test]
    fn a_dockerfile_from_stdin_without_dockerignore() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.txt", "a");
        let ctx = prepare(
            dir.path(),
            DockerfileSource::Stdin(b"FROM busybox\n".to_vec()),
        );
        let name = ctx.dockerfile().to_string();
        assert!(name.starts_with(".dockerfile."));
        let rows = pack(&ctx);
        assert_eq!(names(&rows), ["a.txt", name.as_str(), ".dockerignore"]);
        assert_eq!(rows[1].8, b"FROM busybox\n");
        assert_eq!(
            String::from_utf8(rows[2].8.clone()).unwrap(),
            format!(".dockerignore\n{name}\n")
        );
    }

    #[test]
    fn errors_read_as_dockers() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let err = |c: &str, s: DockerfileSource| DirContext::prepare(c, s).unwrap_err().to_string();
        let r = root.to_str().unwrap();
        assert_eq!(
            err(r, DockerfileSource::Default),
            format!(
                "unable to prepare context: unable to evaluate symlinks in Dockerfile path: \
                 lstat {r}/Dockerfile: no such file or directory"
            )
        );
        assert_eq!(
            err(&format!("{r}/nope"), DockerfileSource::Default),
            format!("unable to prepare context: path \"{r}/nope\" not found")
        );
        write(&root, "file", "x");
        assert_eq!(
            err(&format!("{r}/file"), DockerfileSource::Default),
            format!("unable to prepare context: context must be a directory: {r}/file")
        );
        // docker also accepts a lowercase `dockerfile`
        write(&root, "dockerfile", "FROM busybox\n");
        let ctx = prepare(&root, DockerfileSource::Default);
        assert_eq!(ctx.dockerfile(), "dockerfile");
    }

    #[test]
    fn detects_archives_like_docker() {
        let tar = wrap_dockerfile(b"FROM busybox\n").unwrap();
        assert!(is_archive(&tar[..1024.min(tar.len())]));
        let rows = entries(&tar);
        assert_eq!(names(&rows), ["Dockerfile"]);
        assert_eq!(rows[0].8, b"FROM busybox\n");
        assert!(!is_archive(b"FROM busybox\nRUN true\n"));
        assert!(!is_archive(&[0u8; 1024]));
        assert!(is_archive(&[0x1f, 0x8b, 0x08, 0, 0]));
        assert!(is_archive(&[0x28, 0xb5, 0x2f, 0xfd, 1]));
        let mut text = b"FROM busybox\n".repeat(100);
        text.truncate(1024);
        assert!(!is_archive(&text));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn streams_the_same_tar() {
        use tokio::io::AsyncReadExt;
        let dir = sample();
        let want = {
            let ctx = prepare(dir.path(), DockerfileSource::Default);
            ctx.write_tar(Vec::new(), &mut |_| {}).unwrap()
        };
        let ctx = prepare(dir.path(), DockerfileSource::Default);
        let mut got = Vec::new();
        ctx.stream().read_to_end(&mut got).await.unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn only_what_the_dockerfile_reads_is_needed() {
        let need = |df: &str| needed_paths(&wharf_build::dockerfile::parse(df).unwrap());
        assert_eq!(
            need("FROM bb\nCOPY src/a.txt ./b/ /x/\nADD pkg/*.tar.gz /p/\nCOPY --from=0 /all /y\nADD http://h/f /f\nRUN --mount=type=bind,source=conf,target=/c true\nCOPY <<EOF /h\nhi\nEOF\n").unwrap(),
            ["src/a.txt", "b", "pkg", "conf"]
        );
        assert_eq!(need("FROM bb\nRUN true\n").unwrap(), Vec::<String>::new());
        // the whole context, or not known from the text
        assert_eq!(need("FROM bb\nCOPY . /app\n"), None);
        assert_eq!(need("FROM bb\nCOPY *.txt /app/\n"), None);
        assert_eq!(need("FROM bb\nARG D=src\nCOPY $D /app\n"), None);
        assert_eq!(need("FROM bb\nCOPY ../x /app\n"), None);
        assert_eq!(
            need("FROM bb\nRUN --mount=type=bind,target=/c true\n"),
            None
        );
    }

    #[test]
    fn keep_only_sends_the_needed_paths_and_their_parents() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for f in [
            "Dockerfile",
            ".dockerignore",
            "src/a.txt",
            "src/b.txt",
            "big/blob",
            "srcx",
        ] {
            write(r, f, "x");
        }
        let mut ctx = prepare(r, DockerfileSource::Default);
        ctx.keep_only(&["src/a.txt".to_string()]);
        let kept: Vec<String> = ctx.entries().iter().map(|p| slash_path(p)).collect();
        assert_eq!(kept, [".dockerignore", "Dockerfile", "src", "src/a.txt"]);
    }
}
