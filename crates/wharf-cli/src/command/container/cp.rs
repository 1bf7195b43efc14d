//! `wharf cp`: copy files between a container and the host, with docker's rules
//! (docker/cli `cli/command/container/cp.go` and moby's `archive.PrepareArchiveCopy`):
//! - `CONTAINER:SRC DEST`: `GET /containers/{id}/archive?path=SRC` (entries rooted at SRC's
//!   base name, `.` for `SRC/.`), extracted here; `DEST` `-` writes the tar to stdout;
//! - `SRC CONTAINER:DEST`: SRC packed here and `PUT` into the container; `SRC` `-` sends the
//!   tar read from stdin as is (DEST must then be a directory).
//!
//! Where the entries land: into an existing destination directory as they are; otherwise
//! renamed to the destination's base name and extracted into its parent. A directory cannot
//! replace a file, and a destination ending in `/` must be a directory.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use http_body_util::BodyExt;
use hyper::Method;
use serde::Deserialize;

use super::container_path;
use crate::client::{query, Body, Client};
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    #[arg(value_name = "SRC_PATH")]
    pub src: String,
    #[arg(value_name = "DEST_PATH")]
    pub dest: String,
}

/// docker's `X-Docker-Container-Path-Stat`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PathStat {
    pub name: String,
    #[serde(default)]
    pub size: i64,
    pub mode: u32,
    #[serde(default)]
    pub mtime: String,
    #[serde(rename = "linkTarget", default)]
    pub link_target: String,
}

impl PathStat {
    fn is_dir(&self) -> bool {
        self.mode & (1 << 31) != 0
    }
    fn is_symlink(&self) -> bool {
        self.mode & (1 << 27) != 0
    }
}

/// `CONTAINER:PATH` → (container, path); a local path (absolute, `./x`, no colon) → None.
pub fn split_cp_arg(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    if c.is_empty() || c.contains('/') {
        return None;
    }
    Some((c, p))
}

pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn stat_from_header(h: &hyper::HeaderMap) -> Result<PathStat, CliError> {
    let v = h
        .get("x-docker-container-path-stat")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| CliError::Protocol("no X-Docker-Container-Path-Stat header".into()))?;
    let raw = base64_decode(v).ok_or_else(|| CliError::Protocol("bad path stat".into()))?;
    serde_json::from_slice(&raw).map_err(|e| CliError::Protocol(e.to_string()))
}

async fn stat_path(client: &Client, container: &str, path: &str) -> Result<PathStat, CliError> {
    let p = container_path(
        container,
        &format!("/archive{}", query(&[("path", path.into())])),
    );
    let resp = client.request(Method::HEAD, &p, Body::Empty).await?;
    stat_from_header(resp.headers())
}

/// moby's `SplitPathDirEntry`: ("dir", "base"), with `.` kept for a path ending in `/.`.
pub fn split_dir_entry(path: &str) -> (String, String) {
    let trimmed = path.trim_end_matches('/');
    if path.ends_with("/.") || path == "." {
        let dir = path.trim_end_matches('.').trim_end_matches('/');
        return (
            if dir.is_empty() {
                ".".into()
            } else {
                dir.into()
            },
            ".".into(),
        );
    }
    if trimmed.is_empty() {
        return ("/".into(), ".".into());
    }
    match trimmed.rsplit_once('/') {
        Some(("", b)) => ("/".into(), b.into()),
        Some((d, b)) => (d.into(), b.into()),
        None => (".".into(), trimmed.into()),
    }
}

fn asserts_directory(p: &str) -> bool {
    p.ends_with('/') || p.ends_with("/.") || p == "."
}

/// Where an archive goes: the directory to extract into, and a (from, to) rename of its
/// top-level entry. moby's `PrepareArchiveCopy`.
pub fn prepare(
    src_base: &str,
    src_is_dir: bool,
    dst_path: &str,
    dst_exists: bool,
    dst_is_dir: bool,
) -> Result<(String, Option<(String, String)>), CliError> {
    let (dst_dir, dst_base) = split_dir_entry(dst_path);
    if dst_exists && dst_is_dir {
        return Ok((dst_path.to_string(), None));
    }
    if dst_exists && src_is_dir {
        return Err(CliError::msg("cannot copy directory"));
    }
    if !dst_exists && !src_is_dir && asserts_directory(dst_path) {
        return Err(CliError::msg("no such directory"));
    }
    Ok((dst_dir, Some((src_base.to_string(), dst_base))))
}

