//! `docker build` (the classic `/build` endpoint): a Dockerfile and a context become an image
//! (docs/adr-0007-build.md).
//!
//! Each instruction is a step on the previous image. Metadata instructions only change the
//! config; `RUN` runs in a real container (the same isolation as `docker run`) whose write layer
//! becomes the step's layer; `COPY`/`ADD` copy into a fresh directory that becomes the layer.
//! Expensive steps are cached by the parent image, the instruction and the *content* of what
//! they read. Builds are reproducible by default: every timestamp (image, history, file
//! mtimes in new layers) is clamped to `SOURCE_DATE_EPOCH` (a build arg or the daemon's
//! environment), 0 when unset, so the same Dockerfile and context give the same digest.

pub mod copy;
mod events;
mod fetch;
mod git;
pub mod secrets;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bollard_stubs::models::{ContainerCreateBody, HostConfig};
use redb::{ReadableTable, TableDefinition};
use serde_json::json;
use wharf_build::dockerfile::{self, Instruction, Kind, ShellOrExec};
use wharf_build::shell::Lex;
use wharf_image::config::{ContainerConfig, Empty, Healthcheck};
use wharf_image::StepOptions;
use wharf_types::{Digest, ErrorKind, Reference};

use crate::api::stream::{self, Progress};
use crate::api::ApiError;
use crate::state::Daemon;

const CACHE: TableDefinition<&str, &str> = TableDefinition::new("build_cache");

/// What `POST /build` asks for.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    pub dockerfile: String,
    pub tags: Vec<Reference>,
    pub build_args: HashMap<String, Option<String>>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// `--pull`: fetch every base image again, even if one is here.
    pub pull: bool,
    pub labels: BTreeMap<String, String>,
    pub quiet: bool,
    pub network_mode: Option<String>,
    /// `wharfprogress=1` (only wharf's CLI asks): structured step events as `aux` messages
    /// instead of the classic `Step N/M` decorations, RUN output tagged with its step, and
    /// parallel stages streamed live (see [`events`]).
    pub events: bool,
    /// `X-Wharf-Build-Secrets`: for `RUN --mount=type=secret` only.
    pub secrets: secrets::Secrets,
    /// `X-Wharf-Build-Ssh`: agent sockets for `RUN --mount=type=ssh`.
    pub ssh: HashMap<String, PathBuf>,
}

fn invalid(m: impl Into<String>) -> ApiError {
    ApiError::invalid(m)
}

fn internal(m: impl std::fmt::Display) -> ApiError {
    ApiError::internal(m.to_string())
}

/// A root filesystem view of an image: a read-only overlay of its snapshots (unmounted and
/// removed on drop).
struct View {
    path: PathBuf,
    mounted: bool,
}

impl Drop for View {
    fn drop(&mut self) {
        if self.mounted {
            let _ = rustix::mount::unmount(&self.path, rustix::mount::UnmountFlags::DETACH);
        }
        let _ = std::fs::remove_dir(&self.path);
        let _ = std::fs::remove_dir(self.path.with_extension("empty"));
    }
}

fn view(d: &Daemon, image: Option<&Digest>, at: PathBuf) -> Result<View, ApiError> {
    std::fs::create_dir_all(&at).map_err(internal)?;
    let mut v = View {
        path: at,
        mounted: false,
    };
    let Some(id) = image else { return Ok(v) };
    let layers = d.images.layer_dirs(id)?;
    if layers.is_empty() {
        return Ok(v);
    }
    let empty = v.path.with_extension("empty");
    std::fs::create_dir_all(&empty).map_err(internal)?;
    let mut lower: Vec<String> = layers.iter().map(|p| p.display().to_string()).collect();
    lower.push(empty.display().to_string());
    let data = std::ffi::CString::new(format!("lowerdir={}", lower.join(":")))
        .map_err(|e| internal(format!("layer path: {e}")))?;
    rustix::mount::mount(
        "overlay",
        &v.path,
        "overlay",
        rustix::mount::MountFlags::RDONLY,
        Some(data.as_c_str()),
    )
    .map_err(|e| internal(format!("failed to mount the image's layers: {e}")))?;
    v.mounted = true;
    Ok(v)
}

/// One stage's state while it builds.
struct Stage {
    image: Option<Digest>,
    config: ContainerConfig,
    /// ARGs in scope: name → value.
    args: Vec<(String, Option<String>)>,
    cmd_set: bool,
}

impl Stage {
    fn env(&self) -> Vec<String> {
        self.config.env.clone().unwrap_or_default()
    }
    fn lookup(&self, name: &str) -> Option<String> {
        for e in self.env().iter().rev() {
            if let Some((k, v)) = e.split_once('=') {
                if k == name {
                    return Some(v.to_string());
                }
            }
        }
        self.args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone())
    }
    fn shell(&self) -> Vec<String> {
        self.config
            .shell
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }
    fn set_env(&mut self, k: &str, v: &str) {
        let mut env = self.env();
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(a, _)| a) != k);
        env.push(format!("{k}={v}"));
        self.config.env = Some(env);
    }
    fn workdir(&self) -> String {
        self.config
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into())
    }
}

