//! The engine-facing description of a container and of an exec'd process, and the
//! values the runtime reports back (state, stats).

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A process id in the host's pid namespace.
pub type Pid = i32;

/// Seccomp policy of a container (docker `--security-opt seccomp=...`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seccomp {
    /// Docker's default profile ([`crate::seccomp::default_profile`]).
    #[default]
    Default,
    /// No filter (`seccomp=unconfined`).
    Unconfined,
    /// A docker-format JSON profile.
    Custom(Vec<u8>),
}

/// Network namespace of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// A private network namespace with only loopback (the engine plugs veths in later).
    #[default]
    New,
    /// The host's network namespace.
    Host,
    /// Join an existing namespace, e.g. `/proc/PID/ns/net` or a bind-mounted netns file.
    Path(PathBuf),
}

/// Files the engine writes for the container and the runtime bind-mounts in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostsFiles {
    pub hosts: Option<PathBuf>,
    pub resolv_conf: Option<PathBuf>,
    pub hostname: Option<PathBuf>,
}

/// A bind mount (volumes and `-v`/`--mount type=bind`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub source: PathBuf,
    pub destination: String,
    /// OCI mount options, e.g. `ro`, `rprivate`; `rbind` is added.
    pub options: Vec<String>,
}

/// `--device HOST[:CONTAINER[:PERMS]]` (docker's `HostConfig.Devices` entry).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceMapping {
    /// A device node or a directory of them on the host.
    pub host: String,
    /// Where it appears in the container; empty: the same path.
    pub container: String,
    /// cgroup access, a combination of `r`, `w`, `m`; empty: `rwm`.
    pub perms: String,
}

/// What the engine knows about a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// 64 hex characters.
    pub id: String,
    /// Per-container directory the runtime owns: `bundle/`, `rootfs/`, `upper/`, `work/`.
    pub state_dir: PathBuf,
    /// Image snapshot dirs, top-most first (overlayfs `lowerdir` order); empty for scratch.
    pub lower_dirs: Vec<PathBuf>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// docker `-u`: "", "name", "uid", "uid:gid", "name:group".
    pub user: String,
    pub hostname: String,
    pub tty: bool,
    pub readonly_rootfs: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub seccomp: Seccomp,
    pub no_new_privileges: bool,
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<i64>,
    /// (name, soft, hard), name as docker spells it ("nofile") or "RLIMIT_NOFILE".
    pub ulimits: Vec<(String, u64, u64)>,
    /// (path, options) as in `--tmpfs /run:rw,size=64m`.
    pub tmpfs: Vec<(String, String)>,
    pub mounts: Vec<Mount>,
    pub network: NetworkMode,
    pub extra_hosts_files: HostsFiles,
    /// `--init`: run a static init (tini) as pid 1 that reaps zombies and forwards signals.
    pub init: bool,
    /// The write layer is thrown away when the container exits (`--rm`): the overlay is
    /// mounted `volatile`, so its unmount does not `syncfs` the whole host filesystem under
    /// the data root (tens of ms on a busy disk). Nothing of the layer outlives the
    /// container, so nothing durable is lost (overlayfs.rst, "Volatile mount").
    #[serde(default)]
    pub ephemeral: bool,
    /// `--device`: host devices made in the container's /dev.
    #[serde(default)]
    pub devices: Vec<DeviceMapping>,
    /// Let the init exec the command as soon as it is ready, with no [`crate::Runtime::start`]
    /// to wait for (which then only records the start). For a caller with nothing to do
    /// between create and start.
    #[serde(default)]
    pub start_at_once: bool,
    /// Namespaces and resources beyond the defaults (`--pid`, `--ipc`, `--shm-size`, …).
    #[serde(default)]
    pub extra: Extra,
}

/// docker's less common `run` options (HostConfig fields), all off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Extra {
    /// `--pid host|container:X` (a path `/proc/PID/ns/pid` for the latter).
    pub pid: NetworkMode,
    /// `--ipc host|container:X|private|shareable`; with another container's namespace,
    /// `ipc_shm` is the /dev/shm to share (`/proc/PID/root/dev/shm`).
    pub ipc: NetworkMode,
    pub ipc_shm: Option<PathBuf>,
    /// `--uts host`.
    pub uts_host: bool,
    /// `--cgroupns host`.
    pub cgroupns_host: bool,
    /// `--shm-size` in bytes.
    pub shm_size: Option<i64>,
    /// `--group-add`: group names (looked up in the container's /etc/group) or numbers.
    pub group_add: Vec<String>,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    /// `--sysctl` (namespaced ones only, as docker allows).
    pub sysctls: std::collections::BTreeMap<String, String>,
    pub oom_kill_disable: bool,
    pub memory_reservation: Option<i64>,
    pub oom_score_adj: Option<i32>,
    pub blkio_weight: Option<u16>,
    /// `--device-cgroup-rule 'c 1:3 rwm'`.
    pub device_cgroup_rules: Vec<String>,
}

/// A process to run in an existing container (`docker exec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecConfig {
    pub args: Vec<String>,
    /// Added to (and overriding) the container's environment.
    pub env: Vec<String>,
    /// Empty: the container's working directory.
    pub cwd: String,
    /// Empty: the container's user.
    pub user: String,
    pub tty: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
}

/// Standard streams of the container's process.
#[derive(Debug)]
pub enum Stdio {
    /// Inherit the caller's 0, 1 and 2.
    Inherit,
    /// Explicit fds for stdin, stdout, stderr (for a pty made by the caller, pass its
    /// slave three times; it will not be the controlling terminal — prefer `Console`).
    Fds {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// OCI console socket: the runtime allocates a pty inside the container, makes it the
    /// controlling terminal, and sends the master fd (SCM_RIGHTS) to the unix socket
    /// listening at this path. Requires `tty`.
    Console(PathBuf),
}

/// Lifecycle state of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
    Paused,
}

/// What [`crate::Runtime::state`] reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    pub status: Status,
    pub pid: Option<Pid>,
    pub bundle: PathBuf,
}

/// Resource usage of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub memory_usage: u64,
    /// Bytes; `u64::MAX`-ish when unlimited (as the kernel reports it).
    pub memory_limit: u64,
    /// Inactive page cache (`memory.stat`: v1 `total_inactive_file`, v2 `inactive_file`),
    /// which docker's CLI subtracts from the usage it shows.
    #[serde(default)]
    pub memory_inactive_file: u64,
    pub cpu_usage_ns: u64,
    pub pids: u64,
}
