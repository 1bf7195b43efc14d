//! `wharf network ls`: `GET /networks[?filters=…]` (filters are the daemon's business, as in
//! docker/cli), sorted by name in docker's natural order and rendered as docker's
//! `NETWORK ID     NAME      DRIVER    SCOPE` table, `-q` ids, `json` or a template over
//! `.ID .Name .Driver .Scope .IPv4 .IPv6 .Internal .Labels .Label "k" .CreatedAt`.

use serde_json::{json, Map, Value};

use crate::command::{encode_filters, parse_filter, str_field, Ctx};
use crate::error::CliError;
use crate::format::{self, units};

const DEFAULT_FORMAT: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
const QUIET_FORMAT: &str = "{{.ID}}";
const RAW_FORMAT: &str =
    "network_id: {{.ID}}\\nname: {{.Name}}\\ndriver: {{.Driver}}\\nscope: {{.Scope}}\\n";
const RAW_QUIET_FORMAT: &str = "network_id: {{.ID}}";

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter", value_name = "filter", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Format output using a custom template:
    /// 'table':            Print output in table format with column headers (default)
    /// 'table TEMPLATE':   Print output in table format using the given Go template
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    #[arg(long = "format", value_name = "string", verbatim_doc_comment)]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

impl Args {
    /// `GET /networks` with docker's `filters` JSON.
    pub fn path(&self) -> String {
        let q = encode_filters(&self.filter)
            .map(|f| vec![("filters", f)])
            .unwrap_or_default();
        format!("/networks{}", crate::client::query(&q))
    }

    /// docker's `NewFormat`: `table` (or nothing) is the default table, or the ids with `-q`;
    /// `raw` is docker's key: value listing; anything else is used as given.
    fn effective_format(&self) -> String {
        match self.format.as_deref() {
            None | Some("") | Some("table") if self.quiet => QUIET_FORMAT.to_string(),
            None | Some("") | Some("table") => DEFAULT_FORMAT.to_string(),
            Some("raw") if self.quiet => RAW_QUIET_FORMAT.to_string(),
            Some("raw") => RAW_FORMAT.to_string(),
            Some(f) => f.to_string(),
        }
    }
}

/// docker's column names (`FormatWrite`'s header context).
pub fn headers() -> Value {
    json!({
        "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
        "Label": "LABEL", "LabelMap": "LABEL", "CreatedAt": "CREATED AT",
    })
}

/// One network as docker's `networkContext` methods show it (booleans as "true"/"false",
/// labels as sorted `k=v` joined by commas). `LabelMap` backs `.Label "k"`.
pub fn row(n: &Value, trunc: bool, with_label_map: bool) -> Value {
    let id = str_field(n, "Id");
    let flag = |k: &str| {
        n.get(k)
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .to_string()
    };
    let mut labels: Vec<(String, String)> = n
        .get("Labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    let mut r = json!({
        "ID": if trunc { format::truncate_id(id) } else { id.to_string() },
        "Name": str_field(n, "Name"),
        "Driver": str_field(n, "Driver"),
        "Scope": str_field(n, "Scope"),
        "IPv4": flag("EnableIPv4"),
        "IPv6": flag("EnableIPv6"),
        "Internal": flag("Internal"),
        "Labels": labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        "CreatedAt": units::go_time_string_rfc3339(str_field(n, "Created")),
    });
    if with_label_map {
        let m: Map<String, Value> = labels
            .into_iter()
            .map(|(k, v)| (k, Value::from(v)))
            .collect();
        r["LabelMap"] = Value::Object(m);
    }
    r
}

