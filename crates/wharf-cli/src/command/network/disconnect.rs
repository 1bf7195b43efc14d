//! `wharf network disconnect`: `POST /networks/{network}/disconnect` with
//! `{"Container": …, "Force": …}` (moby's `network.DisconnectOptions`).

use hyper::Method;
use serde_json::{json, Value};

use crate::client::Body;
use crate::command::network::{network_path, trim_id};
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// The request path and body docker sends.
pub fn request(args: &Args) -> Result<(String, Value), CliError> {
    let net = trim_id("network", &args.network)?;
    let container = trim_id("container", &args.container)?;
    Ok((
        network_path(&net, "/disconnect"),
        json!({"Container": container, "Force": args.force}),
    ))
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let (path, body) = request(&args)?;
    let client = ctx.client().await?;
    client
        .call(
            Method::POST,
            &path,
            Body::Bytes(body.to_string().into(), "application/json"),
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: Args,
    }

    #[test]
    fn body_like_docker() {
        let t = T::parse_from(["x", "-f", "net1", "c1"]);
        let (path, body) = request(&t.a).unwrap();
        assert_eq!(path, "/networks/net1/disconnect");
        assert_eq!(body.to_string(), r#"{"Container":"c1","Force":true}"#);
        let t = T::parse_from(["x", "net1", " "]);
        assert_eq!(
            request(&t.a).unwrap_err().to_string(),
            "invalid container name or ID: value is empty"
        );
    }
}
