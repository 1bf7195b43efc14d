//! `wharf shim DIR`: one small process per running container, the parent of its init.
//!
//! It holds the container's stdio (pipes, or a pty's master), writes the json-file log, records
//! the exit status (`DIR/exit.json`), forwards signals and serves attach/exec/resize/wait on
//! `DIR/shim.sock` ([`proto`]). It runs in its own session, so `kill -9` of the daemon does not
//! touch it; a restarted daemon reconnects to the socket.
//!
//! Threads, not async: container processes are created by the runtime before any thread
//! exists (fork from a single-threaded process), and execs are created by a fresh
//! `wharf shim exec` process for the same reason.

pub mod backend;
pub mod client;
pub mod log;
pub mod proto;

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
    match args.get(1).and_then(|a| a.to_str()) {
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
            eprintln!("usage: wharf shim DIR | wharf shim exec DIR EXEC.json (started by the daemon)");
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

/// Writes `value` to `path` atomically (temp file, fsync, rename).
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(value).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
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
}

fn pipe() -> std::io::Result<(File, File)> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    Ok((File::from(r), File::from(w)))
}

/// A pty pair: (master, slave). The slave is what the container gets as 0, 1 and 2.
pub fn open_pty() -> std::io::Result<(File, OwnedFd)> {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname(&master, Vec::new())?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    Ok((File::from(master), slave))
}

fn make_stdio(tty: bool, open_stdin: bool) -> std::io::Result<Stdio> {
    if tty {
        let (master, slave) = open_pty()?;
        let child = ChildStdio {
            stdin: Some(slave.try_clone()?),
            stdout: slave.try_clone()?,
            stderr: slave,
        };
        return Ok(Stdio {
            child,
            stdin: Some(master.try_clone()?),
            outputs: vec![(1, master.try_clone()?)],
            master: Some(master),
        });
    }
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (child_in, our_in) = if open_stdin {
        let (r, w) = pipe()?;
        (Some(OwnedFd::from(r)), Some(w))
    } else {
        (None, None)
    };
    Ok(Stdio {
        child: ChildStdio { stdin: child_in, stdout: out_w.into(), stderr: err_w.into() },
        stdin: our_in,
        outputs: vec![(1, out_r), (2, err_r)],
        master: None,
    })
}

/// Attached clients that want the container's output.
struct Subscriber {
    conn: UnixStream,
    stdout: bool,
    stderr: bool,
}

struct Shared {
    dir: PathBuf,
    spec: ShimSpec,
    backend: Box<dyn Backend + Send + Sync>,
    subs: Mutex<Vec<Subscriber>>,
    stdin: Mutex<Option<File>>,
    master: Option<File>,
    exit: Mutex<Option<Exit>>,
    exited: Condvar,
    execs: Mutex<Vec<(String, Option<File>)>>,
}

