//! `wharf shim DIR`: one small process per running container, the parent of its init.
//!
//! It holds the container's stdio (pipes, or a pty's master), writes the json-file log, records
//! the exit status (`DIR/exit.json`), forwards signals and serves attach/exec/resize/wait on
//! `shim.sock` in its [`socket_dir`] ([`proto`]). It runs in its own session, so `kill -9` of the daemon does not
//! touch it; a restarted daemon reconnects to the socket.
//!
//! Threads, not async: container processes are created by the runtime before any thread
//! exists (fork from a single-threaded process), and execs are created by a fresh
//! `wharf shim exec` process for the same reason.

pub mod backend;
pub mod client;
pub mod log;
pub mod proto;
pub mod zygote;

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use backend::{Backend, ChildStdio};
use proto::{frame, ExecSpec, Exit, Reply, Request, ShimSpec};

/// Entry point of `wharf shim …` (args start at "shim").
pub fn shim_main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    // One malloc arena: the shim's few threads move bytes; an arena each would be kept
    // mapped for the container's lifetime (memory per container, issue 3).
    wharf_runtime::memory::single_arena();
    // CVE-2019-5736: never enter a container as the host binary (re-execs from a sealed
    // copy unless the daemon already started us from one).
    // The runtime reports details through `tracing`: keep them in the shim's log (stderr).
    let filter = tracing_subscriber::EnvFilter::try_from_env("WHARF_SHIM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,libcgroups=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    if let Err(e) = wharf_runtime::selfexe::ensure_sealed_self() {
        println!("error cannot run from a sealed copy of the binary: {e}");
        return 1;
    }
    dispatch(args)
}

/// `wharf shim …` once set up: from [`shim_main`], or in a child forked by the zygote.
fn dispatch(args: Vec<OsString>) -> i32 {
    match args.get(1).and_then(|a| a.to_str()) {
        Some("zygote") if args.len() == 2 => zygote::zygote_main(dispatch),
        Some("exec") if args.len() == 4 => exec_main(Path::new(&args[2]), Path::new(&args[3])),
        Some(_) if args.len() == 2 => match run(Path::new(&args[1])) {
            Ok(()) => 0,
            Err(e) => {
                // Before "ready" this line is what the daemon reports to the user.
                println!("error {}", e.replace('\n', " "));
                1
            }
        },
        _ => {
            eprintln!(
                "usage: wharf shim DIR | wharf shim exec DIR EXEC.json (started by the daemon)"
            );
            2
        }
    }
}

pub fn now_rfc3339_nanos() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond()
    )
}

/// Where a container's sockets live: a short path under /run (a unix socket path must fit
/// in 108 bytes; data roots can be deep), derived from the container's directory so the
/// daemon and the shim agree without being told.
pub fn socket_dir(container_dir: &Path) -> PathBuf {
    let h = wharf_types::Digest::of(container_dir.as_os_str().as_encoded_bytes());
    PathBuf::from(SOCKET_ROOT).join(&h.hex()[..16])
}

/// Removes the socket directories that no shim uses any more: a shim's directory goes with
/// its container's `rm`, but a daemon killed with its containers, or a data root deleted by
/// hand, leaves them behind in /run, for every daemon on the host. A directory is left alone
/// for a minute after its last change (a shim creates it before it binds its sockets) and
/// while any socket in it accepts a connection.
pub fn sweep_socket_dirs() {
    sweep_socket_dirs_in(Path::new(SOCKET_ROOT), Duration::from_secs(60))
}

pub(crate) const SOCKET_ROOT: &str = "/run/wharf/s";

fn sweep_socket_dirs_in(root: &Path, min_age: Duration) {
    let now = std::time::SystemTime::now();
    for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let dir = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&dir) else {
            continue;
        };
        let young = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_none_or(|age| age < min_age);
        if !meta.is_dir() || young {
            continue;
        }
        let entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        if entries.iter().any(|p| UnixStream::connect(p).is_ok()) {
            continue;
        }
        for p in &entries {
            let _ = std::fs::remove_file(p);
        }
        // rmdir, not remove_dir_all: whatever appeared meanwhile keeps the directory.
        let _ = std::fs::remove_dir(&dir);
    }
}

