//! `wharf logs`: `GET /containers/{name}/json` (is there a tty?) then
//! `GET /containers/{id}/logs?…`, demultiplexed to stdout and stderr unless the container has a
//! tty. `--since`/`--until` take docker's forms: a Go duration ("10m", relative to now), an
//! RFC 3339 date or a date, or a unix timestamp.

use http_body_util::BodyExt;
use hyper::Method;

use super::hijack::{write_chunk, Demuxer};
use super::{container_path, inspect_container, opts::parse_go_duration};
use crate::client::{query, Body};
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Show extra details provided to logs
    #[arg(long = "details")]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long = "since", value_name = "string")]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
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
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long = "until", value_name = "string")]
    pub until: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// docker's `timetypes.GetTimestamp`: the value the API takes for `since`/`until`.
pub fn api_timestamp(value: &str, now: f64) -> Result<String, CliError> {
    if value != "0" {
        if let Ok(ns) = parse_go_duration(value) {
            return Ok(format!("{}", (now - ns as f64 / 1e9).floor() as i64));
        }
    }
    let fmt = |t: time::OffsetDateTime| format!("{}.{:09}", t.unix_timestamp(), t.nanosecond());
    if let Ok(t) =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
    {
        return Ok(fmt(t));
    }
    let local_formats = [
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]"),
    ];
    for f in local_formats {
        if let Ok(t) = time::PrimitiveDateTime::parse(value, f) {
            return Ok(fmt(t.assume_utc()));
        }
    }
    if let Ok(d) = time::Date::parse(
        value,
        time::macros::format_description!("[year]-[month]-[day]"),
    ) {
        return Ok(fmt(d.midnight().assume_utc()));
    }
    if value.contains('-') {
        return Err(CliError::msg(format!(
            "parsing time {value:?}: invalid timestamp"
        )));
    }
    let (s, frac) = value.split_once('.').unwrap_or((value, "0"));
    if s.parse::<i64>().is_err() || frac.parse::<u64>().is_err() {
        return Err(CliError::msg(format!(
            "failed to parse value as time or duration: {value:?}"
        )));
    }
    Ok(value.to_string())
}

/// The logs query, keys sorted as Go's client sends them.
pub fn logs_query(args: &Args, now: f64) -> Result<String, CliError> {
    let mut q = Vec::new();
    if args.details {
        q.push(("details", "1".to_string()));
    }
    if args.follow {
        q.push(("follow", "1".to_string()));
    }
    if let Some(s) = args.since.as_deref().filter(|s| !s.is_empty()) {
        q.push(("since", api_timestamp(s, now)?));
    }
    q.push(("stderr", "1".to_string()));
    q.push(("stdout", "1".to_string()));
    q.push(("tail", args.tail.clone()));
    if args.timestamps {
        q.push(("timestamps", "1".to_string()));
    }
    if let Some(u) = args.until.as_deref().filter(|s| !s.is_empty()) {
        q.push(("until", api_timestamp(u, now)?));
    }
    Ok(query(&q))
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let c = inspect_container(client, &args.container).await?;
    let id = c["Id"].as_str().unwrap_or(&args.container).to_string();
    let tty = c["Config"]["Tty"].as_bool().unwrap_or(false);
    let q = logs_query(&args, crate::format::units::now_unix())?;
    let resp = client
        .request(
            Method::GET,
            &container_path(&id, &format!("/logs{q}")),
            Body::Empty,
        )
        .await?;
    let mut body = resp.into_body();
    let mut demux = Demuxer::default();
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::Protocol(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            write_chunk(&mut demux, tty, &data, &mut out, &mut err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        a: Args,
    }

    #[test]
    fn query_like_docker() {
        let t = T::try_parse_from(["logs", "c"]).unwrap();
        assert_eq!(
            logs_query(&t.a, 0.0).unwrap(),
            "?stderr=1&stdout=1&tail=all"
        );
        let t = T::try_parse_from([
            "logs",
            "-f",
            "-t",
            "-n",
            "5",
            "--since",
            "10m",
            "--until",
            "1700000000",
            "c",
        ])
        .unwrap();
        assert_eq!(
            logs_query(&t.a, 1_700_000_600.0).unwrap(),
            "?follow=1&since=1700000000&stderr=1&stdout=1&tail=5&timestamps=1&until=1700000000"
        );
    }

    #[test]
    fn timestamps_like_docker() {
        assert_eq!(
            api_timestamp("2013-01-02T13:23:37Z", 0.0).unwrap(),
            "1357133017.000000000"
        );
        assert_eq!(
            api_timestamp("2013-01-02", 0.0).unwrap(),
            "1357084800.000000000"
        );
        assert_eq!(api_timestamp("1h", 7200.0).unwrap(), "3600");
        assert_eq!(api_timestamp("1357133017.5", 0.0).unwrap(), "1357133017.5");
        assert!(api_timestamp("yesterday", 0.0).is_err());
    }
}