/// Renders the answer of `GET /networks` as docker does.
pub fn render(list: &[Value], args: &Args) -> Result<String, CliError> {
    let fmt = args.effective_format();
    let uses_label = fmt.contains(".Label \"");
    let fmt = crate::command::container::list::rewrite_label_calls(&fmt);
    let mut nets: Vec<&Value> = list.iter().collect();
    nets.sort_by(|a, b| format::natural_cmp(str_field(a, "Name"), str_field(b, "Name")));
    let rows: Vec<Value> = nets
        .into_iter()
        .map(|n| row(n, !args.no_trunc, uses_label))
        .collect();
    Ok(format::render_list(&fmt, &rows, &headers())?)
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    // Go decodes a `null` answer as an empty list.
    let list: Value = client.get_json(&args.path()).await?;
    let list = list.as_array().map(Vec::as_slice).unwrap_or(&[]);
    crate::write_stdout(&render(list, &args)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::testutil::check_golden;

    fn fixture() -> Vec<Value> {
        serde_json::from_str(include_str!("../../../testdata/networks.json")).unwrap()
    }

    fn render_with(args: Args) -> String {
        render(&fixture(), &args).unwrap()
    }

    #[test]
    fn table_golden() {
        check_golden("network-ls-table.golden", &render_with(Args::default()));
    }

    #[test]
    fn quiet_and_no_trunc() {
        let q = render_with(Args {
            quiet: true,
            ..Default::default()
        });
        assert_eq!(
            q,
            "0f3c8a6b6e2d\n7d2b5f0c11aa\n3e5d7a9c2b11\n9a1f2e3d4c5b\nc4f2a1b0e9d8\n5b6c7d8e9f0a\n"
        );
        let q = render_with(Args {
            quiet: true,
            no_trunc: true,
            ..Default::default()
        });
        assert!(q.starts_with("0f3c8a6b6e2d4c1f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f\n"));
        // -q with a template: the template wins (docker's NewFormat).
        let q = render_with(Args {
            quiet: true,
            format: Some("{{.Name}}".into()),
            ..Default::default()
        });
        assert_eq!(q, "bridge\nfrontend\nhost\nnet2\nnet10\nnone\n");
    }

    #[test]
    fn json_golden() {
        check_golden(
            "network-ls-json.golden",
            &render_with(Args {
                format: Some("json".into()),
                ..Default::default()
            }),
        );
    }

    #[test]
    fn templates() {
        let out = render_with(Args {
            format: Some(
                "{{.Name}}\\t{{.IPv6}} {{.Internal}} {{.Labels}}|{{.Label \"tier\"}}".into(),
            ),
            ..Default::default()
        });
        assert_eq!(
            out,
            "bridge\tfalse false |\nfrontend\ttrue true com.example=1,tier=web|web\n\
             host\tfalse false |\nnet2\tfalse false |\nnet10\tfalse false |\n\
             none\tfalse false |\n"
        );
        let out = render_with(Args {
            format: Some("table {{.Name}}\t{{.CreatedAt}}".into()),
            ..Default::default()
        });
        check_golden("network-ls-created.golden", &out);
        let bridge: Vec<Value> = fixture()
            .into_iter()
            .filter(|n| n["Name"] == "bridge")
            .collect();
        let out = render(
            &bridge,
            &Args {
                format: Some("raw".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            out,
            "network_id: 0f3c8a6b6e2d\nname: bridge\ndriver: bridge\nscope: local\n\n"
        );
    }

    #[test]
    fn docker_formatter_cases() {
        // The cases of docker/cli's `TestNetworkContextWrite`.
        let nets = vec![
            json!({"Id": "networkID1", "Name": "foobar_baz", "Driver": "foo", "Scope": "local"}),
            json!({"Id": "networkID2", "Name": "foobar_bar", "Driver": "bar", "Scope": "local"}),
        ];
        let with = |format: &str, quiet: bool| {
            render(
                &nets,
                &Args {
                    format: Some(format.into()),
                    quiet,
                    ..Default::default()
                },
            )
            .unwrap()
        };
        // (docker sorts by name before formatting; its formatter test does not.)
        assert_eq!(
            with("table", false),
            "NETWORK ID   NAME         DRIVER    SCOPE\n\
             networkID2   foobar_bar   bar       local\n\
             networkID1   foobar_baz   foo       local\n"
        );
        assert_eq!(with("table", true), "networkID2\nnetworkID1\n");
        assert_eq!(
            with("table {{.Name}}", true),
            "NAME\nfoobar_bar\nfoobar_baz\n"
        );
        assert_eq!(
            with("raw", false),
            "network_id: networkID2\nname: foobar_bar\ndriver: bar\nscope: local\n\n\
             network_id: networkID1\nname: foobar_baz\ndriver: foo\nscope: local\n\n"
        );
        assert_eq!(
            with("raw", true),
            "network_id: networkID2\nnetwork_id: networkID1\n"
        );
        assert_eq!(with("{{.Name}}", false), "foobar_bar\nfoobar_baz\n");
        assert_eq!(
            with("{{json .ID}}", false),
            "\"networkID2\"\n\"networkID1\"\n"
        );
    }

    #[test]
    fn filters_go_to_the_daemon() {
        let a = Args {
            filter: vec![
                ("driver".into(), "bridge".into()),
                ("type".into(), "custom".into()),
            ],
            ..Default::default()
        };
        assert_eq!(
            a.path(),
            "/networks?filters=%7B%22driver%22%3A%7B%22bridge%22%3Atrue%7D%2C%22type%22%3A%7B%22custom%22%3Atrue%7D%7D"
        );
        assert_eq!(Args::default().path(), "/networks");
    }
}
