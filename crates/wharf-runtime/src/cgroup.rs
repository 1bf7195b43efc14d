//! Reading a container's cgroup directly: OOM kills (v1 `memory.oom_control`, v2
//! `memory.events`), and listing the directories it has in each hierarchy (for cleanup
//! checks). Works on v1, hybrid (v1 + an empty `unified` cgroup2) and pure v2 hosts.

use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// Whether the host uses the unified (v2) hierarchy at /sys/fs/cgroup.
pub fn is_unified() -> bool {
    Path::new(ROOT).join("cgroup.controllers").exists()
}

/// The container's directory in the memory hierarchy (v1) or the unified one (v2).
pub fn memory_dir(cgroups_path: &str) -> PathBuf {
    let rel = cgroups_path.trim_start_matches('/');
    if is_unified() {
        Path::new(ROOT).join(rel)
    } else {
        Path::new(ROOT).join("memory").join(rel)
    }
}

/// `--oom-kill-disable` on a cgroup v1 host (`memory.oom_control` = 1); nothing on v2,
/// which has no such switch. Best effort, as docker: a kernel without it just kills.
pub fn disable_oom_killer(cgroups_path: &str) {
    if is_unified() {
        return;
    }
    let f = memory_dir(cgroups_path).join("memory.oom_control");
    if let Err(e) = std::fs::write(&f, "1") {
        tracing::warn!(file = %f.display(), error = %e, "could not disable the OOM killer");
    }
}

/// Whether the kernel OOM killer killed a process in this cgroup.
pub fn oom_killed(cgroups_path: &str) -> bool {
    let dir = memory_dir(cgroups_path);
    let (file, key) = if is_unified() {
        ("memory.events", "oom_kill")
    } else {
        ("memory.oom_control", "oom_kill")
    };
    std::fs::read_to_string(dir.join(file))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix(key)
                    .and_then(|v| v.trim().parse::<u64>().ok())
            })
        })
        .is_some_and(|n| n > 0)
}

/// Every existing directory of `cgroups_path` in every mounted hierarchy.
pub fn existing_dirs(cgroups_path: &str) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    let mut out = Vec::new();
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return out;
    };
    for l in info.lines() {
        let Some((_, rest)) = l.split_once(" - ") else {
            continue;
        };
        let fstype = rest.split(' ').next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        if let Some(mp) = l.split(' ').nth(4) {
            let p = Path::new(mp).join(rel);
            if p.exists() {
                out.push(p);
            }
        }
    }
    out
}
