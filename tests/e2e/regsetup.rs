//! Set-ups and checks the registry suites share (`push`, `push_resume`, `registry_tokens`,
//! `search`): a scratch directory, `wharf registry serve` with its own token issuer and an
//! htpasswd user (`user:pass`), a daemon holding busybox with a fresh CLI config directory to
//! log in from, and `wharf search`'s table.

use std::path::{Path, PathBuf};

use crate::common::*;
use crate::pull::htpasswd_line;
use crate::push::{make_token_key, ok_cfg, token_registry, WharfRegistry};

/// A fresh directory under the tests' scratch space, removed on drop.
pub(crate) fn scratch(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(test_tmp())
        .expect("tempdir")
}

/// `wharf registry serve` on 127.0.0.1 with token auth: `--htpasswd` (one user, `user:pass`)
/// guards its own `/token` issuer, whose ES256 key signs the tokens `/v2/` wants.
pub(crate) struct TokenRegistry {
    pub(crate) reg: WharfRegistry,
    /// `127.0.0.1:<port>`, the server name to log in to.
    pub(crate) server: String,
    pub(crate) htpasswd: PathBuf,
    /// The token signing key (PKCS#8 P-256) and its certificate (the root cert bundle).
    pub(crate) key: PathBuf,
    pub(crate) cert: PathBuf,
    /// Last: the registry is stopped before its directory goes.
    pub(crate) tmp: tempfile::TempDir,
}

impl TokenRegistry {
    /// `None` (the test is skipped) where no bcrypt is available for the htpasswd line.
    pub(crate) fn start(prefix: &str) -> Option<TokenRegistry> {
        let Some(line) = htpasswd_line() else {
            eprintln!("SKIP: no bcrypt from python3's crypt module");
            return None;
        };
        let tmp = scratch(prefix);
        let htpasswd = tmp.path().join("htpasswd");
        std::fs::write(&htpasswd, format!("{line}\n")).expect("htpasswd");
        let (key, cert) = make_token_key(tmp.path(), "signer");
        let reg = token_registry(tmp.path(), &htpasswd, &key, &cert);
        let server = format!("127.0.0.1:{}", reg.port);
        Some(TokenRegistry {
            reg,
            server,
            htpasswd,
            key,
            cert,
            tmp,
        })
    }
}

/// A daemon holding busybox as `name`, and an empty CLI config directory `<dir>/cli-config`
/// (`DOCKER_CONFIG` for [`ok_cfg`] / `wharf_cfg`), logged in nowhere yet.
pub(crate) fn daemon_with_busybox(name: &str, dir: &Path) -> (Daemon, PathBuf) {
    let d = Daemon::start();
    d.import_busybox(name);
    let cfg = dir.join("cli-config");
    std::fs::create_dir_all(&cfg).expect("cfg");
    (d, cfg)
}

/// `wharf login -u user -p pass <server>` into the CLI config `cfg`.
pub(crate) fn login(d: &Daemon, cfg: &Path, server: &str) {
    ok_cfg(d, cfg, &["login", "-u", "user", "-p", "pass", server]);
}

/// `wharf search <term>` with the CLI config `cfg` prints docker's table, listing `repo`.
pub(crate) fn search_lists(d: &Daemon, cfg: &Path, term: &str, repo: &str) {
    let out = ok_cfg(d, cfg, &["search", term]);
    let header = out.lines().next().expect("header");
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    );
    assert!(out.contains(repo), "{out}");
}
