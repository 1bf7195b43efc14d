//! [`Runtime`] on youki's `libcontainer`, embedded.
//!
//! Quirks met (and handled) with libcontainer 0.7:
//! - it forks the *calling* process (clone3, no re-exec): call it from a single-threaded
//!   process; the container's init is created with CLONE_PARENT, so it is the caller's
//!   child and the caller reaps it (`waitpid(pid)`). It also leaves the caller
//!   non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`), which is what we want in the shim.
//! - exec ("tenant") processes do not get the container's seccomp filter, and building
//!   the filter in the container's init costs 7–15 ms: we precompile it and install it
//!   ourselves from a custom [`Executor`] right before `execve` (see [`crate::bpf`]).
//! - a new network namespace has loopback down: we bring `lo` up after create.
//! - `noNewPrivileges: false` must be omitted, not written (see [`crate::spec`]).
//! - `MASKED_EQ` seccomp args are swapped relative to runc (see [`crate::seccomp`]).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use libcgroups::common::CgroupManager;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::notify_socket::{NotifySocket, NOTIFY_FILE};
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::{LinuxSeccomp, Spec};
use serde_json::{json, Value};

use crate::config::{ContainerConfig, ExecConfig, NetworkMode, Pid, State, Stats, Status, Stdio};
use crate::error::{Error, Result};
use crate::rootfs::{self, Layout};
use crate::{bpf, caps, cgroup, spec, user, Runtime};

/// The libcontainer-backed runtime. `root` holds libcontainer's per-container state
/// (e.g. `/run/wharf/runtime`); per-container files live in the config's `state_dir`.
///
/// Operations on containers are serialised by `ops`: libcontainer rewrites `state.json` in
/// place (truncate, then write), so a `delete` that loads it while a `kill` from another
/// thread saves it reads an empty file and fails — leaving the rootfs mounted and the cgroup
/// behind (seen as a stop-then-cp flake).
#[derive(Debug, Clone)]
pub struct LibcontainerRuntime {
    root: PathBuf,
    ops: Arc<std::sync::Mutex<()>>,
    /// Containers whose start was sent while they were being created
    /// ([`ContainerConfig::start_at_once`]): their `start` only records it.
    started: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// With [`LibcontainerRuntime::defer_removals`]: the state directories `delete` moved
    /// aside, for [`LibcontainerRuntime::finish_removals`].
    removed: Option<Arc<std::sync::Mutex<Vec<PathBuf>>>>,
}

/// What a state directory `delete` moved aside is named, in the runtime root (a name no
/// container id has).
pub const REMOVED_PREFIX: &str = ".removed-";

fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidConfig(format!("invalid container id {id:?}")))
    }
}

fn lc(op: &'static str, id: &str) -> impl FnOnce(libcontainer::error::LibcontainerError) -> Error {
    let id = id.to_string();
    move |source| Error::Libcontainer {
        op,
        id,
        source: Box::new(source),
    }
}

