//! `wharf rename`: `POST /containers/{old}/rename?name={new}`.

use hyper::Method;

use super::container_path;
use crate::client::{query, Body};
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let old = args.container.trim();
    let new = args.new_name.trim();
    if old.is_empty() || new.is_empty() {
        return Err(CliError::msg(
            "Error: Neither old nor new names may be empty",
        ));
    }
    let client = ctx.client().await?;
    let path = container_path(
        old,
        &format!("/rename{}", query(&[("name", new.to_string())])),
    );
    if let Err(e) = client.call(Method::POST, &path, Body::Empty).await {
        eprintln!("{e}");
        return Err(CliError::msg(format!(
            "Error: failed to rename container named {old}"
        )));
    }
    Ok(())
}
