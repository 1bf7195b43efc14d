//! `wharf load` / `wharf image load`: the tar from `-i FILE` or stdin is streamed as the body of
//! `POST /images/load`; the answer is a JSON message stream ("Loaded image: …").

use std::io::IsTerminal;

use hyper::Method;

use crate::client::{query, stream, Body};
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long = "input", value_name = "string")]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Load only the given platform(s). Formatted as a comma-separated list of "os[/arch[/variant]]" (e.g., "linux/amd64,linux/arm64/v8")
    #[arg(long = "platform", value_name = "stringSlice")]
    pub platform: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let body: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send + Sync>> = match &args.input {
        Some(p) => Box::pin(
            tokio::fs::File::open(p)
                .await
                .map_err(|e| crate::error::go_io_error("open", p, &e))?,
        ),
        None => {
            if std::io::stdin().is_terminal() {
                return Err(CliError::msg(
                    "requested load from stdin, but stdin is empty",
                ));
            }
            Box::pin(tokio::io::stdin())
        }
    };
    let tty = std::io::stdout().is_terminal();
    let quiet = args.quiet || !tty;
    let mut q = Vec::new();
    if quiet {
        q.push(("quiet", "1".to_string()));
    }
    let client = ctx.client().await?;
    let resp = client
        .request(
            Method::POST,
            &format!("/images/load{}", query(&q)),
            Body::Reader(body, "application/x-tar"),
        )
        .await?;
    let is_json = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let mut out = std::io::stdout().lock();
    if is_json {
        stream::display(resp, &mut out, tty, |_| {}).await
    } else {
        let bytes = crate::client::collect(resp).await?;
        std::io::Write::write_all(&mut out, &bytes)?;
        Ok(())
    }
}
