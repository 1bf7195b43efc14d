//! `wharf create` / `wharf container create`: `POST /containers/create`, pulling the image
//! first when the daemon does not have it (docker's `createContainer`), then prints the id.

use hyper::Method;
use serde_json::Value;

use super::opts::{self, ContainerOpts, CreateRequest};
use crate::client::{query, stream, Body, Client, Upgrade};
use crate::command::Ctx;
use crate::error::CliError;
use crate::reference::split_tagged;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub opts: ContainerOpts,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let req = match opts::parse(&args.opts, &opts::ProcessHost) {
        Ok(r) => r,
        Err(e) => return Err(opts_error(&e, "create")),
    };
    let client = ctx.client().await?;
    let id = create_container(client, &req, &args.opts.pull, args.opts.quiet).await?;
    crate::write_stdout(&format!("{id}\n"))
}

/// A flag value docker's flag parser rejects prints the usage (exit 125); other problems with
/// the options print "wharf: …" and the help hint (exit 125).
pub fn opts_error(e: &CliError, verb: &str) -> CliError {
    let msg = e.to_string();
    let prog = crate::PROG;
    let message = if msg.starts_with("invalid argument \"") {
        format!("{msg}\n\nUsage:  {prog} {verb} [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun '{prog} {verb} --help' for more information")
    } else {
        format!("{prog}: {msg}\n\nRun '{prog} {verb} --help' for more information")
    };
    CliError::Status { code: 125, message }
}

