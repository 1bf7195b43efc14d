//! `wharf container prune`: `POST /containers/prune`, after asking.

use serde_json::Value;

use crate::command::{int_field, parse_filter, Ctx};
use crate::error::CliError;
use crate::format::units;

const WARNING: &str =
    "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?";

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

pub fn render(report: &Value) -> String {
    let mut out = String::new();
    let deleted = report
        .get("ContainersDeleted")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut space = 0;
    if !deleted.is_empty() {
        out.push_str("Deleted Containers:\n");
        for id in &deleted {
            out.push_str(id.as_str().unwrap_or(""));
            out.push('\n');
        }
        out.push('\n');
        space = int_field(report, "SpaceReclaimed", 0);
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        units::human_size(space as f64)
    ));
    out
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    crate::command::prune(ctx, "containers", &args.filter, args.force, WARNING, render).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_report() {
        let r = serde_json::json!({"ContainersDeleted":["abc","def"],"SpaceReclaimed":12});
        assert_eq!(
            render(&r),
            "Deleted Containers:\nabc\ndef\n\nTotal reclaimed space: 12B\n"
        );
        assert_eq!(
            render(&serde_json::json!({"ContainersDeleted":null})),
            "Total reclaimed space: 0B\n"
        );
    }
}
