//! `wharf images` / `wharf image ls`: `GET /images/json`, one row per repository:tag, as
//! docker's `formatter.ImageWrite` (classic view).

use bollard_stubs::models::ImageSummary;
use serde_json::{json, Value};

use crate::command::{encode_filters, int_field, parse_filter, str_field, Ctx};
use crate::error::CliError;
use crate::format::{self, units};
use crate::reference::{familiar_name, split_digested, split_tagged};

const DEFAULT_FORMAT: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const DIGEST_FORMAT: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const QUIET_FORMAT: &str = "{{.ID}}";

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Show digests
    #[arg(long = "digests")]
    pub digests: bool,
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
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let mut filters = args.filter.clone();
    if let Some(r) = &args.reference {
        filters.push(("reference".into(), r.clone()));
    }
    let mut q = Vec::new();
    if args.all {
        q.push(("all", "1".to_string()));
    }
    if let Some(f) = encode_filters(&filters) {
        q.push(("filters", f));
    }
    let client = ctx.client().await?;
    let images: Vec<Value> = client
        .get_json(&format!("/images/json{}", crate::client::query(&q)))
        .await?;
    let out = render(&images, &args, units::now_unix())?;
    crate::write_stdout(&out)
}

/// The column names docker prints for image fields.
pub fn headers() -> Value {
    json!({
        "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
        "Containers": "CONTAINERS", "VirtualSize": "VIRTUAL SIZE", "SharedSize": "SHARED SIZE",
        "UniqueSize": "UNIQUE SIZE",
    })
}

/// Renders `GET /images/json` output as docker would, relative to `now` (unix seconds).
pub fn render(images: &[Value], args: &Args, now: f64) -> Result<String, CliError> {
    let format = match args.format.as_deref() {
        None | Some("") | Some("table") if args.quiet => QUIET_FORMAT,
        None | Some("") | Some("table") if args.digests => DIGEST_FORMAT,
        None | Some("") | Some("table") => DEFAULT_FORMAT,
        Some(f) => f,
    };
    let rows: Vec<Value> = images
        .iter()
        .flat_map(|img| rows_for(&summary(img), !args.no_trunc, args.digests, now))
        .collect();
    Ok(format::render_list(format, &rows, &headers())?)
}