/// Writes `value` to `path` atomically for readers (temp file, rename). No fsync, on purpose:
/// these files (shim.json, exit.json, exec results) must survive a crashed *process*, which
/// the page cache gives; after a power loss every container is gone anyway. An fsync here
/// would sit on every container start and exit.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(value).map_err(std::io::Error::other)?)?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// The container side and the shim side of the stdio.
struct Stdio {
    child: ChildStdio,
    /// Where the shim writes the container's stdin (pipe write end or pty master).
    stdin: Option<File>,
    /// Output the shim reads: (stream id, reader). With a tty, one reader (the master).
    outputs: Vec<(u8, File)>,
    /// The pty master, for resizes.
    master: Option<File>,
    /// With a tty: the console socket the runtime sends the pty master to.
    console: Option<UnixListener>,
}

impl Stdio {
    /// With a tty, takes the pty master from the console socket (after the runtime made it).
    fn receive_console(
        &mut self,
        deadline: Duration,
        alive: impl Fn() -> bool,
    ) -> Result<(), String> {
        let Some(listener) = self.console.take() else {
            return Ok(());
        };
        let _ = listener.set_nonblocking(true);
        let start = std::time::Instant::now();
        let master = loop {
            match backend::receive_console(&listener) {
                Ok(m) => break m,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        && start.elapsed() < deadline
                        && alive() =>
                {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(format!("failed to receive the container's pty: {e}")),
            }
        };
        let clone = |f: &File| f.try_clone().map_err(|e| e.to_string());
        self.stdin = Some(clone(&master)?);
        self.outputs = vec![(1, clone(&master)?)];
        self.master = Some(master);
        Ok(())
    }
}

fn pipe() -> std::io::Result<(File, File)> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    Ok((File::from(r), File::from(w)))
}

/// Pipes for the three streams, or (with a tty) a console socket at `console`.
fn make_stdio(tty: bool, open_stdin: bool, console: &Path) -> std::io::Result<Stdio> {
    if tty {
        let _ = std::fs::remove_file(console);
        let listener = UnixListener::bind(console)?;
        return Ok(Stdio {
            child: ChildStdio::Console(console.to_path_buf()),
            stdin: None,
            outputs: Vec::new(),
            master: None,
            console: Some(listener),
        });
    }
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (child_in, our_in): (OwnedFd, Option<File>) = if open_stdin {
        let (r, w) = pipe()?;
        (r.into(), Some(w))
    } else {
        (File::open("/dev/null")?.into(), None)
    };
    Ok(Stdio {
        child: ChildStdio::Fds {
            stdin: child_in,
            stdout: out_w.into(),
            stderr: err_w.into(),
        },
        stdin: our_in,
        outputs: vec![(1, out_r), (2, err_r)],
        master: None,
        console: None,
    })
}

/// Attached clients that want the container's output.
struct Subscriber {
    conn: UnixStream,
    stdout: bool,
    stderr: bool,
}

impl Subscriber {
    fn wants(&self, stream: u8) -> bool {
        if stream == 2 {
            self.stderr
        } else {
            self.stdout
        }
    }
}

/// The attached clients, and the output held for the attaches still on their way to an
/// autostarted container (`ShimSpec::attaches`).
#[derive(Default)]
struct Subs {
    list: Vec<Subscriber>,
    /// Announced attaches not connected yet: while there are any, output is also held.
    expected: u32,
    held: Vec<(u8, Vec<u8>)>,
    held_bytes: usize,
}

impl Subs {
    fn give_up_holding(&mut self) {
        self.expected = 0;
        self.held = Vec::new();
        self.held_bytes = 0;
    }
}

/// Output held for announced attaches beyond this makes the container wait (its pipes fill)
/// rather than lose any of it…
const HOLD_MAX: usize = 1 << 20;
/// …for at most this long: then the attaches are given up on (a daemon killed right after
/// the start never makes them). The output is in the log either way.
const HOLD_WAIT: Duration = Duration::from_secs(5);

/// Waits, with `subs` held, until the announced attaches have all come, `until` says stop,
/// or [`HOLD_WAIT`] has passed (then they are given up on).
fn wait_for_attaches<'a>(
    shared: &'a Shared,
    mut subs: std::sync::MutexGuard<'a, Subs>,
    until: impl Fn(&Subs) -> bool,
) -> std::sync::MutexGuard<'a, Subs> {
    let deadline = std::time::Instant::now() + HOLD_WAIT;
    while subs.expected > 0 && !until(&subs) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            subs.give_up_holding();
            break;
        }
        subs = shared
            .attached
            .wait_timeout(subs, left)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
    subs
}

