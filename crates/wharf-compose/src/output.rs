//! Printing the resolved model in docker compose's `config` layout (long syntax, keys sorted,
//! `$` escaped as `$$` so the output loads back unchanged), and the config hash.

use std::collections::BTreeMap;
use std::fmt::Write;

use sha2::{Digest, Sha256};

use crate::model::*;
use crate::syntax::format_duration;

/// A YAML value to print.
enum Y {
    Str(String),
    Raw(String),
    Null,
    Seq(Vec<Y>),
    Map(Vec<(String, Y)>),
}

fn s(v: impl Into<String>) -> Y {
    Y::Str(v.into())
}

fn raw(v: impl ToString) -> Y {
    Y::Raw(v.to_string())
}

/// A mapping builder that keeps keys sorted.
#[derive(Default)]
struct M(BTreeMap<String, Y>);

impl M {
    fn put(&mut self, k: &str, v: Y) -> &mut Self {
        self.0.insert(k.to_string(), v);
        self
    }
    fn opt(&mut self, k: &str, v: Option<Y>) -> &mut Self {
        if let Some(v) = v {
            self.put(k, v);
        }
        self
    }
    fn flag(&mut self, k: &str, v: bool) -> &mut Self {
        if v {
            self.put(k, raw(true));
        }
        self
    }
    fn list(&mut self, k: &str, v: &[String]) -> &mut Self {
        if !v.is_empty() {
            self.put(k, Y::Seq(v.iter().map(|x| s(x.clone())).collect()));
        }
        self
    }
    fn strmap(&mut self, k: &str, v: &BTreeMap<String, String>) -> &mut Self {
        if !v.is_empty() {
            self.put(
                k,
                Y::Map(v.iter().map(|(a, b)| (a.clone(), s(b.clone()))).collect()),
            );
        }
        self
    }
    fn optmap(&mut self, k: &str, v: &BTreeMap<String, Option<String>>) -> &mut Self {
        if !v.is_empty() {
            let m = v
                .iter()
                .map(|(a, b)| (a.clone(), b.clone().map_or(Y::Null, s)))
                .collect();
            self.put(k, Y::Map(m));
        }
        self
    }
    fn done(self) -> Y {
        Y::Map(self.0.into_iter().collect())
    }
}

fn plain_ok(v: &str) -> bool {
    let Some(first) = v.chars().next() else {
        return false;
    };
    let lower = v.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~" | "y" | "n"
    ) || v.parse::<f64>().is_ok()
        || lower.starts_with("0x")
        || lower.starts_with("0o")
        || lower.starts_with(".")
    {
        return false;
    }
    // `:` is plain when not followed by a space and not last, except in all-digit text
    // (`80:80` is a base-60 number to YAML 1.1 readers).
    let colon_ok = !v.ends_with(':')
        && v.chars()
            .any(|c| c.is_ascii_alphabetic() || c == '/' || c == '_' || c == '-');
    (first.is_ascii_alphanumeric() || first == '/' || first == '_')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.-+@,=".contains(c) || (c == ':' && colon_ok))
}

