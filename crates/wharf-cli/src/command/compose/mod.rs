//! `wharf compose`: docker compose's commands over the Engine API. The file is loaded and
//! resolved by `wharf-compose` (pure); this module looks at what the project already has on
//! the daemon (by the `com.docker.compose.*` labels, so docker compose and wharf see each
//! other's containers) and makes it match.
//!
//! Beyond docker compose: replicas of a service may publish the same host port; the daemon
//! spreads connections over the running, healthy ones (docs/adr-0009-compose.md).

pub mod convert;
pub mod logs;
pub mod ops;
pub mod up;

use std::collections::BTreeMap;
use std::path::PathBuf;

use hyper::Method;
use serde_json::Value;
use wharf_compose::{LoadOptions, Project};

use crate::client::{path_segment, query, Body, Client};
use crate::command::Ctx;
use crate::error::CliError;
use convert::{LABEL_NUMBER, LABEL_ONEOFF, LABEL_PROJECT, LABEL_SERVICE};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Compose configuration files
    #[arg(short = 'f', long = "file", value_name = "stringArray")]
    pub files: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "string")]
    pub project_name: Option<String>,
    /// Specify a profile to enable
    #[arg(long = "profile", value_name = "stringArray")]
    pub profiles: Vec<String>,
    /// Specify an alternate environment file
    #[arg(long = "env-file", value_name = "stringArray")]
    pub env_files: Vec<PathBuf>,
    /// Specify an alternate working directory (default: the path of the first Compose file)
    #[arg(long = "project-directory", value_name = "string")]
    pub project_directory: Option<PathBuf>,
    /// Control when to print ANSI control characters ("never"|"always"|"auto")
    #[arg(long = "ansi", value_name = "string", default_value = "auto")]
    pub ansi: String,
    /// Set type of progress output (auto, tty, plain, quiet)
    #[arg(long = "progress", value_name = "string")]
    pub progress: Option<String>,
    /// Control max parallelism, -1 for unlimited
    #[arg(long = "parallel", value_name = "int", default_value_t = -1)]
    pub parallel: i64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create and start containers
    Up(up::UpArgs),
    /// Stop and remove containers, networks
    Down(up::DownArgs),
    /// Creates containers for a service
    Create(up::CreateArgs),
    /// List containers
    Ps(ops::PsArgs),
    /// View output from containers
    Logs(logs::LogsArgs),
    /// Build or rebuild services
    Build(ops::BuildArgs),
    /// Pull service images
    Pull(ops::PullArgs),
    /// Push service images
    Push(ops::PushArgs),
    /// Execute a command in a running container
    Exec(ops::ExecArgs),
    /// Run a one-off command on a service
    Run(ops::RunArgs),
    /// Start services
    Start(ops::ServicesArgs),
    /// Stop services
    Stop(ops::StopArgs),
    /// Restart service containers
    Restart(ops::StopArgs),
    /// Removes stopped service containers
    Rm(ops::RmArgs),
    /// Force stop service containers
    Kill(ops::KillArgs),
    /// Pause services
    Pause(ops::ServicesArgs),
    /// Unpause services
    Unpause(ops::ServicesArgs),
    /// Parse, resolve and render compose file in canonical format
    Config(ops::ConfigArgs),
    /// Display the running processes
    Top(ops::ServicesArgs),
    /// Print the public port for a port binding
    Port(ops::PortArgs),
    /// List images used by the created containers
    Images(ops::ImagesArgs),
    /// List running compose projects
    Ls(ops::LsArgs),
    /// Show the Docker Compose version information
    Version(ops::VersionArgs),
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let g = Global::from(&args);
    match args.command {
        Command::Up(a) => up::up(ctx, &g, a).await,
        Command::Down(a) => up::down(ctx, &g, a).await,
        Command::Create(a) => up::create(ctx, &g, a).await,
        Command::Ps(a) => ops::ps(ctx, &g, a).await,
        Command::Logs(a) => logs::run(ctx, &g, a).await,
        Command::Build(a) => ops::build(ctx, &g, a).await,
        Command::Pull(a) => ops::pull(ctx, &g, a).await,
        Command::Push(a) => ops::push(ctx, &g, a).await,
        Command::Exec(a) => ops::exec(ctx, &g, a).await,
        Command::Run(a) => ops::run_oneoff(ctx, &g, a).await,
        Command::Start(a) => ops::start(ctx, &g, a).await,
        Command::Stop(a) => ops::stop(ctx, &g, a, false).await,
        Command::Restart(a) => ops::stop(ctx, &g, a, true).await,
        Command::Rm(a) => ops::rm(ctx, &g, a).await,
        Command::Kill(a) => ops::kill(ctx, &g, a).await,
        Command::Pause(a) => ops::simple(ctx, &g, a, "pause", "Paused").await,
        Command::Unpause(a) => ops::simple(ctx, &g, a, "unpause", "Unpaused").await,
        Command::Config(a) => ops::config(&g, a),
        Command::Top(a) => ops::top(ctx, &g, a).await,
        Command::Port(a) => ops::port(ctx, &g, a).await,
        Command::Images(a) => ops::images(ctx, &g, a).await,
        Command::Ls(a) => ops::ls(ctx, a).await,
        Command::Version(a) => ops::version(a),
    }
}