struct Shared {
    dir: PathBuf,
    spec: ShimSpec,
    backend: Box<dyn Backend + Send + Sync>,
    subs: Mutex<Subs>,
    /// Signalled when an announced attach has come.
    attached: Condvar,
    stdin: Mutex<Option<File>>,
    master: Option<File>,
    exit: Mutex<Option<Exit>>,
    exited: Condvar,
    execs: Mutex<Vec<(String, Option<File>)>>,
    /// Held by a `start` request while it runs and answers.
    starting: Mutex<()>,
}

/// Namespaces made ahead by the spare this shim was, waiting in the zygote for its request
/// ([`zygote`]): network (with `lo` up) and IPC. Each is taken by a container that wants
/// a new one.
static PREPARED_NETNS: Mutex<Option<File>> = Mutex::new(None);
static PREPARED_IPCNS: Mutex<Option<File>> = Mutex::new(None);

/// Offers the namespaces made ahead to the shim this process is about to become.
pub(crate) fn offer_namespaces(net: Option<File>, ipc: Option<File>) {
    *PREPARED_NETNS.lock().unwrap_or_else(|p| p.into_inner()) = net;
    *PREPARED_IPCNS.lock().unwrap_or_else(|p| p.into_inner()) = ipc;
}

/// The namespace made ahead in `slot`, if there is one and `mode` wants a new one: `mode`
/// then joins it by its path (held by the returned file until the init is in it).
fn use_prepared(slot: &Mutex<Option<File>>, mode: &mut wharf_runtime::NetworkMode) -> Option<File> {
    let ns = slot
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .filter(|_| *mode == wharf_runtime::NetworkMode::New)?;
    *mode = wharf_runtime::NetworkMode::Path(PathBuf::from(format!(
        "/proc/{}/fd/{}",
        std::process::id(),
        std::os::fd::AsRawFd::as_raw_fd(&ns)
    )));
    Some(ns)
}

/// A shared lock on the sockets' root, held from making this shim's socket directory until its
/// socket is bound: a daemon starting meanwhile mounts no tmpfs over the root then (it mounts
/// one only on an empty root, holding an exclusive lock on it: ADR-0021). `None` where it
/// cannot be taken.
fn hold_socket_root() -> Option<File> {
    let _ = std::fs::create_dir_all(SOCKET_ROOT);
    let f = File::open(SOCKET_ROOT).ok()?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockShared).ok()?;
    Some(f)
}