/// Renames the first path component `from` → `to` (moby's `RebaseArchiveEntries`).
pub fn rebase(name: &str, from: &str, to: &str) -> String {
    let n = name.trim_start_matches("./");
    let from = from.trim_start_matches("./");
    if from == "." {
        return if n.is_empty() || n == "." {
            format!("{to}/")
        } else {
            format!("{to}/{n}")
        };
    }
    if n == from || n == format!("{from}/") {
        return n.replacen(from, to, 1);
    }
    match n.strip_prefix(&format!("{from}/")) {
        Some(rest) => format!("{to}/{rest}"),
        None => n.to_string(),
    }
}

/// Cleans an entry name for local extraction; `..` or an absolute path is refused.
fn safe_rel(name: &str) -> Result<PathBuf, CliError> {
    let mut out = PathBuf::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(CliError::msg(format!(
                    "refusing archive entry {name:?}: it would leave the destination"
                )))
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Extracts a tar into `dir` (rebasing its top entry); ownership only with `-a`.
pub fn extract_local(
    src: impl Read,
    dir: &Path,
    rename: Option<(String, String)>,
    keep_owner: bool,
) -> Result<(), CliError> {
    let mut ar = tar::Archive::new(src);
    ar.set_preserve_ownerships(keep_owner);
    let name_of = |raw: &str| match &rename {
        Some((f, t)) => rebase(raw, f, t),
        None => raw.to_string(),
    };
    for e in ar.entries()? {
        let mut e = e?;
        let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let rel = safe_rel(&name_of(&raw))?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let target = dir.join(&rel);
        if let Some(p) = target.parent() {
            std::fs::create_dir_all(p)?;
        }
        if e.header().entry_type() == tar::EntryType::Link {
            let link = e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default();
            let t = dir.join(safe_rel(&name_of(&link))?);
            let _ = std::fs::remove_file(&target);
            std::fs::hard_link(&t, &target)?;
            continue;
        }
        // A file replacing a symlink must not write through it.
        if let Ok(m) = std::fs::symlink_metadata(&target) {
            if !m.is_dir() || e.header().entry_type() != tar::EntryType::Directory {
                if m.is_dir() {
                    std::fs::remove_dir_all(&target)?;
                } else {
                    std::fs::remove_file(&target)?;
                }
            }
        }
        e.set_preserve_permissions(true);
        e.set_preserve_mtime(true);
        e.unpack(&target)?;
    }
    Ok(())
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    match (split_cp_arg(&args.src), split_cp_arg(&args.dest)) {
        (Some(_), Some(_)) => Err(CliError::msg("copying between containers is not supported")),
        (None, None) => Err(CliError::msg("must specify at least one container source")),
        (Some((c, p)), None) => from_container(ctx, &args, c, p).await,
        (None, Some((c, p))) => to_container(ctx, &args, c, p).await,
    }
}

async fn from_container(
    ctx: &Ctx,
    args: &Args,
    container: &str,
    src: &str,
) -> Result<(), CliError> {
    if src.is_empty() {
        return Err(CliError::msg("source can not be empty"));
    }
    let client = ctx.client().await?;
    let mut src_path = src.to_string();
    let mut rebase_name = None;
    if args.follow_link {
        let st = stat_path(client, container, src).await?;
        if st.is_symlink() && !st.link_target.is_empty() {
            rebase_name = Some(split_dir_entry(src).1);
            src_path = st.link_target.clone();
        }
    }
    let p = container_path(
        container,
        &format!("/archive{}", query(&[("path", src_path.clone())])),
    );
    let resp = client.request(Method::GET, &p, Body::Empty).await?;
    let stat = stat_from_header(resp.headers())?;
    let mut body = resp.into_body();
    if args.dest == "-" {
        let mut out = std::io::stdout().lock();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| CliError::Protocol(e.to_string()))?;
            if let Ok(d) = frame.into_data() {
                out.write_all(&d)?;
            }
        }
        out.flush()?;
        return Ok(());
    }
    // Spool to a pipe-fed blocking extractor.
    let (r, w) = rustix::pipe::pipe().map_err(std::io::Error::from)?;
    let dest = args.dest.clone();
    let keep_owner = args.archive;
    let src_base = stat.name.clone();
    let src_is_dir = stat.is_dir();
    let extractor = tokio::task::spawn_blocking(move || -> Result<(), CliError> {
        let (dst_exists, dst_is_dir) = match std::fs::metadata(&dest) {
            Ok(m) => (true, m.is_dir()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (parent, _) = split_dir_entry(&dest);
                std::fs::metadata(&parent)
                    .map_err(|e| crate::error::go_io_error("lstat", &parent, &e))?;
                (false, false)
            }
            Err(e) => return Err(crate::error::go_io_error("lstat", &dest, &e)),
        };
        let (dir, mut rename) = prepare(&src_base, src_is_dir, &dest, dst_exists, dst_is_dir)?;
        if let Some(rn) = &rebase_name {
            // -L: the link's target is archived under the link's own name.
            rename = Some(match rename {
                Some((_, to)) => (src_base.clone(), to),
                None => (src_base.clone(), rn.clone()),
            });
        }
        extract_local(File::from(r), Path::new(&dir), rename, keep_owner)
    });
    let mut w = File::from(w);
    let mut write_err = None;
    let mut copied = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::Protocol(e.to_string()))?;
        if let Ok(d) = frame.into_data() {
            copied += d.len() as u64;
            if let Err(e) = w.write_all(&d) {
                write_err = Some(e);
                break;
            }
        }
    }
    drop(w);
    extractor
        .await
        .map_err(|e| CliError::msg(e.to_string()))??;
    if let Some(e) = write_err {
        return Err(e.into());
    }
    report(args, copied, &args.dest);
    Ok(())
}

