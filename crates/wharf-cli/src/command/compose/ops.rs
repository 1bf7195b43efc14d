//! The smaller compose commands: ps, start/stop/restart, rm, kill, pause/unpause, top, port,
//! images, config, build, pull, push, exec, run, ls, version.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use futures_util::future::try_join_all;
use hyper::Method;
use serde_json::{json, Value};
use wharf_compose::{Project, Service};

use super::convert::{self, Identity};
use super::{cpath, post, service_containers, Existing, Global};
use crate::client::{query, Body, Client};
use crate::command::Ctx;
use crate::error::CliError;
use crate::format::{self, units};

#[derive(Debug, Clone, clap::Args)]
pub struct ServicesArgs {
    pub services: Vec<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct PsArgs {
    /// Show all stopped containers (including those created by the run command)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Only display IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Display services
    #[arg(long = "services")]
    pub services_only: bool,
    /// Format output using a custom template: 'table', 'json' or a Go template
    #[arg(long = "format", value_name = "string", default_value = "table")]
    pub format: String,
    /// Filter services by a property (supported filters: status)
    #[arg(long = "filter", value_name = "string")]
    pub filter: Option<String>,
    /// Filter services by status
    #[arg(long = "status", value_name = "stringArray")]
    pub status: Vec<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct StopArgs {
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long = "timeout", value_name = "int")]
    pub timeout: Option<i64>,
    pub services: Vec<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RmArgs {
    /// Don't ask to confirm removal
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short = 's', long = "stop")]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct KillArgs {
    /// SIGNAL to send to the container
    #[arg(
        short = 's',
        long = "signal",
        value_name = "string",
        default_value = "SIGKILL"
    )]
    pub signal: String,
    pub services: Vec<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Format the output. Values: [yaml | json]
    #[arg(long = "format", value_name = "string", default_value = "yaml")]
    pub format: String,
    /// Only validate the configuration, don't print anything
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Print the service names, one per line
    #[arg(long = "services")]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long = "volumes")]
    pub volumes: bool,
    /// Print the profile names, one per line
    #[arg(long = "profiles")]
    pub profiles: bool,
    /// Print the image names, one per line
    #[arg(long = "images")]
    pub images: bool,
    /// Save to file (default to stdout)
    #[arg(short = 'o', long = "output", value_name = "string")]
    pub output: Option<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct PortArgs {
    /// index of the container if service has multiple replicas
    #[arg(long = "index", value_name = "int", default_value_t = 1)]
    pub index: u32,
    /// tcp or udp
    #[arg(long = "protocol", value_name = "string", default_value = "tcp")]
    pub protocol: String,
    pub service: String,
    pub private_port: u16,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ImagesArgs {
    /// Only display IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Format the output. Values: [table | json]
    #[arg(long = "format", value_name = "string", default_value = "table")]
    pub format: String,
    pub services: Vec<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BuildArgs {
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long = "pull")]
    pub pull: bool,
    /// Don't print anything to STDOUT
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Set build-time variables for services
    #[arg(long = "build-arg", value_name = "stringArray")]
    pub build_args: Vec<String>,
    pub services: Vec<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct PullArgs {
    /// Pull without printing progress information
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Ignore images that can be built
    #[arg(long = "ignore-buildable")]
    pub ignore_buildable: bool,
    /// Pull what it can and ignores images with pull failures
    #[arg(long = "ignore-pull-failures")]
    pub ignore_pull_failures: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct PushArgs {
    /// Push what it can and ignores images with push failures
    #[arg(long = "ignore-push-failures")]
    pub ignore_push_failures: bool,
    /// Push without printing progress information
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ExecArgs {
    /// Detached mode: Run command in the background
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "stringArray")]
    pub env: Vec<String>,
    /// index of the container if service has multiple replicas
    #[arg(long = "index", value_name = "int", default_value_t = 1)]
    pub index: u32,
    /// Disable pseudo-TTY allocation. By default `compose exec` allocates a TTY
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Give extended privileges to the process
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Run the command as this user
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// The service, then the command and its arguments
    #[arg(value_name = "SERVICE", required = true, num_args = 2.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long = "rm")]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long = "name", value_name = "string")]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "stringArray")]
    pub env: Vec<String>,
    /// Add or override a label
    #[arg(short = 'l', long = "label", value_name = "stringArray")]
    pub labels: Vec<String>,
    /// Override the entrypoint of the image
    #[arg(long = "entrypoint", value_name = "string")]
    pub entrypoint: Option<String>,
    /// Disable pseudo-TTY allocation (default: auto-detected)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive", default_value_t = true)]
    pub interactive: bool,
    /// Run as specified username or uid
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "stringArray")]
    pub publish: Vec<String>,
    /// Run command with all service's ports enabled and mapped to the host
    #[arg(short = 'P', long = "service-ports")]
    pub service_ports: bool,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "stringArray")]
    pub volumes: Vec<String>,
    /// Build image before starting container
    #[arg(long = "build")]
    pub build: bool,
    /// The service, then the command and its arguments
    #[arg(value_name = "SERVICE", required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct LsArgs {
    /// Show all stopped Compose projects
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Only display project names
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Format the output. Values: [table | json]
    #[arg(long = "format", value_name = "string", default_value = "table")]
    pub format: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct VersionArgs {
    /// Shows only Compose's version number
    #[arg(long = "short")]
    pub short: bool,
    /// Format the output. Values: [pretty | json]
    #[arg(
        short = 'f',
        long = "format",
        value_name = "string",
        default_value = "pretty"
    )]
    pub format: String,
}

