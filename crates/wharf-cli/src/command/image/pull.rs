//! `wharf pull` / `wharf image pull`: `POST /images/create?fromImage=…&tag=…`, docker's
//! progress on stdout, then the full reference pulled.

use std::io::IsTerminal;

use hyper::Method;

use crate::client::{query, stream, Body};
use crate::command::container::create::normalize_image;
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    /// Skip image verification
    #[arg(long = "disable-content-trust", default_value_t = true)]
    pub disable_content_trust: bool,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub image: String,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    if args.all_tags {
        return Err(CliError::msg("pull --all-tags is not supported yet"));
    }
    let (full, tag, _) = normalize_image(&args.image);
    let sep = if tag.contains(':') { '@' } else { ':' };
    let mut q = vec![("fromImage", full.clone()), ("tag", tag.clone())];
    if let Some(p) = args.platform.as_deref().filter(|p| !p.is_empty()) {
        q.push(("platform", p.to_string()));
    }
    let mut client = ctx.client().await?.clone();
    // the CLI's stored credentials for the registry go along, as docker's CLI sends them
    let domain = full.split('/').next().unwrap_or("");
    let key = crate::command::registry::server_key(Some(domain));
    if let Some(h) = crate::command::registry::config::registry_auth(&key) {
        client = client.with_header("x-registry-auth", h);
    }
    let resp = client
        .request(
            Method::POST,
            &format!("/images/create{}", query(&q)),
            Body::Empty,
        )
        .await?;
    if args.quiet {
        stream::display(resp, &mut std::io::sink(), false, |_| {}).await?;
    } else {
        let tty = std::io::stdout().is_terminal();
        stream::display(resp, &mut std::io::stdout(), tty, |_| {}).await?;
    }
    println!("{full}{sep}{tag}");
    Ok(())
}
