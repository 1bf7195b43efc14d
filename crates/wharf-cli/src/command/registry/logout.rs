//! `wharf logout [SERVER]`: removes the server's entries from config.json's `auths` (docker
//! also removes the `http://` and `https://` spellings of the same host), and has the
//! server's credential helper, if any, erase what it holds.

use super::{config, server_key};
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

pub async fn run(_ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let key = server_key(args.server.as_deref());
    let erased = wharf_credentials::erase(&key).map_err(config::cli_error)?;
    if erased.removed.is_empty() {
        println!("Not logged in to {key}");
        return Ok(());
    }
    println!("Removing login credentials for {key}");
    for (server, e) in erased.warnings {
        eprintln!("WARNING: could not erase credentials: {server}: {e}");
    }
    Ok(())
}
