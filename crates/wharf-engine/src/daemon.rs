//! `wharf daemon`: flags, the data-root lock, the listening socket, and a clean shutdown.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Parser;
use tokio::net::UnixListener;

use crate::state::Daemon;

pub const DEFAULT_HOST: &str = "unix:///run/wharf/wharf.sock";
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/wharf";

/// The flags of `wharf daemon`.
#[derive(Debug, Parser)]
#[command(
    name = "wharf daemon",
    about = "Run the Wharf daemon (the Docker Engine API on a unix socket)"
)]
pub struct DaemonArgs {
    /// Socket to listen on (unix:///path or a path)
    #[arg(short = 'H', long = "host", env = "WHARF_HOST", default_value = DEFAULT_HOST)]
    pub host: String,
    /// Root directory of persistent state (images, containers, volumes, networks)
    #[arg(long = "data-root", env = "WHARF_DATA_ROOT", default_value = DEFAULT_DATA_ROOT)]
    pub data_root: PathBuf,
    /// Log level: error, warn, info, debug, trace
    #[arg(short = 'l', long = "log-level", default_value = "info")]
    pub log_level: String,
    /// Accepted for docker compatibility; ignored
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// A registry (host[:port]) that may be reached over plain HTTP (repeatable)
    #[arg(long = "insecure-registry", value_name = "host[:port]")]
    pub insecure_registries: Vec<String>,
    /// Directory of per-registry CAs (`<host[:port]>/ca.crt`), besides /etc/docker/certs.d
    #[arg(
        long = "registry-certs-dir",
        env = "WHARF_REGISTRY_CERTS_DIR",
        value_name = "dir"
    )]
    pub registry_certs_dir: Option<PathBuf>,
}

/// Entry point of `wharf daemon …`; `args` starts at "daemon". Returns the process exit code.
pub fn daemon_main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args = match DaemonArgs::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 125 } else { 0 };
        }
    };
    let level = if args.debug {
        "debug".to_string()
    } else {
        args.log_level.clone()
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("WHARF_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();

    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wharf daemon: failed to start the async runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("wharf daemon: {e:#}");
            1
        }
    }
}

/// The socket path of a `unix://` host (or a bare path).
pub fn socket_path(host: &str) -> anyhow::Result<PathBuf> {
    if let Some(p) = host.strip_prefix("unix://") {
        return Ok(PathBuf::from(p));
    }
    if host.starts_with('/') {
        return Ok(PathBuf::from(host));
    }
    bail!("invalid host {host:?}: the daemon listens on unix sockets only (unix:///path)")
}