impl LibcontainerRuntime {
    /// A runtime keeping libcontainer state under `root` (created, mode 0700).
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let root = root.into();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(|e| Error::io("create runtime root", &root, e))?;
        Ok(LibcontainerRuntime {
            root,
            ops: Arc::default(),
            started: Arc::default(),
            removed: None,
        })
    }

    /// `delete` then moves the container's state directory aside (a rename) instead of
    /// removing it, and [`LibcontainerRuntime::finish_removals`] removes it later. Freeing
    /// the blocks of its files and of the directory is slow on a filesystem mounted with
    /// `discard` and without a journal (each waits for the device: 0.1–5 ms on this VM,
    /// session 16), and a shim has an exit to report first.
    pub fn defer_removals(mut self) -> Self {
        self.removed = Some(Arc::default());
        self
    }

    /// `delete`'s removal of the container's state directory `dir`: moved aside for
    /// [`LibcontainerRuntime::finish_removals`] with deferred removals, removed otherwise
    /// (also when the move fails).
    fn remove_state_dir(&self, id: &str, dir: &Path) -> std::io::Result<()> {
        if let Some(removed) = &self.removed {
            let aside = self.root.join(format!("{REMOVED_PREFIX}{id}"));
            let _ = std::fs::remove_dir_all(&aside);
            if std::fs::rename(dir, &aside).is_ok() {
                removed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(aside);
                return Ok(());
            }
        }
        std::fs::remove_dir_all(dir)
    }

    /// Lets the created container `id`'s init run its command: the one connection its
    /// notify socket waits for.
    fn send_start(&self, id: &str) -> Result<()> {
        NotifySocket::new(self.root.join(id).join(NOTIFY_FILE))
            .notify_container_start()
            .map_err(|e| lc("start", id)(e.into()))
    }

    /// Removes the state directories `delete` moved aside.
    pub fn finish_removals(&self) {
        let Some(removed) = &self.removed else {
            return;
        };
        let dirs = std::mem::take(&mut *removed.lock().unwrap_or_else(|p| p.into_inner()));
        for d in dirs {
            if let Err(e) = std::fs::remove_dir_all(&d) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(dir = %d.display(), error = %e, "cannot remove a container's runtime state");
                }
            }
        }
    }

    /// What [`Runtime::delete`] would have removed, found without libcontainer's state (for
    /// when that state cannot be read): the rootfs mount and runtime dirs under `state_dir`,
    /// the container's cgroups (its processes are gone), and its state directory.
    pub fn remove_leftovers(&self, id: &str, state_dir: &Path) -> Vec<Error> {
        if let Err(e) = validate_id(id) {
            return vec![e];
        }
        let _ops = self.lock();
        let mut errors = rootfs::teardown(&Layout::new(state_dir));
        errors.extend(remove_cgroup_dirs(id));
        let dir = self.root.join(id);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                errors.push(Error::io("remove state of", &dir, e));
            }
        }
        errors
    }

    fn started_mut(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.started.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Held for the length of one operation on a container's state.
    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The libcontainer state root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn load(&self, id: &str) -> Result<Container> {
        let mut c = self.load_recorded(id)?;
        c.refresh_status().map_err(lc("refresh status of", id))?;
        Ok(c)
    }

    /// The container as its state file records it (its status not checked against its
    /// process).
    fn load_recorded(&self, id: &str) -> Result<Container> {
        validate_id(id)?;
        let root = self.root.join(id);
        if !root.join("state.json").exists() {
            return Err(Error::NotFound(id.to_string()));
        }
        let state =
            libcontainer::container::State::load(&root).map_err(|e| lc("load", id)(e.into()))?;
        Ok(Container { state, root })
    }

    fn builder(&self, id: &str, stdio: Stdio, executor: WharfExecutor) -> Result<ContainerBuilder> {
        let mut b = ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_root_path(&self.root)
            .map_err(lc("set root for", id))?
            .with_executor(executor);
        match stdio {
            Stdio::Inherit => {}
            Stdio::Fds {
                stdin,
                stdout,
                stderr,
            } => {
                b = b.with_stdin(stdin).with_stdout(stdout).with_stderr(stderr);
            }
            Stdio::Console(path) => b = b.with_console_socket(Some(path)),
        }
        Ok(b)
    }

    fn create_inner(&self, cfg: &ContainerConfig, stdio: Stdio, layout: &Layout) -> Result<Pid> {
        let rootfs = rootfs::mount_overlay_opts(layout, &cfg.lower_dirs, cfg.ephemeral)?;
        rootfs::sanitize_mountpoints(&rootfs)?;
        for m in &cfg.mounts {
            if m.source.is_dir() {
                rootfs::prepare_mountpoint(&rootfs, &m.destination)?;
            }
        }
        for (path, _) in &cfg.tmpfs {
            rootfs::prepare_mountpoint(&rootfs, path)?;
        }
        let mut user = user::resolve(&rootfs, &cfg.user)?;
        user::add_groups(&rootfs, &mut user, &cfg.extra.group_add)?;
        let mut attach = fast_cgroup_entry(cfg);
        if let Some(a) = attach.as_mut() {
            a.reserve_namespace()
                .map_err(|e| Error::io("reserve a descriptor for", &cfg.id, e))?;
            use crate::rootfs::Ahead;
            a.mount_ahead(
                &rootfs,
                Ahead::Dev {
                    shm_size: spec::private_shm_size(cfg),
                },
            );
            if let Some(netns) = spec::joined_namespace(&cfg.network) {
                let read_only = !cfg.privileged;
                a.mount_ahead(&rootfs, Ahead::Sys { netns, read_only });
                if a.tree().is_some() {
                    a.mount_ahead(&rootfs, Ahead::CgroupTree { read_only });
                }
            }
            if let Some(ipcns) = spec::joined_namespace(&cfg.extra.ipc) {
                a.mount_ahead(&rootfs, Ahead::Mqueue { ipcns });
            }
            for (src, dest) in spec::etc_files(cfg) {
                let (src, dest) = (src.to_path_buf(), dest.to_string());
                a.mount_ahead(&rootfs, Ahead::File { src, dest });
            }
        }
        let mut spec = spec::build_spec_value(cfg, &rootfs, &user, attach.as_ref())?;
        if !cfg.extra.group_add.is_empty() {
            // For execs as another user (`exec -u`), which get these groups too (as docker's).
            spec["annotations"][GROUP_ADD_ANNOTATION] =
                json!(serde_json::to_string(&cfg.extra.group_add).unwrap_or_default());
        }
        let executor = self.precompile_seccomp(&mut spec, &layout.bundle())?;
        let mut spec = spec::spec_from_value(spec)?;
        // With the fast cgroup entry the limits are applied here, not by libcontainer
        // (whose intermediate process finds no hierarchy to apply them to).
        let resources = match (&attach, spec.linux_mut()) {
            (Some(_), Some(l)) => l.resources_mut().take(),
            _ => None,
        };
        let config_path = layout.bundle().join("config.json");
        spec.save(&config_path).map_err(Error::Spec)?;
        let builder = self
            .builder(&cfg.id, stdio, executor)?
            .as_init(layout.bundle())
            .with_systemd(false)
            .with_detach(true);
        let pid = match &attach {
            Some(a) => {
                let build = move || {
                    builder.build().map_err(|e| error_chain(&e)).and_then(|c| {
                        c.pid()
                            .map(|p| p.as_raw())
                            .ok_or_else(|| "no pid after create".to_string())
                    })
                };
                // Early only when nothing below is left to do before the command runs.
                let early_ok = cfg.start_at_once
                    && cfg.network != NetworkMode::New
                    && cfg.extra.blkio_weight.is_none()
                    && !cfg.extra.oom_kill_disable;
                let mut early = early_ok
                    .then(|| EarlyStart::watch(&self.root, &cfg.id))
                    .flatten();
                let pid =
                    build_in_child("create", &cfg.id, build, resources, a, true, early.as_mut());
                if let Some(e) = early {
                    if e.sent && pid.is_ok() {
                        self.started_mut().insert(cfg.id.clone());
                    }
                    e.forget();
                }
                pid?
            }
            None => builder
                .build()
                .map_err(lc("create", &cfg.id))?
                .pid()
                .map(|p| p.as_raw())
                .ok_or_else(|| Error::Cgroup {
                    op: "read pid of",
                    id: cfg.id.clone(),
                    reason: "no pid after create".into(),
                })?,
        };
        if cfg.network == NetworkMode::New {
            loopback_up(pid)?;
        }
        if let Some(w) = cfg.extra.blkio_weight {
            crate::cgroup::set_v2_io_weight(&spec::cgroups_path(&cfg.id), w);
        }
        if cfg.extra.oom_kill_disable {
            // libcontainer 0.7 never passes the spec's disableOOMKiller on to its cgroup
            // managers; cgroup v1 has the switch (v2 has none: docker warns and ignores).
            crate::cgroup::disable_oom_killer(&spec::cgroups_path(&cfg.id));
        }
        if cfg.start_at_once && !self.started_mut().contains(&cfg.id) {
            // Not sent while creating (not possible, or not in time): now.
            self.send_start(&cfg.id)?;
            self.started_mut().insert(cfg.id.clone());
        }
        Ok(pid)
    }
}

