//! `wharf volume inspect`: `GET /volumes/{name}` per name, rendered as `image inspect` does.

use crate::client::path_segment;
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Format output using a custom template:
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    #[arg(
        short = 'f',
        long = "format",
        value_name = "string",
        verbatim_doc_comment
    )]
    pub format: Option<String>,
    #[arg(value_name = "VOLUME", required = true, num_args = 1..)]
    pub names: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        match client
            .get_bytes(&format!("/volumes/{}", path_segment(name)))
            .await
        {
            Ok(b) => raws.push(b),
            Err(e) => errors.push(e.to_string()),
        }
    }
    crate::write_stdout(&crate::command::image::inspect::render(
        &raws,
        args.format.as_deref(),
    )?)?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}