async fn run(args: DaemonArgs) -> anyhow::Result<()> {
    let sock = socket_path(&args.host)?;
    fs::create_dir_all(&args.data_root)
        .with_context(|| format!("failed to create data root {}", args.data_root.display()))?;
    let _lock = lock_data_root(&args.data_root)?;
    crate::pull::http::set_insecure_registries(args.insecure_registries.clone());
    crate::pull::set_certs_dir(args.registry_certs_dir.clone());

    let daemon = Arc::new(Daemon::open(&args.data_root).context("failed to open the stores")?);
    // Per-container state and sockets on a tmpfs, also where /run is on the disk.
    let shared_runtime_root = daemon
        .runtime_root
        .parent()
        .filter(|p| *p == Path::new(crate::state::RUNTIME_ROOTS));
    for dir in [
        Some(Path::new(crate::shim::SOCKET_ROOT)),
        shared_runtime_root,
    ]
    .into_iter()
    .flatten()
    {
        ensure_tmpfs(dir);
    }
    let listener = bind(&sock)?;
    crate::shim::client::prepare();
    if let Err(e) = daemon.init_networks() {
        tracing::error!(error = %e, "networking is not available");
    }
    daemon.recover();
    // Each container's socket directory and runtime state directory (made and removed with
    // it) spread over ext4's block groups, as its data directory does, where /run is on the
    // disk rather than a tmpfs (ADR-0017).
    for dir in [Path::new(crate::shim::SOCKET_ROOT), &daemon.runtime_root] {
        if fs::create_dir_all(dir).is_ok() {
            crate::container::store::spread_subdirectories(dir);
        }
    }
    crate::container::empty_trash(&args.data_root);
    daemon.spares.start();
    // Container starts, exits and removals commit without waiting for the disk; this makes
    // them durable within a second, off every request's path (ADR-0019).
    // `WHARF_FLUSH_INTERVAL_MS` changes the period (tests of recovery lengthen it).
    {
        let d = daemon.clone();
        let every = std::env::var("WHARF_FLUSH_INTERVAL_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(
                std::time::Duration::from_secs(1),
                std::time::Duration::from_millis,
            );
        let _ = std::thread::Builder::new()
            .name("wharf-flush".into())
            .spawn(move || loop {
                std::thread::sleep(every);
                match d.containers.flush() {
                    // What the commits since the last flush allocated (redb's pages, freed
                    // only by a durable commit) goes back to the system.
                    Ok(true) => wharf_runtime::memory::trim(),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e.message, "cannot flush the container records")
                    }
                }
            });
    }
    std::thread::spawn(crate::shim::sweep_socket_dirs);
    {
        let (own, root) = (daemon.runtime_root.clone(), args.data_root.clone());
        std::thread::spawn(move || crate::container::sweep_runtime_roots(&own, &root));
    }
    // Builds that a crash interrupted: their read-only views and scratch directories.
    let builds = args.data_root.join("build");
    if builds.exists() {
        crate::container::unmount_under(&builds);
        let _ = crate::container::remove_dir_all_no_follow(&builds);
    }
    tracing::info!(socket = %sock.display(), data_root = %args.data_root.display(), "wharf daemon listening");

    let app = axum::ServiceExt::<axum::extract::Request>::into_make_service(crate::api::service(
        daemon.clone(),
    ));
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; }, None => std::future::pending().await } } => {},
        }
        tracing::info!("shutting down");
    };
    // The accept loop runs as a task on a worker, not in `block_on` on the main thread: a
    // connection's task then starts on the worker that accepted it (its LIFO slot), with no
    // wakeup of another thread on every request.
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    })
    .await
    .context("serving the API")?
    .context("serving the API")?;
    let _ = fs::remove_file(&sock);
    if let Err(e) = daemon.containers.flush() {
        tracing::warn!(error = %e.message, "cannot flush the container records");
    }
    // Stopping with no container running, the daemon leaves no runtime state under /run: its
    // runtime root then holds only the seccomp cache (rebuilt on demand) and the note of its
    // data root. Anything else in it keeps it.
    if daemon
        .containers
        .list()
        .iter()
        .all(|c| !c.state.status.is_live())
    {
        let rr = &daemon.runtime_root;
        let _ = fs::remove_dir_all(rr.join(".seccomp-cache"));
        let owner = crate::container::RUNTIME_OWNER;
        if fs::read_dir(rr).is_ok_and(|d| d.flatten().all(|e| e.file_name() == owner)) {
            let _ = fs::remove_file(rr.join(owner));
            let _ = fs::remove_dir(rr);
        }
    }
    Ok(())
}