/// libcontainer's `save` of the container's state, overwriting `state.json` where it is
/// instead of truncating it first: truncating frees the file's block, and on a filesystem
/// mounted with `discard` and without a journal that waits for the device (the start's
/// record was 0.1–5 ms of the shim's path to `ready`, session 16). The state always fits
/// the file's first block, so shortening it frees nothing.
fn save_in_place(c: &Container) -> std::io::Result<()> {
    use std::io::Write;
    let bytes = serde_json::to_vec(&c.state)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(c.root.join("state.json"))?;
    f.write_all(&bytes)?;
    f.set_len(bytes.len() as u64)
}

/// Removes the container's cgroup directories as libcgroups' `remove` does: what is still
/// in them is killed first, and a directory the kernel has not released yet (tasks still
/// exiting) is retried for a while.
fn remove_cgroup_dirs(id: &str) -> Vec<Error> {
    // Each hierarchy's directory is removed straight away (one that is not there answers
    // ENOENT): after the init's exit it is empty. Only one still busy has its processes
    // read and killed, then is tried again (≈ 40 syscalls fewer on the exit's path).
    let mut dirs = cgroup::dirs(&spec::cgroups_path(id));
    // Children first (a cgroup with children cannot be removed).
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    let mut errors = Vec::new();
    for d in dirs {
        for attempt in 0.. {
            match std::fs::remove_dir(&d) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 200 => {
                    if let Ok(procs) = std::fs::read_to_string(d.join("cgroup.procs")) {
                        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                            // SAFETY: plain kill(2) of a process in the container's cgroup.
                            unsafe { libc::kill(pid, libc::SIGKILL) };
                        }
                    }
                    if attempt > 0 {
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                }
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    errors.push(Error::io("remove cgroup", &d, e));
                    break;
                }
                _ => break,
            }
        }
    }
    errors
}

/// The container's cgroups prepared for [`build_in_child`], or `None` for libcontainer's
/// own cgroup handling: on cgroup v2 hosts, from a multi-threaded caller (a fork could
/// inherit a lock another thread holds) or one that is not a child subreaper, with a mount
/// that propagates back to the host (the container's mount namespace is made as a slave) or
/// binds the host's cgroup hierarchies (the fast path lays `/sys/fs/cgroup` out itself), or
/// with `WHARF_CGROUP_PROCS=1`.
fn fast_cgroup_entry(cfg: &ContainerConfig) -> Option<cgroup::V1Attach> {
    fast_cgroup_entry_for(&cfg.id, &cfg.state_dir, &cfg.mounts)
}

/// [`fast_cgroup_entry`] for container `id` (state in `state_dir`) with bind `mounts`; an
/// exec passes none (it joins the container's mount namespace as it is).
fn fast_cgroup_entry_for(
    id: &str,
    state_dir: &Path,
    mounts: &[crate::config::Mount],
) -> Option<cgroup::V1Attach> {
    if std::env::var_os("WHARF_CGROUP_PROCS").is_some_and(|v| v == "1")
        || !cgroup::single_threaded()
        || !is_child_subreaper()
        || mounts.iter().any(|m| {
            m.options.iter().any(|o| o == "shared" || o == "rshared")
                // Not on this path: the container's /sys/fs/cgroup is laid out ahead.
                || (m.source.is_absolute()
                    && (Path::new(cgroup::ROOT).starts_with(&m.source)
                        || m.source.starts_with(cgroup::ROOT)))
        })
    {
        return None;
    }
    match cgroup::V1Attach::prepare(&spec::cgroups_path(id), state_dir) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "cgroup fast entry unavailable; libcontainer moves the task");
            None
        }
    }
}

/// Whether orphans of this process's descendants come back to it (the shim is one): the
/// init, created by the forked child of [`build_in_child`], must still be our child.
fn is_child_subreaper() -> bool {
    let mut flag: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER stores an int at the given address.
    let r = unsafe { libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &mut flag as *mut libc::c_int) };
    r == 0 && flag != 0
}

