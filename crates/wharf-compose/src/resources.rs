//! Top-level `networks`, `volumes`, `secrets` and `configs`: validated and given their engine
//! names (`name:` if set, else `PROJECT_KEY`, as docker compose names them).

use std::collections::BTreeMap;

use crate::error::Result;
use crate::model::{FileObject, Network, Volume};
use crate::service::resolve_path;
use crate::yaml::{Node, V};

fn labels(v: &Node, p: &str) -> Result<BTreeMap<String, String>> {
    let mut n = v.clone();
    crate::merge::to_keyed(&mut n, '=');
    let mut out = BTreeMap::new();
    for e in n.map_or_empty(p)? {
        let val = e
            .val
            .opt_string(&format!("{p}.{}", e.key))?
            .unwrap_or_default();
        out.insert(e.key.clone(), val);
    }
    Ok(out)
}

fn driver_opts(o: &Node, p: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for e in o.map_or_empty(p)? {
        out.insert(e.key.clone(), e.val.string(&format!("{p}.{}", e.key))?);
    }
    Ok(out)
}

/// `external: true`, or the legacy `external: {name: x}`; returns (external, legacy name).
fn external(v: &Node, p: &str) -> Result<(bool, Option<String>)> {
    match v.get("external") {
        None => Ok((false, None)),
        Some(n) if matches!(n.v, V::Map(_)) => {
            n.check_keys(&format!("{p}.external"), &["name"])?;
            let name = match n.get("name") {
                Some(x) => x.opt_string(&format!("{p}.external.name"))?,
                None => None,
            };
            Ok((true, name))
        }
        Some(n) => Ok((n.bool(&format!("{p}.external"))?, None)),
    }
}

fn engine_name(v: &Node, p: &str, project: &str, key: &str) -> Result<String> {
    let (ext, legacy) = external(v, p)?;
    let explicit = match v.get("name") {
        Some(n) => n.opt_string(&format!("{p}.name"))?,
        None => None,
    };
    Ok(match (explicit, legacy) {
        (Some(n), _) | (None, Some(n)) => n,
        (None, None) if ext => key.to_string(),
        (None, None) => format!("{project}_{key}"),
    })
}

pub(crate) fn network(key: &str, v: &Node, project: &str) -> Result<Network> {
    let p = format!("networks.{key}");
    if v.is_null() {
        return Ok(Network {
            name: format!("{project}_{key}"),
            ..Network::default()
        });
    }
    v.check_keys(
        &p,
        &[
            "name",
            "driver",
            "driver_opts",
            "external",
            "internal",
            "attachable",
            "enable_ipv4",
            "enable_ipv6",
            "ipam",
            "labels",
        ],
    )?;
    let mut n = Network {
        name: engine_name(v, &p, project, key)?,
        external: external(v, &p)?.0,
        ..Network::default()
    };
    if let Some(d) = v.get("driver") {
        n.driver = d.opt_string(&format!("{p}.driver"))?;
    }
    if let Some(d) = v.get("internal") {
        n.internal = d.bool(&format!("{p}.internal"))?;
    }
    if let Some(d) = v.get("enable_ipv6") {
        n.enable_ipv6 = d.bool(&format!("{p}.enable_ipv6"))?;
    }
    if let Some(d) = v.get("attachable") {
        n.attachable = d.bool(&format!("{p}.attachable"))?;
    }
    if let Some(o) = v.get("driver_opts") {
        n.driver_opts = driver_opts(o, &format!("{p}.driver_opts"))?;
    }
    if let Some(l) = v.get("labels") {
        n.labels = labels(l, &format!("{p}.labels"))?;
    }
    if let Some(ipam) = v.get("ipam") {
        let ip = format!("{p}.ipam");
        ipam.check_keys(&ip, &["driver", "config", "options"])?;
        if let Some(cfg) = ipam.get("config") {
            if let Some(first) = cfg.seq(&format!("{ip}.config"))?.first() {
                let cp = format!("{ip}.config[0]");
                first.check_keys(&cp, &["subnet", "ip_range", "gateway", "aux_addresses"])?;
                if let Some(s) = first.get("subnet") {
                    n.subnet = s.opt_string(&format!("{cp}.subnet"))?;
                }
                if let Some(s) = first.get("gateway") {
                    n.gateway = s.opt_string(&format!("{cp}.gateway"))?;
                }
                if let Some(s) = first.get("ip_range") {
                    n.ip_range = s.opt_string(&format!("{cp}.ip_range"))?;
                }
            }
        }
    }
    Ok(n)
}

pub(crate) fn volume(key: &str, v: &Node, project: &str) -> Result<Volume> {
    let p = format!("volumes.{key}");
    if v.is_null() {
        return Ok(Volume {
            name: format!("{project}_{key}"),
            ..Volume::default()
        });
    }
    v.check_keys(&p, &["name", "driver", "driver_opts", "external", "labels"])?;
    let mut out = Volume {
        name: engine_name(v, &p, project, key)?,
        external: external(v, &p)?.0,
        ..Volume::default()
    };
    if let Some(d) = v.get("driver") {
        out.driver = d.opt_string(&format!("{p}.driver"))?;
    }
    if let Some(l) = v.get("labels") {
        out.labels = labels(l, &format!("{p}.labels"))?;
    }
    if let Some(o) = v.get("driver_opts") {
        out.driver_opts = driver_opts(o, &format!("{p}.driver_opts"))?;
    }
    Ok(out)
}

/// A top-level secret (`configs == false`) or config.
pub(crate) fn file_object(
    key: &str,
    v: &Node,
    project: &str,
    configs: bool,
    env: &BTreeMap<String, String>,
) -> Result<FileObject> {
    let p = format!("{}.{key}", if configs { "configs" } else { "secrets" });
    let mut allowed = vec![
        "name",
        "file",
        "environment",
        "external",
        "labels",
        "driver",
        "driver_opts",
        "template_driver",
    ];
    if configs {
        allowed.push("content");
    }
    v.check_keys(&p, &allowed)?;
    let mut o = FileObject {
        name: engine_name(v, &p, project, key)?,
        ..FileObject::default()
    };
    if let Some(f) = v.get("file") {
        let s = f.str(&format!("{p}.file"))?;
        o.file = Some(resolve_path(f, s, env));
    }
    if let Some(e) = v.get("environment") {
        o.environment = e.opt_string(&format!("{p}.environment"))?;
    }
    if let Some(c) = v.get("content") {
        o.content = c.opt_string(&format!("{p}.content"))?;
    }
    let (ext, _) = external(v, &p)?;
    let sources = [
        o.file.is_some(),
        o.environment.is_some(),
        o.content.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if !ext && sources != 1 {
        return Err(v.err(format!(
            "{p}: exactly one of file, environment{} must be set",
            if configs { " or content" } else { "" }
        )));
    }
    Ok(o)
}
