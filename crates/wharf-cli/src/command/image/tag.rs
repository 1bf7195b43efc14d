//! `wharf tag` / `wharf image tag`: `POST /images/{source}/tag?repo=…&tag=…`.

use hyper::Method;

use crate::client::{path_segment, query, Body};
use crate::command::Ctx;
use crate::error::CliError;
use crate::reference::split_tagged;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

/// Splits a target into (repository, tag) the way docker's client does before it calls the
/// API: a digest is refused, a missing tag means `latest`, names must be lowercase.
pub fn split_target(target: &str) -> Result<(String, String), CliError> {
    if target.contains('@') {
        return Err(CliError::msg(
            "refusing to create a tag with a digest reference",
        ));
    }
    let (name, tag) = match split_tagged(target) {
        Some((n, t)) => (n.to_string(), t.to_string()),
        None => (target.to_string(), "latest".to_string()),
    };
    if name.is_empty() || name.chars().any(|c| c.is_ascii_uppercase()) || name.contains("//") {
        return Err(CliError::msg(format!(
            "invalid reference format: repository name ({name}) must be lowercase"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-/:".contains(c))
    {
        return Err(CliError::msg("invalid reference format"));
    }
    Ok((name, tag))
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let (repo, tag) = split_target(&args.target)?;
    let client = ctx.client().await?;
    let path = format!(
        "/images/{}/tag{}",
        path_segment(&args.source),
        query(&[("repo", repo), ("tag", tag)])
    );
    client.call(Method::POST, &path, Body::Empty).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_like_docker() {
        assert_eq!(
            split_target("myrepo/bb:v1").unwrap(),
            ("myrepo/bb".into(), "v1".into())
        );
        assert_eq!(
            split_target("localhost:5000/bb").unwrap(),
            ("localhost:5000/bb".into(), "latest".into())
        );
        assert!(split_target("Upper:1").is_err());
        assert!(split_target("a@sha256:00").is_err());
    }
}
