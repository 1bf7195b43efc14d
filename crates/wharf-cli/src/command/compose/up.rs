//! `compose up`, `create` and `down`: make the daemon's objects match the file, and take them
//! away again.
//!
//! `up` converges: networks and volumes are created when missing; each service's containers
//! are compared by their `config-hash` (and image) labels and only those that differ are
//! recreated; extra replicas are removed (highest numbers first), missing ones created.
//! Services start wave by wave in dependency order (`wharf_compose::start_order`), the
//! services of one wave and the replicas of one service in parallel; a dependent waits for its
//! dependencies' conditions (`service_healthy`, `service_completed_successfully`).

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::try_join_all;
use hyper::Method;
use serde_json::Value;
use wharf_compose::{Project, Service};

use super::convert::{self, Identity, LABEL_HASH, LABEL_IMAGE};
use super::{cpath, post, post_json, service_containers, Existing, Global};
use crate::client::{path_segment, query, Body, Client};
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Detached mode: Run containers in the background
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Build images before starting containers
    #[arg(long = "build")]
    pub build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long = "no-build")]
    pub no_build: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long = "pull", value_name = "string", default_value = "policy")]
    pub pull: String,
    /// Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present
    #[arg(long = "scale", value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Wait for services to be running|healthy. Implies detached mode
    #[arg(long = "wait")]
    pub wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy
    #[arg(long = "wait-timeout", value_name = "int", default_value_t = 0)]
    pub wait_timeout: u64,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long = "force-recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long = "no-recreate")]
    pub no_recreate: bool,
    /// Don't start the services after creating them
    #[arg(long = "no-start")]
    pub no_start: bool,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Stops all containers if any container was stopped. Incompatible with -d
    #[arg(long = "abort-on-container-exit")]
    pub abort_on_container_exit: bool,
    /// Return the exit code of the selected service container. Implies --abort-on-container-exit
    #[arg(long = "exit-code-from", value_name = "string")]
    pub exit_code_from: Option<String>,
    /// Use this timeout in seconds for container shutdown when attached or when containers are already running
    #[arg(short = 't', long = "timeout", value_name = "int")]
    pub timeout: Option<i64>,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// Show timestamps
    #[arg(long = "timestamps")]
    pub timestamps: bool,
    /// Services to start (default: all)
    pub services: Vec<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct CreateArgs {
    /// Build images before starting containers
    #[arg(long = "build")]
    pub build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long = "no-build")]
    pub no_build: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long = "pull", value_name = "string", default_value = "policy")]
    pub pull: String,
    /// Scale SERVICE to NUM instances
    #[arg(long = "scale", value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long = "force-recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long = "no-recreate")]
    pub no_recreate: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DownArgs {
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    /// Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")
    #[arg(long = "rmi", value_name = "string")]
    pub rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long = "timeout", value_name = "int")]
    pub timeout: Option<i64>,
    pub services: Vec<String>,
}

/// What a converge run is asked to do.
pub struct Plan {
    pub build: bool,
    pub no_build: bool,
    pub pull: String,
    pub scale: BTreeMap<String, u32>,
    pub remove_orphans: bool,
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub start: bool,
    pub services: Vec<String>,
    pub no_deps: bool,
    pub timeout: Option<i64>,
}

fn parse_scale(items: &[String]) -> Result<BTreeMap<String, u32>, CliError> {
    let mut m = BTreeMap::new();
    for s in items {
        let (k, v) = s.split_once('=').ok_or_else(|| {
            CliError::msg(format!("invalid --scale option {s:?}: must be SERVICE=NUM"))
        })?;
        let n = v.parse().map_err(|_| {
            CliError::msg(format!("invalid --scale option {s:?}: must be SERVICE=NUM"))
        })?;
        m.insert(k.to_string(), n);
    }
    Ok(m)
}

