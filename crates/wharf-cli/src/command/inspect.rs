//! `wharf inspect`: docker's generic inspect. Each name is looked up as a container, then as
//! an image (docker's order for the kinds we have); `--type` restricts the kind. A name that is
//! neither is "Error: No such object: NAME".

use crate::command::container::inspect as container_inspect;
use crate::command::image::inspect as image_inspect;
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Format output using a custom template:
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    #[arg(short = 'f', long = "format", value_name = "string", verbatim_doc_comment)]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long = "size")]
    pub size: bool,
    /// Return JSON for specified type
    #[arg(long = "type", value_name = "string")]
    pub kind: Option<String>,
    #[arg(value_name = "NAME|ID", required = true, num_args = 1..)]
    pub names: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let kind = args.kind.as_deref().unwrap_or("");
    if !matches!(kind, "" | "container" | "image") {
        return Err(CliError::msg(format!("\"{kind}\" is not a valid value for --type")));
    }
    let client = ctx.client().await?;
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        let mut found = None;
        let mut other_err = None;
        if kind.is_empty() || kind == "container" {
            match container_inspect::fetch(client, name, args.size).await {
                Ok(b) => found = Some(b),
                Err(e) if e.is_not_found() => {}
                Err(e) => other_err = Some(e.to_string()),
            }
        }
        if found.is_none() && other_err.is_none() && (kind.is_empty() || kind == "image") {
            match image_inspect::fetch(client, name).await {
                Ok(b) => found = Some(b),
                Err(e) if e.is_not_found() => {}
                Err(e) => other_err = Some(e.to_string()),
            }
        }
        match (found, other_err) {
            (Some(b), _) => raws.push(b),
            (None, Some(e)) => errors.push(e),
            (None, None) => errors.push(format!("Error: No such {}: {name}", if kind.is_empty() { "object" } else { kind })),
        }
    }
    crate::write_stdout(&image_inspect::render(&raws, args.format.as_deref())?)?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}
