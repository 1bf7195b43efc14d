//! `wharf restart`: `POST /containers/{name}/restart[?signal=…&t=…]` per container.

use hyper::Method;

use super::{container_path, for_each, stop::stop_query};
use crate::client::Body;
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

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let q = stop_query(args.signal.as_deref(), args.timeout);
    for_each(&args.containers, |c| {
        let path = container_path(&c, &format!("/restart{q}"));
        async move {
            client
                .call(Method::POST, &path, Body::Empty)
                .await
                .map(|_| ())
        }
    })
    .await
}
