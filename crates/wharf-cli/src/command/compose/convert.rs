//! A compose service as Engine API objects: the `POST /containers/create` body of one of its
//! containers, and the bodies of the project's networks and volumes. Pure (model in, JSON out),
//! so it is tested without a daemon.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use wharf_compose::{Project, Service};

/// The version we put in `com.docker.compose.version`: the compose release whose naming and
/// labels we follow (docker compose v2 reads this label).
pub const COMPOSE_VERSION: &str = "2.29.7";

pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_NUMBER: &str = "com.docker.compose.container-number";
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";
pub const LABEL_HASH: &str = "com.docker.compose.config-hash";
pub const LABEL_IMAGE: &str = "com.docker.compose.image";
pub const LABEL_NETWORK: &str = "com.docker.compose.network";
pub const LABEL_VOLUME: &str = "com.docker.compose.volume";
pub const LABEL_VERSION: &str = "com.docker.compose.version";

/// The image a service's containers run: `image:`, else what `build` tags
/// (`PROJECT-SERVICE`, docker compose v2's default).
pub fn image_name(p: &Project, s: &Service) -> String {
    match &s.image {
        Some(i) => i.clone(),
        None => format!("{}-{}", p.name, s.name),
    }
}

/// `PROJECT-SERVICE-N`, or `container_name`.
pub fn container_name(p: &Project, s: &Service, number: u32) -> String {
    match &s.container_name {
        Some(n) => n.clone(),
        None => format!("{}-{}-{number}", p.name, s.name),
    }
}

/// How many containers the service wants (`--scale` wins, then `deploy.replicas`, `scale`).
pub fn replicas(s: &Service, scale: &BTreeMap<String, u32>) -> u32 {
    scale
        .get(&s.name)
        .copied()
        .or(s.deploy.as_ref().and_then(|d| d.replicas))
        .or(s.scale)
        .unwrap_or(1)
}

/// What makes a container one of the project's.
pub struct Identity<'a> {
    pub number: u32,
    pub oneoff: bool,
    pub config_hash: &'a str,
    /// The image id the container was created from (`com.docker.compose.image`).
    pub image_id: &'a str,
    pub config_files: &'a str,
}

/// The engine name of a network key of the project.
pub fn network_name(p: &Project, key: &str) -> String {
    p.networks
        .get(key)
        .map(|n| n.name.clone())
        .unwrap_or_else(|| format!("{}_{key}", p.name))
}

/// The engine name of a volume key of the project.
pub fn volume_name(p: &Project, key: &str) -> String {
    p.volumes
        .get(key)
        .map(|v| v.name.clone())
        .unwrap_or_else(|| format!("{}_{key}", p.name))
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::String(s.clone())).collect())
}