pub async fn up(ctx: &Ctx, g: &Global, a: UpArgs) -> Result<(), CliError> {
    let p = g.load()?;
    super::check_services(&p, &a.services)?;
    let plan = Plan {
        build: a.build,
        no_build: a.no_build,
        pull: a.pull.clone(),
        scale: parse_scale(&a.scale)?,
        remove_orphans: a.remove_orphans,
        force_recreate: a.force_recreate,
        no_recreate: a.no_recreate,
        start: !a.no_start,
        services: a.services.clone(),
        no_deps: a.no_deps,
        timeout: a.timeout,
    };
    let client = ctx.client().await?;
    let started = converge(client, g, &p, &plan).await?;
    if a.wait {
        wait_ready(client, g, &p, &started, a.wait_timeout).await?;
        return Ok(());
    }
    if a.detach || a.no_start {
        return Ok(());
    }
    // Attached: follow every container's output until they all stop; Ctrl+C stops them.
    let containers = service_containers(client, &p.name, &a.services).await?;
    let names: Vec<String> = containers.iter().map(super::logs::display_name).collect();
    println!("Attaching to {}", names.join(", "));
    let abort = a.abort_on_container_exit || a.exit_code_from.is_some();
    let opts = super::logs::FollowOptions {
        color: g.color && !a.no_color,
        prefix: !a.no_log_prefix,
        timestamps: a.timestamps,
        tail: None,
        follow: true,
        stop_on_first_exit: abort,
    };
    let follow = super::logs::follow(client, &containers, opts);
    tokio::pin!(follow);
    let interrupted = tokio::select! {
        r = &mut follow => { r?; abort }
        _ = tokio::signal::ctrl_c() => { eprintln!("Gracefully stopping... (press Ctrl+C again to force)"); true }
    };
    if interrupted {
        stop_all(client, g, &containers, a.timeout).await;
    }
    if let Some(svc) = &a.exit_code_from {
        let code = exit_code_of(client, &p.name, svc).await?;
        if code != 0 {
            return Err(CliError::Status {
                code: code as i32,
                message: String::new(),
            });
        }
    }
    Ok(())
}

async fn exit_code_of(client: &Client, project: &str, svc: &str) -> Result<i64, CliError> {
    let cs = service_containers(client, project, &[svc.to_string()]).await?;
    let Some(c) = cs.first() else { return Ok(0) };
    let v: Value = client.get_json(&cpath(&c.id, "/json")).await?;
    Ok(v["State"]["ExitCode"].as_i64().unwrap_or(0))
}

async fn stop_all(client: &Client, g: &Global, cs: &[Existing], timeout: Option<i64>) {
    let futs = cs.iter().filter(|c| c.running()).map(|c| async move {
        g.progress("Container", &c.name, "Stopping");
        let q = timeout
            .map(|t| query(&[("t", t.to_string())]))
            .unwrap_or_default();
        let _ = post(client, &cpath(&c.id, &format!("/stop{q}"))).await;
        g.progress("Container", &c.name, "Stopped");
    });
    futures_util::future::join_all(futs).await;
}

pub async fn create(ctx: &Ctx, g: &Global, a: CreateArgs) -> Result<(), CliError> {
    let p = g.load()?;
    super::check_services(&p, &a.services)?;
    let plan = Plan {
        build: a.build,
        no_build: a.no_build,
        pull: a.pull,
        scale: parse_scale(&a.scale)?,
        remove_orphans: a.remove_orphans,
        force_recreate: a.force_recreate,
        no_recreate: a.no_recreate,
        start: false,
        services: a.services,
        no_deps: false,
        timeout: None,
    };
    converge(ctx.client().await?, g, &p, &plan).await?;
    Ok(())
}

/// The services a command acts on: the named ones plus (unless `no_deps`) what they depend on.
pub fn selected(p: &Project, names: &[String], no_deps: bool) -> Vec<String> {
    if names.is_empty() {
        return p.services.keys().cloned().collect();
    }
    let mut out: Vec<String> = Vec::new();
    let mut todo: Vec<String> = names.to_vec();
    while let Some(n) = todo.pop() {
        if out.contains(&n) {
            continue;
        }
        if let Some(s) = p.services.get(&n) {
            if !no_deps {
                todo.extend(s.depends_on.keys().cloned());
            }
            out.push(n);
        }
    }
    out.sort();
    out
}

