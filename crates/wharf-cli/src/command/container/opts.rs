//! The flags `run` and `create` share, and their translation into the body of
//! `POST /containers/create` (Config + HostConfig + NetworkingConfig), as docker/cli's
//! `cli/command/container/opts.go` (`parse`) builds it. Field names, defaults and the shape of
//! every value follow what the docker CLI sends (observed on the wire), so a Docker daemon and
//! ours read the same request.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::error::CliError;

// The flags of `wharf create` (and, with a few more, `wharf run`). Not a doc comment: clap
// would make it the `about` of every command that flattens these (help is built lazily).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ContainerOpts {
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach", value_name = "list")]
    pub attach: Vec<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    pub cap_drop: Vec<String>,
    /// CPU shares (relative weight)
    #[arg(
        short = 'c',
        long = "cpu-shares",
        value_name = "int",
        default_value_t = 0
    )]
    pub cpu_shares: i64,
    /// Number of CPUs
    #[arg(long = "cpus", value_name = "decimal")]
    pub cpus: Option<String>,
    /// Add a host device to the container
    #[arg(long = "device", value_name = "list", value_parser = parse_device)]
    pub device: Vec<DeviceSpec>,
    /// Set custom DNS servers
    #[arg(long = "dns", value_name = "list")]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", value_name = "list")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list")]
    pub dns_search: Vec<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long = "entrypoint", value_name = "string")]
    pub entrypoint: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long = "expose", value_name = "list")]
    pub expose: Vec<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", value_name = "duration")]
    pub health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries", value_name = "int")]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-period", value_name = "duration")]
    pub health_start_period: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", value_name = "duration")]
    pub health_timeout: Option<String>,
    /// Print usage
    #[arg(long = "help", action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Container host name
    #[arg(short = 'h', long = "hostname", value_name = "string")]
    pub hostname: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long = "init")]
    pub init: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip", value_name = "string")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long = "ip6", value_name = "string")]
    pub ip6: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file", value_name = "list")]
    pub label_file: Vec<String>,
    /// Add link to another container
    #[arg(long = "link", value_name = "list")]
    pub link: Vec<String>,
    /// Container IPv4/IPv6 link-local addresses
    #[arg(long = "link-local-ip", value_name = "list")]
    pub link_local_ip: Vec<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver", value_name = "string")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt", value_name = "list")]
    pub log_opt: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", value_name = "string")]
    pub mac_address: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_name = "bytes")]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount")]
    pub mount: Vec<String>,
    /// Assign a name to the container
    #[arg(long = "name", value_name = "string")]
    pub name: Option<String>,
    /// Connect a container to a network
    #[arg(long = "network", alias = "net", value_name = "network")]
    pub network: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias", value_name = "list")]
    pub network_alias: Vec<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Add additional groups to join
    #[arg(long = "group-add", value_name = "list")]
    pub group_add: Vec<String>,
    /// PID namespace to use
    #[arg(long = "pid", value_name = "string")]
    pub pid: Option<String>,
    /// IPC mode to use
    #[arg(long = "ipc", value_name = "string")]
    pub ipc: Option<String>,
    /// UTS namespace to use
    #[arg(long = "uts", value_name = "string")]
    pub uts: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long = "cgroupns", value_name = "string")]
    pub cgroupns: Option<String>,
    /// User namespace to use
    #[arg(long = "userns", value_name = "string")]
    pub userns: Option<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_name = "bytes")]
    pub shm_size: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Sysctl options
    #[arg(long = "sysctl", value_name = "map")]
    pub sysctl: Vec<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", value_name = "int", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<u16>,
    /// Add a rule to the cgroup allowed devices list
    #[arg(long = "device-cgroup-rule", value_name = "list")]
    pub device_cgroup_rule: Vec<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    /// Give extended privileges to this container
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "list")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long = "pull", value_name = "string", default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart", value_name = "string", default_value = "no")]
    pub restart: String,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long = "rm")]
    pub rm: bool,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal", value_name = "string")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", value_name = "int", allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs", value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Ulimit options
    #[arg(long = "ulimit", value_name = "ulimit")]
    pub ulimit: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub volume: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// The image, then the command and its arguments (flags after the image belong to the command)
    #[arg(value_name = "IMAGE", required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// What `POST /containers/create` needs: the query and the body.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub image: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub body: Value,
}

impl CreateRequest {
    /// `/containers/create?name=…&platform=…` (Go's url.Values sort their keys).
    pub fn path(&self) -> String {
        let mut q = Vec::new();
        if let Some(n) = &self.name {
            q.push(("name", n.clone()));
        }
        if let Some(p) = self.platform.as_deref().filter(|p| !p.is_empty()) {
            q.push(("platform", p.to_string()));
        }
        format!("/containers/create{}", crate::client::query(&q))
    }

    pub fn tty(&self) -> bool {
        self.body["Tty"].as_bool().unwrap_or(false)
    }
    pub fn attach_stdin(&self) -> bool {
        self.body["AttachStdin"].as_bool().unwrap_or(false)
    }
    pub fn attach_stdout(&self) -> bool {
        self.body["AttachStdout"].as_bool().unwrap_or(false)
    }
    pub fn attach_stderr(&self) -> bool {
        self.body["AttachStderr"].as_bool().unwrap_or(false)
    }
    pub fn auto_remove(&self) -> bool {
        self.body["HostConfig"]["AutoRemove"]
            .as_bool()
            .unwrap_or(false)
    }
}

/// Where `parse` reads what is outside the flags (the environment, files, the terminal).
pub trait Host {
    fn env(&self, key: &str) -> Option<String>;
    fn read_file(&self, path: &str) -> std::io::Result<String>;
    /// (height, width) of the terminal on stdout, when it is one.
    fn console_size(&self) -> Option<(u16, u16)>;
}

/// The real process environment and file system.
pub struct ProcessHost;