fn run(dir: &Path) -> Result<(), String> {
    let mut spec: ShimSpec = serde_json::from_slice(
        &std::fs::read(dir.join("shim.json"))
            .map_err(|e| format!("failed to read shim.json: {e}"))?,
    )
    .map_err(|e| format!("bad shim.json: {e}"))?;
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| format!("failed to become a subreaper: {e}"))?;

    let sockets = socket_dir(dir);
    let root_lock = hold_socket_root();
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&sockets)
            .map_err(|e| format!("failed to create {}: {e}", sockets.display()))?;
    }
    let (held_ports, bound) = bind_ports(&spec.ports)?;
    if !bound.is_empty() {
        write_json_atomic(&dir.join("ports.json"), &bound)
            .map_err(|e| format!("failed to record the published ports: {e}"))?;
    } else {
        let _ = std::fs::remove_file(dir.join("ports.json"));
    }
    let mut stdio = make_stdio(spec.tty, spec.open_stdin, &sockets.join("console.sock"))
        .map_err(|e| format!("failed to set up stdio: {e}"))?;
    let backend = backend::open(&spec)?;
    let child = std::mem::replace(&mut stdio.child, ChildStdio::Console(PathBuf::new()));
    // The namespaces made ahead, if any, joined by their paths instead of new ones made now
    // (the runtime then leaves `lo` as it is: up). Held until the container's init is in them.
    let netns = use_prepared(&PREPARED_NETNS, &mut spec.run.network);
    let ipcns = use_prepared(&PREPARED_IPCNS, &mut spec.run.extra.ipc);
    let created = backend.create(&spec, child);
    drop((netns, ipcns));
    let pid = created?;
    // From here on a failure must not leave a created container behind. With autostart
    // the container starts first: our socket is for the daemon, which connects only once
    // it has read "ready" below, so binding it follows the start instead of delaying it.
    let fail = |e: String| {
        let _ = backend.kill(9, true);
        let _ = wait_init(pid);
        let _ = backend.delete();
        backend.finish();
        let _ = std::fs::remove_dir_all(&sockets);
        e
    };
    stdio
        .receive_console(Duration::from_secs(10), || true)
        .map_err(fail)?;
    if spec.autostart {
        backend
            .start()
            .map_err(|e| fail(format!("failed to start the container: {e}")))?;
    }
    let _ = std::fs::remove_file(sockets.join("console.sock"));
    let sock = sockets.join("shim.sock");
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock)
        .map_err(|e| fail(format!("failed to listen on {}: {e}", sock.display())))?;
    drop(root_lock);

    let attaches = if spec.autostart { spec.attaches } else { 0 };
    let shared = Arc::new(Shared {
        dir: dir.to_path_buf(),
        spec,
        backend,
        subs: Mutex::new(Subs {
            expected: attaches,
            ..Default::default()
        }),
        attached: Condvar::new(),
        stdin: Mutex::new(stdio.stdin),
        master: stdio.master,
        exit: Mutex::new(None),
        exited: Condvar::new(),
        execs: Mutex::new(Vec::new()),
        starting: Mutex::new(()),
    });

    // Tell the daemon, then let go of its pipe: from here on we log to DIR/shim.log.
    println!("ready {pid}");
    let _ = std::io::stdout().flush();
    if let Ok(log) = File::options()
        .create(true)
        .append(true)
        .open(dir.join("shim.log"))
    {
        let _ = rustix::stdio::dup2_stdout(&log);
        let _ = rustix::stdio::dup2_stderr(&log);
    }

    let logger = Arc::new(Mutex::new(log::JsonLog::open(
        Path::new(&shared.spec.log_path),
        shared.spec.log_max_size,
        shared.spec.log_max_files,
    )));
    let mut pumps = Vec::new();
    for (stream, reader) in stdio.outputs {
        let (shared, logger) = (shared.clone(), logger.clone());
        pumps.push(std::thread::spawn(move || {
            pump(&shared, &logger, stream, reader)
        }));
    }
    {
        let shared = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || handle(&shared, conn));
            }
        });
    }

    // What creating the container allocated (spec, seccomp program, runtime state) is free
    // now: give it back for as long as the container runs.
    wharf_runtime::memory::trim();
    // Wait for the container's init; as a subreaper we are its parent once the runtime's
    // intermediate processes are gone.
    let code = wait_init(pid);
    drop(shared.starting.lock().unwrap_or_else(|p| p.into_inner()));
    // Output first (the pipes close once every process in the container is gone).
    for p in pumps {
        let _ = p.join();
    }
    // A process that ended at once still shows its output to the attaches on their way.
    drop(wait_for_attaches(
        &shared,
        shared.subs.lock().unwrap_or_else(|p| p.into_inner()),
        |_| false,
    ));
    let oom = shared.backend.oom_killed();
    let mut exit = Exit {
        exit_code: code,
        oom_killed: oom,
        finished_at: now_rfc3339_nanos(),
        ..Default::default()
    };
    if let Err(e) = write_json_atomic(&dir.join("exit.json"), &exit) {
        eprintln!("failed to record the exit status: {e}");
    }
    match shared.backend.delete() {
        Ok(()) => exit.torn_down = true,
        Err(e) => eprintln!("failed to clean up the container: {e}"),
    }
    // Our socket and the published ports go before anyone hears of the exit: a new shim (a
    // restart, or `rm -f` then `run -p` of the same port) may bind them right after.
    // Connected waiters keep their connections.
    let _ = std::fs::remove_file(sockets.join("shim.sock"));
    drop(held_ports);
    {
        let mut x = shared.exit.lock().unwrap_or_else(|p| p.into_inner());
        *x = Some(exit);
        shared.exited.notify_all();
    }
    for s in shared
        .subs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .list
        .drain(..)
    {
        let _ = s.conn.shutdown(std::net::Shutdown::Both);
    }
    // The runtime's state directory, moved aside by `delete` (slow to remove, ADR-0019).
    shared.backend.finish();
    // Give waiters a moment to read their answer, then go.
    std::thread::sleep(Duration::from_millis(50));
    Ok(())
}