fn run(dir: &Path) -> Result<(), String> {
    let spec: ShimSpec = serde_json::from_slice(
        &std::fs::read(dir.join("shim.json")).map_err(|e| format!("failed to read shim.json: {e}"))?,
    )
    .map_err(|e| format!("bad shim.json: {e}"))?;
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| format!("failed to become a subreaper: {e}"))?;

    let stdio = make_stdio(spec.tty, spec.open_stdin).map_err(|e| format!("failed to set up stdio: {e}"))?;
    let backend = backend::open(&spec)?;
    let pid = backend.create(&spec, stdio.child)?;

    let sock = dir.join("shim.sock");
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).map_err(|e| format!("failed to listen on {}: {e}", sock.display()))?;

    let shared = Arc::new(Shared {
        dir: dir.to_path_buf(),
        spec,
        backend,
        subs: Mutex::new(Vec::new()),
        stdin: Mutex::new(stdio.stdin),
        master: stdio.master,
        exit: Mutex::new(None),
        exited: Condvar::new(),
        execs: Mutex::new(Vec::new()),
    });

    // Tell the daemon, then let go of its pipe: from here on we log to DIR/shim.log.
    println!("ready {pid}");
    let _ = std::io::stdout().flush();
    if let Ok(log) = File::options().create(true).append(true).open(dir.join("shim.log")) {
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
        pumps.push(std::thread::spawn(move || pump(&shared, &logger, stream, reader)));
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

    // Wait for the container's init; as a subreaper we are its parent once the runtime's
    // intermediate processes are gone.
    let code = wait_exit(pid);
    // Output first (the pipes close once every process in the container is gone).
    for p in pumps {
        let _ = p.join();
    }
    let oom = shared.backend.oom_killed();
    let exit = Exit { exit_code: code, oom_killed: oom, finished_at: now_rfc3339_nanos(), error: String::new() };
    if let Err(e) = write_json_atomic(&dir.join("exit.json"), &exit) {
        eprintln!("failed to record the exit status: {e}");
    }
    if let Err(e) = shared.backend.delete() {
        eprintln!("failed to clean up the container: {e}");
    }
    {
        let mut x = shared.exit.lock().unwrap_or_else(|p| p.into_inner());
        *x = Some(exit);
        shared.exited.notify_all();
    }
    for s in shared.subs.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
        let _ = s.conn.shutdown(std::net::Shutdown::Both);
    }
    // Give waiters a moment to read their answer, then go.
    std::thread::sleep(Duration::from_millis(50));
    let _ = std::fs::remove_file(dir.join("shim.sock"));
    Ok(())
}

