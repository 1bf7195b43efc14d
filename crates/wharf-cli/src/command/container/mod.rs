//! `wharf container …` (and docker's short forms `wharf run`, `wharf ps`, …): one file per verb,
//! as docker/cli's `cli/command/container/`. Shared here: the create-with-pull step, the
//! exit-or-removed waiter, docker's start-error → exit-status mapping, and the loop the
//! multi-container verbs (stop, kill, rm, …) share.

pub mod attach;
pub mod commit;
pub mod cp;
pub mod create;
pub mod diff;
pub mod exec;
pub mod export;
pub mod hijack;
pub mod inspect;
pub mod kill;
pub mod list;
pub mod logs;
pub mod network_opts;
pub mod opts;
pub mod pause;
pub mod port;
pub mod prune;
pub mod rename;
pub mod restart;
pub mod rm;
pub mod run;
pub mod start;
pub mod stats;
pub mod stop;
pub mod top;
pub mod unpause;
pub mod wait;

use std::future::Future;

use clap::Subcommand;
use hyper::Method;
use serde_json::Value;

use super::Ctx;
use crate::client::{path_segment, query, Body, Client};
use crate::error::CliError;

#[derive(Debug, Subcommand)]
// Each subcommand's arguments are built only when it is the one parsed (CLI start time).
#[command(defer = true)]
pub enum ContainerCommand {
    /// Attach local standard input, output, and error streams to a running container
    #[command(override_usage = "wharf container attach [OPTIONS] CONTAINER")]
    Attach(attach::Args),
    /// Create a new image from a container's changes
    #[command(override_usage = "wharf container commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]")]
    Commit(commit::Args),
    /// Copy files/folders between a container and the local filesystem
    #[command(
        override_usage = "wharf container cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\twharf cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH"
    )]
    Cp(cp::Args),
    /// Create a new container
    #[command(
        disable_help_flag = true,
        override_usage = "wharf container create [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Create(create::Args),
    /// Inspect changes to files or directories on a container's filesystem
    #[command(override_usage = "wharf container diff CONTAINER")]
    Diff(diff::Args),
    /// Execute a command in a running container
    #[command(override_usage = "wharf container exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
    Exec(exec::Args),
    /// Export a container's filesystem as a tar archive
    #[command(override_usage = "wharf container export [OPTIONS] CONTAINER")]
    Export(export::Args),
    /// Display detailed information on one or more containers
    #[command(override_usage = "wharf container inspect [OPTIONS] CONTAINER [CONTAINER...]")]
    Inspect(inspect::Args),
    /// Kill one or more running containers
    #[command(override_usage = "wharf container kill [OPTIONS] CONTAINER [CONTAINER...]")]
    Kill(kill::Args),
    /// Fetch the logs of a container
    #[command(override_usage = "wharf container logs [OPTIONS] CONTAINER")]
    Logs(logs::Args),
    /// List containers
    #[command(visible_aliases = ["list", "ps"], override_usage = "wharf container ls [OPTIONS]")]
    Ls(list::Args),
    /// Pause all processes within one or more containers
    #[command(override_usage = "wharf container pause CONTAINER [CONTAINER...]")]
    Pause(pause::Args),
    /// List port mappings or a specific mapping for the container
    #[command(override_usage = "wharf container port CONTAINER [PRIVATE_PORT[/PROTO]]")]
    Port(port::Args),
    /// Remove all stopped containers
    #[command(override_usage = "wharf container prune [OPTIONS]")]
    Prune(prune::Args),
    /// Rename a container
    #[command(override_usage = "wharf container rename CONTAINER NEW_NAME")]
    Rename(rename::Args),
    /// Restart one or more containers
    #[command(override_usage = "wharf container restart [OPTIONS] CONTAINER [CONTAINER...]")]
    Restart(restart::Args),
    /// Remove one or more containers
    #[command(
        visible_alias = "remove",
        override_usage = "wharf container rm [OPTIONS] CONTAINER [CONTAINER...]"
    )]
    Rm(rm::Args),
    /// Create and run a new container from an image
    #[command(
        disable_help_flag = true,
        override_usage = "wharf container run [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Run(run::Args),
    /// Start one or more stopped containers
    #[command(override_usage = "wharf container start [OPTIONS] CONTAINER [CONTAINER...]")]
    Start(start::Args),
    /// Display a live stream of container(s) resource usage statistics
    #[command(override_usage = "wharf container stats [OPTIONS] [CONTAINER...]")]
    Stats(stats::Args),
    /// Stop one or more running containers
    #[command(override_usage = "wharf container stop [OPTIONS] CONTAINER [CONTAINER...]")]
    Stop(stop::Args),
    /// Display the running processes of a container
    #[command(override_usage = "wharf container top CONTAINER [ps OPTIONS]")]
    Top(top::Args),
    /// Unpause all processes within one or more containers
    #[command(override_usage = "wharf container unpause CONTAINER [CONTAINER...]")]
    Unpause(unpause::Args),
    /// Block until one or more containers stop, then print their exit codes
    #[command(override_usage = "wharf container wait CONTAINER [CONTAINER...]")]
    Wait(wait::Args),
}