impl Host for ProcessHost {
    fn env(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
    fn read_file(&self, path: &str) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn console_size(&self) -> Option<(u16, u16)> {
        super::hijack::terminal_size()
    }
}

fn err(s: impl Into<String>) -> CliError {
    CliError::msg(s)
}

/// docker/cli's `opts.parse`: flags to the create body. Errors are docker's messages, without
/// the "docker: " prefix the caller adds.
pub fn parse(o: &ContainerOpts, host: &dyn Host) -> Result<CreateRequest, CliError> {
    let image = o
        .args
        .first()
        .cloned()
        .ok_or_else(|| err("requires at least 1 argument"))?;
    let cmd: Vec<String> = o.args[1..].to_vec();

    // Streams: -a picks them; without -a, stdout and stderr; -i adds stdin.
    let mut attach = (false, false, false);
    for a in &o.attach {
        match a.to_lowercase().as_str() {
            "stdin" => attach.0 = true,
            "stdout" => attach.1 = true,
            "stderr" => attach.2 = true,
            _ => return Err(err(format!("invalid argument \"{a}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"))),
        }
    }
    if o.interactive {
        attach.0 = true;
    }
    if o.attach.is_empty() {
        attach.1 = true;
        attach.2 = true;
    }

    let memory = o
        .memory
        .as_deref()
        .map(|m| ram_in_bytes(m).map_err(|e| flag_err(m, "-m, --memory", &e)))
        .transpose()?
        .unwrap_or(0);
    let shm_size = o
        .shm_size
        .as_deref()
        .map(|m| ram_in_bytes(m).map_err(|e| flag_err(m, "--shm-size", &e)))
        .transpose()?
        .unwrap_or(0);
    let memory_reservation = o
        .memory_reservation
        .as_deref()
        .map(|m| ram_in_bytes(m).map_err(|e| flag_err(m, "--memory-reservation", &e)))
        .transpose()?
        .unwrap_or(0);
    let mut sysctls = serde_json::Map::new();
    for kv in &o.sysctl {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                sysctls.insert(k.to_string(), Value::from(v));
            }
            _ => return Err(flag_err(kv, "--sysctl", &format!("invalid value {kv}"))),
        }
    }
    let memory_swap = match o.memory_swap.as_deref() {
        None => 0,
        Some("-1") => -1,
        Some(s) => ram_in_bytes(s).map_err(|e| flag_err(s, "--memory-swap", &e))?,
    };
    let nano_cpus = o
        .cpus
        .as_deref()
        .map(|c| parse_cpus(c).map_err(|e| flag_err(c, "--cpus", &e)))
        .transpose()?
        .unwrap_or(0);

    // Ports: -p bindings and --expose, both exposed.
    let mut exposed: BTreeMap<String, Value> = BTreeMap::new();
    let mut bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in &o.publish {
        let p = publish_standard_notation(p)?;
        for (port, ip, host_port) in parse_port_spec(&p)? {
            exposed.insert(port.clone(), json!({}));
            bindings
                .entry(port)
                .or_default()
                .push(json!({"HostIp": ip, "HostPort": host_port}));
        }
    }
    for e in &o.expose {
        for port in parse_expose(e)? {
            exposed.insert(port, json!({}));
        }
    }

    // Volumes: a spec with a destination is a bind (or named volume); a lone path is anonymous.
    let mut binds = Vec::new();
    let mut volumes = Map::new();
    for v in &o.volume {
        if v.trim().is_empty() {
            return Err(err("invalid empty volume spec"));
        }
        if v.contains(':') {
            binds.push(Value::from(v.clone()));
        } else {
            volumes.insert(v.clone(), json!({}));
        }
    }
    let mounts = o
        .mount
        .iter()
        .map(|m| parse_mount(m))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tmpfs = Map::new();
    for t in &o.tmpfs {
        let (path, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
        tmpfs.insert(path.to_string(), Value::from(opts));
    }

    // Environment: files first, then -e; a bare KEY takes its value from our environment.
    let mut env = Vec::new();
    for f in &o.env_file {
        env.extend(read_kv_file(host, f, true)?);
    }
    for e in &o.env {
        env.push(validate_env(e, host)?);
    }
    let mut labels = Map::new();
    let mut label_lines = Vec::new();
    for f in &o.label_file {
        label_lines.extend(read_kv_file(host, f, false)?);
    }
    label_lines.extend(o.label.iter().cloned());
    for l in label_lines {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.to_string(), Value::from(v));
    }

    let mut log_config = Map::new();
    for l in &o.log_opt {
        let (k, v) = l
            .split_once('=')
            .ok_or_else(|| flag_err(l, "--log-opt", "invalid key value pair format in log-opt"))?;
        log_config.insert(k.to_string(), Value::from(v));
    }

    let restart = parse_restart(&o.restart)?;
    let ulimits = o
        .ulimit
        .iter()
        .map(|u| parse_ulimit(u))
        .collect::<Result<Vec<_>, _>>()?;
    let security_opt = parse_security_opts(&o.security_opt, host)?;
    let healthcheck = parse_healthcheck(o)?;

    match o.pull.as_str() {
        "always" | "missing" | "never" => {}
        p => {
            return Err(err(format!(
                "invalid pull option: '{p}': must be one of \"always\", \"missing\" or \"never\""
            )))
        }
    }

    let entrypoint = match o.entrypoint.as_deref() {
        None => Value::Null,
        Some(s) => json!([s]),
    };
    let strs_or_null = |v: &[String]| if v.is_empty() { Value::Null } else { json!(v) };
    let caps = |v: &[String]| -> Value {
        if v.is_empty() {
            return Value::Null;
        }
        json!(v.iter().map(|c| normalize_cap(c)).collect::<Vec<_>>())
    };

    let dns = o
        .dns
        .iter()
        .map(|d| validate_ip(d).map_err(|why| flag_err(d, "--dns", &why)))
        .collect::<Result<Vec<_>, _>>()?;
    let dns_search = o
        .dns_search
        .iter()
        .map(|d| validate_dns_search(d).map_err(|why| flag_err(d, "--dns-search", &why)))
        .collect::<Result<Vec<_>, _>>()?;
    let (network, endpoints) = super::network_opts::parse(o)?;
    let console = if o.tty {
        host.console_size().map(|(h, w)| [h, w]).unwrap_or([0, 0])
    } else {
        [0, 0]
    };

    let mut config = json!({
        "Hostname": o.hostname.clone().unwrap_or_default(),
        "Domainname": "",
        "User": o.user.clone().unwrap_or_default(),
        "AttachStdin": attach.0,
        "AttachStdout": attach.1,
        "AttachStderr": attach.2,
        "Tty": o.tty,
        "OpenStdin": o.interactive,
        "StdinOnce": o.interactive && attach.0,
        "Env": strs_or_null(&env),
        "Cmd": strs_or_null(&cmd),
        "Image": image,
        "Volumes": volumes,
        "WorkingDir": o.workdir.clone().unwrap_or_default(),
        "Entrypoint": entrypoint,
        "OnBuild": null,
        "Labels": labels,
    });
    let c = config
        .as_object_mut()
        .ok_or_else(|| err("internal: config is not an object"))?;
    if !exposed.is_empty() {
        c.insert("ExposedPorts".into(), json!(exposed));
    }
    if let Some(h) = healthcheck {
        c.insert("Healthcheck".into(), h);
    }
    if let Some(s) = o.stop_signal.as_deref().filter(|s| !s.is_empty()) {
        c.insert("StopSignal".into(), Value::from(s));
    }
    if let Some(t) = o.stop_timeout {
        c.insert("StopTimeout".into(), Value::from(t));
    }

    let mut host_config = json!({
        "Binds": if binds.is_empty() { Value::Null } else { Value::Array(binds) },
        "ContainerIDFile": "",
        "LogConfig": {"Type": o.log_driver.clone().unwrap_or_default(), "Config": log_config},
        "NetworkMode": network,
        "PortBindings": bindings,
        "RestartPolicy": restart,
        "AutoRemove": o.rm,
        "VolumeDriver": "",
        "VolumesFrom": if o.volumes_from.is_empty() { Value::Null } else { json!(o.volumes_from) },
        "ConsoleSize": console,
        "CapAdd": caps(&o.cap_add),
        "CapDrop": caps(&o.cap_drop),
        "CgroupnsMode": o.cgroupns.clone().unwrap_or_default(),
        "Dns": dns,
        "DnsOptions": o.dns_option,
        "DnsSearch": dns_search,
        "ExtraHosts": strs_or_null(&o.add_host),
        "GroupAdd": strs_or_null(&o.group_add),
        "IpcMode": o.ipc.clone().unwrap_or_default(),
        "Cgroup": "",
        "Links": strs_or_null(&o.link),
        "OomScoreAdj": o.oom_score_adj.unwrap_or(0),
        "PidMode": o.pid.clone().unwrap_or_default(),
        "Privileged": o.privileged,
        "PublishAllPorts": o.publish_all,
        "ReadonlyRootfs": o.read_only,
        "SecurityOpt": strs_or_null(&security_opt),
        "UTSMode": o.uts.clone().unwrap_or_default(),
        "UsernsMode": o.userns.clone().unwrap_or_default(),
        "ShmSize": shm_size,
        "Isolation": "",
        "CpuShares": o.cpu_shares,
        "Memory": memory,
        "NanoCpus": nano_cpus,
        "CgroupParent": "",
        "BlkioWeight": o.blkio_weight.unwrap_or(0),
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": o.cpuset_cpus.clone().unwrap_or_default(),
        "CpusetMems": o.cpuset_mems.clone().unwrap_or_default(),
        "Devices": o.device.iter().map(device_json).collect::<Vec<_>>(),
        "DeviceCgroupRules": strs_or_null(&o.device_cgroup_rule),
        "DeviceRequests": null,
        "MemoryReservation": memory_reservation,
        "MemorySwap": memory_swap,
        "MemorySwappiness": -1,
        "OomKillDisable": o.oom_kill_disable,
        "PidsLimit": o.pids_limit.unwrap_or(0),
        "Ulimits": ulimits,
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "MaskedPaths": null,
        "ReadonlyPaths": null,
    });
    let h = host_config
        .as_object_mut()
        .ok_or_else(|| err("internal: host config is not an object"))?;
    if !tmpfs.is_empty() {
        h.insert("Tmpfs".into(), Value::Object(tmpfs));
    }
    if !mounts.is_empty() {
        h.insert("Mounts".into(), Value::Array(mounts));
    }
    if o.init {
        h.insert("Init".into(), Value::Bool(true));
    }
    if !sysctls.is_empty() {
        h.insert("Sysctls".into(), Value::Object(sysctls));
    }
    c.insert("HostConfig".into(), host_config);
    c.insert(
        "NetworkingConfig".into(),
        json!({ "EndpointsConfig": endpoints }),
    );

    Ok(CreateRequest {
        image: o.args[0].clone(),
        name: o.name.clone(),
        platform: o.platform.clone(),
        body: config,
    })
}