/// docker compose's `ps` row for a container (also its `--format json` object).
fn ps_row(c: &Existing) -> Value {
    let r = &c.raw;
    let command = r["Command"].as_str().unwrap_or("").to_string();
    let created = r["Created"].as_i64().unwrap_or(0);
    let ports = crate::command::container::list::displayable_ports(
        r["Ports"].as_array().map(Vec::as_slice).unwrap_or(&[]),
    );
    json!({
        "ID": r["Id"],
        "Name": c.name,
        "Names": c.name,
        "Image": r["Image"],
        "Command": format!("\"{}\"", format::ellipsis(&command, 20)),
        "Project": c.label(convert::LABEL_PROJECT),
        "Service": c.service,
        "Created": units::human_duration(units::now_unix() - created as f64) + " ago",
        "CreatedAt": created,
        "State": c.state,
        "Status": r["Status"],
        "Health": "",
        "ExitCode": 0,
        "Ports": ports,
        "Publishers": r["Ports"],
        "Labels": c.labels,
    })
}

pub async fn ps(ctx: &Ctx, g: &Global, a: PsArgs) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let name = g.project_name()?;
    let mut cs: Vec<Existing> = super::containers(client, &name)
        .await?
        .into_iter()
        .filter(|c| a.services.is_empty() || a.services.contains(&c.service))
        .filter(|c| a.all || (c.running() && !c.oneoff) || (c.oneoff && c.running()))
        .collect();
    let mut statuses = a.status.clone();
    if let Some(f) = &a.filter {
        if let Some(v) = f.strip_prefix("status=") {
            statuses.push(v.to_string());
        }
    }
    if !statuses.is_empty() {
        cs.retain(|c| statuses.contains(&c.state));
    }
    if a.services_only {
        let mut names: Vec<&str> = cs.iter().map(|c| c.service.as_str()).collect();
        names.dedup();
        return crate::write_stdout(&names.iter().map(|n| format!("{n}\n")).collect::<String>());
    }
    if a.quiet {
        return crate::write_stdout(&cs.iter().map(|c| format!("{}\n", c.id)).collect::<String>());
    }
    let rows: Vec<Value> = cs.iter().map(ps_row).collect();
    if a.format == "json" {
        let lines: String = rows.iter().map(|r| format!("{r}\n")).collect();
        return crate::write_stdout(&lines);
    }
    let fmt = if a.format == "table" {
        "table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.Created}}\t{{.Status}}\t{{.Ports}}"
    } else {
        a.format.as_str()
    };
    let headers = json!({
        "Name": "NAME", "Image": "IMAGE", "Command": "COMMAND", "Service": "SERVICE",
        "Created": "CREATED", "Status": "STATUS", "Ports": "PORTS", "ID": "CONTAINER ID",
        "State": "STATE", "Project": "PROJECT",
    });
    let out = format::render_list(fmt, &rows, &headers)
        .map_err(|e| CliError::msg(format!("template: {e}")))?;
    crate::write_stdout(&out)
}

