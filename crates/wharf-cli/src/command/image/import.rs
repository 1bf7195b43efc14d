//! `wharf import` / `wharf image import`: `POST /images/create?fromSrc=-` with a tarball (file
//! or stdin) as the body; prints the new image's ID from the message stream.

use std::io::IsTerminal;

use hyper::Method;

use crate::client::{query, stream, Body};
use crate::command::Ctx;
use crate::error::CliError;
use crate::reference::split_tagged;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long = "message", value_name = "string")]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    #[arg(value_name = "file|URL|-")]
    pub source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// The query docker's client sends for an import.
pub fn build_query(args: &Args) -> Result<String, CliError> {
    let src = if is_url(&args.source) {
        args.source.clone()
    } else {
        "-".to_string()
    };
    let mut q = vec![("fromSrc", src)];
    if let Some(r) = &args.reference {
        if r.contains('@') || r.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(CliError::msg(format!("invalid reference format: {r}")));
        }
        let (repo, tag) = split_tagged(r).unwrap_or((r.as_str(), ""));
        q.push(("repo", repo.to_string()));
        if !tag.is_empty() {
            q.push(("tag", tag.to_string()));
        }
    }
    if let Some(m) = &args.message {
        q.push(("message", m.clone()));
    }
    if let Some(p) = &args.platform {
        q.push(("platform", p.clone()));
    }
    for c in &args.change {
        q.push(("changes", c.clone()));
    }
    Ok(query(&q))
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let q = build_query(&args)?;
    let body = if args.source == "-" {
        Body::Reader(Box::pin(tokio::io::stdin()), "application/x-tar")
    } else if is_url(&args.source) {
        Body::Empty
    } else {
        let f = tokio::fs::File::open(&args.source)
            .await
            .map_err(|e| crate::error::go_io_error("open", &args.source, &e))?;
        Body::Reader(Box::pin(f), "application/x-tar")
    };
    let client = ctx.client().await?;
    let resp = client
        .request(Method::POST, &format!("/images/create{q}"), body)
        .await?;
    let tty = std::io::stdout().is_terminal();
    let mut out = std::io::stdout().lock();
    stream::display(resp, &mut out, tty, |_| {}).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_like_docker() {
        let args = Args {
            change: vec!["CMD [\"/bin/sh\"]".into()],
            message: Some("hi".into()),
            platform: None,
            source: "rootfs.tar".into(),
            reference: Some("bb:v1".into()),
        };
        assert_eq!(
            build_query(&args).unwrap(),
            "?fromSrc=-&repo=bb&tag=v1&message=hi&changes=CMD+%5B%22%2Fbin%2Fsh%22%5D"
        );
    }
}
