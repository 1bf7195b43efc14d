//! `wharf volume rm`: `DELETE /volumes/{name}` per name; prints each removed name.

use hyper::Method;

use crate::client::{path_segment, query, Body};
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(value_name = "VOLUME", required = true, num_args = 1..)]
    pub names: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let q = if args.force {
        query(&[("force", "1".to_string())])
    } else {
        String::new()
    };
    let mut errors = Vec::new();
    for name in &args.names {
        let path = format!("/volumes/{}{q}", path_segment(name));
        match client.call(Method::DELETE, &path, Body::Empty).await {
            Ok(_) => crate::write_stdout(&format!("{name}\n"))?,
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}
