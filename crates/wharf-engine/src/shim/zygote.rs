//! The shim zygote: one `wharf shim zygote` process per daemon that forks shims.
//!
//! Starting a shim by `fork` + `exec` of the wharf binary costs every container the exec, the
//! dynamic loader's relocation of the whole (PIE) binary, the page faults of a fresh address
//! space and the shim's own set-up; and every shim then holds a private copy of the
//! relocated read-only data (`.data.rel.ro`, ≈ 700 KiB — most of a shim's PSS). The zygote
//! pays that once. It is exec'd (from the same sealed copy of the binary, CVE-2019-5736) when
//! the daemon starts, stays single-threaded, and for each container forks a child that *is*
//! the shim: the child shares every page the zygote has not written since, starts in well
//! under a millisecond, and runs exactly the code `wharf shim DIR` runs. The fork is done
//! ahead: a *spare* child waits on the socket and becomes the next shim itself, and the
//! zygote then forks the next spare (see [`zygote_main`]).
//!
//! Protocol: the daemon holds one end of a `SOCK_SEQPACKET` pair, the zygote's stdin is the
//! other. A request is one message: the shim's arguments (after `shim`), NUL-separated, with
//! two descriptors attached (the shim's stdout — the daemon reads `ready PID` from it — and
//! its stderr, the container's `shim.log`). The zygote answers nothing: the daemon learns
//! everything from the shim's stdout, as with an exec'd shim. End of file on stdin (the
//! daemon is gone) ends the zygote; running shims are in sessions of their own and go on.
//!
//! The zygote reaps its children (the shims) as they end (`SIGCHLD` through a signalfd), so
//! their CPU time adds up in its own (`cutime`, as the daemon's did for exec'd shims); each
//! child unblocks `SIGCHLD` again before anything else.
//!
//! When there is no zygote (it could not start, or died), the daemon execs shims as before.

use std::ffi::OsString;
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::process::Stdio;
use std::sync::Mutex;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// Longest request (arguments) the zygote reads.
const MAX_REQUEST: usize = 8192;

/// The daemon's end of the zygote's socket, with the zygote's pid (None: no zygote; exec
/// shims).
static ZYGOTE: Mutex<Option<(u32, OwnedFd)>> = Mutex::new(None);

fn zygote() -> std::sync::MutexGuard<'static, Option<(u32, OwnedFd)>> {
    ZYGOTE.lock().unwrap_or_else(|p| p.into_inner())
}

/// When the zygote was last started (a dead one is started again, at most this often).
static STARTED: Mutex<Option<std::time::Instant>> = Mutex::new(None);
const RESTART_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Starts the zygote again if it is gone and was not (re)started in the last few seconds.
pub fn ensure(exe: &std::path::Path) {
    if zygote().is_some() {
        return;
    }
    let due = STARTED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_none_or(|t| t.elapsed() >= RESTART_EVERY);
    if due {
        if let Err(e) = start(exe) {
            tracing::warn!(error = %e, "cannot start the shim zygote; shims will be exec'd");
        }
    }
}

/// Starts the zygote from `exe` (the sealed copy of the binary). Daemon side; a failure
/// leaves shims to be exec'd.
pub fn start(exe: &std::path::Path) -> io::Result<()> {
    *STARTED.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::time::Instant::now());
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    let (ours, theirs) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("shim")
        .arg("zygote")
        .stdin(Stdio::from(theirs))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // SAFETY: setsid is async-signal-safe. Its own session: signals sent to the daemon's
    // process group do not reach the zygote or the shims it forks.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            rustix::process::setsid().map_err(io::Error::from)?;
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    drop(cmd);
    let pid = child.id();
    *zygote() = Some((pid, ours));
    // Reap it whenever it ends (it ends when our end closes, or if it crashes).
    std::thread::Builder::new()
        .name("wharf-zygote-reaper".into())
        .spawn(move || {
            let status = child.wait();
            tracing::warn!(?status, "the shim zygote ended");
            let mut g = zygote();
            if g.as_ref().is_some_and(|(p, _)| *p == pid) {
                *g = None; // (not a successor's)
            }
        })?;
    Ok(())
}