/// The whole build. `ctx` is the unpacked context; returns the final image.
pub async fn build(
    d: Arc<Daemon>,
    ctx: PathBuf,
    work: PathBuf,
    opts: BuildOptions,
    out: Progress,
) -> Result<Digest, ApiError> {
    let say = |s: String| {
        let out = out.clone();
        let quiet = opts.quiet;
        async move {
            if !quiet {
                out.send_async(json!({ "stream": s })).await;
            }
        }
    };
    // The classic decorations, replaced by events for wharf's CLI.
    let say_classic = |s: String| {
        let out = out.clone();
        let quiet = opts.quiet || opts.events;
        async move {
            if !quiet {
                out.send_async(json!({ "stream": s })).await;
            }
        }
    };
    let df_rel = copy::clean_rel(&opts.dockerfile).ok_or_else(|| {
        invalid(format!(
            "Cannot locate specified Dockerfile: {}",
            opts.dockerfile
        ))
    })?;
    let not_found = || {
        invalid(format!(
            "Cannot locate specified Dockerfile: {}",
            opts.dockerfile
        ))
    };
    // Never read through a context symlink: a host file's text would come back in the parse
    // error.
    let df_path = copy::resolve_no_symlinks(&ctx, &df_rel)
        .map_err(|_| not_found())?
        .ok_or_else(not_found)?;
    let text = match std::fs::symlink_metadata(&df_path) {
        Ok(m) if m.is_file() => std::fs::read_to_string(&df_path).map_err(internal)?,
        _ => return Err(not_found()),
    };
    let df = dockerfile::parse(&text).map_err(|e| match e {
        dockerfile::ParseError::Empty => invalid(format!(
            "the Dockerfile ({}) cannot be empty",
            opts.dockerfile
        )),
        e => invalid(e.to_string()),
    })?;
    let lex = df.lex();
    let epoch: i64 = opts
        .build_args
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .flatten()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let created = time::OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());

    // Global ARGs (before the first FROM), overridden by --build-arg.
    let mut meta: Vec<(String, Option<String>)> = Vec::new();
    for a in &df.meta_args {
        let lookup = |n: &str| {
            meta.iter()
                .rev()
                .find(|(k, _)| k == n)
                .and_then(|(_, v)| v.clone())
        };
        let default = match &a.value {
            Some(v) => Some(
                lex.process_word(v, &lookup)
                    .map_err(|e| invalid(e.to_string()))?,
            ),
            None => None,
        };
        let v = opts.build_args.get(&a.key).cloned().flatten().or(default);
        meta.push((a.key.clone(), v));
    }
    let meta_lookup = |n: &str| {
        meta.iter()
            .rev()
            .find(|(k, _)| k == n)
            .and_then(|(_, v)| v.clone())
    };

    // Stage names and bases; which stages the target needs.
    let mut bases = Vec::new();
    for s in &df.stages {
        bases.push(
            lex.process_word(&s.base, &meta_lookup)
                .map_err(|e| invalid(e.to_string()))?,
        );
    }
    let stage_index = |name: &str, before: usize| -> Option<usize> {
        let lname = name.to_ascii_lowercase();
        df.stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(lname.as_str()))
            .or_else(|| name.parse::<usize>().ok().filter(|i| *i < before))
    };
    let target = match &opts.target {
        Some(t) if !t.is_empty() => df
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(t.to_ascii_lowercase().as_str()))
            .ok_or_else(|| invalid(format!("failed to reach build target {t} in Dockerfile")))?,
        _ => df.stages.len().saturating_sub(1),
    };
    let mut needed = HashSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if !needed.insert(i) {
            continue;
        }
        if let Some(j) = stage_index(&bases[i], i) {
            todo.push(j);
        }
        for ins in &df.stages[i].instructions {
            if let Kind::Copy { from: Some(f), .. } = &ins.kind {
                if let Some(j) = stage_index(f, i) {
                    todo.push(j);
                }
            }
            if let Kind::Run { mounts, .. } = &ins.kind {
                todo.extend(
                    mounts
                        .iter()
                        .filter_map(|m| m.from.as_deref())
                        .filter_map(|f| stage_index(f, i)),
                );
            }
        }
    }
    // Stages run in waves: every needed stage whose dependencies are built runs now, at the
    // same time as the others of its wave. The first of a wave streams its output; the others'
    // is held and printed after it, so the log reads as if they ran in order.
    let order: Vec<usize> = (0..=target).filter(|i| needed.contains(i)).collect();
    let total: usize = order
        .iter()
        .map(|i| df.stages[*i].instructions.len() + 1)
        .sum();
    let mut first_step = HashMap::new();
    let mut n = 0;
    for &i in &order {
        first_step.insert(i, n + 1);
        n += df.stages[i].instructions.len() + 1;
    }
    let deps: HashMap<usize, Vec<usize>> = order
        .iter()
        .map(|&i| {
            let mut v: Vec<usize> = stage_index(&bases[i], i).into_iter().collect();
            for ins in &df.stages[i].instructions {
                if let Kind::Copy { from: Some(f), .. } = &ins.kind {
                    v.extend(stage_index(f, i));
                }
                if let Kind::Run { mounts, .. } = &ins.kind {
                    v.extend(
                        mounts
                            .iter()
                            .filter_map(|m| m.from.as_deref())
                            .filter_map(|f| stage_index(f, i)),
                    );
                }
            }
            (i, v)
        })
        .collect();
    let shared = Shared {
        d: &d,
        ctx: &ctx,
        work: &work,
        opts: &opts,
        lex: &lex,
        df: &df,
        bases: &bases,
        created: &created,
        epoch,
        meta: &meta,
        total,
        stages: order.len(),
    };
    let mut results: Vec<Option<Option<Digest>>> = vec![None; df.stages.len()];
    let mut configs: HashMap<usize, ContainerConfig> = HashMap::new();
    let mut used_args: HashSet<String> = HashSet::new();
    let mut done: HashSet<usize> = HashSet::new();
    while done.len() < order.len() {
        let wave: Vec<usize> = order
            .iter()
            .copied()
            .filter(|i| !done.contains(i) && deps[i].iter().all(|j| done.contains(j)))
            .collect();
        if wave.is_empty() {
            return Err(invalid("circular dependency between build stages"));
        }
        let mut held = Vec::new();
        let mut futs = Vec::new();
        for (k, &si) in wave.iter().enumerate() {
            // wharf's CLI shows parallel stages live: nothing is held back.
            let p = if k == 0 || opts.events {
                out.clone()
            } else {
                let (p, mut rx) = stream::channel();
                held.push(tokio::spawn(async move {
                    let mut v = Vec::new();
                    while let Some(m) = rx.recv().await {
                        if let stream::Msg::Json(j) = m {
                            v.push(j);
                        }
                    }
                    v
                }));
                p
            };
            let (sh, res) = (&shared, &results);
            let first = first_step[&si];
            futs.push(async move {
                let r = run_stage(sh, si, first, res, &p).await;
                drop(p);
                (si, r)
            });
        }
        let outcomes = futures_util::future::join_all(futs).await;
        for h in held {
            for v in h.await.unwrap_or_default() {
                out.send_async(v).await;
            }
        }
        for (si, r) in outcomes {
            let (image, config, used) = r?;
            results[si] = Some(image);
            configs.insert(si, config);
            used_args.extend(used);
            done.insert(si);
        }
    }
    let mut image = results[target].clone().flatten();
    if !opts.labels.is_empty() {
        let mut cfg = configs.remove(&target).unwrap_or_default();
        let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
        for (k, v) in &opts.labels {
            labels.insert(k.clone(), v.clone());
        }
        image = Some(d.images.build_step(
            image.as_ref(),
            None,
            &StepOptions {
                config: cfg,
                created_by: "LABEL".into(),
                created: created.clone(),
                comment: String::new(),
            },
        )?);
    }
    let Some(id) = image else {
        return Err(invalid("No image was generated. Is your Dockerfile empty?"));
    };
    let mut unused: Vec<&str> = opts
        .build_args
        .keys()
        .filter(|k| !used_args.contains(*k) && k.as_str() != "SOURCE_DATE_EPOCH")
        .filter(|k| !meta.iter().any(|(m, _)| m == *k))
        .map(String::as_str)
        .collect();
    if !unused.is_empty() {
        unused.sort();
        say(format!(
            "[Warning] One or more build-args [{}] were not consumed\n",
            unused.join(" ")
        ))
        .await;
    }
    out.send_async(json!({"aux": {"ID": id.to_string()}})).await;
    say_classic(format!("Successfully built {}\n", &id.hex()[..12])).await;
    for t in &opts.tags {
        d.images.tag(id.as_str(), t)?;
        say_classic(format!("Successfully tagged {}\n", t.familiar_string())).await;
    }
    Ok(id)
}

