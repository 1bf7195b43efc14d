//! `wharf container inspect`: `GET /containers/{name}/json[?size=1]` per name, printed as the
//! image inspector does (one indented JSON array, or the template per object).

use crate::client::Client;
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
    /// Display total file sizes
    #[arg(short = 's', long = "size")]
    pub size: bool,
    #[arg(value_name = "CONTAINER", required = true, num_args = 1..)]
    pub names: Vec<String>,
}

pub async fn fetch(client: &Client, name: &str, size: bool) -> Result<bytes::Bytes, CliError> {
    let q = if size { "?size=1" } else { "" };
    client
        .get_bytes(&super::container_path(name, &format!("/json{q}")))
        .await
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        match fetch(client, name, args.size).await {
            Ok(b) => raws.push(b),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let (out, template_errors) =
        crate::command::inspect::render_each(&raws, args.format.as_deref());
    crate::write_stdout(&out)?;
    errors.splice(0..0, template_errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}
