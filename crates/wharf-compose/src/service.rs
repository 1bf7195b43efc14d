//! Converting one service definition (merged, interpolated tree) into the resolved
//! [`Service`]: validates keys and types against the Compose Specification's service schema
//! and expands every short syntax to the long form.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::dotenv;
use crate::error::Result;
use crate::merge::{list_to_map, to_keyed};
use crate::model::*;
use crate::syntax::{parse_duration, parse_mode, parse_port, parse_size};
use crate::yaml::{Node, V};

/// Every property of a service in the Compose Specification. Keys the model does not carry
/// are accepted (and reported as ignored warnings) so that real-world files load.
pub(crate) const SERVICE_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "build",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_shares",
    "cpu_quota",
    "cpu_period",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "driver_opts",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "label_file",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "provider",
    "pull_policy",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
];

/// Keys the model carries (the others only produce a warning).
const HANDLED: &[&str] = &[
    "build",
    "cap_add",
    "cap_drop",
    "command",
    "configs",
    "container_name",
    "cpus",
    "depends_on",
    "deploy",
    "dns",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "extra_hosts",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "labels",
    "mem_limit",
    "network_mode",
    "networks",
    "pids_limit",
    "ports",
    "privileged",
    "profiles",
    "pull_policy",
    "read_only",
    "restart",
    "scale",
    "secrets",
    "security_opt",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "tmpfs",
    "tty",
    "ulimits",
    "user",
    "volumes",
    "working_dir",
];

pub(crate) struct Ctx<'a> {
    /// Interpolation environment (process environment over `.env`).
    pub env: &'a BTreeMap<String, String>,
    pub warnings: &'a mut Vec<String>,
}

/// `~`, absolute and relative (to the defining file's base directory) paths, made absolute
/// and lexically cleaned.
pub(crate) fn resolve_path(node: &Node, s: &str, env: &BTreeMap<String, String>) -> PathBuf {
    let p = if s == "~" || s.starts_with("~/") {
        let home = env.get("HOME").map_or("/root", String::as_str);
        PathBuf::from(home).join(s.trim_start_matches('~').trim_start_matches('/'))
    } else if Path::new(s).is_absolute() {
        PathBuf::from(s)
    } else {
        node.src.base.join(s)
    };
    clean(&p)
}

pub(crate) fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

