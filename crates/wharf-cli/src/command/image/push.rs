//! `wharf push` / `wharf image push`: `POST /images/{name}/push?tag=…`, docker's progress on
//! stdout. Without `-a` a name without a tag pushes `latest`, as docker's CLI does.

use std::io::IsTerminal;

use hyper::Method;

use crate::client::{path_segment, query, stream, Body};
use crate::command::container::create::normalize_image;
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Push a platform-specific manifest as a single-platform image
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    /// Skip image signing
    #[arg(long = "disable-content-trust", default_value_t = true)]
    pub disable_content_trust: bool,
    #[arg(value_name = "NAME[:TAG]")]
    pub image: String,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    if args.image.contains('@') {
        return Err(CliError::msg(format!(
            "invalid reference format: cannot push a digest reference: {}",
            args.image
        )));
    }
    let explicit_tag = args
        .image
        .rsplit_once(':')
        .is_some_and(|(_, t)| !t.contains('/'));
    let (full, tag, _) = normalize_image(&args.image);
    if args.all_tags && explicit_tag {
        return Err(CliError::msg("tag can't be used with --all-tags/-a"));
    }
    let tag = if args.all_tags { String::new() } else { tag };
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
            &format!(
                "/images/{}/push{}",
                path_segment(&full),
                query(&[("tag", tag)])
            ),
            Body::Empty,
        )
        .await?;
    if args.quiet {
        stream::display(resp, &mut std::io::sink(), false, |_| {}).await?;
        println!("{}", args.image);
    } else {
        let tty = std::io::stdout().is_terminal();
        stream::display(resp, &mut std::io::stdout(), tty, |_| {}).await?;
    }
    Ok(())
}
