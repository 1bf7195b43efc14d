//! Converting one service definition (merged, interpolated tree) into the resolved
//! [`Service`]: validates keys and types against the Compose Specification's service schema
//! and expands every short syntax to the long form.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::error::Result;
use crate::fields::*;
use crate::merge::list_to_map;
use crate::model::*;
use crate::syntax::parse_duration;
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
    "dns_search",
    "dns_opt",
    "sysctls",
    "shm_size",
    "devices",
    "pid",
    "ipc",
    "platform",
    "logging",
    "group_add",
    "volumes_from",
    "links",
    "mac_address",
    "oom_score_adj",
    "cpu_shares",
    "cpuset",
    "mem_reservation",
    "memswap_limit",
    "cgroup_parent",
    "userns_mode",
    "runtime",
];

pub(crate) struct Ctx<'a> {
    /// Interpolation environment (process environment over `.env`).
    pub env: &'a BTreeMap<String, String>,
    pub warnings: &'a mut Vec<String>,
    /// For naming files in errors.
    pub cwd: &'a Path,
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

pub(crate) fn convert_service(
    name: &str,
    key_line: usize,
    node: &Node,
    ctx: &mut Ctx,
) -> Result<Service> {
    let at = |m: String| crate::yaml::err_at(&node.src, key_line, m);
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
            "extra_hosts" => s.extra_hosts = extra_hosts(v, &p)?,
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
            "dns_search" => s.dns_search = v.str_or_list(&p)?,
            "dns_opt" => s.dns_opt = v.list(&p)?,
            "sysctls" => {
                for (k, val) in keyed(v, &p, '=')? {
                    s.sysctls.insert(k, val.unwrap_or_default());
                }
            }
            "shm_size" => s.shm_size = Some(size(v, &p)?),
            "devices" => {
                for (i, d) in v.seq(&p)?.iter().enumerate() {
                    s.devices.push(device(d, &format!("{p}[{i}]"))?);
                }
            }
            "pid" => s.pid = v.opt_string(&p)?,
            "ipc" => s.ipc = v.opt_string(&p)?,
            "platform" => s.platform = v.opt_string(&p)?,
            "logging" => {
                v.check_keys(&p, &["driver", "options"])?;
                let mut l = Logging::default();
                if let Some(d) = v.get("driver") {
                    l.driver = d.opt_string(&format!("{p}.driver"))?;
                }
                if let Some(o) = v.get("options") {
                    for (k, val) in keyed(o, &format!("{p}.options"), '=')? {
                        l.options.insert(k, val.unwrap_or_default());
                    }
                }
                s.logging = Some(l);
            }
            "group_add" => s.group_add = v.list(&p)?,
            "volumes_from" => s.volumes_from = v.list(&p)?,
            "links" => s.links = v.list(&p)?,
            "mac_address" => s.mac_address = v.opt_string(&p)?,
            "oom_score_adj" => s.oom_score_adj = Some(v.int(&p)?),
            "cpu_shares" => s.cpu_shares = Some(v.int(&p)?),
            "cpuset" => s.cpuset = v.opt_string(&p)?,
            "mem_reservation" => s.mem_reservation = Some(size(v, &p)?),
            "memswap_limit" => {
                s.memswap_limit = Some(if v.scalar() == Some("-1") {
                    -1
                } else {
                    size(v, &p)?
                })
            }
            "cgroup_parent" => s.cgroup_parent = v.opt_string(&p)?,
            "userns_mode" => s.userns_mode = v.opt_string(&p)?,
            "runtime" => s.runtime = v.opt_string(&p)?,
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
            return Err(at(format!(
                "{path}: scale ({a}) and deploy.replicas ({b}) disagree"
            )))
        }
        (None, Some(b)) => s.scale = Some(b),
        _ => {}
    }
    if s.image.is_none() && s.build.is_none() {
        return Err(at(format!(
            "{path}: service {name} has neither an image nor a build context specified"
        )));
    }
    if s.container_name.is_some() && s.scale.is_some_and(|n| n > 1) {
        return Err(at(format!(
            "{path}: container_name cannot be set when the service runs several replicas (container names must be unique)"
        )));
    }
    if let (Some(mode), false) = (&s.network_mode, s.networks.is_empty()) {
        return Err(at(format!(
            "{path}: network_mode {mode:?} and networks are mutually exclusive"
        )));
    }
    if s.networks.is_empty() && s.network_mode.is_none() {
        s.networks
            .insert("default".into(), ServiceNetwork::default());
    }
    // Services named by network_mode/pid/ipc `service:X`, volumes_from and links are
    // implicit dependencies (docker compose starts them first).
    let mut implicit: Vec<String> = Vec::new();
    for m in [&s.network_mode, &s.pid, &s.ipc].into_iter().flatten() {
        if let Some(t) = m.strip_prefix("service:") {
            implicit.push(t.to_string());
        }
    }
    for vf in &s.volumes_from {
        if !vf.starts_with("container:") {
            implicit.push(vf.split(':').next().unwrap_or_default().to_string());
        }
    }
    for l in &s.links {
        implicit.push(l.split(':').next().unwrap_or_default().to_string());
    }
    for t in implicit {
        s.depends_on.entry(t).or_insert_with(|| Dependency {
            condition: "service_started".into(),
            restart: false,
            required: true,
        });
    }
    Ok(s)
}