pub(crate) fn convert_service(name: &str, node: &Node, ctx: &mut Ctx) -> Result<Service> {
    let path = format!("services.{name}");
    node.check_keys(&path, SERVICE_KEYS)?;
    let mut s = Service {
        name: name.to_string(),
        ..Service::default()
    };
    let mut resources = Resources::default();
    for e in node.map(&path)? {
        let key = e.key.as_str();
        let v = &e.val;
        let p = format!("{path}.{key}");
        if !HANDLED.contains(&key) && !key.starts_with("x-") {
            ctx.warnings.push(format!(
                "{}:{}: {p} is not supported by wharf and is ignored",
                node.src.name, e.key_line
            ));
            continue;
        }
        match key {
            "image" => s.image = v.opt_string(&p)?,
            "build" => s.build = Some(build(v, &p, ctx)?),
            "command" => s.command = command(v, &p)?,
            "entrypoint" => s.entrypoint = command(v, &p)?,
            "environment" => {
                for (k, val) in keyed(v, &p, '=')? {
                    let val = val.or_else(|| ctx.env.get(&k).cloned());
                    s.environment.insert(k, val);
                }
            }
            "env_file" => {}
            "ports" => {
                for (i, item) in v.seq(&p)?.iter().enumerate() {
                    s.ports.extend(port(item, &format!("{p}[{i}]"))?);
                }
            }
            "expose" => {
                for (i, item) in v.seq(&p)?.iter().enumerate() {
                    let x = item.string(&format!("{p}[{i}]"))?;
                    let (port, proto) = x.split_once('/').unwrap_or((&x, "tcp"));
                    if port.split('-').any(|n| n.parse::<u16>().is_err()) {
                        return Err(item.err(format!("{p}[{i}]: invalid port {x:?}")));
                    }
                    s.expose.push(format!("{port}/{proto}"));
                }
            }
            "volumes" => {
                for (i, item) in v.seq(&p)?.iter().enumerate() {
                    s.volumes.push(volume(item, &format!("{p}[{i}]"), ctx)?);
                }
            }
            "tmpfs" => s.tmpfs = v.str_or_list(&p)?,
            "networks" => {
                let mut n = v.clone();
                list_to_map(&mut n);
                for ne in n.map_or_empty(&p)? {
                    let np = format!("{p}.{}", ne.key);
                    let mut sn = ServiceNetwork::default();
                    if !ne.val.is_null() {
                        ne.val.check_keys(
                            &np,
                            &[
                                "aliases",
                                "ipv4_address",
                                "ipv6_address",
                                "link_local_ips",
                                "mac_address",
                                "driver_opts",
                                "priority",
                                "gw_priority",
                                "interface_name",
                            ],
                        )?;
                        if let Some(a) = ne.val.get("aliases") {
                            sn.aliases = a.list(&format!("{np}.aliases"))?;
                        }
                        if let Some(a) = ne.val.get("ipv4_address") {
                            sn.ipv4_address = a.opt_string(&format!("{np}.ipv4_address"))?;
                        }
                    }
                    s.networks.insert(ne.key.clone(), sn);
                }
            }
            "network_mode" => s.network_mode = v.opt_string(&p)?,
            "depends_on" => {
                let mut n = v.clone();
                list_to_map(&mut n);
                for de in n.map_or_empty(&p)? {
                    let dp = format!("{p}.{}", de.key);
                    let mut d = Dependency {
                        condition: "service_started".into(),
                        restart: false,
                        required: true,
                    };
                    if !de.val.is_null() {
                        de.val
                            .check_keys(&dp, &["condition", "restart", "required"])?;
                        if let Some(c) = de.val.get("condition") {
                            let c = c.string(&format!("{dp}.condition"))?;
                            if !matches!(
                                c.as_str(),
                                "service_started"
                                    | "service_healthy"
                                    | "service_completed_successfully"
                            ) {
                                return Err(de.val.err(format!(
                                    "{dp}.condition: invalid condition {c:?} (service_started, service_healthy or service_completed_successfully)"
                                )));
                            }
                            d.condition = c;
                        }
                        if let Some(r) = de.val.get("restart") {
                            d.restart = r.bool(&format!("{dp}.restart"))?;
                        }
                        if let Some(r) = de.val.get("required") {
                            d.required = r.bool(&format!("{dp}.required"))?;
                        }
                    }
                    s.depends_on.insert(de.key.clone(), d);
                }
            }
            "healthcheck" => s.healthcheck = Some(healthcheck(v, &p)?),
            "restart" => {
                let r = v.string(&p)?;
                let ok = match r.split_once(':') {
                    Some(("on-failure", n)) => n.parse::<u32>().is_ok(),
                    None => matches!(
                        r.as_str(),
                        "no" | "always" | "on-failure" | "unless-stopped"
                    ),
                    _ => false,
                };
                if !ok {
                    return Err(v.err(format!("{p}: invalid restart policy {r:?}")));
                }
                s.restart = Some(r);
            }
            "deploy" => s.deploy = Some(deploy(v, &p, &mut s.restart)?),
            "labels" => s.labels = labels(v, &p)?,
            "profiles" => s.profiles = v.list(&p)?,
            "secrets" => s.secrets = file_refs(v, &p, "/run/secrets/")?,
            "configs" => s.configs = file_refs(v, &p, "/")?,
            "container_name" => s.container_name = v.opt_string(&p)?,
            "hostname" => s.hostname = v.opt_string(&p)?,
            "domainname" => s.domainname = v.opt_string(&p)?,
            "user" => s.user = v.opt_string(&p)?,
            "working_dir" => s.working_dir = v.opt_string(&p)?,
            "tty" => s.tty = v.bool(&p)?,
            "stdin_open" => s.stdin_open = v.bool(&p)?,
            "init" => s.init = Some(v.bool(&p)?),
            "privileged" => s.privileged = v.bool(&p)?,
            "read_only" => s.read_only = v.bool(&p)?,
            "cap_add" => s.cap_add = v.list(&p)?,
            "cap_drop" => s.cap_drop = v.list(&p)?,
            "security_opt" => s.security_opt = v.list(&p)?,
            "extra_hosts" => {
                for (host, ip) in keyed(v, &p, ':')? {
                    let ip = ip.ok_or_else(|| v.err(format!("{p}: {host:?} has no address")))?;
                    s.extra_hosts.push(format!("{host}:{ip}"));
                }
            }
            "dns" => s.dns = v.str_or_list(&p)?,
            "stop_signal" => s.stop_signal = v.opt_string(&p)?,
            "stop_grace_period" => {
                let d = parse_duration(v.str(&p)?).map_err(|m| v.err(format!("{p}: {m}")))?;
                s.stop_grace_period = Some(d as f64 / 1e9);
            }
            "ulimits" => {
                for ue in v.map(&p)? {
                    let up = format!("{p}.{}", ue.key);
                    let u = match &ue.val.v {
                        V::Map(_) => {
                            ue.val.check_keys(&up, &["soft", "hard"])?;
                            let get = |k: &str| -> Result<i64> {
                                let n = ue
                                    .val
                                    .get(k)
                                    .ok_or_else(|| ue.val.err(format!("{up}.{k} is required")))?;
                                n.int(&format!("{up}.{k}"))
                            };
                            Ulimit {
                                soft: get("soft")?,
                                hard: get("hard")?,
                            }
                        }
                        _ => {
                            let n = ue.val.int(&up)?;
                            Ulimit { soft: n, hard: n }
                        }
                    };
                    s.ulimits.insert(ue.key.clone(), u);
                }
            }
            "pull_policy" => {
                let pp = v.string(&p)?;
                if !matches!(
                    pp.as_str(),
                    "always"
                        | "never"
                        | "missing"
                        | "if_not_present"
                        | "build"
                        | "daily"
                        | "weekly"
                ) && !pp.starts_with("every_")
                {
                    return Err(v.err(format!("{p}: invalid pull policy {pp:?}")));
                }
                s.pull_policy = Some(pp);
            }
            "scale" => s.scale = Some(v.uint(&p)?),
            "mem_limit" => resources.memory = Some(size(v, &p)?),
            "cpus" => resources.cpus = Some(v.float(&p)?),
            "pids_limit" => resources.pids = Some(v.int(&p)?),
            _ => {}
        }
    }
    // env_file values sit under `environment`.
    if let Some(v) = node.get("env_file") {
        let p = format!("{path}.env_file");
        for (k, val) in env_files(v, &p, ctx)? {
            s.environment.entry(k).or_insert(val);
        }
    }
    // Service-level shorthands, overridden by deploy.resources.limits.
    if resources != Resources::default() {
        let d = s.deploy.get_or_insert_with(Deploy::default);
        let r = &mut d.resources;
        r.cpus = r.cpus.or(resources.cpus);
        r.memory = r.memory.or(resources.memory);
        r.pids = r.pids.or(resources.pids);
    }
    let replicas = s.deploy.as_ref().and_then(|d| d.replicas);
    match (s.scale, replicas) {
        (Some(a), Some(b)) if a != b => {
            return Err(node.err(format!(
                "{path}: scale ({a}) and deploy.replicas ({b}) disagree"
            )))
        }
        (None, Some(b)) => s.scale = Some(b),
        _ => {}
    }
    if s.image.is_none() && s.build.is_none() {
        return Err(node.err(format!(
            "{path}: service {name} has neither an image nor a build context specified"
        )));
    }
    if s.networks.is_empty() && s.network_mode.is_none() {
        s.networks
            .insert("default".into(), ServiceNetwork::default());
    }
    if let Some(target) = s
        .network_mode
        .as_deref()
        .and_then(|m| m.strip_prefix("service:"))
    {
        s.depends_on
            .entry(target.to_string())
            .or_insert_with(|| Dependency {
                condition: "service_started".into(),
                restart: false,
                required: true,
            });
    }
    Ok(s)
}