/// Makes the daemon match the project; returns the containers that should be running.
pub async fn converge(
    client: &Client,
    g: &Global,
    p: &Project,
    plan: &Plan,
) -> Result<Vec<Existing>, CliError> {
    let waves = wharf_compose::start_order(p).map_err(|e| CliError::msg(e.to_string()))?;
    let chosen = selected(p, &plan.services, plan.no_deps);
    let existing = super::containers(client, &p.name).await?;

    // Orphans: containers of services no longer in the file.
    let orphans: Vec<&Existing> = existing
        .iter()
        .filter(|c| !c.oneoff && !p.services.contains_key(&c.service))
        .collect();
    if !orphans.is_empty() {
        if plan.remove_orphans {
            for c in &orphans {
                remove_container(client, g, c, plan.timeout, false).await?;
            }
        } else {
            let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
            eprintln!(
                "WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(" ")
            );
        }
    }

    prepare(client, g, p, plan).await?;

    let mut all = Vec::new();
    for wave in waves {
        let services: Vec<&Service> = wave
            .iter()
            .filter(|n| chosen.contains(n))
            .filter_map(|n| p.services.get(n))
            .collect();
        let futs = services
            .iter()
            .map(|s| converge_service(client, g, p, s, plan, &existing));
        for cs in try_join_all(futs).await? {
            all.extend(cs);
        }
    }
    Ok(all)
}

/// Networks, volumes and images the chosen services need.
pub async fn prepare(
    client: &Client,
    g: &Global,
    p: &Project,
    plan: &Plan,
) -> Result<(), CliError> {
    let chosen = selected(p, &plan.services, plan.no_deps);
    ensure_networks(client, g, p, &chosen).await?;
    ensure_volumes(client, g, p, &chosen).await?;
    ensure_images(client, g, p, &chosen, plan).await
}

async fn ensure_networks(
    client: &Client,
    g: &Global,
    p: &Project,
    chosen: &[String],
) -> Result<(), CliError> {
    let mut used: Vec<String> = Vec::new();
    for s in chosen.iter().filter_map(|n| p.services.get(n)) {
        if s.network_mode.is_none() {
            used.extend(s.networks.keys().cloned());
        }
    }
    for key in sorted(used) {
        let external = p.networks.get(&key).is_some_and(|n| n.external);
        let name = convert::network_name(p, &key);
        let missing = format!("network {name} declared as external, but could not be found");
        let body = convert::network_body(p, &key);
        ensure(
            client,
            g,
            ("networks", "Network"),
            &name,
            external,
            missing,
            &body,
        )
        .await?;
    }
    Ok(())
}

