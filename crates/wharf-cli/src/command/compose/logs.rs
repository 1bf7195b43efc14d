//! `compose logs` and the attached output of `compose up`: every container's log stream, each
//! line prefixed with `SERVICE-N  | ` (padded to the longest name, coloured per container in a
//! terminal), as docker compose prints them.

use std::io::Write;
use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::Value;

use super::{cpath, service_containers, Existing, Global, COLORS};
use crate::client::{query, Body, Client};
use crate::command::container::hijack::{Demuxer, STDERR};
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(
        short = 'n',
        long = "tail",
        value_name = "string",
        default_value = "all"
    )]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long = "timestamps")]
    pub timestamps: bool,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// index of the container if service has multiple replicas
    #[arg(long = "index", value_name = "int")]
    pub index: Option<u32>,
    pub services: Vec<String>,
}

#[derive(Clone, Copy, Debug)]
pub struct FollowOptions<'a> {
    pub color: bool,
    pub prefix: bool,
    pub timestamps: bool,
    pub tail: Option<&'a str>,
    pub follow: bool,
    /// `up --abort-on-container-exit`: return when the first container's stream ends.
    pub stop_on_first_exit: bool,
}

pub async fn run(ctx: &Ctx, g: &Global, a: LogsArgs) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let name = g.project_name()?;
    let mut cs = service_containers(client, &name, &a.services).await?;
    if let Some(i) = a.index {
        cs.retain(|c| c.number == i);
    }
    follow(
        client,
        &cs,
        FollowOptions {
            color: g.color && !a.no_color,
            prefix: !a.no_log_prefix,
            timestamps: a.timestamps,
            tail: Some(&a.tail),
            follow: a.follow,
            stop_on_first_exit: false,
        },
    )
    .await
}

/// The prefix docker compose shows: `SERVICE-N` (the container name without the project).
pub fn display_name(c: &Existing) -> String {
    if c.service.is_empty() || c.number == 0 {
        return c.name.clone();
    }
    format!("{}-{}", c.service, c.number)
}

/// Streams the logs of `cs` to stdout/stderr, prefixed, until every stream ends (or the
/// first, with `stop_on_first_exit`).
pub async fn follow(
    client: &Client,
    cs: &[Existing],
    o: FollowOptions<'_>,
) -> Result<(), CliError> {
    let width = cs.iter().map(|c| display_name(c).len()).max().unwrap_or(0);
    let out = Arc::new(Mutex::new(()));
    let streams = cs.iter().enumerate().map(|(i, c)| {
        let out = out.clone();
        let label = display_name(c);
        let prefix = if !o.prefix {
            String::new()
        } else if o.color {
            format!(
                "\x1b[{}m{label:<width$}  |\x1b[0m ",
                COLORS[i % COLORS.len()]
            )
        } else {
            format!("{label:<width$}  | ")
        };
        async move { stream_one(client, c, &prefix, o, &out).await }
    });
    if o.stop_on_first_exit {
        let futs: Vec<_> = streams.map(Box::pin).collect();
        if futs.is_empty() {
            return Ok(());
        }
        let (r, _, _) = futures_util::future::select_all(futs).await;
        return r;
    }
    for r in join_all(streams).await {
        r?;
    }
    Ok(())
}

async fn stream_one(
    client: &Client,
    c: &Existing,
    prefix: &str,
    o: FollowOptions<'_>,
    lock: &Mutex<()>,
) -> Result<(), CliError> {
    let v: Value = client.get_json(&cpath(&c.id, "/json")).await?;
    let tty = v["Config"]["Tty"].as_bool().unwrap_or(false);
    let mut q = vec![("stderr", "1".to_string()), ("stdout", "1".to_string())];
    if o.follow {
        q.insert(0, ("follow", "1".into()));
    }
    q.push(("tail", o.tail.unwrap_or("all").to_string()));
    if o.timestamps {
        q.push(("timestamps", "1".into()));
    }
    let resp = client
        .request(
            Method::GET,
            &cpath(&c.id, &format!("/logs{}", query(&q))),
            Body::Empty,
        )
        .await?;
    let mut body = resp.into_body();
    let mut demux = Demuxer::default();
    let mut partial: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let emit = |stream: u8, line: &[u8]| {
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let text = String::from_utf8_lossy(line);
        if stream == STDERR {
            let mut e = std::io::stderr().lock();
            let _ = writeln!(e, "{prefix}{text}");
        } else {
            let mut s = std::io::stdout().lock();
            let _ = writeln!(s, "{prefix}{text}");
            let _ = s.flush();
        }
    };
    let feed = |stream: u8, data: &[u8], partial: &mut [Vec<u8>; 2]| {
        let slot = &mut partial[usize::from(stream == STDERR)];
        slot.extend_from_slice(data);
        while let Some(pos) = slot.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = slot.drain(..=pos).collect();
            let line = &line[..line.len() - 1];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            emit(stream, line);
        }
    };
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if tty {
            feed(1, &data, &mut partial);
        } else {
            for (stream, payload) in demux.push(&data) {
                feed(stream, &payload, &mut partial);
            }
        }
    }
    for (i, rest) in partial.iter().enumerate() {
        if !rest.is_empty() {
            emit(if i == 1 { STDERR } else { 1 }, rest);
        }
    }
    if o.follow {
        // The stream ended: the container stopped.
        let v: Value = client.get_json(&cpath(&c.id, "/json")).await?;
        let code = v["State"]["ExitCode"].as_i64().unwrap_or(0);
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            std::io::stdout(),
            "{} exited with code {code}",
            display_name(c)
        );
    }
    Ok(())
}
