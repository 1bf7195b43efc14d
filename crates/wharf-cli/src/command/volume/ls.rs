//! `wharf volume ls`: `GET /volumes`, docker's `DRIVER    VOLUME NAME` table.

use serde_json::{json, Value};

use crate::command::{encode_filters, parse_filter, str_field, Ctx};
use crate::error::CliError;
use crate::format;

const DEFAULT_FORMAT: &str = "table {{.Driver}}\t{{.Name}}";
const QUIET_FORMAT: &str = "{{.Name}}";

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter", value_name = "filter", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Format output using a custom template:
    /// 'table':            Print output in table format with column headers (default)
    /// 'table TEMPLATE':   Print output in table format using the given Go template
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    #[arg(long = "format", value_name = "string", verbatim_doc_comment)]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

pub fn headers() -> Value {
    json!({
        "Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
        "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "CreatedAt": "CREATED AT",
    })
}

/// One row as docker's `volumeContext` sees it.
pub fn row(v: &Value) -> Value {
    let mut labels: Vec<String> = v
        .get("Labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    json!({
        "Name": str_field(v, "Name"), "Driver": str_field(v, "Driver"),
        "Scope": str_field(v, "Scope"), "Mountpoint": str_field(v, "Mountpoint"),
        "Labels": labels.join(","), "Links": "N/A", "Size": "N/A",
        "CreatedAt": str_field(v, "CreatedAt"),
    })
}

pub fn render(resp: &Value, args: &Args) -> Result<String, CliError> {
    let format = match args.format.as_deref() {
        None | Some("") | Some("table") if args.quiet => QUIET_FORMAT,
        None | Some("") | Some("table") => DEFAULT_FORMAT,
        Some(f) => f,
    };
    let mut vols: Vec<Value> = resp
        .get("Volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    vols.sort_by(|a, b| format::natural_cmp(str_field(a, "Name"), str_field(b, "Name")));
    let rows: Vec<Value> = vols.iter().map(row).collect();
    Ok(format::render_list(format, &rows, &headers())?)
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let q = encode_filters(&args.filter)
        .map(|f| vec![("filters", f)])
        .unwrap_or_default();
    let client = ctx.client().await?;
    let resp: Value = client
        .get_json(&format!("/volumes{}", crate::client::query(&q)))
        .await?;
    crate::write_stdout(&render(&resp, &args)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_like_docker() {
        let resp = json!({"Volumes": [
            {"Name": "zeta", "Driver": "local", "Labels": {}},
            {"Name": "alpha", "Driver": "local", "Labels": {"b": "2", "a": "1"}},
        ]});
        let out = render(&resp, &Args::default()).unwrap();
        assert_eq!(
            out,
            "DRIVER    VOLUME NAME\nlocal     alpha\nlocal     zeta\n"
        );
        let q = render(
            &resp,
            &Args {
                quiet: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(q, "alpha\nzeta\n");
        let f = render(
            &resp,
            &Args {
                format: Some("{{.Name}} {{.Labels}}".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(f, "alpha a=1,b=2\nzeta \n");
    }
}
