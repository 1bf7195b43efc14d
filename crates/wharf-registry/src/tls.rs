//! Serving the registry over TLS (`--tls-cert`/`--tls-key`, PEM): rustls (ring provider)
//! through tokio-rustls, HTTP/1.1 on each accepted connection. `--tls-client-ca` makes it
//! mutual: a client without a certificate signed by that CA fails the handshake.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;

/// The server configuration from a PEM certificate chain and key; with `client_ca`, every
/// client must present a certificate that chains to one of its certificates.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> std::io::Result<Arc<rustls::ServerConfig>> {
    let bad = |what: &str, p: &Path, e: &dyn std::fmt::Display| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what} {}: {e}", p.display()),
        )
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("reading certificate", cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("reading certificate", cert, &e))?;
    if certs.is_empty() {
        return Err(bad("reading certificate", cert, &"no certificate found"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("reading key", key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("TLS setup for", cert, &e))?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in
                CertificateDer::pem_file_iter(ca).map_err(|e| bad("reading client CA", ca, &e))?
            {
                let c = c.map_err(|e| bad("reading client CA", ca, &e))?;
                roots.add(c).map_err(|e| bad("using client CA", ca, &e))?;
            }
            if roots.is_empty() {
                return Err(bad("reading client CA", ca, &"no certificate found"));
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| bad("using client CA", ca, &e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| bad("using certificate", cert, &e))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Accepts TLS connections on `listener` and serves `router` on each, until dropped.
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    cfg: Arc<rustls::ServerConfig>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: wait a little rather than spin
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(
                std::time::Duration::from_secs(30),
                acceptor.accept(tcp),
            )
            .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let svc = hyper::service::service_fn(move |req| {
                let mut r = router.clone();
                async move {
                    let req = req.map(axum::body::Body::new);
                    tower_service::Service::call(&mut r, req).await
                }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
