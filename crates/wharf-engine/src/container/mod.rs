//! Containers: records ([`store`]), creation ([`create`]), and the lifecycle the daemon drives
//! through each container's shim (start, stop, kill, wait, remove, restart policies, and
//! finding running containers again after a daemon restart).

pub mod changes;
pub mod command;
pub mod create;
pub mod fs;
pub mod health;
pub mod mounts;
pub mod names;
pub mod spares;
pub mod store;

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard_stubs::models::RestartPolicyNameEnum;
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use wharf_types::ErrorKind;

use crate::api::ApiError;
use crate::shim::client;
use crate::shim::proto::{Exit, Request, ShimSpec};
use crate::state::Daemon;
use store::{Container, Status};

/// An attach that arrived before `start`: it gets its shim stream once the shim is up and
/// before the process runs, so no output is lost (docker's `run` attaches, then starts).
pub struct PendingAttach {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tx: oneshot::Sender<Result<UnixStream, String>>,
}

#[derive(Default)]
pub struct Pending(Mutex<HashMap<String, Vec<PendingAttach>>>);

impl Pending {
    /// An attach of these streams waiting for `id`'s start: its shim stream arrives on the
    /// receiver (an error if the start fails).
    pub fn expect(
        &self,
        id: &str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> oneshot::Receiver<Result<UnixStream, String>> {
        let (tx, rx) = oneshot::channel();
        self.push(
            id,
            PendingAttach {
                stdin,
                stdout,
                stderr,
                tx,
            },
        );
        rx
    }

    pub fn push(&self, id: &str, p: PendingAttach) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.to_string())
            .or_default()
            .push(p);
    }
    fn count(&self, id: &str) -> usize {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .map_or(0, Vec::len)
    }
    pub(crate) fn take(&self, id: &str) -> Vec<PendingAttach> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
            .unwrap_or_default()
    }
}

pub fn not_running(id: &str) -> ApiError {
    ApiError::new(
        ErrorKind::Conflict,
        format!("Container {id} is not running"),
    )
}

/// Signal names and numbers as docker accepts them (`KILL`, `SIGKILL`, `9`).
pub fn parse_signal(s: &str) -> Result<i32, ApiError> {
    if s.is_empty() {
        return Ok(libc_sig::SIGKILL);
    }
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    libc_sig::by_name(name).ok_or_else(|| ApiError::invalid(format!("Invalid signal: {s}")))
}

/// Linux signal numbers (x86_64/aarch64 agree on these).
pub mod libc_sig {
    pub const SIGKILL: i32 = 9;
    pub const SIGTERM: i32 = 15;
    const TABLE: &[(&str, i32)] = &[
        ("HUP", 1),
        ("INT", 2),
        ("QUIT", 3),
        ("ILL", 4),
        ("TRAP", 5),
        ("ABRT", 6),
        ("IOT", 6),
        ("BUS", 7),
        ("FPE", 8),
        ("KILL", 9),
        ("USR1", 10),
        ("SEGV", 11),
        ("USR2", 12),
        ("PIPE", 13),
        ("ALRM", 14),
        ("TERM", 15),
        ("STKFLT", 16),
        ("CHLD", 17),
        ("CONT", 18),
        ("STOP", 19),
        ("TSTP", 20),
        ("TTIN", 21),
        ("TTOU", 22),
        ("URG", 23),
        ("XCPU", 24),
        ("XFSZ", 25),
        ("VTALRM", 26),
        ("PROF", 27),
        ("WINCH", 28),
        ("IO", 29),
        ("POLL", 29),
        ("PWR", 30),
        ("SYS", 31),
    ];
    pub fn by_name(n: &str) -> Option<i32> {
        if let Some(rt) = n.strip_prefix("RTMIN+") {
            return rt.parse::<i32>().ok().map(|k| 34 + k);
        }
        TABLE.iter().find(|(name, _)| *name == n).map(|(_, v)| *v)
    }
}