/// What every stage of one build shares.
struct Shared<'a> {
    d: &'a Arc<Daemon>,
    ctx: &'a Path,
    work: &'a Path,
    opts: &'a BuildOptions,
    lex: &'a Lex,
    df: &'a dockerfile::Dockerfile,
    bases: &'a [String],
    created: &'a str,
    epoch: i64,
    meta: &'a [(String, Option<String>)],
    total: usize,
    /// How many stages run.
    stages: usize,
}

/// Builds stage `si` (its steps numbered from `first`); returns its image, its final config
/// and the build args it used.
async fn run_stage(
    sh: &Shared<'_>,
    si: usize,
    first: usize,
    results: &[Option<Option<Digest>>],
    out: &Progress,
) -> Result<(Option<Digest>, ContainerConfig, HashSet<String>), ApiError> {
    let (d, df, total) = (sh.d, sh.df, sh.total);
    let events = sh.opts.events && !sh.opts.quiet;
    let say = |s: String| async move {
        if !sh.opts.quiet && !sh.opts.events {
            out.send_async(json!({ "stream": s })).await;
        }
    };
    let s = &df.stages[si];
    let mut step = first;
    let base = &sh.bases[si];
    let mut line = format!("Step {step}/{total} : FROM {base}");
    if let Some(n) = &s.name {
        line.push_str(&format!(" AS {n}"));
    }
    say(format!("{line}\n")).await;
    let stage_name = s.name.clone().unwrap_or_else(|| format!("stage-{si}"));
    let count = s.instructions.len() + 1;
    let event = |step: usize, ev: serde_json::Value| {
        let mut ev = ev;
        ev["step"] = json!(step);
        if ev["event"] == "start" {
            ev["stage"] = json!(stage_name);
            ev["stages"] = json!(sh.stages);
            ev["index"] = json!(step - first + 1);
            ev["count"] = json!(count);
            ev["total"] = json!(total);
        }
        async move {
            if events {
                events::send(out, ev).await;
            }
        }
    };
    let from_started = std::time::Instant::now();
    event(
        step,
        json!({"event": "start", "text": line.split_once(" : ").map_or("", |x| x.1)}),
    )
    .await;
    let lname = base.to_ascii_lowercase();
    let from_stage = df.stages[..si]
        .iter()
        .position(|x| x.name.as_deref() == Some(lname.as_str()))
        .or_else(|| base.parse::<usize>().ok().filter(|i| *i < si));
    let image = if let Some(j) = from_stage {
        results[j].clone().flatten()
    } else if base == "scratch" {
        None
    } else {
        match d.images.resolve(base) {
            Ok(img) if !sh.opts.pull => Some(img.id),
            _ => {
                // A missing base image is pulled, as docker's builder does (every base with
                // `--pull`).
                let r = wharf_types::Reference::parse_normalized(base)?;
                crate::pull::pull(d.clone(), r, None, None, out.clone()).await?;
                Some(d.images.resolve(base)?.id)
            }
        }
    };
    let config = match &image {
        Some(id) => {
            let bytes = d.images.config_bytes(id)?;
            let f: wharf_image::ImageConfigFile =
                serde_json::from_slice(&bytes).map_err(internal)?;
            f.config.unwrap_or_default()
        }
        None => ContainerConfig {
            env: Some(vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ]),
            ..Default::default()
        },
    };
    if let Some(id) = &image {
        say(format!(" ---> {}\n", &id.hex()[..12])).await;
    }
    event(step, events::done(false, from_started)).await;
    let mut config = config;
    let triggers = config.on_build.take().unwrap_or_default();
    let mut st = Stage {
        image,
        config,
        args: Vec::new(),
        cmd_set: false,
    };
    let mut used_args = HashSet::new();
    // ONBUILD triggers of the base image run first, in this build's context (the image made
    // here does not carry them on).
    if !triggers.is_empty() && !sh.opts.quiet {
        out.send_async(json!({"stream": format!(
            "# Executing {} build trigger{}\n",
            triggers.len(),
            if triggers.len() == 1 { "" } else { "s" }
        )}))
        .await;
    }
    let mut trigger_steps = Vec::new();
    for t in &triggers {
        let parsed = dockerfile::parse(&format!("FROM scratch\n{t}\n"))
            .map_err(|e| invalid(format!("invalid ONBUILD trigger {t:?}: {e}")))?;
        trigger_steps.extend(parsed.stages.into_iter().flat_map(|s| s.instructions));
    }
    let steps = trigger_steps
        .iter()
        .map(|i| (i, true))
        .chain(s.instructions.iter().map(|i| (i, false)));
    for (ins, trigger) in steps {
        if !trigger {
            step += 1;
            say(format!("Step {step}/{total} : {}\n", ins.original)).await;
            event(step, json!({"event": "start", "text": ins.original})).await;
        }
        let started = std::time::Instant::now();
        let (p, fwd) = if events {
            events::tagged(out, (!trigger).then_some(step))
        } else {
            (out.clone(), None)
        };
        let r = run_step(
            d,
            sh.ctx,
            sh.work,
            sh.opts,
            sh.lex,
            &mut st,
            ins,
            results,
            df,
            si,
            sh.created,
            sh.epoch,
            &p,
            &mut used_args,
            sh.meta,
        )
        .await;
        drop(p);
        if let Some(f) = fwd {
            let _ = f.await;
        }
        let (cached, new) = r?;
        if !trigger {
            event(step, events::done(cached, started)).await;
        }
        if trigger {
            st.image = new;
            continue;
        }
        if cached {
            say(" ---> Using cache\n".into()).await;
        }
        st.image = new;
        if let Some(id) = &st.image {
            say(format!(" ---> {}\n", &id.hex()[..12])).await;
        }
    }
    Ok((st.image, st.config, used_args))
}

fn cache_get(d: &Daemon, key: &str) -> Option<Digest> {
    let tx = d.db.begin_read().ok()?;
    let t = tx.open_table(CACHE).ok()?;
    let v = t.get(key).ok()??;
    let id: Digest = v.value().parse().ok()?;
    d.images.get(&id).ok().map(|_| id)
}

