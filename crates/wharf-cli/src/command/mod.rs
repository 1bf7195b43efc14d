//! The command tree: `wharf <object> <verb>` plus docker's top-level short forms
//! (`wharf images` = `wharf image ls`, …). Each verb lives in `command/<object>/<verb>.rs`.

pub mod builder;
pub mod compose;
pub mod container;
pub mod image;
pub mod inspect;
pub mod network;
pub mod registry;
pub mod system;
pub mod volume;

use std::collections::BTreeMap;

use clap::{Parser, Subcommand};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::client::{Client, Host};
use crate::error::CliError;

#[derive(Debug, Parser)]
#[command(
    name = "wharf",
    about = "A self-sufficient runtime for containers",
    override_usage = "wharf [OPTIONS] COMMAND",
    disable_version_flag = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", value_name = "list")]
    pub host: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Set the logging level ("debug", "info", "warn", "error", "fatal")
    #[arg(
        short = 'l',
        long = "log-level",
        value_name = "string",
        default_value = "info"
    )]
    pub log_level: String,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
// Each subcommand's arguments are built only when it is the one parsed (CLI start time).
#[command(defer = true)]
pub enum Command {
    /// Manage containers
    #[command(subcommand, override_usage = "wharf container COMMAND")]
    Container(container::ContainerCommand),
    /// Manage images
    #[command(subcommand, override_usage = "wharf image COMMAND")]
    Image(image::ImageCommand),
    /// Create and run a new container from an image
    #[command(
        disable_help_flag = true,
        override_usage = "wharf run [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Run(container::run::Args),
    /// Execute a command in a running container
    #[command(override_usage = "wharf exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
    Exec(container::exec::Args),
    /// List containers
    #[command(override_usage = "wharf ps [OPTIONS]")]
    Ps(container::list::Args),
    /// Attach local standard input, output, and error streams to a running container
    #[command(override_usage = "wharf attach [OPTIONS] CONTAINER")]
    Attach(container::attach::Args),
    /// Create a new container
    #[command(
        disable_help_flag = true,
        override_usage = "wharf create [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Create(container::create::Args),
    /// Copy files/folders between a container and the local filesystem
    #[command(
        override_usage = "wharf cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\twharf cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH"
    )]
    Cp(container::cp::Args),
    /// Inspect changes to files or directories on a container's filesystem
    #[command(override_usage = "wharf diff CONTAINER")]
    Diff(container::diff::Args),
    /// Create a new image from a container's changes
    #[command(override_usage = "wharf commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]")]
    Commit(container::commit::Args),
    /// Export a container's filesystem as a tar archive
    #[command(override_usage = "wharf export [OPTIONS] CONTAINER")]
    Export(container::export::Args),
    /// Kill one or more running containers
    #[command(override_usage = "wharf kill [OPTIONS] CONTAINER [CONTAINER...]")]
    Kill(container::kill::Args),
    /// Fetch the logs of a container
    #[command(override_usage = "wharf logs [OPTIONS] CONTAINER")]
    Logs(container::logs::Args),
    /// Pause all processes within one or more containers
    #[command(override_usage = "wharf pause CONTAINER [CONTAINER...]")]
    Pause(container::pause::Args),
    /// List port mappings or a specific mapping for the container
    #[command(override_usage = "wharf port CONTAINER [PRIVATE_PORT[/PROTO]]")]
    Port(container::port::Args),
    /// Rename a container
    #[command(override_usage = "wharf rename CONTAINER NEW_NAME")]
    Rename(container::rename::Args),
    /// Restart one or more containers
    #[command(override_usage = "wharf restart [OPTIONS] CONTAINER [CONTAINER...]")]
    Restart(container::restart::Args),
    /// Remove one or more containers
    #[command(override_usage = "wharf rm [OPTIONS] CONTAINER [CONTAINER...]")]
    Rm(container::rm::Args),
    /// Start one or more stopped containers
    #[command(override_usage = "wharf start [OPTIONS] CONTAINER [CONTAINER...]")]
    Start(container::start::Args),
    /// Display a live stream of container(s) resource usage statistics
    #[command(override_usage = "wharf stats [OPTIONS] [CONTAINER...]")]
    Stats(container::stats::Args),
    /// Stop one or more running containers
    #[command(override_usage = "wharf stop [OPTIONS] CONTAINER [CONTAINER...]")]
    Stop(container::stop::Args),
    /// Display the running processes of a container
    #[command(override_usage = "wharf top CONTAINER [ps OPTIONS]")]
    Top(container::top::Args),
    /// Unpause all processes within one or more containers
    #[command(override_usage = "wharf unpause CONTAINER [CONTAINER...]")]
    Unpause(container::unpause::Args),
    /// Block until one or more containers stop, then print their exit codes
    #[command(override_usage = "wharf wait CONTAINER [CONTAINER...]")]
    Wait(container::wait::Args),
    /// Manage volumes
    #[command(subcommand, override_usage = "wharf volume COMMAND")]
    Volume(volume::VolumeCommand),
    /// Manage networks
    #[command(subcommand, override_usage = "wharf network COMMAND")]
    Network(network::NetworkCommand),
    /// Manage Wharf
    #[command(subcommand, override_usage = "wharf system COMMAND")]
    System(system::SystemCommand),
    /// Show the Wharf version information
    #[command(override_usage = "wharf version [OPTIONS]")]
    Version(system::version::Args),
    /// Display system-wide information
    #[command(override_usage = "wharf info [OPTIONS]")]
    Info(system::info::Args),
    /// Return low-level information on Wharf objects
    #[command(override_usage = "wharf inspect [OPTIONS] NAME|ID [NAME|ID...]")]
    Inspect(inspect::Args),
    /// List images
    #[command(override_usage = "wharf images [OPTIONS] [REPOSITORY[:TAG]]")]
    Images(image::list::Args),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    #[command(override_usage = "wharf tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")]
    Tag(image::tag::Args),
    /// Remove one or more images
    #[command(override_usage = "wharf rmi [OPTIONS] IMAGE [IMAGE...]")]
    Rmi(image::remove::Args),
    /// Show the history of an image
    #[command(override_usage = "wharf history [OPTIONS] IMAGE")]
    History(image::history::Args),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    #[command(override_usage = "wharf save [OPTIONS] IMAGE [IMAGE...]")]
    Save(image::save::Args),
    /// Load an image from a tar archive or STDIN
    #[command(override_usage = "wharf load [OPTIONS]")]
    Load(image::load::Args),
    /// Download an image from a registry
    #[command(override_usage = "wharf pull [OPTIONS] NAME[:TAG|@DIGEST]")]
    Pull(image::pull::Args),
    /// Upload an image to a registry
    #[command(override_usage = "wharf push [OPTIONS] NAME[:TAG]")]
    Push(image::push::Args),
    /// Search Docker Hub for images
    #[command(override_usage = "wharf search [OPTIONS] TERM")]
    Search(image::search::Args),
    /// Authenticate to a registry
    #[command(override_usage = "wharf login [OPTIONS] [SERVER]")]
    Login(registry::login::Args),
    /// Log out from a registry
    #[command(override_usage = "wharf logout [SERVER]")]
    Logout(registry::logout::Args),
    /// Import the contents from a tarball to create a filesystem image
    #[command(override_usage = "wharf import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]")]
    Import(image::import::Args),
    /// Build an image from a Dockerfile
    #[command(override_usage = "wharf build [OPTIONS] PATH | URL | -")]
    Build(image::build::Args),
    /// Manage builds
    #[command(subcommand, override_usage = "wharf builder COMMAND")]
    Builder(builder::BuilderCommand),
    /// Define and run multi-container applications
    #[command(override_usage = "wharf compose [OPTIONS] COMMAND")]
    Compose(compose::Args),
}

