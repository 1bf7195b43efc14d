//! A pure cgroup v2 host, for real: `tests/vm/cgroup-v2.sh` boots a Debian kernel with every
//! v1 controller disabled (`cgroup_no_v1=all`) under qemu and runs wharf's cgroup checks
//! inside it against the binary under test (docs/adr-0013-cgroup-v2.md). This machine is
//! cgroup v1, so this is the only test of the v2 path.

use std::path::Path;
use std::process::Command;

use crate::common::WHARF;

/// Every check the guest runs; each must report `PASS` (a check that did not run fails too).
const CHECKS: [&str; 44] = [
    "cgroup_v2_only",
    "daemon_up",
    "import",
    "run_rm",
    "own_cgroup_is_root",
    "default_cpu_weight",
    "cgroup_dir",
    "memory_max",
    "pids_max",
    "cpu_max",
    "cpu_weight",
    "memory_swap_max",
    "procs_is_init_only",
    "container_sees_its_limit",
    "exec_runs",
    "exec_own_cgroup",
    "cannot_raise_memory_max",
    "cannot_raise_pids_max",
    "cannot_mkdir_cgroup",
    "cgroupfs_read_only",
    "stats_memory",
    "pause_freezes",
    "unpause_thaws",
    "exec_after_unpause",
    "rm_removes_cgroup",
    "rm_leaves_no_mount",
    "cpuset_cpus",
    "cpuset_mems",
    "cpuset_binds_the_process",
    "memory_low",
    "io_weight",
    "devices_denied",
    "devices_allowed",
    "device_flag",
    "device_cgroup_rule",
    "devices_privileged",
    "pids_limit_stops_forks",
    "oom_exit_137",
    "oom_killed_flag",
    "run_exit_code",
    "privileged_cgroupfs_rw",
    "no_cgroups_left",
    "no_container_mounts_left",
    "vm_done",
];

#[test]
fn cgroup_v2_host_in_a_vm_limits_oom_pause_and_read_only_view() {
    if !Path::new("/dev/kvm").exists() {
        eprintln!(
            "\n!!!!! SKIPPED cgroup_v2_host_in_a_vm: /dev/kvm is missing, so wharf's cgroup v2 \
             path is NOT tested on this machine !!!!!\n"
        );
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vm/cgroup-v2.sh");
    // The binary under test by default; WHARF_VM_BIN=target/release/wharf is faster in TCG.
    let bin = std::env::var("WHARF_VM_BIN").unwrap_or_else(|_| WHARF.to_string());
    let out = Command::new("timeout")
        .args(["900", script, &bin])
        .output()
        .expect("run tests/vm/cgroup-v2.sh");
    let console = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("{err}");
    if out.status.code() == Some(77) {
        eprintln!("\n!!!!! SKIPPED cgroup_v2_host_in_a_vm: {err} !!!!!\n");
        return;
    }
    let mut passed: Vec<&str> = console
        .lines()
        .filter_map(|l| l.strip_prefix("PASS "))
        .map(str::trim)
        .collect();
    if console.lines().any(|l| l.starts_with("VM-DONE ")) {
        passed.push("vm_done");
    }
    let failed: Vec<&str> = console.lines().filter(|l| l.starts_with("FAIL ")).collect();
    let missing: Vec<&str> = CHECKS
        .iter()
        .copied()
        .filter(|c| !passed.contains(c))
        .collect();
    assert!(
        failed.is_empty() && missing.is_empty() && out.status.success(),
        "cgroup v2 VM: failed {failed:#?}, not passed {missing:?}, exit {:?}\n--- console\n{console}\n--- stderr\n{err}",
        out.status.code()
    );
    for l in console.lines().filter(|l| l.starts_with("VM-")) {
        eprintln!("{l}");
    }
}