impl Daemon {
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.containers.dir(id)
    }

    /// Writes the container's own /etc/hosts, /etc/hostname and /etc/resolv.conf.
    fn write_etc_files(&self, c: &Container, dir: &Path) -> std::io::Result<()> {
        let hostname = c
            .config
            .hostname
            .clone()
            .unwrap_or_else(|| c.short_id().to_string());
        std::fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
        let mut hosts = String::from(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        );
        // Each address of the container, IPv6 ones (`--ipv6` networks) too, as docker writes them.
        let ips: Vec<String> = c
            .endpoints
            .values()
            .flat_map(|e| {
                e.ip.map(|ip| ip.to_string())
                    .into_iter()
                    .chain(e.ip6.map(|ip| ip.to_string()))
            })
            .collect();
        if !ips.is_empty() {
            for ip in &ips {
                hosts.push_str(&format!("{ip}\t{hostname}\n"));
            }
        } else if c.host_config.network_mode.as_deref() != Some("host") {
            hosts.push_str(&format!("127.0.1.1\t{hostname}\n"));
        }
        // Legacy links (`--link src[:alias]`): the source's address under both names.
        for l in c.host_config.links.iter().flatten() {
            let (src, alias) = l.split_once(':').unwrap_or((l, l));
            let src = src.trim_start_matches('/');
            let alias = alias.rsplit('/').next().unwrap_or(alias);
            let Ok(o) = self.containers.resolve(src) else {
                continue;
            };
            let shared = c
                .endpoints
                .values()
                .find_map(|mine| {
                    o.endpoints
                        .values()
                        .find(|e| e.network_id == mine.network_id)
                })
                .and_then(|e| e.ip);
            if let Some(ip) = shared {
                hosts.push_str(&format!("{ip}\t{alias} {}\n", o.name));
            }
        }
        for h in c.host_config.extra_hosts.iter().flatten() {
            if let Some((name, ip)) = h.split_once(':').or_else(|| h.split_once('=')) {
                let ip = if ip == "host-gateway" {
                    "127.0.0.1"
                } else {
                    ip
                };
                hosts.push_str(&format!("{ip}\t{name}\n"));
            }
        }
        std::fs::write(dir.join("hosts"), hosts)?;
        // On a user-defined network: the embedded resolver at the network's gateway.
        let dns_gw = self
            .primary_network(c)
            .and_then(|n| self.networks.resolve(&n).ok())
            .filter(|n| n.has_dns())
            .and_then(|n| n.gateway());
        // As dockerd: `--dns`, `--dns-search` and `--dns-option` replace the host's lines of
        // their kind; on a user-defined network the nameserver is the embedded resolver (which
        // forwards to the `--dns` servers, see `own_nameservers`).
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let h = &c.host_config;
        let given = |v: &Option<Vec<String>>| v.as_ref().filter(|v| !v.is_empty()).cloned();
        let lines_of = |kind: &str| -> Vec<String> {
            host.lines()
                .filter(|l| l.split_whitespace().next() == Some(kind))
                .map(str::to_string)
                .collect()
        };
        let mut out = String::new();
        if c.host_config.network_mode.as_deref() == Some("host") && given(&h.dns).is_none() {
            out.push_str(&host);
        } else {
            match (dns_gw, given(&h.dns)) {
                (Some(gw), _) => out.push_str(&format!("nameserver {gw}\n")),
                (None, Some(servers)) => {
                    for d in servers {
                        out.push_str(&format!("nameserver {d}\n"));
                    }
                }
                // The host's resolvers, minus loopback ones that would point into the
                // container.
                (None, None) => {
                    for l in lines_of("nameserver") {
                        if !(l.contains("127.") || l.contains("::1")) {
                            out.push_str(&format!("{l}\n"));
                        }
                    }
                }
            }
            match given(&h.dns_search) {
                Some(s) => out.push_str(&format!("search {}\n", s.join(" "))),
                None => lines_of("search")
                    .iter()
                    .for_each(|l| out.push_str(&format!("{l}\n"))),
            }
            match given(&h.dns_options) {
                Some(o) => out.push_str(&format!("options {}\n", o.join(" "))),
                None => lines_of("options")
                    .iter()
                    .for_each(|l| out.push_str(&format!("{l}\n"))),
            }
        }
        let resolv = out;
        std::fs::write(dir.join("resolv.conf"), resolv)
    }

    /// The container's tmpfs mounts and bind mounts (volumes are binds of their `_data`),
    /// parents before children. Volumes with driver options are mounted here (first use).
    #[allow(clippy::type_complexity)]
    fn runtime_mounts(
        &self,
        c: &Container,
    ) -> Result<(Vec<(String, String)>, Vec<wharf_runtime::Mount>), ApiError> {
        let mut tmpfs: Vec<(String, String)> = c
            .host_config
            .tmpfs
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut binds = Vec::new();
        let mut ms: Vec<&mounts::MountPoint> = c.mounts.iter().collect();
        ms.sort_by_key(|m| m.destination.split('/').filter(|s| !s.is_empty()).count());
        for m in ms {
            let source = match m.typ.as_str() {
                "tmpfs" => {
                    tmpfs.push((m.destination.clone(), m.tmpfs_options.clone()));
                    continue;
                }
                "volume" => {
                    let v = self
                        .volumes
                        .get(&m.name)
                        .map_err(|_| mounts::missing_volume(&m.name))?;
                    self.volumes.ensure_mounted(&v)?;
                    self.volumes.mountpoint(&v.name)
                }
                _ => PathBuf::from(&m.source),
            };
            let mut options = Vec::new();
            if !m.rw {
                options.push("ro".to_string());
            }
            options.push(if m.propagation.is_empty() {
                "rprivate".to_string()
            } else {
                m.propagation.clone()
            });
            binds.push(wharf_runtime::Mount {
                source,
                destination: m.destination.clone(),
                options,
            });
        }
        Ok((tmpfs, binds))
    }

    /// Whether the shim removed the container's cgroups and unmounted its root at its last
    /// exit; forgets it (a start makes them again).
    fn take_torn_down(&self, id: &str) -> bool {
        self.torn_down
            .lock()
            .map(|mut s| s.remove(id))
            .unwrap_or(false)
    }

    /// A container's overlay lower dirs, top-most first: its image's layers, then the shared
    /// mount point layer (docs/adr-0018-mountpoint-layer.md).
    pub fn lower_dirs(&self, image: &wharf_types::Digest) -> Result<Vec<PathBuf>, ApiError> {
        let mut dirs = self.images.layer_dirs(image)?;
        dirs.extend(self.mountpoint_layer.clone());
        Ok(dirs)
    }

    fn shim_spec(&self, c: &Container, dir: &Path) -> Result<ShimSpec, ApiError> {
        let h = &c.host_config;
        let lower_dirs = self.lower_dirs(&c.image_id)?;
        let mut args = vec![c.path.clone()];
        args.extend(c.args.iter().cloned());
        let mut seccomp = wharf_runtime::Seccomp::Default;
        let mut no_new_privileges = false;
        for opt in h.security_opt.iter().flatten() {
            let (k, v) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
            match k {
                "seccomp" if v == "unconfined" => seccomp = wharf_runtime::Seccomp::Unconfined,
                // The docker CLI sends the profile's JSON itself, not a path.
                "seccomp" if v.trim_start().starts_with('{') => {
                    seccomp = wharf_runtime::Seccomp::Custom(v.as_bytes().to_vec())
                }
                // Like dockerd, never read a path an API client names: the CLI sends the
                // profile itself.
                "seccomp" => {
                    return Err(ApiError::invalid(format!(
                        "decoding seccomp profile failed: expected the profile's JSON, got {v:?}"
                    )))
                }
                "no-new-privileges" => no_new_privileges = v.is_empty() || v == "true",
                "apparmor" | "label" => {}
                _ => {
                    return Err(ApiError::invalid(format!(
                        "Invalid --security-opt: {opt:?}"
                    )))
                }
            }
        }
        let (cpu_quota, cpu_period) = match (h.nano_cpus, h.cpu_quota) {
            (Some(n), _) if n > 0 => (Some(n / 10_000), Some(100_000)),
            (_, Some(q)) if q > 0 => (Some(q), h.cpu_period.map(|p| p as u64).or(Some(100_000))),
            _ => (None, None),
        };
        let (tmpfs, binds) = self.runtime_mounts(c)?;
        let run = wharf_runtime::ContainerConfig {
            id: c.id.clone(),
            state_dir: dir.to_path_buf(),
            lower_dirs,
            args,
            env: with_term(
                c.config.env.clone().unwrap_or_default(),
                c.config.tty.unwrap_or(false),
            ),
            cwd: c
                .config
                .working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into()),
            user: c.config.user.clone().unwrap_or_default(),
            hostname: c.config.hostname.clone().unwrap_or_default(),
            readonly_rootfs: h.readonly_rootfs.unwrap_or(false),
            privileged: h.privileged.unwrap_or(false),
            devices: h
                .devices
                .iter()
                .flatten()
                .map(|d| wharf_runtime::DeviceMapping {
                    host: d.path_on_host.clone().unwrap_or_default(),
                    container: d.path_in_container.clone().unwrap_or_default(),
                    perms: d.cgroup_permissions.clone().unwrap_or_default(),
                })
                .collect(),
            cap_add: h.cap_add.clone().unwrap_or_default(),
            cap_drop: h.cap_drop.clone().unwrap_or_default(),
            seccomp,
            no_new_privileges,
            memory: h.memory.filter(|m| *m > 0),
            memory_swap: h.memory_swap.filter(|m| *m != 0),
            cpu_quota,
            cpu_period,
            cpu_shares: h.cpu_shares.filter(|s| *s > 0).map(|s| s as u64),
            pids_limit: h.pids_limit.filter(|p| *p > 0),
            ulimits: h
                .ulimits
                .iter()
                .flatten()
                .map(|u| {
                    (
                        u.name.clone().unwrap_or_default(),
                        u.soft.unwrap_or(0) as u64,
                        u.hard.unwrap_or(0) as u64,
                    )
                })
                .collect(),
            tmpfs,
            mounts: binds,
            network: match crate::network::mode_of(h) {
                crate::network::Mode::Host => wharf_runtime::NetworkMode::Host,
                crate::network::Mode::Container(other) => {
                    let o = self.containers.resolve(&other)?;
                    if o.state.status != Status::Running {
                        return Err(ApiError::new(
                            ErrorKind::Conflict,
                            format!(
                                "cannot join network namespace of a non running container: {other}"
                            ),
                        ));
                    }
                    wharf_runtime::NetworkMode::Path(PathBuf::from(format!(
                        "/proc/{}/ns/net",
                        o.state.pid
                    )))
                }
                _ => wharf_runtime::NetworkMode::New,
            },
            extra_hosts_files: wharf_runtime::HostsFiles {
                hosts: Some(dir.join("hosts")),
                resolv_conf: Some(dir.join("resolv.conf")),
                hostname: Some(dir.join("hostname")),
            },
            tty: c.config.tty.unwrap_or(false),
            init: h.init.unwrap_or(false),
            ephemeral: h.auto_remove == Some(true),
            start_at_once: false,
            extra: self.runtime_extra(h, dir)?,
        };
        let (mut max_size, mut max_files) = (0u64, 1u32);
        if let Some(lc) = &h.log_config {
            for (k, v) in lc.config.iter().flatten() {
                match k.as_str() {
                    "max-size" => {
                        max_size = parse_size(v)
                            .ok_or_else(|| ApiError::invalid(format!("invalid max-size {v}")))?
                    }
                    "max-file" => {
                        max_files = v
                            .parse()
                            .map_err(|_| ApiError::invalid(format!("invalid max-file {v}")))?
                    }
                    _ => {}
                }
            }
        }
        Ok(ShimSpec {
            id: c.id.clone(),
            run,
            tty: c.config.tty.unwrap_or(false),
            open_stdin: c.config.open_stdin.unwrap_or(false),
            stdin_once: c.config.stdin_once.unwrap_or(false),
            log_path: dir.join(format!("{}-json.log", c.id)).display().to_string(),
            log_max_size: max_size,
            log_max_files: max_files,
            runtime_root: self.runtime_root.display().to_string(),
            ports: self.port_requests(c)?,
            autostart: false,
            attaches: 0,
            started_at: String::new(),
        })
    }

    /// Starts a created or exited container: spawn its shim, hand pending attaches their
    /// streams, then let the process run.
    pub async fn start_container(self: &Arc<Self>, id: &str) -> Result<(), ApiError> {
        let c = self.containers.resolve(id)?;
        if matches!(c.state.status, Status::Running | Status::Paused) {
            return Err(ApiError::new(
                ErrorKind::AlreadyExists,
                "container already started",
            ));
        }
        let dir = self.container_dir(&c.id);
        // This start makes the container's cgroups again.
        self.take_torn_down(&c.id);
        let t0 = std::time::Instant::now();
        let c = match self.allocate_addresses(&c) {
            Ok(c) => c,
            Err(e) => {
                self.containers
                    .update(&c.id, |c| c.state.error = e.message.clone())?;
                return Err(e);
            }
        };
        let ta = t0.elapsed().as_micros() as u64;
        // With no network to plug between create and start, the shim starts the process on
        // its own; the attaches waiting now are announced so it holds the output for them.
        let autostart = c.endpoints.is_empty();
        let attaches = if autostart {
            self.pending.count(&c.id)
        } else {
            0
        };
        let started_at = create::now_rfc3339();
        let prepared = {
            let (d, c, dir, started_at) =
                (self.clone(), c.clone(), dir.clone(), started_at.clone());
            crate::api::blocking(move || {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| ApiError::internal(format!("{}: {e}", dir.display())))?;
                let _ = std::fs::remove_file(dir.join("exit.json"));
                d.write_etc_files(&c, &dir)
                    .map_err(|e| ApiError::internal(format!("failed to write /etc files: {e}")))?;
                let mut spec = d.shim_spec(&c, &dir)?;
                spec.autostart = autostart;
                // The runtime then sends the start while it creates the container. Not with a
                // tty: the shim takes the terminal between create and start.
                spec.run.start_at_once = autostart && !spec.tty;
                spec.attaches = attaches as u32;
                spec.started_at = started_at;
                let mut layers = vec![dir.join("upper")];
                layers.extend(spec.run.lower_dirs.iter().cloned());
                if let Some(msg) = command::check(
                    &command::Layers(&layers),
                    &c.path,
                    &spec.run.env,
                    &spec.run.cwd,
                ) {
                    return Err(ApiError::invalid(format!(
                        "failed to create task for container: {msg}: unknown"
                    )));
                }
                crate::shim::write_json_atomic(&dir.join("shim.json"), &spec)
                    .map_err(|e| ApiError::internal(format!("failed to write shim.json: {e}")))?;
                Ok(())
            })
            .await
        };
        let spawned = match prepared {
            Ok(()) => client::spawn(&dir)
                .await
                .map_err(|m| format!("failed to create task for container: {m}")),
            Err(e) => Err(e.message),
        };
        let pid = match spawned {
            Ok(pid) => pid,
            Err(msg) => {
                self.containers.update(&c.id, |c| {
                    c.state.error = msg.clone();
                    c.state.exit_code = exit_code_for(&msg);
                })?;
                self.release_network(&c.id);
                for p in self.pending.take(&c.id) {
                    let _ = p.tx.send(Err(msg.clone()));
                }
                if c.host_config.auto_remove == Some(true) {
                    let _ = self.remove_container(&c.id, true, true).await;
                }
                return Err(ApiError::new(ErrorKind::InvalidArgument, msg));
            }
        };
        let t1 = std::time::Instant::now();
        let ifnames = match self.plug_network(&c, pid, &dir).await {
            Ok(i) => i,
            Err(e) => {
                let _ = client::call(
                    &dir,
                    Request::Kill {
                        signal: libc_sig::SIGKILL,
                        all: true,
                    },
                )
                .await;
                let msg = e.message;
                self.containers.update(&c.id, |c| {
                    c.state.error = msg.clone();
                    c.state.exit_code = 128;
                })?;
                self.release_network(&c.id);
                for p in self.pending.take(&c.id) {
                    let _ = p.tx.send(Err(msg.clone()));
                }
                return Err(ApiError::new(ErrorKind::Internal, msg));
            }
        };
        tracing::debug!(
            id = c.short_id(),
            alloc_us = ta,
            to_spawned_us = t1.duration_since(t0).as_micros() as u64,
            network_us = t1.elapsed().as_micros() as u64,
            "container prepared"
        );
        for (i, p) in self.pending.take(&c.id).into_iter().enumerate() {
            let held = i < attaches;
            let s = client::attach(&dir, p.stdin, p.stdout, p.stderr, held).await;
            let _ = p.tx.send(s);
        }
        let started = if autostart {
            Ok(())
        } else {
            client::call(&dir, Request::Start).await.map(drop)
        };
        if let Err(e) = started {
            let _ = client::call(
                &dir,
                Request::Kill {
                    signal: libc_sig::SIGKILL,
                    all: true,
                },
            )
            .await;
            let msg = format!("failed to start container: {e}");
            self.containers
                .update(&c.id, |c| c.state.error = msg.clone())?;
            return Err(ApiError::new(ErrorKind::InvalidArgument, msg));
        }
        // Without a network, everything this commit records is in `shim.json` (the start) and
        // the runtime's state (the pid), where recovery finds it after a crash: it does not
        // wait for the disk (ADR-0019). With one, the endpoints' interfaces are only here.
        let record = |c: &mut Container| {
            c.state.status = Status::Running;
            c.state.pid = pid;
            c.state.started_at = started_at.clone();
            c.state.error.clear();
            c.state.oom_killed = false;
            c.state.health = None;
            c.manually_stopped = false;
            for (n, i) in &ifnames {
                if let Some(e) = c.endpoints.get_mut(n) {
                    e.ifname = i.clone();
                }
            }
        };
        if autostart {
            self.containers.update_recoverable(&c.id, record)?;
        } else {
            self.containers.update(&c.id, record)?;
        }
        self.monitor(c.id.clone());
        self.watch_health(c.id.clone());
        Ok(())
    }

    /// Waits (in the background) for the container's exit, records it, and applies `--rm`
    /// and the restart policy.
    pub fn monitor(self: &Arc<Self>, id: String) {
        let d = self.clone();
        tokio::spawn(async move {
            let dir = d.container_dir(&id);
            let exit = match client::wait(&dir).await {
                Ok(e) => e,
                Err(_) => client::recorded_exit(&dir).unwrap_or(Exit {
                    exit_code: 255,
                    finished_at: create::now_rfc3339(),
                    error: "the container's shim went away".into(),
                    ..Default::default()
                }),
            };
            d.on_exit(&id, exit).await;
        });
    }

    /// Between create and start: record the host ports the shim bound, plug the container's
    /// namespace into its networks, and publish its ports.
    async fn plug_network(
        self: &Arc<Self>,
        c: &Container,
        pid: i64,
        dir: &Path,
    ) -> Result<Vec<(String, String)>, ApiError> {
        if c.endpoints.is_empty() {
            return Ok(Vec::new());
        }
        let (d, c, dir) = (self.clone(), c.clone(), dir.to_path_buf());
        crate::api::blocking(move || {
            let ifnames = d.attach_endpoints(&c, pid)?;
            let ports: Vec<crate::network::PublishedPort> = std::fs::read(dir.join("ports.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            if !ports.is_empty() {
                // Recorded before the rules that point at the container are made.
                d.containers.update(&c.id, |r| r.ports = ports.clone())?;
                d.sync_nft()
                    .map_err(|e| ApiError::internal(format!("failed to publish ports: {e}")))?;
            }
            Ok(ifnames)
        })
        .await
    }

    async fn on_exit(self: &Arc<Self>, id: &str, exit: Exit) {
        // Published ports stop forwarding before anyone hears of the exit (a `rm` that returns
        // leaves no rule behind).
        if self
            .containers
            .resolve(id)
            .is_ok_and(|c| !c.ports.is_empty())
        {
            let _ = self.containers.update_recoverable(id, |c| c.ports.clear());
            let d = self.clone();
            let _ = tokio::task::spawn_blocking(move || d.nft_changed()).await;
        }
        self.set_draining(id, false);
        if exit.torn_down {
            if let Ok(mut s) = self.torn_down.lock() {
                s.insert(id.to_string());
            }
        }
        // Not waiting for the disk: a crash before the next durable commit leaves the record
        // live, and recovery reads the exit from exit.json again.
        let Ok(c) = self.containers.update_recoverable(id, |c| {
            record_exit(c, &exit);
            c.clone()
        }) else {
            return;
        };
        if c.host_config.auto_remove == Some(true) {
            if let Err(e) = self.remove_container(id, true, true).await {
                tracing::warn!(id, error = %e, "auto-remove failed");
                let _ = self.containers.update(id, |c| {
                    c.state.status = Status::Dead;
                    c.state.error = format!("failed to remove the container: {e}");
                });
            }
            return;
        }
        if let Some(delay) = restart_delay(&c) {
            let _ = self.containers.update(id, |c| {
                c.state.status = Status::Restarting;
                c.restart_count += 1;
            });
            let d = self.clone();
            let id = id.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                // Still wanted? (a stop or rm during the delay wins)
                match d.containers.resolve(&id) {
                    Ok(c) if c.state.status == Status::Restarting && !c.manually_stopped => {}
                    _ => return,
                }
                if let Err(e) = d.start_container(&id).await {
                    tracing::warn!(id, error = %e, "restart failed");
                    let _ = d
                        .containers
                        .update(&id, |c| c.state.status = Status::Exited);
                }
            });
        }
    }

    /// `stop`: the stop signal, then SIGKILL after the timeout. Not running: nothing to do.
    pub async fn stop_container(
        self: &Arc<Self>,
        id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<bool, ApiError> {
        let c = self.containers.resolve(id)?;
        if c.state.status == Status::Restarting {
            self.containers.update(&c.id, |c| {
                c.manually_stopped = true;
                c.state.status = Status::Exited;
            })?;
            return Ok(true);
        }
        if !c.state.status.is_live() {
            return Ok(false);
        }
        self.containers
            .update(&c.id, |c| c.manually_stopped = true)?;
        let sig = match signal
            .filter(|s| !s.is_empty())
            .or(c.config.stop_signal.as_deref())
        {
            Some(s) => parse_signal(s)?,
            None => libc_sig::SIGTERM,
        };
        let timeout = timeout.or(c.config.stop_timeout).unwrap_or(10);
        let dir = self.container_dir(&c.id);
        let mut rx = self.containers.subscribe(&c.id)?;
        if c.ports.iter().any(|p| p.shared) {
            // Out of its service's published ports first: new connections go to the others.
            let (d, id) = (self.clone(), c.id.clone());
            let _ = tokio::task::spawn_blocking(move || d.set_draining(&id, true)).await;
        }
        if c.state.status == Status::Paused {
            let _ = client::call(&dir, Request::Resume).await;
        }
        if timeout != 0 {
            let _ = client::call(
                &dir,
                Request::Kill {
                    signal: sig,
                    all: false,
                },
            )
            .await;
        }
        let exited = |s: &store::State| !s.status.is_live();
        let wait = rx.wait_for(exited);
        if timeout < 0 {
            let _ = wait.await;
            return Ok(true);
        }
        if tokio::time::timeout(Duration::from_secs(timeout as u64), wait)
            .await
            .is_err()
            || timeout == 0
        {
            let _ = client::call(
                &dir,
                Request::Kill {
                    signal: libc_sig::SIGKILL,
                    all: true,
                },
            )
            .await;
            let mut rx = self.containers.subscribe(&c.id)?;
            let _ = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(exited)).await;
        }
        Ok(true)
    }

    pub async fn kill_container(self: &Arc<Self>, id: &str, signal: &str) -> Result<(), ApiError> {
        let c = self.containers.resolve(id)?;
        if c.state.status != Status::Running && c.state.status != Status::Paused {
            return Err(not_running(&c.id));
        }
        let sig = parse_signal(signal)?;
        if sig == libc_sig::SIGKILL {
            self.containers
                .update(&c.id, |c| c.manually_stopped = true)?;
        }
        client::call(
            &self.container_dir(&c.id),
            Request::Kill {
                signal: sig,
                all: false,
            },
        )
        .await
        .map_err(|e| ApiError::internal(format!("Cannot kill container: {id}: {e}")))?;
        Ok(())
    }

    /// `rm`: refuses a running container unless forced; removes its directory (write layer,
    /// logs) and record. The runtime already unmounted and removed its cgroup at exit.
    pub async fn remove_container(
        self: &Arc<Self>,
        id: &str,
        force: bool,
        volumes: bool,
    ) -> Result<(), ApiError> {
        let c = self.containers.resolve(id)?;
        if c.state.status.is_live() {
            if !force {
                let state = if c.state.status == Status::Paused {
                    "paused"
                } else {
                    "running"
                };
                return Err(ApiError::new(
                    ErrorKind::Conflict,
                    format!(
                        "cannot remove container \"/{}\": container is {state}: stop the container before removing or force remove",
                        c.name
                    ),
                ));
            }
            self.containers
                .update(&c.id, |c| c.manually_stopped = true)?;
            let dir = self.container_dir(&c.id);
            if c.state.status == Status::Restarting {
                self.containers
                    .update(&c.id, |c| c.state.status = Status::Exited)?;
            } else {
                let mut rx = self.containers.subscribe(&c.id)?;
                // A shim that answers neither the kill nor with the exit keeps the container:
                // removing it then would leave its processes and mounts with no record
                // (docker refuses too). A shim that is gone (unreachable) is no reason to.
                let could_not_kill = || {
                    ApiError::internal(format!(
                        "cannot remove container \"/{}\": could not kill: tried to kill container, but did not receive an exit event",
                        c.name
                    ))
                };
                let kill = client::call(
                    &dir,
                    Request::Kill {
                        signal: libc_sig::SIGKILL,
                        all: true,
                    },
                );
                let killed = tokio::time::timeout(Duration::from_secs(10), kill)
                    .await
                    .map_err(|_| could_not_kill())?;
                let exited = tokio::time::timeout(
                    Duration::from_secs(10),
                    rx.wait_for(|s| !s.status.is_live()),
                )
                .await;
                if killed.is_ok() && exited.is_err() {
                    return Err(could_not_kill());
                }
            }
        }
        let dir = self.container_dir(&c.id);
        let d = self.clone();
        let cid = c.id.clone();
        let torn_down = self.take_torn_down(&cid);
        crate::api::blocking(move || {
            if !torn_down {
                remove_cgroups(&cid);
            }
            let _ = std::fs::remove_dir_all(crate::shim::socket_dir(&dir));
            // With the shim's teardown done, only the daemon's own mounts can be left there:
            // a shareable /dev/shm, or the root mounted for `cp` or `export`.
            let own_mounts = dir.join("shm").exists() || crate::container::fs::mounted_for_reading(&dir);
            if dir.exists() {
                if !torn_down || own_mounts {
                    unmount_under(&dir);
                }
                discard_dir(&d.data_root, &dir).map_err(|e| {
                    ApiError::internal(format!(
                        "failed to remove container directory {}: {e}",
                        dir.display()
                    ))
                })?;
            }
            d.containers.remove(&cid)?;
            // `rm -v`: the container's anonymous volumes go with it, unless another
            // container uses them too; named volumes never do.
            if volumes {
                for m in c.mounts.iter().filter(|m| m.typ == "volume" && m.anonymous) {
                    if d.volume_users(&m.name).is_empty() {
                        if let Err(e) = d.volumes.remove(&m.name) {
                            tracing::warn!(volume = m.name, error = %e, "failed to remove a volume");
                        }
                    }
                }
            }
            Ok(())
        })
        .await
    }

    /// After a daemon restart: reconnect to the shims of containers that were running, and
    /// record the exits that happened while we were away.
    pub fn recover(self: &Arc<Self>) {
        for c in self.containers.list() {
            let dir = self.container_dir(&c.id);
            let c = self.recover_start(c, &dir);
            if !c.state.status.is_live() {
                continue;
            }
            // The shim records the exit before it reports it and goes: a shim that still
            // answers may be one whose container has already exited (its exit reported to
            // the daemon that was killed, or not yet), and the recorded exit is the truth.
            let recorded = client::recorded_exit(&dir);
            if recorded.is_none()
                && std::os::unix::net::UnixStream::connect(
                    crate::shim::socket_dir(&dir).join("shim.sock"),
                )
                .is_ok()
            {
                tracing::info!(id = c.short_id(), "reattached to running container");
                self.monitor(c.id.clone());
                self.watch_health(c.id.clone());
            } else {
                let exit = recorded.unwrap_or(Exit {
                    exit_code: 255,
                    finished_at: create::now_rfc3339(),
                    error: "the container's shim went away while the daemon was down".into(),
                    ..Default::default()
                });
                // Recorded before the API serves anyone (`inspect` right after a restart shows
                // the exit); the rest (auto-removal, restart policy) follows.
                let _ = self
                    .containers
                    .update_recoverable(&c.id, |c| record_exit(c, &exit));
                let d = self.clone();
                let id = c.id.clone();
                tokio::spawn(async move { d.on_exit(&id, exit).await });
            }
        }
    }
}