/// pflag's message for a value its parser refused.
fn flag_err(value: &str, flag: &str, why: &str) -> CliError {
    err(format!(
        "invalid argument \"{value}\" for \"{flag}\" flag: {why}"
    ))
}

/// go-units `RAMInBytes`: "512m", "1g", "1.5GiB", "1024" (binary multiples).
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let invalid = || format!("invalid size: '{s}'");
    let t = s.trim();
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, rest) = t.split_at(num_end);
    let n: f64 = num.parse().map_err(|_| invalid())?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest).to_lowercase();
    let mut chars = rest.chars();
    let mult: f64 = match chars.next() {
        None => 1.0,
        Some(u) => {
            let m = match u {
                'b' => {
                    if chars.next().is_some() {
                        return Err(invalid());
                    }
                    return Ok(n as i64);
                }
                'k' => 1024f64,
                'm' => 1024f64.powi(2),
                'g' => 1024f64.powi(3),
                't' => 1024f64.powi(4),
                'p' => 1024f64.powi(5),
                _ => return Err(format!("invalid suffix: '{u}'")),
            };
            let tail: String = chars.collect();
            if !matches!(tail.as_str(), "" | "b" | "i" | "ib") {
                return Err(invalid());
            }
            m
        }
    };
    Ok((n * mult) as i64)
}

/// `--cpus 1.5` → NanoCpus 1500000000 (docker's `NanoCPUs.Set`, exact decimal arithmetic).
pub fn parse_cpus(s: &str) -> Result<i64, String> {
    let bad = || format!("failed to parse {s} as a rational number");
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty()
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    if frac.len() > 9 && frac[9..].chars().any(|c| c != '0') {
        return Err("value is too precise".into());
    }
    let i: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let mut f = frac.chars().take(9).collect::<String>();
    while f.len() < 9 {
        f.push('0');
    }
    let f: i64 = f.parse().map_err(|_| bad())?;
    i.checked_mul(1_000_000_000)
        .and_then(|v| v.checked_add(f))
        .ok_or_else(bad)
}

