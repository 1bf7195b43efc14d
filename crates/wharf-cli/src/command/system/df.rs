//! `wharf system df`: `GET /system/df`, as docker's `formatter.DiskUsageContext`.
//! Both answer shapes are read: API ≥ 1.52 (`ImagesDiskUsage` … with counts and totals) and the
//! older one (`LayersSize`, `Images`, `Containers`, `Volumes`, `BuildCache` lists), from which
//! the totals are computed as docker's client does.

use serde_json::{json, Value};

use crate::command::image::list as image_list;
use crate::command::{int_field, str_field, Ctx};
use crate::error::CliError;
use crate::format::{self, units};

const DEFAULT_FORMAT: &str =
    "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const IMAGE_VERBOSE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";
const CONTAINER_VERBOSE: &str = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}";
const VOLUME_VERBOSE: &str = "table {{.Name}}\t{{.Links}}\t{{.Size}}";
const CACHE_VERBOSE: &str = "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}";

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Format output using a custom template:
    /// 'table':            Print output in table format with column headers (default)
    /// 'table TEMPLATE':   Print output in table format using the given Go template
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    #[arg(long = "format", value_name = "string", verbatim_doc_comment)]
    pub format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
}

/// One TYPE row's numbers and the items behind it.
#[derive(Debug, Default, Clone)]
pub struct Section {
    pub total: i64,
    pub active: i64,
    pub size: i64,
    pub reclaimable: i64,
    pub items: Vec<Value>,
}

#[derive(Debug, Default, Clone)]
pub struct Usage {
    pub images: Section,
    pub containers: Section,
    pub volumes: Section,
    pub build_cache: Section,
}

fn list(v: &Value, k: &str) -> Vec<Value> {
    v.get(k)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn section_new(v: &Value, key: &str, size_key: &str) -> Section {
    let s = v.get(key).cloned().unwrap_or(Value::Null);
    Section {
        total: int_field(&s, "TotalCount", 0),
        active: int_field(&s, "ActiveCount", 0),
        size: int_field(&s, size_key, 0),
        reclaimable: int_field(&s, "Reclaimable", 0),
        items: list(&s, "Items"),
    }
}

/// Normalises either answer shape.
pub fn usage(v: &Value) -> Usage {
    if v.get("ImagesDiskUsage").is_some() || v.get("ContainersDiskUsage").is_some() {
        return Usage {
            images: section_new(v, "ImagesDiskUsage", "TotalSize"),
            containers: section_new(v, "ContainersDiskUsage", "TotalSize"),
            volumes: section_new(v, "VolumesDiskUsage", "TotalSize"),
            build_cache: section_new(v, "BuildCacheDiskUsage", "TotalSize"),
        };
    }
    let images = list(v, "Images");
    let layers = int_field(v, "LayersSize", 0);
    let mut used = 0;
    for i in &images {
        let (size, shared) = (int_field(i, "Size", -1), int_field(i, "SharedSize", -1));
        if int_field(i, "Containers", 0) > 0 && size != -1 && shared != -1 {
            used += size - shared;
        }
    }
    let img = Section {
        total: images.len() as i64,
        active: images
            .iter()
            .filter(|i| int_field(i, "Containers", 0) > 0)
            .count() as i64,
        size: layers,
        reclaimable: layers - used,
        items: images,
    };
    let containers = list(v, "Containers");
    let running = |c: &Value| str_field(c, "State") == "running";
    let ctr = Section {
        total: containers.len() as i64,
        active: containers.iter().filter(|c| running(c)).count() as i64,
        size: containers.iter().map(|c| int_field(c, "SizeRw", 0)).sum(),
        reclaimable: containers
            .iter()
            .filter(|c| !running(c))
            .map(|c| int_field(c, "SizeRw", 0))
            .sum(),
        items: containers,
    };
    let volumes = list(v, "Volumes");
    let refs = |x: &Value| {
        x.get("UsageData")
            .map(|u| int_field(u, "RefCount", 0))
            .unwrap_or(0)
    };
    let vsize = |x: &Value| {
        x.get("UsageData")
            .map(|u| int_field(u, "Size", -1))
            .unwrap_or(-1)
            .max(0)
    };
    let vol = Section {
        total: volumes.len() as i64,
        active: volumes.iter().filter(|x| refs(x) > 0).count() as i64,
        size: volumes.iter().map(vsize).sum(),
        reclaimable: volumes.iter().filter(|x| refs(x) == 0).map(vsize).sum(),
        items: volumes,
    };
    let cache = list(v, "BuildCache");
    let flag = |x: &Value, k: &str| x.get(k).and_then(Value::as_bool).unwrap_or(false);
    let bc = Section {
        total: cache.len() as i64,
        active: cache.iter().filter(|x| flag(x, "InUse")).count() as i64,
        size: cache
            .iter()
            .filter(|x| !flag(x, "Shared"))
            .map(|x| int_field(x, "Size", 0))
            .sum(),
        reclaimable: cache
            .iter()
            .filter(|x| !flag(x, "Shared") && !flag(x, "InUse"))
            .map(|x| int_field(x, "Size", 0))
            .sum(),
        items: cache,
    };
    Usage {
        images: img,
        containers: ctr,
        volumes: vol,
        build_cache: bc,
    }
}

fn summary_row(kind: &str, s: &Section, percent: bool) -> Value {
    let size = units::human_size(s.size as f64);
    let rec = units::human_size(s.reclaimable as f64);
    let reclaimable = if percent && s.size > 0 {
        format!("{rec} ({}%)", s.reclaimable * 100 / s.size)
    } else {
        rec
    };
    json!({"Type": kind, "TotalCount": s.total.to_string(), "Active": s.active.to_string(),
           "Size": size, "Reclaimable": reclaimable})
}

/// The summary (non-verbose) rendering.
pub fn render(u: &Usage, format: Option<&str>) -> Result<String, CliError> {
    let format = match format {
        None | Some("") | Some("table") => DEFAULT_FORMAT,
        Some(f) => f,
    };
    let rows = vec![
        summary_row("Images", &u.images, true),
        summary_row("Containers", &u.containers, true),
        summary_row("Local Volumes", &u.volumes, true),
        summary_row("Build Cache", &u.build_cache, false),
    ];
    let headers = json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
                         "Reclaimable": "RECLAIMABLE"});
    Ok(format::render_list(format, &rows, &headers)?)
}

