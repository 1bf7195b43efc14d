//! Connections to registries: plain TCP for `http`, TLS (rustls, ring provider) for `https`.
//!
//! Trust: the system's roots (`rustls-native-certs`: /etc/ssl/certs) plus, per registry, every
//! `*.crt` in `<certs dir>/<host[:port]>/` (docker's `/etc/docker/certs.d` layout; also
//! `/etc/wharf/certs.d` and the daemon's `--registry-certs-dir`). Client configs are built once
//! per host and kept, so TLS sessions resume across the many short connections a pull or push
//! makes. A client certificate (`<host[:port]>/client.cert` + `client.key`, docker's layout: any
//! `*.cert` with its `*.key`) is presented to registries that ask for one (mutual TLS).
//!
//! Docker's rule for which registries may be spoken to in plain HTTP (loopback ones and those
//! named with `--insecure-registry`) is applied in [`negotiate`]: HTTPS is tried first, and only
//! a server that does not speak TLS at all is then used over HTTP. A TLS server whose
//! certificate does not verify is an error, never a silent downgrade.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite};
use wharf_types::ErrorKind;

use super::http::{unavailable, Endpoint};
use super::Error;

/// A connected byte stream, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

fn with_port(host: &str, default: u16) -> String {
    if host.ends_with(']') || !host.contains(':') {
        format!("{host}:{default}")
    } else {
        host.to_string()
    }
}

/// The host name (or IP) of `host[:port]`, for SNI and certificate checks.
fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    ServerName::try_from(h.to_string())
        .map_err(|_| Error::invalid(format!("invalid registry host name {host:?}")))
}

/// The system's roots, loaded once.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut store = RootCertStore::empty();
            let res = rustls_native_certs::load_native_certs();
            for e in &res.errors {
                tracing::warn!(error = %e, "could not load a system CA certificate");
            }
            let (ok, bad) = store.add_parsable_certificates(res.certs);
            tracing::debug!(ok, bad, "system CA certificates loaded");
            Arc::new(store)
        })
        .clone()
}

/// The CA certificates docker would add for `host` (`<dir>/<host[:port]>/*.crt`).
fn registry_cas(host: &str) -> Vec<CertificateDer<'static>> {
    let mut out = Vec::new();
    for dir in super::certs_dirs() {
        let d = dir.join(host);
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut files: Vec<_> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect();
        files.sort();
        for f in files {
            match CertificateDer::pem_file_iter(&f) {
                Ok(it) => out.extend(it.flatten()),
                Err(e) => tracing::warn!(path = %f.display(), error = %e, "unreadable CA file"),
            }
        }
    }
    out
}

/// The client certificate docker would present to `host`: the first `<dir>/<host[:port]>/
/// *.cert` (PEM chain) of the certs directories, with the `.key` of the same name beside it
/// (docker's `ReadCertsDirectory`; a `.cert` without its `.key` is an error, as there).
fn client_cert(
    host: &str,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, Error> {
    for dir in super::certs_dirs() {
        let d = dir.join(host);
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut certs: Vec<_> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "cert"))
            .collect();
        certs.sort();
        let Some(cert) = certs.into_iter().next() else {
            continue;
        };
        let key = cert.with_extension("key");
        if !key.is_file() {
            return Err(Error::invalid(format!(
                "missing key {} for client certificate {}. CA must have a extension of .crt",
                key.display(),
                cert.display()
            )));
        }
        let bad = |p: &std::path::Path, e: &dyn std::fmt::Display| {
            Error::invalid(format!(
                "invalid client certificate for registry {host}: {}: {e}",
                p.display()
            ))
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
            .map_err(|e| bad(&cert, &e))?
            .collect::<Result<_, _>>()
            .map_err(|e| bad(&cert, &e))?;
        if chain.is_empty() {
            return Err(bad(&cert, &"no certificate found"));
        }
        let k = PrivateKeyDer::from_pem_file(&key).map_err(|e| bad(&key, &e))?;
        return Ok(Some((chain, k)));
    }
    Ok(None)
}

/// The TLS client configuration for `host`, built once.
fn client_config(host: &str) -> Result<Arc<ClientConfig>, Error> {
    static CONFIGS: OnceLock<Mutex<HashMap<String, Arc<ClientConfig>>>> = OnceLock::new();
    let configs = CONFIGS.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(c) = configs.lock().unwrap_or_else(|p| p.into_inner()).get(host) {
        return Ok(c.clone());
    }
    let mut roots = (*system_roots()).clone();
    for ca in registry_cas(host) {
        if let Err(e) = roots.add(ca) {
            tracing::warn!(%host, error = %e, "invalid registry CA certificate");
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots);
    let mut cfg = match client_cert(host)? {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
            Error::invalid(format!(
                "invalid client certificate for registry {host}: {e}"
            ))
        })?,
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let cfg = Arc::new(cfg);
    configs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(host.to_string(), cfg.clone());
    Ok(cfg)
}

