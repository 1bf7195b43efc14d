//! `wharf inspect`: docker's generic inspect. Each name is looked up as a container, then as
//! an image, then as a network, then as a volume (docker's order for the kinds we have); `--type` restricts the kind. A name that is
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
    #[arg(
        short = 'f',
        long = "format",
        value_name = "string",
        verbatim_doc_comment
    )]
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
    if !matches!(kind, "" | "container" | "image" | "network" | "volume") {
        return Err(CliError::msg(format!(
            "\"{kind}\" is not a valid value for --type"
        )));
    }
    let client = ctx.client().await?;
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        let mut found = None;
        let mut other_err = None;
        // With --type the daemon's own "not found" is what docker prints.
        let typed = !kind.is_empty();
        if kind.is_empty() || kind == "container" {
            match container_inspect::fetch(client, name, args.size).await {
                Ok(b) => found = Some(b),
                Err(e) if e.is_not_found() && !typed => {}
                Err(e) => other_err = Some(e.to_string()),
            }
        }
        if found.is_none() && other_err.is_none() && (kind.is_empty() || kind == "image") {
            match image_inspect::fetch(client, name).await {
                Ok(b) => found = Some(b),
                Err(e) if e.is_not_found() && !typed => {}
                Err(e) => other_err = Some(e.to_string()),
            }
        }
        if found.is_none() && other_err.is_none() && (kind.is_empty() || kind == "network") {
            let got = match crate::command::network::trim_id("network", name) {
                Ok(id) => {
                    client
                        .get_bytes(&crate::command::network::network_path(&id, ""))
                        .await
                }
                Err(e) => Err(e),
            };
            match got {
                Ok(b) => found = Some(b),
                Err(e) if e.is_not_found() && !typed => {}
                Err(e) => other_err = Some(e.to_string()),
            }
        }
        if found.is_none() && other_err.is_none() && (kind.is_empty() || kind == "volume") {
            let path = format!("/volumes/{}", crate::client::path_segment(name));
            match client.get_bytes(&path).await {
                Ok(b) => found = Some(b),
                Err(e) if e.is_not_found() && !typed => {}
                Err(e) => other_err = Some(e.to_string()),
            }
        }
        match (found, other_err) {
            (Some(b), _) => raws.push(b),
            (None, Some(e)) => errors.push(e),
            (None, None) => errors.push(format!("Error: No such object: {name}")),
        }
    }
    let (out, template_errors) = render_each(&raws, args.format.as_deref());
    crate::write_stdout(&out)?;
    errors.splice(0..0, template_errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}

/// Renders each object on its own, as docker's inspector does: an object the template fails
/// on is reported (with docker's "template parsing error: " prefix) and the others still print.
pub fn render_each(raws: &[bytes::Bytes], format: Option<&str>) -> (String, Vec<String>) {
    if matches!(format, None | Some("") | Some("json")) {
        return match image_inspect::render(raws, format) {
            Ok(s) => (s, Vec::new()),
            Err(e) => (String::new(), vec![e.to_string()]),
        };
    }
    let mut out = String::new();
    let mut errors = Vec::new();
    for r in raws {
        match image_inspect::render(std::slice::from_ref(r), format) {
            Ok(s) => out.push_str(&s),
            Err(e) => errors.push(format!("template parsing error: {e}")),
        }
    }
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_errors_do_not_hide_other_objects() {
        let raws = vec![
            bytes::Bytes::from_static(br#"{"Name":"/made"}"#),
            bytes::Bytes::from_static(br#"{"Id":"sha256:1"}"#),
        ];
        let (out, errs) = render_each(&raws, Some("{{.Name}}"));
        assert_eq!(out, "/made\n");
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("template parsing error: template: "),
            "{errs:?}"
        );
    }
}