/// Docker's exit code of a wait status: the code, or 128 + the signal.
fn wait_exit(pid: i64) -> i64 {
    let Some(p) = rustix::process::Pid::from_raw(pid as i32) else { return 255 };
    loop {
        match rustix::process::waitpid(Some(p), rustix::process::WaitOptions::empty()) {
            Ok(Some((_, st))) => {
                if let Some(c) = st.exit_status() {
                    return c as i64;
                }
                if let Some(s) = st.terminating_signal() {
                    return 128 + s as i64;
                }
            }
            Err(rustix::io::Errno::INTR) => continue,
            // Not our child (yet): poll until it is gone.
            Err(_) => {
                while rustix::process::test_kill_process(p).is_ok() {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return 255;
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
        logger.lock().unwrap_or_else(|p| p.into_inner()).write(if stream == 2 { "stderr" } else { "stdout" }, data);
        let framed = if shared.spec.tty { data.to_vec() } else { frame(stream, data) };
        let mut subs = shared.subs.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain_mut(|s| {
            let wanted = if stream == 2 { s.stderr } else { s.stdout };
            !wanted || s.conn.write_all(&framed).is_ok()
        });
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
            let r = shared.backend.start().map_or_else(Reply::err, |()| Reply::ok());
            reply(&mut conn, &r)
        }
        Request::Wait => {
            let mut x = shared.exit.lock().unwrap_or_else(|p| p.into_inner());
            while x.is_none() {
                x = shared.exited.wait(x).unwrap_or_else(|p| p.into_inner());
            }
            let mut out = serde_json::to_vec(x.as_ref().expect("checked above")).unwrap_or_default();
            out.push(b'\n');
            let _ = conn.write_all(&out);
        }
        Request::Kill { signal, all } => {
            let r = shared.backend.kill(signal, all).map_or_else(Reply::err, |()| Reply::ok());
            reply(&mut conn, &r)
        }
        Request::Resize { height, width } => {
            let r = match &shared.master {
                Some(m) => resize(m, height, width),
                None => Reply::ok(),
            };
            reply(&mut conn, &r)
        }
        Request::Pause => reply(&mut conn, &shared.backend.pause().map_or_else(Reply::err, |()| Reply::ok())),
        Request::Resume => reply(&mut conn, &shared.backend.resume().map_or_else(Reply::err, |()| Reply::ok())),
        Request::Stats => reply(
            &mut conn,
            &match shared.backend.stats() {
                Ok(s) => Reply { ok: true, stats: Some(s), ..Default::default() },
                Err(e) => Reply::err(e),
            },
        ),
        Request::Attach { stdin, stdout, stderr } => {
            if shared.exit.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                return reply(&mut conn, &Reply::err("container is not running"));
            }
            reply(&mut conn, &Reply::ok());
            if let Ok(c) = conn.try_clone() {
                shared.subs.lock().unwrap_or_else(|p| p.into_inner()).push(Subscriber { conn: c, stdout, stderr });
            }
            if stdin {
                copy_stdin(shared, reader);
            }
        }
        Request::ExecResize { exec_id, height, width } => {
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
    let ws = rustix::termios::Winsize { ws_row: height, ws_col: width, ws_xpixel: 0, ws_ypixel: 0 };
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
                let ok = stdin.as_mut().is_some_and(|f| f.write_all(&buf[..n]).is_ok());
                if !ok {
                    break;
                }
            }
        }
    }
    if shared.spec.stdin_once && !shared.spec.tty {
        shared.stdin.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// Runs an exec through a fresh `wharf shim exec` process and streams its stdio over `conn`.
fn exec(shared: &Arc<Shared>, mut conn: UnixStream, reader: BufReader<UnixStream>, spec: ExecSpec) {
    let spec_path = shared.dir.join(format!("exec-{}.spec.json", spec.exec_id));
    if let Err(e) = write_json_atomic(&spec_path, &spec) {
        return reply(&mut conn, &Reply::err(format!("failed to write exec spec: {e}")));
    }
    let stdio = match make_stdio(spec.tty, spec.stdin) {
        Ok(s) => s,
        Err(e) => return reply(&mut conn, &Reply::err(format!("failed to set up exec stdio: {e}"))),
    };
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("shim").arg("exec").arg(&shared.dir).arg(&spec_path);
    cmd.stdin(match stdio.child.stdin {
        Some(fd) => std::process::Stdio::from(fd),
        None => std::process::Stdio::null(),
    });
    cmd.stdout(std::process::Stdio::from(stdio.child.stdout));
    cmd.stderr(std::process::Stdio::from(stdio.child.stderr));
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return reply(&mut conn, &Reply::err(format!("failed to start exec: {e}"))),
    };
    drop(cmd);
    shared
        .execs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((spec.exec_id.clone(), stdio.master.as_ref().and_then(|m| m.try_clone().ok())));
    reply(&mut conn, &Reply { ok: true, pid: Some(child.id() as i64), ..Default::default() });

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
        let Ok(mut c) = conn.try_clone() else { continue };
        let tty = spec.tty;
        outs.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let data = if tty { buf[..n].to_vec() } else { frame(stream, &buf[..n]) };
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
    shared.execs.lock().unwrap_or_else(|p| p.into_inner()).retain(|(id, _)| *id != spec.exec_id);
    let _ = conn.shutdown(std::net::Shutdown::Both);
}

/// `wharf shim exec DIR SPEC`: a single-threaded process that enters the container, waits
/// for the process, and records its exit code in `DIR/exec-ID.json`.
fn exec_main(dir: &Path, spec_path: &Path) -> i32 {
    let run = || -> Result<i64, String> {
        let shim: ShimSpec = serde_json::from_slice(&std::fs::read(dir.join("shim.json")).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        let spec: ExecSpec =
            serde_json::from_slice(&std::fs::read(spec_path).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        rustix::process::set_child_subreaper(Some(rustix::process::getpid())).map_err(|e| e.to_string())?;
        let backend = backend::open(&shim)?;
        let stdio = ChildStdio {
            stdin: Some(rustix::io::dup(std::io::stdin().as_fd()).map_err(|e| e.to_string())?),
            stdout: rustix::io::dup(std::io::stdout().as_fd()).map_err(|e| e.to_string())?,
            stderr: rustix::io::dup(std::io::stderr().as_fd()).map_err(|e| e.to_string())?,
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
            (if e.contains("not found") || e.contains("No such file") { 127 } else { 126 }, e)
        }
    };
    let exit = Exit { exit_code: code, oom_killed: false, finished_at: now_rfc3339_nanos(), error };
    let _ = write_json_atomic(&dir.join(format!("exec-{id}.json")), &exit);
    code as i32
}
