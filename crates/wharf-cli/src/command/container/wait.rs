//! `wharf wait`: `POST /containers/{name}/wait` per container, printing each exit status.

use hyper::Method;
use serde_json::Value;

use super::container_path;
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
    let mut errors = Vec::new();
    for c in &args.containers {
        match client
            .call(Method::POST, &container_path(c, "/wait"), Body::Empty)
            .await
        {
            Ok(body) => {
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                match v["Error"]["Message"].as_str().filter(|m| !m.is_empty()) {
                    Some(m) => errors.push(m.to_string()),
                    None => crate::write_stdout(&format!(
                        "{}\n",
                        v["StatusCode"].as_i64().unwrap_or(0)
                    ))?,
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}
