//! `wharf stop`: `POST /containers/{name}/stop[?signal=…&t=…]` per container.

use hyper::Method;

use super::{container_path, for_each};
use crate::client::{query, Body};
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal", value_name = "string")]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "timeout",
        alias = "time",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub timeout: Option<i64>,
    #[arg(value_name = "CONTAINER", required = true, num_args = 1..)]
    pub containers: Vec<String>,
}

/// `?signal=…&t=…` as docker's client sends them (only what was given).
pub fn stop_query(signal: Option<&str>, timeout: Option<i64>) -> String {
    let mut q = Vec::new();
    if let Some(s) = signal.filter(|s| !s.is_empty()) {
        q.push(("signal", s.to_string()));
    }
    if let Some(t) = timeout {
        q.push(("t", t.to_string()));
    }
    query(&q)
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let q = stop_query(args.signal.as_deref(), args.timeout);
    for_each(&args.containers, |c| {
        let path = container_path(&c, &format!("/stop{q}"));
        async move {
            client
                .call(Method::POST, &path, Body::Empty)
                .await
                .map(|_| ())
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_queries() {
        assert_eq!(stop_query(None, None), "");
        assert_eq!(stop_query(Some("SIGINT"), Some(1)), "?signal=SIGINT&t=1");
    }
}