/// Binds (without listening) every published host port; the sockets are held until the shim
/// exits. Returns them and the ports as bound.
fn bind_ports(
    ports: &[crate::network::PublishedPort],
) -> Result<(Vec<rustix::fd::OwnedFd>, Vec<crate::network::PublishedPort>), String> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let mut held = Vec::new();
    let mut out = Vec::new();
    for p in ports {
        let ip: std::net::Ipv4Addr = p.host_ip.parse().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
        let typ = if p.proto == "udp" {
            SocketType::DGRAM
        } else {
            SocketType::STREAM
        };
        let fd = rustix::net::socket_with(AddressFamily::INET, typ, SocketFlags::CLOEXEC, None)
            .map_err(|e| format!("socket: {e}"))?;
        // A specific address may not be up (yet); docker binds it anyway.
        let _ = rustix::net::sockopt::set_ip_freebind(&fd, true);
        if p.shared {
            // The replicas of one service hold the port together (the daemon checked that no
            // one else holds it); it stays held while any of them runs.
            rustix::net::sockopt::set_socket_reuseport(&fd, true)
                .map_err(|e| format!("SO_REUSEPORT: {e}"))?;
        }
        let want = std::net::SocketAddrV4::new(ip, p.host_port);
        if let Err(e) = rustix::net::bind(&fd, &want) {
            return Err(if e == rustix::io::Errno::ADDRINUSE {
                format!(
                    "Bind for {ip}:{} failed: port is already allocated",
                    p.host_port
                )
            } else {
                format!(
                    "failed to bind host port {ip}:{}/{}: {e}",
                    p.host_port, p.proto
                )
            });
        }
        let got = match rustix::net::getsockname(&fd) {
            Ok(a) => std::net::SocketAddrV4::try_from(a)
                .map(|a| a.port())
                .unwrap_or(p.host_port),
            Err(_) => p.host_port,
        };
        let mut q = p.clone();
        q.host_port = got;
        out.push(q);
        held.push(fd);
    }
    Ok((held, out))
}

/// Docker's exit code of a wait status: the code, or 128 + the signal.
fn wait_exit(pid: i64) -> i64 {
    wait_for(pid, false)
}

/// Waits for the container's init as `wait_exit` does, reaping every other child of ours
/// meanwhile. As a subreaper the shim inherits what an exec leaves when its `wharf shim exec`
/// is killed with the container (`kill --all`): the runtime's intermediate and the exec'd
/// process. Those in the container's pid namespace keep its init from finishing its exit
/// (the kernel waits for every process of the namespace to be reaped), so waiting for init
/// alone never ended: the shim and init stayed forever, after `rm -f` too. (An exec thread's
/// own wait for a child reaped here just returns; the exec's exit code is in its file.)
fn wait_init(pid: i64) -> i64 {
    wait_for(pid, true)
}

fn wait_for(pid: i64, reap_others: bool) -> i64 {
    let Some(p) = rustix::process::Pid::from_raw(pid as i32) else {
        return 255;
    };
    let code = |st: rustix::process::WaitStatus| {
        st.exit_status()
            .map(|c| c as i64)
            .or_else(|| st.terminating_signal().map(|s| 128 + s as i64))
    };
    loop {
        let got = if reap_others {
            rustix::process::wait(rustix::process::WaitOptions::empty())
        } else {
            rustix::process::waitpid(Some(p), rustix::process::WaitOptions::empty())
        };
        match got {
            Ok(Some((q, st))) => {
                if q != p {
                    continue; // another child of ours, reaped
                }
                if let Some(c) = code(st) {
                    return c;
                }
            }
            Err(rustix::io::Errno::INTR) => continue,
            // Not our child (yet: it becomes ours, the subreaper's, when the process that
            // made it is gone): poll until it is ours or gone. A zombie also answers kill 0,
            // so waitpid is asked again each time.
            Err(_) => {
                if rustix::process::test_kill_process(p).is_err() {
                    return 255;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => continue,
        }
    }
}

fn pump(shared: &Shared, logger: &Mutex<log::JsonLog>, stream: u8, mut reader: File) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // EIO on a pty master once the slave side is gone is the normal end.
            Err(_) => break,
        };
        let data = &buf[..n];
        logger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write(if stream == 2 { "stderr" } else { "stdout" }, data);
        let framed = if shared.spec.tty {
            data.to_vec()
        } else {
            frame(stream, data)
        };
        let mut subs = shared.subs.lock().unwrap_or_else(|p| p.into_inner());
        if subs.expected > 0 {
            // Past the cap the container waits for the attaches (its pipe fills up).
            subs = wait_for_attaches(shared, subs, |s| s.held_bytes < HOLD_MAX);
            if subs.expected > 0 {
                subs.held_bytes += framed.len();
                subs.held.push((stream, framed.clone()));
            }
        }
        subs.list
            .retain_mut(|s| !s.wants(stream) || s.conn.write_all(&framed).is_ok());
    }
}

