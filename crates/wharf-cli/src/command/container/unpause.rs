//! `wharf unpause`: `POST /containers/{name}/unpause` per container.

use hyper::Method;

use super::{container_path, for_each};
use crate::client::Body;
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(value_name = "CONTAINER", required = true, num_args = 1..)]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    for_each(&args.containers, |c| {
        let path = container_path(&c, "/unpause");
        async move {
            client
                .call(Method::POST, &path, Body::Empty)
                .await
                .map(|_| ())
        }
    })
    .await
}
