//! The CLI's use of docker's client config (`$DOCKER_CONFIG/config.json` or
//! `~/.docker/config.json`, credential helpers): the `wharf-credentials` crate, shared with
//! the daemon's registry client. Here: its errors as the CLI prints them, and the
//! `X-Registry-Auth` header pull/push/search send.

pub use wharf_credentials::config::path;

use crate::error::CliError;

/// A credentials error as docker prints it.
pub fn cli_error(e: wharf_credentials::Error) -> CliError {
    CliError::msg(e.to_string())
}

/// The `X-Registry-Auth` value for the credentials stored for a server key, if any. Like
/// docker's `ResolveAuthConfig`, a failing helper counts as no credentials.
pub fn registry_auth(key: &str) -> Option<String> {
    let c = wharf_credentials::get(key).ok()??;
    Some(wharf_credentials::registry_auth_header(&c, key))
}
