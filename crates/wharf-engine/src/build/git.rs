//! `ADD <git repository> <dest>` (BuildKit's syntax): `https://host/repo.git#ref:subdir`,
//! `git://host/repo#ref`, `--keep-git-dir`.
//!
//! The daemon runs the `git` program: `git ls-remote` resolves the ref to a commit (the cache
//! key is that commit, so a moved branch re-runs the step and an unchanged one does not), then
//! a shallow fetch of that commit into a fresh directory and a detached checkout. `.git` is
//! dropped unless `--keep-git-dir`. File mtimes are clamped like every other layer entry, so the
//! layer is reproducible. Only the `git://`, `http://` and `https://` transports are allowed
//! (`protocol.allow=never` otherwise: no `file://`, `ext::`, or ssh from the daemon); git reads no
//! system or user configuration and never prompts. With `WHARF_REGISTRY_LOOPBACK_ONLY` set (the
//! tests), only loopback hosts are reached, as for `ADD <url>` and registries.

use std::path::Path;
use std::time::Duration;

/// A git source of `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// The repository, without the fragment.
    pub url: String,
    /// The branch, tag, full ref or commit (`HEAD` when not given).
    pub reference: String,
    /// The directory of the repository to copy (empty: all of it).
    pub subdir: String,
}

/// How long one git command may take.
const TIMEOUT: Duration = Duration::from_secs(600);

/// `s` as a git source, if it is one: `git://…`, `git@host:path`, `ssh://…`, or an http(s) URL
/// whose path ends in `.git` (BuildKit's rules, without its GitHub special cases).
pub fn parse(s: &str) -> Option<GitSource> {
    let (url, frag) = match s.split_once('#') {
        Some((u, f)) => (u, f),
        None => (s, ""),
    };
    let git = url.starts_with("git://")
        || url.starts_with("git@")
        || url.starts_with("ssh://")
        || ((url.starts_with("http://") || url.starts_with("https://"))
            && url
                .split('?')
                .next()
                .is_some_and(|p| p.trim_end_matches('/').ends_with(".git")));
    if !git {
        return None;
    }
    let (reference, subdir) = match frag.split_once(':') {
        Some((r, d)) => (r, d),
        None => (frag, ""),
    };
    Some(GitSource {
        url: url.to_string(),
        reference: if reference.is_empty() {
            "HEAD".into()
        } else {
            reference.to_string()
        },
        subdir: subdir.trim_matches('/').to_string(),
    })
}

/// The host a URL names.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let hostport = rest.split('/').next()?;
    let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
    let host = match hostport.strip_prefix('[') {
        Some(r) => r.split(']').next()?.to_string(),
        None => hostport
            .rsplit_once(':')
            .map_or(hostport, |(h, _)| h)
            .to_string(),
    };
    (!host.is_empty()).then_some(host)
}

/// The transports the daemon fetches with, and the loopback guard of the tests.
fn check(src: &GitSource) -> Result<(), String> {
    let url = &src.url;
    if !(url.starts_with("git://") || url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "ADD {url}: only git://, http:// and https:// repositories can be fetched by the daemon (no ssh)"
        ));
    }
    let host = host_of(url).ok_or_else(|| format!("ADD {url}: no host"))?;
    if std::env::var_os("WHARF_REGISTRY_LOOPBACK_ONLY").is_some() {
        let local = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !local {
            return Err(format!(
                "ADD {url}: {host} is not a loopback address (WHARF_REGISTRY_LOOPBACK_ONLY is set)"
            ));
        }
    }
    if src.reference.starts_with('-') {
        return Err(format!("ADD {url}: invalid git ref {:?}", src.reference));
    }
    Ok(())
}