/// What every command gets: the chosen host and a lazily connected client.
pub struct Ctx {
    host: Option<String>,
    pub debug: bool,
    client: OnceCell<Client>,
}

impl Ctx {
    pub fn new(host: Option<String>, debug: bool) -> Ctx {
        Ctx {
            host,
            debug,
            client: OnceCell::new(),
        }
    }

    /// A context around an already connected client.
    pub fn with_client(client: Client) -> Ctx {
        Ctx {
            host: None,
            debug: false,
            client: OnceCell::new_with(Some(client)),
        }
    }

    /// Connects on first use (ping, version negotiation, autostart).
    pub async fn client(&self) -> Result<&Client, CliError> {
        self.client
            .get_or_try_init(|| async {
                let host = Host::select(self.host.as_deref())?;
                Client::connect(host).await
            })
            .await
    }
}

pub async fn run(ctx: &Ctx, cmd: Command) -> Result<(), CliError> {
    match cmd {
        Command::Container(c) => container::run(ctx, c).await,
        Command::Image(c) => image::run(ctx, c).await,
        Command::Run(a) => container::run::run(ctx, a).await,
        Command::Exec(a) => container::exec::run(ctx, a).await,
        Command::Ps(a) => container::list::run(ctx, a).await,
        Command::Attach(a) => container::attach::run(ctx, a).await,
        Command::Create(a) => container::create::run(ctx, a).await,
        Command::Kill(a) => container::kill::run(ctx, a).await,
        Command::Logs(a) => container::logs::run(ctx, a).await,
        Command::Pause(a) => container::pause::run(ctx, a).await,
        Command::Cp(a) => container::cp::run(ctx, a).await,
        Command::Diff(a) => container::diff::run(ctx, a).await,
        Command::Commit(a) => container::commit::run(ctx, a).await,
        Command::Export(a) => container::export::run(ctx, a).await,
        Command::Port(a) => container::port::run(ctx, a).await,
        Command::Rename(a) => container::rename::run(ctx, a).await,
        Command::Restart(a) => container::restart::run(ctx, a).await,
        Command::Rm(a) => container::rm::run(ctx, a).await,
        Command::Start(a) => container::start::run(ctx, a).await,
        Command::Stats(a) => container::stats::run(ctx, a).await,
        Command::Stop(a) => container::stop::run(ctx, a).await,
        Command::Top(a) => container::top::run(ctx, a).await,
        Command::Unpause(a) => container::unpause::run(ctx, a).await,
        Command::Wait(a) => container::wait::run(ctx, a).await,
        Command::System(c) => system::run(ctx, c).await,
        Command::Volume(c) => volume::run(ctx, c).await,
        Command::Network(c) => network::run(ctx, c).await,
        Command::Version(a) => system::version::run(ctx, a).await,
        Command::Info(a) => system::info::run(ctx, a).await,
        Command::Inspect(a) => inspect::run(ctx, a).await,
        Command::Images(a) => image::list::run(ctx, a).await,
        Command::Tag(a) => image::tag::run(ctx, a).await,
        Command::Rmi(a) => image::remove::run(ctx, a).await,
        Command::History(a) => image::history::run(ctx, a).await,
        Command::Save(a) => image::save::run(ctx, a).await,
        Command::Load(a) => image::load::run(ctx, a).await,
        Command::Pull(a) => image::pull::run(ctx, a).await,
        Command::Push(a) => image::push::run(ctx, a).await,
        Command::Search(a) => image::search::run(ctx, a).await,
        Command::Login(a) => registry::login::run(ctx, a).await,
        Command::Logout(a) => registry::logout::run(ctx, a).await,
        Command::Import(a) => image::import::run(ctx, a).await,
        Command::Build(a) => image::build::run(ctx, a).await,
        Command::Builder(c) => builder::run(ctx, c).await,
        Command::Compose(a) => compose::run(ctx, a).await,
    }
}