/// The `POST /containers/create` body for container `id.number` of service `s`.
pub fn create_body(p: &Project, s: &Service, id: &Identity) -> Value {
    let mut labels: BTreeMap<String, String> = s.labels.clone();
    labels.insert(LABEL_PROJECT.into(), p.name.clone());
    labels.insert(LABEL_SERVICE.into(), s.name.clone());
    labels.insert(LABEL_NUMBER.into(), id.number.to_string());
    labels.insert(
        LABEL_ONEOFF.into(),
        if id.oneoff { "True" } else { "False" }.into(),
    );
    labels.insert(LABEL_HASH.into(), id.config_hash.to_string());
    labels.insert(LABEL_VERSION.into(), COMPOSE_VERSION.into());
    if !id.image_id.is_empty() {
        labels.insert(LABEL_IMAGE.into(), id.image_id.to_string());
    }
    labels.insert(
        "com.docker.compose.project.working_dir".into(),
        p.working_dir.display().to_string(),
    );
    labels.insert(
        "com.docker.compose.project.config_files".into(),
        id.config_files.to_string(),
    );
    let deps: Vec<String> = s
        .depends_on
        .iter()
        .map(|(k, d)| format!("{k}:{}:{}", d.condition, d.restart))
        .collect();
    labels.insert("com.docker.compose.depends_on".into(), deps.join(","));

    let env: Vec<String> = s
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();

    let mut exposed = Map::new();
    for e in &s.expose {
        let key = if e.contains('/') {
            e.clone()
        } else {
            format!("{e}/tcp")
        };
        exposed.insert(key, json!({}));
    }
    let mut bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for port in &s.ports {
        let key = format!("{}/{}", port.target, port.protocol);
        exposed.insert(key.clone(), json!({}));
        bindings.entry(key).or_default().push(json!({
            "HostIp": port.host_ip.clone().unwrap_or_default(),
            "HostPort": port.published.map(|p| p.to_string()).unwrap_or_default(),
        }));
    }

    let mut binds = Vec::new();
    let mut mounts = Vec::new();
    for v in &s.volumes {
        match v.kind.as_str() {
            "bind" if v.create_host_path => {
                let mut b = format!("{}:{}", v.source.clone().unwrap_or_default(), v.target);
                if v.read_only {
                    b.push_str(":ro");
                }
                binds.push(Value::String(b));
            }
            "bind" => mounts.push(json!({
                "Type": "bind",
                "Source": v.source.clone().unwrap_or_default(),
                "Target": v.target,
                "ReadOnly": v.read_only,
            })),
            "tmpfs" => {
                let mut m = json!({"Type": "tmpfs", "Target": v.target, "ReadOnly": v.read_only});
                if let Some(size) = v.tmpfs_size {
                    m["TmpfsOptions"] = json!({ "SizeBytes": size });
                }
                mounts.push(m);
            }
            _ => {
                let source = v
                    .source
                    .as_deref()
                    .map(|k| volume_name(p, k))
                    .unwrap_or_default();
                let mut m = json!({
                    "Type": "volume",
                    "Source": source,
                    "Target": v.target,
                    "ReadOnly": v.read_only,
                });
                if v.nocopy {
                    m["VolumeOptions"] = json!({ "NoCopy": true });
                }
                mounts.push(m);
            }
        }
    }
    for f in &s.secrets {
        if let Some(path) = p.secrets.get(&f.source).and_then(|o| o.file.as_ref()) {
            mounts.push(json!({
                "Type": "bind",
                "Source": path.display().to_string(),
                "Target": f.target,
                "ReadOnly": true,
            }));
        }
    }
    for f in &s.configs {
        if let Some(path) = p.configs.get(&f.source).and_then(|o| o.file.as_ref()) {
            mounts.push(json!({
                "Type": "bind",
                "Source": path.display().to_string(),
                "Target": f.target,
                "ReadOnly": true,
            }));
        }
    }
    let mut tmpfs = Map::new();
    for t in &s.tmpfs {
        let (path, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
        tmpfs.insert(path.to_string(), Value::String(opts.to_string()));
    }

    let mut host = json!({
        "PortBindings": bindings,
        "Binds": binds,
        "Mounts": mounts,
        "Privileged": s.privileged,
        "ReadonlyRootfs": s.read_only,
        "CapAdd": strings(&s.cap_add),
        "CapDrop": strings(&s.cap_drop),
        "SecurityOpt": strings(&s.security_opt),
        "ExtraHosts": strings(&s.extra_hosts),
        "Dns": strings(&s.dns),
    });
    if !tmpfs.is_empty() {
        host["Tmpfs"] = Value::Object(tmpfs);
    }
    if let Some(i) = s.init {
        host["Init"] = Value::Bool(i);
    }
    if let Some(r) = &s.restart {
        let (name, count) = match r.split_once(':') {
            Some((n, c)) => (n.to_string(), c.parse::<i64>().unwrap_or(0)),
            None => (r.clone(), 0),
        };
        let name = if name == "no" { String::new() } else { name };
        host["RestartPolicy"] = json!({"Name": name, "MaximumRetryCount": count});
    }
    if let Some(d) = &s.deploy {
        if let Some(m) = d.resources.memory {
            host["Memory"] = json!(m);
        }
        if let Some(c) = d.resources.cpus {
            host["NanoCpus"] = json!((c * 1e9) as i64);
        }
        if let Some(pids) = d.resources.pids {
            host["PidsLimit"] = json!(pids);
        }
    }
    let container_ref = |v: &str| match v.strip_prefix("service:") {
        Some(svc) => format!("container:{}", container_name_of(p, svc)),
        None => v.to_string(),
    };
    for (key, val) in [("PidMode", &s.pid), ("IpcMode", &s.ipc)] {
        if let Some(v) = val {
            host[key] = Value::String(container_ref(v));
        }
    }
    if !s.volumes_from.is_empty() {
        let from: Vec<String> = s
            .volumes_from
            .iter()
            .map(|v| {
                let r = container_ref(v);
                r.strip_prefix("container:").unwrap_or(&r).to_string()
            })
            .collect();
        host["VolumesFrom"] = strings(&from);
    }
    for (key, val) in [
        ("DnsSearch", &s.dns_search),
        ("DnsOptions", &s.dns_opt),
        ("GroupAdd", &s.group_add),
    ] {
        if !val.is_empty() {
            host[key] = strings(val);
        }
    }
    if !s.sysctls.is_empty() {
        host["Sysctls"] = json!(s.sysctls);
    }
    if !s.devices.is_empty() {
        let mut devices = Vec::new();
        for d in &s.devices {
            use crate::command::container::opts::{device_json, parse_device};
            // A malformed entry goes as written: the daemon refuses it with its reason.
            devices.push(match parse_device(d) {
                Ok(d) => device_json(&d),
                Err(_) => {
                    json!({"PathOnHost": d, "PathInContainer": d, "CgroupPermissions": "rwm"})
                }
            });
        }
        host["Devices"] = Value::Array(devices);
    }
    if let Some(l) = &s.logging {
        host["LogConfig"] = json!({
            "Type": l.driver.clone().unwrap_or_default(),
            "Config": l.options,
        });
    }
    for (key, val) in [
        ("ShmSize", s.shm_size),
        ("OomScoreAdj", s.oom_score_adj),
        ("CpuShares", s.cpu_shares),
        ("MemoryReservation", s.mem_reservation),
        ("MemorySwap", s.memswap_limit),
    ] {
        if let Some(v) = val {
            host[key] = json!(v);
        }
    }
    for (key, val) in [
        ("CpusetCpus", &s.cpuset),
        ("CgroupParent", &s.cgroup_parent),
        ("UsernsMode", &s.userns_mode),
        ("Runtime", &s.runtime),
    ] {
        if let Some(v) = val {
            host[key] = Value::String(v.clone());
        }
    }
    if !s.ulimits.is_empty() {
        host["Ulimits"] = Value::Array(
            s.ulimits
                .iter()
                .map(|(n, u)| json!({"Name": n, "Soft": u.soft, "Hard": u.hard}))
                .collect(),
        );
    }

    let mut endpoints = Map::new();
    match s.network_mode.as_deref() {
        Some(mode) => {
            let mode = match mode.strip_prefix("service:") {
                // The first container of that service.
                Some(svc) => format!("container:{}", container_name_of(p, svc)),
                None => mode.to_string(),
            };
            host["NetworkMode"] = Value::String(mode);
        }
        None => {
            // The primary network: the one with the highest priority in docker compose;
            // here the first by key order (deterministic), `default` first if present.
            let mut keys: Vec<&String> = s.networks.keys().collect();
            keys.sort_by_key(|k| (k.as_str() != "default", k.as_str()));
            if let Some(first) = keys.first() {
                host["NetworkMode"] = Value::String(network_name(p, first));
            }
            for k in keys {
                let n = &s.networks[k];
                let mut aliases = vec![s.name.clone()];
                aliases.extend(n.aliases.iter().cloned());
                let mut ep = json!({ "Aliases": aliases });
                if let Some(ip) = &n.ipv4_address {
                    ep["IPAMConfig"] = json!({ "IPv4Address": ip });
                }
                endpoints.insert(network_name(p, k), ep);
            }
        }
    }

    let mut body = json!({
        "Image": image_name(p, s),
        "Env": env,
        "Labels": labels,
        "ExposedPorts": exposed,
        "Tty": s.tty,
        "OpenStdin": s.stdin_open,
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "HostConfig": host,
        "NetworkingConfig": { "EndpointsConfig": endpoints },
    });
    if let Some(c) = &s.command {
        body["Cmd"] = strings(c);
    }
    if let Some(e) = &s.entrypoint {
        body["Entrypoint"] = strings(e);
    }
    for (key, val) in [
        ("Hostname", &s.hostname),
        ("Domainname", &s.domainname),
        ("User", &s.user),
        ("WorkingDir", &s.working_dir),
        ("StopSignal", &s.stop_signal),
    ] {
        if let Some(v) = val {
            body[key] = Value::String(v.clone());
        }
    }
    if let Some(g) = s.stop_grace_period {
        body["StopTimeout"] = json!(g.ceil() as i64);
    }
    if let Some(h) = &s.healthcheck {
        let test = if h.disable {
            vec!["NONE".to_string()]
        } else {
            h.test.clone()
        };
        let mut hc = json!({ "Test": test });
        for (k, v) in [
            ("Interval", h.interval),
            ("Timeout", h.timeout),
            ("StartPeriod", h.start_period),
            ("StartInterval", h.start_interval),
            ("Retries", h.retries),
        ] {
            if let Some(v) = v {
                hc[k] = json!(v);
            }
        }
        body["Healthcheck"] = hc;
    }
    body
}

fn container_name_of(p: &Project, service: &str) -> String {
    match p.services.get(service) {
        Some(s) => container_name(p, s, 1),
        None => format!("{}-{service}-1", p.name),
    }
}

/// `POST /networks/create` for a non-external network of the project.
pub fn network_body(p: &Project, key: &str) -> Value {
    let n = p.networks.get(key).cloned().unwrap_or_default();
    let mut labels = n.labels.clone();
    labels.insert(LABEL_PROJECT.into(), p.name.clone());
    labels.insert(LABEL_NETWORK.into(), key.to_string());
    labels.insert(LABEL_VERSION.into(), COMPOSE_VERSION.into());
    let mut body = json!({
        "Name": network_name(p, key),
        "Driver": n.driver.clone().unwrap_or_else(|| "bridge".into()),
        "Internal": n.internal,
        "Labels": labels,
    });
    if n.enable_ipv6 {
        body["EnableIPv6"] = Value::Bool(true);
    }
    if n.attachable {
        body["Attachable"] = Value::Bool(true);
    }
    if !n.driver_opts.is_empty() {
        body["Options"] = json!(n.driver_opts);
    }
    if n.subnet.is_some() || n.gateway.is_some() || n.ip_range.is_some() {
        let mut cfg = Map::new();
        if let Some(r) = &n.ip_range {
            cfg.insert("IPRange".into(), Value::String(r.clone()));
        }
        if let Some(s) = &n.subnet {
            cfg.insert("Subnet".into(), Value::String(s.clone()));
        }
        if let Some(g) = &n.gateway {
            cfg.insert("Gateway".into(), Value::String(g.clone()));
        }
        body["IPAM"] = json!({ "Driver": "default", "Config": [cfg] });
    }
    body
}

/// `POST /volumes/create` for a non-external volume of the project.
pub fn volume_body(p: &Project, key: &str) -> Value {
    let v = p.volumes.get(key).cloned().unwrap_or_default();
    let mut labels = v.labels.clone();
    labels.insert(LABEL_PROJECT.into(), p.name.clone());
    labels.insert(LABEL_VOLUME.into(), key.to_string());
    labels.insert(LABEL_VERSION.into(), COMPOSE_VERSION.into());
    json!({
        "Name": volume_name(p, key),
        "Driver": v.driver.clone().unwrap_or_else(|| "local".into()),
        "DriverOpts": v.driver_opts,
        "Labels": labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_compose::{Port, ServiceNetwork, ServiceVolume};

    fn project() -> Project {
        let mut web = Service {
            name: "web".into(),
            image: Some("busybox".into()),
            command: Some(vec!["httpd".into(), "-f".into()]),
            ..Default::default()
        };
        web.ports.push(Port {
            target: 80,
            published: Some(8080),
            host_ip: None,
            protocol: "tcp".into(),
        });
        web.volumes.push(ServiceVolume {
            kind: "volume".into(),
            source: Some("data".into()),
            target: "/data".into(),
            ..Default::default()
        });
        web.networks.insert(
            "default".into(),
            ServiceNetwork {
                aliases: vec!["www".into()],
                ipv4_address: None,
            },
        );
        web.environment.insert("A".into(), Some("1".into()));
        web.environment.insert("UNSET".into(), None);
        let mut p = Project {
            name: "demo".into(),
            working_dir: "/srv/demo".into(),
            ..Default::default()
        };
        p.services.insert("web".into(), web);
        p.networks.insert(
            "default".into(),
            wharf_compose::Network {
                name: "demo_default".into(),
                ..Default::default()
            },
        );
        p.volumes.insert(
            "data".into(),
            wharf_compose::Volume {
                name: "demo_data".into(),
                ..Default::default()
            },
        );
        p
    }

    #[test]
    fn create_body_has_compose_labels_ports_mounts_networks() {
        let p = project();
        let s = &p.services["web"];
        let b = create_body(
            &p,
            s,
            &Identity {
                number: 2,
                oneoff: false,
                config_hash: "abc",
                image_id: "sha256:1",
                config_files: "/srv/demo/compose.yaml",
            },
        );
        assert_eq!(b["Labels"][LABEL_PROJECT], "demo");
        assert_eq!(b["Labels"][LABEL_SERVICE], "web");
        assert_eq!(b["Labels"][LABEL_NUMBER], "2");
        assert_eq!(b["Labels"][LABEL_ONEOFF], "False");
        assert_eq!(b["Labels"][LABEL_HASH], "abc");
        assert_eq!(b["Env"], json!(["A=1"]));
        assert_eq!(b["Cmd"], json!(["httpd", "-f"]));
        assert_eq!(
            b["HostConfig"]["PortBindings"]["80/tcp"],
            json!([{"HostIp": "", "HostPort": "8080"}])
        );
        assert_eq!(b["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(b["HostConfig"]["Mounts"][0]["Source"], "demo_data");
        assert_eq!(b["HostConfig"]["NetworkMode"], "demo_default");
        assert_eq!(
            b["NetworkingConfig"]["EndpointsConfig"]["demo_default"]["Aliases"],
            json!(["web", "www"])
        );
        assert_eq!(container_name(&p, s, 2), "demo-web-2");
    }

    #[test]
    fn network_and_volume_bodies_are_labelled() {
        let p = project();
        let n = network_body(&p, "default");
        assert_eq!(n["Name"], "demo_default");
        assert_eq!(n["Labels"][LABEL_NETWORK], "default");
        let v = volume_body(&p, "data");
        assert_eq!(v["Name"], "demo_data");
        assert_eq!(v["Labels"][LABEL_VOLUME], "data");
    }
}
