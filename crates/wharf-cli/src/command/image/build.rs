//! `wharf build` / `wharf image build` / `wharf builder build`: docker's legacy (classic
//! builder) `docker build`, from docker/cli's `cli/command/image/build.go`.
//!
//! The context (a directory, or `-` for stdin; see [`super::build_context`]) is streamed as the
//! tar body of `POST /build?…` (`Content-Type: application/x-tar`), with the flags in docker's
//! query parameters (keys in `url.Values` order, i.e. sorted). The answer is a JSON message
//! stream: `stream` text is printed as-is, `aux.ID` is the built image, and an `error` ends
//! the command with the daemon's message and exit status 1 (or the failed `RUN`'s status when
//! the daemon gives it as `errorDetail.code`, as docker does). `-q` holds the output back and
//! prints only the image ID. Nothing is printed before the daemon answers; an HTTP error
//! before the stream is "Error response from daemon: …".

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

use http_body_util::BodyExt;
use hyper::Method;
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::build_context::{self, DirContext, DockerfileSource};
use super::build_progress::{Plain, Tty};
use crate::client::stream::{drain_messages, render_message};
use crate::client::{query, Body};
use crate::command::container::opts::{parse_ulimit, ram_in_bytes};
use crate::command::network::create::parse_go_bool;
use crate::command::Ctx;
use crate::error::{go_io_message, CliError};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Add a custom host-to-IP mapping ("host:ip")
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "list", value_parser = validate_build_arg)]
    pub build_arg: Vec<String>,
    /// Images to consider as cache sources
    #[arg(long = "cache-from", value_name = "strings", value_delimiter = ',')]
    pub cache_from: Vec<String>,
    /// Set the parent cgroup for the "RUN" instructions during build
    #[arg(
        long = "cgroup-parent",
        value_name = "string",
        default_value = "",
        hide_default_value = true
    )]
    pub cgroup_parent: String,
    /// Compress the build context using gzip
    #[arg(long = "compress")]
    pub compress: bool,
    /// Limit the CPU CFS (Completely Fair Scheduler) period
    #[arg(
        long = "cpu-period",
        value_name = "int",
        default_value_t = 0,
        hide_default_value = true
    )]
    pub cpu_period: i64,
    /// Limit the CPU CFS (Completely Fair Scheduler) quota
    #[arg(
        long = "cpu-quota",
        value_name = "int",
        default_value_t = 0,
        hide_default_value = true
    )]
    pub cpu_quota: i64,
    /// CPU shares (relative weight)
    #[arg(
        short = 'c',
        long = "cpu-shares",
        value_name = "int",
        default_value_t = 0
    )]
    pub cpu_shares: i64,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(
        long = "cpuset-cpus",
        value_name = "string",
        default_value = "",
        hide_default_value = true
    )]
    pub cpuset_cpus: String,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(
        long = "cpuset-mems",
        value_name = "string",
        default_value = "",
        hide_default_value = true
    )]
    pub cpuset_mems: String,
    /// Skip image verification
    #[arg(long = "disable-content-trust", value_name = "bool", num_args = 0..=1,
          require_equals = true, default_value = "true", default_missing_value = "true",
          value_parser = parse_go_bool)]
    pub disable_content_trust: bool,
    /// Name of the Dockerfile (Default is "PATH/Dockerfile")
    #[arg(short = 'f', long = "file", value_name = "string")]
    pub file: Option<String>,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Write the image ID to the file
    #[arg(long = "iidfile", value_name = "string")]
    pub iidfile: Option<String>,
    /// Container isolation technology
    #[arg(
        long = "isolation",
        value_name = "string",
        default_value = "",
        hide_default_value = true
    )]
    pub isolation: String,
    /// Set metadata for an image
    #[arg(long = "label", value_name = "list", value_parser = validate_label)]
    pub label: Vec<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_name = "bytes", value_parser = ram_in_bytes)]
    pub memory: Option<i64>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", value_parser = parse_mem_swap)]
    pub memory_swap: Option<i64>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long = "network", value_name = "string", default_value = "default")]
    pub network: String,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    /// Set type of progress output ("auto", "plain", "tty", "quiet", "rawjson")
    #[arg(long = "progress", value_name = "string", default_value = "auto",
          hide_possible_values = true,
          value_parser = ["auto", "plain", "tty", "quiet", "rawjson"])]
    pub progress: String,
    /// Always attempt to pull a newer version of the image
    #[arg(long = "pull")]
    pub pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Remove intermediate containers after a successful build
    #[arg(long = "rm", value_name = "bool", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_parser = parse_go_bool)]
    pub rm: bool,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]" or
    /// "id=mysecret,env=VAR")
    #[arg(long = "secret", value_name = "stringArray")]
    pub secret: Vec<String>,
    /// Security options
    #[arg(long = "security-opt", value_name = "strings", value_delimiter = ',')]
    pub security_opt: Vec<String>,
    /// Size of "/dev/shm"
    #[arg(long = "shm-size", value_name = "bytes", value_parser = ram_in_bytes)]
    pub shm_size: Option<i64>,
    /// SSH agent socket to expose to the build (format: "default|<id>[=<socket>]"; local
    /// daemon only)
    #[arg(long = "ssh", value_name = "stringArray")]
    pub ssh: Vec<String>,
    /// Squash newly built layers into a single new layer
    #[arg(long = "squash")]
    pub squash: bool,
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag", value_name = "list", value_parser = validate_tag)]
    pub tag: Vec<String>,
    /// Set the target build stage to build.
    #[arg(
        long = "target",
        value_name = "string",
        default_value = "",
        hide_default_value = true
    )]
    pub target: String,
    /// Ulimit options
    #[arg(long = "ulimit", value_name = "ulimit")]
    pub ulimit: Vec<String>,
    #[arg(value_name = "PATH | URL | -")]
    pub context: String,
}

