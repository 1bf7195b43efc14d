//! Health checks (`HEALTHCHECK`, `--health-cmd`): a probe run through the container's shim
//! as an exec every interval; the result goes to `State.Health` as Docker reports it.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::store::Status;
use crate::shim::client;
use crate::shim::proto::ExecSpec;
use crate::state::Daemon;

/// Docker keeps the last five probe results.
const MAX_LOG: usize = 5;
/// And at most this much of a probe's output.
const MAX_OUTPUT: usize = 4096;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// "starting", "healthy" or "unhealthy".
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<Probe>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// The probe's argv from `Healthcheck.Test`, or None when there is no check.
pub fn probe_args(test: &[String]) -> Option<Vec<String>> {
    match test.split_first() {
        Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
        Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
            Some(vec!["/bin/sh".into(), "-c".into(), rest.join(" ")])
        }
        _ => None,
    }
}

fn dur(ns: Option<i64>, default: Duration) -> Duration {
    match ns {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

/// Whether the container's config has a health check that runs (not `NONE`).
pub fn has_probe(c: &super::store::Container) -> bool {
    c.config
        .healthcheck
        .as_ref()
        .and_then(|h| probe_args(h.test.as_deref().unwrap_or(&[])))
        .is_some()
}

impl Daemon {
    /// Starts probing a just-started container, if its config has a health check.
    pub fn watch_health(self: &Arc<Self>, id: String) {
        let Ok(c) = self.containers.resolve(&id) else {
            return;
        };
        let Some(hc) = c.config.healthcheck.clone() else {
            return;
        };
        let Some(args) = probe_args(hc.test.as_deref().unwrap_or(&[])) else {
            return;
        };
        let interval = dur(hc.interval, Duration::from_secs(30));
        let timeout = dur(hc.timeout, Duration::from_secs(30));
        let start_period = dur(hc.start_period, Duration::ZERO);
        let start_interval = dur(hc.start_interval, Duration::from_secs(5)).min(interval);
        let retries = hc.retries.filter(|r| *r > 0).unwrap_or(3);
        let started_at = c.state.started_at.clone();
        let shared = self.containers.update(&id, |c| {
            c.state.health = Some(Health {
                status: "starting".into(),
                ..Default::default()
            });
            c.ports.iter().any(|p| p.shared)
        });
        if shared.unwrap_or(false) {
            // Not serving its service's port until healthy.
            let d = self.clone();
            tokio::task::spawn_blocking(move || d.nft_changed());
        }
        let d = self.clone();
        tokio::spawn(async move {
            let began = tokio::time::Instant::now();
            loop {
                let in_start = began.elapsed() < start_period;
                tokio::time::sleep(if in_start { start_interval } else { interval }).await;
                let Ok(c) = d.containers.resolve(&id) else {
                    return;
                };
                if c.state.started_at != started_at || !c.state.status.is_live() {
                    return; // stopped or restarted (a new watcher runs then)
                }
                if c.state.status != Status::Running {
                    continue; // paused
                }
                let env = c.config.env.clone().unwrap_or_default();
                let probe = run_probe(&d, &id, args.clone(), env, timeout).await;
                let in_start = began.elapsed() < start_period;
                let before = c.state.health.as_ref().map(|h| h.status.clone());
                let after = d.containers.update(&id, |c| {
                    let h = c.state.health.get_or_insert_with(Default::default);
                    if probe.exit_code == 0 {
                        h.status = "healthy".into();
                        h.failing_streak = 0;
                    } else if !(in_start && h.status == "starting") {
                        h.failing_streak += 1;
                        if h.failing_streak >= retries {
                            h.status = "unhealthy".into();
                        }
                    }
                    h.log.push(probe);
                    let excess = h.log.len().saturating_sub(MAX_LOG);
                    h.log.drain(..excess);
                    (h.status.clone(), c.ports.iter().any(|p| p.shared))
                });
                // A replica behind a shared port serves only while healthy.
                if let Ok((status, true)) = after {
                    if before.as_deref() != Some(status.as_str()) {
                        let d = d.clone();
                        let _ = tokio::task::spawn_blocking(move || d.nft_changed()).await;
                    }
                }
            }
        });
    }
}

async fn run_probe(
    d: &Arc<Daemon>,
    id: &str,
    args: Vec<String>,
    env: Vec<String>,
    timeout: Duration,
) -> Probe {
    let start = super::create::now_rfc3339();
    let exec_id = wharf_types::id::random_id();
    let dir = d.container_dir(id);
    let spec = ExecSpec {
        exec_id: exec_id.clone(),
        args,
        env,
        cwd: String::new(),
        ..Default::default()
    };
    let run = async {
        let (mut stream, _pid) = client::exec(&dir, spec).await?;
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        Ok::<_, String>(raw)
    };
    let (exit_code, output) = match tokio::time::timeout(timeout, run).await {
        Err(_) => (
            -1,
            format!("Health check exceeded timeout ({}s)", timeout.as_secs()),
        ),
        Ok(Err(e)) => (-1, e),
        Ok(Ok(raw)) => {
            let mut code = -1;
            for _ in 0..50 {
                if let Some(exit) = client::exec_exit(&dir, &exec_id) {
                    code = exit.exit_code;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let _ = std::fs::remove_file(dir.join(format!("exec-{exec_id}.json")));
            (
                code,
                String::from_utf8_lossy(&unframe(&raw))
                    .chars()
                    .take(MAX_OUTPUT)
                    .collect(),
            )
        }
    };
    Probe {
        start,
        end: super::create::now_rfc3339(),
        exit_code,
        output,
    }
}

/// The payloads of Docker-framed output.
fn unframe(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while raw.len() >= 8 {
        let len = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]) as usize;
        let end = (8 + len).min(raw.len());
        out.extend_from_slice(&raw[8..end]);
        raw = &raw[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_forms() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(probe_args(&s(&["CMD", "true"])), Some(s(&["true"])));
        assert_eq!(
            probe_args(&s(&["CMD-SHELL", "exit 1"])),
            Some(s(&["/bin/sh", "-c", "exit 1"]))
        );
        assert_eq!(probe_args(&s(&["NONE"])), None);
        assert_eq!(probe_args(&[]), None);
    }

    #[test]
    fn frames_are_unwrapped() {
        let mut raw = crate::shim::proto::frame(1, b"ok\n");
        raw.extend(crate::shim::proto::frame(2, b"warn\n"));
        assert_eq!(unframe(&raw), b"ok\nwarn\n");
    }
}
