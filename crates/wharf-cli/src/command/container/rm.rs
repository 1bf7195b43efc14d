//! `wharf rm`: `DELETE /containers/{name}[?force=1&link=1&v=1]` per container. With `-f` a
//! container that does not exist is reported but is not a failure (docker's behaviour).

use hyper::Method;

use super::container_path;
use crate::client::{query, Body};
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Remove the specified link
    #[arg(short = 'l', long = "link")]
    pub link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    #[arg(value_name = "CONTAINER", required = true, num_args = 1..)]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let mut q = Vec::new();
    if args.force {
        q.push(("force", "1".to_string()));
    }
    if args.link {
        q.push(("link", "1".to_string()));
    }
    if args.volumes {
        q.push(("v", "1".to_string()));
    }
    let q = query(&q);
    let mut errors = Vec::new();
    for name in &args.containers {
        let id = name.trim_matches('/');
        if id.is_empty() {
            errors.push("Container name cannot be empty".to_string());
            continue;
        }
        match client
            .call(Method::DELETE, &container_path(id, &q), Body::Empty)
            .await
        {
            Ok(_) => crate::write_stdout(&format!("{name}\n"))?,
            Err(e) if args.force && e.is_not_found() => eprintln!("{e}"),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}