fn reply(conn: &mut UnixStream, r: &Reply) {
    let mut line = serde_json::to_vec(r).unwrap_or_default();
    line.push(b'\n');
    let _ = conn.write_all(&line);
}

fn handle(shared: &Arc<Shared>, mut conn: UnixStream) {
    let mut line = String::new();
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let req: Request = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => return reply(&mut conn, &Reply::err(format!("bad request: {e}"))),
    };
    match req {
        Request::Start => {
            // Held until the answer is out: a process that exits at once must not let the
            // main thread delete the container (racing the runtime's state file) or end the
            // shim before the daemon hears that it started.
            let _starting = shared.starting.lock().unwrap_or_else(|p| p.into_inner());
            let r = shared
                .backend
                .start()
                .map_or_else(Reply::err, |()| Reply::ok());
            reply(&mut conn, &r);
            wharf_runtime::memory::trim();
        }
        Request::Wait => {
            let mut x = shared.exit.lock().unwrap_or_else(|p| p.into_inner());
            while x.is_none() {
                x = shared.exited.wait(x).unwrap_or_else(|p| p.into_inner());
            }
            let mut out =
                serde_json::to_vec(x.as_ref().expect("checked above")).unwrap_or_default();
            out.push(b'\n');
            let _ = conn.write_all(&out);
        }
        Request::Kill { signal, all } => {
            let r = shared
                .backend
                .kill(signal, all)
                .map_or_else(Reply::err, |()| Reply::ok());
            reply(&mut conn, &r)
        }
        Request::Resize { height, width } => {
            let r = match &shared.master {
                Some(m) => resize(m, height, width),
                None => Reply::ok(),
            };
            reply(&mut conn, &r)
        }
        Request::Pause => reply(
            &mut conn,
            &shared
                .backend
                .pause()
                .map_or_else(Reply::err, |()| Reply::ok()),
        ),
        Request::Resume => reply(
            &mut conn,
            &shared
                .backend
                .resume()
                .map_or_else(Reply::err, |()| Reply::ok()),
        ),
        Request::Stats => reply(
            &mut conn,
            &match shared.backend.stats() {
                Ok(s) => Reply {
                    ok: true,
                    stats: Some(s),
                    ..Default::default()
                },
                Err(e) => Reply::err(e),
            },
        ),
        Request::Attach {
            stdin,
            stdout,
            stderr,
            held,
        } => {
            if shared
                .exit
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some()
            {
                return reply(&mut conn, &Reply::err("container is not running"));
            }
            reply(&mut conn, &Reply::ok());
            if let Ok(c) = conn.try_clone() {
                let mut sub = Subscriber {
                    conn: c,
                    stdout,
                    stderr,
                };
                let mut subs = shared.subs.lock().unwrap_or_else(|p| p.into_inner());
                let mut ok = true;
                if held && subs.expected > 0 {
                    // What the process wrote before we came, in order, then the rest as
                    // it comes (the pumps write under the same lock).
                    for (stream, data) in &subs.held {
                        if ok && sub.wants(*stream) {
                            ok = sub.conn.write_all(data).is_ok();
                        }
                    }
                    subs.expected -= 1;
                    if subs.expected == 0 {
                        subs.give_up_holding();
                    }
                    shared.attached.notify_all();
                }
                if ok {
                    subs.list.push(sub);
                }
            }
            if stdin {
                copy_stdin(shared, reader);
            }
        }
        Request::ExecResize {
            exec_id,
            height,
            width,
        } => {
            let execs = shared.execs.lock().unwrap_or_else(|p| p.into_inner());
            let r = match execs.iter().find(|(id, _)| *id == exec_id) {
                Some((_, Some(m))) => resize(m, height, width),
                _ => Reply::ok(),
            };
            reply(&mut conn, &r)
        }
        Request::Exec(spec) => exec(shared, conn, reader, spec),
    }
}

