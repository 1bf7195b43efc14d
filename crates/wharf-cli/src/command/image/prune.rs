//! `wharf image prune`: `POST /images/prune` with docker's `dangling` filter, after asking.

use serde_json::Value;

use crate::command::{int_field, parse_filter, str_field, Ctx};
use crate::error::CliError;
use crate::format::units;

const DANGLING_WARNING: &str =
    "WARNING! This will remove all dangling images.\nAre you sure you want to continue?";
const ALL_WARNING: &str =
    "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?";

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

/// docker's report: the deleted list (if any), a blank line, then the reclaimed total.
pub fn render(report: &Value) -> String {
    let mut out = String::new();
    let items = report
        .get("ImagesDeleted")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !items.is_empty() {
        out.push_str("Deleted Images:\n");
        for it in &items {
            let untagged = str_field(it, "Untagged");
            if !untagged.is_empty() {
                out.push_str(&format!("untagged: {untagged}\n"));
            } else {
                out.push_str(&format!("deleted: {}\n", str_field(it, "Deleted")));
            }
        }
        out.push('\n');
    }
    let space = int_field(report, "SpaceReclaimed", 0);
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        units::human_size(space as f64)
    ));
    out
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let mut filters = args.filter.clone();
    filters.push(("dangling".into(), (!args.all).to_string()));
    let warning = if args.all {
        ALL_WARNING
    } else {
        DANGLING_WARNING
    };
    crate::command::prune(ctx, "images", &filters, args.force, warning, render).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_report() {
        let r = serde_json::json!({"ImagesDeleted":[{"Untagged":"a:b"},{"Deleted":"sha256:1"}],"SpaceReclaimed":1982256});
        assert_eq!(
            render(&r),
            "Deleted Images:\nuntagged: a:b\ndeleted: sha256:1\n\nTotal reclaimed space: 1.982MB\n"
        );
        let r = serde_json::json!({"ImagesDeleted":null,"SpaceReclaimed":0});
        assert_eq!(render(&r), "Total reclaimed space: 0B\n");
    }
}
