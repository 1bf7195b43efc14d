//! `wharf login` / `wharf logout`: credentials checked by the daemon (`POST /auth`) and kept
//! where docker keeps them, `~/.docker/config.json` (see [`config`]).

pub mod config;
pub mod login;
pub mod logout;

/// Docker Hub's address in config.json and login messages.
pub const HUB_ADDRESS: &str = "https://index.docker.io/v1/";

/// docker's `ConvertToHostname`: `https://host:port/v2/` → `host:port`; Docker Hub's names →
/// [`HUB_ADDRESS`].
pub fn server_key(server: Option<&str>) -> String {
    let s = server.unwrap_or("").trim();
    if s.is_empty() || s == HUB_ADDRESS || s == "docker.io" || s == "index.docker.io" {
        return HUB_ADDRESS.to_string();
    }
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    s.split('/').next().unwrap_or(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_keys_like_docker() {
        assert_eq!(server_key(None), HUB_ADDRESS);
        assert_eq!(server_key(Some("docker.io")), HUB_ADDRESS);
        assert_eq!(server_key(Some("127.0.0.1:5000")), "127.0.0.1:5000");
        assert_eq!(server_key(Some("https://reg.example/v2/")), "reg.example");
    }
}
