//! `wharf kill`: `POST /containers/{name}/kill[?signal=…]` per container.

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
    #[arg(value_name = "CONTAINER", required = true, num_args = 1..)]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let q = match args.signal.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => query(&[("signal", s.to_string())]),
        None => String::new(),
    };
    for_each(&args.containers, |c| {
        let path = container_path(&c, &format!("/kill{q}"));
        async move {
            client
                .call(Method::POST, &path, Body::Empty)
                .await
                .map(|_| ())
        }
    })
    .await
}