pub async fn run(ctx: &Ctx, cmd: ContainerCommand) -> Result<(), CliError> {
    match cmd {
        ContainerCommand::Attach(a) => attach::run(ctx, a).await,
        ContainerCommand::Commit(a) => commit::run(ctx, a).await,
        ContainerCommand::Cp(a) => cp::run(ctx, a).await,
        ContainerCommand::Create(a) => create::run(ctx, a).await,
        ContainerCommand::Diff(a) => diff::run(ctx, a).await,
        ContainerCommand::Export(a) => export::run(ctx, a).await,
        ContainerCommand::Exec(a) => exec::run(ctx, a).await,
        ContainerCommand::Inspect(a) => inspect::run(ctx, a).await,
        ContainerCommand::Kill(a) => kill::run(ctx, a).await,
        ContainerCommand::Logs(a) => logs::run(ctx, a).await,
        ContainerCommand::Ls(a) => list::run(ctx, a).await,
        ContainerCommand::Pause(a) => pause::run(ctx, a).await,
        ContainerCommand::Port(a) => port::run(ctx, a).await,
        ContainerCommand::Prune(a) => prune::run(ctx, a).await,
        ContainerCommand::Rename(a) => rename::run(ctx, a).await,
        ContainerCommand::Restart(a) => restart::run(ctx, a).await,
        ContainerCommand::Rm(a) => rm::run(ctx, a).await,
        ContainerCommand::Run(a) => run::run(ctx, a).await,
        ContainerCommand::Start(a) => start::run(ctx, a).await,
        ContainerCommand::Stats(a) => stats::run(ctx, a).await,
        ContainerCommand::Stop(a) => stop::run(ctx, a).await,
        ContainerCommand::Top(a) => top::run(ctx, a).await,
        ContainerCommand::Unpause(a) => unpause::run(ctx, a).await,
        ContainerCommand::Wait(a) => wait::run(ctx, a).await,
    }
}

/// `/containers/{name}{rest}`.
pub fn container_path(name: &str, rest: &str) -> String {
    format!("/containers/{}{rest}", path_segment(name))
}

/// docker's `toStatusError` for `run`/`start`: a command that cannot be found exits 127, one
/// that cannot be invoked 126, any other failure at the daemon 125.
pub fn exit_code_for_start_error(message: &str) -> i32 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
        || message.contains("system cannot find the file specified")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}

/// docker's `withHelp`: "docker: <err>\n\nRun 'docker run --help' for more information".
pub fn status_error(err: &CliError, verb: &str) -> CliError {
    let msg = err.to_string();
    CliError::Status {
        code: exit_code_for_start_error(&msg),
        message: format!(
            "{}: {msg}\n\nRun '{} {verb} --help' for more information",
            crate::PROG,
            crate::PROG
        ),
    }
}

