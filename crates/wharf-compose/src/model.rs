//! The resolved compose model: what `wharf compose config` prints and what the CLI's executor
//! turns into Engine API calls. Every value here is final: variables interpolated, `extends`
//! and `include` merged, `env_file`s read into `environment`, relative paths made absolute,
//! short syntaxes (ports, volumes, depends_on lists, …) expanded to the long form.
//! Maps are `BTreeMap` so output and hashes are deterministic.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A loaded project.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// `-p`, else `COMPOSE_PROJECT_NAME`, else top-level `name:`, else the directory name of
    /// the first file; normalised as docker compose does (lowercase, only `[a-z0-9_-]`).
    pub name: String,
    /// Directory of the first compose file (or `--project-directory`).
    pub working_dir: PathBuf,
    /// Services enabled by the active profiles (others are dropped at load).
    pub services: BTreeMap<String, Service>,
    /// Top-level networks; `default` is always present (added if not declared) when any
    /// service uses it implicitly.
    pub networks: BTreeMap<String, Network>,
    pub volumes: BTreeMap<String, Volume>,
    pub secrets: BTreeMap<String, FileObject>,
    pub configs: BTreeMap<String, FileObject>,
    /// The compose files read, absolute, in order (`-f`, `COMPOSE_FILE` or the ones found);
    /// for the `com.docker.compose.project.config_files` label. Not printed by `to_yaml`.
    pub config_files: Vec<PathBuf>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub image: Option<String>,
    pub build: Option<Build>,
    /// Exec form after parsing (a string `command: echo hi` is split as a shell would, as
    /// docker compose does with shlex; it is NOT wrapped in `sh -c`).
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    /// `KEY -> Some(value)`; `None` = declared without value and not set in the environment.
    pub environment: BTreeMap<String, Option<String>>,
    pub ports: Vec<Port>,
    /// `expose:` entries as `"80/tcp"`.
    pub expose: Vec<String>,
    pub volumes: Vec<ServiceVolume>,
    pub tmpfs: Vec<String>,
    /// Network name (compose key, not the engine name) → attachment. Empty map in the file
    /// means: the `default` network (filled in by the loader unless `network_mode` is set).
    pub networks: BTreeMap<String, ServiceNetwork>,
    pub network_mode: Option<String>,
    pub depends_on: BTreeMap<String, Dependency>,
    pub healthcheck: Option<Healthcheck>,
    /// `no`, `always`, `on-failure[:N]`, `unless-stopped`.
    pub restart: Option<String>,
    pub deploy: Option<Deploy>,
    pub labels: BTreeMap<String, String>,
    pub profiles: Vec<String>,
    pub secrets: Vec<FileRef>,
    pub configs: Vec<FileRef>,
    pub container_name: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub tty: bool,
    pub stdin_open: bool,
    pub init: Option<bool>,
    pub privileged: bool,
    pub read_only: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    /// `host:ip` entries.
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub stop_signal: Option<String>,
    /// Seconds.
    pub stop_grace_period: Option<f64>,
    pub ulimits: BTreeMap<String, Ulimit>,
    pub pull_policy: Option<String>,
    /// Service-level resource shorthands (`mem_limit`, `cpus`, `pids_limit`) merged with
    /// `deploy.resources.limits` (deploy wins) are in `deploy.resources`.
    ///
    /// `scale:`, or `deploy.replicas` when only that is set (the loader refuses the two
    /// disagreeing): the number of containers to run; `None` = 1.
    pub scale: Option<u32>,
    pub dns_search: Vec<String>,
    pub dns_opt: Vec<String>,
    pub sysctls: BTreeMap<String, String>,
    /// `/dev/shm` size in bytes.
    pub shm_size: Option<i64>,
    /// `host[:container[:permissions]]`, as `docker run --device`.
    pub devices: Vec<String>,
    /// `host`, `service:NAME`, `container:NAME`.
    pub pid: Option<String>,
    pub ipc: Option<String>,
    pub platform: Option<String>,
    pub logging: Option<Logging>,
    pub group_add: Vec<String>,
    /// `SERVICE[:ro|rw]` or `container:NAME[:ro|rw]`; a service named here is also an
    /// implicit dependency.
    pub volumes_from: Vec<String>,
    /// `SERVICE[:ALIAS]`; also an implicit dependency.
    pub links: Vec<String>,
    pub mac_address: Option<String>,
    pub oom_score_adj: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpuset: Option<String>,
    /// Bytes.
    pub mem_reservation: Option<i64>,
    /// Bytes (`-1` = unlimited swap).
    pub memswap_limit: Option<i64>,
    pub cgroup_parent: Option<String>,
    pub userns_mode: Option<String>,
    pub runtime: Option<String>,
}