fn resize(master: &File, height: u16, width: u16) -> Reply {
    let ws = rustix::termios::Winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(master.as_fd(), ws).map_or_else(Reply::err, |()| Reply::ok())
}

/// Client stdin → container stdin; at EOF the container's stdin closes when `StdinOnce`.
fn copy_stdin(shared: &Shared, mut from: BufReader<UnixStream>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut stdin = shared.stdin.lock().unwrap_or_else(|p| p.into_inner());
                let ok = stdin
                    .as_mut()
                    .is_some_and(|f| f.write_all(&buf[..n]).is_ok());
                if !ok {
                    break;
                }
            }
        }
    }
    if shared.spec.stdin_once && !shared.spec.tty {
        shared
            .stdin
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}

/// Runs an exec through a fresh `wharf shim exec` process and streams its stdio over `conn`.
fn exec(shared: &Arc<Shared>, mut conn: UnixStream, reader: BufReader<UnixStream>, spec: ExecSpec) {
    let spec_path = shared.dir.join(format!("exec-{}.spec.json", spec.exec_id));
    if let Err(e) = write_json_atomic(&spec_path, &spec) {
        return reply(
            &mut conn,
            &Reply::err(format!("failed to write exec spec: {e}")),
        );
    }
    let console = exec_console(&shared.dir, &spec.exec_id);
    let mut stdio = match make_stdio(spec.tty, spec.stdin, &console) {
        Ok(s) => s,
        Err(e) => {
            return reply(
                &mut conn,
                &Reply::err(format!("failed to set up exec stdio: {e}")),
            )
        }
    };
    // Our own (sealed) binary: /proc/self/exe, never a path a container could have changed.
    let mut cmd = std::process::Command::new("/proc/self/exe");
    cmd.arg("shim").arg("exec").arg(&shared.dir).arg(&spec_path);
    match std::mem::replace(&mut stdio.child, ChildStdio::Console(PathBuf::new())) {
        ChildStdio::Fds {
            stdin,
            stdout,
            stderr,
        } => {
            cmd.stdin(std::process::Stdio::from(stdin));
            cmd.stdout(std::process::Stdio::from(stdout));
            cmd.stderr(std::process::Stdio::from(stderr));
        }
        ChildStdio::Console(_) => {
            cmd.stdin(std::process::Stdio::null());
            cmd.stdout(std::process::Stdio::null());
            cmd.stderr(std::process::Stdio::null());
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return reply(&mut conn, &Reply::err(format!("failed to start exec: {e}"))),
    };
    drop(cmd);
    let child_pid = child.id() as i32;
    let alive = move || {
        rustix::process::Pid::from_raw(child_pid)
            .is_some_and(|p| rustix::process::test_kill_process(p).is_ok())
    };
    if let Err(e) = stdio.receive_console(Duration::from_secs(10), alive) {
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_file(&console);
        let err = exec_error(&shared.dir, &spec.exec_id).unwrap_or(e);
        return reply(&mut conn, &Reply::err(err));
    }
    let _ = std::fs::remove_file(&console);
    shared
        .execs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((
            spec.exec_id.clone(),
            stdio.master.as_ref().and_then(|m| m.try_clone().ok()),
        ));
    reply(
        &mut conn,
        &Reply {
            ok: true,
            pid: Some(child.id() as i64),
            ..Default::default()
        },
    );

    if let Some(mut to) = stdio.stdin {
        let mut from = reader;
        let tty = spec.tty;
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            if !tty {
                drop(to);
            }
        });
    }
    let mut outs = Vec::new();
    for (stream, mut r) in stdio.outputs {
        let Ok(mut c) = conn.try_clone() else {
            continue;
        };
        let tty = spec.tty;
        outs.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let data = if tty {
                            buf[..n].to_vec()
                        } else {
                            frame(stream, &buf[..n])
                        };
                        if c.write_all(&data).is_err() {
                            break;
                        }
                    }
                }
            }
        }));
    }
    let _ = child.wait();
    for o in outs {
        let _ = o.join();
    }
    let _ = std::fs::remove_file(&spec_path);
    shared
        .execs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|(id, _)| *id != spec.exec_id);
    let _ = conn.shutdown(std::net::Shutdown::Both);
}

