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

/// The controllers libcgroups' v1 manager puts a container in (it creates the container's
/// directory in every hierarchy that has one of them).
const MANAGED_V1: [&str; 12] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_prio",
    "net_cls",
    "freezer",
];

/// The host's cgroup v1 hierarchies that hold a managed controller: (mount point, its
/// controllers), from one read of `/proc/self/mountinfo`. Empty on a pure v2 host.
pub fn v1_hierarchies() -> Vec<(PathBuf, Vec<String>)> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    v1_hierarchies_in(&info)
}

fn v1_hierarchies_in(mountinfo: &str) -> Vec<(PathBuf, Vec<String>)> {
    let mut out = Vec::new();
    for l in mountinfo.lines() {
        let Some((head, tail)) = l.split_once(" - ") else {
            continue;
        };
        let mut t = tail.split(' ');
        if t.next() != Some("cgroup") {
            continue;
        }
        let super_opts = t.nth(1).unwrap_or("");
        let controllers: Vec<String> = super_opts
            .split(',')
            .filter(|o| MANAGED_V1.contains(o))
            .map(str::to_string)
            .collect();
        if let (Some(mp), false) = (head.split(' ').nth(4), controllers.is_empty()) {
            out.push((PathBuf::from(mp), controllers));
        }
    }
    out
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

#[cfg(test)]
mod v1_tests {
    #[test]
    fn finds_controller_hierarchies_only() {
        let info = "30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        let h = super::v1_hierarchies_in(info);
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].0, std::path::Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(h[0].1, vec!["cpu", "cpuacct"]);
        assert_eq!(h[1].1, vec!["memory"]);
    }
}