/// The flags every compose command shares.
pub struct Global {
    pub files: Vec<PathBuf>,
    pub project_name: Option<String>,
    pub profiles: Vec<String>,
    pub env_files: Vec<PathBuf>,
    pub project_directory: Option<PathBuf>,
    pub color: bool,
    pub quiet_progress: bool,
    /// `-f -`: the text read from stdin, in a temp file removed when the command ends.
    stdin: std::sync::OnceLock<StdinFile>,
    /// The loader's warnings are printed once per command.
    warned: std::sync::atomic::AtomicBool,
}

/// A compose file read from stdin, kept in a private temp file while the command runs.
struct StdinFile(PathBuf);

impl StdinFile {
    fn create(text: &[u8]) -> Result<StdinFile, CliError> {
        use std::os::unix::fs::OpenOptionsExt;
        let p =
            std::env::temp_dir().join(format!("wharf-compose-stdin-{}.yaml", ops::random_suffix()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p)?;
        std::io::Write::write_all(&mut f, text)?;
        Ok(StdinFile(p))
    }
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for StdinFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl From<&Args> for Global {
    fn from(a: &Args) -> Global {
        use std::io::IsTerminal;
        let color = match a.ansi.as_str() {
            "never" => false,
            "always" => true,
            _ => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        };
        Global {
            files: a.files.clone(),
            project_name: a.project_name.clone(),
            profiles: a.profiles.clone(),
            env_files: a.env_files.clone(),
            project_directory: a.project_directory.clone(),
            color,
            quiet_progress: a.progress.as_deref() == Some("quiet"),
            stdin: std::sync::OnceLock::new(),
            warned: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl Global {
    /// Loads and resolves the compose file(s).
    pub fn load(&self) -> Result<Project, CliError> {
        self.load_with(&[])
    }

    /// Loads with extra profiles enabled (`compose run` of a service in a profile).
    pub fn load_with(&self, extra_profiles: &[String]) -> Result<Project, CliError> {
        let mut profiles = self.profiles.clone();
        profiles.extend(extra_profiles.iter().cloned());
        let cwd = std::env::current_dir()?;
        let mut files = self.files.clone();
        let mut project_directory = self.project_directory.clone();
        if let Some(i) = files.iter().position(|f| f.as_os_str() == "-") {
            // `-f -`: the file comes from stdin (read once, kept for the command's other loads);
            // the project directory is the current one, as docker compose has it.
            files[i] = self.stdin_file()?;
            project_directory.get_or_insert_with(|| cwd.clone());
        }
        let opts = LoadOptions {
            files,
            project_name: self.project_name.clone(),
            project_directory,
            profiles,
            env_files: self.env_files.clone(),
            environment: std::env::vars().collect(),
            cwd,
        };
        let loaded =
            wharf_compose::load_with_warnings(&opts).map_err(|e| CliError::msg(e.to_string()))?;
        if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
            for w in &loaded.warnings {
                eprintln!("WARN[0000] {w}");
            }
        }
        Ok(loaded.project)
    }

    /// The compose file given on stdin, copied to a private temp file on first use.
    fn stdin_file(&self) -> Result<PathBuf, CliError> {
        if let Some(p) = self.stdin.get() {
            return Ok(p.path().to_path_buf());
        }
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut text)?;
        let f = StdinFile::create(&text)?;
        let p = f.path().to_path_buf();
        let _ = self.stdin.set(f);
        Ok(p)
    }

    /// The project name without loading the file when `-p` names it (down/ps/logs work
    /// without a file, as docker compose's do).
    pub fn project_name(&self) -> Result<String, CliError> {
        match &self.project_name {
            Some(n) if self.files.is_empty() && !n.is_empty() => Ok(n.clone()),
            _ => Ok(self.load()?.name),
        }
    }

    /// The `com.docker.compose.project.config_files` label: the files the project was read from.
    pub fn config_files(&self, p: &Project) -> String {
        let all: Vec<String> = p
            .config_files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        all.join(",")
    }

    /// One line of progress on stderr, in docker compose's plain form.
    pub fn progress(&self, kind: &str, name: &str, status: &str) {
        if !self.quiet_progress {
            eprintln!(" {kind} {name}  {status}");
        }
    }
}

/// A container of the project as `GET /containers/json` lists it.
#[derive(Clone, Debug)]
pub struct Existing {
    pub id: String,
    pub name: String,
    pub service: String,
    pub number: u32,
    pub oneoff: bool,
    pub state: String,
    pub labels: BTreeMap<String, String>,
    pub raw: Value,
}

impl Existing {
    pub fn running(&self) -> bool {
        matches!(self.state.as_str(), "running" | "paused" | "restarting")
    }
    pub fn label(&self, k: &str) -> &str {
        self.labels.get(k).map(String::as_str).unwrap_or("")
    }
}

/// Every container of project `name` (stopped ones too), sorted by service and number.
pub async fn containers(client: &Client, name: &str) -> Result<Vec<Existing>, CliError> {
    let filters = serde_json::json!({ "label": { format!("{LABEL_PROJECT}={name}"): true } });
    let q = query(&[("all", "1".into()), ("filters", filters.to_string())]);
    let list: Vec<Value> = client.get_json(&format!("/containers/json{q}")).await?;
    let mut out: Vec<Existing> = list
        .into_iter()
        .map(|c| {
            let labels: BTreeMap<String, String> =
                serde_json::from_value(c["Labels"].clone()).unwrap_or_default();
            let name = c["Names"][0]
                .as_str()
                .unwrap_or("")
                .trim_start_matches('/')
                .to_string();
            Existing {
                id: c["Id"].as_str().unwrap_or("").to_string(),
                service: labels.get(LABEL_SERVICE).cloned().unwrap_or_default(),
                number: labels
                    .get(LABEL_NUMBER)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                oneoff: labels.get(LABEL_ONEOFF).is_some_and(|v| v == "True"),
                state: c["State"].as_str().unwrap_or("").to_string(),
                name,
                labels,
                raw: c,
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.service, a.number).cmp(&(&b.service, b.number)));
    Ok(out)
}

/// The project's containers of the named services (all services when `services` is empty),
/// one-off containers excluded.
pub async fn service_containers(
    client: &Client,
    project: &str,
    services: &[String],
) -> Result<Vec<Existing>, CliError> {
    Ok(containers(client, project)
        .await?
        .into_iter()
        .filter(|c| !c.oneoff && (services.is_empty() || services.contains(&c.service)))
        .collect())
}

/// Checks that every name in `services` is a service of the project.
pub fn check_services(p: &Project, services: &[String]) -> Result<(), CliError> {
    for s in services {
        if !p.services.contains_key(s) {
            return Err(CliError::msg(format!("no such service: {s}")));
        }
    }
    Ok(())
}

pub async fn post(client: &Client, path: &str) -> Result<(), CliError> {
    match client.call(Method::POST, path, Body::Empty).await {
        Ok(_) => Ok(()),
        // 304: already started / already stopped.
        Err(CliError::Daemon { status: 304, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

pub async fn post_json(client: &Client, path: &str, body: &Value) -> Result<Value, CliError> {
    let b = client
        .call(
            Method::POST,
            path,
            Body::Bytes(bytes::Bytes::from(body.to_string()), "application/json"),
        )
        .await?;
    if b.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&b).map_err(|e| CliError::Protocol(e.to_string()))
}

pub fn cpath(id: &str, rest: &str) -> String {
    format!("/containers/{}{rest}", path_segment(id))
}

/// ANSI colours docker compose cycles through for log prefixes.
pub const COLORS: [&str; 12] = [
    "36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1", "31", "31;1",
];