/// The API model, tolerant of a daemon that leaves fields out (missing sizes read as -1, "N/A").
pub fn summary(v: &Value) -> ImageSummary {
    if let Ok(s) = serde_json::from_value::<ImageSummary>(v.clone()) {
        return s;
    }
    let strings = |k: &str| -> Vec<String> {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    ImageSummary {
        id: str_field(v, "Id").to_string(),
        parent_id: str_field(v, "ParentId").to_string(),
        repo_tags: strings("RepoTags"),
        repo_digests: strings("RepoDigests"),
        created: int_field(v, "Created", 0),
        size: int_field(v, "Size", -1),
        shared_size: int_field(v, "SharedSize", -1),
        labels: Default::default(),
        containers: int_field(v, "Containers", -1),
        manifests: None,
        descriptor: None,
    }
}

/// docker's `isDangling`.
pub fn is_dangling(img: &ImageSummary) -> bool {
    (img.repo_tags.is_empty() && img.repo_digests.is_empty())
        || (img.repo_tags.len() == 1
            && img.repo_tags[0] == "<none>:<none>"
            && img.repo_digests.len() == 1
            && img.repo_digests[0] == "<none>@<none>")
}

/// One image's rows, as docker's `imageFormat`: a row per repository:tag (times digest with
/// `--digests`), then rows for repositories known only by digest.
pub fn rows_for(img: &ImageSummary, trunc: bool, show_digests: bool, now: f64) -> Vec<Value> {
    let mut rows = Vec::new();
    if is_dangling(img) {
        rows.push(row(img, "<none>", "<none>", "<none>", trunc, now));
        return rows;
    }
    let mut repo_tags: Vec<(String, Vec<String>)> = Vec::new();
    for r in &img.repo_tags {
        if let Some((name, tag)) = split_tagged(r) {
            let name = familiar_name(name).to_string();
            match repo_tags.iter_mut().find(|(n, _)| *n == name) {
                Some((_, tags)) => tags.push(tag.to_string()),
                None => repo_tags.push((name, vec![tag.to_string()])),
            }
        }
    }
    let mut repo_digests: Vec<(String, Vec<String>)> = Vec::new();
    for r in &img.repo_digests {
        if let Some((name, digest)) = split_digested(r) {
            let name = familiar_name(name).to_string();
            match repo_digests.iter_mut().find(|(n, _)| *n == name) {
                Some((_, ds)) => ds.push(digest.to_string()),
                None => repo_digests.push((name, vec![digest.to_string()])),
            }
        }
    }
    for (repo, tags) in &repo_tags {
        let digests = match repo_digests.iter().position(|(n, _)| n == repo) {
            Some(i) => repo_digests.remove(i).1,
            None => Vec::new(),
        };
        for tag in tags {
            if !show_digests || digests.is_empty() {
                rows.push(row(img, repo, tag, "<none>", trunc, now));
            } else {
                for d in &digests {
                    rows.push(row(img, repo, tag, d, trunc, now));
                }
            }
        }
    }
    for (repo, digests) in &repo_digests {
        if show_digests {
            for d in digests {
                rows.push(row(img, repo, "<none>", d, trunc, now));
            }
        } else {
            rows.push(row(img, repo, "<none>", "<none>", trunc, now));
        }
    }
    rows
}

fn row(img: &ImageSummary, repo: &str, tag: &str, digest: &str, trunc: bool, now: f64) -> Value {
    let size3 = |n: i64| units::human_size_with_precision(n as f64, 3);
    let na_or = |n: i64, f: &dyn Fn(i64) -> String| if n == -1 { "N/A".to_string() } else { f(n) };
    json!({
        "Containers": na_or(img.containers, &|n| n.to_string()),
        "CreatedAt": units::go_time_string(img.created),
        "CreatedSince": units::since(img.created, now),
        "Digest": digest,
        "ID": if trunc { format::truncate_id(&img.id) } else { img.id.clone() },
        "Repository": repo,
        "SharedSize": na_or(img.shared_size, &size3),
        "Size": size3(img.size),
        "Tag": tag,
        "UniqueSize": if img.size == -1 || img.shared_size == -1 { "N/A".to_string() } else { size3(img.size - img.shared_size) },
        "VirtualSize": units::human_size(img.size as f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_700_000_000.0;

    fn fixture() -> Vec<Value> {
        serde_json::from_str(include_str!("../../../testdata/images.json")).unwrap()
    }

    use crate::command::testutil::check_golden;

    #[test]
    fn images_table_golden() {
        let got = render(&fixture(), &Args::default(), NOW).unwrap();
        check_golden("images-table.golden", &got);
    }

    #[test]
    fn images_digests_no_trunc_golden() {
        let args = Args {
            digests: true,
            no_trunc: true,
            ..Default::default()
        };
        check_golden(
            "images-digests-notrunc.golden",
            &render(&fixture(), &args, NOW).unwrap(),
        );
    }

    #[test]
    fn images_json_golden() {
        let args = Args {
            format: Some("json".into()),
            ..Default::default()
        };
        check_golden(
            "images-json.golden",
            &render(&fixture(), &args, NOW).unwrap(),
        );
    }

    #[test]
    fn images_quiet_and_custom_table() {
        let args = Args {
            quiet: true,
            ..Default::default()
        };
        let out = render(&fixture(), &args, NOW).unwrap();
        assert!(out.lines().all(|l| l.len() == 12), "{out}");
        let args = Args {
            format: Some("table {{.Repository}}:{{.Tag}}\\t{{.Size}}".into()),
            ..Default::default()
        };
        let out = render(&fixture(), &args, NOW).unwrap();
        assert!(
            out.starts_with("REPOSITORY:TAG                     SIZE\n"),
            "{out}"
        );
    }

    #[test]
    fn tolerates_sparse_summaries() {
        let s = summary(
            &serde_json::json!({"Id": "sha256:0123456789abcdef", "RepoTags": null, "Created": 5}),
        );
        assert_eq!(s.size, -1);
        let rows = rows_for(&s, true, false, NOW);
        assert_eq!(rows[0]["Repository"], "<none>");
        assert_eq!(rows[0]["SharedSize"], "N/A");
    }
}