pub async fn start(ctx: &Ctx, g: &Global, a: ServicesArgs) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let p = g.load()?;
    super::check_services(&p, &a.services)?;
    let waves = wharf_compose::start_order(&p).map_err(|e| CliError::msg(e.to_string()))?;
    let cs = service_containers(client, &p.name, &a.services).await?;
    if cs.is_empty() {
        return Err(CliError::msg(
            "service(s) not created: run `wharf compose up` first",
        ));
    }
    for wave in waves {
        let futs = cs
            .iter()
            .filter(|c| wave.contains(&c.service))
            .map(|c| async move {
                g.progress("Container", &c.name, "Starting");
                post(client, &cpath(&c.id, "/start")).await?;
                g.progress("Container", &c.name, "Started");
                Ok::<(), CliError>(())
            });
        try_join_all(futs).await?;
    }
    Ok(())
}

/// `stop` and (`restart`) — dependents first for stop.
pub async fn stop(ctx: &Ctx, g: &Global, a: StopArgs, restart: bool) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let name = g.project_name()?;
    let cs = service_containers(client, &name, &a.services).await?;
    let q = a
        .timeout
        .map(|t| query(&[("t", t.to_string())]))
        .unwrap_or_default();
    let (verb, doing, done) = if restart {
        ("restart", "Restarting", "Started")
    } else {
        ("stop", "Stopping", "Stopped")
    };
    let futs = cs.iter().filter(|c| restart || c.running()).map(|c| {
        let q = q.clone();
        async move {
            g.progress("Container", &c.name, doing);
            post(client, &cpath(&c.id, &format!("/{verb}{q}"))).await?;
            g.progress("Container", &c.name, done);
            Ok::<(), CliError>(())
        }
    });
    try_join_all(futs).await?;
    Ok(())
}

pub async fn rm(ctx: &Ctx, g: &Global, a: RmArgs) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let name = g.project_name()?;
    let mut cs = service_containers(client, &name, &a.services).await?;
    if a.stop {
        for c in cs.iter().filter(|c| c.running()) {
            g.progress("Container", &c.name, "Stopping");
            post(client, &cpath(&c.id, "/stop")).await?;
            g.progress("Container", &c.name, "Stopped");
        }
        cs = service_containers(client, &name, &a.services).await?;
    }
    let stopped: Vec<&Existing> = cs.iter().filter(|c| !c.running()).collect();
    if stopped.is_empty() {
        eprintln!("No stopped containers");
        return Ok(());
    }
    if !a.force {
        let names: Vec<&str> = stopped.iter().map(|c| c.name.as_str()).collect();
        if !crate::command::confirm(&format!(
            "Going to remove {}\n? Are you sure you want to remove the containers?",
            names.join(", ")
        )) {
            return Ok(());
        }
    }
    for c in stopped {
        g.progress("Container", &c.name, "Removing");
        let mut q = vec![];
        if a.volumes {
            q.push(("v", "1".to_string()));
        }
        client
            .call(Method::DELETE, &cpath(&c.id, &query(&q)), Body::Empty)
            .await?;
        g.progress("Container", &c.name, "Removed");
    }
    Ok(())
}

