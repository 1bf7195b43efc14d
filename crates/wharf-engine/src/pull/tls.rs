//! Connections to registries: plain TCP for `http`, TLS for `https` (see
//! docs/adr-0008-registry-client.md for which registries may be spoken to in plain HTTP).

use tokio::io::{AsyncRead, AsyncWrite};

use crate::api::ApiError;

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

/// Connects to `host[:port]` for `scheme`.
pub async fn connect(scheme: &str, host: &str) -> Result<Box<dyn Io>, ApiError> {
    let default = match scheme {
        "http" => 80,
        "https" => 443,
        _ => {
            return Err(ApiError::invalid(format!(
                "unsupported URL scheme {scheme} for {host}"
            )))
        }
    };
    let addr = with_port(host, default);
    let tcp = tokio::net::TcpStream::connect(&addr).await.map_err(|e| {
        super::http::unavailable(format!("failed to connect to registry {host}: {e}"))
    })?;
    let _ = tcp.set_nodelay(true);
    if scheme == "http" {
        return Ok(Box::new(tcp));
    }
    Err(super::http::unavailable(format!(
        "HTTPS is not supported yet ({host}); for a plain-HTTP registry start the daemon with --insecure-registry {host}"
    )))
}
