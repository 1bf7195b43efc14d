//! `wharf save` / `wharf image save`: `GET /images/get?names=…`, the tar streamed to `-o FILE`
//! (written beside it, then renamed) or to stdout — never to a terminal.

use std::io::{IsTerminal, Write};

use http_body_util::BodyExt;
use hyper::Method;

use crate::client::{query, Body};
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output", value_name = "string")]
    pub output: Option<String>,
    /// Save only the given platform(s). Formatted as a comma-separated list of "os[/arch[/variant]]" (e.g., "linux/amd64,linux/arm64/v8")
    #[arg(long = "platform", value_name = "stringSlice")]
    pub platform: Vec<String>,
    #[arg(value_name = "IMAGE", required = true, num_args = 1..)]
    pub images: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::msg(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    if let Some(out) = &args.output {
        let dir = std::path::Path::new(out)
            .parent()
            .filter(|p| !p.as_os_str().is_empty());
        if let Some(dir) = dir {
            if let Err(e) = std::fs::metadata(dir) {
                let m = crate::error::go_io_message("stat", &dir.display().to_string(), &e);
                return Err(CliError::msg(format!(
                    "failed to save image: invalid output path: {m}"
                )));
            }
        }
    }
    let client = ctx.client().await?;
    let q: Vec<(&str, String)> = args.images.iter().map(|i| ("names", i.clone())).collect();
    let resp = client
        .request(
            Method::GET,
            &format!("/images/get{}", query(&q)),
            Body::Empty,
        )
        .await?;
    let mut body = resp.into_body();
    match &args.output {
        Some(path) => {
            let path = std::path::Path::new(path);
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = dir.join(format!(".{name}.wharf-tmp-{}", std::process::id()));
            let write = async {
                let mut f = std::fs::File::create(&tmp).map_err(|e| {
                    CliError::msg(format!(
                        "failed to save image: failed to create {}: {e}",
                        tmp.display()
                    ))
                })?;
                while let Some(frame) = body.frame().await {
                    let frame = frame.map_err(|e| CliError::Protocol(e.to_string()))?;
                    if let Ok(d) = frame.into_data() {
                        f.write_all(&d)?;
                    }
                }
                f.sync_all()?;
                std::fs::rename(&tmp, path)?;
                Ok::<(), CliError>(())
            };
            let r = write.await;
            if r.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            r
        }
        None => {
            let mut out = std::io::stdout().lock();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| CliError::Protocol(e.to_string()))?;
                if let Ok(d) = frame.into_data() {
                    out.write_all(&d)?;
                }
            }
            out.flush()?;
            Ok(())
        }
    }
}