pub async fn kill(ctx: &Ctx, g: &Global, a: KillArgs) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let name = g.project_name()?;
    for c in service_containers(client, &name, &a.services)
        .await?
        .iter()
        .filter(|c| c.running())
    {
        g.progress("Container", &c.name, "Killing");
        post(
            client,
            &cpath(
                &c.id,
                &format!("/kill{}", query(&[("signal", a.signal.clone())])),
            ),
        )
        .await?;
        g.progress("Container", &c.name, "Killed");
    }
    Ok(())
}

/// pause / unpause.
pub async fn simple(
    ctx: &Ctx,
    g: &Global,
    a: ServicesArgs,
    verb: &str,
    done: &str,
) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let name = g.project_name()?;
    for c in service_containers(client, &name, &a.services).await? {
        post(client, &cpath(&c.id, &format!("/{verb}"))).await?;
        g.progress("Container", &c.name, done);
    }
    Ok(())
}

pub fn config(g: &Global, a: ConfigArgs) -> Result<(), CliError> {
    let p = g.load()?;
    if a.quiet {
        return Ok(());
    }
    let text = if a.services {
        p.services.keys().map(|k| format!("{k}\n")).collect()
    } else if a.volumes {
        p.volumes.keys().map(|k| format!("{k}\n")).collect()
    } else if a.profiles {
        let mut all: Vec<&String> = p.services.values().flat_map(|s| &s.profiles).collect();
        all.sort();
        all.dedup();
        all.iter().map(|k| format!("{k}\n")).collect()
    } else if a.images {
        p.services
            .values()
            .map(|s| format!("{}\n", convert::image_name(&p, s)))
            .collect()
    } else if a.format == "json" {
        serde_json::to_string_pretty(&p).map_err(|e| CliError::msg(e.to_string()))? + "\n"
    } else {
        wharf_compose::to_yaml(&p)
    };
    match a.output {
        Some(path) => std::fs::write(&path, text).map_err(CliError::from),
        None => crate::write_stdout(&text),
    }
}

pub async fn top(ctx: &Ctx, g: &Global, a: ServicesArgs) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let name = g.project_name()?;
    let mut out = String::new();
    for c in service_containers(client, &name, &a.services)
        .await?
        .iter()
        .filter(|c| c.running())
    {
        let v: Value = client.get_json(&cpath(&c.id, "/top")).await?;
        out.push_str(&format!("{}\n", c.name));
        let titles: Vec<String> = v["Titles"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t.as_str().unwrap_or("").to_string())
            .collect();
        let mut table = titles.join("\t") + "\n";
        for row in v["Processes"].as_array().into_iter().flatten() {
            let cells: Vec<&str> = row
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| x.as_str().unwrap_or(""))
                .collect();
            table.push_str(&cells.join("\t"));
            table.push('\n');
        }
        out.push_str(&format::tabwriter::TabWriter::new(0, 3).format(&table));
        out.push('\n');
    }
    crate::write_stdout(&out)
}

pub async fn port(ctx: &Ctx, g: &Global, a: PortArgs) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let name = g.project_name()?;
    let cs = service_containers(client, &name, std::slice::from_ref(&a.service)).await?;
    let Some(c) = cs.iter().find(|c| c.number == a.index) else {
        return Err(CliError::msg(format!(
            "service \"{}\" is not running container #{}",
            a.service, a.index
        )));
    };
    let v: Value = client.get_json(&cpath(&c.id, "/json")).await?;
    let key = format!("{}/{}", a.private_port, a.protocol);
    match v["NetworkSettings"]["Ports"][&key]
        .as_array()
        .and_then(|b| b.first())
    {
        Some(b) => crate::write_stdout(&format!(
            "{}:{}\n",
            b["HostIp"].as_str().unwrap_or(""),
            b["HostPort"].as_str().unwrap_or("")
        )),
        None => Err(CliError::msg(format!(
            "no port {key} for container {}",
            c.name
        ))),
    }
}