/// An image reference as docker normalises it: (repository as the API wants it for
/// `fromImage`, tag or digest, familiar form with the tag for messages).
pub fn normalize_image(image: &str) -> (String, String, String) {
    let (name, tag, sep) = match image.split_once('@') {
        Some((n, d)) => (n.to_string(), d.to_string(), '@'),
        None => match split_tagged(image) {
            Some((n, t)) => (n.to_string(), t.to_string(), ':'),
            None => (image.to_string(), "latest".to_string(), ':'),
        },
    };
    let first = name.split('/').next().unwrap_or("");
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_registry {
        name.clone()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    let familiar = full
        .strip_prefix("docker.io/library/")
        .or_else(|| full.strip_prefix("docker.io/"))
        .unwrap_or(&full)
        .to_string();
    (full, tag.clone(), format!("{familiar}{sep}{tag}"))
}

/// docker's `pullImage` for run/create: `POST /images/create?fromImage=…&tag=…`, progress on
/// stderr.
pub async fn pull_image(
    client: &Client,
    image: &str,
    platform: Option<&str>,
    quiet: bool,
) -> Result<(), CliError> {
    let (full, tag, _) = normalize_image(image);
    let mut q = vec![("fromImage", full)];
    if let Some(p) = platform.filter(|p| !p.is_empty()) {
        q.push(("platform", p.to_string()));
    }
    q.push(("tag", tag));
    let resp = client
        .request(
            Method::POST,
            &format!("/images/create{}", query(&q)),
            Body::Empty,
        )
        .await?;
    let tty = super::hijack::is_tty(std::io::stderr());
    if quiet {
        stream::display(resp, &mut std::io::sink(), false, |_| {}).await
    } else {
        stream::display(resp, &mut std::io::stderr(), tty, |_| {}).await
    }
}

/// docker's `createContainer`: create; on "not found" (and `--pull missing`) say so, pull,
/// and create again. `--pull always` pulls first. Prints the daemon's warnings.
pub async fn create_container(
    client: &Client,
    req: &CreateRequest,
    pull: &str,
    quiet: bool,
) -> Result<String, CliError> {
    match create_and(client, req, pull, quiet, Also::Nothing).await? {
        Created::Id(id) | Created::Started(id) | Created::Running(id, _) => Ok(id),
    }
}

/// What `run` asks the create to do besides, in the same request (ADR-0020). Our daemon
/// does it; docker's ignores the query keys and only creates, which [`Created::Id`] tells.
#[derive(Debug, Clone, Copy)]
pub enum Also {
    Nothing,
    /// Start the container too (`run -d`).
    Start,
    /// Attach these streams, start, stream the output and end with the wait's answer (`run`
    /// without a tty).
    Run {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
}

/// The container a create made, and how far the daemon went with it.
pub enum Created {
    /// Created only.
    Id(String),
    /// Created and started.
    Started(String),
    /// Created, attached and started: the output stream, which ends with the wait's answer.
    Running(String, crate::client::Hijacked),
}

/// The create of `create` and `run`: pulls first with `--pull always`, and after "No such
/// image" with `--pull missing` (docker's `createContainer`), then creates.
pub async fn create_and(
    client: &Client,
    req: &CreateRequest,
    pull: &str,
    quiet: bool,
    also: Also,
) -> Result<Created, CliError> {
    if pull == "always" {
        pull_image(client, &req.image, req.platform.as_deref(), quiet).await?;
    }
    match create_once(client, req, also).await {
        // Only a missing image is pulled (a missing network is a 404 too).
        Err(CliError::Daemon {
            status: 404,
            message,
        }) if pull == "missing" && message.starts_with("No such image") => {
            if !quiet {
                eprintln!(
                    "Unable to find image '{}' locally",
                    normalize_image(&req.image).2
                );
            }
            pull_image(client, &req.image, req.platform.as_deref(), quiet).await?;
            create_once(client, req, also).await
        }
        r => r,
    }
}

async fn create_once(
    client: &Client,
    req: &CreateRequest,
    also: Also,
) -> Result<Created, CliError> {
    let body = Body::Bytes(bytes::Bytes::from(req.body.to_string()), "application/json");
    let path = req.path();
    let sep = if path.contains('?') { '&' } else { '?' };
    let answer = match also {
        Also::Nothing => client.call(Method::POST, &path, body).await?,
        Also::Start => {
            client
                .call(Method::POST, &format!("{path}{sep}wharf-start=1"), body)
                .await?
        }
        Also::Run {
            stdin,
            stdout,
            stderr,
        } => {
            let mut q = format!("{path}{sep}wharf-run=1");
            for (key, on) in [("stdin", stdin), ("stdout", stdout), ("stderr", stderr)] {
                if on {
                    q.push_str(&format!("&{key}=1"));
                }
            }
            match client.upgrade(Method::POST, &q, body).await? {
                Upgrade::Upgraded(conn, headers) => {
                    let id = headers
                        .get("x-wharf-container-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    if id.is_empty() {
                        return Err(CliError::Protocol(
                            "the daemon's answer has no container id".into(),
                        ));
                    }
                    return Ok(Created::Running(id, conn));
                }
                Upgrade::Streamed(resp) => crate::client::collect(resp).await?,
            }
        }
    };
    let v: Value =
        serde_json::from_slice(&answer).map_err(|e| CliError::Protocol(e.to_string()))?;
    if let Some(ws) = v.get("Warnings").and_then(Value::as_array) {
        for w in ws.iter().filter_map(Value::as_str) {
            eprintln!("WARNING: {w}");
        }
    }
    let id = match v.get("Id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => {
            return Err(CliError::Protocol(
                "the daemon's answer has no container id".into(),
            ))
        }
    };
    Ok(
        if v.get("WharfStarted").and_then(Value::as_bool) == Some(true) {
            Created::Started(id)
        } else {
            Created::Id(id)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(
            normalize_image("bb"),
            (
                "docker.io/library/bb".into(),
                "latest".into(),
                "bb:latest".into()
            )
        );
        assert_eq!(
            normalize_image("me/app:1"),
            ("docker.io/me/app".into(), "1".into(), "me/app:1".into())
        );
        assert_eq!(
            normalize_image("localhost:5000/app"),
            (
                "localhost:5000/app".into(),
                "latest".into(),
                "localhost:5000/app:latest".into()
            )
        );
        assert_eq!(normalize_image("bb@sha256:abc").2, "bb@sha256:abc");
    }

    #[test]
    fn flag_errors_show_usage() {
        let e = opts_error(
            &CliError::msg(
                "invalid argument \"12x\" for \"-m, --memory\" flag: invalid suffix: 'x'",
            ),
            "run",
        );
        assert_eq!(e.exit_code(), 125);
        assert!(e
            .to_string()
            .contains("\n\nUsage:  wharf run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"));
        let e = opts_error(
            &CliError::msg("invalid restart policy format: no policy provided before colon"),
            "run",
        );
        assert!(e.to_string().starts_with("wharf: invalid restart"));
    }
}
