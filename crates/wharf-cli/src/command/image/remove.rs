//! `wharf rmi` / `wharf image rm`: `DELETE /images/{name}` per image. Like docker it keeps
//! going past failures, prints every error at the end, and exits 1 if any failed.

use hyper::Method;
use serde_json::Value;

use crate::client::{path_segment, query, Body};
use crate::command::{str_field, Ctx};
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Force removal of the image
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(value_name = "IMAGE", required = true, num_args = 1..)]
    pub images: Vec<String>,
}

/// "Untagged: …" / "Deleted: …" lines for one `ImageDeleteResponseItem` list.
pub fn render(items: &[Value]) -> String {
    let mut out = String::new();
    for it in items {
        let untagged = str_field(it, "Untagged");
        let deleted = str_field(it, "Deleted");
        if !untagged.is_empty() {
            out.push_str(&format!("Untagged: {untagged}\n"));
        }
        if !deleted.is_empty() {
            out.push_str(&format!("Deleted: {deleted}\n"));
        }
    }
    out
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let mut q = Vec::new();
    if args.force {
        q.push(("force", "1".to_string()));
    }
    if args.no_prune {
        q.push(("noprune", "1".to_string()));
    }
    let q = query(&q);
    let mut errors = Vec::new();
    for img in &args.images {
        let path = format!("/images/{}{q}", path_segment(img));
        match client.call(Method::DELETE, &path, Body::Empty).await {
            Ok(body) => {
                let items: Vec<Value> = serde_json::from_slice(&body).unwrap_or_default();
                crate::write_stdout(&render(&items))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_untagged_and_deleted() {
        let items: Vec<Value> =
            serde_json::from_str(r#"[{"Untagged":"busybox:latest"},{"Deleted":"sha256:11"}]"#)
                .unwrap();
        assert_eq!(
            render(&items),
            "Untagged: busybox:latest\nDeleted: sha256:11\n"
        );
    }
}