/// Runs `git ARGS` (in `dir` if given); its stdout, or its stderr as the error.
async fn git(dir: Option<&Path>, args: &[&str]) -> Result<String, String> {
    let mut c = tokio::process::Command::new("git");
    if let Some(d) = dir {
        c.arg("-C").arg(d);
    }
    c.args([
        "-c",
        "protocol.allow=never",
        "-c",
        "protocol.git.allow=always",
        "-c",
        "protocol.http.allow=always",
        "-c",
        "protocol.https.allow=always",
        "-c",
        "advice.detachedHead=false",
        "-c",
        "core.hooksPath=/dev/null",
    ])
    .args(
        // The tests' loopback guard: an http redirect must not lead off this machine.
        if std::env::var_os("WHARF_REGISTRY_LOOPBACK_ONLY").is_some() {
            &["-c", "http.followRedirects=false"][..]
        } else {
            &[][..]
        },
    )
    .args(args)
    .env("GIT_TERMINAL_PROMPT", "0")
    .env("GIT_CONFIG_NOSYSTEM", "1")
    .env("GIT_CONFIG_GLOBAL", "/dev/null")
    .env("GIT_ASKPASS", "/bin/false")
    .env("GIT_PROTOCOL_FROM_USER", "0")
    .stdin(std::process::Stdio::null())
    .kill_on_drop(true);
    let out = tokio::time::timeout(TIMEOUT, c.output())
        .await
        .map_err(|_| "git timed out".to_string())?
        .map_err(|e| format!("failed to run git: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The commit `src`'s ref names on the remote (a commit ID is taken as is).
pub async fn resolve(src: &GitSource) -> Result<String, String> {
    check(src)?;
    let r = &src.reference;
    if is_commit(r) {
        return Ok(r.to_ascii_lowercase());
    }
    let url = &src.url;
    let refs = git(None, &["ls-remote", "--", url])
        .await
        .map_err(|e| format!("ADD {url}: failed to list the repository's refs: {e}"))?;
    let refs: Vec<(&str, &str)> = refs.lines().filter_map(|l| l.split_once('\t')).collect();
    let want = [
        r.clone(),
        format!("refs/heads/{r}"),
        format!("refs/tags/{r}^{{}}"),
        format!("refs/tags/{r}"),
    ];
    // A peeled tag (`^{}`) is the commit an annotated tag points to: preferred to the tag.
    let found = [&want[1], &want[2], &want[3], &want[0]]
        .iter()
        .find_map(|w| refs.iter().find(|(_, name)| name == w).map(|(id, _)| *id));
    match found {
        Some(id) if is_commit(id) => Ok(id.to_string()),
        _ => Err(format!("ADD {url}: git ref {r} not found")),
    }
}

/// Fetches `commit` of `src` into `dir` (made here) and checks it out; `.git` is removed
/// unless `keep_git_dir`.
pub async fn checkout(
    src: &GitSource,
    commit: &str,
    dir: &Path,
    keep_git_dir: bool,
) -> Result<(), String> {
    check(src)?;
    let url = &src.url;
    let e = |what: &str, err: String| format!("ADD {url}: {what}: {err}");
    std::fs::create_dir_all(dir).map_err(|er| e("mkdir", er.to_string()))?;
    git(Some(dir), &["init", "-q"])
        .await
        .map_err(|er| e("git init", er))?;
    git(Some(dir), &["remote", "add", "origin", url])
        .await
        .map_err(|er| e("git remote", er))?;
    // The commit is a ref's tip (from ls-remote): servers give it. A commit named directly may
    // not be a tip: then everything is fetched.
    if git(
        Some(dir),
        &["fetch", "-q", "--depth", "1", "origin", commit],
    )
    .await
    .is_err()
    {
        git(Some(dir), &["fetch", "-q", "--tags", "origin"])
            .await
            .map_err(|er| e("git fetch", er))?;
    }
    git(Some(dir), &["checkout", "-q", "--detach", commit])
        .await
        .map_err(|er| e(&format!("git checkout {commit}"), er))?;
    if !keep_git_dir {
        std::fs::remove_dir_all(dir.join(".git"))
            .map_err(|er| e("removing .git", er.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_sources_are_recognised_as_buildkit_does() {
        let g = parse("https://127.0.0.1:9418/repo.git#v1:sub/dir/").unwrap();
        assert_eq!(g.url, "https://127.0.0.1:9418/repo.git");
        assert_eq!(g.reference, "v1");
        assert_eq!(g.subdir, "sub/dir");
        let g = parse("git://127.0.0.1:9000/repo").unwrap();
        assert_eq!((g.reference.as_str(), g.subdir.as_str()), ("HEAD", ""));
        assert!(parse("git@github.com:o/r.git#main").is_some());
        assert!(parse("https://example.com/a.tar.gz").is_none());
        assert!(parse("http://example.com/x.git/").is_some());
        assert!(parse("src/").is_none());
        assert_eq!(host_of("git://[::1]:9418/r").as_deref(), Some("::1"));
        assert_eq!(
            host_of("https://u:p@h.example:8443/r.git").as_deref(),
            Some("h.example")
        );
        let ssh = parse("git@github.com:o/r.git").unwrap();
        assert!(check(&ssh).unwrap_err().contains("no ssh"));
    }
}
