//! `wharf ps` / `wharf container ls`: `GET /containers/json`, rendered as docker's
//! `formatter.ContainerWrite`: the default table `CONTAINER ID  IMAGE  COMMAND  CREATED  STATUS
//! PORTS  NAMES` (+ `SIZE` with `-s`), `-q` ids, `--format` templates over docker's fields
//! (.ID .Image .Command .CreatedAt .RunningFor .Ports .State .Status .Size .Names .Labels
//! .Label "k" .Mounts .Networks .LocalVolumes), `table …` and `json`.

use serde_json::{json, Map, Value};

use crate::client::query;
use crate::command::{encode_filters, int_field, parse_filter, str_field, Ctx};
use crate::error::CliError;
use crate::format::{self, units};

const DEFAULT_FORMAT: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
const QUIET_FORMAT: &str = "{{.ID}}";

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Format output using a custom template:
    /// 'table':            Print output in table format with column headers (default)
    /// 'table TEMPLATE':   Print output in table format using the given Go template
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    #[arg(long = "format", value_name = "string", verbatim_doc_comment)]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", value_name = "int", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long = "latest")]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long = "size")]
    pub size: bool,
}

impl Args {
    /// The format to render with (docker's `NewContainerFormat`).
    fn effective_format(&self) -> String {
        match self.format.as_deref() {
            None | Some("") | Some("table") if self.quiet => QUIET_FORMAT.to_string(),
            None | Some("") | Some("table") if self.size => {
                format!("{DEFAULT_FORMAT}\t{{{{.Size}}}}")
            }
            None | Some("") | Some("table") => DEFAULT_FORMAT.to_string(),
            Some(f) => f.to_string(),
        }
    }

    /// Sizes are asked for with `-s`, or when the template uses `.Size` (not for `json`,
    /// where docker prints the size fields without asking for them).
    fn wants_size(&self) -> bool {
        self.size || self.format.as_deref().is_some_and(|f| f.contains(".Size"))
    }

    /// `?all=1&filters=…&limit=N&size=1`, keys sorted as Go's client sends them.
    pub fn query(&self) -> String {
        let limit = if self.latest && self.last <= 0 {
            1
        } else {
            self.last
        };
        let mut q = Vec::new();
        if self.all {
            q.push(("all", "1".to_string()));
        }
        if let Some(f) = encode_filters(&self.filter) {
            q.push(("filters", f));
        }
        if limit > 0 {
            q.push(("limit", limit.to_string()));
        }
        if self.wants_size() {
            q.push(("size", "1".to_string()));
        }
        query(&q)
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let list: Vec<Value> = client
        .get_json(&format!("/containers/json{}", args.query()))
        .await?;
    crate::write_stdout(&render(&list, &args, units::now_unix())?)
}

/// docker's column names.
pub fn headers() -> Value {
    json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
        "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Label": "LABEL", "LabelMap": "LABEL",
        "Mounts": "MOUNTS", "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES",
    })
}