pub async fn images(ctx: &Ctx, g: &Global, a: ImagesArgs) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let name = g.project_name()?;
    let mut rows = Vec::new();
    for c in service_containers(client, &name, &a.services).await? {
        let image_id = c.raw["ImageID"].as_str().unwrap_or("").to_string();
        let img: Value = client
            .get_json(&format!(
                "/images/{}/json",
                crate::client::path_segment(&image_id)
            ))
            .await
            .unwrap_or(Value::Null);
        let tag = img["RepoTags"][0].as_str().unwrap_or("<none>:<none>");
        let (repo, tag) = tag.rsplit_once(':').unwrap_or((tag, ""));
        rows.push(json!({
            "ContainerName": c.name,
            "Repository": repo,
            "Tag": tag,
            "ID": format::truncate_id(&image_id),
            "Size": units::human_size(img["Size"].as_f64().unwrap_or(0.0)),
        }));
    }
    if a.quiet {
        return crate::write_stdout(
            &rows
                .iter()
                .map(|r| format!("{}\n", r["ID"].as_str().unwrap_or("")))
                .collect::<String>(),
        );
    }
    if a.format == "json" {
        return crate::write_stdout(&(Value::Array(rows).to_string() + "\n"));
    }
    let headers = json!({"ContainerName": "CONTAINER", "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Size": "SIZE"});
    let out = format::render_list(
        "table {{.ContainerName}}\t{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}",
        &rows,
        &headers,
    )
    .map_err(|e| CliError::msg(format!("template: {e}")))?;
    crate::write_stdout(&out)
}

/// Builds one service's image with the classic builder (`wharf build` underneath).
pub async fn build_service(
    client: &Client,
    g: &Global,
    p: &Project,
    s: &Service,
    quiet: bool,
) -> Result<(), CliError> {
    build_service_with(client, g, p, s, quiet, &BuildArgs::default_for_up()).await
}

impl BuildArgs {
    fn default_for_up() -> BuildArgs {
        BuildArgs {
            no_cache: false,
            pull: false,
            quiet: false,
            build_args: vec![],
            services: vec![],
        }
    }
}

async fn build_service_with(
    client: &Client,
    g: &Global,
    p: &Project,
    s: &Service,
    quiet: bool,
    a: &BuildArgs,
) -> Result<(), CliError> {
    let Some(b) = &s.build else { return Ok(()) };
    let tag = convert::image_name(p, s);
    let mut argv: Vec<String> = vec!["build".into(), "-t".into(), tag.clone()];
    for t in &b.tags {
        argv.extend(["-t".into(), t.clone()]);
    }
    // `dockerfile_inline`: the text goes in a file of its own outside the context.
    let inline = match &b.dockerfile_inline {
        Some(text) => {
            let f = std::env::temp_dir().join(format!(
                "wharf-compose-{}-{}-{}.Dockerfile",
                p.name,
                s.name,
                random_suffix()
            ));
            std::fs::write(&f, text)?;
            Some(f)
        }
        None => None,
    };
    let dockerfile = inline
        .clone()
        .unwrap_or_else(|| b.context.join(&b.dockerfile));
    argv.extend(["-f".into(), dockerfile.display().to_string()]);
    if let Some(n) = &b.network {
        argv.extend(["--network".into(), n.clone()]);
    }
    for (k, v) in &b.args {
        match v {
            Some(v) => argv.extend(["--build-arg".into(), format!("{k}={v}")]),
            None => argv.extend(["--build-arg".into(), k.clone()]),
        }
    }
    for ba in &a.build_args {
        argv.extend(["--build-arg".into(), ba.clone()]);
    }
    for (k, v) in &b.labels {
        argv.extend(["--label".into(), format!("{k}={v}")]);
    }
    argv.extend([
        "--label".into(),
        format!("{}={}", convert::LABEL_PROJECT, p.name),
    ]);
    if let Some(t) = &b.target {
        argv.extend(["--target".into(), t.clone()]);
    }
    if b.no_cache || a.no_cache {
        argv.push("--no-cache".into());
    }
    if b.pull || a.pull {
        argv.push("--pull".into());
    }
    if quiet || a.quiet {
        argv.push("-q".into());
    }
    argv.push(b.context.display().to_string());
    use clap::Parser;
    #[derive(Parser)]
    struct B {
        #[command(flatten)]
        a: crate::command::image::build::Args,
    }
    let parsed = B::try_parse_from(&argv).map_err(|e| CliError::msg(e.to_string()))?;
    g.progress("Service", &s.name, "Building");
    let ctx = Ctx::with_client(client.clone());
    let env = |k: &str| std::env::var(k).ok();
    let mut sink = std::io::sink();
    let mut err = std::io::stderr();
    let out: &mut dyn std::io::Write = if quiet || a.quiet {
        &mut sink
    } else {
        &mut err
    };
    let mut err2 = std::io::stderr();
    let built =
        crate::command::image::build::execute(&ctx, parsed.a, &env, false, out, &mut err2).await;
    if let Some(f) = inline {
        let _ = std::fs::remove_file(f);
    }
    built?;
    g.progress("Service", &s.name, "Built");
    Ok(())
}

