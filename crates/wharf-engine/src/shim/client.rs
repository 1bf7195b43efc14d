//! The daemon's side of the shim protocol ([`super::proto`]), async.

use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::proto::{ExecSpec, Exit, Reply, Request};

/// The binary shims are started from: a write-sealed memfd copy of ours, made once per
/// daemon (CVE-2019-5736: the process that enters a container must not be the host binary;
/// sealing once here saves every shim from copying the binary itself).
static SHIM_EXE: std::sync::OnceLock<(Option<std::os::fd::OwnedFd>, std::path::PathBuf)> =
    std::sync::OnceLock::new();

fn shim_exe() -> std::path::PathBuf {
    SHIM_EXE
        .get_or_init(|| match sealed_copy_of_self() {
            Ok(fd) => {
                use std::os::fd::AsRawFd;
                let path = std::path::PathBuf::from(format!("/proc/{}/fd/{}", std::process::id(), fd.as_raw_fd()));
                (Some(fd), path)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot seal a copy of the wharf binary; each shim will seal its own");
                (None, std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into()))
            }
        })
        .1
        .clone()
}

/// Makes the sealed copy now (at daemon start) rather than on the first container start, and
/// starts the shim [`zygote`](super::zygote) from it.
pub fn prepare() {
    let exe = shim_exe();
    if zygote_wanted() {
        super::zygote::ensure(&exe);
    }
}

/// `WHARF_NO_ZYGOTE=1`: exec every shim (for comparisons; see docs/adr-0003-shim.md).
fn zygote_wanted() -> bool {
    std::env::var_os("WHARF_NO_ZYGOTE").is_none()
}

