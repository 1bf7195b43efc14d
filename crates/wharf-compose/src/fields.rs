//! Parsers for the structured fields of a service: `build`, ports, volumes, `healthcheck`,
//! `deploy`, secrets/configs references and `env_file` — each from its short or long syntax
//! to the model's long form.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::dotenv;
use crate::error::Result;
use crate::merge::to_keyed;
use crate::model::*;
use crate::service::{clean, resolve_path, Ctx};
use crate::syntax::{parse_duration, parse_mode, parse_port, parse_size};
use crate::yaml::{Node, V};

/// A list `K=V` or mapping → ordered pairs (`None` = no value given).
pub(crate) fn keyed(v: &Node, p: &str, sep: char) -> Result<Vec<(String, Option<String>)>> {
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

pub(crate) fn labels(v: &Node, p: &str) -> Result<BTreeMap<String, String>> {
    Ok(keyed(v, p, '=')?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

pub(crate) fn size(v: &Node, p: &str) -> Result<i64> {
    parse_size(v.str(p)?).map_err(|m| v.err(format!("{p}: {m}")))
}

pub(crate) fn command(v: &Node, p: &str) -> Result<Option<Vec<String>>> {
    match &v.v {
        V::Null => Ok(None),
        V::Str(s, _) => shlex::split(s)
            .map(Some)
            .ok_or_else(|| v.err(format!("{p}: unbalanced quotes in {s:?}"))),
        V::Seq(_) => v.list(p).map(Some),
        V::Map(_) => Err(v.err(format!("{p} must be a string or a list"))),
    }
}

pub(crate) fn build(v: &Node, p: &str, ctx: &mut Ctx) -> Result<Build> {
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
            "dockerfile_inline" => b.dockerfile_inline = e.val.opt_string(&q)?,
            "tags" => b.tags = e.val.list(&q)?,
            "network" => b.network = e.val.opt_string(&q)?,
            "context" => {}
            k => ctx.warnings.push(format!(
                "{}:{}: {p}.{k} is not supported by wharf and is ignored",
                v.src.name, e.key_line
            )),
        }
    }
    Ok(b)
}

pub(crate) fn context_path(v: &Node, s: &str, ctx: &Ctx) -> PathBuf {
    if s.contains("://") || s.starts_with("git@") {
        PathBuf::from(s)
    } else {
        resolve_path(v, s, ctx.env)
    }
}

pub(crate) fn port(item: &Node, p: &str) -> Result<Vec<Port>> {
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

pub(crate) fn is_path(s: &str) -> bool {
    s.starts_with('/') || s.starts_with('.') || s.starts_with('~')
}

pub(crate) fn volume(item: &Node, p: &str, ctx: &Ctx) -> Result<ServiceVolume> {
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

pub(crate) fn healthcheck(v: &Node, p: &str) -> Result<Healthcheck> {
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

pub(crate) fn deploy(v: &Node, p: &str, restart: &mut Option<String>) -> Result<Deploy> {
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

pub(crate) fn file_refs(v: &Node, p: &str, prefix: &str) -> Result<Vec<FileRef>> {
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
pub(crate) fn env_files(v: &Node, p: &str, ctx: &mut Ctx) -> Result<Vec<(String, Option<String>)>> {
    let items: Vec<&Node> = match &v.v {
        V::Seq(items) => items.iter().collect(),
        V::Null => Vec::new(),
        _ => vec![v],
    };
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let ip = format!("{p}[{i}]");
        let (path_node, required, raw) = match &item.v {
            V::Map(_) => {
                item.check_keys(&ip, &["path", "required", "format"])?;
                let pn = item
                    .get("path")
                    .ok_or_else(|| item.err(format!("{ip}.path is required")))?;
                let req = match item.get("required") {
                    Some(r) => r.bool(&format!("{ip}.required"))?,
                    None => true,
                };
                // `format: raw`: `KEY=VALUE` lines taken literally (no quotes, no
                // interpolation).
                let raw = match item.get("format") {
                    Some(f) => f.str(&format!("{ip}.format"))? == "raw",
                    None => false,
                };
                (pn, req, raw)
            }
            _ => (item, true, false),
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
        if raw {
            for line in text.lines() {
                if line.trim().is_empty() || line.trim_start().starts_with('#') {
                    continue;
                }
                let (k, val) = match line.split_once('=') {
                    Some((k, val)) => (k.trim().to_string(), Some(val.to_string())),
                    None => (line.trim().to_string(), env.get(line.trim()).cloned()),
                };
                out.retain(|(x, _)| *x != k);
                out.push((k, val));
            }
            continue;
        }
        let pairs = dotenv::parse(&text, &|k| env.get(k).cloned()).map_err(|(line, m)| {
            crate::error::Error::At {
                file: crate::yaml::display_name(&path, ctx.cwd),
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

/// A device mapping, short (`/dev/x[:/dev/y[:rwm]]`) or long (`{source, target, permissions}`).
pub(crate) fn device(v: &Node, p: &str) -> Result<String> {
    match &v.v {
        V::Str(s, _) => Ok(s.clone()),
        V::Map(_) => {
            v.check_keys(p, &["source", "target", "permissions"])?;
            let source = v
                .get("source")
                .ok_or_else(|| v.err(format!("{p}.source is required")))?
                .string(&format!("{p}.source"))?;
            let mut out = source.clone();
            let target = match v.get("target") {
                Some(t) => t.string(&format!("{p}.target"))?,
                None => source,
            };
            out.push(':');
            out.push_str(&target);
            if let Some(perm) = v.get("permissions") {
                out.push(':');
                out.push_str(perm.str(&format!("{p}.permissions"))?);
            }
            Ok(out)
        }
        _ => Err(v.err(format!("{p} must be a string or a mapping"))),
    }
}

/// `extra_hosts`: a list of `host:ip` / `host=ip`, or a mapping `host: ip` / `host: [ip, …]`;
/// the result is `host:ip` entries.
pub(crate) fn extra_hosts(v: &Node, p: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    match &v.v {
        V::Null => {}
        V::Seq(items) => {
            for (i, it) in items.iter().enumerate() {
                let s = it.str(&format!("{p}[{i}]"))?;
                let split = if s.contains('=') {
                    s.split_once('=')
                } else {
                    s.split_once(':')
                };
                match split {
                    Some((h, ip)) if !h.is_empty() && !ip.is_empty() => {
                        out.push(format!("{h}:{ip}"))
                    }
                    _ => {
                        return Err(it.err(format!(
                            "{p}[{i}]: invalid extra host {s:?} (want host:ip or host=ip)"
                        )))
                    }
                }
            }
        }
        V::Map(entries) => {
            for e in entries {
                let ips = e.val.str_or_list(&format!("{p}.{}", e.key))?;
                if ips.is_empty() {
                    return Err(e.val.err(format!("{p}.{}: no address", e.key)));
                }
                for ip in ips {
                    out.push(format!("{}:{ip}", e.key));
                }
            }
        }
        V::Str(..) => return Err(v.err(format!("{p} must be a list or a mapping"))),
    }
    Ok(out)
}