/// docker's closing line, on a terminal only (and not with `-q`).
fn report(args: &Args, bytes: u64, dest: &str) {
    if !args.quiet && std::io::stderr().is_terminal() {
        eprintln!(
            "Successfully copied {} to {dest}",
            crate::format::units::human_size(bytes as f64)
        );
    }
}

/// Counts what passes through to the request body.
struct Counting<W> {
    w: W,
    n: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let k = self.w.write(buf)?;
        self.n
            .fetch_add(k as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

/// Packs `src` (a local path) with its top entry named `name`: modes and mtimes kept;
/// owners only with `-a` (otherwise root, as docker: "files copied to a container will be
/// created with UID:GID of the root user"). Only the top entry is followed with `-L`.
fn pack_local(
    src: &Path,
    name: &str,
    follow: bool,
    keep_owner: bool,
    out: impl Write,
) -> std::io::Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let meta = if follow {
        std::fs::metadata(src)?
    } else {
        std::fs::symlink_metadata(src)?
    };
    pack_entry(&mut b, src, name, &meta, keep_owner)?;
    b.into_inner()?.flush()
}

fn pack_entry<W: Write>(
    b: &mut tar::Builder<W>,
    path: &Path,
    name: &str,
    meta: &std::fs::Metadata,
    keep_owner: bool,
) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    if !keep_owner {
        h.set_uid(0);
        h.set_gid(0);
    }
    let ft = meta.file_type();
    if ft.is_dir() {
        if name != "." {
            b.append_data(&mut h, format!("{name}/"), std::io::empty())?;
        }
        let mut children: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
        children.sort_by_key(|e| e.file_name());
        for c in children {
            let cm = std::fs::symlink_metadata(c.path())?;
            let cname = c.file_name().to_string_lossy().into_owned();
            let cname = if name == "." {
                cname
            } else {
                format!("{name}/{cname}")
            };
            pack_entry(b, &c.path(), &cname, &cm, keep_owner)?;
        }
        Ok(())
    } else if ft.is_symlink() {
        let t = std::fs::read_link(path)?;
        b.append_link(&mut h, name, t)
    } else if ft.is_file() {
        let f = File::open(path)?;
        b.append_data(&mut h, name, f.take(meta.len()))
    } else {
        b.append_data(&mut h, name, std::io::empty())
    }
}