/// Creates the container from a forked child that first enters its cgroups without the
/// kernel's global lock ([`cgroup::V1Attach`]). The child applies the resource limits
/// before it moves, except `pids.max`, set here once the child, libcontainer's intermediate process
/// and the init (all counted while the create runs) are down to the init. The init is
/// the child's child (CLONE_PARENT); when the child exits it is reparented to the nearest
/// subreaper (the shim).
///
/// With `reap_later` (and no pids limit to set) the outcome is taken as soon as the child
/// writes it, and the child is left for the caller's wait for any child: its exit (tearing
/// down its copy of our memory and its mount namespace) then overlaps with what follows.
/// `early` (taken only then): the start is sent while the child creates the container.
fn build_in_child(
    op: &'static str,
    id: &str,
    build: impl FnOnce() -> std::result::Result<Pid, String>,
    resources: Option<oci_spec::runtime::LinuxResources>,
    attach: &cgroup::V1Attach,
    reap_later: bool,
    early: Option<&mut EarlyStart>,
) -> Result<Pid> {
    use libcgroups::common::ControllerOpt;
    let cg_err = |op: &'static str| {
        move |e: &dyn std::fmt::Display| Error::Cgroup {
            op,
            id: id.to_string(),
            reason: e.to_string(),
        }
    };
    let mut pids_limit = None;
    let mut resources = resources;
    if let Some(r) = resources.as_mut() {
        pids_limit = r.pids().as_ref().map(|p| p.limit());
        r.set_pids(None);
    }
    let cgroups_path = spec::cgroups_path(id);
    let apply = move || -> std::result::Result<(), String> {
        let Some(res) = resources else {
            return Ok(());
        };
        if attach.apply_limits(&res)? {
            return Ok(());
        }
        let m = libcgroups::v1::Manager::new(Path::new(&cgroups_path))
            .map_err(|e| format!("failed to set up its cgroups: {e}"))?;
        let opt = ControllerOpt {
            resources: &res,
            disable_oom_killer: false,
            oom_score_adj: None,
            freezer_state: None,
        };
        m.apply(&opt)
            .map_err(|e| format!("failed to apply its limits: {e}"))
    };
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| Error::io("create pipe for", id, e.into()))?;
    // SAFETY: the caller is single-threaded (checked in fast_cgroup_entry), so the child
    // holds no lock of another thread; it ends with _exit and never returns.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(Error::io("fork for", id, std::io::Error::last_os_error()));
    }
    if child == 0 {
        drop(rd);
        let outcome = attach.enter(apply).and_then(|()| {
            // In its cgroups with its limits applied: libcgroups (in libcontainer's
            // intermediate process) must move and apply nothing (its move by pid takes the
            // kernel's global lock: ADR-0012).
            libcgroups::v1::manager::skip_in_this_process();
            build()
        });
        let (mut msg, code) = match outcome {
            Ok(pid) => (format!("ok {pid}"), 0),
            Err(e) => (format!("err {}", e.replace('\n', " ")), 1),
        };
        // One write that fits the pipe's buffer (atomic, and the child never blocks on
        // it), ending in a newline: the parent knows it has the whole of it.
        if msg.len() > 4000 {
            let cut = (0..=4000).rev().find(|&i| msg.is_char_boundary(i));
            msg.truncate(cut.unwrap_or(0));
        }
        msg.push('\n');
        let _ = rustix::io::write(&wr, msg.as_bytes());
        // SAFETY: leaves the forked child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    drop(wr);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    if reap_later && pids_limit.is_none() {
        read_outcome_early(&rd, child, &mut out, early);
    }
    let mut status = 0;
    if !out.ends_with(b"\n") || out.starts_with(b"err ") {
        // Without a whole outcome, or after a failure (whose clean-up must not race the
        // child's exit out of the cgroups): the child is waited for here.
        // The container's processes inherit the pipe's write end until their exec, so
        // what else the child wrote is read once it is gone, not up to the end of the pipe.
        // SAFETY: reaps the child forked above.
        unsafe { libc::waitpid(child, &mut status, 0) };
        let _ = rustix::io::ioctl_fionbio(&rd, true);
        while let Ok(n @ 1..) = rustix::io::read(&rd, &mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
    }
    let out = String::from_utf8_lossy(&out);
    let out = out.trim_end();
    let pid = match out.split_once(' ') {
        Some(("ok", pid)) => pid.parse::<Pid>().map_err(|e| cg_err("read pid of")(&e))?,
        Some(("err", reason)) => {
            return Err(Error::Create {
                op,
                id: id.to_string(),
                reason: reason.to_string(),
            })
        }
        _ => {
            return Err(Error::Create {
                op,
                id: id.to_string(),
                reason: format!(
                    "the creating process ended without an outcome (status {status:#x})"
                ),
            })
        }
    };
    // libcontainer leaves its caller non-dumpable; the shim relied on that.
    // SAFETY: plain prctl on this process.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if let (Some(limit), Some(dir)) = (pids_limit, attach.dir_of("pids")) {
        let v = if limit > 0 {
            limit.to_string()
        } else {
            "max".into()
        };
        std::fs::write(dir.join("pids.max"), v).map_err(|e| cg_err("limit pids of")(&e))?;
    }
    Ok(pid)
}

/// The start of a container sent while it is being created ([`ContainerConfig::start_at_once`]).
///
/// libcontainer's init reports ready, then accepts one connection on its notify socket and
/// reads it to the end before it execs the command; `start` is that connection. The socket
/// is bound by the creating child (before it forks the intermediate process), so the start
/// can be queued there long before the init is ready: the init then finds it at once,
/// instead of waiting for the creating child to record the state and report, and for us
/// to wake up and connect (0.5–0.9 ms on the critical path, session 16).
///
/// The socket's appearance is watched with inotify: the runtime root for the container's
/// state directory, then that directory for the socket.
struct EarlyStart {
    inotify: rustix::fd::OwnedFd,
    dir: PathBuf,
    /// The state directory, once it exists and is watched.
    dir_fd: Option<rustix::fd::OwnedFd>,
    /// The watches made (removed when done: removing one does not wait).
    watches: Vec<i32>,
    sent: bool,
}