/// docker's `.Label "key"` is a method; our templates run over JSON, so it becomes
/// `(or (index .LabelMap "key") "")` (a missing label prints as "").
pub(crate) fn rewrite_label_calls(format: &str) -> String {
    let mut out = String::new();
    let mut rest = format;
    while let Some(i) = rest.find(".Label \"") {
        out.push_str(&rest[..i]);
        let after = &rest[i + ".Label \"".len()..];
        match after.find('"') {
            Some(end) => {
                out.push_str(&format!(
                    "(or (index .LabelMap \"{}\") \"\")",
                    &after[..end]
                ));
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Renders `GET /containers/json` as docker would, relative to `now` (unix seconds).
pub fn render(list: &[Value], args: &Args, now: f64) -> Result<String, CliError> {
    let fmt = args.effective_format();
    let uses_label = fmt.contains(".Label \"");
    let fmt = rewrite_label_calls(&fmt);
    let rows: Vec<Value> = list
        .iter()
        .map(|c| row(c, !args.no_trunc, uses_label, now))
        .collect();
    Ok(format::render_list(&fmt, &rows, &headers())?)
}

/// One container's fields, as docker's `ContainerContext` methods compute them.
pub fn row(c: &Value, trunc: bool, with_label_map: bool, now: f64) -> Value {
    let id = str_field(c, "Id");
    let created = int_field(c, "Created", 0);
    let mut labels: Vec<(String, String)> = c["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    let mounts: Vec<String> = c["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let name = if str_field(m, "Name").is_empty() {
                str_field(m, "Source")
            } else {
                str_field(m, "Name")
            };
            if trunc {
                format::ellipsis(name, 15)
            } else {
                name.to_string()
            }
        })
        .collect();
    let local_volumes = c["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| str_field(m, "Driver") == "local")
        .count();
    let mut networks: Vec<&String> = c["NetworkSettings"]["Networks"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    networks.sort();
    let command = str_field(c, "Command");
    let command = if trunc {
        format::ellipsis(command, 20)
    } else {
        command.to_string()
    };
    let mut r = json!({
        "ID": if trunc { format::truncate_id(id) } else { id.to_string() },
        "Image": image(c, trunc),
        "Command": go_quote(&command),
        "CreatedAt": units::go_time_string(created),
        "RunningFor": units::since(created, now),
        "Ports": displayable_ports(c["Ports"].as_array().map(Vec::as_slice).unwrap_or(&[])),
        "State": str_field(c, "State"),
        "Status": str_field(c, "Status"),
        "Size": size(c),
        "Names": names(c, trunc),
        "Labels": labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        "Mounts": mounts.join(","),
        "Networks": networks.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
        "Platform": c.get("ImageManifestDescriptor").and_then(|d| d.get("platform")).cloned().unwrap_or(Value::Null),
        "LocalVolumes": local_volumes.to_string(),
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

/// docker's `ContainerContext.Image`: "<no image>", a truncated id when the image is an id,
/// else the reference without its digest.
fn image(c: &Value, trunc: bool) -> String {
    let img = str_field(c, "Image");
    if img.is_empty() {
        return "<no image>".to_string();
    }
    if !trunc {
        return img.to_string();
    }
    let image_id = str_field(c, "ImageID");
    if format::truncate_id(image_id) == format::truncate_id(img) {
        return format::truncate_id(img);
    }
    // Drop a digest: "name:tag@sha256:…" → "name:tag", "name@sha256:…" → "name".
    match img.split_once('@') {
        Some((named, _)) => named.to_string(),
        None => img.to_string(),
    }
}

/// docker's `ContainerContext.Names`: without the leading "/"; truncated to the first name
/// that is not a link ("other/alias").
fn names(c: &Value, trunc: bool) -> String {
    let names: Vec<String> = c["Names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| n.strip_prefix('/').unwrap_or(n).to_string())
        .collect();
    if trunc {
        if let Some(n) = names.iter().find(|n| !n.contains('/')) {
            return n.clone();
        }
    }
    names.join(",")
}

/// docker's `ContainerContext.Size`: "0B (virtual 1.98MB)".
fn size(c: &Value) -> String {
    let rw = int_field(c, "SizeRw", 0);
    let root = int_field(c, "SizeRootFs", 0);
    let srw = units::human_size_with_precision(rw as f64, 3);
    if root > 0 {
        format!(
            "{srw} (virtual {})",
            units::human_size_with_precision(root as f64, 3)
        )
    } else {
        srw
    }
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// docker's `DisplayablePorts`: consecutive ports grouped into ranges, published ports as
/// "ip:public->private/proto".
pub fn displayable_ports(ports: &[Value]) -> String {
    struct P {
        ip: String,
        private: u64,
        public: u64,
        kind: String,
    }
    let mut ps: Vec<P> = ports
        .iter()
        .map(|p| P {
            ip: str_field(p, "IP").to_string(),
            private: p["PrivatePort"].as_u64().unwrap_or(0),
            public: p["PublicPort"].as_u64().unwrap_or(0),
            kind: str_field(p, "Type").to_string(),
        })
        .collect();
    ps.sort_by(|a, b| {
        (a.private, &a.ip, a.public, &a.kind).cmp(&(b.private, &b.ip, b.public, &b.kind))
    });
    let mut groups: Vec<(String, u64, u64)> = Vec::new(); // key, first, last (in key creation order)
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    let form = |key: &str, first: u64, last: u64| -> String {
        let (ip, kind) = match key.rsplit_once('/') {
            Some((ip, k)) => (ip, k),
            None => ("", key),
        };
        let mut g = first.to_string();
        if first != last {
            g = format!("{g}-{last}");
        }
        if !ip.is_empty() {
            // Go's net.JoinHostPort: an IPv6 host is bracketed ("[::]:80->80/tcp").
            let host = if ip.contains(':') {
                format!("[{ip}]:{g}")
            } else {
                format!("{ip}:{g}")
            };
            g = format!("{host}->{g}");
        }
        format!("{g}/{kind}")
    };
    for p in &ps {
        let mut key = p.kind.clone();
        if !p.ip.is_empty() {
            if p.public != p.private {
                let host = if p.ip.contains(':') {
                    format!("[{}]:{}", p.ip, p.public)
                } else {
                    format!("{}:{}", p.ip, p.public)
                };
                host_mappings.push(format!("{host}->{}/{}", p.private, p.kind));
                continue;
            }
            key = format!("{}/{}", p.ip, p.kind);
        }
        match groups.iter_mut().find(|g| g.0 == key) {
            None => groups.push((key, p.private, p.private)),
            Some(g) if p.private == g.2 + 1 => g.2 = p.private,
            Some(g) => {
                result.push(form(&g.0, g.1, g.2));
                g.1 = p.private;
                g.2 = p.private;
            }
        }
    }
    for (k, f, l) in &groups {
        result.push(form(k, *f, *l));
    }
    result.extend(host_mappings);
    result.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::testutil::check_golden;

    const NOW: f64 = 1_700_000_100.0;

    fn fixture() -> Vec<Value> {
        serde_json::from_str(include_str!("../../../testdata/containers.json")).unwrap()
    }

    #[test]
    fn ps_table_golden() {
        check_golden(
            "ps-table.golden",
            &render(&fixture(), &Args::default(), NOW).unwrap(),
        );
    }

    #[test]
    fn ps_size_no_trunc_golden() {
        let args = Args {
            size: true,
            no_trunc: true,
            ..Default::default()
        };
        check_golden(
            "ps-size-notrunc.golden",
            &render(&fixture(), &args, NOW).unwrap(),
        );
    }

    #[test]
    fn ps_json_golden() {
        let args = Args {
            format: Some("json".into()),
            ..Default::default()
        };
        check_golden("ps-json.golden", &render(&fixture(), &args, NOW).unwrap());
    }

    #[test]
    fn ps_quiet_and_templates() {
        let args = Args {
            quiet: true,
            ..Default::default()
        };
        let out = render(&fixture(), &args, NOW).unwrap();
        assert!(out.lines().all(|l| l.len() == 12), "{out}");
        let args = Args {
            format: Some(
                "{{.Names}} {{.Label \"com.example.role\"}}|{{.Label \"nope\"}}|{{.State}}".into(),
            ),
            ..Default::default()
        };
        let out = render(&fixture(), &args, NOW).unwrap();
        assert_eq!(out.lines().next().unwrap(), "web frontend||running");
        let args = Args {
            format: Some("table {{.ID}}\\t{{.Networks}}\\t{{.Mounts}}".into()),
            ..Default::default()
        };
        let out = render(&fixture(), &args, NOW).unwrap();
        assert!(
            out.starts_with("CONTAINER ID   NETWORKS         MOUNTS\n"),
            "{out}"
        );
        assert!(out.contains("a4f7dd188512ae…,/srv/www"), "{out}");
    }

    #[test]
    fn queries() {
        assert_eq!(Args::default().query(), "");
        let a = Args {
            all: true,
            latest: true,
            size: true,
            filter: vec![("status".into(), "exited".into())],
            ..Default::default()
        };
        assert_eq!(
            a.query(),
            "?all=1&filters=%7B%22status%22%3A%7B%22exited%22%3Atrue%7D%7D&limit=1&size=1"
        );
        let a = Args {
            last: 3,
            format: Some("{{.Size}}".into()),
            ..Default::default()
        };
        assert_eq!(a.query(), "?limit=3&size=1");
    }

    #[test]
    fn ports_like_docker() {
        let ports: Vec<Value> = serde_json::from_str(
            r#"[{"PrivatePort":80,"Type":"tcp"},{"PrivatePort":81,"Type":"tcp"},{"PrivatePort":82,"Type":"tcp"},
                {"IP":"0.0.0.0","PrivatePort":8080,"PublicPort":8080,"Type":"tcp"},
                {"IP":"0.0.0.0","PrivatePort":53,"PublicPort":5353,"Type":"udp"},
                {"IP":"::","PrivatePort":53,"PublicPort":5353,"Type":"udp"},{"PrivatePort":90,"Type":"tcp"}]"#,
        )
        .unwrap();
        assert_eq!(
            displayable_ports(&ports),
            "80-82/tcp, 90/tcp, 0.0.0.0:8080->8080/tcp, 0.0.0.0:5353->53/udp, [::]:5353->53/udp"
        );
        assert_eq!(displayable_ports(&[]), "");
        // docker 28 with `-p 8080:80` (IPv4 and IPv6 bindings), and `-p 8080:8080`.
        let ports: Vec<Value> = serde_json::from_str(
            r#"[{"IP":"::","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},
                {"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"}]"#,
        )
        .unwrap();
        assert_eq!(
            displayable_ports(&ports),
            "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
        let ports: Vec<Value> = serde_json::from_str(
            r#"[{"IP":"::","PrivatePort":8080,"PublicPort":8080,"Type":"tcp"},
                {"IP":"0.0.0.0","PrivatePort":8080,"PublicPort":8080,"Type":"tcp"},
                {"IP":"0.0.0.0","PrivatePort":8081,"PublicPort":8081,"Type":"tcp"},
                {"IP":"::","PrivatePort":8081,"PublicPort":8081,"Type":"tcp"}]"#,
        )
        .unwrap();
        assert_eq!(
            displayable_ports(&ports),
            "0.0.0.0:8080-8081->8080-8081/tcp, [::]:8080-8081->8080-8081/tcp"
        );
        // -P: random host ports; exposed-only ports have no IP.
        let ports: Vec<Value> = serde_json::from_str(
            r#"[{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":32768,"Type":"tcp"},
                {"IP":"::","PrivatePort":80,"PublicPort":32768,"Type":"tcp"},
                {"PrivatePort":443,"Type":"tcp"},{"PrivatePort":53,"Type":"udp"}]"#,
        )
        .unwrap();
        assert_eq!(
            displayable_ports(&ports),
            "53/udp, 443/tcp, 0.0.0.0:32768->80/tcp, [::]:32768->80/tcp"
        );
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("sh -c \"echo hi\""), "\"sh -c \\\"echo hi\\\"\"");
        assert_eq!(go_quote("a\tb"), "\"a\\tb\"");
    }
}