/// Only one daemon may own a data root: an exclusive `flock` held for the daemon's life.
fn lock_data_root(root: &Path) -> anyhow::Result<fs::File> {
    let path = root.join("wharf.lock");
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("failed to open {}", path.display()))?;
    // A daemon killed a moment ago can leave its lock held for a little while: by a child it
    // had just forked to run a program (`nft`), which holds a copy of its descriptors until
    // its `exec` closes them. While the daemon that wrote its pid here is gone, keep trying.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
        let pid = fs::read_to_string(&path).unwrap_or_default();
        let gone = pid
            .trim()
            .parse::<i32>()
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .is_some_and(|p| rustix::process::test_kill_process(p) == Err(rustix::io::Errno::SRCH));
        if !gone || std::time::Instant::now() >= deadline {
            bail!(
                "another wharf daemon (pid {}) is using the data root {}",
                pid.trim(),
                root.display()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    f.set_len(0)?;
    std::io::Write::write_all(&mut &f, std::process::id().to_string().as_bytes())?;
    Ok(f)
}

/// Binds the API socket, replacing a stale socket file but never one a live daemon answers on.
/// Mounts a tmpfs on `dir` unless it is on one already (ADR-0021). The runtime's state
/// directories and the shims' sockets are made and removed with every container; where /run
/// is part of the root filesystem (this machine kind: an ext4 without a journal, mounted with
/// `discard`), each of them was an inode and a directory block allocated on the start's path,
/// and a discard the device waited for at each removal. Only an empty (or new) `dir` is
/// mounted on: one that holds files was used by a daemon without the tmpfs, whose shims may
/// still be running there. The check and the mount are made under a lock on `dir` itself, so
/// daemons starting together mount one tmpfs. Best effort: a failure leaves `dir` as it is.
/// Whether `p` is on a tmpfs.
fn on_tmpfs(p: &Path) -> bool {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    // `f_type`'s type differs between architectures.
    #[allow(clippy::unnecessary_cast)]
    rustix::fs::statfs(p).is_ok_and(|s| s.f_type as i64 == TMPFS_MAGIC)
}

fn ensure_tmpfs(dir: &Path) {
    use rustix::fs::{flock, FlockOperation};
    if on_tmpfs(dir) || fs::create_dir_all(dir).is_err() {
        return;
    }
    let Ok(d) = fs::File::open(dir) else {
        return;
    };
    if flock(&d, FlockOperation::LockExclusive).is_err() {
        return;
    }
    // Another daemon may have mounted it meanwhile: the path is looked up again.
    let empty = fs::read_dir(dir).is_ok_and(|mut r| r.next().is_none());
    if on_tmpfs(dir) || !empty {
        return;
    }
    use rustix::mount::MountFlags as F;
    match rustix::mount::mount(
        "tmpfs",
        dir,
        "tmpfs",
        F::NOSUID | F::NODEV | F::NOEXEC,
        Some(c"mode=755,size=64m"),
    ) {
        Ok(()) => tracing::debug!(dir = %dir.display(), "mounted a tmpfs"),
        Err(e) => tracing::debug!(dir = %dir.display(), error = %e, "no tmpfs"),
    }
}

fn bind(sock: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = sock.parent() {
        fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    }
    if sock.exists() {
        // Answered: another daemon, or (as for the lock) a killed daemon's socket still open in
        // a child of it on its way to an `exec`, which goes in a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while std::os::unix::net::UnixStream::connect(sock).is_ok() {
            if std::time::Instant::now() >= deadline {
                bail!("another daemon is already listening on {}", sock.display());
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        fs::remove_file(sock)
            .with_context(|| format!("failed to remove stale socket {}", sock.display()))?;
    }
    let l = UnixListener::bind(sock)
        .with_context(|| format!("failed to listen on {}", sock.display()))?;
    fs::set_permissions(sock, fs::Permissions::from_mode(0o660))?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tmpfs_goes_on_an_empty_directory_only_and_once() {
        use super::on_tmpfs;
        // A directory on the disk (the test's own temporary directory may be a tmpfs).
        let base = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        if on_tmpfs(base.path()) {
            return;
        }
        let empty = base.path().join("new/s");
        super::ensure_tmpfs(&empty);
        assert!(on_tmpfs(&empty), "an empty (new) directory gets a tmpfs");
        let mounts = || {
            std::fs::read_to_string("/proc/self/mountinfo")
                .unwrap()
                .lines()
                .filter(|l| l.contains(empty.to_str().unwrap()))
                .count()
        };
        super::ensure_tmpfs(&empty);
        assert_eq!(mounts(), 1, "one tmpfs, not two");
        let used = base.path().join("used");
        std::fs::create_dir(&used).unwrap();
        std::fs::write(used.join("shim.sock"), b"").unwrap();
        super::ensure_tmpfs(&used);
        assert!(!on_tmpfs(&used), "a directory in use is left as it is");
        rustix::mount::unmount(&empty, rustix::mount::UnmountFlags::DETACH).unwrap();
    }
}
