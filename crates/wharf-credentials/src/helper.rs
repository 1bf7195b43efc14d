//! The credential helper protocol (docker/docker-credential-helpers `client` package, which
//! docker's CLI uses): the program `docker-credential-<name>` on PATH, run with one argument —
//!
//! - `get`: stdin the server URL; stdout `{"ServerURL":…,"Username":…,"Secret":…}`;
//! - `store`: stdin that JSON; nothing back;
//! - `erase`: stdin the server URL; nothing back.
//!
//! A non-zero exit is a failure whose message is the program's stdout; for `get`, the message
//! `credentials not found in native keychain` means "none stored" rather than an error.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Credentials, Error};

/// How long a helper may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// What helpers print when they hold nothing for a server.
pub const NOT_FOUND: &str = "credentials not found in native keychain";

/// Runs `docker-credential-<helper> <action>` with `input` on stdin; its stdout on success.
fn run(helper: &str, action: &str, input: &[u8]) -> Result<Vec<u8>, (String, String)> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            let err = if e.kind() == std::io::ErrorKind::NotFound {
                format!("exec: \"{program}\": executable file not found in $PATH")
            } else {
                format!("exec: \"{program}\": {e}")
            };
            (err, String::new())
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // a helper that exits without reading its input is judged by its exit status
        let _ = stdin.write_all(input);
    }
    // The daemon asks helpers too: one that hangs (a locked keychain waiting for a prompt)
    // must not hold a request forever. Helpers answer with a few hundred bytes, well within
    // a pipe's buffer, so waiting before reading cannot deadlock.
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err((
                    format!(
                        "{program} {action} did not finish within {}s",
                        TIMEOUT.as_secs()
                    ),
                    String::new(),
                ));
            }
            Err(e) => return Err((e.to_string(), String::new())),
        }
    };
    let mut stdout = Vec::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_end(&mut stdout);
    }
    if status.success() {
        return Ok(stdout);
    }
    let msg = String::from_utf8_lossy(&stdout).trim().to_string();
    let status = match status.code() {
        Some(c) => format!("exit status {c}"),
        None => "signal: killed".to_string(),
    };
    Err((status, msg))
}

/// The credentials `helper` holds for `server`; `None` when it holds none. A `<token>` user
/// name (an identity token) is returned as is.
pub fn get(helper: &str, server: &str) -> Result<Option<Credentials>, Error> {
    let fail = |err: String, out: String| Error::Helper {
        action: "getting",
        err,
        out,
    };
    let out = match run(helper, "get", server.as_bytes()) {
        Ok(o) => o,
        Err((_, out)) if out == NOT_FOUND => return Ok(None),
        Err((err, out)) => return Err(fail(err, out)),
    };
    let v: serde_json::Value = serde_json::from_slice(&out).map_err(|e| {
        fail(
            format!("invalid answer from docker-credential-{helper}: {e}"),
            String::from_utf8_lossy(&out).trim().to_string(),
        )
    })?;
    let field = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (username, secret) = (field("Username"), field("Secret"));
    if username.is_empty() && secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        username,
        secret,
        identity_token: None,
    }))
}

/// Stores `creds` for `server` with `helper`.
pub fn store(helper: &str, server: &str, creds: &Credentials) -> Result<(), Error> {
    let body = serde_json::json!({
        "ServerURL": server,
        "Username": creds.username,
        "Secret": creds.secret,
    });
    run(helper, "store", body.to_string().as_bytes())
        .map(drop)
        .map_err(|(err, out)| Error::Helper {
            action: "storing",
            err,
            out,
        })
}

/// Erases what `helper` holds for `server`.
pub fn erase(helper: &str, server: &str) -> Result<(), Error> {
    run(helper, "erase", server.as_bytes())
        .map(drop)
        .map_err(|(err, out)| Error::Helper {
            action: "erasing",
            err,
            out,
        })
}
