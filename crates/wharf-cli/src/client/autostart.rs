//! Starting the daemon on demand: when nothing answers on a unix socket, re-exec this binary
//! as `wharf daemon --host unix://PATH` in its own session, then wait for `/_ping`.
//! `WHARF_NO_AUTOSTART=1` turns this off (tests, and users who run the daemon themselves).

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::CliError;

/// How long to wait for a freshly started daemon to answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);

pub fn enabled() -> bool {
    !matches!(
        std::env::var("WHARF_NO_AUTOSTART").as_deref(),
        Ok("1") | Ok("true")
    )
}

/// Where the started daemon's output goes: `/run/wharf/wharf-daemon.log` for the default
/// socket, otherwise next to the socket.
pub fn log_path(socket: &Path) -> PathBuf {
    socket
        .parent()
        .unwrap_or(Path::new("/run/wharf"))
        .join("wharf-daemon.log")
}

/// Spawns the daemon detached from this process (new session, stdin from /dev/null).
pub fn spawn(socket: &Path) -> Result<Child, CliError> {
    let exe = std::env::current_exe().map_err(|e| {
        CliError::msg(format!(
            "failed to start the wharf daemon: cannot find this program: {e}"
        ))
    })?;
    let log = log_path(socket);
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| {
            CliError::msg(format!(
                "failed to start the wharf daemon: cannot open {}: {e}",
                log.display()
            ))
        })?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(exe);
    cmd.arg("daemon")
        .arg("--host")
        .arg(format!("unix://{}", socket.display()));
    if let Ok(root) = std::env::var("WHARF_DATA_ROOT") {
        if !root.is_empty() {
            cmd.arg("--data-root").arg(root);
        }
    }
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent; it only detaches
    // the child from our session so the daemon outlives this terminal.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| CliError::msg(format!("failed to start the wharf daemon: {e}")))
}

/// Polls `ping` until it succeeds, the child exits, or the timeout passes.
pub async fn wait_ready<F, Fut>(child: &mut Child, mut ping: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < START_TIMEOUT {
        if ping().await {
            return true;
        }
        if let Ok(Some(_)) = child.try_wait() {
            // It exited: maybe another daemon won the race for the socket; one last try.
            return ping().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