/// docker's `waitExitOrRemoved`: `POST /containers/{id}/wait?condition=next-exit|removed`,
/// sent before the container starts so no exit is missed. Resolves to the exit status
/// (125 when waiting failed). Returns once the daemon has answered the request's headers (or
/// after a short grace period), so the caller knows the wait is registered before it starts.
pub async fn wait_exit_or_removed(
    client: &Client,
    id: &str,
    removed: bool,
) -> tokio::task::JoinHandle<i32> {
    wait_for(
        client,
        id,
        Some(if removed { "removed" } else { "next-exit" }),
    )
    .await
}

/// The end of `run`/`start -a`/`attach`: the background tasks (signal proxy, resize) stop,
/// and the container's exit status becomes ours.
pub fn end_with(code: i32, background: Vec<tokio::task::JoinHandle<()>>) -> Result<(), CliError> {
    for b in background {
        b.abort();
    }
    if code != 0 {
        return Err(CliError::Status {
            code,
            message: String::new(),
        });
    }
    Ok(())
}

/// The exit status in a wait's answer; an error in it is printed, and makes 125.
pub fn wait_status(body: &[u8]) -> i32 {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some(m) = v
        .get("Error")
        .and_then(|e| e.get("Message"))
        .and_then(Value::as_str)
    {
        if !m.is_empty() {
            eprintln!("Error waiting for container: {m}");
            return 125;
        }
    }
    v.get("StatusCode").and_then(Value::as_i64).unwrap_or(125) as i32
}

/// `POST /containers/{id}/wait[?condition=…]` in the background; see [`wait_exit_or_removed`].
pub async fn wait_for(
    client: &Client,
    id: &str,
    condition: Option<&str>,
) -> tokio::task::JoinHandle<i32> {
    let client = client.clone();
    let q = condition
        .map(|c| query(&[("condition", c.to_string())]))
        .unwrap_or_default();
    let path = container_path(id, &format!("/wait{q}"));
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let resp = client.request(Method::POST, &path, Body::Empty).await;
        let _ = ready_tx.send(());
        let result = match resp {
            Ok(r) => crate::client::collect(r).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(body) => wait_status(&body),
            Err(e) => {
                eprintln!(
                    "Error waiting for container: {}",
                    e.to_string()
                        .trim_start_matches("Error response from daemon: ")
                );
                125
            }
        }
    });
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), ready_rx).await;
    task
}

/// The loop of stop/kill/rm/pause/…: run `op` on each container in order, print each name as
/// given on success, collect the errors; exit 1 with all of them if any failed.
pub async fn for_each<F, Fut>(names: &[String], mut op: F) -> Result<(), CliError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(), CliError>>,
{
    let mut errors = Vec::new();
    for name in names {
        match op(name.clone()).await {
            Ok(()) => crate::write_stdout(&format!("{name}\n"))?,
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}

/// `GET /containers/{name}/json`.
pub async fn inspect_container(client: &Client, name: &str) -> Result<Value, CliError> {
    client.get_json(&container_path(name, "/json")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_map_to_docker_exit_codes() {
        let not_found =
            "failed to create task: exec: \"nope\": executable file not found in $PATH: unknown";
        assert_eq!(exit_code_for_start_error(not_found), 127);
        assert_eq!(
            exit_code_for_start_error("exec /bin/x: no such file or directory"),
            127
        );
        assert_eq!(
            exit_code_for_start_error("exec /etc: permission denied"),
            126
        );
        assert_eq!(
            exit_code_for_start_error("exec: \"/etc\": is a directory"),
            126
        );
        assert_eq!(exit_code_for_start_error("No such image: x:latest"), 125);
        let e = status_error(
            &CliError::Daemon {
                status: 400,
                message: not_found.into(),
            },
            "run",
        );
        assert_eq!(e.exit_code(), 127);
        assert_eq!(
            e.to_string(),
            format!("wharf: Error response from daemon: {not_found}\n\nRun 'wharf run --help' for more information")
        );
    }
}