impl Daemon {
    /// A start whose commit a crash lost (it does not wait for the disk, ADR-0019): the
    /// container's `shim.json`, written before every start, names a start the record lacks.
    /// If that start's shim still runs, or it recorded an exit, the record becomes what the
    /// start made it (running, with the runtime's pid), and the caller then reattaches or
    /// records the exit as for any live container. A start that failed left neither.
    fn recover_start(&self, c: Container, dir: &Path) -> Container {
        let Some(spec) = std::fs::read(dir.join("shim.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<ShimSpec>(&b).ok())
        else {
            return c;
        };
        if spec.started_at.is_empty() || spec.started_at == c.state.started_at {
            return c;
        }
        let pid = if client::recorded_exit(dir).is_some() {
            0
        } else if std::os::unix::net::UnixStream::connect(
            crate::shim::socket_dir(dir).join("shim.sock"),
        )
        .is_ok()
        {
            std::fs::read(Path::new(&spec.runtime_root).join(&c.id).join("state.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v.get("pid").and_then(|p| p.as_i64()))
                .unwrap_or(0)
        } else {
            return c;
        };
        tracing::info!(
            id = c.short_id(),
            "recovering the record of a start made just before a crash"
        );
        let recovered = self.containers.update(&c.id, |r| {
            r.state.status = Status::Running;
            r.state.pid = pid;
            r.state.started_at = spec.started_at.clone();
            r.state.error.clear();
            r.state.oom_killed = false;
            r.state.health = None;
            r.manually_stopped = false;
            r.clone()
        });
        recovered.unwrap_or(c)
    }
}

/// The record of a container that has exited: no endpoints, no pid, its exit.
fn record_exit(c: &mut Container, exit: &Exit) {
    crate::network::clear_endpoints(c);
    c.state.status = Status::Exited;
    c.state.pid = 0;
    c.state.exit_code = exit.exit_code;
    c.state.oom_killed = exit.oom_killed;
    c.state.finished_at = exit.finished_at.clone();
    if !exit.error.is_empty() {
        c.state.error = exit.error.clone();
    }
}

/// The container's cgroups, if the runtime's clean-up at exit could not remove them (a
/// hierarchy still busy with processes being torn down): retried for up to two seconds.
fn remove_cgroups(id: &str) {
    let path = wharf_runtime::spec::cgroups_path(id);
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let left = wharf_runtime::cgroup::existing_dirs(&path);
        if left.is_empty() {
            return;
        }
        for dir in &left {
            // Children first (rmdir of a cgroup needs it empty of cgroups and processes).
            let mut stack = vec![dir.clone()];
            let mut order = Vec::new();
            while let Some(d) = stack.pop() {
                if let Ok(rd) = std::fs::read_dir(&d) {
                    stack.extend(
                        rd.flatten()
                            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                            .map(|e| e.path()),
                    );
                }
                order.push(d);
            }
            for d in order.into_iter().rev() {
                let _ = std::fs::remove_dir(&d);
            }
        }
        if std::time::Instant::now() >= deadline {
            tracing::warn!(id, "cgroups still busy after removal: {left:?}");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// With a tty, Docker sets `TERM=xterm` unless the container sets TERM itself.
pub fn with_term(mut env: Vec<String>, tty: bool) -> Vec<String> {
    if tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    env
}

/// Exit code docker's CLI shows when a container could not be started: 127 when the command
/// is not found, 126 when it cannot be invoked, 125 otherwise.
pub fn exit_code_for(msg: &str) -> i64 {
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else if msg.contains("permission denied") {
        126
    } else {
        125
    }
}

fn restart_delay(c: &Container) -> Option<Duration> {
    let rp = c.host_config.restart_policy.as_ref()?;
    let want = match rp.name {
        Some(RestartPolicyNameEnum::ALWAYS) | Some(RestartPolicyNameEnum::UNLESS_STOPPED) => {
            !c.manually_stopped
        }
        Some(RestartPolicyNameEnum::ON_FAILURE) => {
            let max = rp.maximum_retry_count.unwrap_or(0);
            !c.manually_stopped && c.state.exit_code != 0 && (max == 0 || c.restart_count < max)
        }
        _ => false,
    };
    // Docker's back-off: 100 ms doubling per restart, capped at a minute.
    want.then(|| Duration::from_millis((100u64 << c.restart_count.clamp(0, 10) as u64).min(60_000)))
}

/// `10m`, `512k`, `1g`, plain bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let n: f64 = num.parse().ok()?;
    Some((n * mult as f64) as u64)
}

/// Lazily unmounts whatever is still mounted under `dir` (deepest first): the safety net
/// for a runtime teardown that did not finish (a crashed shim).
pub fn unmount_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = dir.display().to_string();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| p.replace("\\040", " "))
        .filter(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        if let Err(e) = rustix::mount::unmount(p.as_str(), rustix::mount::UnmountFlags::DETACH) {
            tracing::warn!(path = p, error = %e, "failed to unmount a container leftover");
        }
    }
}

/// Where removed containers' directories wait for their deletion (`<data_root>/trash`).
fn trash_dir(data_root: &Path) -> PathBuf {
    data_root.join("trash")
}

/// Removes `dir` (a container's directory, nothing mounted under it any more) as far as
/// anyone can see at once: it is renamed into the data root's trash and deleted there by a
/// background thread, at idle priority ([`crate::background`]). The deletion of a write
/// layer is slow on a filesystem mounted with `discard` (each freed block is a synchronous
/// discard), and `run --rm` waits for the removal. A crash before the thread is done leaves
/// the tree in the trash, which the next daemon start empties ([`empty_trash`]). Where the
/// rename is impossible, the tree is deleted in place, as before.
pub fn discard_dir(data_root: &Path, dir: &Path) -> std::io::Result<()> {
    let trash = trash_dir(data_root);
    let name = format!(
        "{}-{}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("dir"),
        wharf_types::id::random_id().get(..12).unwrap_or("0")
    );
    let dest = trash.join(name);
    let renamed = match std::fs::rename(dir, &dest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !trash.exists() => {
            std::fs::create_dir_all(&trash).and_then(|()| std::fs::rename(dir, &dest))
        }
        r => r,
    };
    if let Err(e) = renamed {
        tracing::debug!(dir = %dir.display(), error = %e, "removing in place");
        return remove_dir_all_no_follow(dir);
    }
    delete_later(dest);
    Ok(())
}

/// Hands `dir` to the one thread that deletes the trash (started on first use).
fn delete_later(dir: PathBuf) {
    static DELETER: Mutex<Option<std::sync::mpsc::Sender<PathBuf>>> = Mutex::new(None);
    let mut g = DELETER.lock().unwrap_or_else(|p| p.into_inner());
    let dir = match g.as_ref() {
        Some(tx) => match tx.send(dir) {
            Ok(()) => return,
            Err(e) => e.0, // the thread is gone: a new one
        },
        None => dir,
    };
    let (tx, rx) = std::sync::mpsc::channel::<PathBuf>();
    let _ = tx.send(dir);
    let started = crate::background::spawn("wharf-trash", move || {
        for dir in rx {
            if let Err(e) = remove_dir_all_no_follow(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "failed to delete a removed container's files");
            }
        }
    });
    match started {
        Ok(()) => *g = Some(tx),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the trash deleter; the trash is emptied at the next start")
        }
    }
}

/// At daemon start: deletes what a previous daemon left in the trash, in the background.
pub fn empty_trash(data_root: &Path) {
    let trash = trash_dir(data_root);
    if !trash.exists() {
        return;
    }
    let _ = crate::background::spawn("wharf-trash-start", move || {
        unmount_under(&trash);
        for e in std::fs::read_dir(&trash).into_iter().flatten().flatten() {
            if let Err(err) = remove_dir_all_no_follow(&e.path()) {
                tracing::warn!(dir = %e.path().display(), error = %err, "failed to empty the trash");
            }
        }
    });
}

/// The file in a runtime root that names the data root it serves.
pub const RUNTIME_OWNER: &str = "data-root";

/// At daemon start: records which data root `own` (our runtime root) serves, then removes
/// the runtime state no daemon can use any more from the other roots beside it. A daemon
/// killed with its containers whose data root was then deleted (a test, a benchmark, a hand
/// clean-up) leaves, under /run/wharf/runtime, each container's state directory and cgroups,
/// and the root itself. A container's state goes once its bundle is gone and its init has
/// exited (a container still running is someone's process: left alone); a root goes once
/// the data root it names is gone and nothing of it is left running.
pub fn sweep_runtime_roots(own: &Path, data_root: &Path) {
    let _ = std::fs::create_dir_all(own);
    let _ = std::fs::write(
        own.join(RUNTIME_OWNER),
        data_root.as_os_str().as_encoded_bytes(),
    );
    let Some(parent) = own.parent() else {
        return;
    };
    let gone = |p: &Path| matches!(p.try_exists(), Ok(false));
    // State directories a shim moved aside and did not get to remove (killed meanwhile).
    for e in std::fs::read_dir(own).into_iter().flatten().flatten() {
        if e.file_name()
            .to_string_lossy()
            .starts_with(wharf_runtime::REMOVED_PREFIX)
        {
            let _ = remove_dir_all_no_follow(&e.path());
        }
    }
    for root in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let root = root.path();
        if root == own || !root.is_dir() || root.is_symlink() {
            continue;
        }
        let mut kept = false;
        for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == RUNTIME_OWNER {
                continue;
            }
            let dir = e.path();
            let state: Option<serde_json::Value> = std::fs::read(dir.join("state.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let bundle = state.as_ref().and_then(|v| v["bundle"].as_str());
            let pid = state.as_ref().and_then(|v| v["pid"].as_i64()).unwrap_or(0);
            let running = pid > 0 && Path::new(&format!("/proc/{pid}")).exists();
            if running || !bundle.is_some_and(|b| gone(Path::new(b))) {
                kept = true;
                continue;
            }
            tracing::info!(dir = %dir.display(), "removing the runtime state of a container whose data root is gone");
            remove_cgroups(&name);
            let _ = remove_dir_all_no_follow(&dir);
        }
        let owner = std::fs::read(root.join(RUNTIME_OWNER)).ok();
        let owner_gone = owner
            .as_deref()
            .is_some_and(|o| gone(Path::new(std::ffi::OsStr::from_bytes(o))));
        if owner_gone && !kept {
            let _ = remove_dir_all_no_follow(&root);
        }
    }
}

/// Removes a directory tree without ever following a symlink the container made
/// (CVE-2024-23652: teardown must not delete host files through container-made links).
pub fn remove_dir_all_no_follow(dir: &Path) -> std::io::Result<()> {
    // std's remove_dir_all does not follow symlinks (it unlinks them) and is race-safe on
    // Linux (openat/unlinkat with O_NOFOLLOW), which is exactly this contract.
    std::fs::remove_dir_all(dir)
}

/// A `--ipc shareable` container's /dev/shm: a tmpfs on the host at `<dir>/shm` (as docker
/// keeps it), bind-mounted into the container and into those that join its IPC namespace.
/// Mounted on first start; the container's removal unmounts everything under its directory.
fn shareable_shm(dir: &Path, size: Option<i64>) -> Result<PathBuf, ApiError> {
    let at = dir.join("shm");
    let fail =
        |e: std::io::Error| ApiError::internal(format!("failed to mount {}: {e}", at.display()));
    std::fs::create_dir_all(&at).map_err(fail)?;
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(at.to_string_lossy().as_ref()));
    if !mounted {
        let size = size
            .filter(|s| *s > 0)
            .unwrap_or(wharf_runtime::spec::DEFAULT_SHM_SIZE);
        wharf_runtime::rootfs::mount_shm(&at, size).map_err(fail)?;
    }
    Ok(at)
}