async fn ensure_volumes(
    client: &Client,
    g: &Global,
    p: &Project,
    chosen: &[String],
) -> Result<(), CliError> {
    let mut used: Vec<String> = Vec::new();
    for s in chosen.iter().filter_map(|n| p.services.get(n)) {
        let named = s.volumes.iter().filter(|v| v.kind == "volume");
        used.extend(named.filter_map(|v| v.source.clone()));
    }
    for key in sorted(used) {
        let external = p.volumes.get(&key).is_some_and(|v| v.external);
        let name = convert::volume_name(p, &key);
        let missing = format!("external volume \"{name}\" not found");
        let body = convert::volume_body(p, &key);
        ensure(
            client,
            g,
            ("volumes", "Volume"),
            &name,
            external,
            missing,
            &body,
        )
        .await?;
    }
    Ok(())
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// Creates the network or volume `name` (`kind`: API path, progress word) unless the daemon has
/// it; an external one that is missing is the error `missing`.
async fn ensure(
    client: &Client,
    g: &Global,
    kind: (&str, &str),
    name: &str,
    external: bool,
    missing: String,
    body: &Value,
) -> Result<(), CliError> {
    let (path, word) = kind;
    if client
        .get_bytes(&format!("/{path}/{}", path_segment(name)))
        .await
        .is_ok()
    {
        return Ok(());
    }
    if external {
        return Err(CliError::msg(missing));
    }
    let shown = if path == "volumes" {
        format!("\"{name}\"")
    } else {
        name.to_string()
    };
    g.progress(word, &shown, "Creating");
    post_json(client, &format!("/{path}/create"), body).await?;
    g.progress(word, &shown, "Created");
    Ok(())
}

/// The image id of `name`, if the daemon has it.
pub async fn image_id(client: &Client, name: &str) -> Option<String> {
    let v: Value = client
        .get_json(&format!("/images/{}/json", path_segment(name)))
        .await
        .ok()?;
    v["Id"].as_str().map(str::to_string)
}

async fn ensure_images(
    client: &Client,
    g: &Global,
    p: &Project,
    chosen: &[String],
    plan: &Plan,
) -> Result<(), CliError> {
    for s in chosen.iter().filter_map(|n| p.services.get(n)) {
        let image = convert::image_name(p, s);
        let policy = if plan.pull != "policy" {
            plan.pull.as_str()
        } else {
            s.pull_policy.as_deref().unwrap_or("missing")
        };
        let have = image_id(client, &image).await.is_some();
        if s.build.is_some() && !plan.no_build {
            if plan.build || !have || policy == "build" {
                super::ops::build_service(client, g, p, s, false).await?;
            }
            continue;
        }
        let pull = match policy {
            "always" => true,
            "never" => false,
            _ => !have,
        };
        if pull {
            if s.image.is_none() {
                return Err(CliError::msg(format!(
                    "service {:?} has neither an image nor a build context specified: invalid compose project",
                    s.name
                )));
            }
            g.progress("", &s.name, "Pulling");
            crate::command::container::create::pull_image(client, &image, None, true).await?;
            g.progress("", &s.name, "Pulled");
        }
    }
    Ok(())
}

async fn converge_service(
    client: &Client,
    g: &Global,
    p: &Project,
    s: &Service,
    plan: &Plan,
    existing: &[Existing],
) -> Result<Vec<Existing>, CliError> {
    let want = convert::replicas(s, &plan.scale);
    let hash = wharf_compose::config_hash(s);
    let image = convert::image_name(p, s);
    let image_id = image_id(client, &image).await.unwrap_or_default();
    let mine: Vec<&Existing> = existing
        .iter()
        .filter(|c| !c.oneoff && c.service == s.name)
        .collect();
    let config_files = g.config_files(p);

    // Scale down: the highest numbers go first.
    for c in mine.iter().filter(|c| c.number > want || c.number == 0) {
        remove_container(client, g, c, plan.timeout, false).await?;
    }
    let keep: Vec<&Existing> = mine
        .iter()
        .copied()
        .filter(|c| c.number >= 1 && c.number <= want)
        .collect();

    // Create (or recreate) each wanted replica; replicas in parallel.
    let futs = (1..=want).map(|n| {
        let current = keep.iter().find(|c| c.number == n).copied();
        let hash = hash.as_str();
        let image_id = image_id.as_str();
        let config_files = config_files.as_str();
        async move {
            let id = Identity {
                number: n,
                oneoff: false,
                config_hash: hash,
                image_id,
                config_files,
            };
            let reuse = match current {
                Some(c) if plan.no_recreate => Some(c.id.clone()),
                Some(c)
                    if !plan.force_recreate
                        && c.label(LABEL_HASH) == hash
                        && (image_id.is_empty()
                            || c.label(LABEL_IMAGE).is_empty()
                            || c.label(LABEL_IMAGE) == image_id) =>
                {
                    Some(c.id.clone())
                }
                Some(c) => {
                    g.progress("Container", &c.name, "Recreate");
                    remove_container_quiet(client, c, plan.timeout, false).await?;
                    None
                }
                None => None,
            };
            let name = convert::container_name(p, s, n);
            let cid = match reuse {
                Some(cid) => {
                    if plan.start {
                        g.progress("Container", &name, "Running");
                    }
                    cid
                }
                None => {
                    g.progress("Container", &name, "Creating");
                    let body = convert::create_body(p, s, &id);
                    let path = format!("/containers/create{}", query(&[("name", name.clone())]));
                    let v = post_json(client, &path, &body).await?;
                    g.progress("Container", &name, "Created");
                    let cid = v["Id"].as_str().unwrap_or_default().to_string();
                    put_file_objects(client, p, s, &cid).await?;
                    cid
                }
            };
            Ok::<(String, String), CliError>((cid, name))
        }
    });
    let made = try_join_all(futs).await?;
    if plan.start {
        wait_dependencies(client, g, p, s).await?;
        let starts = made.iter().map(|(cid, name)| async move {
            let v: Value = client.get_json(&cpath(cid, "/json")).await?;
            if v["State"]["Running"].as_bool() != Some(true) {
                g.progress("Container", name, "Starting");
                post(client, &cpath(cid, "/start")).await?;
                g.progress("Container", name, "Started");
            }
            Ok::<(), CliError>(())
        });
        try_join_all(starts).await?;
    }
    Ok(made
        .into_iter()
        .map(|(id, name)| Existing {
            id,
            name,
            service: s.name.clone(),
            number: 0,
            oneoff: false,
            state: "running".into(),
            labels: BTreeMap::new(),
            raw: Value::Null,
        })
        .collect())
}

/// Secrets and configs given by value (`environment:`, `content:`) are written into the
/// container before it starts, as docker compose does (files are bind-mounted instead).
async fn put_file_objects(
    client: &Client,
    p: &Project,
    s: &Service,
    cid: &str,
) -> Result<(), CliError> {
    let mut files: Vec<(String, Vec<u8>, u32)> = Vec::new();
    for (refs, objs) in [(&s.secrets, &p.secrets), (&s.configs, &p.configs)] {
        for r in refs {
            let Some(o) = objs.get(&r.source) else {
                continue;
            };
            if o.file.is_some() {
                continue;
            }
            let data = match (&o.content, &o.environment) {
                (Some(c), _) => c.clone().into_bytes(),
                (None, Some(var)) => std::env::var(var).unwrap_or_default().into_bytes(),
                _ => continue,
            };
            files.push((r.target.clone(), data, r.mode.unwrap_or(0o444)));
        }
    }
    if files.is_empty() {
        return Ok(());
    }
    let mut b = tar::Builder::new(Vec::new());
    for (target, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, target.trim_start_matches('/'), data.as_slice())?;
    }
    let tar = b.into_inner()?;
    client
        .call(
            Method::PUT,
            &cpath(cid, &format!("/archive{}", query(&[("path", "/".into())]))),
            Body::Bytes(bytes::Bytes::from(tar), "application/x-tar"),
        )
        .await?;
    Ok(())
}

