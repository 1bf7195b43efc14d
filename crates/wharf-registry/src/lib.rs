//! The registry server: an OCI distribution-spec server
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md>) on the `wharf`
//! binary, `wharf registry serve`, and its garbage collector, `wharf registry gc`.
//!
//! [`storage::Store`] is the crash-safe content-addressed layout, [`server::router`] the HTTP
//! API, [`manifest`] what the server reads of manifests, [`auth`] htpasswd basic auth and
//! [`gc`] the mark-and-sweep, [`token`] token auth (verifying bearer tokens, and our own token
//! issuer with refresh tokens), [`client`] the registry client the daemon pulls and pushes
//! with, [`tls`] serving over TLS (`--tls-cert`/`--tls-key`).

pub mod auth;
pub mod client;
pub mod error;
pub mod gc;
pub mod manifest;
pub mod names;
pub mod server;
pub mod storage;
pub mod tls;
pub mod token;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

pub use server::{router, AppState};
pub use storage::Store;

#[derive(Parser)]
#[command(
    name = "wharf registry",
    bin_name = "wharf registry",
    about = "An OCI distribution (registry v2) server"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

// parsed once per process: the size of the `Serve` variant does not matter
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Cmd {
    /// Serve the registry API, over TLS with --tls-cert/--tls-key (client certificates
    /// required with --tls-client-ca), else plain HTTP;
    /// --htpasswd enables basic auth; --token-* token auth (docs/adr-0008).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:5000")]
        addr: SocketAddr,
        /// Storage root.
        #[arg(long, default_value = "/var/lib/wharf-registry")]
        root: PathBuf,
        /// An htpasswd file of bcrypt entries (`htpasswd -B`); requires basic auth.
        #[arg(long)]
        htpasswd: Option<PathBuf>,
        /// PEM certificate (chain) to serve TLS with; needs --tls-key.
        #[arg(long = "tls-cert", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key of --tls-cert.
        #[arg(long = "tls-key", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// PEM CA certificate(s): clients must present a certificate signed by one (mutual
        /// TLS, distribution's `http.tls.clientcas`); needs --tls-cert.
        #[arg(long = "tls-client-ca", requires = "tls_cert")]
        tls_client_ca: Option<PathBuf>,
        /// Token auth: the URL clients get tokens from (distribution's `auth.token.realm`).
        #[arg(long = "token-realm")]
        token_realm: Option<String>,
        /// Token auth: the service name tokens must be issued for (`aud`).
        #[arg(long = "token-service")]
        token_service: Option<String>,
        /// Token auth: the issuer tokens must name (`iss`).
        #[arg(long = "token-issuer")]
        token_issuer: Option<String>,
        /// Token auth: PEM certificates whose keys may sign tokens (ES256, RS256).
        #[arg(long = "token-rootcertbundle")]
        token_rootcertbundle: Option<PathBuf>,
        /// Also issue tokens (and refresh tokens) at GET and POST /token, signed with this
        /// PKCS#8 P-256 key, for users of --htpasswd. Its certificate is --token-cert, or else
        /// the one in --token-rootcertbundle that holds the key.
        #[arg(long = "token-key", requires = "htpasswd")]
        token_key: Option<PathBuf>,
        /// PEM certificate chain of --token-key (its certificate first, then intermediates),
        /// sent in the tokens' `x5c` header; the chain must lead to a certificate of
        /// --token-rootcertbundle for tokens to verify.
        #[arg(long = "token-cert", requires = "token_key")]
        token_cert: Option<PathBuf>,
    },
    /// Delete blobs no manifest references (untagged manifests are kept) and upload sessions
    /// idle for a week. Do not run it while pushes are in progress.
    Gc {
        /// Storage root.
        #[arg(long, default_value = "/var/lib/wharf-registry")]
        root: PathBuf,
    },
}

/// Opens the store and loads the htpasswd file: the server's shared state.
pub fn state(
    root: &std::path::Path,
    htpasswd: Option<&std::path::Path>,
) -> std::io::Result<Arc<AppState>> {
    open_state(root, htpasswd).map(Arc::new)
}

fn open_state(
    root: &std::path::Path,
    htpasswd: Option<&std::path::Path>,
) -> std::io::Result<AppState> {
    let store = Store::open(root)?;
    let htpasswd = match htpasswd {
        Some(p) => Some(auth::Htpasswd::load(p)?),
        None => None,
    };
    Ok(AppState {
        store,
        htpasswd,
        token: None,
        issuer: None,
    })
}