/// Go's `time.ParseDuration` ("1h30m", "500ms", "10s"), in nanoseconds.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("time: invalid duration \"{s}\"");
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n_end == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..n_end].parse().map_err(|_| bad())?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration \"{s}\"")),
            u => return Err(format!("time: unknown unit \"{u}\" in duration \"{s}\"")),
        };
        rest = &rest[u_end..];
        total += n * unit;
    }
    Ok(if neg { -(total as i64) } else { total as i64 })
}

/// `-p [ip:][hostPort:]containerPort[/proto]` (docker's `nat.ParsePortSpec`), with ranges.
/// Returns (port/proto, host ip, host port) per container port.
pub fn parse_port_spec(spec: &str) -> Result<Vec<(String, String, String)>, CliError> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(err(format!("invalid proto: {proto}")));
    }
    // The IP may be an IPv6 literal in brackets.
    let (ip, rest) = if let Some(r) = rest.strip_prefix('[') {
        let (ip, after) = r
            .split_once(']')
            .ok_or_else(|| err(format!("invalid IP address: {rest}")))?;
        (
            ip.to_string(),
            after.strip_prefix(':').unwrap_or(after).to_string(),
        )
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.len() {
            1 | 2 => (String::new(), rest.to_string()),
            3 => (parts[0].to_string(), format!("{}:{}", parts[1], parts[2])),
            _ => return Err(err(format!("invalid port format for --publish: {spec}"))),
        }
    };
    let (host, container) = match rest.split_once(':') {
        Some((h, c)) => (h.to_string(), c.to_string()),
        None => (String::new(), rest.clone()),
    };
    if container.is_empty() {
        return Err(err(format!("no port specified: {spec}<empty>")));
    }
    let (c_start, c_end) =
        parse_range(&container).map_err(|_| err(format!("invalid containerPort: {container}")))?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(parse_range(&host).map_err(|_| err(format!("invalid hostPort: {host}")))?)
    };
    if let Some((hs, he)) = host_range {
        if he - hs != c_end - c_start && hs != he {
            return Err(err(format!(
                "invalid ranges specified for container and host Ports: {container} and {host}"
            )));
        }
    }
    let mut out = Vec::new();
    for (i, p) in (c_start..=c_end).enumerate() {
        let host_port = match host_range {
            None => String::new(),
            Some((hs, he)) if hs == he => hs.to_string(),
            Some((hs, _)) => (hs + i as u32).to_string(),
        };
        out.push((format!("{p}/{proto}"), ip.clone(), host_port));
    }
    Ok(out)
}

fn parse_range(s: &str) -> Result<(u32, u32), ()> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u32 = a.parse().map_err(|_| ())?;
    let b: u32 = b.parse().map_err(|_| ())?;
    if a > b || b > 65535 {
        return Err(());
    }
    Ok((a, b))
}

/// docker's `convertToStandardNotation`: `-p published=8080,target=80[,protocol=udp]` is
/// `8080:80/udp`; anything without `=` is already the standard notation.
pub fn publish_standard_notation(p: &str) -> Result<String, CliError> {
    if !p.contains('=') {
        return Ok(p.to_string());
    }
    let mut params: BTreeMap<&str, &str> = BTreeMap::from([("protocol", "tcp")]);
    for param in p.split(',') {
        match param.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                params.insert(k, v);
            }
            _ => {
                return Err(err(format!(
                    "invalid publish opts format (should be name=value but got '{param}')"
                )))
            }
        }
    }
    let get = |k: &str| params.get(k).copied().unwrap_or("");
    Ok(format!(
        "{}:{}/{}",
        get("published"),
        get("target"),
        get("protocol")
    ))
}

/// A parsed `--device HOST[:CONTAINER][:PERMS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    pub host: String,
    pub container: String,
    pub perms: String,
}

/// `HostConfig.Devices` entry of a parsed `--device`.
pub fn device_json(d: &DeviceSpec) -> Value {
    json!({"PathOnHost": d.host, "PathInContainer": d.container, "CgroupPermissions": d.perms})
}

fn valid_device_mode(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= 3
        && m.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
        && m.chars().collect::<std::collections::BTreeSet<_>>().len() == m.len()
}

/// docker's `parseDevice` + `ValidateDevice`: `HOST`, `HOST:CONTAINER`, `HOST:PERMS` or
/// `HOST:CONTAINER:PERMS`, paths absolute, permissions a combination of r, w and m.
pub fn parse_device(val: &str) -> Result<DeviceSpec, String> {
    let parts: Vec<&str> = val.split(':').collect();
    let (host, mut container, mut perms) = match parts.as_slice() {
        [h] => (*h, "", "rwm"),
        [h, x] if valid_device_mode(x) => (*h, "", *x),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] => {
            if !valid_device_mode(p) {
                return Err(format!("bad mode specified: {p}"));
            }
            (*h, *c, *p)
        }
        _ => return Err(format!("invalid device specification: {val}")),
    };
    if container.is_empty() {
        container = host;
    }
    for p in [host, container] {
        if !p.starts_with('/') {
            return Err(format!("bad format for path: {p}"));
        }
    }
    if perms.is_empty() {
        perms = "rwm";
    }
    Ok(DeviceSpec {
        host: host.into(),
        container: container.into(),
        perms: perms.into(),
    })
}

/// docker's `opts.ValidateIPAddress` for `--dns`: the address in Go's canonical text
/// (IPv4-mapped IPv6 addresses print as IPv4).
pub fn validate_ip(val: &str) -> Result<String, String> {
    match val.trim().parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => Ok(match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        }),
        Ok(ip) => Ok(ip.to_string()),
        Err(_) => Err(format!("IP address is not correctly formatted: {val}")),
    }
}

