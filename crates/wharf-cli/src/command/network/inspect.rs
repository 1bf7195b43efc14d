//! `wharf network inspect`: `GET /networks/{name}[?verbose=true]` per name, rendered by the
//! shared inspector (an indented JSON array, or `-f` per object); names that fail are reported
//! after the others print, as docker's `inspect.Inspect` does.

use crate::command::network::{network_path, trim_id};
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
    /// Verbose output for diagnostics
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    #[arg(value_name = "NETWORK", required = true, num_args = 1..)]
    pub names: Vec<String>,
}

/// The request path for one name.
pub fn path(id: &str, verbose: bool) -> String {
    network_path(id, if verbose { "?verbose=true" } else { "" })
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        let got = match trim_id("network", name) {
            Ok(id) => client.get_bytes(&path(&id, args.verbose)).await,
            Err(e) => Err(e),
        };
        match got {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_rendering() {
        assert_eq!(path("net1", false), "/networks/net1");
        assert_eq!(path("net1", true), "/networks/net1?verbose=true");
        let raw = bytes::Bytes::from_static(
            br#"{"Name":"net1","Id":"abc","Driver":"bridge","IPAM":{"Config":[{"Subnet":"10.1.0.0/24"}]},"Labels":{}}"#,
        );
        let (out, errs) = crate::command::inspect::render_each(std::slice::from_ref(&raw), None);
        assert!(errs.is_empty());
        assert_eq!(
            out,
            "[\n    {\n        \"Name\": \"net1\",\n        \"Id\": \"abc\",\n        \"Driver\": \"bridge\",\n        \"IPAM\": {\n            \"Config\": [\n                {\n                    \"Subnet\": \"10.1.0.0/24\"\n                }\n            ]\n        },\n        \"Labels\": {}\n    }\n]\n"
        );
        let (out, _) = crate::command::inspect::render_each(
            &[raw],
            Some("{{.Name}} {{range .IPAM.Config}}{{.Subnet}}{{end}}"),
        );
        assert_eq!(out, "net1 10.1.0.0/24\n");
    }
}