fn cache_put(d: &Daemon, key: &str, id: &Digest) {
    let put = || -> Result<(), String> {
        let tx = d.db.begin_write().map_err(|e| e.to_string())?;
        {
            let mut t = tx.open_table(CACHE).map_err(|e| e.to_string())?;
            t.insert(key, id.as_str()).map_err(|e| e.to_string())?;
        }
        tx.commit().map_err(|e| e.to_string())
    };
    if let Err(e) = put() {
        tracing::warn!(error = %e, "build cache not recorded");
    }
}

/// Forgets every cached step (`POST /build/prune`); returns how many.
pub fn prune_cache(d: &Daemon) -> Result<usize, ApiError> {
    let tx = d.db.begin_write().map_err(internal)?;
    let n;
    {
        let mut t = tx.open_table(CACHE).map_err(internal)?;
        let keys: Vec<String> = t
            .iter()
            .map_err(internal)?
            .filter_map(|r| r.ok().map(|(k, _)| k.value().to_string()))
            .collect();
        n = keys.len();
        for k in keys {
            t.remove(k.as_str()).map_err(internal)?;
        }
    }
    tx.commit().map_err(internal)?;
    let _ = crate::container::remove_dir_all_no_follow(&d.data_root.join("build-cache-mounts"));
    Ok(n)
}

fn key_of(parts: &[&str]) -> String {
    let mut h = wharf_types::Digester::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(&[0]);
    }
    h.finish().hex().to_string()
}

fn nop(ins: &Instruction) -> String {
    format!("/bin/sh -c #(nop)  {}", ins.original)
}

/// Runs one instruction; returns (from cache, the new image).
#[allow(clippy::too_many_arguments)]
async fn run_step(
    d: &Arc<Daemon>,
    ctx: &Path,
    work: &Path,
    opts: &BuildOptions,
    lex: &Lex,
    st: &mut Stage,
    ins: &Instruction,
    results: &[Option<Option<Digest>>],
    df: &dockerfile::Dockerfile,
    si: usize,
    created: &str,
    epoch: i64,
    out: &Progress,
    used_args: &mut HashSet<String>,
    meta: &[(String, Option<String>)],
) -> Result<(bool, Option<Digest>), ApiError> {
    let kind = {
        let lookup = |n: &str| st.lookup(n);
        ins.kind
            .expand(lex, &lookup)
            .map_err(|e| invalid(e.to_string()))?
    };
    let step_opts = |st: &Stage, by: String| StepOptions {
        config: st.config.clone(),
        created_by: by,
        created: created.to_string(),
        comment: String::new(),
    };
    let meta_step = |st: &Stage| -> Result<(bool, Option<Digest>), ApiError> {
        Ok((
            false,
            Some(
                d.images
                    .build_step(st.image.as_ref(), None, &step_opts(st, nop(ins)))?,
            ),
        ))
    };
    match kind {
        Kind::Env(pairs) => {
            for (k, v) in pairs {
                st.set_env(&k, &v);
            }
            meta_step(st)
        }
        Kind::Arg(list) => {
            for a in list {
                used_args.insert(a.key.clone());
                let v = opts
                    .build_args
                    .get(&a.key)
                    .cloned()
                    .flatten()
                    .or(a.value.clone())
                    .or_else(|| {
                        meta.iter()
                            .rev()
                            .find(|(k, _)| *k == a.key)
                            .and_then(|(_, v)| v.clone())
                    });
                st.args.push((a.key, v));
            }
            meta_step(st)
        }
        Kind::Label(pairs) => {
            let l = st.config.labels.get_or_insert_with(BTreeMap::new);
            for (k, v) in pairs {
                l.insert(k, v);
            }
            meta_step(st)
        }
        Kind::Maintainer(_) => meta_step(st),
        Kind::User(u) => {
            st.config.user = Some(u);
            meta_step(st)
        }
        Kind::StopSignal(s) => {
            st.config.stop_signal = Some(s);
            meta_step(st)
        }
        Kind::Shell(s) => {
            st.config.shell = Some(s);
            meta_step(st)
        }
        Kind::Expose(ports) => {
            let m = st.config.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in ports {
                let p = if p.contains('/') {
                    p
                } else {
                    format!("{p}/tcp")
                };
                m.insert(p, Empty::default());
            }
            meta_step(st)
        }
        Kind::Volume(vols) => {
            let m = st.config.volumes.get_or_insert_with(BTreeMap::new);
            for v in vols {
                m.insert(v, Empty::default());
            }
            meta_step(st)
        }
        Kind::Cmd(c) => {
            st.config.cmd = Some(argv_of(st, c));
            st.cmd_set = true;
            meta_step(st)
        }
        Kind::Entrypoint(c) => {
            st.config.entrypoint = Some(argv_of(st, c));
            if !st.cmd_set {
                st.config.cmd = None;
            }
            meta_step(st)
        }
        Kind::Healthcheck(h) => {
            st.config.healthcheck = Some(match h {
                None => Healthcheck {
                    test: Some(vec!["NONE".into()]),
                    ..Default::default()
                },
                Some(h) => Healthcheck {
                    test: Some(h.test),
                    interval: h.interval.map(|v| v as i64),
                    timeout: h.timeout.map(|v| v as i64),
                    start_period: h.start_period.map(|v| v as i64),
                    start_interval: h.start_interval.map(|v| v as i64),
                    retries: h.retries.map(i64::from),
                    ..Default::default()
                },
            });
            meta_step(st)
        }
        Kind::OnBuild(inner) => {
            let ob = st.config.on_build.get_or_insert_with(Vec::new);
            ob.push(inner.original.clone());
            meta_step(st)
        }
        Kind::Workdir(w) => {
            let abs = if w.starts_with('/') {
                w
            } else {
                format!("{}/{}", st.workdir().trim_end_matches('/'), w)
            };
            st.config.working_dir = Some(abs.clone());
            // The directory exists in the image from here on (docker creates it).
            let rel = copy::clean_rel(&abs).unwrap_or_default();
            let v = view(d, st.image.as_ref(), work.join("wd-view"))?;
            if rel.as_os_str().is_empty() || v.path.join(&rel).is_dir() {
                drop(v);
                return meta_step(st);
            }
            let stage_dir = fresh(work, "wd")?;
            copy::make_parents(&stage_dir, &v.path, &rel).map_err(internal)?;
            drop(v);
            let id = layer_step(d, st, &stage_dir, epoch, step_opts(st, nop(ins)))?;
            Ok((false, Some(id)))
        }
        Kind::Run {
            cmd,
            network,
            heredocs,
            mounts,
            ..
        } => {
            let mut argv = match cmd {
                ShellOrExec::Exec(a) => a,
                ShellOrExec::Shell(s) => {
                    let mut script = s;
                    for h in &heredocs {
                        let body = h.data();
                        script.push('\n');
                        script.push_str(&body);
                        if !body.ends_with('\n') {
                            script.push('\n');
                        }
                        script.push_str(&h.name);
                    }
                    let mut a = st.shell();
                    a.push(script);
                    a
                }
            };
            if argv.is_empty() {
                return Err(invalid("RUN requires at least one argument"));
            }
            // Build args in scope are the command's environment (not the image's).
            let mut env = st.env();
            for (k, v) in &st.args {
                if let Some(v) = v {
                    if !env
                        .iter()
                        .any(|e| e.split_once('=').map(|(a, _)| a) == Some(k.as_str()))
                    {
                        env.push(format!("{k}={v}"));
                    }
                }
            }
            let parent = st.image.clone().ok_or_else(|| {
                invalid("failed to run: a scratch stage has no shell; COPY a root filesystem first")
            })?;
            let created_by = argv.join(" ");
            let secret_dir =
                SecretDir(work.join(format!("secrets-{}", &wharf_types::id::random_id()[..8])));
            let (extra, views, mount_key, sec) = run_mounts(
                d,
                ctx,
                work,
                st,
                &mounts,
                df,
                si,
                results,
                opts,
                &secret_dir.0,
            )?;
            let key = key_of(&[
                "run",
                parent.as_str(),
                &serde_json::to_string(&argv).unwrap_or_default(),
                &env.join("\n"),
                network.as_deref().unwrap_or(""),
                &mount_key,
            ]);
            if !opts.no_cache {
                if let Some(id) = cache_get(d, &key) {
                    return Ok((true, Some(id)));
                }
            }
            let net = network
                .or_else(|| opts.network_mode.clone())
                .filter(|n| !n.is_empty() && n != "default");
            // After the cache key: secrets are never part of it.
            env.extend(sec.env);
            let id = run_container(
                d,
                st,
                &parent,
                std::mem::take(&mut argv),
                env,
                HostConfig {
                    network_mode: net,
                    ..extra
                },
                epoch,
                out,
                opts.quiet,
                created,
                &created_by,
                &sec.stubs,
            )
            .await;
            drop(views);
            drop(secret_dir);
            let id = id?;
            cache_put(d, &key, &id);
            Ok((false, Some(id)))
        }
        Kind::Copy {
            srcs,
            dest,
            from,
            chown,
            chmod,
            heredocs,
            ..
        } => {
            copy_step(
                d, ctx, work, st, ins, srcs, dest, from, chown, chmod, heredocs, None, results, df,
                si, opts, epoch, created,
            )
            .await
        }
        Kind::Add {
            srcs,
            dest,
            chown,
            chmod,
            heredocs,
            keep_git_dir,
            ..
        } => {
            copy_step(
                d,
                ctx,
                work,
                st,
                ins,
                srcs,
                dest,
                None,
                chown,
                chmod,
                heredocs,
                Some(keep_git_dir),
                results,
                df,
                si,
                opts,
                epoch,
                created,
            )
            .await
        }
    }
}

