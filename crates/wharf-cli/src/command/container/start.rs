//! `wharf start`: without `-a`/`-i`, `POST /containers/{name}/start` for each container,
//! printing each name or the error, then "Error: failed to start containers: …" (exit 1).
//! With `-a`/`-i` (one container): attach, register the wait, start, stream, and exit with the
//! container's status, as `run` does.

use hyper::Method;

use super::{
    container_path, hijack, inspect_container, run::attach_query, status_error,
    wait_exit_or_removed,
};
use crate::client::Body;
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long = "attach")]
    pub attach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Attach container's STDIN
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    #[arg(value_name = "CONTAINER", required = true, num_args = 1..)]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    if !(args.attach || args.interactive) {
        let mut failed = Vec::new();
        for c in &args.containers {
            match client
                .call(Method::POST, &container_path(c, "/start"), Body::Empty)
                .await
            {
                Ok(_) => crate::write_stdout(&format!("{c}\n"))?,
                Err(e) => {
                    eprintln!("{e}");
                    failed.push(c.clone());
                }
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        return Err(CliError::msg(format!(
            "Error: failed to start containers: {}",
            failed.join(", ")
        )));
    }
    if args.containers.len() > 1 {
        return Err(CliError::msg(
            "you cannot start and attach multiple containers at once",
        ));
    }
    let name = &args.containers[0];
    let c = inspect_container(client, name).await?;
    let id = c["Id"].as_str().unwrap_or(name).to_string();
    let tty = c["Config"]["Tty"].as_bool().unwrap_or(false);
    let stdin = args.interactive && c["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let auto_remove = c["HostConfig"]["AutoRemove"].as_bool().unwrap_or(false);
    hijack::check_tty(stdin, tty)?;
    let mut background = Vec::new();
    if !tty {
        background.extend(hijack::forward_signals(client, &id));
    }
    let path = container_path(
        name,
        &format!(
            "/attach{}",
            attach_query(stdin, true, true, args.detach_keys.as_deref())
        ),
    );
    let conn = client.hijack(Method::POST, &path, Body::Empty).await?;
    let streamer = tokio::spawn(hijack::stream(conn, tty, stdin));
    let status = wait_exit_or_removed(client, &id, auto_remove).await;
    if let Err(e) = client
        .call(Method::POST, &container_path(&id, "/start"), Body::Empty)
        .await
    {
        streamer.abort();
        let _ = streamer.await;
        if auto_remove {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), status).await;
        }
        return Err(status_error(&e, "start"));
    }
    if tty && hijack::is_tty(std::io::stdout()) {
        background.push(hijack::monitor_tty_size(client, container_path(&id, "")));
    }
    if let Ok(Err(e)) = streamer.await {
        eprintln!("{e}");
    }
    let code = status.await.unwrap_or(125);
    super::end_with(code, background)
}