async fn to_container(ctx: &Ctx, args: &Args, container: &str, dst: &str) -> Result<(), CliError> {
    if dst.is_empty() {
        return Err(CliError::msg("destination can not be empty"));
    }
    let client = ctx.client().await?;
    let mut dst_path = dst.to_string();
    let mut st = stat_path(client, container, &dst_path).await;
    if let Ok(s) = &st {
        if s.is_symlink() {
            let t = if s.link_target.starts_with('/') {
                s.link_target.clone()
            } else {
                format!("{}/{}", split_dir_entry(dst).0, s.link_target)
            };
            dst_path = t;
            st = stat_path(client, container, &dst_path).await;
        }
    }
    let (dst_exists, dst_is_dir) = match &st {
        Ok(s) => (true, s.is_dir()),
        Err(e) if e.is_not_found() => (false, false),
        Err(_) => (false, false),
    };
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (put_dir, body) = if args.src == "-" {
        if !dst_is_dir {
            return Err(CliError::msg(format!(
                "destination \"{container}:{dst}\" must be a directory"
            )));
        }
        (
            dst_path.clone(),
            Body::Reader(Box::pin(tokio::io::stdin()), "application/x-tar"),
        )
    } else {
        let src = PathBuf::from(&args.src);
        let meta = if args.follow_link {
            std::fs::metadata(&src)
        } else {
            std::fs::symlink_metadata(&src)
        }
        .map_err(|e| crate::error::go_io_error("lstat", &args.src, &e))?;
        let (_, src_base) = split_dir_entry(&args.src);
        let (dir, rename) = prepare(&src_base, meta.is_dir(), &dst_path, dst_exists, dst_is_dir)?;
        let name = match &rename {
            Some((_, to)) => to.clone(),
            None => src_base.clone(),
        };
        let (r, w) = rustix::pipe::pipe().map_err(std::io::Error::from)?;
        let (follow, keep) = (args.follow_link, args.archive);
        let src_dir = src.clone();
        let n = counter.clone();
        std::thread::spawn(move || {
            let out = Counting {
                w: File::from(w),
                n,
            };
            if let Err(e) = pack_local(&src_dir, &name, follow, keep, out) {
                eprintln!("{e}");
            }
        });
        let f = tokio::fs::File::from_std(File::from(r));
        (dir, Body::Reader(Box::pin(f), "application/x-tar"))
    };
    let mut q = vec![
        ("path", put_dir),
        ("noOverwriteDirNonDir", "true".to_string()),
    ];
    if args.archive {
        q.push(("copyUIDGID", "true".to_string()));
    }
    let p = container_path(container, &format!("/archive{}", query(&q)));
    client.call(Method::PUT, &p, body).await?;
    let n = counter.load(std::sync::atomic::Ordering::Relaxed);
    report(args, n, &format!("{container}:{dst}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_container_args_like_docker() {
        assert_eq!(split_cp_arg("c1:/etc"), Some(("c1", "/etc")));
        assert_eq!(split_cp_arg("/tmp/a:b"), None);
        assert_eq!(split_cp_arg("./c:d"), None);
        assert_eq!(split_cp_arg("file"), None);
    }

    #[test]
    fn splits_dir_entries() {
        assert_eq!(
            split_dir_entry("/etc/passwd"),
            ("/etc".into(), "passwd".into())
        );
        assert_eq!(split_dir_entry("/etc/"), ("/".into(), "etc".into()));
        assert_eq!(split_dir_entry("/etc/."), ("/etc".into(), ".".into()));
        assert_eq!(split_dir_entry("x"), (".".into(), "x".into()));
    }

    #[test]
    fn prepares_like_moby() {
        // into an existing directory: as is
        assert_eq!(
            prepare("a", false, "/d", true, true).unwrap(),
            ("/d".into(), None)
        );
        // to a new name: renamed, into the parent
        assert_eq!(
            prepare("a", true, "/d/new", false, false).unwrap(),
            ("/d".into(), Some(("a".into(), "new".into())))
        );
        assert!(prepare("a", true, "/d/file", true, false).is_err());
        assert!(prepare("a", false, "/d/nodir/", false, false).is_err());
    }

    #[test]
    fn rebases_entries() {
        assert_eq!(rebase("a", "a", "b"), "b");
        assert_eq!(rebase("a/", "a", "b"), "b/");
        assert_eq!(rebase("a/x", "a", "b"), "b/x");
        assert_eq!(rebase("./x", ".", "b"), "b/x");
        assert_eq!(rebase("./", ".", "b"), "b/");
        assert_eq!(rebase("ab/x", "a", "b"), "ab/x");
    }

    #[test]
    fn decodes_base64() {
        assert_eq!(
            base64_decode("eyJuYW1lIjoieCJ9").unwrap(),
            b"{\"name\":\"x\"}"
        );
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
    }
}
