//! `ADD <url>`: an HTTP or HTTPS download (redirects followed, at most 10), streamed to a file.
//! HTTPS goes through the registry client's TLS connector: the system's roots plus the CAs in
//! the certs.d directories (`/etc/docker/certs.d/<host:port>/ca.crt`, see ADR-0008).

use std::path::Path;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

/// `http[s]://host[:port]/path` → (https, host, port, path-and-query).
fn split(url: &str) -> Result<(bool, String, u16, String), String> {
    let (tls, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(r), _) => (false, r),
        (_, Some(r)) => (true, r),
        _ => {
            return Err(format!(
                "ADD {url}: only http:// and https:// URLs can be downloaded"
            ))
        }
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let default = if tls { 443 } else { 80 };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => (
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
            p.parse().map_err(|_| format!("ADD {url}: invalid port"))?,
        ),
        _ => (hostport.to_string(), default),
    };
    if host.is_empty() {
        return Err(format!("ADD {url}: no host"));
    }
    Ok((tls, host, port, path))
}

/// The file name docker gives a download: the URL path's last segment.
pub fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let path = path.split_once("://").map_or(path, |(_, r)| r);
    let seg = path.split_once('/').map_or("", |(_, p)| p);
    let name = seg.rsplit('/').next().unwrap_or("");
    if name.is_empty() || name == "." || name == ".." {
        "index.html".to_string()
    } else {
        name.to_string()
    }
}

/// Downloads `url` into `dest` (created with mode 0600, as docker does).
pub async fn download(url: &str, dest: &Path) -> Result<(), String> {
    let mut url = url.to_string();
    for _ in 0..10 {
        let (tls, host, port, path) = split(&url)?;
        let default = if tls { 443 } else { 80 };
        let hostport = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let stream =
            wharf_registry::client::tls::connect(if tls { "https" } else { "http" }, &hostport)
                .await
                .map_err(|e| format!("ADD {url}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("ADD {url}: {e}"))?;
        tokio::spawn(conn);
        let host_header = if port == default {
            host.clone()
        } else {
            hostport.clone()
        };
        let req = hyper::Request::get(path)
            .header(hyper::header::HOST, host_header)
            .header(hyper::header::USER_AGENT, "wharf-build")
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("ADD {url}: {e}"))?;
        let mut res = sender
            .send_request(req)
            .await
            .map_err(|e| format!("ADD {url}: {e}"))?;
        let status = res.status();
        if status.is_redirection() {
            let loc = res
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("ADD {url}: redirect without a location"))?;
            url = if loc.starts_with("http") {
                loc.to_string()
            } else {
                let scheme = if tls { "https" } else { "http" };
                format!("{scheme}://{hostport}{loc}")
            };
            continue;
        }
        if !status.is_success() {
            return Err(format!(
                "failed to GET {url} with status {}: {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ));
        }
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dest)
            .map_err(|e| format!("ADD {url}: {e}"))?;
        let mut f = tokio::fs::File::from_std(f);
        while let Some(frame) = res.body_mut().frame().await {
            let frame = frame.map_err(|e| format!("ADD {url}: {e}"))?;
            if let Some(data) = frame.data_ref() {
                f.write_all(data)
                    .await
                    .map_err(|e| format!("ADD {url}: {e}"))?;
            }
        }
        f.flush().await.map_err(|e| format!("ADD {url}: {e}"))?;
        return Ok(());
    }
    Err(format!("ADD {url}: too many redirects"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls() {
        assert_eq!(file_name("http://h/a/b.tar.gz?x=1"), "b.tar.gz");
        assert_eq!(file_name("http://h/"), "index.html");
        assert_eq!(file_name("http://h"), "index.html");
        assert_eq!(
            split("http://127.0.0.1:8080/x").unwrap(),
            (false, "127.0.0.1".into(), 8080, "/x".into())
        );
        assert_eq!(
            split("https://h/x").unwrap(),
            (true, "h".into(), 443, "/x".into())
        );
        assert_eq!(
            split("http://example").unwrap(),
            (false, "example".into(), 80, "/".into())
        );
        assert!(split("ftp://h/x").unwrap_err().contains("https://"));
    }
}
