//! `wharf run` / `wharf container run`: docker's `runContainer`. Create (pulling a missing
//! image), attach (hijacked) unless detached, register the wait (`next-exit`, or `removed` with
//! `--rm`) before starting, start, then stream until the container is done and exit with its
//! status. Failures at the daemon exit 125, or 126/127 when the command cannot be invoked or
//! found.

use hyper::Method;

use super::create::{Also, Created};
use super::opts::{self, ContainerOpts};
use super::{container_path, create, hijack, status_error, wait_exit_or_removed, wait_status};
use crate::client::{query, Body, Client};
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", value_name = "bool", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub opts: ContainerOpts,
}

/// The attach query docker sends (keys sorted as Go's `url.Values.Encode` does).
pub fn attach_query(stdin: bool, stdout: bool, stderr: bool, detach_keys: Option<&str>) -> String {
    let mut q = Vec::new();
    if let Some(k) = detach_keys.filter(|k| !k.is_empty()) {
        q.push(("detachKeys", k.to_string()));
    }
    if stderr {
        q.push(("stderr", "1".to_string()));
    }
    if stdin {
        q.push(("stdin", "1".to_string()));
    }
    if stdout {
        q.push(("stdout", "1".to_string()));
    }
    q.push(("stream", "1".to_string()));
    query(&q)
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let mut req =
        opts::parse(&args.opts, &opts::ProcessHost).map_err(|e| create::opts_error(&e, "run"))?;
    if args.detach {
        if !args.opts.attach.is_empty() {
            return Err(create::opts_error(
                &CliError::msg("Conflicting options: -a and -d"),
                "run",
            ));
        }
        for k in ["AttachStdin", "AttachStdout", "AttachStderr", "StdinOnce"] {
            req.body[k] = serde_json::Value::Bool(false);
        }
    }
    let (stdin, stdout, stderr, tty) = (
        req.attach_stdin(),
        req.attach_stdout(),
        req.attach_stderr(),
        req.tty(),
    );
    if !args.detach {
        hijack::check_tty(stdin, tty)?;
    }
    let client = ctx.client().await?;
    let flow = Flow {
        stdin,
        stdout,
        stderr,
        tty,
        detach: args.detach,
        sig_proxy: args.sig_proxy,
        detach_keys: args.detach_keys.clone(),
        auto_remove: req.auto_remove(),
    };
    // All in the create's request where the daemon can (ADR-0020): not with a tty, whose
    // raw stream has no room for the exit status, nor when no output is attached.
    let also = if args.detach {
        Also::Start
    } else if !tty && (stdout || stderr) {
        Also::Run {
            stdin,
            stdout,
            stderr,
        }
    } else {
        Also::Nothing
    };
    let created = create::create_and(client, &req, &args.opts.pull, args.opts.quiet, also)
        .await
        .map_err(|e| status_error(&e, "run"))?;
    match created {
        Created::Id(id) => attach_start_wait(client, &id, &flow).await,
        Created::Started(id) => crate::write_stdout(&format!("{id}\n")),
        Created::Running(id, conn) => stream_to_exit(client, &id, conn, &flow).await,
    }
}

/// The rest of a `run` whose create also attached and started: the output, then the exit
/// status from the stream's last frame (or, if the stream ended without it, from a wait).
async fn stream_to_exit(
    client: &Client,
    id: &str,
    conn: crate::client::Hijacked,
    f: &Flow,
) -> Result<(), CliError> {
    let mut background = Vec::new();
    if f.sig_proxy {
        background.extend(hijack::forward_signals(client, id));
    }
    let end = hijack::stream(conn, false, f.stdin).await;
    let code = match end {
        Ok(Some(answer)) => wait_status(&answer),
        other => {
            if let Err(e) = other {
                eprintln!("{e}");
            }
            // It has exited by now, or will not be long: not "next-exit".
            let condition = if f.auto_remove {
                "removed"
            } else {
                "not-running"
            };
            let status = super::wait_for(client, id, Some(condition)).await;
            status.await.unwrap_or(125)
        }
    };
    super::end_with(code, background)
}

/// How a created container is run: which streams are attached, and how it ends.
pub struct Flow {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    pub detach: bool,
    pub sig_proxy: bool,
    pub detach_keys: Option<String>,
    pub auto_remove: bool,
}

/// The rest of `run` after the create: print the id when detached, attach, register the wait,
/// start, stream, and end with the container's exit status.
pub async fn attach_start_wait(client: &Client, id: &str, f: &Flow) -> Result<(), CliError> {
    let id = id.to_string();
    let (stdin, stdout, stderr, tty) = (f.stdin, f.stdout, f.stderr, f.tty);
    if !stdout && !stderr {
        crate::write_stdout(&format!("{id}\n"))?;
    }

    let mut background = Vec::new();
    if f.sig_proxy && !tty && !f.detach {
        background.extend(hijack::forward_signals(client, &id));
    }
    // The attach and the wait are both in place before the start; neither needs the other,
    // so they go together (one round trip to the daemon instead of two).
    let attach = async {
        if !(stdin || stdout || stderr) {
            return Ok(None);
        }
        let path = container_path(
            &id,
            &format!(
                "/attach{}",
                attach_query(stdin, stdout, stderr, f.detach_keys.as_deref())
            ),
        );
        client
            .hijack(Method::POST, &path, Body::Empty)
            .await
            .map(Some)
    };
    let (conn, status) = tokio::join!(attach, wait_exit_or_removed(client, &id, f.auto_remove));
    let streamer = match conn {
        Ok(c) => c.map(|conn| tokio::spawn(hijack::stream(conn, tty, stdin))),
        Err(e) => {
            status.abort();
            return Err(status_error(&e, "run"));
        }
    };

    if let Err(e) = client
        .call(Method::POST, &container_path(&id, "/start"), Body::Empty)
        .await
    {
        if let Some(s) = streamer {
            s.abort();
            let _ = s.await; // the terminal is restored when the streamer is dropped
        }
        if f.auto_remove {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), status).await;
        }
        return Err(status_error(&e, "run"));
    }
    if tty && (stdout || stderr || stdin) && hijack::is_tty(std::io::stdout()) {
        background.push(hijack::monitor_tty_size(client, container_path(&id, "")));
    }
    if let Some(s) = streamer {
        match s.await {
            Ok(Err(e)) => eprintln!("{e}"),
            Err(e) if e.is_panic() => eprintln!("attach: {e}"),
            _ => {}
        }
    }
    if !stdout && !stderr {
        status.abort();
        return Ok(());
    }
    let code = status.await.unwrap_or(125);
    super::end_with(code, background)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_query_matches_docker() {
        assert_eq!(
            attach_query(false, true, true, None),
            "?stderr=1&stdout=1&stream=1"
        );
        assert_eq!(
            attach_query(true, true, true, Some("ctrl-x")),
            "?detachKeys=ctrl-x&stderr=1&stdin=1&stdout=1&stream=1"
        );
    }
}
