//! `wharf inspect`: docker's generic inspect. Objects are looked up by kind in turn; in this
//! milestone only images exist, so a name that is no image is "No such object".

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
    if let Some(k) = args.kind.as_deref() {
        if !k.is_empty() && k != "image" {
            return Err(CliError::msg(format!("\"{k}\" is not a valid value for --type")));
        }
    }
    let client = ctx.client().await?;
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        match image_inspect::fetch(client, name).await {
            Ok(b) => raws.push(b),
            Err(e) if e.is_not_found() => errors.push(format!("Error: No such object: {name}")),
            Err(e) => errors.push(e.to_string()),
        }
    }
    crate::write_stdout(&image_inspect::render(&raws, args.format.as_deref())?)?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}