impl EarlyStart {
    /// Watches `root` for the state directory of `id`; `None` if inotify is not available
    /// (the start is then sent by `start`, as usual).
    fn watch(root: &Path, id: &str) -> Option<EarlyStart> {
        use rustix::fs::inotify;
        let fd =
            inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).ok()?;
        let wd = inotify::add_watch(
            &fd,
            root,
            inotify::WatchFlags::CREATE | inotify::WatchFlags::ONLYDIR,
        )
        .ok()?;
        Some(EarlyStart {
            inotify: fd,
            dir: root.join(id),
            dir_fd: None,
            watches: vec![wd],
            sent: false,
        })
    }

    /// Done: the watches go, and the instance is left open for the process's exit to close
    /// (closing an inotify instance waits for an SRCU grace period in the kernel's
    /// `fsnotify_destroy_group`: 5–15 ms on this VM, session 16).
    fn forget(self) {
        for wd in &self.watches {
            let _ = rustix::fs::inotify::remove_watch(&self.inotify, *wd);
        }
        std::mem::forget(self.inotify);
    }

    /// After an event: watches the state directory once it exists, and sends the start once
    /// the socket listens. Events are only a cue; what exists is checked.
    fn progress(&mut self) {
        use rustix::fs::inotify;
        let mut buf = [0u8; 1024];
        while matches!(rustix::io::read(&self.inotify, &mut buf), Ok(1..)) {}
        if self.sent {
            return;
        }
        if self.dir_fd.is_none() {
            match inotify::add_watch(&self.inotify, &self.dir, inotify::WatchFlags::CREATE) {
                Ok(wd) => self.watches.push(wd),
                Err(_) => return,
            }
            let flags = rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY;
            match rustix::fs::open(
                &self.dir,
                flags | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            ) {
                Ok(fd) => self.dir_fd = Some(fd),
                Err(_) => return,
            }
        }
        // Through the directory's descriptor: the socket's own path may be longer than a
        // socket address holds (libcontainer binds it from within the directory).
        let Some(dir) = &self.dir_fd else { return };
        let sock = PathBuf::from(format!("/proc/self/fd/{}/{NOTIFY_FILE}", dir.as_raw_fd()));
        if !sock.exists() {
            return;
        }
        // Bound and listening are two calls: a connection refused in between is retried.
        for _ in 0..100 {
            match std::os::unix::net::UnixStream::connect(&sock) {
                Ok(mut s) => {
                    use std::io::Write;
                    self.sent = s.write_all(b"start container").is_ok();
                    tracing::debug!(sent = self.sent, "start sent while creating");
                    return;
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    std::thread::yield_now()
                }
                Err(_) => return,
            }
        }
    }
}

