//! `wharf attach`: hijack `POST /containers/{name}/attach` to a running container, stream until
//! it ends, and exit with the container's status (docker's `RunAttach`).

use hyper::Method;

use super::{container_path, hijack, inspect_container, run::attach_query, wait_for};
use crate::client::Body;
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", value_name = "bool", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let name = &args.container;
    let c = inspect_container(client, name).await?;
    let state = &c["State"];
    if !state["Running"].as_bool().unwrap_or(false) {
        return Err(CliError::msg(
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if state["Paused"].as_bool().unwrap_or(false) {
        return Err(CliError::msg(
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    if state["Restarting"].as_bool().unwrap_or(false) {
        return Err(CliError::msg(
            "You cannot attach to a restarting container, wait until it is running",
        ));
    }
    let tty = c["Config"]["Tty"].as_bool().unwrap_or(false);
    hijack::check_tty(!args.no_stdin, tty)?;
    let stdin = !args.no_stdin && c["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let mut background = Vec::new();
    if args.sig_proxy && !tty {
        background.extend(hijack::forward_signals(client, name));
    }
    let path = container_path(
        name,
        &format!(
            "/attach{}",
            attach_query(stdin, true, true, args.detach_keys.as_deref())
        ),
    );
    let conn = client.hijack(Method::POST, &path, Body::Empty).await?;
    let id = c["Id"].as_str().unwrap_or(name).to_string();
    let status = wait_for(client, &id, None).await;
    if tty && hijack::is_tty(std::io::stdout()) {
        background.push(hijack::monitor_tty_size(client, container_path(name, "")));
    }
    hijack::stream(conn, tty, stdin).await?;
    let code = status.await.unwrap_or(125);
    super::end_with(code, background)
}