/// `--from=NAME`: an earlier stage (by name or index) or an image.
fn stage_or_image(
    d: &Daemon,
    f: &str,
    df: &dockerfile::Dockerfile,
    si: usize,
    results: &[Option<Option<Digest>>],
) -> Result<Option<Digest>, ApiError> {
    let lf = f.to_ascii_lowercase();
    let idx = df.stages[..si]
        .iter()
        .position(|s| s.name.as_deref() == Some(lf.as_str()))
        .or_else(|| f.parse::<usize>().ok().filter(|i| *i < si));
    Ok(match idx {
        Some(i) => results[i].clone().flatten(),
        None => Some(
            d.images
                .resolve(f)
                .map_err(|_| {
                    invalid(format!(
                        "invalid from flag value {f}: no stage or image of that name"
                    ))
                })?
                .id,
        ),
    })
}

/// `RUN --mount`: cache dirs that persist across builds (by id, default the target), binds of
/// the context or of another stage (read-only unless `rw`; their content is part of the cache
/// key), tmpfs. None of it lands in the step's layer. Returns the container's extra host
/// config, the stage views to keep mounted while the step runs, and the cache-key part.
#[allow(clippy::too_many_arguments)]
fn run_mounts(
    d: &Daemon,
    ctx: &Path,
    work: &Path,
    st: &Stage,
    mounts: &[dockerfile::RunMount],
    df: &dockerfile::Dockerfile,
    si: usize,
    results: &[Option<Option<Digest>>],
    opts: &BuildOptions,
    secret_dir: &Path,
) -> Result<(HostConfig, Vec<View>, String, secrets::Mounted), ApiError> {
    let mut sec = secrets::Mounted::default();
    let mut views = Vec::new();
    let mut binds = Vec::new();
    let mut tmpfs = HashMap::new();
    let mut key = String::new();
    for m in mounts {
        match m.kind.as_str() {
            // Not in the cache key beyond the instruction's text (as BuildKit).
            "secret" => {
                secrets::secret(m, &opts.secrets, secret_dir, &mut sec)?;
                continue;
            }
            "ssh" => {
                secrets::ssh(m, &opts.ssh, &mut sec)?;
                continue;
            }
            _ => {}
        }
        let target = if m.target.starts_with('/') {
            m.target.clone()
        } else {
            format!("{}/{}", st.workdir().trim_end_matches('/'), m.target)
        };
        if copy::clean_rel(&target).is_none_or(|r| r.as_os_str().is_empty()) {
            return Err(invalid(format!("invalid mount target {:?}", m.target)));
        }
        match m.kind.as_str() {
            "cache" => {
                let id = m.id.clone().unwrap_or_else(|| target.clone());
                let dir = d.data_root.join("build-cache-mounts").join(key_of(&[&id]));
                std::fs::create_dir_all(&dir).map_err(internal)?;
                binds.push(format!("{}:{}", dir.display(), target));
                key.push_str(&format!("cache:{id}:{target};"));
            }
            "tmpfs" => {
                let size = m
                    .option("size")
                    .map(|s| format!("size={s}"))
                    .unwrap_or_default();
                tmpfs.insert(target.clone(), size);
                key.push_str(&format!("tmpfs:{target};"));
            }
            "bind" => {
                let root = match &m.from {
                    None => ctx.to_path_buf(),
                    Some(f) => {
                        let img = stage_or_image(d, f, df, si, results)?;
                        let v = view(
                            d,
                            img.as_ref(),
                            work.join(format!("bind-{}", &wharf_types::id::random_id()[..8])),
                        )?;
                        let p = v.path.clone();
                        views.push(v);
                        p
                    }
                };
                let src = m.source.clone().unwrap_or_default();
                let rel = copy::clean_rel(&src).ok_or_else(|| {
                    invalid(format!("forbidden path outside the build context: {src}"))
                })?;
                let host = match copy::resolve_no_symlinks(&root, &rel) {
                    Ok(Some(h)) => h,
                    Ok(None) => return Err(invalid(format!("failed to mount {src}: not found"))),
                    Err(e) => return Err(invalid(format!("failed to mount {src}: {e}"))),
                };
                let content = copy::hash_sources(&root, &[rel]).map_err(internal)?;
                binds.push(format!(
                    "{}:{}:{}",
                    host.display(),
                    target,
                    if m.readonly { "ro" } else { "rw" }
                ));
                key.push_str(&format!("bind:{src}:{target}:{}:{content};", m.readonly));
            }
            other => return Err(invalid(format!("unsupported mount type {other:?}"))),
        }
    }
    binds.append(&mut sec.binds);
    let hc = HostConfig {
        binds: (!binds.is_empty()).then_some(binds),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        ..Default::default()
    };
    Ok((hc, views, key, sec))
}

