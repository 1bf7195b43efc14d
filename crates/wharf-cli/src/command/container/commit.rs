//! `wharf commit`: `POST /commit?container=…` makes a new image of a container's changes;
//! prints its ID.

use hyper::Method;
use serde_json::Value;

use crate::client::{query, Body};
use crate::command::Ctx;
use crate::error::CliError;
use crate::reference::split_tagged;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long = "author", value_name = "string")]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long = "message", value_name = "string")]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long = "pause", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub pause: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// The query docker's client sends.
pub fn build_query(args: &Args) -> Result<String, CliError> {
    let mut q = vec![("container", args.container.clone())];
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
        q.push(("comment", m.clone()));
    }
    if let Some(a) = &args.author {
        q.push(("author", a.clone()));
    }
    for c in &args.change {
        q.push(("changes", c.clone()));
    }
    if !args.pause {
        q.push(("pause", "0".to_string()));
    }
    Ok(query(&q))
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let q = build_query(&args)?;
    let client = ctx.client().await?;
    let body = client
        .call(Method::POST, &format!("/commit{q}"), Body::Empty)
        .await?;
    let v: Value = serde_json::from_slice(&body).map_err(|e| CliError::Protocol(e.to_string()))?;
    let id = v.get("Id").and_then(Value::as_str).unwrap_or_default();
    crate::write_stdout(&format!("{id}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_like_docker() {
        let args = Args {
            author: Some("me".into()),
            change: vec!["CMD [\"sh\"]".into()],
            message: Some("hi".into()),
            pause: false,
            container: "c1".into(),
            reference: Some("img:v1".into()),
        };
        assert_eq!(
            build_query(&args).unwrap(),
            "?container=c1&repo=img&tag=v1&comment=hi&author=me&changes=CMD+%5B%22sh%22%5D&pause=0"
        );
    }
}