/// `-v`: per-object tables, as docker's `verboseWriteTable`.
pub fn render_verbose(u: &Usage, now: f64) -> Result<String, CliError> {
    let mut out = String::from("Images space usage:\n\n");
    let img_rows: Vec<Value> = u
        .images
        .items
        .iter()
        .filter_map(|i| {
            // Only the first tag, as docker shows; `<none>` for dangling or untagged images.
            let mut first = image_list::summary(i);
            if image_list::is_dangling(&first) || first.repo_tags.is_empty() {
                first.repo_tags.clear();
            } else {
                first.repo_tags.truncate(1);
            }
            first.repo_digests.clear();
            image_list::rows_for(&first, true, false, now)
                .into_iter()
                .next()
        })
        .collect();
    out.push_str(&format::render_list(
        IMAGE_VERBOSE,
        &img_rows,
        &image_list::headers(),
    )?);

    out.push_str("\nContainers space usage:\n\n");
    let ctr_rows: Vec<Value> = u
        .containers
        .items
        .iter()
        .map(|c| {
            let names = c.get("Names").and_then(Value::as_array).map(|n| {
                n.iter().filter_map(Value::as_str).map(|s| s.trim_start_matches('/')).collect::<Vec<_>>().join(",")
            });
            let cmd = str_field(c, "Command");
            json!({
                "ID": format::truncate_id(str_field(c, "Id")),
                "Image": str_field(c, "Image"),
                "Command": format!("\"{}\"", format::ellipsis(cmd, 20)),
                "LocalVolumes": c.get("Mounts").and_then(Value::as_array)
                    .map(|m| m.iter().filter(|x| str_field(x, "Driver") == "local").count()).unwrap_or(0).to_string(),
                "Size": units::human_size_with_precision(int_field(c, "SizeRw", 0) as f64, 3),
                "RunningFor": units::since(int_field(c, "Created", 0), now),
                "Status": str_field(c, "Status"),
                "Names": names.unwrap_or_default(),
            })
        })
        .collect();
    let ctr_headers = json!({"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
        "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE", "RunningFor": "CREATED", "Status": "STATUS", "Names": "NAMES"});
    out.push_str(&format::render_list(
        CONTAINER_VERBOSE,
        &ctr_rows,
        &ctr_headers,
    )?);

    out.push_str("\nLocal Volumes space usage:\n\n");
    let vol_rows: Vec<Value> = u
        .volumes
        .items
        .iter()
        .map(|x| {
            let usage = x.get("UsageData").cloned().unwrap_or(Value::Null);
            let size = int_field(&usage, "Size", -1);
            json!({
                "Name": str_field(x, "Name"),
                "Links": int_field(&usage, "RefCount", -1).to_string(),
                "Size": if size == -1 { "N/A".to_string() } else { units::human_size(size as f64) },
            })
        })
        .collect();
    let vol_headers = json!({"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"});
    out.push_str(&format::render_list(
        VOLUME_VERBOSE,
        &vol_rows,
        &vol_headers,
    )?);

    out.push_str(&format!(
        "\nBuild cache usage: {}\n\n",
        units::human_size(u.build_cache.size as f64)
    ));
    let bc_rows: Vec<Value> = u
        .build_cache
        .items
        .iter()
        .map(|x| {
            json!({
                "ID": format::truncate_id(str_field(x, "ID")),
                "CacheType": str_field(x, "Type"),
                "Size": units::human_size(int_field(x, "Size", 0) as f64),
                "CreatedSince": str_field(x, "CreatedAt"),
                "LastUsedSince": str_field(x, "LastUsedAt"),
                "UsageCount": int_field(x, "UsageCount", 0).to_string(),
                "Shared": x.get("Shared").and_then(Value::as_bool).unwrap_or(false).to_string(),
            })
        })
        .collect();
    let bc_headers = json!({"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE", "CreatedSince": "CREATED",
        "LastUsedSince": "LAST USED", "UsageCount": "USAGE", "Shared": "SHARED"});
    out.push_str(&format::render_list(CACHE_VERBOSE, &bc_rows, &bc_headers)?);
    Ok(out)
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let v: Value = client.get_json("/system/df").await?;
    let u = usage(&v);
    let out = if args.verbose && matches!(args.format.as_deref(), None | Some("") | Some("table")) {
        render_verbose(&u, units::now_unix())?
    } else {
        render(&u, args.format.as_deref())?
    };
    crate::write_stdout(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::testutil::check_golden;

    const NOW: f64 = 1_700_000_000.0;

    #[test]
    fn df_legacy_golden() {
        let v: Value =
            serde_json::from_str(include_str!("../../../testdata/system-df-legacy.json")).unwrap();
        check_golden("system-df.golden", &render(&usage(&v), None).unwrap());
        check_golden(
            "system-df-verbose.golden",
            &render_verbose(&usage(&v), NOW).unwrap(),
        );
    }

    #[test]
    fn df_new_shape_matches_legacy() {
        let legacy: Value =
            serde_json::from_str(include_str!("../../../testdata/system-df-legacy.json")).unwrap();
        let new = json!({
            "ImagesDiskUsage": {"ActiveCount": 1, "TotalCount": 3, "Reclaimable": 2000000, "TotalSize": 6000000},
            "ContainersDiskUsage": {"ActiveCount": 1, "TotalCount": 2, "Reclaimable": 1000, "TotalSize": 3000},
            "VolumesDiskUsage": {"ActiveCount": 1, "TotalCount": 2, "Reclaimable": 5000000, "TotalSize": 5004096},
            "BuildCacheDiskUsage": {"ActiveCount": 0, "TotalCount": 0, "Reclaimable": 0, "TotalSize": 0},
        });
        assert_eq!(
            render(&usage(&new), None).unwrap(),
            render(&usage(&legacy), None).unwrap()
        );
    }

    #[test]
    fn df_json_rows() {
        let out = render(&Usage::default(), Some("json")).unwrap();
        assert_eq!(
            out.lines().next().unwrap(),
            r#"{"Active":"0","Reclaimable":"0B","Size":"0B","TotalCount":"0","Type":"Images"}"#
        );
    }
}