fn exec_console(dir: &Path, exec_id: &str) -> PathBuf {
    socket_dir(dir).join(format!("e-{}.sock", &exec_id[..exec_id.len().min(12)]))
}

/// The error an exec process recorded before failing, if any.
fn exec_error(dir: &Path, exec_id: &str) -> Option<String> {
    let exit: Exit =
        serde_json::from_slice(&std::fs::read(dir.join(format!("exec-{exec_id}.json"))).ok()?)
            .ok()?;
    (!exit.error.is_empty()).then_some(exit.error)
}

/// `wharf shim exec DIR SPEC`: a single-threaded process that enters the container, waits
/// for the process, and records its exit code in `DIR/exec-ID.json`.
fn exec_main(dir: &Path, spec_path: &Path) -> i32 {
    let run = || -> Result<i64, String> {
        let shim: ShimSpec = serde_json::from_slice(
            &std::fs::read(dir.join("shim.json")).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        let spec: ExecSpec =
            serde_json::from_slice(&std::fs::read(spec_path).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .map_err(|e| e.to_string())?;
        let backend = backend::open(&shim)?;
        let stdio = if spec.tty {
            ChildStdio::Console(exec_console(dir, &spec.exec_id))
        } else {
            ChildStdio::Fds {
                stdin: rustix::io::dup(std::io::stdin().as_fd()).map_err(|e| e.to_string())?,
                stdout: rustix::io::dup(std::io::stdout().as_fd()).map_err(|e| e.to_string())?,
                stderr: rustix::io::dup(std::io::stderr().as_fd()).map_err(|e| e.to_string())?,
            }
        };
        let pid = backend.exec(&spec, stdio)?;
        Ok(wait_exit(pid))
    };
    let id = spec_path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("exec-"))
        .and_then(|n| n.strip_suffix(".spec.json"))
        .unwrap_or("unknown")
        .to_string();
    let (code, error) = match run() {
        Ok(c) => (c, String::new()),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{e}");
            (
                if e.contains("not found") || e.contains("No such file") {
                    127
                } else {
                    126
                },
                e,
            )
        }
    };
    let exit = Exit {
        exit_code: code,
        finished_at: now_rfc3339_nanos(),
        error,
        ..Default::default()
    };
    let _ = write_json_atomic(&dir.join(format!("exec-{id}.json")), &exit);
    code as i32
}

#[cfg(test)]
mod sweep_tests {
    use super::*;

    fn age(dir: &Path, secs: u64) {
        let t = std::time::SystemTime::now() - Duration::from_secs(secs);
        File::open(dir).unwrap().set_modified(t).unwrap();
    }

    #[test]
    fn sweeps_only_old_directories_without_a_live_socket() {
        let root = tempfile::tempdir().unwrap();
        let dir = |n: &str| {
            let d = root.path().join(n);
            std::fs::create_dir(&d).unwrap();
            d
        };
        let (old_empty, young_empty, live, dead) =
            (dir("old"), dir("young"), dir("live"), dir("dead"));
        let _listener = UnixListener::bind(live.join("shim.sock")).unwrap();
        drop(UnixListener::bind(dead.join("shim.sock")).unwrap());
        for d in [&old_empty, &live, &dead] {
            age(d, 3600);
        }
        std::fs::write(root.path().join("file"), b"").unwrap();
        sweep_socket_dirs_in(root.path(), Duration::from_secs(60));
        assert!(!old_empty.exists());
        assert!(
            !dead.exists(),
            "a socket nobody listens on is a dead shim's"
        );
        assert!(young_empty.exists(), "a shim may be about to bind in it");
        assert!(live.join("shim.sock").exists());
        assert!(root.path().join("file").exists());
    }
}