/// Asks the zygote for a shim with `args` (after `shim`), `stdout` and `stderr`. `Err`:
/// no zygote, or it did not take the request (then it is dropped; the caller execs).
pub fn spawn(
    args: &[&std::ffi::OsStr],
    stdout: BorrowedFd<'_>,
    stderr: BorrowedFd<'_>,
) -> io::Result<()> {
    let mut msg = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            msg.push(0);
        }
        msg.extend_from_slice(a.as_bytes());
    }
    if msg.len() > MAX_REQUEST || args.iter().any(|a| a.as_bytes().contains(&0)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad shim arguments",
        ));
    }
    let mut g = zygote();
    let Some((_, sock)) = g.as_ref() else {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no shim zygote"));
    };
    let fds = [stdout, stderr];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    match rustix::net::sendmsg(
        sock,
        &[IoSlice::new(&msg)],
        &mut control,
        SendFlags::NOSIGNAL,
    ) {
        Ok(n) if n == msg.len() => Ok(()),
        Ok(_) => Err(io::Error::other("short write to the shim zygote")),
        Err(e) => {
            // Gone (EPIPE, ECONNRESET): stop asking it.
            *g = None;
            Err(e.into())
        }
    }
}

/// `wharf shim zygote`: serves requests on stdin until it closes. Called while the process
/// is single-threaded (it forks).
///
/// A request is taken by a *spare*: a child forked ahead of time that waits on the socket
/// itself and becomes the shim, so that a container's start does not wait for the zygote to
/// wake up and fork (≈ 0.2 ms here). The spare tells the zygote it took one (a byte on its
/// pipe; end of file if it ended without one), and the zygote forks the next. While a spare
/// waits, the zygote does not read the socket; it only watches it for the daemon's hang-up.
/// A spare that ends without taking a request (it should not) leaves the zygote to fork the
/// shims itself from then on, as it does when it cannot fork a spare.
pub fn zygote_main(run_shim: fn(Vec<OsString>) -> i32) -> i32 {
    if let Ok(name) = std::ffi::CString::new("wharf-zygote") {
        let _ = rustix::thread::set_name(&name);
    }
    let reaper = match Reaper::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("shim zygote: cannot watch for SIGCHLD: {e}");
            return 1;
        }
    };
    // What every shim would otherwise compute for itself.
    wharf_runtime::spec::warm_up();
    let control = rustix::stdio::stdin();
    let mut buf = vec![0u8; MAX_REQUEST];
    // The waiting spare (see `Spare`); `spares` goes false for good if one misbehaves.
    let mut spare: Option<Spare> = None;
    let mut spares = true;
    loop {
        if spare.is_none() && spares {
            match fork_spare(&reaper, run_shim) {
                Ok(s) => spare = Some(s),
                Err(e) => {
                    eprintln!("shim zygote: cannot fork a spare shim: {e}");
                    spares = false;
                }
            }
        }
        let waiting = spare
            .as_ref()
            .map(|s| std::os::fd::AsRawFd::as_raw_fd(&s.taken));
        let mut fds = [
            libc::pollfd {
                fd: 0,
                // With a spare waiting, only the hang-up (always reported) matters here, and
                // a request that comes while the spare still prepares at `SCHED_IDLE`.
                events: match &spare {
                    Some(s) if s.ready => 0,
                    _ => libc::POLLIN,
                },
                revents: 0,
            },
            libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(&reaper.fd),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: waiting.unwrap_or(-1),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll on descriptors we own (a negative fd is ignored), in an array that
        // outlives the call.
        if unsafe { libc::poll(fds.as_mut_ptr(), 3, -1) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            eprintln!("shim zygote: poll: {e}");
            return 1;
        }
        // Before reaping: the spare's pid is still its own (ours to reap) here.
        if let Some(s) = spare
            .as_mut()
            .filter(|_| fds[0].revents & libc::POLLIN != 0)
        {
            s.boost();
        }
        if fds[1].revents != 0 {
            reaper.reap();
        }
        if let Some(s) = spare.as_mut().filter(|_| fds[2].revents != 0) {
            // `p`: prepared (at the normal policy again); `t`: taken. Both may be there.
            let mut b = [0u8; 2];
            let got = match rustix::io::read(&s.taken, &mut b) {
                Ok(n) => &b[..n],
                Err(_) => &b[..0],
            };
            let took = got.contains(&b't');
            if got.contains(&b'p') {
                s.ready = true;
            }
            let ended = !took && !got.contains(&b'p');
            if took || ended {
                spare = None;
            }
            if ended && fds[0].revents & (libc::POLLHUP | libc::POLLERR) == 0 {
                eprintln!(
                    "shim zygote: a spare shim ended without a request; forking shims on request"
                );
                spares = false;
            }
        }
        if waiting.is_some() {
            if fds[0].revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                return 0; // the daemon closed its end (a waiting spare reads the rest)
            }
            continue;
        }
        if fds[0].revents == 0 {
            continue;
        }
        let (args, fds) = match read_request(control, &mut buf) {
            Request::Shim(args, fds) => (args, fds),
            Request::Skip => continue,
            Request::End => return 0,
            Request::Failed(e) => {
                eprintln!("shim zygote: {e}");
                return 1;
            }
        };
        // SAFETY: this process is single-threaded (the zygote never starts a thread), so the
        // child may run any code after fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            eprintln!("shim zygote: fork: {}", io::Error::last_os_error());
            continue; // dropping the fds: the daemon reads end of file, reports the failure
        }
        if pid == 0 {
            reaper.forget_in_child();
            std::process::exit(child(args, fds, run_shim));
        }
        drop(fds);
    }
}