/// Waits for what `s` depends on to satisfy its conditions.
async fn wait_dependencies(
    client: &Client,
    g: &Global,
    p: &Project,
    s: &Service,
) -> Result<(), CliError> {
    for (dep, d) in &s.depends_on {
        if !p.services.contains_key(dep) || d.condition == "service_started" {
            continue;
        }
        let cs = service_containers(client, &p.name, std::slice::from_ref(dep)).await?;
        for c in cs {
            g.progress("Container", &c.name, "Waiting");
            loop {
                let v: Value = client.get_json(&cpath(&c.id, "/json")).await?;
                let st = &v["State"];
                let status = st["Status"].as_str().unwrap_or("");
                let health = st["Health"]["Status"].as_str().unwrap_or("");
                match d.condition.as_str() {
                    "service_healthy" => {
                        if health == "healthy" {
                            g.progress("Container", &c.name, "Healthy");
                            break;
                        }
                        if health == "unhealthy" {
                            return Err(CliError::msg(format!(
                                "dependency failed to start: container {} is unhealthy",
                                c.name
                            )));
                        }
                        if v["Config"]["Healthcheck"].is_null() && health.is_empty() {
                            return Err(CliError::msg(format!(
                                "dependency failed to start: container {} has no healthcheck configured",
                                c.name
                            )));
                        }
                        if status == "exited" || status == "dead" {
                            return Err(CliError::msg(format!(
                                "dependency failed to start: container {} exited ({})",
                                c.name,
                                st["ExitCode"].as_i64().unwrap_or(0)
                            )));
                        }
                    }
                    "service_completed_successfully" => {
                        if status == "exited" || status == "dead" {
                            let code = st["ExitCode"].as_i64().unwrap_or(0);
                            if code != 0 {
                                return Err(CliError::msg(format!(
                                    "service \"{dep}\" didn't complete successfully: exit {code}"
                                )));
                            }
                            g.progress("Container", &c.name, "Exited");
                            break;
                        }
                    }
                    _ => break,
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    Ok(())
}

/// `--wait`: every started container running, and healthy where it has a health check.
async fn wait_ready(
    client: &Client,
    g: &Global,
    p: &Project,
    started: &[Existing],
    timeout: u64,
) -> Result<(), CliError> {
    let deadline =
        (timeout > 0).then(|| tokio::time::Instant::now() + Duration::from_secs(timeout));
    for c in started {
        loop {
            let v: Value = client.get_json(&cpath(&c.id, "/json")).await?;
            let st = &v["State"];
            let status = st["Status"].as_str().unwrap_or("");
            let health = st["Health"]["Status"].as_str();
            match (status, health) {
                ("running", None) | ("running", Some("healthy")) => {
                    g.progress("Container", &c.name, "Healthy");
                    break;
                }
                ("running", Some("unhealthy")) => {
                    return Err(CliError::msg(format!("container {} is unhealthy", c.name)))
                }
                ("exited", _) | ("dead", _) => {
                    // A one-shot service that completed is fine if someone waits for it.
                    let code = st["ExitCode"].as_i64().unwrap_or(0);
                    let awaited = p.services.values().any(|s| {
                        s.depends_on
                            .get(&c.service)
                            .is_some_and(|d| d.condition == "service_completed_successfully")
                    });
                    if code == 0 && awaited {
                        break;
                    }
                    return Err(CliError::msg(format!(
                        "container {} exited ({code})",
                        c.name
                    )));
                }
                _ => {}
            }
            if deadline.is_some_and(|d| tokio::time::Instant::now() > d) {
                return Err(CliError::msg(format!(
                    "timeout waiting for container {} to be healthy",
                    c.name
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

async fn remove_container_quiet(
    client: &Client,
    c: &Existing,
    timeout: Option<i64>,
    anon_volumes: bool,
) -> Result<(), CliError> {
    if c.running() {
        let q = timeout
            .map(|t| query(&[("t", t.to_string())]))
            .unwrap_or_default();
        post(client, &cpath(&c.id, &format!("/stop{q}"))).await?;
    }
    match client
        .call(
            Method::DELETE,
            &cpath(
                &c.id,
                &query(&[
                    ("force", "1".into()),
                    ("v", if anon_volumes { "1" } else { "0" }.into()),
                ]),
            ),
            Body::Empty,
        )
        .await
    {
        Ok(_) | Err(CliError::Daemon { status: 404, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Stops and removes one container, with progress.
pub async fn remove_container(
    client: &Client,
    g: &Global,
    c: &Existing,
    timeout: Option<i64>,
    anon_volumes: bool,
) -> Result<(), CliError> {
    if c.running() {
        g.progress("Container", &c.name, "Stopping");
    }
    remove_container_quiet(client, c, timeout, anon_volumes).await?;
    g.progress("Container", &c.name, "Removed");
    Ok(())
}

pub async fn down(ctx: &Ctx, g: &Global, a: DownArgs) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let loaded = if g.files.is_empty() && g.project_name.is_some() {
        g.load().ok()
    } else {
        Some(g.load()?)
    };
    let name = match &loaded {
        Some(p) => p.name.clone(),
        None => g.project_name()?,
    };
    let all = super::containers(client, &name).await?;
    let known = |svc: &str| loaded.as_ref().is_none_or(|p| p.services.contains_key(svc));
    let targets: Vec<&Existing> = all
        .iter()
        .filter(|c| a.services.is_empty() || a.services.contains(&c.service))
        .filter(|c| a.remove_orphans || c.oneoff || known(&c.service) || loaded.is_none())
        .collect();
    // Reverse dependency order: dependents stop before what they depend on.
    let order: Vec<Vec<String>> = match &loaded {
        Some(p) => {
            let mut w = wharf_compose::start_order(p).map_err(|e| CliError::msg(e.to_string()))?;
            w.reverse();
            w
        }
        None => vec![],
    };
    let mut done: Vec<&str> = Vec::new();
    for wave in &order {
        let futs = targets
            .iter()
            .filter(|c| wave.contains(&c.service))
            .map(|c| remove_container(client, g, c, a.timeout, a.volumes));
        try_join_all(futs).await?;
        done.extend(wave.iter().map(String::as_str));
    }
    let rest = targets
        .iter()
        .filter(|c| !done.contains(&c.service.as_str()) || c.oneoff)
        .map(|c| remove_container(client, g, c, a.timeout, a.volumes));
    try_join_all(rest).await?;
    if !a.services.is_empty() {
        return Ok(());
    }
    // Networks the project created (by label), then volumes with -v.
    let filters =
        serde_json::json!({ "label": { format!("{}={name}", convert::LABEL_PROJECT): true } });
    let q = query(&[("filters", filters.to_string())]);
    let nets: Vec<Value> = client.get_json(&format!("/networks{q}")).await?;
    for n in nets {
        let nname = n["Name"].as_str().unwrap_or("").to_string();
        g.progress("Network", &nname, "Removing");
        match client
            .call(
                Method::DELETE,
                &format!("/networks/{}", path_segment(&nname)),
                Body::Empty,
            )
            .await
        {
            Ok(_) | Err(CliError::Daemon { status: 404, .. }) => {
                g.progress("Network", &nname, "Removed")
            }
            Err(e) => eprintln!("{e}"),
        }
    }
    if a.volumes {
        let vols: Value = client.get_json(&format!("/volumes{q}")).await?;
        for v in vols["Volumes"].as_array().into_iter().flatten() {
            let vname = v["Name"].as_str().unwrap_or("").to_string();
            let external = loaded
                .as_ref()
                .is_some_and(|p| p.volumes.values().any(|pv| pv.name == vname && pv.external));
            if external {
                continue;
            }
            g.progress("Volume", &vname, "Removing");
            match client
                .call(
                    Method::DELETE,
                    &format!("/volumes/{}", path_segment(&vname)),
                    Body::Empty,
                )
                .await
            {
                Ok(_) | Err(CliError::Daemon { status: 404, .. }) => {
                    g.progress("Volume", &vname, "Removed")
                }
                Err(e) => eprintln!("{e}"),
            }
        }
    }
    if let (Some(mode), Some(p)) = (a.rmi.as_deref(), &loaded) {
        for s in p.services.values() {
            if mode == "local" && s.image.is_some() {
                continue;
            }
            let image = convert::image_name(p, s);
            if client
                .call(
                    Method::DELETE,
                    &format!("/images/{}", path_segment(&image)),
                    Body::Empty,
                )
                .await
                .is_ok()
            {
                g.progress("Image", &image, "Removed");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_compose::Dependency;

    #[test]
    fn selected_follows_dependencies_unless_no_deps() {
        let mut p = Project::default();
        for n in ["web", "db", "cache", "other"] {
            p.services.insert(
                n.into(),
                Service {
                    name: n.into(),
                    ..Default::default()
                },
            );
        }
        let dep = || Dependency {
            condition: "service_started".into(),
            restart: false,
            required: true,
        };
        let web = p.services.get_mut("web").unwrap();
        web.depends_on.insert("db".into(), dep());
        p.services
            .get_mut("db")
            .unwrap()
            .depends_on
            .insert("cache".into(), dep());
        assert_eq!(selected(&p, &["web".into()], false), ["cache", "db", "web"]);
        assert_eq!(selected(&p, &["web".into()], true), ["web"]);
        assert_eq!(selected(&p, &[], false).len(), 4);
    }

    #[test]
    fn scale_options() {
        let m = parse_scale(&["web=3".into(), "db=0".into()]).unwrap();
        assert_eq!(m["web"], 3);
        assert_eq!(m["db"], 0);
        assert!(parse_scale(&["web".into()]).is_err());
        assert!(parse_scale(&["web=x".into()]).is_err());
    }
}