/// Token auth settings of `serve` (distribution's `auth.token` and our issuer).
struct TokenArgs {
    realm: Option<String>,
    service: Option<String>,
    issuer: Option<String>,
    bundle: Option<PathBuf>,
    key: Option<PathBuf>,
    cert: Option<PathBuf>,
}

impl TokenArgs {
    fn build(self) -> std::io::Result<(Option<token::Verifier>, Option<token::Issuer>)> {
        let invalid =
            |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, m.to_string());
        let Some(realm) = self.realm else {
            if self.key.is_some() || self.bundle.is_some() {
                return Err(invalid(
                    "--token-key and --token-rootcertbundle need --token-realm",
                ));
            }
            return Ok((None, None));
        };
        let (Some(service), Some(issuer), Some(bundle)) = (self.service, self.issuer, self.bundle)
        else {
            return Err(invalid(
                "--token-realm needs --token-service, --token-issuer and --token-rootcertbundle",
            ));
        };
        let v = token::Verifier::new(realm, service.clone(), issuer.clone(), &bundle)?;
        let i = match self.key {
            Some(k) => Some(token::Issuer::new(
                &k,
                self.cert.as_deref(),
                v.certs(),
                issuer,
                service,
            )?),
            None => None,
        };
        Ok((Some(v), i))
    }
}

/// Serves the registry on `listener` until the future is dropped.
pub async fn serve(listener: tokio::net::TcpListener, st: Arc<AppState>) -> std::io::Result<()> {
    axum::serve(listener, router(st)).await
}

/// `wharf registry …`; `args` starts with `registry`. Returns the exit code.
pub fn registry_main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match cli.cmd {
        Cmd::Serve {
            addr,
            root,
            htpasswd,
            tls_cert,
            tls_key,
            tls_client_ca,
            token_realm,
            token_service,
            token_issuer,
            token_rootcertbundle,
            token_key,
            token_cert,
        } => {
            let tokens = TokenArgs {
                realm: token_realm,
                service: token_service,
                issuer: token_issuer,
                bundle: token_rootcertbundle,
                key: token_key,
                cert: token_cert,
            }
            .build();
            let (verifier, issuer) = match tokens {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("wharf registry: {e}");
                    return 1;
                }
            };
            let tls = match (&tls_cert, &tls_key) {
                (Some(c), Some(k)) => match tls::server_config(c, k, tls_client_ca.as_deref()) {
                    Ok(cfg) => Some(cfg),
                    Err(e) => {
                        eprintln!("wharf registry: {e}");
                        return 1;
                    }
                },
                _ => None,
            };
            let st = match open_state(&root, htpasswd.as_deref()) {
                Ok(mut s) => {
                    s.token = verifier;
                    s.issuer = issuer;
                    Arc::new(s)
                }
                Err(e) => {
                    eprintln!("wharf registry: opening {}: {e}", root.display());
                    return 1;
                }
            };
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("wharf registry: {e}");
                    return 1;
                }
            };
            let r = rt.block_on(async move {
                let l = tokio::net::TcpListener::bind(addr).await?;
                eprintln!(
                    "wharf registry listening on {} ({})",
                    l.local_addr()?,
                    if tls.is_some() { "https" } else { "http" }
                );
                let serving = async move {
                    match tls {
                        Some(cfg) => tls::serve_tls(l, router(st), cfg).await,
                        None => serve(l, st).await,
                    }
                };
                tokio::select! {
                    r = serving => r,
                    _ = tokio::signal::ctrl_c() => Ok(()),
                }
            });
            match r {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("wharf registry: {e}");
                    1
                }
            }
        }
        Cmd::Gc { root } => {
            let report = Store::open(&root).and_then(|s| gc::collect(&s));
            match report {
                Ok(r) => {
                    for d in &r.removed {
                        println!("deleted blob {d}");
                    }
                    for u in &r.uploads_removed {
                        println!("deleted upload {u}");
                    }
                    for e in &r.errors {
                        eprintln!("wharf registry gc: {e}");
                    }
                    i32::from(!r.errors.is_empty())
                }
                Err(e) => {
                    eprintln!("wharf registry gc: {e}");
                    1
                }
            }
        }
    }
}