fn sealed_copy_of_self() -> std::io::Result<std::os::fd::OwnedFd> {
    use rustix::fs::{MemfdFlags, SealFlags};
    let mut exe = std::fs::File::open("/proc/self/exe")?;
    let memfd = rustix::fs::memfd_create(
        "wharf-shim",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    let mut out = std::fs::File::from(memfd);
    std::io::copy(&mut exe, &mut out)?;
    let fd = std::os::fd::OwnedFd::from(out);
    rustix::fs::fcntl_add_seals(
        &fd,
        SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE,
    )?;
    Ok(fd)
}

/// Starts `wharf shim DIR` in its own session — forked by the zygote, or exec'd when there
/// is none — and waits for its `ready PID` line.
pub async fn spawn(dir: &Path) -> Result<i64, String> {
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(dir.join("shim.log"))
        .map_err(|e| format!("failed to open shim log: {e}"))?;
    if let Some(r) = spawn_forked(dir, &log).await {
        return r;
    }
    let exe = shim_exe();
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("shim")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; the shim gets its own session so signals sent to
    // the daemon's process group (and the daemon's death) do not reach it.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("failed to start the shim: {e}"))?;
    let stdout = child.stdout.take().ok_or("shim has no stdout")?;
    let mut line = String::new();
    let read = BufReader::new(stdout).read_line(&mut line).await;
    // Reap the shim whenever it ends; it outlives us if we die first.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    read.map_err(|e| format!("failed to read from the shim: {e}"))?;
    ready(dir, &line)
}

/// Through the zygote: `None` when it did not take the request (the caller execs instead).
async fn spawn_forked(dir: &Path, log: &std::fs::File) -> Option<Result<i64, String>> {
    use std::os::fd::AsFd;
    if !zygote_wanted() {
        return None;
    }
    super::zygote::ensure(&shim_exe());
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ok()?;
    super::zygote::spawn(&[dir.as_os_str()], w.as_fd(), log.as_fd()).ok()?;
    // Only the shim holds the write end now: end of file if it dies before its line.
    drop(w);
    let r = tokio::net::unix::pipe::Receiver::from_owned_fd(r).ok()?;
    let mut line = String::new();
    let read = BufReader::new(r).read_line(&mut line).await;
    Some(
        read.map_err(|e| format!("failed to read from the shim: {e}"))
            .and_then(|_| ready(dir, &line)),
    )
}

/// The shim's first line: `ready PID`, or `error MESSAGE`.
fn ready(dir: &Path, line: &str) -> Result<i64, String> {
    let line = line.trim();
    if let Some(pid) = line.strip_prefix("ready ") {
        return pid.parse().map_err(|_| format!("bad shim answer: {line}"));
    }
    let msg = line.strip_prefix("error ").unwrap_or(line);
    let tail = std::fs::read_to_string(dir.join("shim.log")).unwrap_or_default();
    Err(if msg.is_empty() {
        format!("the shim failed to start: {}", tail.trim())
    } else {
        msg.to_string()
    })
}

async fn connect(dir: &Path, req: &Request) -> Result<UnixStream, String> {
    let mut s = UnixStream::connect(super::socket_dir(dir).join("shim.sock"))
        .await
        .map_err(|e| format!("cannot reach the shim: {e}"))?;
    let mut line = serde_json::to_vec(req).map_err(|e| e.to_string())?;
    line.push(b'\n');
    s.write_all(&line).await.map_err(|e| format!("shim: {e}"))?;
    Ok(s)
}

/// Reads one line without reading past it (the rest of the stream belongs to the caller):
/// peeks at what has arrived and consumes up to the newline, a syscall pair per chunk
/// rather than one per byte.
async fn read_line(s: &mut UnixStream) -> Result<String, String> {
    use std::os::fd::AsFd;
    let err = |e: std::io::Error| format!("shim: {e}");
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        s.readable().await.map_err(err)?;
        let peeked = s.try_io(tokio::io::Interest::READABLE, || {
            rustix::net::recv(s.as_fd(), &mut buf[..], rustix::net::RecvFlags::PEEK)
                .map(|(n, _)| n)
                .map_err(std::io::Error::from)
        });
        let n = match peeked {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(err(e)),
        };
        let line_end = buf[..n].iter().position(|&b| b == b'\n');
        let take = line_end.map_or(n, |i| i + 1);
        s.read_exact(&mut buf[..take]).await.map_err(err)?;
        out.extend_from_slice(&buf[..line_end.unwrap_or(take)]);
        if line_end.is_some() {
            break;
        }
    }
    if out.is_empty() {
        return Err("the shim closed the connection".into());
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A request with a one-line reply.
pub async fn call(dir: &Path, req: Request) -> Result<Reply, String> {
    let mut s = connect(dir, &req).await?;
    let line = read_line(&mut s).await?;
    let r: Reply = serde_json::from_str(&line).map_err(|e| format!("bad shim reply: {e}"))?;
    if r.ok {
        Ok(r)
    } else {
        Err(r.error)
    }
}

/// Waits for the container to exit.
pub async fn wait(dir: &Path) -> Result<Exit, String> {
    let mut s = connect(dir, &Request::Wait).await?;
    let line = read_line(&mut s).await?;
    serde_json::from_str(&line).map_err(|e| format!("bad shim reply: {e}"))
}

/// An attach stream: output from the container (framed as docker frames it), stdin to it.
/// `held`: one of the attaches announced to an autostarted shim (`ShimSpec::attaches`).
pub async fn attach(
    dir: &Path,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    held: bool,
) -> Result<UnixStream, String> {
    let mut s = connect(
        dir,
        &Request::Attach {
            stdin,
            stdout,
            stderr,
            held,
        },
    )
    .await?;
    let r: Reply = serde_json::from_str(&read_line(&mut s).await?).map_err(|e| e.to_string())?;
    if !r.ok {
        return Err(r.error);
    }
    Ok(s)
}

/// Starts an exec; returns its stream and pid.
pub async fn exec(dir: &Path, spec: ExecSpec) -> Result<(UnixStream, i64), String> {
    let mut s = connect(dir, &Request::Exec(spec)).await?;
    let r: Reply = serde_json::from_str(&read_line(&mut s).await?).map_err(|e| e.to_string())?;
    if !r.ok {
        return Err(r.error);
    }
    Ok((s, r.pid.unwrap_or(0)))
}

/// How an exec ended, once its stream has closed.
pub fn exec_exit(dir: &Path, exec_id: &str) -> Option<Exit> {
    serde_json::from_slice(&std::fs::read(dir.join(format!("exec-{exec_id}.json"))).ok()?).ok()
}

/// How the container ended, as the shim recorded it (also after a daemon restart).
pub fn recorded_exit(dir: &Path) -> Option<Exit> {
    serde_json::from_slice(&std::fs::read(dir.join("exit.json")).ok()?).ok()
}
