//! `wharf network rm`: per name, `GET /networks/{name}` (docker asks before removing the swarm
//! ingress network) then `DELETE /networks/{name}`. Removed names print on stdout; a failure
//! prints on stderr and the rest still go; any failure ends with docker's "exit status 1".
//! `-f` only silences "not found".

use hyper::Method;
use serde_json::Value;

use crate::client::Body;
use crate::command::network::{network_path, trim_id};
use crate::command::{confirm, Ctx};
use crate::error::CliError;

const INGRESS_WARNING: &str = "WARNING! Before removing the routing-mesh network, make sure all the nodes in your swarm run the same docker engine version. Otherwise, removal may not be effective and functionality of newly create ingress networks will be impaired.\nAre you sure you want to continue?";

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(value_name = "NETWORK", required = true, num_args = 1..)]
    pub names: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let mut failed = false;
    for name in &args.names {
        let id = match trim_id("network", name) {
            Ok(id) => id,
            Err(e) => {
                eprintln!("{e}");
                failed = true;
                continue;
            }
        };
        let path = network_path(&id, "");
        if let Ok(n) = client.get_json::<Value>(&path).await {
            if n["Ingress"].as_bool() == Some(true) && !confirm(INGRESS_WARNING) {
                continue;
            }
        }
        match client.call(Method::DELETE, &path, Body::Empty).await {
            Ok(_) => crate::write_stdout(&format!("{name}\n"))?,
            Err(e) if args.force && e.is_not_found() => {}
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        Err(CliError::Status {
            code: 1,
            message: "exit status 1".into(),
        })
    } else {
        Ok(())
    }
}