/// `-t`: docker's `validateTag` (`reference.ParseNormalizedNamed`).
fn validate_tag(s: &str) -> Result<String, String> {
    crate::reference::validate_named(s).map(|()| s.to_string())
}

/// `--label`: docker's `opts.ValidateLabel`.
fn validate_label(s: &str) -> Result<String, String> {
    const WS: [char; 6] = [' ', '\t', '\n', '\u{b}', '\u{c}', '\r'];
    let key = s.split_once('=').map(|(k, _)| k).unwrap_or(s);
    let key = key.trim_start_matches(WS);
    if key.is_empty() {
        return Err(format!("invalid label '{s}': empty name"));
    }
    if key.contains(WS) {
        return Err(format!("label '{key}' contains whitespaces"));
    }
    Ok(s.to_string())
}

/// `--build-arg`: the syntax half of docker's `opts.ValidateEnv` (the environment lookup for a
/// bare `KEY` is [`build_args`]).
fn validate_build_arg(s: &str) -> Result<String, String> {
    let key = s.split_once('=').map(|(k, _)| k).unwrap_or(s);
    if key.is_empty() {
        return Err(format!("invalid environment variable: {s}"));
    }
    Ok(s.to_string())
}

/// `--memory-swap`: go-units `RAMInBytes`, or `-1` for unlimited (docker's `MemSwapBytes`).
fn parse_mem_swap(s: &str) -> Result<i64, String> {
    if s == "-1" {
        return Ok(-1);
    }
    ram_in_bytes(s)
}

/// The `buildargs` map: `KEY=VALUE` as given; a bare `KEY` takes our environment's value, or
/// is sent as `null` (the daemon then uses the Dockerfile's default), as docker does
/// (`ValidateEnv` then `ConvertKVStringsToMapWithNil`).
pub fn build_args(
    items: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> BTreeMap<String, Option<String>> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (s.clone(), env(s)),
        })
        .collect()
}

/// The `labels` map (`ConvertKVStringsToMap`: a bare `KEY` maps to "").
pub fn labels(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (s.clone(), String::new()),
        })
        .collect()
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The query of `POST /build`, as docker's client encodes `ImageBuildOptions` for the legacy
/// builder (`version=1`): every parameter docker sends, keys sorted as Go's `url.Values` does.
/// `dockerfile` is the Dockerfile's path inside the context tar.
pub fn build_query(
    args: &Args,
    dockerfile: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, CliError> {
    let flag = |b: bool| if b { "1" } else { "0" }.to_string();
    let mut q: Vec<(&str, String)> = vec![
        ("buildargs", to_json(&build_args(&args.build_arg, env))),
        ("cachefrom", to_json(&args.cache_from)),
        ("cgroupparent", args.cgroup_parent.clone()),
        ("cpuperiod", args.cpu_period.to_string()),
        ("cpuquota", args.cpu_quota.to_string()),
        ("cpusetcpus", args.cpuset_cpus.clone()),
        ("cpusetmems", args.cpuset_mems.clone()),
        ("cpushares", args.cpu_shares.to_string()),
        ("dockerfile", dockerfile.to_string()),
    ];
    q.extend(args.add_host.iter().map(|h| ("extrahosts", h.clone())));
    if args.force_rm {
        q.push(("forcerm", flag(true)));
    }
    if !args.isolation.is_empty() && args.isolation != "default" {
        q.push(("isolation", args.isolation.clone()));
    }
    q.push(("labels", to_json(&labels(&args.label))));
    q.push(("memory", args.memory.unwrap_or(0).to_string()));
    q.push(("memswap", args.memory_swap.unwrap_or(0).to_string()));
    q.push(("networkmode", args.network.clone()));
    if args.no_cache {
        q.push(("nocache", flag(true)));
    }
    let platform = args
        .platform
        .clone()
        .or_else(|| env("DOCKER_DEFAULT_PLATFORM"))
        .unwrap_or_default();
    if !platform.is_empty() {
        q.push(("platform", platform.to_lowercase()));
    }
    if args.pull {
        q.push(("pull", flag(true)));
    }
    if args.quiet {
        q.push(("q", flag(true)));
    }
    q.push(("rm", flag(args.rm)));
    q.extend(args.security_opt.iter().map(|s| ("securityopt", s.clone())));
    q.push(("shmsize", args.shm_size.unwrap_or(0).to_string()));
    if args.squash {
        q.push(("squash", flag(true)));
    }
    q.extend(args.tag.iter().map(|t| ("t", t.clone())));
    q.push(("target", args.target.clone()));
    let ulimits = args
        .ulimit
        .iter()
        .map(|u| parse_ulimit(u))
        .collect::<Result<Vec<Value>, _>>()?;
    q.push((
        "ulimits",
        if ulimits.is_empty() {
            "null".to_string()
        } else {
            to_json(&ulimits)
        },
    ));
    q.push(("version", "1".to_string()));
    Ok(query(&q))
}

/// docker's `jsonmessage` error of a build: the message, and the exit status (the
/// `errorDetail.code` the daemon set for a failed `RUN`, else 1).
pub(super) fn build_error(msg: &Value) -> Option<CliError> {
    let detail = msg.get("errorDetail");
    let message = detail
        .and_then(|d| d.get("message"))
        .and_then(Value::as_str)
        .or_else(|| msg.get("error").and_then(Value::as_str))?;
    let code = detail
        .and_then(|d| d.get("code"))
        .and_then(Value::as_i64)
        .filter(|c| *c != 0)
        .unwrap_or(1);
    Some(CliError::Status {
        code: code as i32,
        message: message.to_string(),
    })
}

/// Renders the build's message stream as docker's legacy builder does.
pub struct Renderer {
    quiet: bool,
    tty: bool,
    held: Vec<u8>,
    image_id: String,
}

impl Renderer {
    pub fn new(quiet: bool, tty: bool) -> Renderer {
        Renderer {
            quiet,
            tty,
            held: Vec::new(),
            image_id: String::new(),
        }
    }

    /// One message: printed to `out` (held back with `-q`), `aux` remembered. An error ends
    /// the build; with `-q` what was held back goes to `err` first, as docker does.
    pub fn message(
        &mut self,
        msg: &Value,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<(), CliError> {
        if let Some(e) = build_error(msg) {
            if self.quiet {
                err.write_all(&self.held)?;
            }
            return Err(e);
        }
        if let Some(aux) = msg.get("aux") {
            if let Some(id) = aux.get("ID").and_then(Value::as_str) {
                self.image_id = id.to_string();
            }
            return Ok(());
        }
        if self.quiet {
            render_message(msg, &mut self.held, self.tty)
        } else {
            render_message(msg, out, self.tty)?;
            out.flush()?;
            Ok(())
        }
    }

    /// After the stream: with `-q`, prints the image ID, the `aux` one (with docker's daemon the
    /// held-back text is that same ID; it is printed instead when no `aux` came). Returns the
    /// image ID for `--iidfile`.
    pub fn finish(self, out: &mut dyn Write) -> Result<String, CliError> {
        if !self.quiet {
            return Ok(self.image_id);
        }
        if !self.image_id.is_empty() {
            writeln!(out, "{}", self.image_id)?;
            return Ok(self.image_id);
        }
        out.write_all(&self.held)?;
        Ok(String::from_utf8_lossy(&self.held).trim_end().to_string())
    }
}

/// Reads up to `n` bytes (fewer only at the end of the input).
async fn read_head(
    r: &mut (impl tokio::io::AsyncRead + Unpin),
    n: usize,
) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut head).await?;
    Ok(head)
}