pub async fn build(ctx: &Ctx, g: &Global, a: BuildArgs) -> Result<(), CliError> {
    let p = g.load()?;
    super::check_services(&p, &a.services)?;
    let client = ctx.client().await?;
    for s in p
        .services
        .values()
        .filter(|s| a.services.is_empty() || a.services.contains(&s.name))
    {
        build_service_with(client, g, &p, s, a.quiet, &a).await?;
    }
    Ok(())
}

pub async fn pull(ctx: &Ctx, g: &Global, a: PullArgs) -> Result<(), CliError> {
    let p = g.load()?;
    super::check_services(&p, &a.services)?;
    let client = ctx.client().await?;
    let p = &p;
    let a = &a;
    let futs = p
        .services
        .values()
        .filter(|s| a.services.is_empty() || a.services.contains(&s.name))
        .filter(|s| s.image.is_some() && !(a.ignore_buildable && s.build.is_some()))
        .map(|s| async move {
            let image = convert::image_name(p, s);
            g.progress("", &s.name, "Pulling");
            match crate::command::container::create::pull_image(client, &image, None, true).await {
                Ok(()) => {
                    g.progress("", &s.name, "Pulled");
                    Ok(())
                }
                Err(e) if a.ignore_pull_failures => {
                    eprintln!("{}: {e}", s.name);
                    Ok(())
                }
                Err(e) => Err(e),
            }
        });
    try_join_all(futs).await?;
    Ok(())
}