fn quote(v: &str) -> String {
    if plain_ok(v) {
        return v.to_string();
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn scalar(y: &Y) -> Option<String> {
    match y {
        Y::Str(v) => Some(quote(&v.replace('$', "$$"))),
        Y::Raw(v) => Some(v.clone()),
        Y::Null => Some("null".into()),
        Y::Seq(v) if v.is_empty() => Some("[]".into()),
        Y::Map(v) if v.is_empty() => Some("{}".into()),
        _ => None,
    }
}

fn emit(out: &mut String, y: &Y, indent: usize) {
    let pad = " ".repeat(indent);
    match y {
        Y::Map(entries) => {
            for (k, v) in entries {
                match scalar(v) {
                    Some(sv) => {
                        let _ = writeln!(out, "{pad}{}: {sv}", quote(k));
                    }
                    None => {
                        let _ = writeln!(out, "{pad}{}:", quote(k));
                        emit(out, v, indent + 2);
                    }
                }
            }
        }
        Y::Seq(items) => {
            for it in items {
                match scalar(it) {
                    Some(sv) => {
                        let _ = writeln!(out, "{pad}- {sv}");
                    }
                    None => {
                        // Print the first line after `- `, the rest indented under it.
                        let mut inner = String::new();
                        emit(&mut inner, it, indent + 2);
                        let trimmed = inner.trim_start_matches(' ');
                        let _ = write!(out, "{pad}- {trimmed}");
                    }
                }
            }
        }
        other => {
            if let Some(sv) = scalar(other) {
                let _ = writeln!(out, "{pad}{sv}");
            }
        }
    }
}

fn service(sv: &Service) -> Y {
    let mut m = M::default();
    if let Some(b) = &sv.build {
        let mut bm = M::default();
        bm.put("context", s(b.context.display().to_string()))
            .put("dockerfile", s(b.dockerfile.clone()))
            .optmap("args", &b.args)
            .opt("target", b.target.clone().map(s))
            .strmap("labels", &b.labels)
            .flag("no_cache", b.no_cache)
            .flag("pull", b.pull)
            .opt("dockerfile_inline", b.dockerfile_inline.clone().map(s))
            .list("tags", &b.tags)
            .opt("network", b.network.clone().map(s));
        m.put("build", bm.done());
    }
    let cmd = |c: &Option<Vec<String>>| {
        c.as_ref()
            .map(|c| Y::Seq(c.iter().map(|x| s(x.clone())).collect()))
    };
    m.opt("image", sv.image.clone().map(s))
        .opt("command", cmd(&sv.command))
        .opt("entrypoint", cmd(&sv.entrypoint))
        .optmap("environment", &sv.environment)
        .list("expose", &sv.expose)
        .list("tmpfs", &sv.tmpfs)
        .opt("network_mode", sv.network_mode.clone().map(s))
        .opt("restart", sv.restart.clone().map(s))
        .strmap("labels", &sv.labels)
        .list("profiles", &sv.profiles)
        .opt("container_name", sv.container_name.clone().map(s))
        .opt("hostname", sv.hostname.clone().map(s))
        .opt("domainname", sv.domainname.clone().map(s))
        .opt("user", sv.user.clone().map(s))
        .opt("working_dir", sv.working_dir.clone().map(s))
        .flag("tty", sv.tty)
        .flag("stdin_open", sv.stdin_open)
        .opt("init", sv.init.map(raw))
        .flag("privileged", sv.privileged)
        .flag("read_only", sv.read_only)
        .list("cap_add", &sv.cap_add)
        .list("cap_drop", &sv.cap_drop)
        .list("security_opt", &sv.security_opt)
        .list("extra_hosts", &sv.extra_hosts)
        .list("dns", &sv.dns)
        .opt("stop_signal", sv.stop_signal.clone().map(s))
        .opt(
            "stop_grace_period",
            sv.stop_grace_period
                .map(|g| s(format_duration((g * 1e9).round() as i64))),
        )
        .opt("pull_policy", sv.pull_policy.clone().map(s))
        .opt("scale", sv.scale.map(raw))
        .list("dns_search", &sv.dns_search)
        .list("dns_opt", &sv.dns_opt)
        .strmap("sysctls", &sv.sysctls)
        .opt("shm_size", sv.shm_size.map(|x| s(x.to_string())))
        .list("devices", &sv.devices)
        .opt("pid", sv.pid.clone().map(s))
        .opt("ipc", sv.ipc.clone().map(s))
        .opt("platform", sv.platform.clone().map(s))
        .list("group_add", &sv.group_add)
        .list("volumes_from", &sv.volumes_from)
        .list("links", &sv.links)
        .opt("mac_address", sv.mac_address.clone().map(s))
        .opt("oom_score_adj", sv.oom_score_adj.map(raw))
        .opt("cpu_shares", sv.cpu_shares.map(raw))
        .opt("cpuset", sv.cpuset.clone().map(s))
        .opt(
            "mem_reservation",
            sv.mem_reservation.map(|x| s(x.to_string())),
        )
        .opt("memswap_limit", sv.memswap_limit.map(|x| s(x.to_string())))
        .opt("cgroup_parent", sv.cgroup_parent.clone().map(s))
        .opt("userns_mode", sv.userns_mode.clone().map(s))
        .opt("runtime", sv.runtime.clone().map(s));
    if let Some(l) = &sv.logging {
        let mut lm = M::default();
        lm.opt("driver", l.driver.clone().map(s))
            .strmap("options", &l.options);
        m.put("logging", lm.done());
    }
    if !sv.ports.is_empty() {
        let ports = sv
            .ports
            .iter()
            .map(|p| {
                let mut pm = M::default();
                pm.put("target", raw(p.target))
                    .opt("published", p.published.map(|x| s(x.to_string())))
                    .opt("host_ip", p.host_ip.clone().map(s))
                    .put("protocol", s(p.protocol.clone()))
                    .put("mode", s("ingress"));
                pm.done()
            })
            .collect();
        m.put("ports", Y::Seq(ports));
    }
    if !sv.volumes.is_empty() {
        let vols = sv
            .volumes
            .iter()
            .map(|v| {
                let mut vm = M::default();
                vm.put("type", s(v.kind.clone()))
                    .opt("source", v.source.clone().map(s))
                    .put("target", s(v.target.clone()))
                    .flag("read_only", v.read_only);
                match v.kind.as_str() {
                    "bind" if v.create_host_path => {
                        let mut b = M::default();
                        b.flag("create_host_path", true);
                        vm.put("bind", b.done());
                    }
                    "volume" if v.nocopy => {
                        let mut b = M::default();
                        b.flag("nocopy", true);
                        vm.put("volume", b.done());
                    }
                    "tmpfs" => {
                        if let Some(size) = v.tmpfs_size {
                            let mut b = M::default();
                            b.put("size", raw(size));
                            vm.put("tmpfs", b.done());
                        }
                    }
                    _ => {}
                }
                vm.done()
            })
            .collect();
        m.put("volumes", Y::Seq(vols));
    }
    if !sv.networks.is_empty() {
        let nets = sv
            .networks
            .iter()
            .map(|(k, n)| {
                let v = if n.aliases.is_empty() && n.ipv4_address.is_none() {
                    Y::Null
                } else {
                    let mut nm = M::default();
                    nm.list("aliases", &n.aliases)
                        .opt("ipv4_address", n.ipv4_address.clone().map(s));
                    nm.done()
                };
                (k.clone(), v)
            })
            .collect();
        m.put("networks", Y::Map(nets));
    }
    if !sv.depends_on.is_empty() {
        let deps = sv
            .depends_on
            .iter()
            .map(|(k, d)| {
                let mut dm = M::default();
                dm.put("condition", s(d.condition.clone()))
                    .put("restart", raw(d.restart))
                    .put("required", raw(d.required));
                (k.clone(), dm.done())
            })
            .collect();
        m.put("depends_on", Y::Map(deps));
    }
    if let Some(h) = &sv.healthcheck {
        let mut hm = M::default();
        hm.list("test", &h.test)
            .opt("interval", h.interval.map(|d| s(format_duration(d))))
            .opt("timeout", h.timeout.map(|d| s(format_duration(d))))
            .opt(
                "start_period",
                h.start_period.map(|d| s(format_duration(d))),
            )
            .opt(
                "start_interval",
                h.start_interval.map(|d| s(format_duration(d))),
            )
            .opt("retries", h.retries.map(raw))
            .flag("disable", h.disable);
        m.put("healthcheck", hm.done());
    }
    if let Some(d) = &sv.deploy {
        let mut dm = M::default();
        dm.opt("replicas", d.replicas.map(raw))
            .strmap("labels", &d.labels);
        let r = &d.resources;
        if r.cpus.is_some() || r.memory.is_some() || r.pids.is_some() {
            let mut lm = M::default();
            lm.opt("cpus", r.cpus.map(raw))
                .opt("memory", r.memory.map(|x| s(x.to_string())))
                .opt("pids", r.pids.map(raw));
            let mut rm = M::default();
            rm.put("limits", lm.done());
            dm.put("resources", rm.done());
        }
        m.put("deploy", dm.done());
    }
    if !sv.ulimits.is_empty() {
        let u = sv
            .ulimits
            .iter()
            .map(|(k, u)| {
                let mut um = M::default();
                um.put("soft", raw(u.soft)).put("hard", raw(u.hard));
                (k.clone(), um.done())
            })
            .collect();
        m.put("ulimits", Y::Map(u));
    }
    for (key, refs) in [("secrets", &sv.secrets), ("configs", &sv.configs)] {
        if !refs.is_empty() {
            let items = refs
                .iter()
                .map(|r| {
                    let mut rm = M::default();
                    rm.put("source", s(r.source.clone()))
                        .put("target", s(r.target.clone()))
                        .opt("mode", r.mode.map(|x| raw(format!("0{x:o}"))));
                    rm.done()
                })
                .collect();
            m.put(key, Y::Seq(items));
        }
    }
    m.done()
}

/// The project as YAML in docker compose's `config` layout (`name`, `services`, `networks`,
/// `volumes`, `secrets`, `configs`; long syntax; keys sorted; `$` written `$$`). Deterministic,
/// and [`crate::load`] reads it back to the same project.
pub fn to_yaml(p: &Project) -> String {
    let mut top: Vec<(String, Y)> = vec![("name".into(), s(p.name.clone()))];
    let services = p
        .services
        .iter()
        .map(|(k, sv)| (k.clone(), service(sv)))
        .collect();
    top.push(("services".into(), Y::Map(services)));
    if !p.networks.is_empty() {
        let nets = p
            .networks
            .iter()
            .map(|(k, n)| {
                let mut nm = M::default();
                nm.put("name", s(n.name.clone()))
                    .opt("driver", n.driver.clone().map(s))
                    .flag("external", n.external)
                    .flag("internal", n.internal)
                    .flag("enable_ipv6", n.enable_ipv6)
                    .flag("attachable", n.attachable)
                    .strmap("driver_opts", &n.driver_opts)
                    .strmap("labels", &n.labels);
                if n.subnet.is_some() || n.gateway.is_some() || n.ip_range.is_some() {
                    let mut c = M::default();
                    c.opt("subnet", n.subnet.clone().map(s))
                        .opt("ip_range", n.ip_range.clone().map(s))
                        .opt("gateway", n.gateway.clone().map(s));
                    let mut ipam = M::default();
                    ipam.put("config", Y::Seq(vec![c.done()]));
                    nm.put("ipam", ipam.done());
                }
                (k.clone(), nm.done())
            })
            .collect();
        top.push(("networks".into(), Y::Map(nets)));
    }
    if !p.volumes.is_empty() {
        let vols = p
            .volumes
            .iter()
            .map(|(k, v)| {
                let mut vm = M::default();
                vm.put("name", s(v.name.clone()))
                    .opt("driver", v.driver.clone().map(s))
                    .strmap("driver_opts", &v.driver_opts)
                    .flag("external", v.external)
                    .strmap("labels", &v.labels);
                (k.clone(), vm.done())
            })
            .collect();
        top.push(("volumes".into(), Y::Map(vols)));
    }
    for (key, objs) in [("secrets", &p.secrets), ("configs", &p.configs)] {
        if !objs.is_empty() {
            let items = objs
                .iter()
                .map(|(k, o)| {
                    let mut om = M::default();
                    om.put("name", s(o.name.clone()))
                        .opt("file", o.file.as_ref().map(|f| s(f.display().to_string())))
                        .opt("environment", o.environment.clone().map(s))
                        .opt("content", o.content.clone().map(s));
                    (k.clone(), om.done())
                })
                .collect();
            top.push((key.into(), Y::Map(items)));
        }
    }
    let mut out = String::new();
    emit(&mut out, &Y::Map(top), 0);
    out
}

/// sha256 of the service as it affects its containers: everything but replicas/scale,
/// `depends_on`, profiles and the pull policy, which change how many containers run or when,
/// not what a container is. Unlike docker compose's `ServiceHash` the `build` section stays
/// in: a changed build recreates the container even when the executor does not compare
/// image IDs.
pub fn config_hash(sv: &Service) -> String {
    let mut c = sv.clone();
    c.scale = None;
    if let Some(d) = &mut c.deploy {
        d.replicas = None;
    }
    c.depends_on.clear();
    c.profiles.clear();
    c.pull_policy = None;
    let json = serde_json::to_vec(&c).unwrap_or_default();
    hex::encode(Sha256::digest(&json))
}