/// docker's `opts.ValidateDNSSearch`: "." or a domain name (labels of letters, digits and
/// inner hyphens, at least one letter somewhere, an optional trailing dot dropped).
pub fn validate_dns_search(val: &str) -> Result<String, String> {
    let val = val.trim_matches(' ');
    if val == "." {
        return Ok(val.to_string());
    }
    let bad = || format!("{val} is not a valid domain");
    if !val.chars().any(|c| c.is_ascii_alphabetic()) {
        return Err(bad());
    }
    let name = val.trim_end_matches(char::is_whitespace);
    let name = name.strip_suffix('.').unwrap_or(name);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.split('.').all(label_ok) && name.len() < 255 {
        Ok(name.to_string())
    } else {
        Err(bad())
    }
}

/// `--expose 80`, `--expose 80-81/udp`.
pub fn parse_expose(e: &str) -> Result<Vec<String>, CliError> {
    if e.contains(':') {
        return Err(err(format!("invalid port format for --expose: {e}")));
    }
    let (ports, proto) = e.split_once('/').unwrap_or((e, "tcp"));
    let (a, b) = parse_range(ports).map_err(|_| {
        err(format!(
            "invalid range format for --expose: {e}, error: invalid port"
        ))
    })?;
    Ok((a..=b).map(|p| format!("{p}/{proto}")).collect())
}

/// `--mount type=bind,source=/a,target=/b,readonly` (docker's `opts.MountOpt`).
pub fn parse_mount(spec: &str) -> Result<Value, CliError> {
    let mut m = Map::new();
    let mut kind = "volume".to_string();
    let mut bind_opts = Map::new();
    let mut vol_opts = Map::new();
    let mut tmpfs_opts = Map::new();
    for field in spec.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_lowercase(), Some(v.trim().to_string())),
            None => (field.trim().to_lowercase(), None),
        };
        let truthy = |v: &Option<String>| -> Result<bool, CliError> {
            match v.as_deref() {
                None | Some("1") | Some("true") | Some("True") | Some("TRUE") | Some("t") => {
                    Ok(true)
                }
                Some("0") | Some("false") | Some("False") | Some("FALSE") | Some("f") => Ok(false),
                Some(x) => Err(err(format!("invalid value for {k}: {x}"))),
            }
        };
        match k.as_str() {
            "readonly" | "ro" => {
                if truthy(&v)? {
                    m.insert("ReadOnly".into(), Value::Bool(true));
                }
            }
            "volume-nocopy" => {
                vol_opts.insert("NoCopy".into(), Value::Bool(truthy(&v)?));
            }
            _ => {
                let v = v.ok_or_else(|| {
                    err(format!("invalid field '{field}' must be a key=value pair"))
                })?;
                match k.as_str() {
                    "type" => kind = v.to_lowercase(),
                    "source" | "src" => {
                        m.insert("Source".into(), Value::from(v));
                    }
                    "target" | "dst" | "destination" => {
                        m.insert("Target".into(), Value::from(v));
                    }
                    "consistency" => {
                        m.insert("Consistency".into(), Value::from(v));
                    }
                    "bind-propagation" => {
                        bind_opts.insert("Propagation".into(), Value::from(v));
                    }
                    "tmpfs-size" => {
                        let n = ram_in_bytes(&v)
                            .map_err(|e| err(format!("invalid value for {k}: {e}")))?;
                        tmpfs_opts.insert("SizeBytes".into(), Value::from(n));
                    }
                    "tmpfs-mode" => {
                        let n = u32::from_str_radix(&v, 8)
                            .map_err(|_| err(format!("invalid value for {k}: {v}")))?;
                        tmpfs_opts.insert("Mode".into(), Value::from(n));
                    }
                    "volume-driver" => {
                        vol_opts.insert("DriverConfig".into(), json!({"Name": v}));
                    }
                    _ => return Err(err(format!("unexpected key '{k}' in '{field}'"))),
                }
            }
        }
    }
    if !matches!(
        kind.as_str(),
        "bind" | "volume" | "tmpfs" | "npipe" | "cluster" | "image"
    ) {
        return Err(err(format!(
            "invalid argument \"{spec}\" for \"--mount\" flag: invalid type: {kind}"
        )));
    }
    if !m.contains_key("Target") {
        return Err(err(format!(
            "invalid argument \"{spec}\" for \"--mount\" flag: target is required"
        )));
    }
    let mut out = Map::new();
    out.insert("Type".into(), Value::from(kind));
    out.extend(m);
    if !bind_opts.is_empty() {
        out.insert("BindOptions".into(), Value::Object(bind_opts));
    }
    if !vol_opts.is_empty() {
        out.insert("VolumeOptions".into(), Value::Object(vol_opts));
    }
    if !tmpfs_opts.is_empty() {
        out.insert("TmpfsOptions".into(), Value::Object(tmpfs_opts));
    }
    Ok(Value::Object(out))
}

/// docker's `opts.ValidateEnv`: KEY=VAL as-is; a bare KEY takes our value when we have one.
fn validate_env(e: &str, host: &dyn Host) -> Result<String, CliError> {
    let (k, has_value) = match e.split_once('=') {
        Some((k, _)) => (k, true),
        None => (e, false),
    };
    if k.is_empty() {
        return Err(err(format!(
            "invalid argument \"{e}\" for \"-e, --env\" flag: invalid environment variable: {e}"
        )));
    }
    if has_value {
        return Ok(e.to_string());
    }
    Ok(match host.env(k) {
        Some(v) => format!("{k}={v}"),
        None => e.to_string(),
    })
}

/// docker's kvfile: one KEY=VAL per line, `#` comments; a bare KEY in an env file takes our
/// value or is dropped.
fn read_kv_file(host: &dyn Host, path: &str, lookup_env: bool) -> Result<Vec<String>, CliError> {
    let text = host
        .read_file(path)
        .map_err(|e| crate::error::go_io_error("open", path, &e))?;
    let mut out = Vec::new();
    for raw in text.lines() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if key.contains([' ', '\t']) {
            return Err(err(format!(
                "variable '{}' contains whitespaces",
                key.trim_end()
            )));
        }
        match value {
            Some(_) => out.push(line.to_string()),
            None if lookup_env => {
                if let Some(v) = host.env(key) {
                    out.push(format!("{key}={v}"));
                }
            }
            None => out.push(line.to_string()),
        }
    }
    Ok(out)
}

