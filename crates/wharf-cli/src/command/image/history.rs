//! `wharf history` / `wharf image history`: `GET /images/{name}/history`, rendered as
//! docker's `formatter.HistoryWrite`.

use clap::ArgAction;
use serde_json::{json, Value};

use crate::client::path_segment;
use crate::command::{int_field, str_field, Ctx};
use crate::error::CliError;
use crate::format::{self, units};

const DEFAULT_FORMAT: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
const QUIET_FORMAT: &str = "{{.ID}}";

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Format output using a custom template:
    /// 'table':            Print output in table format with column headers (default)
    /// 'table TEMPLATE':   Print output in table format using the given Go template
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    #[arg(long = "format", value_name = "string", verbatim_doc_comment)]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long = "human", action = ArgAction::Set, default_value_t = true,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Show history for the given platform. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

impl Args {
    pub fn for_render() -> Args {
        Args {
            format: None,
            human: true,
            no_trunc: false,
            quiet: false,
            platform: None,
            image: String::new(),
        }
    }
}

pub fn headers() -> Value {
    json!({
        "ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
    })
}

/// Renders `HistoryResponseItem`s as docker does, relative to `now`.
pub fn render(items: &[Value], args: &Args, now: f64) -> Result<String, CliError> {
    let format = match args.format.as_deref() {
        None | Some("") | Some("table") if args.quiet => QUIET_FORMAT,
        None | Some("") | Some("table") => DEFAULT_FORMAT,
        Some(f) => f,
    };
    let trunc = !args.no_trunc;
    let rows: Vec<Value> = items
        .iter()
        .map(|h| {
            let created = int_field(h, "Created", 0);
            let size = int_field(h, "Size", 0);
            let id = str_field(h, "Id");
            let created_by = str_field(h, "CreatedBy").replace('\t', " ");
            json!({
                "Comment": str_field(h, "Comment"),
                "CreatedAt": units::rfc3339(created),
                "CreatedBy": if trunc { format::ellipsis(&created_by, 45) } else { created_by },
                "CreatedSince": if args.human { units::since(created, now) } else { units::rfc3339(created) },
                "ID": if trunc { format::truncate_id(id) } else { id.to_string() },
                "Size": if args.human { units::human_size_with_precision(size as f64, 3) } else { size.to_string() },
            })
        })
        .collect();
    let mut headers = headers();
    if !args.human {
        headers["CreatedSince"] = json!("CREATED AT");
    }
    Ok(format::render_list(format, &rows, &headers)?)
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let mut path = format!("/images/{}/history", path_segment(&args.image));
    if let Some(p) = &args.platform {
        let (os, rest) = p.split_once('/').unwrap_or((p.as_str(), ""));
        let (arch, variant) = rest.split_once('/').unwrap_or((rest, ""));
        let plat = json!({"os": os, "architecture": arch, "variant": variant}).to_string();
        path.push_str(&crate::client::query(&[("platform", plat)]));
    }
    let items: Vec<Value> = client.get_json(&path).await?;
    crate::write_stdout(&render(&items, &args, units::now_unix())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_700_000_000.0;

    fn fixture() -> Vec<Value> {
        serde_json::from_str(include_str!("../../../testdata/history.json")).unwrap()
    }

    #[test]
    fn history_table_golden() {
        let got = render(&fixture(), &Args::for_render(), NOW).unwrap();
        crate::command::testutil::check_golden("history-table.golden", &got);
    }

    #[test]
    fn history_not_human_no_trunc_golden() {
        let args = Args {
            human: false,
            no_trunc: true,
            ..Args::for_render()
        };
        let got = render(&fixture(), &args, NOW).unwrap();
        crate::command::testutil::check_golden("history-raw-notrunc.golden", &got);
    }

    #[test]
    fn human_flag_parses_like_docker() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            a: Args,
        }
        assert!(!T::try_parse_from(["t", "-H=false", "img"]).unwrap().a.human);
        assert!(T::try_parse_from(["t", "img"]).unwrap().a.human);
    }
}