/// A context given as a URL or a git repository (which docker fetches itself).
fn is_remote(c: &str) -> bool {
    ["http://", "https://", "git://", "git@", "github.com/"]
        .iter()
        .any(|p| c.starts_with(p))
}

/// Whether a build of `df` reads the context only through its own instructions: every base
/// that is an image is here and has no ONBUILD triggers (which could COPY from the context).
async fn bases_have_no_triggers(
    client: &crate::client::Client,
    df: &wharf_build::dockerfile::Dockerfile,
) -> bool {
    for (i, st) in df.stages.iter().enumerate() {
        let base = st.base.to_ascii_lowercase();
        if base.contains('$') {
            return false;
        }
        let is_stage = df.stages[..i]
            .iter()
            .any(|s| s.name.as_deref() == Some(base.as_str()))
            || base.parse::<usize>().is_ok_and(|n| n < i);
        if is_stage || base == "scratch" {
            continue;
        }
        let path = format!(
            "/images/{}/json",
            url::form_urlencoded::byte_serialize(st.base.as_bytes()).collect::<String>()
        );
        match client.get_json::<Value>(&path).await {
            Ok(v) => {
                if v["Config"]["OnBuild"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
                {
                    return false;
                }
            }
            Err(_) => return false, // to be pulled: its triggers are unknown
        }
    }
    true
}

/// The request body and the `dockerfile` parameter for the given context.
async fn prepare_body(
    args: &Args,
    client: &crate::client::Client,
) -> Result<(Body, String), CliError> {
    let prep = |m: &str| CliError::msg(format!("unable to prepare context: {m}"));
    let file = args.file.clone().filter(|f| !f.is_empty());
    if args.context == "-" {
        let mut stdin = tokio::io::stdin();
        let head = read_head(&mut stdin, 1024).await?;
        if build_context::is_archive(&head) {
            let body = std::io::Cursor::new(head).chain(stdin);
            return Ok((
                Body::Reader(Box::pin(body), "application/x-tar"),
                file.unwrap_or_default(),
            ));
        }
        if file.is_some() {
            return Err(prep(
                "ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles",
            ));
        }
        let mut content = head;
        stdin.read_to_end(&mut content).await?;
        let tar = build_context::wrap_dockerfile(&content)?;
        return Ok((
            Body::Bytes(tar.into(), "application/x-tar"),
            build_context::DEFAULT_DOCKERFILE.to_string(),
        ));
    }
    if std::fs::metadata(&args.context).is_err() && is_remote(&args.context) {
        return Err(prep(&format!(
            "remote build contexts (URLs and git repositories) are not supported: {}",
            args.context
        )));
    }
    let source = match file.as_deref() {
        None => DockerfileSource::Default,
        Some("-") => {
            let mut content = Vec::new();
            tokio::io::stdin().read_to_end(&mut content).await?;
            DockerfileSource::Stdin(content)
        }
        Some(f) => DockerfileSource::File(f.to_string()),
    };
    let context = args.context.clone();
    let mut dir = tokio::task::spawn_blocking(move || DirContext::prepare(&context, source))
        .await
        .map_err(|e| CliError::msg(e.to_string()))??;
    // Only what the Dockerfile reads is sent, when that can be told (docs/adr-0007-build.md).
    if let Some(df) = dir
        .dockerfile_text()
        .and_then(|t| wharf_build::dockerfile::parse(&t).ok())
    {
        if let Some(paths) = build_context::needed_paths(&df) {
            if bases_have_no_triggers(client, &df).await {
                dir.keep_only(&paths);
            }
        }
    }
    let dockerfile = dir.dockerfile().to_string();
    Ok((
        Body::Reader(Box::pin(dir.stream()), "application/x-tar"),
        dockerfile,
    ))
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let env = |k: &str| std::env::var(k).ok();
    let tty = std::io::stdout().is_terminal();
    // Not locked: the terminal view draws from indicatif's ticker thread too.
    let mut out = std::io::stdout();
    execute(ctx, args, &env, tty, &mut out, &mut std::io::stderr()).await
}

/// `--secret id=ID[,src=PATH|,env=VAR][,type=file|env]` (buildx's syntax): the secrets by id.
/// Without `src` or `env`, the environment variable named ID if set, else the file ID.
pub fn read_secrets(
    items: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, Vec<u8>>, CliError> {
    let mut out = BTreeMap::new();
    for item in items {
        let bad = |m: &str| CliError::msg(format!("invalid secret {item:?}: {m}"));
        let (mut id, mut src, mut var, mut kind) = (None, None, None, None);
        for field in item.split(',') {
            let (k, v) = field
                .split_once('=')
                .ok_or_else(|| bad(&format!("{field:?} is not key=value")))?;
            match k.to_ascii_lowercase().as_str() {
                "id" => id = Some(v.to_string()),
                "src" | "source" => src = Some(v.to_string()),
                "env" => var = Some(v.to_string()),
                "type" if v == "file" || v == "env" => kind = Some(v.to_string()),
                _ => return Err(bad(&format!("unexpected key {k:?}"))),
            }
        }
        let id = id
            .or_else(|| src.clone())
            .or_else(|| var.clone())
            .filter(|i| !i.is_empty())
            .ok_or_else(|| bad("an id is required"))?;
        if kind.as_deref() == Some("env") && var.is_none() {
            var = Some(src.take().unwrap_or_else(|| id.clone()));
        }
        let value = match (src, var) {
            (Some(p), _) => std::fs::read(&p).map_err(|e| {
                CliError::msg(format!(
                    "failed to read secret {id:?}: {}",
                    go_io_message("open", &p, &e)
                ))
            })?,
            (None, Some(v)) => env(&v)
                .ok_or_else(|| {
                    CliError::msg(format!(
                        "secret {id:?}: environment variable {v} is not set"
                    ))
                })?
                .into_bytes(),
            (None, None) => match env(&id) {
                Some(v) => v.into_bytes(),
                None => std::fs::read(&id).map_err(|e| {
                    CliError::msg(format!(
                        "failed to read secret {id:?}: {}",
                        go_io_message("open", &id, &e)
                    ))
                })?,
            },
        };
        out.insert(id, value);
    }
    Ok(out)
}

/// `--ssh default|ID[=SOCKET]`: agent sockets by id (`default`, or no socket: `$SSH_AUTH_SOCK`),
/// as absolute paths.
pub fn ssh_agents(
    items: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    for item in items {
        let (id, sock) = match item.split_once('=') {
            Some((i, s)) => (i.to_string(), s.to_string()),
            None => (item.clone(), env("SSH_AUTH_SOCK").unwrap_or_default()),
        };
        if id.is_empty() {
            return Err(CliError::msg(format!(
                "invalid ssh {item:?}: an id is required"
            )));
        }
        if sock.is_empty() {
            return Err(CliError::msg(
                "invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set",
            ));
        }
        if sock.contains(',') {
            return Err(CliError::msg(format!(
                "invalid ssh {item:?}: only one agent socket per id (key files are not supported)"
            )));
        }
        let path = std::fs::canonicalize(&sock).map_err(|e| {
            CliError::msg(format!(
                "ssh agent socket {sock}: {}",
                go_io_message("stat", &sock, &e)
            ))
        })?;
        use std::os::unix::fs::FileTypeExt;
        if !std::fs::metadata(&path).is_ok_and(|m| m.file_type().is_socket()) {
            return Err(CliError::msg(format!(
                "ssh agent socket {sock}: not a unix socket (key files are not supported)"
            )));
        }
        out.insert(id, path.display().to_string());
    }
    Ok(out)
}

/// A map as wharf's build headers carry it: hex of its JSON.
fn hex_json<T: serde::Serialize>(v: &T) -> String {
    to_json(v).bytes().map(|b| format!("{b:02x}")).collect()
}

/// How the build's messages are shown.
enum Display {
    /// docker's classic stream (`-q`, `--progress=quiet`).
    Classic(Renderer),
    Plain(Plain),
    Tty(Tty),
    /// `--progress=rawjson`: every message as the daemon sent it, one a line.
    Raw(String),
}

impl Display {
    /// `--progress`: `auto` is `tty` on a terminal, else `plain`.
    fn choose(args: &Args, tty: bool) -> Result<Display, CliError> {
        let tags = args.tag.clone();
        Ok(match args.progress.as_str() {
            _ if args.quiet => Display::Classic(Renderer::new(true, tty)),
            "quiet" => Display::Classic(Renderer::new(true, tty)),
            "plain" => Display::Plain(Plain::new(tags)),
            "rawjson" => Display::Raw(String::new()),
            "tty" if !tty => return Err(CliError::msg(
                "failed to get console: standard output is not a terminal (use --progress=plain)",
            )),
            "tty" => Display::Tty(Tty::new(tags)),
            _ if tty => Display::Tty(Tty::new(tags)),
            _ => Display::Plain(Plain::new(tags)),
        })
    }

    /// Whether the daemon is asked for step events.
    fn events(&self) -> bool {
        !matches!(self, Display::Classic(_))
    }

    fn message(
        &mut self,
        msg: &Value,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<(), CliError> {
        match self {
            Display::Classic(r) => r.message(msg, out, err),
            Display::Plain(p) => p.message(msg, out),
            Display::Tty(t) => t.message(msg),
            Display::Raw(id) => {
                writeln!(out, "{msg}")?;
                if let Some(i) = msg
                    .get("aux")
                    .and_then(|a| a.get("ID"))
                    .and_then(Value::as_str)
                {
                    *id = i.to_string();
                }
                match build_error(msg) {
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            }
        }
    }

    fn finish(self, out: &mut dyn Write) -> Result<String, CliError> {
        match self {
            Display::Classic(r) => r.finish(out),
            Display::Plain(p) => p.finish(out),
            Display::Tty(t) => t.finish(out),
            Display::Raw(id) => Ok(id),
        }
    }
}

/// The whole command, with its environment and output streams passed in.
pub async fn execute(
    ctx: &Ctx,
    args: Args,
    env: &dyn Fn(&str) -> Option<String>,
    tty: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    if args.file.as_deref() == Some("-") && args.context == "-" {
        return Err(CliError::msg(
            "invalid argument: can't use stdin for both build context and dockerfile",
        ));
    }
    if let Some(f) = &args.iidfile {
        // No stale ID if this build fails.
        if let Err(e) = std::fs::remove_file(f) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(CliError::msg(format!(
                    "Removing image ID file: {}",
                    go_io_message("remove", f, &e)
                )));
            }
        }
    }
    let mut display = Display::choose(&args, tty)?;
    let secrets = read_secrets(&args.secret, env)?;
    let agents = ssh_agents(&args.ssh, env)?;
    let mut client = ctx.client().await?.clone();
    let (body, dockerfile) = prepare_body(&args, &client).await?;
    let mut q = build_query(&args, &dockerfile, env)?;
    if display.events() {
        // wharf's own parameter: step events instead of docker's classic lines (docker's
        // daemon ignores it; see docs/adr-0007-build.md).
        q.push_str("&wharfprogress=1");
    }
    if !secrets.is_empty() {
        // Secrets travel in a header of wharf's own, never in the context (docs/adr-0007).
        let hexed: BTreeMap<&String, String> = secrets
            .iter()
            .map(|(k, v)| (k, v.iter().map(|b| format!("{b:02x}")).collect()))
            .collect();
        client = client.with_header("X-Wharf-Build-Secrets", hex_json(&hexed));
    }
    if !agents.is_empty() {
        // The agent socket is bind-mounted by the daemon: it must run on this host.
        if !matches!(client.host(), crate::client::Host::Unix(_)) {
            return Err(CliError::msg(
                "--ssh needs a local daemon (a unix socket host): the agent socket is mounted from this machine",
            ));
        }
        client = client.with_header("X-Wharf-Build-Ssh", hex_json(&agents));
    }
    let resp = client
        .request(Method::POST, &format!("/build{q}"), body)
        .await?;
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::Protocol(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
            for msg in drain_messages(&mut buf)? {
                display.message(&msg, out, err)?;
            }
        }
    }
    if !buf.iter().all(u8::is_ascii_whitespace) {
        return Err(CliError::Protocol("truncated message stream".into()));
    }
    let image_id = display.finish(out)?;
    out.flush()?;
    if let Some(f) = &args.iidfile {
        if image_id.is_empty() {
            return Err(CliError::msg(format!(
                "Server did not provide an image ID. Cannot write {f}"
            )));
        }
        std::fs::write(f, &image_id).map_err(|e| crate::error::go_io_error("open", f, &e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Args {
        let mut v = vec!["wharf", "build"];
        v.extend_from_slice(args);
        match Cli::try_parse_from(v).unwrap().command {
            Some(Command::Build(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    fn env(k: &str) -> Option<String> {
        match k {
            "FROM_ENV" => Some("from the environment".into()),
            _ => None,
        }
    }

    #[test]
    fn default_query_like_docker() {
        let a = parse(&["."]);
        assert_eq!(
            build_query(&a, "Dockerfile", &env).unwrap(),
            "?buildargs=%7B%7D&cachefrom=%5B%5D&cgroupparent=&cpuperiod=0&cpuquota=0\
             &cpusetcpus=&cpusetmems=&cpushares=0&dockerfile=Dockerfile&labels=%7B%7D\
             &memory=0&memswap=0&networkmode=default&rm=1&shmsize=0&target=&ulimits=null\
             &version=1"
        );
    }

    #[test]
    fn flags_become_docker_query_parameters() {
        let a = parse(&[
            "-t",
            "app:1",
            "--tag",
            "registry.local:5000/team/app",
            "--build-arg",
            "B=2",
            "--build-arg",
            "FROM_ENV",
            "--build-arg",
            "UNSET",
            "--build-arg",
            "A=x=y",
            "--label",
            "org.x=1",
            "--label",
            "bare",
            "--target",
            "final",
            "--no-cache",
            "--pull",
            "-q",
            "--network",
            "host",
            "--platform",
            "Linux/AMD64",
            "--rm=false",
            "--force-rm",
            "--cache-from",
            "a,b",
            "--progress",
            "plain",
            "-m",
            "64m",
            "--ulimit",
            "nofile=10:20",
            "-f",
            "ctx/Dockerfile.dev",
            "ctx",
        ]);
        let q = build_query(&a, "Dockerfile.dev", &env).unwrap();
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&q.as_bytes()[1..])
            .into_owned()
            .collect();
        let get = |k: &str| -> Vec<&str> {
            pairs
                .iter()
                .filter(|(pk, _)| pk == k)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert_eq!(get("t"), ["app:1", "registry.local:5000/team/app"]);
        assert_eq!(
            get("buildargs"),
            [r#"{"A":"x=y","B":"2","FROM_ENV":"from the environment","UNSET":null}"#]
        );
        assert_eq!(get("labels"), [r#"{"bare":"","org.x":"1"}"#]);
        assert_eq!(get("dockerfile"), ["Dockerfile.dev"]);
        assert_eq!(get("target"), ["final"]);
        assert_eq!(get("nocache"), ["1"]);
        assert_eq!(get("pull"), ["1"]);
        assert_eq!(get("q"), ["1"]);
        assert_eq!(get("rm"), ["0"]);
        assert_eq!(get("forcerm"), ["1"]);
        assert_eq!(get("networkmode"), ["host"]);
        assert_eq!(get("platform"), ["linux/amd64"]);
        assert_eq!(get("cachefrom"), [r#"["a","b"]"#]);
        assert_eq!(get("memory"), ["67108864"]);
        assert_eq!(
            get("ulimits"),
            [r#"[{"Hard":20,"Name":"nofile","Soft":10}]"#]
        );
        assert_eq!(get("version"), ["1"]);
        // keys in Go's url.Values order
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(a.file.as_deref(), Some("ctx/Dockerfile.dev"));
        assert_eq!(a.context, "ctx");
    }

    #[test]
    fn build_args_take_bare_keys_from_the_environment() {
        let m = build_args(&["FROM_ENV".into(), "UNSET".into(), "K=".into()], &env);
        assert_eq!(m["FROM_ENV"].as_deref(), Some("from the environment"));
        assert_eq!(m["UNSET"], None);
        assert_eq!(m["K"].as_deref(), Some(""));
        // DOCKER_DEFAULT_PLATFORM is --platform's default
        let a = parse(&["."]);
        let with_platform =
            |k: &str| (k == "DOCKER_DEFAULT_PLATFORM").then(|| "linux/arm64".into());
        assert!(build_query(&a, "Dockerfile", &with_platform)
            .unwrap()
            .contains("&platform=linux%2Farm64&"));
    }

    #[test]
    fn secrets_come_from_files_or_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tok");
        std::fs::write(&f, "from a file").unwrap();
        let env = |k: &str| match k {
            "VAR" => Some("from a variable".to_string()),
            "bare" => Some("bare's variable".to_string()),
            _ => None,
        };
        let items = [
            format!("id=a,src={}", f.display()),
            "id=b,env=VAR".to_string(),
            "id=bare".to_string(),
            "id=c,type=env,src=VAR".to_string(),
        ];
        let m = read_secrets(&items, &env).unwrap();
        assert_eq!(m["a"], b"from a file");
        assert_eq!(m["b"], b"from a variable");
        assert_eq!(m["bare"], b"bare's variable");
        assert_eq!(m["c"], b"from a variable");
        let err = |item: &str| {
            read_secrets(&[item.to_string()], &env)
                .unwrap_err()
                .to_string()
        };
        assert!(err("id=x,env=UNSET").contains("UNSET is not set"));
        assert!(err("src=/nonexistent/x").contains("failed to read secret"));
        assert!(err("id=x,bogus=1").contains("unexpected key"));
        assert!(err("novalue").contains("not key=value"));
        // ssh: a socket, not a key file; default is SSH_AUTH_SOCK
        let sock = dir.path().join("agent");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let with_sock = |k: &str| (k == "SSH_AUTH_SOCK").then(|| sock.display().to_string());
        let a = ssh_agents(&["default".into()], &with_sock).unwrap();
        assert_eq!(
            a["default"],
            sock.canonicalize().unwrap().display().to_string()
        );
        assert!(ssh_agents(&["default".into()], &env)
            .unwrap_err()
            .to_string()
            .contains("SSH_AUTH_SOCK"));
        assert!(ssh_agents(&[format!("k={}", f.display())], &env)
            .unwrap_err()
            .to_string()
            .contains("not a unix socket"));
    }

    #[test]
    fn flag_values_are_validated_like_docker() {
        let err = |args: &[&str]| {
            let mut v = vec!["wharf", "build"];
            v.extend_from_slice(args);
            let e = Cli::try_parse_from(v).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
            std::error::Error::source(&e).unwrap().to_string()
        };
        assert_eq!(
            err(&["-t", "Foo:1", "."]),
            "invalid reference format: repository name (library/Foo) must be lowercase"
        );
        assert_eq!(err(&["-t", "a:b:c", "."]), "invalid reference format");
        assert_eq!(
            err(&["--label", "=x", "."]),
            "invalid label '=x': empty name"
        );
        assert_eq!(
            err(&["--build-arg", "=x", "."]),
            "invalid environment variable: =x"
        );
        // exactly one context argument
        assert!(Cli::try_parse_from(["wharf", "build"]).is_err());
        assert!(Cli::try_parse_from(["wharf", "build", "a", "b"]).is_err());
        // the other spellings of the command
        for v in [
            &["wharf", "image", "build", "-q", "."][..],
            &["wharf", "builder", "build", "."][..],
            &["wharf", "builder", "prune", "-af"][..],
        ] {
            assert!(Cli::try_parse_from(v).is_ok(), "{v:?}");
        }
    }

    /// Feeds a canned message stream through a [`Renderer`]: (stdout, stderr, result, ID).
    fn render(stream: &str, quiet: bool) -> (String, String, Result<String, CliError>) {
        let mut buf = stream.as_bytes().to_vec();
        let msgs = drain_messages(&mut buf).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut r = Renderer::new(quiet, false);
        let mut result = Ok(());
        for m in &msgs {
            result = r.message(m, &mut out, &mut err);
            if result.is_err() {
                break;
            }
        }
        let result = result.and_then(|()| r.finish(&mut out));
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
            result,
        )
    }

    const OK_STREAM: &str = concat!(
        r#"{"stream":"Step 1/2 : FROM busybox\n"}"#,
        "\r\n",
        r#"{"stream":" ---\u003e 1c35c4412082\n"}"#,
        "\r\n",
        r#"{"stream":"Step 2/2 : RUN echo hi\n"}"#,
        r#"{"stream":" ---\u003e Running in 5d1e2f3a4b5c\n"}{"stream":"hi\n"}"#,
        r#"{"aux":{"ID":"sha256:4f1b2c"}}"#,
        r#"{"stream":"Successfully built 4f1b2c\n"}"#,
        r#"{"stream":"Successfully tagged app:latest\n"}"#,
    );

    #[test]
    fn renders_the_stream_as_docker() {
        let (out, err, id) = render(OK_STREAM, false);
        assert_eq!(
            out,
            "Step 1/2 : FROM busybox\n ---> 1c35c4412082\nStep 2/2 : RUN echo hi\n \
             ---> Running in 5d1e2f3a4b5c\nhi\nSuccessfully built 4f1b2c\n\
             Successfully tagged app:latest\n"
        );
        assert_eq!(err, "");
        assert_eq!(id.unwrap(), "sha256:4f1b2c");
        // pull progress inside a build: status lines, bars only on a terminal
        let (out, _, _) = render(
            r#"{"status":"Pulling from library/busybox","id":"latest"}
               {"status":"Downloading","progressDetail":{"current":1,"total":2},"progress":"[=>  ]","id":"a1"}
               {"status":"Pull complete","progressDetail":{},"id":"a1"}"#,
            false,
        );
        assert_eq!(
            out,
            "latest: Pulling from library/busybox\na1: Pull complete\n"
        );
    }

    #[test]
    fn a_failed_step_exits_with_the_daemons_message() {
        let failing = concat!(
            r#"{"stream":"Step 1/1 : RUN false\n"}"#,
            r#"{"errorDetail":{"message":"The command '/bin/sh -c false' returned a non-zero code: 1"},"error":"The command '/bin/sh -c false' returned a non-zero code: 1"}"#,
        );
        let (out, err, res) = render(failing, false);
        assert_eq!(out, "Step 1/1 : RUN false\n");
        assert_eq!(err, "");
        let e = res.unwrap_err();
        assert_eq!(
            e.to_string(),
            "The command '/bin/sh -c false' returned a non-zero code: 1"
        );
        assert_eq!(e.exit_code(), 1);
        // docker's daemon sets the RUN's status as the code; the CLI exits with it
        let (_, _, res) = render(
            r#"{"errorDetail":{"code":3,"message":"The command '/bin/sh -c exit 3' returned a non-zero code: 3"}}"#,
            false,
        );
        assert_eq!(res.unwrap_err().exit_code(), 3);
        // -q: what was held back goes to stderr before the error
        let (out, err, res) = render(failing, true);
        assert_eq!(out, "");
        assert_eq!(err, "Step 1/1 : RUN false\n");
        assert_eq!(res.unwrap_err().exit_code(), 1);
    }

    #[test]
    fn quiet_prints_only_the_image_id() {
        // even from a daemon that does not hold its output back for q=1
        let (out, err, id) = render(OK_STREAM, true);
        assert_eq!(out, "sha256:4f1b2c\n");
        assert_eq!(err, "");
        assert_eq!(id.unwrap(), "sha256:4f1b2c");
        // docker's daemon with q=1: aux, then the ID as the only stream text: printed once
        let (out, _, id) = render(
            r#"{"aux":{"ID":"sha256:4f1b2c"}}{"stream":"sha256:4f1b2c\n"}"#,
            true,
        );
        assert_eq!(out, "sha256:4f1b2c\n");
        assert_eq!(id.unwrap(), "sha256:4f1b2c");
        // no aux at all: what the daemon sent
        let (out, _, id) = render(r#"{"stream":"sha256:4f1b2c\n"}"#, true);
        assert_eq!(out, "sha256:4f1b2c\n");
        assert_eq!(id.unwrap(), "sha256:4f1b2c");
    }

    /// One request as the fake daemon saw it: the head, and the body (de-chunked).
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

    /// Reads a chunked request body after the head.
    async fn read_chunked(s: &mut tokio::net::UnixStream, mut buf: Vec<u8>) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let mut body = Vec::new();
        loop {
            while !buf.windows(2).any(|w| w == b"\r\n") {
                let mut chunk = [0u8; 65536];
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0, "body ended early");
                buf.extend_from_slice(&chunk[..n]);
            }
            let eol = buf.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&buf[..eol]).unwrap(), 16).unwrap();
            while buf.len() < eol + 2 + size + 2 {
                let mut chunk = [0u8; 65536];
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0, "body ended early");
                buf.extend_from_slice(&chunk[..n]);
            }
            body.extend_from_slice(&buf[eol + 2..eol + 2 + size]);
            buf.drain(..eol + 2 + size + 2);
            if size == 0 {
                return body;
            }
        }
    }

    /// A daemon answering `/_ping`, and `/build` with `status` and `answer` once the whole
    /// context has arrived.
    async fn fake_daemon(
        listener: tokio::net::UnixListener,
        seen: Seen,
        status: &'static str,
        answer: &'static str,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let mut chunk = [0u8; 4096];
                let n = s.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let rest = buf[end..].to_vec();
            let (st, ct, body) = if head.starts_with("HEAD /_ping") {
                ("200 OK", "text/plain", String::new())
            } else {
                let chunked = head.to_lowercase().contains("transfer-encoding: chunked");
                let body = if chunked {
                    read_chunked(&mut s, rest).await
                } else {
                    rest
                };
                seen.lock().unwrap().push((head.clone(), body));
                let ct = if status.starts_with("200") {
                    "application/json"
                } else {
                    "application/json; charset=utf-8"
                };
                (status, ct, answer.to_string())
            };
            let resp = format!(
                "HTTP/1.1 {st}\r\nApi-Version: 1.52\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(resp.as_bytes()).await.unwrap();
        }
    }

    async fn build_against(
        status: &'static str,
        answer: &'static str,
        args: &[&str],
    ) -> (Result<(), CliError>, String, String, Vec<(String, Vec<u8>)>) {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("d.sock");
        let listener = tokio::net::UnixListener::bind(&sock).unwrap();
        let seen: Seen = Default::default();
        tokio::spawn(fake_daemon(listener, seen.clone(), status, answer));
        let ctx = Ctx::new(Some(format!("unix://{}", sock.display())), false);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let res = execute(&ctx, parse(args), &env, false, &mut out, &mut err).await;
        let seen = seen.lock().unwrap().clone();
        (
            res,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
            seen,
        )
    }

    #[tokio::test(flavor = "current_thread")]
    async fn streams_the_context_and_renders_the_answer() {
        let ctxdir = tempfile::tempdir().unwrap();
        let r = ctxdir.path();
        std::fs::write(r.join("Dockerfile"), "FROM busybox\n").unwrap();
        std::fs::write(r.join(".dockerignore"), "*.log\n").unwrap();
        std::fs::write(r.join("a.log"), "x").unwrap();
        // big enough to take several chunks of the body
        std::fs::write(r.join("big.bin"), vec![7u8; 700 * 1024]).unwrap();
        let iid = r.join("iid");
        let (res, out, err, seen) = build_against(
            "200 OK",
            OK_STREAM,
            &[
                "-t",
                "app",
                "--iidfile",
                iid.to_str().unwrap(),
                r.to_str().unwrap(),
            ],
        )
        .await;
        res.unwrap();
        // not a terminal: plain progress (a classic stream's text is printed as is)
        assert!(out.starts_with("Step 1/2 : FROM busybox\n"), "{out}");
        assert!(out.contains("#1 naming to app done\n"), "{out}");
        assert_eq!(err, "");
        assert_eq!(std::fs::read_to_string(&iid).unwrap(), "sha256:4f1b2c");
        // (after the base image's lookup, which this fake daemon answers with no JSON: the
        // whole context is sent)
        let (head, body) = seen.iter().find(|(h, _)| h.starts_with("POST")).unwrap();
        let line = head.lines().next().unwrap();
        assert!(
            line.starts_with("POST /v1.52/build?buildargs=%7B%7D&"),
            "{line}"
        );
        assert!(line.contains("&dockerfile=Dockerfile&"), "{line}");
        assert!(line.contains("&t=app&"), "{line}");
        assert!(
            line.ends_with("&version=1&wharfprogress=1 HTTP/1.1"),
            "{line}"
        );
        assert!(head
            .to_lowercase()
            .contains("content-type: application/x-tar"));
        let mut ar = tar::Archive::new(body.as_slice());
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, [".dockerignore", "Dockerfile", "big.bin"]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_error_before_the_stream_is_the_daemons() {
        let ctxdir = tempfile::tempdir().unwrap();
        std::fs::write(ctxdir.path().join("Dockerfile"), "FROM busybox\nFORM x\n").unwrap();
        let (res, out, _, _) = build_against(
            "400 Bad Request",
            r#"{"message":"dockerfile parse error on line 2: unknown instruction: FORM"}"#,
            &["-q", ctxdir.path().to_str().unwrap()],
        )
        .await;
        let e = res.unwrap_err();
        assert_eq!(
            e.to_string(),
            "Error response from daemon: dockerfile parse error on line 2: unknown instruction: FORM"
        );
        assert_eq!(e.exit_code(), 1);
        assert_eq!(out, "");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_build_removes_a_stale_iidfile() {
        let ctxdir = tempfile::tempdir().unwrap();
        std::fs::write(
            ctxdir.path().join("Dockerfile"),
            "FROM busybox\nRUN false\n",
        )
        .unwrap();
        let iid = ctxdir.path().join("iid");
        std::fs::write(&iid, "sha256:old").unwrap();
        let (res, _, _, _) = build_against(
            "200 OK",
            r#"{"stream":"Step 1/2 : FROM busybox\n"}{"errorDetail":{"message":"The command '/bin/sh -c false' returned a non-zero code: 1"}}"#,
            &["--iidfile", iid.to_str().unwrap(), ctxdir.path().to_str().unwrap()],
        )
        .await;
        assert_eq!(res.unwrap_err().exit_code(), 1);
        assert!(!iid.exists());
    }
}