/// `logging:` of a service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Logging {
    pub driver: Option<String>,
    pub options: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Build {
    /// Absolute path of the context directory.
    pub context: PathBuf,
    /// Dockerfile path relative to the context (default `Dockerfile`).
    pub dockerfile: String,
    pub args: BTreeMap<String, Option<String>>,
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub no_cache: bool,
    pub pull: bool,
    /// `dockerfile_inline`: the Dockerfile text itself (then `dockerfile` is not read).
    pub dockerfile_inline: Option<String>,
    /// Extra tags for the built image.
    pub tags: Vec<String>,
    /// Network for RUN instructions (`host`, `none`, …).
    pub network: Option<String>,
}

/// One published port, long syntax.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// Container port; a range in the short syntax becomes several `Port`s.
    pub target: u16,
    /// Host port or `None` for an ephemeral one.
    pub published: Option<u16>,
    pub host_ip: Option<String>,
    /// `tcp` or `udp`.
    pub protocol: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolume {
    /// `volume`, `bind` or `tmpfs`.
    pub kind: String,
    /// Volume key (top-level `volumes:` name) for `volume`, absolute host path for `bind`,
    /// `None` for an anonymous volume or tmpfs.
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
    /// `volume.nocopy`.
    pub nocopy: bool,
    /// `bind.create_host_path` (true for the short syntax, as compose does).
    pub create_host_path: bool,
    /// `tmpfs.size` in bytes.
    pub tmpfs_size: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceNetwork {
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dependency {
    /// `service_started` (default), `service_healthy`, `service_completed_successfully`.
    pub condition: String,
    pub restart: bool,
    /// `required: false` lets a missing/disabled dependency be skipped.
    pub required: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// Docker's form: `["CMD", …]`, `["CMD-SHELL", "…"]` or `["NONE"]`; a string `test` is
    /// `CMD-SHELL`.
    pub test: Vec<String>,
    /// Durations in nanoseconds, as the Engine API takes them.
    pub interval: Option<i64>,
    pub timeout: Option<i64>,
    pub start_period: Option<i64>,
    pub start_interval: Option<i64>,
    pub retries: Option<i64>,
    pub disable: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Deploy {
    pub replicas: Option<u32>,
    pub resources: Resources,
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// CPUs as a fraction (`0.5`).
    pub cpus: Option<f64>,
    /// Bytes.
    pub memory: Option<i64>,
    pub pids: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub soft: i64,
    pub hard: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// Engine name: `name:` if set, else `PROJECT_KEY` (docker compose's naming).
    pub name: String,
    pub driver: Option<String>,
    pub external: bool,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    /// `ipam.config[].subnet` / `gateway` (first entry).
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    /// `ipam.config[].ip_range` (first entry).
    pub ip_range: Option<String>,
    pub driver_opts: BTreeMap<String, String>,
    pub enable_ipv6: bool,
    pub attachable: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    /// Engine name: `name:` if set, else `PROJECT_KEY`.
    pub name: String,
    pub driver: Option<String>,
    pub driver_opts: BTreeMap<String, String>,
    pub external: bool,
    pub labels: BTreeMap<String, String>,
}

/// A top-level secret or config: only `file:` (absolute path) or `environment:` are supported.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FileObject {
    pub name: String,
    pub file: Option<PathBuf>,
    pub environment: Option<String>,
    pub content: Option<String>,
}

/// A service's use of a secret/config: mounted read-only at `target` (default
/// `/run/secrets/<source>` for secrets, `/<source>` for configs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FileRef {
    pub source: String,
    pub target: String,
    pub mode: Option<u32>,
}
