//! `wharf logout [SERVER]`: removes the server's entry from config.json's `auths` (docker
//! also removes the `http://` and `https://` spellings of the same host).

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
    let mut cfg = config::load()?;
    let mut names = vec![key.clone()];
    if key != super::HUB_ADDRESS {
        names.push(format!("http://{key}"));
        names.push(format!("https://{key}"));
    }
    let removed = match cfg.get_mut("auths").and_then(|a| a.as_object_mut()) {
        Some(auths) => names
            .iter()
            .filter(|n| auths.remove(n.as_str()).is_some())
            .count(),
        None => 0,
    };
    if removed == 0 {
        println!("Not logged in to {key}");
        return Ok(());
    }
    println!("Removing login credentials for {key}");
    config::save(&cfg)?;
    Ok(())
}