/// A step's secret files, removed when the step ends.
struct SecretDir(PathBuf);

impl Drop for SecretDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn argv_of(st: &Stage, c: ShellOrExec) -> Vec<String> {
    match c {
        ShellOrExec::Exec(a) => a,
        ShellOrExec::Shell(s) => {
            let mut a = st.shell();
            a.push(s);
            a
        }
    }
}

/// A new empty directory under the build's work dir.
fn fresh(work: &Path, what: &str) -> Result<PathBuf, ApiError> {
    let p = work.join(format!("{what}-{}", &wharf_types::id::random_id()[..12]));
    std::fs::create_dir_all(&p).map_err(internal)?;
    Ok(p)
}

/// `dir`'s tree (a fresh layer dir or a container's overlay upper) as a layer on `parent`,
/// mtimes clamped to `epoch`.
fn pack_layer(
    d: &Daemon,
    parent: Option<&Digest>,
    dir: &Path,
    scratch: &Path,
    epoch: i64,
    o: &StepOptions,
) -> Result<Digest, ApiError> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(scratch)
        .map_err(internal)?;
    let _ = std::fs::remove_file(scratch);
    let mut f = crate::container::changes::layer_tar_clamped(dir, f, Some(epoch.max(0) as u64))
        .map_err(|e| internal(format!("failed to pack the layer: {e}")))?;
    use std::io::Seek;
    f.rewind().map_err(internal)?;
    Ok(d.images.build_step(parent, Some(&mut f), o)?)
}

/// `dir`'s tree as a layer on the stage's image; `dir` is removed.
fn layer_step(
    d: &Daemon,
    st: &Stage,
    dir: &Path,
    epoch: i64,
    o: StepOptions,
) -> Result<Digest, ApiError> {
    let id = pack_layer(
        d,
        st.image.as_ref(),
        dir,
        &dir.with_extension("tar"),
        epoch,
        &o,
    );
    let _ = crate::container::remove_dir_all_no_follow(dir);
    id
}