/// Reads the forked child's outcome line into `out` as soon as it is written; returns early
/// (`out` without its newline) if the child ends without one or the wait fails. Meanwhile
/// `early` sends the container's start.
fn read_outcome_early(
    rd: &std::os::fd::OwnedFd,
    child: libc::pid_t,
    out: &mut Vec<u8>,
    mut early: Option<&mut EarlyStart>,
) {
    let Some(pid) = rustix::process::Pid::from_raw(child) else {
        return;
    };
    // Tells a child that dies without a word (its grandchildren may hold the pipe open).
    let Ok(pidfd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) else {
        return;
    };
    let mut buf = [0u8; 4096];
    loop {
        let watching = early.as_ref().filter(|e| !e.sent);
        let mut fds = [
            libc::pollfd {
                fd: rd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: watching.map_or(-1, |e| e.inotify.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: polls descriptors we own (or -1, ignored), in a local array.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 3, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if fds[2].revents != 0 {
            if let Some(e) = early.as_mut() {
                e.progress();
            }
        }
        if fds[0].revents != 0 {
            match rustix::io::read(rd, &mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    if out.ends_with(b"\n") {
                        return;
                    }
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return,
            }
        } else if fds[1].revents != 0 {
            return;
        }
    }
}

/// An error and its sources, one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl LibcontainerRuntime {
    fn seccomp_cache(&self) -> PathBuf {
        self.root.join(".seccomp-cache")
    }

    /// Move the spec's seccomp filter onto the precompiled path (see [`crate::bpf`]):
    /// the filter is saved as `bundle/seccomp.json` for later execs, removed from the
    /// spec, and the process gets CAP_SYS_ADMIN outside its bounding set to install it.
    fn precompile_seccomp(&self, spec: &mut Value, bundle: &Path) -> Result<WharfExecutor> {
        let oci = &spec["linux"]["seccomp"];
        if oci.is_null() || !bpf::precompilable(oci) {
            return Ok(WharfExecutor::default()); // libcontainer applies the filter itself
        }
        let text = oci.to_string();
        let program = bpf::cached(&self.seccomp_cache(), oci, &text)?;
        let path = bundle.join(SECCOMP_FILE);
        std::fs::write(&path, text).map_err(|e| Error::io("write", &path, e))?;
        if let Some(obj) = spec["linux"].as_object_mut() {
            obj.remove("seccomp");
        }
        let drop_sys_admin = grant_sys_admin(&mut spec["process"]["capabilities"]);
        Ok(WharfExecutor {
            bpf: Some(Arc::new(program)),
            libseccomp: None,
            drop_sys_admin,
            installed: Default::default(),
        })
    }
}

const SECCOMP_FILE: &str = "seccomp.json";

/// Add CAP_SYS_ADMIN to effective and permitted when the bounding set lacks it; returns
/// whether the executor must drop it again after installing the filter.
fn grant_sys_admin(caps: &mut serde_json::Value) -> bool {
    let sa = json!("CAP_SYS_ADMIN");
    if caps["bounding"].as_array().is_some_and(|b| b.contains(&sa)) {
        return false;
    }
    for set in ["effective", "permitted"] {
        match caps[set].as_array_mut() {
            Some(a) => {
                if !a.contains(&sa) {
                    a.push(sa.clone());
                }
            }
            None => caps[set] = json!([sa.clone()]),
        }
    }
    true
}

/// Set `lo` up in the network namespace of `pid` (a fresh netns starts with it down).
/// Switches only the calling thread's netns, and switches it back.
fn loopback_up(pid: Pid) -> Result<()> {
    let target_path = format!("/proc/{pid}/ns/net");
    let target = File::open(&target_path).map_err(|e| Error::io("open", &target_path, e))?;
    in_namespace(
        libc::CLONE_NEWNET,
        "/proc/thread-self/ns/net",
        || {
            // SAFETY: setns on a valid namespace fd; affects only this thread.
            if unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(Error::io(
                    "enter network namespace",
                    &target_path,
                    std::io::Error::last_os_error(),
                ));
            }
            Ok(())
        },
        || set_loopback_up().map_err(|e| Error::io("bring up loopback in", &target_path, e)),
    )
}

/// A new network namespace with `lo` up, for a container to join later by its path
/// (`NetworkMode::Path("/proc/PID/fd/N")`): a spare shim makes it while it waits, so that
/// neither the namespace's creation (≈ 0.27 ms here) nor bringing `lo` up is on the
/// container's start. The calling thread enters it to set it up and comes back.
pub fn new_network_namespace() -> Result<File> {
    new_namespace(libc::CLONE_NEWNET, "net", set_loopback_up)
}

/// A new IPC namespace, for a container to join later by its path (as
/// [`new_network_namespace`]; ≈ 0.035 ms here, and its message-queue filesystem).
pub fn new_ipc_namespace() -> Result<File> {
    new_namespace(libc::CLONE_NEWIPC, "ipc", || Ok(()))
}

/// A new namespace of type `flag` (`name` in /proc/PID/ns), set up by `setup` from inside.
fn new_namespace(
    flag: libc::c_int,
    name: &str,
    setup: impl FnOnce() -> std::io::Result<()>,
) -> Result<File> {
    let path = format!("/proc/thread-self/ns/{name}");
    in_namespace(
        flag,
        &path,
        || {
            // SAFETY: unshare of one namespace of the calling thread only.
            if unsafe { libc::unshare(flag) } != 0 {
                return Err(Error::io(
                    "create namespace",
                    &path,
                    std::io::Error::last_os_error(),
                ));
            }
            Ok(())
        },
        || {
            let ns = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
            setup().map_err(|e| Error::io("set up", &path, e))?;
            Ok(ns)
        },
    )
}

/// Runs `inside` with the calling thread moved to another namespace of type `flag` (its
/// own is at `own_path`) by `enter` (which leaves the thread where it was when it fails),
/// then returns the thread to its own. Failing to return would leave this thread in the
/// container's namespace, which is unrecoverable for a runtime: it aborts.
pub(crate) fn in_namespace<T>(
    flag: libc::c_int,
    own_path: &str,
    enter: impl FnOnce() -> Result<()>,
    inside: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let own = File::open(own_path).map_err(|e| Error::io("open", own_path, e))?;
    enter()?;
    let result = inside();
    // SAFETY: return to the namespace we came from.
    if unsafe { libc::setns(own.as_raw_fd(), flag) } != 0 {
        let e = std::io::Error::last_os_error();
        tracing::error!(error = %e, own_path, "failed to return to own namespace");
        std::process::abort();
    }
    result
}

/// Sets `lo` up in the calling thread's network namespace.
fn set_loopback_up() -> std::io::Result<()> {
    // SAFETY: plain socket(2) call; the fd is owned by `sock` below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by socket(2) and is not owned elsewhere.
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read/write the flags member of a valid ifreq.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs the container's (or exec's) command after installing its seccomp filter: a
/// precompiled one ([`crate::bpf`]), or — for exec'd processes of containers whose filter
/// libcontainer applied itself — via libcontainer, which 0.7 skips for tenant processes.
///
/// Without no_new_privs the precompiled filter goes in from `validate`, the last step before
/// the init tells the runtime it is ready and waits for its start, as runc installs it
/// before its exec fifo wait: its cost (≈ 0.17 ms here, the kernel compiling the program)
/// then overlaps the runtime's work up to the start instead of following it. What the init
/// still does then (report, wait, accept and read the start, close, `capset`, `execve`)
/// any usable profile allows; docker's default does. With no_new_privs, as runc and
/// libcontainer, it goes in last, just before `execve`.
#[derive(Clone, Default)]
struct WharfExecutor {
    bpf: Option<Arc<Vec<u8>>>,
    libseccomp: Option<LinuxSeccomp>,
    drop_sys_admin: bool,
    /// Set (in the init) once `validate` installed the filter.
    installed: Arc<std::sync::atomic::AtomicBool>,
}

impl WharfExecutor {
    fn install_precompiled(&self) -> std::result::Result<(), String> {
        if let Some(program) = &self.bpf {
            bpf::install(program).map_err(|e| format!("failed to install seccomp filter: {e}"))?;
        }
        if self.drop_sys_admin {
            bpf::drop_capability(bpf::CAP_SYS_ADMIN)
                .map_err(|e| format!("failed to drop CAP_SYS_ADMIN: {e}"))?;
        }
        self.installed.store(true, Ordering::Relaxed);
        Ok(())
    }
}

impl Executor for WharfExecutor {
    fn exec(&self, spec: &Spec) -> std::result::Result<(), ExecutorError> {
        if let Some(s) = &self.libseccomp {
            libcontainer::seccomp::initialize_seccomp(s).map_err(|e| {
                ExecutorError::Other(format!("failed to install seccomp filter: {e}"))
            })?;
        }
        if !self.installed.load(Ordering::Relaxed) {
            self.install_precompiled().map_err(ExecutorError::Other)?;
        }
        libcontainer::workload::default::get_executor().exec(spec)
    }

    fn validate(&self, spec: &Spec) -> std::result::Result<(), ExecutorValidationError> {
        libcontainer::workload::default::get_executor().validate(spec)?;
        let nnp = spec.process().as_ref().and_then(|p| p.no_new_privileges()) == Some(true);
        if self.bpf.is_some() && self.libseccomp.is_none() && !nnp {
            self.install_precompiled()
                .map_err(ExecutorValidationError::ArgValidationError)?;
        }
        Ok(())
    }
}

static EXEC_SEQ: AtomicU64 = AtomicU64::new(0);

/// The container's `--group-add` entries (a JSON list) in its saved spec.
const GROUP_ADD_ANNOTATION: &str = "org.wharf.group-add";

/// The OCI `process` for an exec, derived from the container's own spec. With
/// `force_nnp` (a container whose filter libcontainer applied, so the exec'd process must
/// install it without CAP_SYS_ADMIN) it gets no_new_privs — a deviation from Docker kept
/// only for that fallback path.
pub fn exec_process(
    init: &Spec,
    rootfs: &Path,
    p: &ExecConfig,
    force_nnp: bool,
) -> Result<serde_json::Value> {
    let iproc = init
        .process()
        .as_ref()
        .ok_or_else(|| Error::InvalidConfig("container spec has no process".into()))?;
    if p.args.is_empty() {
        return Err(Error::InvalidConfig("no command".into()));
    }
    let (uid, gid, gids) = if p.user.is_empty() {
        let u = iproc.user();
        (
            u.uid(),
            u.gid(),
            u.additional_gids().clone().unwrap_or_default(),
        )
    } else {
        let mut r = user::resolve(rootfs, &p.user)?;
        let group_add: Vec<String> = init
            .annotations()
            .as_ref()
            .and_then(|a| a.get(GROUP_ADD_ANNOTATION))
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or_default();
        user::add_groups(rootfs, &mut r, &group_add)?;
        (r.uid, r.gid, r.additional_gids)
    };
    let bounding: Vec<String> = iproc
        .capabilities()
        .as_ref()
        .and_then(|c| c.bounding().clone())
        .map(|s| s.iter().map(|c| format!("CAP_{c}")).collect())
        .unwrap_or_default();
    let cap_set = if p.privileged {
        caps::compute(true, &p.cap_add, &[])?
    } else {
        let mut set = bounding;
        for a in &p.cap_add {
            let a = caps::normalize(a)?;
            if !set.contains(&a) {
                set.push(a);
            }
        }
        for d in &p.cap_drop {
            let d = caps::normalize(d)?;
            set.retain(|c| c != &d && d != "ALL");
        }
        set
    };
    let mut env: Vec<String> = iproc.env().clone().unwrap_or_default();
    for e in &p.env {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    let cwd = if p.cwd.is_empty() {
        iproc.cwd().to_string_lossy().into_owned()
    } else {
        p.cwd.clone()
    };
    let mut process = json!({
        "terminal": p.tty,
        "user": {"uid": uid, "gid": gid, "additionalGids": gids},
        "args": p.args,
        "env": env,
        "cwd": cwd,
        "capabilities": spec::capabilities_json(&cap_set, uid),
        "rlimits": iproc.rlimits(),
    });
    if force_nnp || iproc.no_new_privileges() == Some(true) {
        process["noNewPrivileges"] = json!(true);
    }
    Ok(process)
}

fn map_status(s: ContainerStatus) -> Status {
    match s {
        ContainerStatus::Creating => Status::Creating,
        ContainerStatus::Created => Status::Created,
        ContainerStatus::Running => Status::Running,
        ContainerStatus::Stopped => Status::Stopped,
        ContainerStatus::Paused => Status::Paused,
    }
}

impl Runtime for LibcontainerRuntime {
    fn create(&self, cfg: &ContainerConfig, stdio: Stdio) -> Result<Pid> {
        let _ops = self.lock();
        validate_id(&cfg.id)?;
        if self.root.join(&cfg.id).exists() {
            return Err(Error::AlreadyExists(cfg.id.clone()));
        }
        let layout = Layout::new(&cfg.state_dir);
        match self.create_inner(cfg, stdio, &layout) {
            Ok(pid) => Ok(pid),
            Err(e) => {
                // Roll back everything; report the cause and every rollback failure.
                let mut msgs = vec![format!("{e}")];
                if let Ok(mut c) = self.load(&cfg.id) {
                    if let Err(d) = c.delete(true) {
                        msgs.push(format!("rollback: {d}"));
                    }
                }
                let _ = std::fs::remove_dir_all(self.root.join(&cfg.id));
                remove_cgroup_dirs(&cfg.id);
                for d in rootfs::teardown(&layout) {
                    msgs.push(format!("rollback: {d}"));
                }
                if msgs.len() == 1 {
                    Err(e)
                } else {
                    tracing::error!(errors = ?msgs, "create failed and rollback failed");
                    Err(Error::Multiple(msgs.join("; ")))
                }
            }
        }
    }

    fn start(&self, id: &str) -> Result<()> {
        let _ops = self.lock();
        // libcontainer's `start` without its two reads we have no use for: the status check
        // from /proc/PID/stat (a dead init refuses the connection just as well) and the
        // hooks file (we never give it hooks, so there are no poststart hooks to run).
        let mut c = self.load_recorded(id)?;
        if c.status() != ContainerStatus::Created {
            return Err(Error::WrongState {
                op: "start",
                id: id.into(),
                state: format!("{:?}", c.status()),
            });
        }
        if !self.started_mut().remove(id) {
            self.send_start(id)?;
        }
        c.set_status(ContainerStatus::Running);
        save_in_place(&c).map_err(|e| Error::io("record the start of", id, e))
    }

    fn kill(&self, id: &str, sig: i32, all: bool) -> Result<()> {
        let _ops = self.lock();
        let mut c = self.load(id)?;
        let signal = libcontainer::signal::Signal::try_from(sig)
            .map_err(|_| Error::InvalidConfig(format!("invalid signal {sig}")))?;
        c.kill(signal, all).map_err(lc("kill", id))
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        let _ops = self.lock();
        let mut c = self.load(id)?;
        let bundle = c.bundle().clone();
        let mut errors = Vec::new();
        // A stopped container (we never set hooks): what libcontainer's delete would do,
        // without its cgroup manager's dozens of mountinfo reads in the host namespace
        // (≈ 3 ms of every run --rm; the state dir goes below).
        let deleted = if c.status() == ContainerStatus::Stopped {
            let failed = remove_cgroup_dirs(id);
            errors.extend(failed.iter().map(ToString::to_string));
            Ok(())
        } else {
            c.delete(force)
        };
        if let Err(e) = deleted {
            if matches!(
                e,
                libcontainer::error::LibcontainerError::IncorrectStatus(_)
            ) {
                return Err(Error::WrongState {
                    op: "delete",
                    id: id.into(),
                    state: format!("{:?}", c.status()),
                });
            }
            errors.push(format!(
                "{}",
                Error::Libcontainer {
                    op: "delete",
                    id: id.into(),
                    source: Box::new(e)
                }
            ));
        }
        // The bundle is <state_dir>/bundle.
        if let Some(state_dir) = bundle.parent() {
            for e in rootfs::teardown(&Layout::new(state_dir)) {
                errors.push(e.to_string());
            }
        }
        let dir = self.root.join(id);
        if dir.exists() {
            if let Err(e) = self.remove_state_dir(id, &dir) {
                errors.push(Error::io("remove state of", &dir, e).to_string());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Multiple(errors.join("; ")))
        }
    }

    fn state(&self, id: &str) -> Result<State> {
        let _ops = self.lock();
        let c = self.load(id)?;
        Ok(State {
            id: id.to_string(),
            status: map_status(c.status()),
            pid: c.pid().map(|p| p.as_raw()),
            bundle: c.bundle().clone(),
        })
    }

    fn exec(&self, id: &str, p: &ExecConfig, stdio: Stdio) -> Result<Pid> {
        let _ops = self.lock();
        let c = self.load(id)?;
        if c.status() != ContainerStatus::Running {
            return Err(Error::WrongState {
                op: "exec in",
                id: id.into(),
                state: format!("{:?}", c.status()),
            });
        }
        let bundle = c.bundle().clone();
        let init = Spec::load(bundle.join("config.json")).map_err(Error::Spec)?;
        let rootfs = init
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .unwrap_or_else(|| bundle.join("../rootfs"));
        let precompiled = bundle.join(SECCOMP_FILE);
        let (mut process, executor) = if precompiled.exists() {
            let text = std::fs::read_to_string(&precompiled)
                .map_err(|e| Error::io("read", &precompiled, e))?;
            let oci: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| Error::InvalidSeccomp(e.to_string()))?;
            let program = bpf::cached(&self.seccomp_cache(), &oci, &text)?;
            let process = exec_process(&init, &rootfs, p, false)?;
            (
                process,
                WharfExecutor {
                    bpf: Some(Arc::new(program)),
                    libseccomp: None,
                    drop_sys_admin: false,
                    installed: Default::default(),
                },
            )
        } else {
            let seccomp = init.linux().as_ref().and_then(|l| l.seccomp().clone());
            let process = exec_process(&init, &rootfs, p, seccomp.is_some())?;
            (
                process,
                WharfExecutor {
                    bpf: None,
                    libseccomp: seccomp,
                    drop_sys_admin: false,
                    installed: Default::default(),
                },
            )
        };
        let executor = if executor.bpf.is_some() {
            WharfExecutor {
                drop_sys_admin: grant_sys_admin(&mut process["capabilities"]),
                ..executor
            }
        } else {
            executor
        };
        let n = EXEC_SEQ.fetch_add(1, Ordering::Relaxed);
        let path = bundle.join(format!("exec-{}-{n}.json", std::process::id()));
        std::fs::write(&path, process.to_string()).map_err(|e| Error::io("write", &path, e))?;
        let builder = self
            .builder(id, stdio, executor)?
            .as_tenant()
            .with_process(Some(&path))
            .with_detach(true);
        // As for create (docs/adr-0012-cgroup-entry.md): from a forked child that enters the
        // container's cgroups without the kernel's global lock, where the caller allows it.
        // Not under a pids limit: the forked child would count against it while the exec
        // starts (libcontainer's own path moves only its intermediate process, as runc moves
        // only `runc init`), and an exec docker starts could fail.
        let attach = bundle
            .parent()
            .and_then(|state_dir| fast_cgroup_entry_for(id, state_dir, &[]))
            .filter(|a| {
                a.dir_of("pids").is_none_or(|d| {
                    std::fs::read_to_string(d.join("pids.max")).is_ok_and(|v| v.trim() == "max")
                })
            });
        let result = match &attach {
            Some(a) => {
                let build = move || {
                    builder
                        .build()
                        .map(|p| p.as_raw())
                        .map_err(|e| error_chain(&e))
                };
                build_in_child("exec in", id, build, None, a, false, None)
            }
            None => builder
                .build()
                .map(|pid| pid.as_raw())
                .map_err(lc("exec in", id)),
        };
        let _ = std::fs::remove_file(&path);
        result
    }

    fn pause(&self, id: &str) -> Result<()> {
        let _ops = self.lock();
        self.load(id)?.pause().map_err(lc("pause", id))
    }

    fn resume(&self, id: &str) -> Result<()> {
        let _ops = self.lock();
        self.load(id)?.resume().map_err(lc("resume", id))
    }

    fn stats(&self, id: &str) -> Result<Stats> {
        validate_id(id)?;
        let cg_err = |reason: String| Error::Cgroup {
            op: "read stats of",
            id: id.into(),
            reason,
        };
        let manager = libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
            cgroup_path: PathBuf::from(spec::cgroups_path(id)),
            systemd_cgroup: false,
            container_name: id.to_string(),
        })
        .map_err(|e| cg_err(e.to_string()))?;
        let s = manager.stats().map_err(|e| cg_err(e.to_string()))?;
        Ok(Stats {
            memory_usage: s.memory.memory.usage,
            memory_limit: s.memory.memory.limit,
            memory_inactive_file: ["total_inactive_file", "inactive_file"]
                .iter()
                .find_map(|k| s.memory.stats.get(*k).copied())
                .unwrap_or(0),
            cpu_usage_ns: s.cpu.usage.usage_total,
            pids: s.pids.current,
        })
    }

    fn oom_killed(&self, id: &str) -> bool {
        validate_id(id).is_ok() && cgroup::oom_killed(&spec::cgroups_path(id))
    }
}
