//! `wharf export`: `GET /containers/{name}/export`, the container's filesystem as a tar, to
//! `-o FILE` (written beside it, then renamed) or to stdout — never to a terminal.

use std::io::{IsTerminal, Write};

use http_body_util::BodyExt;
use hyper::Method;

use super::container_path;
use crate::client::Body;
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output", value_name = "string")]
    pub output: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::msg(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let client = ctx.client().await?;
    let resp = client
        .request(
            Method::GET,
            &container_path(&args.container, "/export"),
            Body::Empty,
        )
        .await?;
    let mut body = resp.into_body();
    let (mut out, tmp): (Box<dyn Write>, Option<(std::path::PathBuf, String)>) = match &args.output
    {
        Some(path) => {
            let p = std::path::Path::new(path);
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let tmp = dir.join(format!(".{name}.wharf-tmp-{}", std::process::id()));
            let f = std::fs::File::create(&tmp)
                .map_err(|e| crate::error::go_io_error("open", &tmp.display().to_string(), &e))?;
            (
                Box::new(std::io::BufWriter::new(f)),
                Some((tmp, path.clone())),
            )
        }
        None => (Box::new(std::io::stdout().lock()), None),
    };
    let r = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| CliError::Protocol(e.to_string()))?;
            if let Ok(d) = frame.into_data() {
                out.write_all(&d)?;
            }
        }
        out.flush()?;
        Ok::<(), CliError>(())
    }
    .await;
    drop(out);
    if let Some((tmp, path)) = tmp {
        if r.is_ok() {
            std::fs::rename(&tmp, &path)?;
        } else {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    r
}