/// `--restart NAME[:N]` (docker's `opts.ParseRestartPolicy`: only the format is checked here;
/// the daemon judges the name).
pub fn parse_restart(s: &str) -> Result<Value, CliError> {
    if s.is_empty() {
        return Ok(json!({"Name": "", "MaximumRetryCount": 0}));
    }
    let (name, count) = s.split_once(':').unwrap_or((s, ""));
    if s.contains(':') && name.is_empty() {
        return Err(err(
            "invalid restart policy format: no policy provided before colon",
        ));
    }
    let retries = if count.is_empty() {
        0
    } else {
        count.parse::<i64>().map_err(|_| {
            err("invalid restart policy format: maximum retry count must be an integer")
        })?
    };
    Ok(json!({"Name": name, "MaximumRetryCount": retries}))
}

/// `--ulimit nofile=1024:2048` → `{"Name","Hard","Soft"}`.
pub fn parse_ulimit(s: &str) -> Result<Value, CliError> {
    let bad = |why: &str| flag_err(s, "--ulimit", why);
    let (name, limits) = s
        .split_once('=')
        .ok_or_else(|| bad(&format!("invalid ulimit argument: {s}")))?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let soft: i64 = soft
        .parse()
        .map_err(|_| bad(&format!("invalid ulimit soft value: {soft}")))?;
    let hard: i64 = hard
        .parse()
        .map_err(|_| bad(&format!("invalid ulimit hard value: {hard}")))?;
    if soft > hard && hard != -1 {
        return Err(bad(&format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    Ok(json!({"Name": name, "Hard": hard, "Soft": soft}))
}

/// docker's `parseSecurityOpts`: `seccomp=FILE` becomes the file's JSON, compacted.
fn parse_security_opts(list: &[String], host: &dyn Host) -> Result<Vec<String>, CliError> {
    let mut out = Vec::new();
    for opt in list {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None if opt == "no-new-privileges" => (opt.as_str(), None),
            None => match opt.split_once(':') {
                Some((k, v)) => (k, Some(v)),
                None => return Err(err(format!("Invalid --security-opt: {opt:?}"))),
            },
        };
        match (key, value) {
            ("seccomp", Some(file)) if file != "unconfined" && file != "builtin" => {
                let text = host.read_file(file).map_err(|e| {
                    err(format!(
                        "opening seccomp profile ({file}) failed: {}",
                        crate::error::go_io_message("open", file, &e)
                    ))
                })?;
                let v: Value = serde_json::from_str(&text).map_err(|e| {
                    err(format!(
                        "compacting json for seccomp profile ({file}) failed: {e}"
                    ))
                })?;
                out.push(format!("seccomp={}", compact_json(&text, &v)));
            }
            (k, Some(v)) => out.push(format!("{k}={v}")),
            (k, None) => out.push(k.to_string()),
        }
    }
    Ok(out)
}

/// Go's `json.Compact`: the same text without insignificant whitespace (key order kept).
fn compact_json(text: &str, parsed: &Value) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_str = false;
    let mut esc = false;
    for c in text.chars() {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    if out.is_empty() {
        parsed.to_string()
    } else {
        out
    }
}

fn parse_healthcheck(o: &ContainerOpts) -> Result<Option<Value>, CliError> {
    let have = o.health_cmd.is_some()
        || o.health_interval.is_some()
        || o.health_timeout.is_some()
        || o.health_start_period.is_some()
        || o.health_retries.is_some();
    if o.no_healthcheck {
        if have {
            return Err(err("--no-healthcheck conflicts with --health-* options"));
        }
        return Ok(Some(json!({"Test": ["NONE"]})));
    }
    if !have {
        return Ok(None);
    }
    let mut h = Map::new();
    if let Some(c) = o.health_cmd.as_deref().filter(|c| !c.is_empty()) {
        h.insert("Test".into(), json!(["CMD-SHELL", c]));
    }
    for (flag, v, key) in [
        ("interval", &o.health_interval, "Interval"),
        ("timeout", &o.health_timeout, "Timeout"),
        ("start-period", &o.health_start_period, "StartPeriod"),
    ] {
        if let Some(s) = v {
            let ns =
                parse_go_duration(s).map_err(|e| flag_err(s, &format!("--health-{flag}"), &e))?;
            if ns < 0 {
                return Err(err(format!("--health-{flag} cannot be negative")));
            }
            if ns != 0 {
                h.insert(key.into(), Value::from(ns));
            }
        }
    }
    if let Some(r) = o.health_retries {
        if r < 0 {
            return Err(err("--health-retries cannot be negative"));
        }
        if r != 0 {
            h.insert("Retries".into(), Value::from(r));
        }
    }
    Ok(Some(Value::Object(h)))
}

/// Capability names as docker normalises them: upper case with the `CAP_` prefix ("ALL" stays).
pub fn normalize_cap(c: &str) -> String {
    let up = c.to_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    struct FakeHost;
    impl Host for FakeHost {
        fn env(&self, key: &str) -> Option<String> {
            (key == "HOME").then(|| "/root".to_string())
        }
        fn read_file(&self, path: &str) -> std::io::Result<String> {
            match path {
                "/envf" => Ok("# comment\nFOO=bar\n\nUNSET_VAR\n".into()),
                "/seccomp.json" => Ok(
                    "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [ ]\n}\n".into(),
                ),
                _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
            }
        }
        fn console_size(&self) -> Option<(u16, u16)> {
            None
        }
    }

    #[derive(Debug, Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        o: ContainerOpts,
    }

    fn parse_args(args: &[&str]) -> CreateRequest {
        let mut v = vec!["create"];
        v.extend_from_slice(args);
        let t = T::try_parse_from(v).unwrap();
        parse(&t.o, &FakeHost).unwrap()
    }

    fn golden(name: &str, req: &CreateRequest) {
        let mut s = serde_json::to_string_pretty(&req.body).unwrap();
        s.push('\n');
        crate::command::testutil::check_golden(name, &s);
    }

    #[test]
    fn create_body_defaults_golden() {
        let r = parse_args(&["bb"]);
        assert_eq!(r.path(), "/containers/create");
        golden("create-default.golden", &r);
    }

    #[test]
    fn create_body_many_flags_golden() {
        // The same flags docker 28 was observed sending for (see the golden file).
        let r = parse_args(&[
            "--name",
            "c1",
            "-e",
            "A=1",
            "-e",
            "HOME",
            "--env-file",
            "/envf",
            "-w",
            "/tmp",
            "-u",
            "1:2",
            "--entrypoint",
            "",
            "-h",
            "hh",
            "-i",
            "-t",
            "--init",
            "-l",
            "x=y",
            "-m",
            "512m",
            "--memory-swap",
            "1g",
            "--cpus",
            "1.5",
            "-c",
            "512",
            "--pids-limit",
            "100",
            "--ulimit",
            "nofile=1024:2048",
            "--read-only",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "chown",
            "--restart",
            "on-failure:3",
            "--stop-signal",
            "SIGUSR1",
            "--stop-timeout",
            "7",
            "--network",
            "none",
            "-p",
            "8080:80",
            "-p",
            "127.0.0.1::53/udp",
            "--expose",
            "90",
            "-v",
            "/tmp:/data:ro",
            "-v",
            "vol1:/v",
            "--mount",
            "type=bind,src=/tmp,dst=/m,readonly",
            "--tmpfs",
            "/run:size=1m",
            "--add-host",
            "h1:1.2.3.4",
            "--dns",
            "8.8.8.8",
            "--health-cmd",
            "true",
            "--health-interval",
            "5s",
            "--health-retries",
            "2",
            "--log-opt",
            "max-size=1m",
            "--log-opt",
            "max-file=2",
            "--security-opt",
            "no-new-privileges",
            "bb",
            "sh",
            "-c",
            "echo hi",
        ]);
        assert_eq!(r.path(), "/containers/create?name=c1");
        // --env-file first, then -e in order (docker/cli's readKVStrings).
        assert_eq!(r.body["Env"], json!(["FOO=bar", "A=1", "HOME=/root"]));
        assert_eq!(r.body["Entrypoint"], json!([""]));
        assert_eq!(r.body["Cmd"], json!(["sh", "-c", "echo hi"]));
        golden("create-many-flags.golden", &r);
    }

    #[test]
    fn create_body_privileged_publish_all_golden() {
        let r = parse_args(&[
            "-P",
            "--privileged",
            "--entrypoint",
            "/bin/sh",
            "--no-healthcheck",
            "--rm",
            "--security-opt",
            "seccomp=/seccomp.json",
            "--platform",
            "linux/amd64",
            "bb",
            "-d",
        ]);
        assert_eq!(r.path(), "/containers/create?platform=linux%2Famd64");
        assert_eq!(
            r.body["Cmd"],
            json!(["-d"]),
            "flags after the image belong to the command"
        );
        assert_eq!(
            r.body["HostConfig"]["SecurityOpt"],
            json!(["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[]}"])
        );
        golden("create-privileged.golden", &r);
    }

    fn parse_err(args: &[&str]) -> String {
        let mut v = vec!["create"];
        v.extend_from_slice(args);
        let t = T::try_parse_from(v).unwrap();
        parse(&t.o, &FakeHost).unwrap_err().to_string()
    }

    #[test]
    fn create_body_network_flags_golden() {
        let r = parse_args(&[
            "--network",
            "mynet",
            "--network-alias",
            "web",
            "--net-alias",
            "www",
            "--ip",
            "172.20.0.5",
            "--ip6",
            "fd00::5",
            "--mac-address",
            "92:d0:c6:0a:29:33",
            "--link",
            "db:database",
            "--link-local-ip",
            "169.254.1.1",
            "--dns",
            "1.1.1.1",
            "--dns-search",
            "example.com.",
            "--dns-option",
            "ndots:2",
            "-p",
            "published=8080,target=80",
            "-p",
            "127.0.0.1:5353:53/udp",
            "--expose",
            "9000-9001",
            "-P",
            "bb",
        ]);
        let b = &r.body;
        assert_eq!(b["HostConfig"]["NetworkMode"], "mynet");
        assert_eq!(b["HostConfig"]["Links"], json!(["db:database"]));
        assert_eq!(
            b["NetworkingConfig"]["EndpointsConfig"]["mynet"]["Aliases"],
            json!(["web", "www"])
        );
        assert_eq!(
            b["NetworkingConfig"]["EndpointsConfig"]["mynet"]["IPAMConfig"],
            json!({"IPv4Address": "172.20.0.5", "IPv6Address": "fd00::5", "LinkLocalIPs": ["169.254.1.1"]})
        );
        assert_eq!(
            b["HostConfig"]["PortBindings"],
            json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                   "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}]})
        );
        assert_eq!(
            b["ExposedPorts"],
            json!({"80/tcp": {}, "53/udp": {}, "9000/tcp": {}, "9001/tcp": {}})
        );
        assert_eq!(b["HostConfig"]["PublishAllPorts"], json!(true));
        assert_eq!(b["HostConfig"]["Dns"], json!(["1.1.1.1"]));
        assert_eq!(b["HostConfig"]["DnsSearch"], json!(["example.com"]));
        assert_eq!(b["HostConfig"]["DnsOptions"], json!(["ndots:2"]));
        // The container-wide MacAddress is not sent to API >= 1.44 daemons.
        assert!(b.get("MacAddress").is_none());
        golden("create-network-flags.golden", &r);
    }

    #[test]
    fn network_endpoints_like_docker_cli() {
        let eps = |args: &[&str]| {
            let r = parse_args(args);
            (
                r.body["HostConfig"]["NetworkMode"].clone(),
                r.body["NetworkingConfig"]["EndpointsConfig"].clone(),
            )
        };
        // One --network without endpoint options: no endpoint is sent.
        assert_eq!(
            eps(&["--network", "mynet", "bb"]),
            (json!("mynet"), json!({}))
        );
        // No --network: the "default" endpoint, carrying --ip.
        let (mode, e) = eps(&["--ip", "10.0.0.9", "bb"]);
        assert_eq!(mode, json!("default"));
        assert_eq!(
            e["default"]["IPAMConfig"],
            json!({"IPv4Address": "10.0.0.9"})
        );
        assert_eq!(e["default"]["Aliases"], Value::Null);
        // On the default bridge --link is a legacy link: HostConfig only.
        let r = parse_args(&["--network", "bridge", "--link", "db", "bb"]);
        assert_eq!(r.body["HostConfig"]["Links"], json!(["db"]));
        assert_eq!(r.body["NetworkingConfig"]["EndpointsConfig"], json!({}));
        // Several networks: the options go to the first; every one gets an endpoint.
        let (mode, e) = eps(&[
            "--network",
            "a",
            "--network",
            "b",
            "--network-alias",
            "x",
            "bb",
        ]);
        assert_eq!(mode, json!("a"));
        assert_eq!(e["a"]["Aliases"], json!(["x"]));
        assert_eq!(
            e["b"],
            crate::command::network::Endpoint::default().to_json()
        );
        // The long syntax.
        let (mode, e) = eps(&["--network", "name=front,alias=web,ip=10.1.0.5", "bb"]);
        assert_eq!(mode, json!("front"));
        assert_eq!(e["front"]["Aliases"], json!(["web"]));
        assert_eq!(e["front"]["IPAMConfig"], json!({"IPv4Address": "10.1.0.5"}));
        assert_eq!(
            eps(&[
                "--network",
                "host",
                "--mac-address",
                "92:d0:c6:0a:29:33",
                "bb"
            ])
            .1["host"]["MacAddress"],
            json!("92:d0:c6:0a:29:33")
        );
    }

    #[test]
    fn network_flag_errors_like_docker_cli() {
        assert_eq!(
            parse_err(&["--network-alias", "x", "bb"]),
            "network-scoped aliases are only supported for user-defined networks"
        );
        assert_eq!(
            parse_err(&["--network", "host", "--network", "mynet", "bb"]),
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
        );
        assert_eq!(
            parse_err(&["--network", "a", "--network", "a", "bb"]),
            "network \"a\" is specified multiple times"
        );
        assert_eq!(
            parse_err(&["--network", "name=a,alias=w", "--network-alias", "x", "bb"]),
            "conflicting options: cannot specify both --network-alias and per-network alias"
        );
        assert_eq!(
            parse_err(&["--network", "name=a,ip=10.0.0.1", "--ip", "10.0.0.2", "bb"]),
            "conflicting options: cannot specify both --ip and per-network IPv4 address"
        );
        assert_eq!(
            parse_err(&["--mac-address", "zz", "bb"]),
            "zz is not a valid mac address"
        );
        assert_eq!(
            parse_err(&["--link", "a:b:c", "bb"]),
            "invalid argument \"a:b:c\" for \"--link\" flag: bad format for links: a:b:c"
        );
        assert_eq!(
            parse_err(&["--network", "name=a,bogus=1", "bb"]),
            "invalid argument \"name=a,bogus=1\" for \"--network\" flag: invalid field key bogus"
        );
        assert_eq!(
            parse_err(&["--dns", "8.8.8", "bb"]),
            "invalid argument \"8.8.8\" for \"--dns\" flag: IP address is not correctly formatted: 8.8.8"
        );
        assert_eq!(
            parse_err(&["--dns-search", "-bad-", "bb"]),
            "invalid argument \"-bad-\" for \"--dns-search\" flag: -bad- is not a valid domain"
        );
        assert_eq!(
            parse_err(&["-p", "published=80,target", "bb"]),
            "invalid publish opts format (should be name=value but got 'target')"
        );
        assert_eq!(validate_ip(" ::ffff:1.2.3.4").unwrap(), "1.2.3.4");
        assert_eq!(validate_ip("2001:DB8:0:0:0:0:0:1").unwrap(), "2001:db8::1");
        assert_eq!(validate_dns_search(".").unwrap(), ".");
    }

    #[test]
    fn attach_streams() {
        let r = parse_args(&["-a", "stderr", "bb"]);
        assert_eq!(
            (r.attach_stdin(), r.attach_stdout(), r.attach_stderr()),
            (false, false, true)
        );
        let r = parse_args(&["-i", "bb"]);
        assert_eq!(
            (r.attach_stdin(), r.attach_stdout(), r.attach_stderr()),
            (true, true, true)
        );
        assert_eq!(r.body["StdinOnce"], json!(true));
    }

    #[test]
    fn units_and_durations() {
        assert_eq!(ram_in_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(ram_in_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(ram_in_bytes("100").unwrap(), 100);
        assert!(ram_in_bytes("12x").is_err());
        assert_eq!(parse_cpus("1.5").unwrap(), 1_500_000_000);
        assert_eq!(parse_cpus(".25").unwrap(), 250_000_000);
        assert!(parse_cpus("abc").is_err());
        assert_eq!(parse_go_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_go_duration("500ms").unwrap(), 500_000_000);
        assert!(parse_go_duration("5").is_err());
    }

    #[test]
    fn ports_restart_ulimit_mount() {
        assert_eq!(
            parse_port_spec("8080:80").unwrap(),
            vec![("80/tcp".into(), "".into(), "8080".into())]
        );
        assert_eq!(
            parse_port_spec("127.0.0.1:9000-9001:90-91/udp").unwrap(),
            vec![
                ("90/udp".into(), "127.0.0.1".into(), "9000".into()),
                ("91/udp".into(), "127.0.0.1".into(), "9001".into())
            ]
        );
        assert_eq!(parse_port_spec("[::1]:80:80").unwrap()[0].1, "::1");
        assert!(parse_port_spec("x:80").is_err());
        assert_eq!(parse_expose("90-91/udp").unwrap(), vec!["90/udp", "91/udp"]);
        assert_eq!(
            parse_restart("always").unwrap(),
            json!({"Name":"always","MaximumRetryCount":0})
        );
        assert_eq!(
            parse_restart("on-failure:3").unwrap(),
            json!({"Name":"on-failure","MaximumRetryCount":3})
        );
        assert!(parse_restart("on-failure:x").is_err());
        assert!(parse_restart(":3").is_err());
        assert_eq!(
            parse_ulimit("nofile=10").unwrap(),
            json!({"Name":"nofile","Hard":10,"Soft":10})
        );
        assert!(parse_ulimit("nofile=20:10").is_err());
        assert_eq!(
            parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m").unwrap(),
            json!({"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576}})
        );
        assert!(parse_mount("type=bind,src=/a").is_err());
        assert_eq!(normalize_cap("net_admin"), "CAP_NET_ADMIN");
        assert_eq!(normalize_cap("all"), "ALL");
    }
}