/// A forked spare shim, as the zygote sees it.
struct Spare {
    pid: libc::pid_t,
    /// The zygote's end of the spare's pipe: `p` once it is prepared, `t` when it takes a
    /// request.
    taken: OwnedFd,
    /// At the normal policy: it said it is prepared, or the zygote set it back.
    ready: bool,
}

impl Spare {
    /// The spare makes its namespaces at `SCHED_IDLE` (see [`spare_main`]); a request that
    /// comes meanwhile must not wait for idle time, so the spare gets the normal policy at
    /// once. Best effort, once.
    fn boost(&mut self) {
        if !self.ready {
            self.ready = true;
            set_policy(self.pid, libc::SCHED_OTHER);
        }
    }
}

/// Sets the scheduling policy of `pid` (0: the caller), priority 0. Best effort.
fn set_policy(pid: libc::pid_t, policy: libc::c_int) {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain syscall on a process of ours; `param` is read during the call only.
    unsafe { libc::sched_setscheduler(pid, policy, &param) };
}

/// Forks a spare shim (see [`zygote_main`]).
fn fork_spare(reaper: &Reaper, run_shim: fn(Vec<OsString>) -> i32) -> io::Result<Spare> {
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    // SAFETY: this process is single-threaded (the zygote never starts a thread), so the
    // child may run any code after fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        drop(rd);
        reaper.forget_in_child();
        std::process::exit(spare_main(wr, run_shim));
    }
    drop(wr);
    Ok(Spare {
        pid,
        taken: rd,
        ready: false,
    })
}

/// A spare: makes the network and IPC namespaces of its container meanwhile (most
/// containers get new ones), takes the next request on the socket, says so on `taken`, and
/// becomes its shim.
///
/// The spare is forked as a container starts, and the namespaces (≈ 0.5 ms of CPU, most of
/// it the network namespace) are made while that start is still under way: at the normal
/// policy they take their time from it on a small machine. They are made at `SCHED_IDLE`
/// (docs/perf-start.md, session 18), and a request that comes before they are done sets the
/// spare back ([`Spare::boost`]).
fn spare_main(taken: OwnedFd, run_shim: fn(Vec<OsString>) -> i32) -> i32 {
    // One the spare cannot make, the container makes itself, as without a spare.
    let made = |ns: wharf_runtime::Result<std::fs::File>| {
        ns.map_err(|e| eprintln!("shim zygote (spare): {e}")).ok()
    };
    set_policy(0, libc::SCHED_IDLE);
    super::offer_namespaces(
        made(wharf_runtime::new_network_namespace()),
        made(wharf_runtime::new_ipc_namespace()),
    );
    set_policy(0, libc::SCHED_OTHER);
    let _ = rustix::io::write(&taken, b"p");
    let control = rustix::stdio::stdin();
    let mut buf = vec![0u8; MAX_REQUEST];
    loop {
        match read_request(control, &mut buf) {
            Request::Shim(args, fds) => {
                let _ = rustix::io::write(&taken, b"t");
                drop(taken);
                return child(args, fds, run_shim);
            }
            Request::Skip => continue,
            Request::End => return 0,
            Request::Failed(e) => {
                eprintln!("shim zygote (spare): {e}");
                return 1;
            }
        }
    }
}

/// One request read from the daemon's socket.
enum Request {
    /// A shim to start: its arguments (from `shim` on) and its stdout and stderr.
    Shim(Vec<OsString>, Vec<OwnedFd>),
    /// Malformed, or not one to serve: read and dropped.
    Skip,
    /// The daemon closed its end.
    End,
    Failed(rustix::io::Errno),
}

