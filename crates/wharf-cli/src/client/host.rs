//! Which daemon to talk to: `-H/--host`, else `WHARF_HOST`, else the default unix socket.

use std::path::PathBuf;

use crate::error::CliError;

pub const DEFAULT_HOST: &str = "unix:///run/wharf/wharf.sock";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    Tcp(String),
}

impl Host {
    /// Picks the host from the flag, then the environment, then the default.
    pub fn select(flag: Option<&str>) -> Result<Host, CliError> {
        match flag {
            Some(h) => Host::parse(h),
            None => match std::env::var("WHARF_HOST") {
                Ok(h) if !h.is_empty() => Host::parse(&h),
                _ => Host::parse(DEFAULT_HOST),
            },
        }
    }

    /// Parses `unix:///path`, `tcp://host:port` (also `http://`), or a bare absolute path.
    pub fn parse(s: &str) -> Result<Host, CliError> {
        if let Some(p) = s.strip_prefix("unix://") {
            if p.is_empty() {
                return Err(CliError::msg(format!(
                    "invalid host {s:?}: empty socket path"
                )));
            }
            return Ok(Host::Unix(PathBuf::from(p)));
        }
        if s.starts_with('/') {
            return Ok(Host::Unix(PathBuf::from(s)));
        }
        for scheme in ["tcp://", "http://"] {
            if let Some(rest) = s.strip_prefix(scheme) {
                let addr = rest.trim_end_matches('/');
                if addr.is_empty() {
                    return Err(CliError::msg(format!("invalid host {s:?}")));
                }
                let addr = if addr.contains(':') {
                    addr.to_string()
                } else {
                    format!("{addr}:2375")
                };
                return Ok(Host::Tcp(addr));
            }
        }
        Err(CliError::msg(format!(
            "unable to parse docker host `{s}`: the supported hosts are unix:///path and tcp://host:port"
        )))
    }

    /// The URL form used in messages.
    pub fn url(&self) -> String {
        match self {
            Host::Unix(p) => format!("unix://{}", p.display()),
            Host::Tcp(a) => format!("tcp://{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts() {
        assert_eq!(
            Host::parse("unix:///tmp/x.sock").unwrap(),
            Host::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            Host::parse("/tmp/x.sock").unwrap(),
            Host::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2375").unwrap(),
            Host::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            Host::parse("tcp://localhost").unwrap(),
            Host::Tcp("localhost:2375".into())
        );
        assert!(Host::parse("ssh://x").is_err());
        assert_eq!(Host::parse(DEFAULT_HOST).unwrap().url(), DEFAULT_HOST);
    }
}
