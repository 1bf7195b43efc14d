//! `wharf stats`: per container `GET /containers/{id}/stats?stream=0|1`, computed and printed
//! as docker/cli's `stats_helpers.go` and `formatter/stats.go` do: CPU % from the delta to
//! `precpu_stats`, memory without the inactive file cache, network and block I/O totals, pids.
//! Without `--no-stream` the table is redrawn as samples arrive (every 500 ms at most).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{json, Value};

use super::container_path;
use crate::client::{query, stream::drain_messages, Body, Client};
use crate::command::Ctx;
use crate::error::CliError;
use crate::format::{self, units};

const DEFAULT_FORMAT: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Format output using a custom template:
    /// 'table':            Print output in table format with column headers (default)
    /// 'table TEMPLATE':   Print output in table format using the given Go template
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    #[arg(long = "format", value_name = "string", verbatim_doc_comment)]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// docker's column names.
pub fn headers() -> Value {
    json!({
        "ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
        "PIDs": "PIDS",
    })
}

fn u(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// The numbers docker derives from one stats sample (`StatsEntry`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    pub cpu_percent: f64,
    pub memory: f64,
    pub memory_limit: f64,
    pub memory_percent: f64,
    pub net_rx: f64,
    pub net_tx: f64,
    pub block_read: f64,
    pub block_write: f64,
    pub pids: u64,
}

/// docker/cli `calculateCPUPercentUnix`, `calculateMemUsageUnixNoCache`, `calculateBlockIO`,
/// `calculateNetwork`.
pub fn compute(s: &Value) -> Entry {
    let cpu = &s["cpu_stats"];
    let pre = &s["precpu_stats"];
    let cpu_delta = u(&cpu["cpu_usage"]["total_usage"]) - u(&pre["cpu_usage"]["total_usage"]);
    let system_delta = u(&cpu["system_cpu_usage"]) - u(&pre["system_cpu_usage"]);
    let mut online = u(&cpu["online_cpus"]);
    if online == 0.0 {
        online = cpu["cpu_usage"]["percpu_usage"]
            .as_array()
            .map(|a| a.len() as f64)
            .unwrap_or(0.0);
    }
    let cpu_percent = if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    };

    let mem = &s["memory_stats"];
    let usage = u(&mem["usage"]);
    let stats = &mem["stats"];
    let memory = match stats.get("total_inactive_file").map(u) {
        Some(v) if v < usage => usage - v,
        _ => {
            let v = stats.get("inactive_file").map(u).unwrap_or(0.0);
            if v < usage {
                usage - v
            } else {
                usage
            }
        }
    };
    let memory_limit = u(&mem["limit"]);
    let memory_percent = if memory_limit != 0.0 {
        memory / memory_limit * 100.0
    } else {
        0.0
    };

    let (mut block_read, mut block_write) = (0.0, 0.0);
    for e in s["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match e["op"].as_str().and_then(|o| o.chars().next()) {
            Some('r') | Some('R') => block_read += u(&e["value"]),
            Some('w') | Some('W') => block_write += u(&e["value"]),
            _ => {}
        }
    }
    let (mut net_rx, mut net_tx) = (0.0, 0.0);
    for n in s["networks"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        net_rx += u(&n["rx_bytes"]);
        net_tx += u(&n["tx_bytes"]);
    }
    Entry {
        cpu_percent,
        memory,
        memory_limit,
        memory_percent,
        net_rx,
        net_tx,
        block_read,
        block_write,
        pids: s["pids_stats"]["current"].as_u64().unwrap_or(0),
    }
}

/// One table row (docker's `statsContext`); `container` is the name as the user gave it.
pub fn row(container: &str, sample: &Value, trunc: bool) -> Value {
    let e = compute(sample);
    let id = sample["id"].as_str().unwrap_or("");
    let name = sample["name"].as_str().unwrap_or("");
    let size3 = |v: f64| units::human_size_with_precision(v, 3);
    json!({
        "Container": container,
        "ID": if trunc { format::truncate_id(id) } else { id.to_string() },
        "Name": name.strip_prefix('/').unwrap_or(name),
        "CPUPerc": format!("{:.2}%", e.cpu_percent),
        "MemUsage": format!("{} / {}", units::bytes_size(e.memory), units::bytes_size(e.memory_limit)),
        "MemPerc": format!("{:.2}%", e.memory_percent),
        "NetIO": format!("{} / {}", size3(e.net_rx), size3(e.net_tx)),
        "BlockIO": format!("{} / {}", size3(e.block_read), size3(e.block_write)),
        "PIDs": e.pids.to_string(),
    })
}