fn read_request(control: BorrowedFd<'_>, buf: &mut [u8]) -> Request {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let got = match rustix::net::recvmsg(
        control,
        &mut [IoSliceMut::new(buf)],
        &mut anc,
        RecvFlags::CMSG_CLOEXEC,
    ) {
        Ok(r) => r,
        Err(rustix::io::Errno::INTR) => return Request::Skip,
        Err(e) => return Request::Failed(e),
    };
    let mut fds: Vec<OwnedFd> = Vec::new();
    for m in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(r) = m {
            fds.extend(r);
        }
    }
    if got.bytes == 0 && fds.is_empty() {
        return Request::End;
    }
    if fds.len() != 2 || got.flags.contains(rustix::net::ReturnFlags::TRUNC) {
        eprintln!("shim zygote: malformed request ignored");
        return Request::Skip;
    }
    let args: Vec<OsString> = std::iter::once(OsString::from("shim"))
        .chain(
            buf[..got.bytes]
                .split(|b| *b == 0)
                .map(|a| OsString::from_vec(a.to_vec())),
        )
        .collect();
    if args.get(1).is_some_and(|a| a == "zygote") {
        return Request::Skip; // one zygote is enough
    }
    Request::Shim(args, fds)
}

/// In the forked child: become what an exec'd `wharf shim …` would be, then run it.
fn child(args: Vec<OsString>, fds: Vec<OwnedFd>, run_shim: fn(Vec<OsString>) -> i32) -> i32 {
    let _ = rustix::process::setsid();
    let Ok(null) = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) else {
        return 1;
    };
    // stdin becomes /dev/null (closing the zygote's socket here); dup2 clears close-on-exec
    // on the targets, as a spawned process's stdio has it. The received copies then close.
    if rustix::stdio::dup2_stdin(&null).is_err()
        || rustix::stdio::dup2_stdout(&fds[0]).is_err()
        || rustix::stdio::dup2_stderr(&fds[1]).is_err()
    {
        return 1;
    }
    drop(fds);
    drop(null);
    set_command_line(&args);
    run_shim(args)
}

/// Makes `ps` show `wharf shim DIR` for this shim, as for an exec'd one (instead of the
/// zygote's command line): points the kernel's record of the argument area at a new,
/// never-freed copy (`PR_SET_MM_ARG_START`/`_END`, which needs `CAP_SYS_RESOURCE`; a root
/// without it, as in some sandboxes, keeps the zygote's line). Best effort. The process name
/// (`comm`: `ps -o comm`, `pgrep`, `top`) becomes `shim-` and the container ID's first ten
/// characters either way.
fn set_command_line(args: &[OsString]) {
    if let Some(id) = args
        .last()
        .and_then(|d| std::path::Path::new(d).file_name())
        .and_then(|n| n.to_str())
    {
        let name = format!("shim-{}", &id[..id.len().min(10)]);
        if let Ok(name) = std::ffi::CString::new(name) {
            let _ = rustix::thread::set_name(&name);
        }
    }
    let mut line = b"wharf".to_vec();
    for a in args {
        line.push(0);
        line.extend_from_slice(a.as_bytes());
    }
    line.push(0);
    let line: &'static [u8] = Box::leak(line.into_boxed_slice());
    let (start, end) = (
        line.as_ptr() as libc::c_ulong,
        (line.as_ptr() as libc::c_ulong) + line.len() as libc::c_ulong,
    );
    // SAFETY: prctl only records the two addresses; the memory they bound lives as long as
    // the process (leaked). The new area lies below the old one (heap below stack), so the
    // start may move first without the start passing the end.
    unsafe {
        if libc::prctl(libc::PR_SET_MM, libc::PR_SET_MM_ARG_START, start, 0, 0) == 0 {
            libc::prctl(libc::PR_SET_MM, libc::PR_SET_MM_ARG_END, end, 0, 0);
        }
    }
}

/// `SIGCHLD`, blocked and read from a signalfd, and the mask to give back to children.
struct Reaper {
    fd: OwnedFd,
    old_mask: libc::sigset_t,
}

impl Reaper {
    fn new() -> io::Result<Reaper> {
        // SAFETY: plain signal-mask calls on values we own; the process is single-threaded.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old_mask: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGCHLD);
            if libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old_mask) != 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Reaper {
                fd: std::os::fd::FromRawFd::from_raw_fd(fd),
                old_mask,
            })
        }
    }

    /// Drains the signalfd and collects every child that ended.
    fn reap(&self) {
        let mut info = [0u8; 128];
        while rustix::io::read(&self.fd, &mut info).is_ok_and(|n| n > 0) {}
        loop {
            // SAFETY: waitpid on our own children, no status pointer.
            let pid = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
        }
    }

    /// In a forked child: the signal mask as it was, and no signalfd. (The child never
    /// returns to the zygote's code: it ends with `exit`, so the fd is closed here.)
    fn forget_in_child(&self) {
        // SAFETY: restoring the mask saved in `new`; closing our own signalfd, which nothing
        // in this process uses after this.
        unsafe {
            libc::sigprocmask(libc::SIG_SETMASK, &self.old_mask, std::ptr::null_mut());
            libc::close(std::os::fd::AsRawFd::as_raw_fd(&self.fd));
        }
    }
}
