//! `wharf image inspect`: `GET /images/{name}/json` per name. Without `-f` the raw answers
//! are printed as one JSON array indented with four spaces (docker keeps the daemon's key
//! order); with `-f` the template runs over each answer. Failures are reported after the
//! output and make the exit status 1.

use serde_json::Value;

use crate::client::{path_segment, Client};
use crate::command::Ctx;
use crate::error::CliError;
use crate::format;

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
    /// Inspect a specific platform of the multi-platform image.
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    #[arg(value_name = "IMAGE", required = true, num_args = 1..)]
    pub names: Vec<String>,
}

pub async fn fetch(client: &Client, name: &str) -> Result<bytes::Bytes, CliError> {
    client
        .get_bytes(&format!("/images/{}/json", path_segment(name)))
        .await
}

/// Renders raw inspect answers as docker's inspector does.
pub fn render(raws: &[bytes::Bytes], format: Option<&str>) -> Result<String, CliError> {
    match format {
        None | Some("") | Some("json") => {
            let mut joined = Vec::from(&b"["[..]);
            for (i, r) in raws.iter().enumerate() {
                if i > 0 {
                    joined.push(b',');
                }
                joined.extend_from_slice(r);
            }
            joined.push(b']');
            let mut s = format::indent_json(&joined, "    ");
            s.push('\n');
            Ok(s)
        }
        Some(f) => {
            let mut out = String::new();
            for r in raws {
                let v: Value =
                    serde_json::from_slice(r).map_err(|e| CliError::Protocol(e.to_string()))?;
                out.push_str(&format::render_one(f, &v)?);
            }
            Ok(out)
        }
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        match fetch(client, name).await {
            Ok(b) => raws.push(b),
            Err(e) => errors.push(e.to_string()),
        }
    }
    crate::write_stdout(&render(&raws, args.format.as_deref())?)?;
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
    fn renders_array_or_template() {
        let raws = vec![bytes::Bytes::from_static(
            br#"{"Id":"sha256:1","RepoTags":["a:b"],"Config":{"Env":null}}"#,
        )];
        assert_eq!(
            render(&raws, None).unwrap(),
            "[\n    {\n        \"Id\": \"sha256:1\",\n        \"RepoTags\": [\n            \"a:b\"\n        ],\n        \"Config\": {\n            \"Env\": null\n        }\n    }\n]\n"
        );
        assert_eq!(render(&[], None).unwrap(), "[]\n");
        assert_eq!(
            render(&raws, Some("{{.Id}} {{json .RepoTags}}")).unwrap(),
            "sha256:1 [\"a:b\"]\n"
        );
    }
}