/// Parses `-f key=value` (docker's `opts.FilterOpt`), for clap's `value_parser`.
pub fn parse_filter(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_lowercase(), v.to_string())),
        _ => Err("bad format of filter (expected name=value)".to_string()),
    }
}

/// docker's `filters.Args.ToJSON`: `{"key":{"value":true}}`; `None` when there are no filters.
pub fn encode_filters(filters: &[(String, String)]) -> Option<String> {
    if filters.is_empty() {
        return None;
    }
    let mut m: BTreeMap<&str, BTreeMap<&str, bool>> = BTreeMap::new();
    for (k, v) in filters {
        m.entry(k.as_str()).or_default().insert(v.as_str(), true);
    }
    serde_json::to_string(&m).ok()
}

/// The shared tail of every `… prune`: unless `force`, ask `warning` (docker prints nothing
/// more and exits 0 on "no"); then `POST /{object}/prune?filters=…` and print `render`ed.
pub async fn prune(
    ctx: &Ctx,
    object: &str,
    filters: &[(String, String)],
    force: bool,
    warning: &str,
    render: fn(&Value) -> String,
) -> Result<(), crate::error::CliError> {
    if !force && !confirm(warning) {
        return Ok(());
    }
    let client = ctx.client().await?;
    let q = encode_filters(filters)
        .map(|f| vec![("filters", f)])
        .unwrap_or_default();
    let path = format!("/{object}/prune{}", crate::client::query(&q));
    let body = client
        .call(hyper::Method::POST, &path, crate::client::Body::Empty)
        .await?;
    let report: Value = serde_json::from_slice(&body)
        .map_err(|e| crate::error::CliError::Protocol(e.to_string()))?;
    crate::write_stdout(&render(&report))
}