pub async fn push(ctx: &Ctx, g: &Global, a: PushArgs) -> Result<(), CliError> {
    let p = g.load()?;
    super::check_services(&p, &a.services)?;
    let client = ctx.client().await?;
    for s in p
        .services
        .values()
        .filter(|s| a.services.is_empty() || a.services.contains(&s.name))
        .filter(|s| s.image.is_some())
    {
        let image = convert::image_name(&p, s);
        let (full, tag, _) = crate::command::container::create::normalize_image(&image);
        g.progress("", &s.name, "Pushing");
        let path = format!(
            "/images/{}/push{}",
            crate::client::path_segment(&full),
            query(&[("tag", tag)])
        );
        let r = async {
            let resp = client.request(Method::POST, &path, Body::Empty).await?;
            crate::client::stream::display(resp, &mut std::io::sink(), false, |_| {}).await
        }
        .await;
        match r {
            Ok(()) => g.progress("", &s.name, "Pushed"),
            Err(e) if a.ignore_push_failures => eprintln!("{}: {e}", s.name),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub async fn exec(ctx: &Ctx, g: &Global, a: ExecArgs) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let name = g.project_name()?;
    let service = a.args[0].clone();
    let cs = service_containers(client, &name, std::slice::from_ref(&service)).await?;
    let Some(c) = cs.iter().find(|c| c.number == a.index && c.running()) else {
        return Err(CliError::msg(format!(
            "service \"{service}\" is not running"
        )));
    };
    let tty = !a.no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut args = vec![c.name.clone()];
    args.extend(a.args[1..].iter().cloned());
    let e = crate::command::container::exec::Args {
        detach: a.detach,
        detach_keys: None,
        env: a.env,
        env_file: vec![],
        interactive: !a.detach,
        privileged: a.privileged,
        tty,
        user: a.user,
        workdir: a.workdir,
        args,
    };
    crate::command::container::exec::run(ctx, e).await
}

/// `compose run`: a one-off container of a service (`PROJECT-SERVICE-run-XXXX`), its
/// dependencies started first; no published ports unless asked.
pub async fn run_oneoff(ctx: &Ctx, g: &Global, a: RunArgs) -> Result<(), CliError> {
    let service = a.args[0].clone();
    let mut p = g.load()?;
    if !p.services.contains_key(&service) {
        // A service in a profile is enabled by naming it.
        let all = g.load_with(&["*".to_string()]).ok();
        match all.and_then(|all| all.services.get(&service).cloned().map(|s| (all, s))) {
            Some((all, _)) => p = all,
            None => return Err(CliError::msg(format!("no such service: {service}"))),
        }
    }
    let client = ctx.client().await?;
    let deps: Vec<String> = if a.no_deps {
        vec![]
    } else {
        p.services[&service].depends_on.keys().cloned().collect()
    };
    let plan = super::up::Plan {
        build: a.build,
        no_build: false,
        pull: "policy".into(),
        scale: BTreeMap::new(),
        remove_orphans: false,
        force_recreate: false,
        no_recreate: false,
        start: true,
        services: deps.clone(),
        no_deps: false,
        timeout: None,
    };
    if !deps.is_empty() {
        super::up::converge(client, g, &p, &plan).await?;
    } else {
        // Networks, volumes and the image of the service itself.
        let mut only = plan;
        only.services = vec![service.clone()];
        only.start = false;
        only.no_deps = true;
        super::up::prepare(client, g, &p, &only).await?;
    }
    let mut s = p.services[&service].clone();
    if a.args.len() > 1 {
        s.command = Some(a.args[1..].to_vec());
    }
    if let Some(e) = &a.entrypoint {
        s.entrypoint = Some(vec![e.clone()]);
    }
    for kv in &a.env {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        s.environment.insert(k.to_string(), Some(v.to_string()));
    }
    for kv in &a.labels {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        s.labels.insert(k.to_string(), v.to_string());
    }
    if let Some(u) = &a.user {
        s.user = Some(u.clone());
    }
    if let Some(w) = &a.workdir {
        s.working_dir = Some(w.clone());
    }
    if !a.service_ports {
        s.ports.clear();
    }
    for spec in &a.publish {
        for (key, hip, hport) in crate::command::container::opts::parse_port_spec(spec)? {
            let (target, proto) = key.split_once('/').unwrap_or((&key, "tcp"));
            s.ports.push(wharf_compose::Port {
                target: target.parse().unwrap_or(0),
                published: hport.parse().ok(),
                host_ip: (!hip.is_empty()).then_some(hip),
                protocol: proto.to_string(),
            });
        }
    }
    s.container_name = None;
    let tty = !a.no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    s.tty = tty;
    let interactive = a.interactive && !a.detach;
    s.stdin_open = interactive;
    let image_id = super::up::image_id(client, &convert::image_name(&p, &s))
        .await
        .unwrap_or_default();
    let hash = wharf_compose::config_hash(&s);
    let mut body = convert::create_body(
        &p,
        &s,
        &Identity {
            number: 1,
            oneoff: true,
            config_hash: &hash,
            image_id: &image_id,
            config_files: "",
        },
    );
    let attach = !a.detach;
    body["AttachStdin"] = json!(interactive);
    body["AttachStdout"] = json!(attach);
    body["AttachStderr"] = json!(attach);
    body["StdinOnce"] = json!(interactive);
    body["HostConfig"]["AutoRemove"] = json!(a.rm);
    for v in &a.volumes {
        if let Some(arr) = body["HostConfig"]["Binds"].as_array_mut() {
            arr.push(json!(v));
        }
    }
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}-run-{}", p.name, service, random_suffix()));
    let path = format!("/containers/create{}", query(&[("name", name)]));
    let v = super::post_json(client, &path, &body).await?;
    let id = v["Id"].as_str().unwrap_or_default().to_string();
    if !attach {
        crate::write_stdout(&format!("{id}\n"))?;
        post(client, &cpath(&id, "/start")).await?;
        return Ok(());
    }
    crate::command::container::run::attach_start_wait(
        client,
        &id,
        &crate::command::container::run::Flow {
            stdin: interactive,
            stdout: true,
            stderr: true,
            tty,
            detach: false,
            sig_proxy: true,
            detach_keys: None,
            auto_remove: a.rm,
        },
    )
    .await
}

/// 12 random hex characters for one-off container names.
pub(crate) fn random_suffix() -> String {
    use std::io::Read;
    let mut b = [0u8; 6];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_err()
    {
        b = (std::process::id() as u64 ^ units::now_unix().to_bits()).to_le_bytes()[..6]
            .try_into()
            .unwrap_or_default();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub async fn ls(ctx: &Ctx, a: LsArgs) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let filters = json!({ "label": { convert::LABEL_PROJECT: true } });
    let q = query(&[("all", "1".into()), ("filters", filters.to_string())]);
    let list: Vec<Value> = client.get_json(&format!("/containers/json{q}")).await?;
    let mut projects: BTreeMap<String, (BTreeMap<String, usize>, String)> = BTreeMap::new();
    for c in &list {
        let l = &c["Labels"];
        let Some(name) = l[convert::LABEL_PROJECT].as_str() else {
            continue;
        };
        let e = projects.entry(name.to_string()).or_default();
        *e.0.entry(c["State"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
        if let Some(f) = l["com.docker.compose.project.config_files"].as_str() {
            e.1 = f.to_string();
        }
    }
    let mut rows = Vec::new();
    for (name, (states, files)) in projects {
        if !a.all && !states.contains_key("running") {
            continue;
        }
        let status: Vec<String> = states.iter().map(|(s, n)| format!("{s}({n})")).collect();
        rows.push(json!({"Name": name, "Status": status.join(", "), "ConfigFiles": files}));
    }
    if a.quiet {
        return crate::write_stdout(
            &rows
                .iter()
                .map(|r| format!("{}\n", r["Name"].as_str().unwrap_or("")))
                .collect::<String>(),
        );
    }
    if a.format == "json" {
        return crate::write_stdout(&(Value::Array(rows).to_string() + "\n"));
    }
    let headers = json!({"Name": "NAME", "Status": "STATUS", "ConfigFiles": "CONFIG FILES"});
    let out = format::render_list(
        "table {{.Name}}\t{{.Status}}\t{{.ConfigFiles}}",
        &rows,
        &headers,
    )
    .map_err(|e| CliError::msg(format!("template: {e}")))?;
    crate::write_stdout(&out)
}

pub fn version(a: VersionArgs) -> Result<(), CliError> {
    let v = format!(
        "{} (wharf {})",
        convert::COMPOSE_VERSION,
        env!("CARGO_PKG_VERSION")
    );
    if a.short {
        return crate::write_stdout(&format!("{}\n", convert::COMPOSE_VERSION));
    }
    if a.format == "json" {
        return crate::write_stdout(&format!("{}\n", json!({ "version": v })));
    }
    crate::write_stdout(&format!("Wharf Compose version {v}\n"))
}