/// With `WHARF_REGISTRY_LOOPBACK_ONLY` set (the test suite sets it for every daemon), only
/// `localhost` and loopback addresses may be contacted: a test that would reach out to Docker
/// Hub or any other host fails at once, before even a DNS lookup.
fn check_loopback_only(host: &str) -> Result<(), Error> {
    if std::env::var_os("WHARF_REGISTRY_LOOPBACK_ONLY").is_none() {
        return Ok(());
    }
    let name = match host.strip_prefix('[') {
        Some(r) => r.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let local = name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if local {
        Ok(())
    } else {
        Err(unavailable(format!(
            "refusing to contact {host}: WHARF_REGISTRY_LOOPBACK_ONLY is set (only localhost and loopback addresses)"
        )))
    }
}

async fn tcp(host: &str, default_port: u16) -> Result<tokio::net::TcpStream, Error> {
    check_loopback_only(host)?;
    let addr = with_port(host, default_port);
    let tcp = tokio::time::timeout(
        super::http::registry_timeout(),
        tokio::net::TcpStream::connect(&addr),
    )
    .await
    .map_err(|_| unavailable(format!("timed out connecting to registry {host}")))?
    .map_err(|e| unavailable(format!("failed to connect to registry {host}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

async fn handshake(
    host: &str,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, (bool, Error)> {
    let tcp = tcp(host, 443).await.map_err(|e| (false, e))?;
    // a bad certs.d (a client certificate without its key) is an error, never a reason to
    // fall back to plain HTTP
    let cfg = client_config(host).map_err(|e| (true, e))?;
    let name = server_name(host).map_err(|e| (false, e))?;
    let connecting = tokio_rustls::TlsConnector::from(cfg).connect(name, tcp);
    tokio::time::timeout(super::http::registry_timeout(), connecting)
        .await
        .map_err(|_| {
            (
                false,
                unavailable(format!("TLS handshake with registry {host} timed out")),
            )
        })?
        .map_err(|e| {
            // A certificate problem means the server does speak TLS.
            let cert = e
                .get_ref()
                .and_then(|i| i.downcast_ref::<rustls::Error>())
                .is_some_and(|r| {
                    matches!(
                        r,
                        rustls::Error::InvalidCertificate(_)
                            | rustls::Error::NoCertificatesPresented
                            | rustls::Error::AlertReceived(_)
                    )
                });
            let msg = if cert {
                format!(
                    "tls: failed to verify certificate of registry {host}: {e} (trust its CA by putting it in /etc/docker/certs.d/{host}/ca.crt)"
                )
            } else {
                format!("TLS handshake with registry {host} failed: {e}")
            };
            (cert, Error::new(ErrorKind::Unavailable, msg))
        })
}

/// Connects to `host[:port]` for `scheme`.
pub async fn connect(scheme: &str, host: &str) -> Result<Box<dyn Io>, Error> {
    match scheme {
        "http" => Ok(Box::new(tcp(host, 80).await?)),
        "https" => Ok(Box::new(handshake(host).await.map_err(|(_, e)| e)?)),
        _ => Err(Error::invalid(format!(
            "unsupported URL scheme {scheme} for {host}"
        ))),
    }
}

/// Docker's order for a registry that may be plain HTTP (`ep.scheme == "http"`: loopback or
/// `--insecure-registry`): HTTPS if the server speaks TLS, else HTTP. Others stay HTTPS.
pub async fn negotiate(ep: Endpoint) -> Result<Endpoint, Error> {
    if ep.scheme != "http" {
        return Ok(ep);
    }
    let probe = tokio::time::timeout(std::time::Duration::from_secs(10), handshake(&ep.host));
    let res = probe.await.unwrap_or_else(|_| {
        Err((
            false,
            unavailable(format!("TLS handshake with registry {} timed out", ep.host)),
        ))
    });
    match res {
        Ok(_) => Ok(Endpoint {
            scheme: "https",
            host: ep.host,
        }),
        Err((true, e)) => Err(e),
        Err((false, e)) => {
            tracing::debug!(host = %ep.host, error = %e, "registry does not speak TLS; using plain HTTP");
            Ok(ep)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        assert!(server_name("127.0.0.1:5000").is_ok());
        assert!(server_name("[::1]:5000").is_ok());
        assert!(server_name("reg.example").is_ok());
        assert_eq!(with_port("reg.example", 443), "reg.example:443");
        assert_eq!(with_port("[::1]", 443), "[::1]:443");
        assert_eq!(with_port("h:5000", 443), "h:5000");
    }
}