impl Daemon {
    /// The namespace of another container for `--pid`/`--ipc container:X` (it must run).
    fn joined_namespace(&self, other: &str, kind: &str) -> Result<(PathBuf, i64), ApiError> {
        let o = self.containers.resolve(other)?;
        if o.state.status != Status::Running {
            return Err(ApiError::new(
                ErrorKind::Conflict,
                format!("cannot join {kind} namespace of a non running container: {other}"),
            ));
        }
        let pid = o.state.pid;
        Ok((PathBuf::from(format!("/proc/{pid}/ns/{kind}")), pid))
    }

    /// docker's less common HostConfig fields (`--pid`, `--ipc`, `--uts`, `--cgroupns`,
    /// `--shm-size`, `--group-add`, `--cpuset-*`, `--sysctl`, `--oom-*`,
    /// `--memory-reservation`, `--blkio-weight`, `--device-cgroup-rule`). What wharf does
    /// not do (user namespace remapping) is refused rather than ignored.
    fn runtime_extra(
        &self,
        h: &bollard_stubs::models::HostConfig,
        dir: &Path,
    ) -> Result<wharf_runtime::Extra, ApiError> {
        use wharf_runtime::NetworkMode as Ns;
        let invalid = |m: String| ApiError::new(ErrorKind::InvalidArgument, m);
        let mut x = wharf_runtime::Extra::default();
        match h.pid_mode.as_deref().unwrap_or("") {
            "" | "private" => {}
            "host" => x.pid = Ns::Host,
            m => match m.strip_prefix("container:") {
                Some(c) => x.pid = Ns::Path(self.joined_namespace(c, "pid")?.0),
                None => return Err(invalid(format!("invalid PID mode: {m}"))),
            },
        }
        match h.ipc_mode.as_deref().unwrap_or("") {
            "" | "private" | "none" => {}
            "shareable" => x.ipc_shm = Some(shareable_shm(dir, h.shm_size)?),
            "host" => x.ipc = Ns::Host,
            m => match m.strip_prefix("container:") {
                Some(c) => {
                    let (ns, _) = self.joined_namespace(c, "ipc")?;
                    let donor = self.containers.resolve(c)?;
                    match donor.host_config.ipc_mode.as_deref().unwrap_or("") {
                        "shareable" => {
                            x.ipc_shm = Some(self.container_dir(&donor.id).join("shm"));
                            x.ipc = Ns::Path(ns);
                        }
                        "host" => x.ipc = Ns::Host,
                        _ => {
                            return Err(ApiError::new(
                                ErrorKind::Conflict,
                                format!("cannot join IPC of container {c}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)"),
                            ))
                        }
                    }
                }
                None => return Err(invalid(format!("invalid IPC mode: {m}"))),
            },
        }
        match h.uts_mode.as_deref().unwrap_or("") {
            "" => {}
            "host" => x.uts_host = true,
            m => return Err(invalid(format!("invalid UTS mode: {m}"))),
        }
        match h.userns_mode.as_deref().unwrap_or("") {
            "" | "host" => {}
            m => {
                return Err(invalid(format!(
                    "invalid user namespace mode {m:?}: user namespace remapping is not supported"
                )))
            }
        }
        x.cgroupns_host = matches!(
            h.cgroupns_mode,
            Some(bollard_stubs::models::HostConfigCgroupnsModeEnum::HOST)
        );
        if let Some(s) = h.shm_size.filter(|s| *s != 0) {
            if s < 0 {
                return Err(invalid("SHM size can not be less than 0".into()));
            }
            x.shm_size = Some(s);
        }
        x.group_add = h.group_add.clone().unwrap_or_default();
        x.cpuset_cpus = h.cpuset_cpus.clone().unwrap_or_default();
        x.cpuset_mems = h.cpuset_mems.clone().unwrap_or_default();
        x.sysctls = h.sysctls.clone().unwrap_or_default().into_iter().collect();
        x.oom_kill_disable = h.oom_kill_disable.unwrap_or(false);
        x.memory_reservation = h.memory_reservation.filter(|r| *r > 0);
        if let Some(a) = h.oom_score_adj.filter(|a| *a != 0) {
            if !(-1000..=1000).contains(&a) {
                return Err(invalid(format!(
                    "Invalid value {a}, range for oom score adj is [-1000, 1000]"
                )));
            }
            x.oom_score_adj = Some(a as i32);
        }
        if let Some(w) = h.blkio_weight.filter(|w| *w > 0) {
            if !(10..=1000).contains(&w) {
                return Err(invalid(
                    "Range of blkio weight is from 10 to 1000".to_string(),
                ));
            }
            x.blkio_weight = Some(w);
        }
        x.device_cgroup_rules = h.device_cgroup_rules.clone().unwrap_or_default();
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_roots_of_gone_data_roots_are_swept() {
        let tmp = tempfile::tempdir().unwrap();
        let parent = tmp.path().join("runtime");
        let exists = tmp.path().join("a-data-root");
        std::fs::create_dir_all(&exists).unwrap();
        let missing = tmp.path().join("gone");
        let dead = {
            let mut c = std::process::Command::new("true").spawn().unwrap();
            let pid = c.id();
            c.wait().unwrap();
            pid
        };
        let root = |name: &str, owner: Option<&Path>, containers: &[(&str, &Path, u32)]| {
            let r = parent.join(name);
            std::fs::create_dir_all(r.join(".seccomp-cache")).unwrap();
            std::fs::write(r.join(".seccomp-cache/x.bpf"), b"x").unwrap();
            if let Some(o) = owner {
                std::fs::write(r.join(RUNTIME_OWNER), o.as_os_str().as_encoded_bytes()).unwrap();
            }
            for (id, bundle, pid) in containers {
                std::fs::create_dir_all(r.join(id)).unwrap();
                let state = serde_json::json!({"id": id, "pid": pid, "bundle": bundle});
                std::fs::write(r.join(id).join("state.json"), state.to_string()).unwrap();
            }
            r
        };
        let me = std::process::id();
        let bundle_gone = missing.join("containers/x/bundle");
        // Data root gone, nothing running: the whole root goes.
        let a = root("a", Some(&missing), &[("c1", &bundle_gone, dead)]);
        // Data root still there: a dead container whose bundle is gone goes, the root stays.
        let b = root("b", Some(&exists), &[("c2", &bundle_gone, dead)]);
        // No note of its data root; a container still running: all stays.
        let c = root("c", None, &[("c3", &bundle_gone, me)]);
        // Data root gone but a container's bundle is there: it and the root stay.
        let d = root("d", Some(&missing), &[("c4", &exists, dead)]);
        // Being created (no state yet): stays.
        std::fs::create_dir_all(d.join("c5")).unwrap();
        let own = parent.join("own");
        // A state directory a shim moved aside and was killed before removing: goes.
        let aside = own.join(format!("{}c6", wharf_runtime::REMOVED_PREFIX));
        std::fs::create_dir_all(&aside).unwrap();
        std::fs::write(aside.join("state.json"), b"{}").unwrap();
        sweep_runtime_roots(&own, &exists);
        assert!(!aside.exists());
        assert!(!a.exists());
        assert!(b.exists() && !b.join("c2").exists());
        assert!(c.join("c3").exists());
        assert!(d.join("c4").exists() && d.join("c5").exists());
        assert_eq!(
            std::fs::read(own.join(RUNTIME_OWNER)).unwrap(),
            exists.as_os_str().as_encoded_bytes()
        );
    }

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("10").unwrap(), 10);
        assert_eq!(parse_signal("RTMIN+1").unwrap(), 35);
        assert!(parse_signal("NOPE").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("512k"), Some(512 << 10));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn start_failures_map_to_dockers_exit_codes() {
        assert_eq!(
            exit_code_for("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(exit_code_for("permission denied"), 126);
        assert_eq!(exit_code_for("something else"), 125);
    }
}
