//! `wharf search TERM`: `GET /images/search`, docker's `NAME DESCRIPTION STARS OFFICIAL` table.

use serde_json::{json, Value};

use crate::command::{encode_filters, parse_filter, str_field, Ctx};
use crate::error::CliError;
use crate::format;

const DEFAULT_FORMAT: &str = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Pretty-print search using a Go template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Max number of search results
    #[arg(long = "limit", value_name = "int")]
    pub limit: Option<i64>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(value_name = "TERM")]
    pub term: String,
}

fn headers() -> Value {
    json!({"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS",
           "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED"})
}

pub fn render(results: &[Value], args: &Args) -> Result<String, CliError> {
    let f = match args.format.as_deref() {
        None | Some("") | Some("table") => DEFAULT_FORMAT,
        Some(f) => f,
    };
    let rows: Vec<Value> = results
        .iter()
        .map(|r| {
            let desc = str_field(r, "description").replace(['\n', '\r'], " ");
            let desc = if args.no_trunc {
                desc
            } else {
                format::ellipsis(&desc, 45)
            };
            let flag = |k: &str| {
                if r.get(k).and_then(Value::as_bool).unwrap_or(false) {
                    "[OK]"
                } else {
                    ""
                }
            };
            json!({
                "Name": str_field(r, "name"),
                "Description": desc,
                "StarCount": r.get("star_count").and_then(Value::as_i64).unwrap_or(0).to_string(),
                "IsOfficial": flag("is_official"),
                "IsAutomated": flag("is_automated"),
            })
        })
        .collect();
    Ok(format::render_list(f, &rows, &headers())?)
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let mut q = vec![("term", args.term.clone())];
    if let Some(l) = args.limit {
        q.push(("limit", l.to_string()));
    }
    if let Some(f) = encode_filters(&args.filter) {
        q.push(("filters", f));
    }
    let mut client = ctx.client().await?.clone();
    let first = args.term.split_once('/').map_or("", |(f, _)| f);
    let index = if first.contains('.') || first.contains(':') || first == "localhost" {
        first
    } else {
        ""
    };
    let key = crate::command::registry::server_key(Some(index));
    if let Some(h) = crate::command::registry::config::registry_auth(&key) {
        client = client.with_header("x-registry-auth", h);
    }
    let results: Vec<Value> = client
        .get_json(&format!("/images/search{}", crate::client::query(&q)))
        .await?;
    crate::write_stdout(&render(&results, &args)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_like_docker() {
        let args = Args {
            filter: vec![],
            format: None,
            limit: None,
            no_trunc: false,
            term: "x".into(),
        };
        let r = vec![
            json!({"name": "busybox", "description": "Busybox base image, a very long description that goes on", "star_count": 3, "is_official": true}),
        ];
        let out = render(&r, &args).unwrap();
        let mut lines = out.lines();
        assert_eq!(
            lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
            ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
        );
        let row = lines.next().unwrap();
        assert!(row.starts_with("busybox"), "{row}");
        assert!(row.contains("…") && row.ends_with("[OK]"), "{row}");
    }
}