/// RUN: a container from the parent image runs `argv`; its write layer is the step's layer.
#[allow(clippy::too_many_arguments)]
async fn run_container(
    d: &Arc<Daemon>,
    st: &Stage,
    parent: &Digest,
    argv: Vec<String>,
    env: Vec<String>,
    host_config: HostConfig,
    epoch: i64,
    out: &Progress,
    quiet: bool,
    created: &str,
    created_by: &str,
    stubs: &[String],
) -> Result<Digest, ApiError> {
    let body = ContainerCreateBody {
        image: Some(parent.to_string()),
        cmd: Some(argv.clone()),
        entrypoint: Some(Vec::new()),
        env: Some(env),
        working_dir: Some(st.workdir()),
        user: st.config.user.clone(),
        host_config: Some(host_config),
        ..Default::default()
    };
    let dd = d.clone();
    let c = crate::api::blocking(move || {
        let mut c = crate::container::create::build(&dd, None, body)?;
        // The image's VOLUMEs are not volumes during a build; RUN --mount binds and tmpfs are.
        c.config.volumes = None;
        let (mounts, _) = crate::container::mounts::resolve(&dd, &c.config, &c.host_config)?;
        c.mounts = mounts;
        let dir = dd.container_dir(&c.id);
        std::fs::create_dir_all(&dir).map_err(internal)?;
        crate::container::create::insert(&dd, &mut c, true)?;
        Ok(c)
    })
    .await?;
    let result = run_and_commit(
        d, st, &c.id, parent, epoch, out, quiet, created, created_by, &argv, stubs,
    )
    .await;
    let _ = d.remove_container(&c.id, true, true).await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn run_and_commit(
    d: &Arc<Daemon>,
    st: &Stage,
    id: &str,
    parent: &Digest,
    epoch: i64,
    out: &Progress,
    quiet: bool,
    created: &str,
    created_by: &str,
    argv: &[String],
    stubs: &[String],
) -> Result<Digest, ApiError> {
    use tokio::io::AsyncReadExt;
    if !quiet {
        out.send_async(json!({"stream": format!(" ---> Running in {}\n", &id[..12])}))
            .await;
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    d.pending.push(
        id,
        crate::container::PendingAttach {
            stdin: false,
            stdout: true,
            stderr: true,
            tx,
        },
    );
    let mut state = d.containers.subscribe(id)?;
    let pump = {
        let out = out.clone();
        tokio::spawn(async move {
            let Ok(Ok(mut s)) = rx.await else { return };
            let mut hdr = [0u8; 8];
            loop {
                if s.read_exact(&mut hdr).await.is_err() {
                    break;
                }
                let n = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
                let mut buf = vec![0u8; n];
                if s.read_exact(&mut buf).await.is_err() {
                    break;
                }
                if !quiet {
                    out.send_async(json!({"stream": String::from_utf8_lossy(&buf)}))
                        .await;
                }
            }
        })
    };
    d.start_container(id).await?;
    let _ = state
        .wait_for(|s| !s.status.is_live() && s.status != crate::container::store::Status::Created)
        .await;
    let _ = pump.await;
    let c = d.containers.resolve(id)?;
    if c.state.exit_code != 0 {
        let shown = if argv.len() >= 3 && argv[1] == "-c" {
            format!("{} {} {}", argv[0], argv[1], argv[2..].join(" "))
        } else {
            serde_json::to_string(argv).unwrap_or_default()
        };
        return Err(ApiError::new(
            ErrorKind::Internal,
            format!(
                "The command '{shown}' returned a non-zero code: {}",
                c.state.exit_code
            ),
        ));
    }
    let dd = d.clone();
    let upper = d.container_dir(id).join("upper");
    let o = StepOptions {
        config: st.config.clone(),
        created_by: created_by.to_string(),
        created: created.to_string(),
        comment: String::new(),
    };
    let parent = parent.clone();
    let dir = d.container_dir(id);
    let stubs = stubs.to_vec();
    crate::api::blocking(move || {
        secrets::drop_stubs(&upper, &stubs);
        pack_layer(
            &dd,
            Some(&parent),
            &upper,
            &dir.join("layer.tar"),
            epoch,
            &o,
        )
    })
    .await
}

/// COPY / ADD.
#[allow(clippy::too_many_arguments)]
async fn copy_step(
    d: &Arc<Daemon>,
    ctx: &Path,
    work: &Path,
    st: &Stage,
    ins: &Instruction,
    srcs: Vec<String>,
    dest: String,
    from: Option<String>,
    chown: Option<String>,
    chmod: Option<String>,
    heredocs: Vec<dockerfile::Heredoc>,
    // ADD: `Some(--keep-git-dir)`; COPY: `None`.
    add_keep_git: Option<bool>,
    results: &[Option<Option<Digest>>],
    df: &dockerfile::Dockerfile,
    si: usize,
    opts: &BuildOptions,
    epoch: i64,
    created: &str,
) -> Result<(bool, Option<Digest>), ApiError> {
    // Where the sources are.
    let from_image: Option<Option<Digest>> = match &from {
        None => None,
        Some(f) => Some(stage_or_image(d, f, df, si, results)?),
    };
    let src_view = match &from_image {
        Some(img) => Some(view(
            d,
            img.as_ref(),
            work.join(format!("from-{}", &wharf_types::id::random_id()[..8])),
        )?),
        None => None,
    };
    let root: PathBuf = src_view
        .as_ref()
        .map(|v| v.path.clone())
        .unwrap_or_else(|| ctx.to_path_buf());
    // Heredoc sources are files of their own.
    let hd_dir = fresh(work, "heredoc")?;
    let mut rels = Vec::new();
    let mut hd_rels = Vec::new();
    for h in &heredocs {
        let lookup = |n: &str| st.lookup(n);
        let data = h
            .expanded_data(&lookup)
            .map_err(|e| invalid(e.to_string()))?;
        let p = hd_dir.join(&h.name);
        std::fs::write(&p, data).map_err(internal)?;
        hd_rels.push(PathBuf::from(&h.name));
    }
    let add = add_keep_git.is_some();
    // ADD <git repository>: resolved to a commit now (the cache key), fetched on a miss.
    let mut gits = Vec::new();
    for s in &srcs {
        if let Some(g) = git::parse(s) {
            if !add {
                return Err(invalid(format!(
                    "COPY cannot copy from a git repository ({s}); use ADD"
                )));
            }
            let commit = git::resolve(&g).await.map_err(invalid)?;
            gits.push((g, commit));
        }
    }
    let is_git = |s: &str| git::parse(s).is_some();
    // ADD <url>: downloaded into the work dir, never unpacked (as docker).
    let mut url_rels = Vec::new();
    for u in srcs.iter().filter(|s| is_url(s) && !is_git(s)) {
        if !add {
            return Err(invalid(format!(
                "COPY cannot copy from a URL ({u}); use ADD"
            )));
        }
        let name = fetch::file_name(u);
        let dl = fresh(work, "download")?;
        fetch::download(u, &dl.join(&name)).await.map_err(invalid)?;
        url_rels.push((dl, PathBuf::from(name), u.clone()));
    }
    let heredoc_names: HashSet<String> = heredocs.iter().map(|h| format!("<<{}", h.name)).collect();
    for s in &srcs {
        if heredoc_names.contains(s) || s.starts_with("<<") || is_url(s) || is_git(s) {
            continue;
        }
        rels.extend(copy::expand_source(&root, s).map_err(invalid)?);
    }
    let content = format!(
        "{}{}{}{}",
        copy::hash_sources(&root, &rels).map_err(internal)?,
        copy::hash_sources(&hd_dir, &hd_rels).map_err(internal)?,
        url_rels
            .iter()
            .map(|(dir, name, u)| Ok(format!(
                "{u}={}",
                copy::hash_sources(dir, std::slice::from_ref(name))?
            )))
            .collect::<std::io::Result<Vec<String>>>()
            .map_err(internal)?
            .join(","),
        gits.iter()
            .map(|(g, c)| format!(
                "git:{}#{}:{}@{c}:{}",
                g.url,
                g.reference,
                g.subdir,
                add_keep_git == Some(true)
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    let cleanup_downloads = || {
        for (dir, _, _) in &url_rels {
            let _ = crate::container::remove_dir_all_no_follow(dir);
        }
    };
    let parent = st.image.as_ref().map(Digest::as_str).unwrap_or("scratch");
    let from_id = from_image
        .as_ref()
        .map(|i| i.as_ref().map(Digest::as_str).unwrap_or("scratch"))
        .unwrap_or("context");
    let key = key_of(&[
        "copy",
        parent,
        &ins.original,
        &dest,
        chown.as_deref().unwrap_or(""),
        chmod.as_deref().unwrap_or(""),
        from_id,
        &content,
        if add { "add" } else { "copy" },
    ]);
    if !opts.no_cache {
        if let Some(id) = cache_get(d, &key) {
            let _ = crate::container::remove_dir_all_no_follow(&hd_dir);
            cleanup_downloads();
            return Ok((true, Some(id)));
        }
    }
    let pview = view(
        d,
        st.image.as_ref(),
        work.join(format!("parent-{}", &wharf_types::id::random_id()[..8])),
    )?;
    let owner = {
        let mut o = copy::Owner::default();
        if let Some(c) = chown.as_deref().filter(|c| !c.is_empty()) {
            let u = wharf_runtime::user::resolve(&pview.path, c).map_err(|e| {
                invalid(format!(
                    "unable to convert uid/gid chown string to host mapping: {e}"
                ))
            })?;
            o.uid = Some(u.uid);
            o.gid = Some(u.gid);
        }
        if let Some(m) = chmod.as_deref().filter(|c| !c.is_empty()) {
            o.mode = Some(
                u32::from_str_radix(m, 8)
                    .map_err(|_| invalid(format!("invalid chmod parameter: {m}")))?,
            );
        }
        o
    };
    let abs = if dest.starts_with('/') {
        dest.clone()
    } else {
        format!("{}/{}", st.workdir().trim_end_matches('/'), dest)
    };
    let dest_rel = copy::clean_rel(&abs).unwrap_or_default();
    // The repositories, checked out.
    let mut git_dirs = Vec::new();
    let mut git_rels = Vec::new();
    for (g, commit) in &gits {
        let dir = work.join(format!("git-{}", &wharf_types::id::random_id()[..8]));
        let r = git::checkout(g, commit, &dir, add_keep_git == Some(true)).await;
        git_dirs.push(dir.clone());
        if let Err(e) = r {
            for d in &git_dirs {
                let _ = crate::container::remove_dir_all_no_follow(d);
            }
            return Err(invalid(e));
        }
        let rel = if g.subdir.is_empty() {
            PathBuf::from(".")
        } else {
            let rel = copy::clean_rel(&g.subdir).ok_or_else(|| {
                invalid(format!("ADD {}: invalid subdirectory {}", g.url, g.subdir))
            })?;
            // Never through a symlink of the repository (it could point at the host).
            match copy::resolve_no_symlinks(&dir, &rel) {
                Ok(Some(p)) if p.is_dir() => rel,
                _ => {
                    for d in &git_dirs {
                        let _ = crate::container::remove_dir_all_no_follow(d);
                    }
                    return Err(invalid(format!(
                        "ADD {}: {} is not a directory of the repository at {commit}",
                        g.url, g.subdir
                    )));
                }
            }
        };
        git_rels.push((dir, rel));
    }
    let all_count = rels.len() + hd_rels.len() + url_rels.len() + git_rels.len();
    let dest_is_dir =
        abs.ends_with('/') || dest == "." || all_count > 1 || pview.path.join(&dest_rel).is_dir();
    if all_count > 1 && !abs.ends_with('/') && !pview.path.join(&dest_rel).is_dir() {
        return Err(invalid(format!(
            "When using {} with more than one source file, the destination must be a directory and end with a /",
            if add { "ADD" } else { "COPY" }
        )));
    }
    let stage_dir = fresh(work, "copy")?;
    let place = |src_root: &Path, rel: &Path, unpack: bool| -> Result<(), ApiError> {
        let src = src_root.join(rel);
        let md = std::fs::symlink_metadata(&src).map_err(internal)?;
        if md.is_dir() {
            copy::make_parents(&stage_dir, &pview.path, &dest_rel).map_err(internal)?;
            let target = stage_dir.join(&dest_rel);
            for e in std::fs::read_dir(&src).map_err(internal)?.flatten() {
                let t = target.join(e.file_name());
                if std::fs::symlink_metadata(&t).is_ok() {
                    let _ = crate::container::remove_dir_all_no_follow(&t);
                    let _ = std::fs::remove_file(&t);
                }
                copy::copy_tree(&e.path(), &t, owner).map_err(internal)?;
            }
            return Ok(());
        }
        if unpack && add && md.is_file() && is_archive(&src) {
            copy::make_parents(&stage_dir, &pview.path, &dest_rel).map_err(internal)?;
            return extract_archive(&src, &stage_dir.join(&dest_rel));
        }
        let target_rel = if dest_is_dir {
            dest_rel.join(rel.file_name().unwrap_or_default())
        } else {
            dest_rel.clone()
        };
        if let Some(p) = target_rel.parent() {
            copy::make_parents(&stage_dir, &pview.path, p).map_err(internal)?;
        }
        let t = stage_dir.join(&target_rel);
        let _ = std::fs::remove_file(&t);
        copy::copy_tree(&src, &t, owner).map_err(internal)
    };
    let run = (|| -> Result<(), ApiError> {
        for r in &rels {
            place(&root, r, true)?;
        }
        for r in &hd_rels {
            place(&hd_dir, r, false)?;
        }
        for (dir, name, _) in &url_rels {
            place(dir, name, false)?;
        }
        for (dir, rel) in &git_rels {
            place(dir, rel, false)?;
        }
        Ok(())
    })();
    drop(pview);
    drop(src_view);
    let _ = crate::container::remove_dir_all_no_follow(&hd_dir);
    cleanup_downloads();
    for d in &git_dirs {
        let _ = crate::container::remove_dir_all_no_follow(d);
    }
    if let Err(e) = run {
        let _ = crate::container::remove_dir_all_no_follow(&stage_dir);
        return Err(e);
    }
    let by = format!(
        "/bin/sh -c #(nop) {} {}:{} in {}",
        if add { "ADD" } else { "COPY" },
        if rels.len() + hd_rels.len() == 1 {
            "file"
        } else {
            "multi"
        },
        &content[..16.min(content.len())],
        abs
    );
    let o = StepOptions {
        config: st.config.clone(),
        created_by: by,
        created: created.to_string(),
        comment: String::new(),
    };
    let dd = d.clone();
    let st_image = st.image.clone();
    let id = crate::api::blocking(move || {
        let stg = Stage {
            image: st_image,
            config: ContainerConfig::default(),
            args: Vec::new(),
            cmd_set: false,
        };
        layer_step(&dd, &stg, &stage_dir, epoch, o)
    })
    .await?;
    cache_put(d, &key, &id);
    Ok((false, Some(id)))
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn is_archive(p: &Path) -> bool {
    let Ok(f) = std::fs::File::open(p) else {
        return false;
    };
    let mut r = std::io::BufReader::new(f);
    match wharf_image::detect(&mut r) {
        Ok(wharf_image::Compression::Gzip) | Ok(wharf_image::Compression::Zstd) => true,
        Ok(wharf_image::Compression::None) => {
            let mut head = [0u8; 262];
            use std::io::Read;
            r.read_exact(&mut head).is_ok() && &head[257..262] == b"ustar"
        }
        Err(_) => false,
    }
}

/// ADD of a local archive: its entries under `dest`, never outside it.
fn extract_archive(src: &Path, dest: &Path) -> Result<(), ApiError> {
    std::fs::create_dir_all(dest).map_err(internal)?;
    let f = std::fs::File::open(src).map_err(internal)?;
    let r = wharf_image::decompressed(std::io::BufReader::new(f))?;
    let mut a = tar::Archive::new(r);
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(true);
    a.set_overwrite(true);
    for e in a.entries().map_err(internal)? {
        let mut e = e.map_err(internal)?;
        // `unpack_in` refuses entries that would land outside `dest` (`..`, absolute).
        e.unpack_in(dest).map_err(|err| {
            let cause = std::error::Error::source(&err)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            invalid(format!("failed to extract {}: {err}{cause}", src.display()))
        })?;
    }
    Ok(())
}