pub fn render(rows: &[Value], format: Option<&str>) -> Result<String, CliError> {
    let f = match format {
        None | Some("") | Some("table") => DEFAULT_FORMAT,
        Some(f) => f,
    };
    Ok(format::render_list(f, rows, &headers())?)
}

/// The containers to show: the ones named, else the running (or, with `-a`, all) ones.
async fn targets(client: &Client, args: &Args) -> Result<Vec<String>, CliError> {
    if !args.containers.is_empty() {
        return Ok(args.containers.clone());
    }
    let q = if args.all {
        query(&[("all", "1".to_string())])
    } else {
        String::new()
    };
    let list: Vec<Value> = client.get_json(&format!("/containers/json{q}")).await?;
    Ok(list
        .iter()
        .filter_map(|c| c["Id"].as_str().map(str::to_string))
        .collect())
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let names = targets(client, &args).await?;
    if args.no_stream {
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        for n in &names {
            let path = container_path(
                n,
                &format!("/stats{}", query(&[("stream", "0".to_string())])),
            );
            match client.get_json::<Value>(&path).await {
                Ok(s) => rows.push(row(n, &s, !args.no_trunc)),
                Err(e) => errors.push(e.to_string()),
            }
        }
        crate::write_stdout(&render(&rows, args.format.as_deref())?)?;
        return if errors.is_empty() {
            Ok(())
        } else {
            Err(CliError::msg(errors.join("\n")))
        };
    }
    // Streaming: one task per container keeps its latest sample; we redraw on a ticker.
    let latest: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
    let mut tasks = Vec::new();
    for n in &names {
        let (client, latest, n) = (client.clone(), latest.clone(), n.clone());
        tasks.push(tokio::spawn(async move {
            let path = container_path(
                &n,
                &format!("/stats{}", query(&[("stream", "1".to_string())])),
            );
            let Ok(resp) = client.request(Method::GET, &path, Body::Empty).await else {
                return;
            };
            let mut body = resp.into_body();
            let mut buf = Vec::new();
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                    if let Ok(msgs) = drain_messages(&mut buf) {
                        if let Some(last) = msgs.into_iter().last() {
                            if let Ok(mut m) = latest.lock() {
                                m.insert(n.clone(), last);
                            }
                        }
                    }
                }
            }
        }));
    }
    let tty = super::hijack::is_tty(std::io::stdout());
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tick.tick().await;
        let rows: Vec<Value> = {
            let m = latest
                .lock()
                .map_err(|_| CliError::msg("stats: lock poisoned"))?;
            names
                .iter()
                .filter_map(|n| m.get(n).map(|s| row(n, s, !args.no_trunc)))
                .collect()
        };
        if rows.is_empty() && tasks.iter().all(|t| t.is_finished()) {
            break;
        }
        let mut text = render(&rows, args.format.as_deref())?;
        if tty {
            text = format!("\x1b[2J\x1b[H{text}");
        }
        crate::write_stdout(&text)?;
        if tasks.iter().all(|t| t.is_finished()) {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::testutil::check_golden;

    fn fixture() -> Vec<Value> {
        serde_json::from_str(include_str!("../../../testdata/stats.json")).unwrap()
    }

    #[test]
    fn computes_like_docker() {
        let s = &fixture()[0];
        let e = compute(s);
        // (400-200)/(20000-10000) * 2 cpus * 100
        assert!((e.cpu_percent - 4.0).abs() < 1e-9, "{e:?}");
        assert_eq!(e.memory, 1_000_000.0 - 200_000.0);
        assert_eq!(e.pids, 3);
        assert_eq!((e.block_read, e.block_write), (4096.0, 8192.0));
        assert_eq!((e.net_rx, e.net_tx), (1500.0, 700.0));
    }

    #[test]
    fn stats_table_golden() {
        let rows: Vec<Value> = fixture()
            .iter()
            .map(|s| row(s["name"].as_str().unwrap(), s, true))
            .collect();
        check_golden("stats-table.golden", &render(&rows, None).unwrap());
        check_golden("stats-json.golden", &render(&rows, Some("json")).unwrap());
    }
}
