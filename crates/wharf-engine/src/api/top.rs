//! Process listing (`top`) and resource figures (`stats`) in Docker's shapes.

use serde_json::{json, Value};

fn ns_of(pid: &str) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

/// The processes in the pid namespace of `pid`, as `ps -ef` rows.
pub fn processes(pid: i64) -> Vec<Vec<String>> {
    let Some(ns) = ns_of(&pid.to_string()) else {
        return vec![];
    };
    let ticks = 100.0; // USER_HZ on Linux
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("btime ")
                    .and_then(|v| v.trim().parse::<i64>().ok())
            })
        })
        .unwrap_or(0);
    let mut rows = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return rows;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) || ns_of(&name).as_ref() != Some(&ns) {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{name}/stat")).unwrap_or_default();
        // Fields after the ")" of the command: state ppid … utime(14) stime(15) … starttime(22).
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let get = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        let ppid = f.get(1).copied().unwrap_or("0").to_string();
        let cpu = (get(11) + get(12)) / ticks;
        let start = boot + (get(19) / ticks) as i64;
        let stime = time::OffsetDateTime::from_unix_timestamp(start)
            .map(|t| format!("{:02}:{:02}", t.hour(), t.minute()))
            .unwrap_or_default();
        let uid = std::fs::read_to_string(format!("/proc/{name}/status"))
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("Uid:")
                        .map(|v| v.split_whitespace().next().unwrap_or("0").to_string())
                })
            })
            .unwrap_or_default();
        let cmd = std::fs::read(format!("/proc/{name}/cmdline"))
            .map(|b| {
                b.split(|&c| c == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let secs = cpu as i64;
        rows.push(vec![
            uid,
            name.clone(),
            ppid,
            "0".into(),
            stime,
            "?".into(),
            format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
            cmd,
        ]);
    }
    rows.sort_by_key(|r| r[1].parse::<i64>().unwrap_or(0));
    rows
}

fn system_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum::<u64>()
            })
        })
        .unwrap_or(0)
        * 10_000_000
}

/// Docker's stats object from the runtime's figures (`raw`) and the previous sample.
pub fn docker_stats(id: &str, name: &str, raw: &Value, prev: &Value) -> Value {
    let n = |k: &str| raw.get(k).and_then(Value::as_u64).unwrap_or(0);
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    // An unlimited cgroup reports a huge limit; docker shows the host's memory instead.
    let host_mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .unwrap_or(0)
        * 1024;
    let limit = match n("memory_limit") {
        0 => host_mem,
        l if host_mem > 0 => l.min(host_mem),
        l => l,
    };
    let online = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cpu = json!({
        "cpu_usage": { "total_usage": n("cpu_usage_ns"), "usage_in_kernelmode": n("cpu_system_ns"), "usage_in_usermode": n("cpu_user_ns") },
        "system_cpu_usage": system_cpu_ns(),
        "online_cpus": online,
        "throttling_data": { "periods": 0, "throttled_periods": 0, "throttled_time": 0 },
    });
    json!({
        "read": now,
        "preread": prev.get("read").cloned().unwrap_or(json!("0001-01-01T00:00:00Z")),
        "name": name,
        "id": id,
        "pids_stats": { "current": n("pids"), "limit": raw.get("pids_limit").cloned().unwrap_or(Value::Null) },
        "cpu_stats": cpu,
        "precpu_stats": prev.get("cpu_stats").cloned().unwrap_or(json!({ "cpu_usage": { "total_usage": 0 }, "throttling_data": {} })),
        "memory_stats": { "usage": n("memory_usage"), "limit": limit, "stats": { "cache": n("memory_cache"), "inactive_file": n("memory_inactive_file") } },
        "blkio_stats": {},
        "networks": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_pass_the_inactive_page_cache_for_the_cli_to_subtract() {
        let raw = json!({"memory_usage": 10_000_000u64, "memory_limit": 33_554_432u64, "memory_inactive_file": 4_000_000u64, "cpu_usage_ns": 5u64, "pids": 1u64});
        let s = docker_stats("id", "/n", &raw, &json!({}));
        assert_eq!(s["memory_stats"]["usage"], 10_000_000);
        assert_eq!(s["memory_stats"]["stats"]["inactive_file"], 4_000_000);
        // A shim from before the field: 0, nothing subtracted.
        let s = docker_stats("id", "/n", &json!({"memory_usage": 1u64}), &json!({}));
        assert_eq!(s["memory_stats"]["stats"]["inactive_file"], 0);
    }
}
