//! `wharf network prune`: `POST /networks/prune` through the shared prune helper; docker lists
//! the deleted networks and, unlike the other prunes, prints no reclaimed space.

use serde_json::Value;

use crate::command::{parse_filter, Ctx};
use crate::error::CliError;

const WARNING: &str = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?";

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

/// docker's report: "Deleted Networks:" and one name per line, then the blank line of its
/// `Fprintln`; nothing at all when nothing was deleted.
pub fn render(report: &Value) -> String {
    let names: Vec<&str> = report
        .get("NetworksDeleted")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|n| n.as_str().unwrap_or("")).collect())
        .unwrap_or_default();
    if names.is_empty() {
        return String::new();
    }
    let mut out = String::from("Deleted Networks:\n");
    for n in names {
        out.push_str(n);
        out.push('\n');
    }
    out.push('\n');
    out
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    crate::command::prune(ctx, "networks", &args.filter, args.force, WARNING, render).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn report_like_docker() {
        assert_eq!(
            render(&json!({"NetworksDeleted": ["n1", "n2"]})),
            "Deleted Networks:\nn1\nn2\n\n"
        );
        assert_eq!(render(&json!({"NetworksDeleted": null})), "");
        assert_eq!(render(&json!({"NetworksDeleted": []})), "");
    }
}