/// Reads "y"/"yes" from stdin after printing `prompt` (docker's `command.PromptForConfirmation`).
pub fn confirm(prompt: &str) -> bool {
    use std::io::{BufRead, Write};
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{prompt} [y/N] ");
    let _ = out.flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_lowercase().as_str(), "y" | "yes")
}

/// A string field of a JSON object, or "".
pub fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// An integer field of a JSON object, or `default`.
pub fn int_field(v: &Value, key: &str, default: i64) -> i64 {
    v.get(key)
        .and_then(|x| x.as_i64().or_else(|| x.as_f64().map(|f| f as i64)))
        .unwrap_or(default)
}

#[cfg(test)]
pub(crate) mod testutil {
    /// Compares `got` with `testdata/{name}`; `UPDATE_GOLDEN=1` rewrites the file.
    pub fn check_golden(name: &str, got: &str) {
        let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
        if std::env::var("UPDATE_GOLDEN").is_ok() {
            std::fs::write(&path, got).expect("write golden file");
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            got, want,
            "golden file {name} differs (UPDATE_GOLDEN=1 to accept)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_encode_like_docker() {
        assert_eq!(encode_filters(&[]), None);
        let f = vec![
            parse_filter("reference=busybox").unwrap(),
            parse_filter("dangling=true").unwrap(),
            parse_filter("label=a=b").unwrap(),
            parse_filter("reference=alpine:*").unwrap(),
        ];
        assert_eq!(
            encode_filters(&f).unwrap(),
            r#"{"dangling":{"true":true},"label":{"a=b":true},"reference":{"alpine:*":true,"busybox":true}}"#
        );
        assert!(parse_filter("foo").is_err());
    }

    #[test]
    fn cli_parses_docker_forms() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "wharf",
            "-H",
            "unix:///x",
            "images",
            "-a",
            "-f",
            "dangling=true",
        ])
        .unwrap();
        assert_eq!(cli.host.as_deref(), Some("unix:///x"));
        assert!(matches!(cli.command, Some(Command::Images(_))));
        let cli = Cli::try_parse_from(["wharf", "image", "ls", "-q"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Image(image::ImageCommand::Ls(_)))
        ));
        for (args, ok) in [
            (&["network", "list", "-q", "-f", "driver=bridge"][..], true),
            (&["network", "remove", "n1", "n2"][..], true),
            (&["network", "rm", "-f", "n1"][..], true),
            (
                &[
                    "network",
                    "create",
                    "-d",
                    "bridge",
                    "--subnet",
                    "10.5.0.0/16",
                    "n",
                ][..],
                true,
            ),
            (
                &[
                    "network", "connect", "--alias", "a", "--ip", "10.5.0.9", "n", "c",
                ][..],
                true,
            ),
            (&["network", "disconnect", "-f", "n", "c"][..], true),
            (&["network", "inspect", "-f", "{{.Id}}", "n"][..], true),
            (
                &["network", "prune", "-f", "--filter", "until=1h"][..],
                true,
            ),
            (&["network", "create"][..], false),
            (&["network", "create", "a", "b"][..], false),
            (&["network", "connect", "n"][..], false),
            (&["network", "rm"][..], false),
        ] {
            let mut v = vec!["wharf"];
            v.extend_from_slice(args);
            assert_eq!(Cli::try_parse_from(&v).is_ok(), ok, "{args:?}");
        }
    }
}
