//! `wharf builder prune`: `POST /build/prune` after asking, then docker's report (the deleted
//! cache records, if the daemon lists any, and "Total reclaimed space: …").

use hyper::Method;
use serde_json::Value;

use crate::client::{query, Body};
use crate::command::container::opts::ram_in_bytes;
use crate::command::{confirm, encode_filters, int_field, parse_filter, Ctx};
use crate::error::CliError;
use crate::format::units;

const DANGLING_WARNING: &str =
    "WARNING! This will remove all dangling build cache. Are you sure you want to continue?";
const ALL_WARNING: &str =
    "WARNING! This will remove all build cache. Are you sure you want to continue?";

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "until=24h")
    #[arg(long = "filter", value_name = "filter", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Amount of disk space to keep for cache
    #[arg(long = "keep-storage", value_name = "bytes", value_parser = ram_in_bytes)]
    pub keep_storage: Option<i64>,
}

/// The query docker's client sends (`BuildCachePrune`).
pub fn build_query(args: &Args) -> String {
    let mut q = Vec::new();
    if args.all {
        q.push(("all", "1".to_string()));
    }
    if let Some(n) = args.keep_storage.filter(|n| *n != 0) {
        q.push(("keep-storage", n.to_string()));
    }
    if let Some(f) = encode_filters(&args.filter) {
        q.push(("filters", f));
    }
    query(&q)
}

/// docker's report: "Deleted build cache objects:" and the IDs, a blank line, then the total.
pub fn render(report: &Value) -> String {
    let mut out = String::new();
    let deleted: Vec<&str> = report
        .get("CachesDeleted")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !deleted.is_empty() {
        out.push_str("Deleted build cache objects:\n");
        for id in deleted {
            out.push_str(id);
            out.push('\n');
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
    let warning = if args.all {
        ALL_WARNING
    } else {
        DANGLING_WARNING
    };
    // On "no" docker prints nothing more and exits 0.
    if !args.force && !confirm(warning) {
        return Ok(());
    }
    let client = ctx.client().await?;
    let body = client
        .call(
            Method::POST,
            &format!("/build/prune{}", build_query(&args)),
            Body::Empty,
        )
        .await?;
    let report: Value =
        serde_json::from_slice(&body).map_err(|e| CliError::Protocol(e.to_string()))?;
    crate::write_stdout(&render(&report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_report_like_docker() {
        let mut args = Args {
            all: false,
            filter: vec![],
            force: true,
            keep_storage: None,
        };
        assert_eq!(build_query(&args), "");
        args.all = true;
        args.keep_storage = Some(1 << 20);
        args.filter = vec![parse_filter("until=24h").unwrap()];
        assert_eq!(
            build_query(&args),
            "?all=1&keep-storage=1048576&filters=%7B%22until%22%3A%7B%2224h%22%3Atrue%7D%7D"
        );
        let r = serde_json::json!({"CachesDeleted": null, "SpaceReclaimed": 0, "Entries": 3});
        assert_eq!(render(&r), "Total reclaimed space: 0B\n");
        let r = serde_json::json!({"CachesDeleted": ["abc", "def"], "SpaceReclaimed": 2048000});
        assert_eq!(
            render(&r),
            "Deleted build cache objects:\nabc\ndef\n\nTotal reclaimed space: 2.048MB\n"
        );
    }
}
