//! `wharf volume prune`: `POST /volumes/prune`, anonymous volumes only unless `--all`.

use serde_json::Value;

use crate::command::{int_field, parse_filter, Ctx};
use crate::error::CliError;
use crate::format::units;

const WARNING: &str = "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?";
const ALL_WARNING: &str = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?";

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter", value_name = "filter", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

/// docker's report.
pub fn render(report: &Value) -> String {
    let mut out = String::new();
    let items = report
        .get("VolumesDeleted")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !items.is_empty() {
        out.push_str("Deleted Volumes:\n");
        for it in &items {
            out.push_str(&format!("{}\n", it.as_str().unwrap_or("")));
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
    if args.all {
        filters.push(("all".into(), "true".into()));
    }
    let warning = if args.all { ALL_WARNING } else { WARNING };
    crate::command::prune(ctx, "volumes", &filters, args.force, warning, render).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report() {
        let r = serde_json::json!({"VolumesDeleted": ["a", "b"], "SpaceReclaimed": 0});
        assert_eq!(
            render(&r),
            "Deleted Volumes:\na\nb\n\nTotal reclaimed space: 0B\n"
        );
    }
}