/// A list `K=V` or mapping → ordered pairs (`None` = no value given).
fn keyed(v: &Node, p: &str, sep: char) -> Result<Vec<(String, Option<String>)>> {
    let mut n = v.clone();
    if let V::Seq(items) = &v.v {
        for (i, it) in items.iter().enumerate() {
            it.str(&format!("{p}[{i}]"))?;
        }
        to_keyed(&mut n, sep);
    }
    let mut out = Vec::new();
    for e in n.map_or_empty(p)? {
        let val = match &e.val.v {
            V::Null => None,
            V::Str(s, _) => Some(s.clone()),
            V::Seq(items) if sep == ':' => Some(
                items
                    .iter()
                    .filter_map(|x| x.scalar())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => return Err(e.val.err(format!("{p}.{} must be a string", e.key))),
        };
        out.push((e.key.clone(), val));
    }
    Ok(out)
}

fn labels(v: &Node, p: &str) -> Result<BTreeMap<String, String>> {
    Ok(keyed(v, p, '=')?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

fn size(v: &Node, p: &str) -> Result<i64> {
    parse_size(v.str(p)?).map_err(|m| v.err(format!("{p}: {m}")))
}

fn command(v: &Node, p: &str) -> Result<Option<Vec<String>>> {
    match &v.v {
        V::Null => Ok(None),
        V::Str(s, _) => shlex::split(s)
            .map(Some)
            .ok_or_else(|| v.err(format!("{p}: unbalanced quotes in {s:?}"))),
        V::Seq(_) => v.list(p).map(Some),
        V::Map(_) => Err(v.err(format!("{p} must be a string or a list"))),
    }
}

fn build(v: &Node, p: &str, ctx: &mut Ctx) -> Result<Build> {
    let mut b = Build {
        dockerfile: "Dockerfile".into(),
        ..Build::default()
    };
    if let Some(s) = v.scalar() {
        b.context = context_path(v, s, ctx);
        return Ok(b);
    }
    v.check_keys(
        p,
        &[
            "context",
            "dockerfile",
            "dockerfile_inline",
            "args",
            "ssh",
            "cache_from",
            "cache_to",
            "additional_contexts",
            "entitlements",
            "extra_hosts",
            "isolation",
            "privileged",
            "labels",
            "no_cache",
            "pull",
            "network",
            "shm_size",
            "target",
            "secrets",
            "tags",
            "ulimits",
            "platforms",
            "provenance",
            "sbom",
        ],
    )?;
    b.context = match v.get("context") {
        Some(c) => {
            let s = c.str(&format!("{p}.context"))?;
            context_path(c, s, ctx)
        }
        None => clean(&v.src.base),
    };
    for e in v.map(p)? {
        let q = format!("{p}.{}", e.key);
        match e.key.as_str() {
            "dockerfile" => b.dockerfile = e.val.string(&q)?,
            "args" => {
                for (k, val) in keyed(&e.val, &q, '=')? {
                    let val = val.or_else(|| ctx.env.get(&k).cloned());
                    b.args.insert(k, val);
                }
            }
            "target" => b.target = e.val.opt_string(&q)?,
            "labels" => b.labels = labels(&e.val, &q)?,
            "no_cache" => b.no_cache = e.val.bool(&q)?,
            "pull" => b.pull = e.val.bool(&q)?,
            "context" => {}
            k => ctx.warnings.push(format!(
                "{}:{}: {p}.{k} is not supported by wharf and is ignored",
                v.src.name, e.key_line
            )),
        }
    }
    Ok(b)
}

fn context_path(v: &Node, s: &str, ctx: &Ctx) -> PathBuf {
    if s.contains("://") || s.starts_with("git@") {
        PathBuf::from(s)
    } else {
        resolve_path(v, s, ctx.env)
    }
}

fn port(item: &Node, p: &str) -> Result<Vec<Port>> {
    match &item.v {
        V::Str(s, _) => parse_port(s).map_err(|m| item.err(format!("{p}: {m}"))),
        V::Map(_) => {
            item.check_keys(
                p,
                &[
                    "name",
                    "mode",
                    "host_ip",
                    "target",
                    "published",
                    "protocol",
                    "app_protocol",
                ],
            )?;
            let target = item
                .get("target")
                .ok_or_else(|| item.err(format!("{p}.target is required")))?
                .uint(&format!("{p}.target"))?;
            let published = match item.get("published") {
                None => None,
                Some(n) if n.is_null() => None,
                Some(n) => {
                    let s = n.str(&format!("{p}.published"))?;
                    if s.is_empty() {
                        None
                    } else {
                        Some(
                            s.parse::<u16>()
                                .map_err(|_| n.err(format!("{p}.published: invalid port {s:?}")))?,
                        )
                    }
                }
            };
            let protocol = match item.get("protocol") {
                Some(n) => n.string(&format!("{p}.protocol"))?,
                None => "tcp".into(),
            };
            if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
                return Err(item.err(format!("{p}.protocol: invalid protocol {protocol:?}")));
            }
            let host_ip = match item.get("host_ip") {
                Some(n) => n.opt_string(&format!("{p}.host_ip"))?,
                None => None,
            };
            Ok(vec![Port {
                target,
                published,
                host_ip,
                protocol,
            }])
        }
        _ => Err(item.err(format!("{p} must be a string or a mapping"))),
    }
}

fn is_path(s: &str) -> bool {
    s.starts_with('/') || s.starts_with('.') || s.starts_with('~')
}

fn volume(item: &Node, p: &str, ctx: &Ctx) -> Result<ServiceVolume> {
    match &item.v {
        V::Str(spec, _) => {
            let parts: Vec<&str> = spec.split(':').collect();
            let (source, target, mode) = match parts.as_slice() {
                [t] => (None, *t, ""),
                [s, t] => (Some(*s), *t, ""),
                [s, t, m] => (Some(*s), *t, *m),
                _ => return Err(item.err(format!("{p}: invalid volume spec {spec:?}"))),
            };
            if target.is_empty() || !target.starts_with('/') {
                return Err(item.err(format!(
                    "{p}: invalid volume spec {spec:?}: the target must be an absolute path"
                )));
            }
            let mut v = ServiceVolume {
                kind: "volume".into(),
                target: target.to_string(),
                ..ServiceVolume::default()
            };
            for m in mode.split(',').filter(|m| !m.is_empty()) {
                match m {
                    "ro" => v.read_only = true,
                    "rw" => v.read_only = false,
                    "nocopy" => v.nocopy = true,
                    "z" | "Z" | "cached" | "delegated" | "consistent" | "shared" | "rshared"
                    | "slave" | "rslave" | "private" | "rprivate" => {}
                    _ => {
                        return Err(item.err(format!("{p}: invalid volume mode {m:?} in {spec:?}")))
                    }
                }
            }
            match source {
                Some(s) if is_path(s) => {
                    v.kind = "bind".into();
                    v.source = Some(resolve_path(item, s, ctx.env).display().to_string());
                    v.create_host_path = true;
                }
                Some("") => {
                    return Err(item.err(format!("{p}: invalid volume spec {spec:?}")));
                }
                Some(s) => v.source = Some(s.to_string()),
                None => {}
            }
            Ok(v)
        }
        V::Map(_) => {
            item.check_keys(
                p,
                &[
                    "type",
                    "source",
                    "target",
                    "read_only",
                    "consistency",
                    "bind",
                    "volume",
                    "tmpfs",
                    "image",
                ],
            )?;
            let kind = item
                .get("type")
                .ok_or_else(|| item.err(format!("{p}.type is required")))?
                .string(&format!("{p}.type"))?;
            let target = item
                .get("target")
                .ok_or_else(|| item.err(format!("{p}.target is required")))?
                .string(&format!("{p}.target"))?;
            let mut v = ServiceVolume {
                kind: kind.clone(),
                target,
                ..ServiceVolume::default()
            };
            if let Some(n) = item.get("read_only") {
                v.read_only = n.bool(&format!("{p}.read_only"))?;
            }
            let source = match item.get("source") {
                Some(n) => n.opt_string(&format!("{p}.source"))?,
                None => None,
            };
            match kind.as_str() {
                "bind" => {
                    let src = source.ok_or_else(|| {
                        item.err(format!("{p}.source is required for a bind mount"))
                    })?;
                    let sn = item.get("source").unwrap_or(item);
                    v.source = Some(resolve_path(sn, &src, ctx.env).display().to_string());
                    if let Some(b) = item.get("bind") {
                        let bp = format!("{p}.bind");
                        b.check_keys(&bp, &["propagation", "create_host_path", "selinux"])?;
                        if let Some(c) = b.get("create_host_path") {
                            v.create_host_path = c.bool(&format!("{bp}.create_host_path"))?;
                        }
                    }
                }
                "volume" => {
                    v.source = source.filter(|s| !s.is_empty());
                    if let Some(b) = item.get("volume") {
                        let bp = format!("{p}.volume");
                        b.check_keys(&bp, &["nocopy", "subpath"])?;
                        if let Some(c) = b.get("nocopy") {
                            v.nocopy = c.bool(&format!("{bp}.nocopy"))?;
                        }
                    }
                }
                "tmpfs" => {
                    if let Some(b) = item.get("tmpfs") {
                        let bp = format!("{p}.tmpfs");
                        b.check_keys(&bp, &["size", "mode"])?;
                        if let Some(c) = b.get("size") {
                            v.tmpfs_size = Some(size(c, &format!("{bp}.size"))? as u64);
                        }
                    }
                }
                other => {
                    return Err(item.err(format!(
                        "{p}.type: unsupported volume type {other:?} (volume, bind or tmpfs)"
                    )))
                }
            }
            Ok(v)
        }
        _ => Err(item.err(format!("{p} must be a string or a mapping"))),
    }
}

fn healthcheck(v: &Node, p: &str) -> Result<Healthcheck> {
    v.check_keys(
        p,
        &[
            "test",
            "interval",
            "timeout",
            "retries",
            "start_period",
            "start_interval",
            "disable",
        ],
    )?;
    let mut h = Healthcheck::default();
    let dur = |k: &str| -> Result<Option<i64>> {
        match v.get(k) {
            None => Ok(None),
            Some(n) if n.is_null() => Ok(None),
            Some(n) => parse_duration(n.str(&format!("{p}.{k}"))?)
                .map(Some)
                .map_err(|m| n.err(format!("{p}.{k}: {m}"))),
        }
    };
    h.interval = dur("interval")?;
    h.timeout = dur("timeout")?;
    h.start_period = dur("start_period")?;
    h.start_interval = dur("start_interval")?;
    if let Some(r) = v.get("retries") {
        h.retries = Some(r.int(&format!("{p}.retries"))?);
    }
    if let Some(t) = v.get("test") {
        h.test = match &t.v {
            V::Str(s, _) => vec!["CMD-SHELL".into(), s.clone()],
            V::Seq(_) => t.list(&format!("{p}.test"))?,
            V::Null => Vec::new(),
            V::Map(_) => return Err(t.err(format!("{p}.test must be a string or a list"))),
        };
    }
    if let Some(d) = v.get("disable") {
        h.disable = d.bool(&format!("{p}.disable"))?;
    }
    if h.test.first().map(String::as_str) == Some("NONE") {
        h.disable = true;
    }
    if h.disable {
        h.test = vec!["NONE".into()];
    }
    Ok(h)
}

fn deploy(v: &Node, p: &str, restart: &mut Option<String>) -> Result<Deploy> {
    v.check_keys(
        p,
        &[
            "mode",
            "endpoint_mode",
            "replicas",
            "labels",
            "rollback_config",
            "update_config",
            "resources",
            "restart_policy",
            "placement",
        ],
    )?;
    let mut d = Deploy::default();
    if let Some(r) = v.get("replicas") {
        d.replicas = Some(r.uint(&format!("{p}.replicas"))?);
    }
    if let Some(l) = v.get("labels") {
        d.labels = labels(l, &format!("{p}.labels"))?;
    }
    if let Some(res) = v.get("resources") {
        let rp = format!("{p}.resources");
        res.check_keys(&rp, &["limits", "reservations"])?;
        if let Some(l) = res.get("limits") {
            let lp = format!("{rp}.limits");
            l.check_keys(&lp, &["cpus", "memory", "pids"])?;
            if let Some(c) = l.get("cpus") {
                d.resources.cpus = Some(c.float(&format!("{lp}.cpus"))?);
            }
            if let Some(m) = l.get("memory") {
                d.resources.memory = Some(size(m, &format!("{lp}.memory"))?);
            }
            if let Some(n) = l.get("pids") {
                d.resources.pids = Some(n.int(&format!("{lp}.pids"))?);
            }
        }
    }
    if let Some(rp) = v.get("restart_policy") {
        let rpp = format!("{p}.restart_policy");
        rp.check_keys(&rpp, &["condition", "delay", "max_attempts", "window"])?;
        if restart.is_none() {
            let cond = match rp.get("condition") {
                Some(c) => c.string(&format!("{rpp}.condition"))?,
                None => "any".into(),
            };
            *restart = Some(match cond.as_str() {
                "none" => "no".into(),
                "on-failure" => match rp.get("max_attempts") {
                    Some(n) => format!("on-failure:{}", n.int(&format!("{rpp}.max_attempts"))?),
                    None => "on-failure".into(),
                },
                _ => "always".into(),
            });
        }
    }
    Ok(d)
}

fn file_refs(v: &Node, p: &str, prefix: &str) -> Result<Vec<FileRef>> {
    let mut out = Vec::new();
    for (i, item) in v.seq(p)?.iter().enumerate() {
        let ip = format!("{p}[{i}]");
        let r = match &item.v {
            V::Str(s, _) => FileRef {
                source: s.clone(),
                target: format!("{prefix}{s}"),
                mode: None,
            },
            V::Map(_) => {
                item.check_keys(&ip, &["source", "target", "uid", "gid", "mode"])?;
                let source = item
                    .get("source")
                    .ok_or_else(|| item.err(format!("{ip}.source is required")))?
                    .string(&format!("{ip}.source"))?;
                let target = match item.get("target") {
                    Some(t) => {
                        let t = t.string(&format!("{ip}.target"))?;
                        if t.starts_with('/') {
                            t
                        } else {
                            format!("{prefix}{t}")
                        }
                    }
                    None => format!("{prefix}{source}"),
                };
                let mode = match item.get("mode") {
                    Some(m) => Some(
                        parse_mode(m.str(&format!("{ip}.mode"))?)
                            .ok_or_else(|| m.err(format!("{ip}.mode: invalid file mode")))?,
                    ),
                    None => None,
                };
                FileRef {
                    source,
                    target,
                    mode,
                }
            }
            _ => return Err(item.err(format!("{ip} must be a string or a mapping"))),
        };
        out.push(r);
    }
    Ok(out)
}

/// Reads `env_file:` entries (string, list of strings, or list of `{path, required}`).
fn env_files(v: &Node, p: &str, ctx: &mut Ctx) -> Result<Vec<(String, Option<String>)>> {
    let items: Vec<&Node> = match &v.v {
        V::Seq(items) => items.iter().collect(),
        V::Null => Vec::new(),
        _ => vec![v],
    };
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let ip = format!("{p}[{i}]");
        let (path_node, required) = match &item.v {
            V::Map(_) => {
                item.check_keys(&ip, &["path", "required", "format"])?;
                let pn = item
                    .get("path")
                    .ok_or_else(|| item.err(format!("{ip}.path is required")))?;
                let req = match item.get("required") {
                    Some(r) => r.bool(&format!("{ip}.required"))?,
                    None => true,
                };
                (pn, req)
            }
            _ => (item, true),
        };
        let rel = path_node.str(&format!("{ip}.path"))?;
        let path = resolve_path(path_node, rel, ctx.env);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(e) => {
                return Err(path_node.err(format!("env file {} not found: {e}", path.display())))
            }
        };
        let env = ctx.env;
        let pairs = dotenv::parse(&text, &|k| env.get(k).cloned()).map_err(|(line, m)| {
            crate::error::Error::At {
                file: path.display().to_string(),
                line,
                message: m,
            }
        })?;
        for (k, val) in pairs {
            out.retain(|(x, _)| *x != k);
            out.push((k, val));
        }
    }
    Ok(out)
}
