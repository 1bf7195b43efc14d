//! Containers through `wharf` and the real `docker` CLI: run, exit codes, detach, ps, logs,
//! exec, stop, rm, restart policies, and nothing left behind.

use std::time::{Duration, Instant};

use crate::common::*;

/// A daemon with a busybox image `bb` ready.
fn daemon_with_busybox() -> Daemon {
    let d = Daemon::start();
    d.import_busybox("bb:latest");
    d
}

fn mounts_under(p: &std::path::Path) -> usize {
    let prefix = p.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&prefix)))
        .count()
}

fn cgroups_named(id: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![std::path::PathBuf::from("/sys/fs/cgroup")];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                let p = e.path();
                if p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.contains(id))
                {
                    found.push(p.display().to_string());
                }
                if p.components().count() < 8 {
                    stack.push(p);
                }
            }
        }
    }
    found
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn run_prints_output_and_returns_the_exit_code() {
    let d = daemon_with_busybox();
    let o = d.wharf(&["run", "--rm", "bb", "echo", "hello from wharf"]);
    assert!(o.status.success(), "{}\n{}", stderr(&o), d.log());
    assert_eq!(stdout(&o), "hello from wharf\n");

    let o = d.wharf(&[
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");

    // Docker's codes for a command that is not there.
    let o = d.wharf(&["run", "--rm", "bb", "no-such-command"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    // --rm removed every container.
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}

/// Without a network to plug the shim starts the process on its own, before the client's
/// attach reaches it; the output is held for the attach. A process that writes and exits at
/// once still shows all of it to `run` (wharf's and docker's), in order and on the right
/// stream, also past what the shim holds before it makes the process wait (1 MiB), and
/// stdin still reaches it.
#[test]
fn run_without_a_network_shows_all_output_of_a_process_that_exits_at_once() {
    let d = daemon_with_busybox();
    for round in 0..8 {
        let o = d.wharf(&[
            "run",
            "--rm",
            "--network",
            "none",
            "bb",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ]);
        assert_eq!(o.status.code(), Some(3), "round {round}: {}", stderr(&o));
        assert_eq!(stdout(&o), "out\n", "round {round}");
        assert_eq!(stderr(&o), "err\n", "round {round}");
    }
    let want: String = (1..=300_000).map(|i| format!("{i}\n")).collect();
    assert!(want.len() > 1 << 20);
    let o = d.wharf(&[
        "run",
        "--rm",
        "--network",
        "host",
        "bb",
        "seq",
        "1",
        "300000",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o) == want,
        "{} bytes of {}",
        o.stdout.len(),
        want.len()
    );

    let o = d.wharf_stdin(
        &["run", "--rm", "-i", "--network", "none", "bb", "cat"],
        b"from stdin\n",
    );
    assert_eq!(stdout(&o), "from stdin\n", "{}", stderr(&o));

    if let Some(o) = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb",
        "sh",
        "-c",
        "echo hi; echo there >&2",
    ]) {
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), "hi\n");
        assert_eq!(stderr(&o), "there\n");
    }
    // Detached: nobody attaches, the output is in the log.
    let id = d.ok(&["run", "-d", "--network", "none", "bb", "echo", "in the log"]);
    let id = id.trim();
    wait_until("the exit", Duration::from_secs(10), || {
        d.ok(&["inspect", "-f", "{{.State.Status}}", id]).trim() == "exited"
    });
    assert_eq!(d.ok(&["logs", id]), "in the log\n");
    d.ok(&["rm", id]);
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn detached_container_lifecycle_and_cleanup() {
    let d = daemon_with_busybox();
    let id = d
        .ok(&[
            "run",
            "-d",
            "--name",
            "sleeper",
            "bb",
            "sh",
            "-c",
            "echo started; sleep 60",
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "{id}");
    let ps = d.ok(&["ps"]);
    assert!(
        ps.lines()
            .next()
            .unwrap_or_default()
            .starts_with("CONTAINER ID"),
        "{ps}"
    );
    assert!(
        ps.contains("sleeper") && ps.contains(&id[..12]) && ps.contains("Up "),
        "{ps}"
    );

    wait_until("log line", Duration::from_secs(5), || {
        d.ok(&["logs", "sleeper"]).contains("started")
    });

    let o = d.wharf(&["exec", "sleeper", "sh", "-c", "echo in-exec; exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(stdout(&o), "in-exec\n");
    // An exec runs in the container's cgroups (entered without the kernel's global lock on
    // v1, docs/adr-0012-cgroup-entry.md): each is the root of its cgroup namespace.
    let cg = d.ok(&["exec", "sleeper", "cat", "/proc/self/cgroup"]);
    for l in cg
        .lines()
        .filter(|l| !l.contains("name=") && !l.starts_with("0::"))
    {
        assert!(
            l.ends_with(":/"),
            "exec outside the container's cgroups: {cg}"
        );
    }

    let inspect: serde_json::Value =
        serde_json::from_str(&d.ok(&["inspect", "sleeper"])).expect("json");
    assert_eq!(inspect[0]["State"]["Running"], true);
    let pid = inspect[0]["State"]["Pid"].as_i64().expect("pid");
    assert!(pid > 0);

    // Removing a running container needs -f.
    let o = d.wharf(&["rm", "sleeper"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("stop the container before removing or force remove"),
        "{}",
        stderr(&o)
    );

    let t = Instant::now();
    d.ok(&["stop", "-t", "1", "sleeper"]);
    assert!(t.elapsed() < Duration::from_secs(8));
    let ps = d.ok(&["ps", "-a"]);
    assert!(ps.contains("Exited ("), "{ps}");
    d.ok(&["rm", "sleeper"]);

    // Nothing left: no process, no mount, no cgroup, no directory.
    assert!(
        rustix::process::test_kill_process(
            rustix::process::Pid::from_raw(pid as i32).expect("pid")
        )
        .is_err(),
        "process left behind"
    );
    assert_eq!(mounts_under(&d.data_root()), 0, "mounts left behind");
    assert!(
        cgroups_named(&id).is_empty(),
        "cgroups left behind: {:?}",
        cgroups_named(&id)
    );
    assert!(
        !d.data_root().join("containers").join(&id).exists(),
        "directory left behind"
    );
}

#[test]
fn the_write_layer_persists_across_stop_and_start() {
    let d = daemon_with_busybox();
    d.ok(&[
        "create",
        "--name",
        "state",
        "bb",
        "sh",
        "-c",
        "echo x >> /tmp/count; cat /tmp/count | wc -l",
    ]);
    d.ok(&["start", "state"]);
    d.ok(&["wait", "state"]);
    d.ok(&["start", "state"]);
    let code = d.ok(&["wait", "state"]);
    assert_eq!(code.trim(), "0");
    let logs = d.ok(&["logs", "state"]);
    assert_eq!(
        logs.split_whitespace().collect::<Vec<_>>(),
        vec!["1", "2"],
        "{logs}"
    );
    // The image is unchanged: a new container starts from scratch.
    let o = d.ok(&[
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        "test -e /tmp/count && echo yes || echo no",
    ]);
    assert_eq!(o.trim(), "no");
}

#[test]
fn isolation_defaults_match_docker() {
    let d = daemon_with_busybox();
    let out = d.ok(&[
        "run", "--rm", "--hostname", "boxy", "bb", "sh", "-c",
        "hostname; grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status; echo pid=$$; cat /proc/kcore 2>&1 | head -c 60; echo; ls /dev",
    ]);
    assert!(out.starts_with("boxy\n"), "{out}");
    assert!(
        out.contains("CapEff:\t00000000a80425fb"),
        "docker's default caps: {out}"
    );
    assert!(out.contains("Seccomp:\t2"), "seccomp filter active: {out}");
    assert!(out.contains("pid=1"), "own pid namespace: {out}");
    assert!(!out.contains("ELF"), "/proc/kcore masked: {out}");
    for dev in ["null", "zero", "random", "urandom", "tty", "pts", "shm"] {
        assert!(
            out.split_whitespace().any(|w| w == dev),
            "/dev/{dev} missing: {out}"
        );
    }
    // Its own network namespace: loopback and its end of the default bridge, nothing else;
    // with --network none, loopback only.
    let net = d.ok(&["run", "--rm", "bb", "cat", "/proc/net/dev"]);
    assert!(
        net.contains("lo:") && net.contains("eth0:") && net.lines().count() == 4,
        "{net}"
    );
    let net = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb",
        "cat",
        "/proc/net/dev",
    ]);
    assert!(net.contains("lo:") && net.lines().count() == 3, "{net}");
    // Loopback is up (IFF_UP | IFF_LOOPBACK), whether the namespace was made ahead by a
    // spare shim or by the runtime (the first container of a daemon gets either).
    for _ in 0..2 {
        let flags = d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "bb",
            "cat",
            "/sys/class/net/lo/flags",
        ]);
        assert_eq!(flags.trim(), "0x9");
    }
    // /sys/fs/cgroup is read-only, as docker's: a container cannot raise its own limits.
    // It sees its own cgroup there (its limit, not the host's), and is in it itself, not in
    // a cgroup nested below (its processes are in `tasks`, there is no subdirectory), with
    // one mount per hierarchy.
    let out = d.ok(&[
        "run",
        "--rm",
        "-m",
        "64m",
        "--pids-limit",
        "50",
        "bb",
        "sh",
        "-c",
        "L=/sys/fs/cgroup; [ -d $L/memory ] || exit 0; cat $L/memory/memory.limit_in_bytes; \
         echo 1073741824 > $L/memory/memory.limit_in_bytes || echo refused; \
         echo max > $L/pids/pids.max || echo refused; mkdir $L/x || echo refused; \
         cat $L/memory/memory.limit_in_bytes $L/pids/pids.max; \
         grep -qx 1 $L/pids/tasks && echo in-own; find $L/pids/ -mindepth 1 -type d | wc -l; \
         grep -c ' /sys/fs/cgroup/memory ' /proc/self/mountinfo",
    ]);
    if !out.is_empty() {
        assert_eq!(
            out, "67108864\nrefused\nrefused\nrefused\n67108864\n50\nin-own\n0\n1\n",
            "cgroup files writable from the container, or not its own cgroup"
        );
    }
    // --privileged gets every capability back.
    // (every one this host lets us have: a sandbox may withhold some from root)
    let ours = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    let out = d.ok(&[
        "run",
        "--rm",
        "--privileged",
        "bb",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(
        out.trim().trim_start_matches("CapEff:").trim(),
        ours,
        "{out}"
    );
}

#[test]
fn memory_limit_oom_is_137() {
    let d = daemon_with_busybox();
    // dd allocates a 64 MiB buffer: past the limit, the kernel kills the container.
    let o = d.wharf(&[
        "run",
        "--name",
        "oom",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        "bb",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=64M",
        "count=1",
    ]);
    assert_eq!(o.status.code(), Some(137), "{} {}", stdout(&o), stderr(&o));
    let oom = d.ok(&["inspect", "-f", "{{.State.OOMKilled}}", "oom"]);
    assert_eq!(oom.trim(), "true");
}

#[test]
fn restart_policy_on_failure_retries() {
    let d = daemon_with_busybox();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "bb",
        "sh",
        "-c",
        "exit 1",
    ]);
    wait_until("two restarts", Duration::from_secs(15), || {
        d.ok(&[
            "inspect",
            "-f",
            "{{.RestartCount}} {{.State.Status}}",
            "flaky",
        ])
        .trim()
            == "2 exited"
    });
}

#[test]
fn docker_cli_runs_containers_on_our_socket() {
    let d = daemon_with_busybox();
    let Some(o) = d.docker(&["run", "--rm", "bb", "sh", "-c", "echo via-docker; exit 4"]) else {
        return;
    };
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(stdout(&o), "via-docker\n");
    let o = d
        .docker(&["run", "-d", "--name", "dk", "bb", "sleep", "30"])
        .expect("docker");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d
        .docker(&["exec", "dk", "echo", "exec-ok"])
        .expect("docker");
    assert_eq!(stdout(&o), "exec-ok\n", "{}", stderr(&o));
    let o = d
        .docker(&["ps", "--format", "{{.Names}} {{.Status}}"])
        .expect("docker");
    assert!(stdout(&o).starts_with("dk Up"), "{}", stdout(&o));
    let o = d.docker(&["rm", "-f", "dk"]).expect("docker");
    assert!(o.status.success(), "{}", stderr(&o));
    // The image a container used cannot be removed without -f.
    d.ok(&["create", "--name", "user", "bb", "true"]);
    let o = d.wharf(&["rmi", "bb"]);
    assert!(
        !o.status.success() && stderr(&o).contains("is using its referenced image"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn running_containers_survive_a_daemon_kill_9() {
    let mut d = daemon_with_busybox();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "survivor",
        "bb",
        "sh",
        "-c",
        "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
    ]);
    let pid = d
        .ok(&["inspect", "-f", "{{.State.Pid}}", "survivor"])
        .trim()
        .parse::<i32>()
        .expect("pid");
    d.kill9();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        rustix::process::test_kill_process(rustix::process::Pid::from_raw(pid).expect("pid"))
            .is_ok(),
        "container died with the daemon"
    );
    d.spawn();
    let st = d.ok(&["inspect", "-f", "{{.State.Status}}", "survivor"]);
    assert_eq!(st.trim(), "running");
    let before = d.ok(&["logs", "survivor"]).lines().count();
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        d.ok(&["logs", "survivor"]).lines().count() > before,
        "logs stopped after the restart"
    );
    let o = d.wharf(&["exec", "survivor", "echo", "still-here"]);
    assert_eq!(stdout(&o), "still-here\n", "{}", stderr(&o));
    d.ok(&["stop", "-t", "1", "survivor"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "survivor"])
            .trim(),
        "exited"
    );
    d.ok(&["rm", "survivor"]);
}

/// A process's parent and name (`/proc/PID/stat`, `/proc/PID/comm`).
fn parent_and_name(pid: u32) -> Option<(u32, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "PID (comm) STATE PPID …": the name may hold spaces; the last ')' ends it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let ppid = rest.split(' ').nth(1)?.parse().ok()?;
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some((ppid, name.trim().to_string()))
}

/// The running children of `parent` named `name`.
fn children_named(parent: u32, name: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            alive(*p) && parent_and_name(*p).is_some_and(|(pp, n)| pp == parent && n == name)
        })
        .collect()
}

/// Running (not gone, not a zombie waiting for its parent).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s[s.rfind(')')? + 2..].starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

fn container_pid(d: &Daemon, name: &str) -> u32 {
    d.ok(&["inspect", "-f", "{{.State.Pid}}", name])
        .trim()
        .parse()
        .expect("pid")
}

/// The container's processes, and only they, are in its cgroups, with its limits: on a v1
/// host the runtime enters them from a forked child without the kernel's global lock
/// (docs/adr-0012-cgroup-entry.md), so the shim must not end up there, and `pids.max` is
/// set once the create's helper processes are gone.
#[test]
fn container_cgroups_hold_its_processes_only_with_its_limits() {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return; // cgroup v2: libcontainer's own cgroup handling
    }
    let d = daemon_with_busybox();
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "cg",
        "-m",
        "32m",
        "--pids-limit",
        "3",
        "bb",
        "sleep",
        "600",
    ]);
    let id = id.trim();
    let pid = container_pid(&d, "cg");
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    let mut managed = 0;
    for l in own.lines() {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        if ctrls.is_empty() || ctrls.starts_with("name=") {
            continue; // the v2 line of a hybrid host, named hierarchies: not managed
        }
        managed += 1;
        assert_eq!(path, format!("/wharf/{id}"), "{ctrls} of the init: {own}");
    }
    assert!(managed >= 3, "{own}");
    let dir = std::path::Path::new("/sys/fs/cgroup/pids/wharf").join(id);
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).expect("cgroup.procs");
    assert_eq!(
        procs.trim(),
        pid.to_string(),
        "only the init is in the cgroup"
    );
    let limit = std::fs::read_to_string(dir.join("pids.max")).expect("pids.max");
    assert_eq!(limit.trim(), "3");
    let mem = std::path::Path::new("/sys/fs/cgroup/memory/wharf")
        .join(id)
        .join("memory.limit_in_bytes");
    assert_eq!(
        std::fs::read_to_string(mem).expect("memory limit").trim(),
        "33554432"
    );
    // Docker: `--memory-swap` unset is twice `-m` (where swap accounting is on).
    let memsw = std::path::Path::new("/sys/fs/cgroup/memory/wharf")
        .join(id)
        .join("memory.memsw.limit_in_bytes");
    if let Ok(v) = std::fs::read_to_string(memsw) {
        assert_eq!(v.trim(), "67108864");
        // and `inspect` shows it, as docker's does
        assert_eq!(
            d.ok(&["inspect", "-f", "{{.HostConfig.MemorySwap}}", "cg"])
                .trim(),
            "67108864"
        );
    }
    // sleep 600 + sh + 3 sleeps: past the limit of 3.
    let o = d.wharf(&[
        "exec",
        "cg",
        "sh",
        "-c",
        "sleep 1 & sleep 1 & sleep 1 & wait",
    ]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("can't fork"),
        "{o:?}"
    );
    d.ok(&["rm", "-f", "cg"]);
    assert!(cgroups_named(id).is_empty(), "{:?}", cgroups_named(id));
    // A limit of one process still lets the container's own process start.
    d.ok(&["run", "--rm", "--pids-limit", "1", "bb", "true"]);
}

#[test]
fn shims_are_forked_by_a_zygote_that_ends_with_the_daemon() {
    let mut d = daemon_with_busybox();
    d.ok(&["run", "-d", "--name", "zy", "bb", "sleep", "1000"]);
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "zy"]);
    // container init → shim (named after the container) → zygote → daemon.
    let (shim, _) = parent_and_name(container_pid(&d, "zy")).expect("init");
    let (zygote, shim_name) = parent_and_name(shim).expect("shim");
    assert_eq!(shim_name, format!("shim-{}", &id[..10]));
    let (daemon, zygote_name) = parent_and_name(zygote).expect("zygote");
    assert_eq!(zygote_name, "wharf-zygote");
    assert_eq!(daemon, d.child.as_ref().expect("daemon").id());
    // One spare, forked ahead and waiting to become the next shim (and the next after it).
    wait_until("a spare shim", Duration::from_secs(5), || {
        children_named(zygote, "wharf-zygote").len() == 1
    });
    let spare = children_named(zygote, "wharf-zygote")[0];
    // It holds the network and IPC namespaces made for its container meanwhile.
    for kind in ["net:[", "ipc:["] {
        wait_until("the spare's namespaces", Duration::from_secs(5), || {
            std::fs::read_dir(format!("/proc/{spare}/fd"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.to_string_lossy().starts_with(kind))
                })
        });
    }
    d.ok(&["run", "--rm", "bb", "true"]);
    assert!(!alive(spare) || parent_and_name(spare).is_some_and(|(_, n)| n != "wharf-zygote"));
    wait_until("the next spare", Duration::from_secs(5), || {
        children_named(zygote, "wharf-zygote").len() == 1
    });
    let spare = children_named(zygote, "wharf-zygote")[0];

    // kill -9 of the daemon: the zygote and its spare see their socket close and end; the
    // shim and the container go on, and the next daemon has a zygote of its own.
    d.kill9();
    wait_until(
        "the zygote and its spare to end",
        Duration::from_secs(5),
        || !alive(zygote) && !alive(spare),
    );
    assert!(alive(shim), "the shim died with the daemon");
    d.spawn();
    d.ok(&["exec", "zy", "true"]);
    d.ok(&["run", "-d", "--name", "zy2", "bb", "sleep", "1000"]);
    let (shim2, _) = parent_and_name(container_pid(&d, "zy2")).expect("init");
    let (zygote2, _) = parent_and_name(shim2).expect("shim");
    assert_eq!(parent_and_name(zygote2).expect("zygote").1, "wharf-zygote");

    // A zygote that dies: shims are exec'd meanwhile, nothing fails.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(zygote2 as i32).expect("pid"),
        rustix::process::Signal::KILL,
    )
    .expect("kill zygote");
    wait_until("the zygote to be reaped", Duration::from_secs(5), || {
        !alive(zygote2)
    });
    assert_eq!(d.ok(&["run", "--rm", "bb", "echo", "ok"]), "ok\n");
    d.ok(&["rm", "-f", "zy", "zy2"]);
    wait_until("the shims to end", Duration::from_secs(5), || {
        !alive(shim) && !alive(shim2)
    });
}

/// `rm -f` while execs are starting: what an exec leaves when the kill reaches it halfway
/// (the runtime's intermediate and the exec'd process, reparented to the shim) must not keep
/// the container's init from ending. The shim used to wait for init alone, and init waited
/// for those to be reaped: shim and container stayed forever, after a successful `rm -f`.
#[test]
fn rm_f_during_execs_leaves_no_process() {
    let d = daemon_with_busybox();
    let mut ids = Vec::new();
    for r in 0..16 {
        let name = format!("ex{r}");
        let id = d.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "bb",
            "sleep",
            "100",
        ]);
        ids.push(id.trim()[..12].to_string());
        let execs: Vec<_> = (0..4)
            .map(|_| {
                let mut c = d.wharf_cmd(&[
                    "exec",
                    &name,
                    "sh",
                    "-c",
                    "true; true; true; true; true; true; true; true",
                ]);
                c.stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null());
                c.spawn().expect("exec")
            })
            .collect();
        std::thread::sleep(Duration::from_millis(10 * (r % 8)));
        d.ok(&["rm", "-f", &name]);
        for mut e in execs {
            let _ = e.wait();
        }
    }
    wait_until(
        "the removed containers' shims to end",
        Duration::from_secs(10),
        || !ids.iter().any(|id| shim_pid(id).is_some()),
    );
}

/// The pid of container `id`'s shim, found by its name (`shim-` and 10 hex digits of the id).
fn shim_pid(id: &str) -> Option<i32> {
    let comm = format!("shim-{}", &id[..10]);
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find(|p| std::fs::read_to_string(p.path().join("comm")).is_ok_and(|c| c.trim() == comm))
        .and_then(|p| p.file_name().to_str()?.parse().ok())
}

/// `rm -f` of a container whose shim does not answer (stopped here with SIGSTOP) refuses
/// with docker's message after its timeout and keeps the container: removing the record
/// would leave the processes and mounts with nothing to find them by. Once the shim runs
/// again, `rm -f` works and nothing is left.
#[test]
fn rm_f_refuses_when_the_shim_does_not_answer() {
    let d = daemon_with_busybox();
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "mute",
        "--network",
        "none",
        "bb",
        "sleep",
        "100",
    ]);
    let shim = shim_pid(id.trim()).expect("the shim's pid");
    let signal = |s| {
        let pid = rustix::process::Pid::from_raw(shim).expect("pid");
        rustix::process::kill_process(pid, s).expect("kill");
    };
    signal(rustix::process::Signal::STOP);
    let o = d.wharf(&["rm", "-f", "mute"]);
    signal(rustix::process::Signal::CONT);
    assert!(!o.status.success(), "rm -f of a silent shim succeeded");
    assert!(stderr(&o).contains("could not kill"), "{}", stderr(&o));
    assert!(d
        .ok(&["ps", "-a", "--format", "{{.Names}}"])
        .contains("mute"));
    d.ok(&["rm", "-f", "mute"]);
    wait_until("the shim to end", Duration::from_secs(10), || {
        !std::path::Path::new(&format!("/proc/{shim}")).exists()
    });
}

#[test]
fn an_exit_recorded_just_before_a_daemon_crash_is_not_lost() {
    // The exit is committed without waiting for the disk; a crash right after must still
    // show the container exited with its code (recovery reads the shim's exit.json).
    let mut d = daemon_with_busybox();
    d.ok(&["run", "-d", "--name", "quick", "bb", "sh", "-c", "exit 3"]);
    assert_eq!(d.ok(&["wait", "quick"]).trim(), "3");
    d.kill9();
    d.spawn();
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "quick"
        ])
        .trim(),
        "exited 3"
    );
    d.ok(&["rm", "quick"]);
}

/// `logs -f` delivers all a container wrote even when the container is removed as soon as
/// it exits, before the follower has looked at its log again. docker-py's
/// `containers.run(remove=True)` does just that: follow, wait, remove, then read the stream.
#[test]
fn logs_follow_delivers_the_output_of_a_container_removed_at_exit() {
    let d = daemon_with_busybox();
    for i in 0..8 {
        let name = format!("lf{i}");
        d.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "bb",
            "sh",
            "-c",
            "sleep 0.3; seq 1 100",
        ]);
        let follower = d
            .wharf_cmd(&["logs", "-f", &name])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("logs -f");
        assert_eq!(d.ok(&["wait", &name]).trim(), "0");
        d.ok(&["rm", &name]);
        let o = follower.wait_with_output().expect("logs -f");
        assert_eq!(stdout(&o).lines().count(), 100, "round {i}: {}", stderr(&o));
    }
    // Across rotations: the follower drains the file it holds before it takes the new one.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "rot",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=3",
        "bb",
        "sh",
        "-c",
        "sleep 0.3; for i in $(seq 1 40); do echo line-$i; usleep 20000; done",
    ]);
    let o = d.wharf(&["logs", "-f", "rot"]);
    let want: Vec<String> = (1..=40).map(|i| format!("line-{i}")).collect();
    assert_eq!(
        stdout(&o).lines().collect::<Vec<_>>(),
        want,
        "{}",
        stderr(&o)
    );
    let dir = d.data_root().join("containers");
    let rotated = walk_names(&dir).iter().any(|n| n.ends_with("-json.log.1"));
    assert!(rotated, "the log never rotated");
    d.ok(&["rm", "rot"]);
}

fn walk_names(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(e.file_name().to_string_lossy().into_owned());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk_names(&e.path()));
        }
    }
    out
}

#[test]
fn health_checks_report_healthy_and_unhealthy() {
    let d = daemon_with_busybox();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "good",
        "--health-cmd",
        "true",
        "--health-interval",
        "200ms",
        "bb",
        "sleep",
        "30",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "bad",
        "--health-cmd",
        "exit 1",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "bb",
        "sleep",
        "30",
    ]);
    wait_until("healthy", Duration::from_secs(10), || {
        d.ok(&["inspect", "-f", "{{.State.Health.Status}}", "good"])
            .trim()
            == "healthy"
    });
    wait_until("unhealthy", Duration::from_secs(10), || {
        d.ok(&["inspect", "-f", "{{.State.Health.Status}}", "bad"])
            .trim()
            == "unhealthy"
    });
    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(
        ps.lines()
            .any(|l| l.starts_with("good Up") && l.ends_with("(healthy)")),
        "{ps}"
    );
    assert!(
        ps.lines()
            .any(|l| l.starts_with("bad Up") && l.ends_with("(unhealthy)")),
        "{ps}"
    );
    d.ok(&["rm", "-f", "good", "bad"]);
}

#[test]
fn run_it_gives_a_real_tty() {
    let d = daemon_with_busybox();
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIP: script(1) is not installed");
        return;
    }
    // script(1) gives the CLI a terminal; the container gets a pty of its own.
    let cmd = format!(
        "{WHARF} -H {} run -it --rm bb sh -c 'tty; echo term=$TERM; exit 7'",
        d.host()
    );
    let o = std::process::Command::new("script")
        .args(["-eqc", &cmd, "/dev/null"])
        .env("WHARF_NO_AUTOSTART", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script");
    let out = stdout(&o);
    assert!(out.contains("/dev/pts/0"), "{out}");
    assert!(out.contains("term=xterm"), "{out}");
    assert_eq!(o.status.code(), Some(7), "{out}");
}

/// A container's creation lets go of the other containers' root filesystems in its own
/// mount namespace only (moved under a scratch mount and unmounted with it, in one go): on
/// the host each running container keeps its rootfs, and exec and cp still reach it.
#[test]
fn starting_a_container_leaves_the_others_root_filesystems_alone() {
    let d = daemon_with_busybox();
    let mut ids = Vec::new();
    for i in 0..4 {
        let id = d.ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "bb",
            "sh",
            "-c",
            &format!("echo {i} > /tmp/mark; sleep 600"),
        ]);
        ids.push(id.trim().to_string());
    }
    let o = d.wharf(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb",
        "sh",
        "-c",
        "grep -c ' overlay ' /proc/self/mountinfo",
    ]);
    assert_eq!(
        stdout(&o),
        "1\n",
        "the container sees its own root only: {}",
        stderr(&o)
    );
    let containers = d.data_root().join("containers");
    assert_eq!(
        mounts_under(&containers),
        4,
        "one rootfs per running container"
    );
    for (i, id) in ids.iter().enumerate() {
        wait_until("the mark", Duration::from_secs(5), || {
            d.wharf(&["exec", id, "cat", "/tmp/mark"]).stdout == format!("{i}\n").into_bytes()
        });
        let o = d.wharf(&["cp", &format!("{id}:/tmp/mark"), "-"]);
        assert!(o.status.success() && !o.stdout.is_empty(), "{}", stderr(&o));
    }
    d.ok(&["rm", "-f", &ids[0], &ids[1], &ids[2], &ids[3]]);
    assert_eq!(mounts_under(&containers), 0);
}

#[test]
fn concurrent_runs_all_succeed_and_leave_nothing() {
    let d = daemon_with_busybox();
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let cmd = d.wharf_cmd(&["run", "--rm", "bb", "sh", "-c", &format!("echo run-{i}")]);
            std::thread::spawn(move || {
                let mut cmd = cmd;
                cmd.output().expect("wharf")
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let o = h.join().expect("thread");
        assert!(o.status.success(), "run {i}: {}", stderr(&o));
        assert_eq!(stdout(&o), format!("run-{i}\n"));
    }
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
    assert_eq!(mounts_under(&d.data_root()), 0, "mounts left behind");
    let left = std::fs::read_dir(d.data_root().join("containers"))
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "container directories left behind");
    // Removed containers' files go through the trash, deleted in the background.
    let trash = d.data_root().join("trash");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let n = std::fs::read_dir(&trash).map(|r| r.count()).unwrap_or(0);
        if n == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{n} removed containers still in the trash"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn security_opt_seccomp_profiles_and_unconfined() {
    let d = daemon_with_busybox();
    let profile = d.dir.path().join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .expect("profile");
    let opt = format!("seccomp={}", profile.display());
    let o = d.wharf(&[
        "run",
        "--rm",
        "--security-opt",
        &opt,
        "bb",
        "mkdir",
        "/tmp/x",
    ]);
    assert!(!o.status.success(), "mkdir should be denied by the profile");
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
    let out = d.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "bb",
        "grep",
        "Seccomp:",
        "/proc/self/status",
    ]);
    assert!(out.contains("Seccomp:\t0"), "{out}");
    let out = d.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        "bb",
        "grep",
        "NoNewPrivs:",
        "/proc/self/status",
    ]);
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
}

/// The first block device of the host's /dev (none on some machines).
fn a_host_block_device() -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let mut names: Vec<_> = std::fs::read_dir("/dev")
        .ok()?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_block_device()))
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names.into_iter().next().map(|n| format!("/dev/{n}"))
}

#[test]
fn devices_and_privileged_containers() {
    let d = daemon_with_busybox();
    // --device HOST:CONTAINER: the node keeps its numbers under its new name, usable.
    let out = d.ok(&[
        "run",
        "--rm",
        "--device",
        "/dev/null:/dev/mynull",
        "bb",
        "sh",
        "-c",
        "ls -l /dev/mynull && echo hi > /dev/mynull && echo written",
    ]);
    assert!(
        out.starts_with("crw") && out.contains("1,   3") && out.ends_with("written\n"),
        "{out}"
    );
    // Permissions are the cgroup's. A node with numbers of the "local/experimental" range
    // (char 240:0, no driver): opening it when the cgroup allows gives ENXIO, when it
    // denies EPERM.
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("w240");
    let st = std::process::Command::new("mknod")
        .args([node.to_str().unwrap(), "c", "240", "0"])
        .status()
        .unwrap();
    assert!(st.success());
    let dev_r = format!("{}:/dev/w:r", node.display());
    let o = d.wharf(&[
        "run",
        "--rm",
        "--device",
        &dev_r,
        "bb",
        "sh",
        "-c",
        "cat /dev/w; echo x > /dev/w",
    ]);
    let err = stderr(&o);
    assert!(
        err.contains("cat: can't open '/dev/w': No such device or address"),
        "{err}"
    );
    assert!(
        err.contains("can't create /dev/w: Operation not permitted"),
        "{err}"
    );
    let dev_rw = format!("{}:/dev/w", node.display());
    let o = d.wharf(&[
        "run",
        "--rm",
        "--device",
        &dev_rw,
        "bb",
        "sh",
        "-c",
        "echo x > /dev/w",
    ]);
    assert!(
        stderr(&o).contains("No such device or address"),
        "{}",
        stderr(&o)
    );
    let o = d.wharf(&["run", "--rm", "bb", "ls", "/dev/w"]);
    assert!(!o.status.success(), "no --device, no node");
    // A device that is not there: docker's message, exit 125, nothing left behind.
    let o = d.wharf(&["run", "--rm", "--device", "/dev/nope-wharf", "bb", "true"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("error gathering device information while adding custom device"),
        "{}",
        stderr(&o)
    );
    let o = d.wharf(&["run", "--rm", "--device", "/dev/null:rx", "bb", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("bad format for path: rx"),
        "{}",
        stderr(&o)
    );

    // --privileged: the host's devices are there; without it they are not.
    if let Some(dev) = a_host_block_device() {
        let ls = format!("ls {dev} 2>&1; true");
        let out = d.ok(&["run", "--rm", "--privileged", "bb", "sh", "-c", &ls]);
        assert_eq!(out.trim(), dev, "privileged sees {dev}");
        let out = d.ok(&["run", "--rm", "bb", "sh", "-c", &ls]);
        assert!(out.contains("No such file"), "{out}");
    }
    let out = d.ok(&["run", "--rm", "--privileged", "bb", "ls", "/dev/pts"]);
    assert_eq!(out, "ptmx\n", "the container's own devpts, not the host's");

    // The docker CLI sends HostConfig.Devices the same way.
    if let Some(o) = d.docker(&[
        "run",
        "--rm",
        "--device",
        "/dev/null:/dev/dn:rw",
        "bb",
        "ls",
        "-l",
        "/dev/dn",
    ]) {
        assert!(stdout(&o).starts_with("crw"), "{}", stderr(&o));
    }
    let left = d.ok(&["ps", "-aq"]);
    assert_eq!(left, "");
}

#[test]
fn namespace_and_resource_options() {
    let d = daemon_with_busybox();
    let run = |args: &[&str]| {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        d.ok(&a)
    };
    let out = run(&["--shm-size", "128m", "bb", "df", "-k", "/dev/shm"]);
    assert!(
        out.lines().last().unwrap_or("").contains(" 131072 "),
        "{out}"
    );
    let out = run(&[
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--sysctl",
        "kernel.shmmax=4096",
        "bb",
        "cat",
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/kernel/shmmax",
    ]);
    assert_eq!(out, "1\n4096\n");
    let o = d.wharf(&["run", "--rm", "--sysctl", "kernel.hostname=x", "bb", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("is not allowed"), "{}", stderr(&o));
    let out = run(&[
        "--group-add",
        "4242",
        "--group-add",
        "nogroup",
        "bb",
        "id",
        "-G",
    ]);
    assert_eq!(out, "0 4242 65534\n");
    // `exec -u` as another user gets the container's --group-add groups too, as docker's.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ga",
        "--group-add",
        "4242",
        "bb",
        "sleep",
        "100",
    ]);
    assert_eq!(
        d.ok(&["exec", "-u", "65534:65534", "ga", "id", "-G"]),
        "65534 4242\n"
    );
    d.ok(&["rm", "-f", "ga"]);
    let out = run(&[
        "--oom-score-adj",
        "500",
        "bb",
        "cat",
        "/proc/self/oom_score_adj",
    ]);
    assert_eq!(out, "500\n");
    let out = run(&[
        "--cpuset-cpus",
        "0",
        "bb",
        "cat",
        "/sys/fs/cgroup/cpuset/cpuset.cpus",
    ]);
    if !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        assert_eq!(out, "0\n");
        let out = run(&[
            "--oom-kill-disable", "--memory-reservation", "20m", "bb", "sh", "-c",
            "head -1 /sys/fs/cgroup/memory/memory.oom_control; cat /sys/fs/cgroup/memory/memory.soft_limit_in_bytes",
        ]);
        assert_eq!(out, "oom_kill_disable 1\n20971520\n");
    }

    // The host's namespaces.
    let host_ns = |k: &str| std::fs::read_link(format!("/proc/self/ns/{k}")).unwrap();
    let out = run(&["--ipc", "host", "bb", "readlink", "/proc/self/ns/ipc"]);
    assert_eq!(out.trim(), host_ns("ipc").to_string_lossy());
    let out = run(&["--pid", "host", "bb", "readlink", "/proc/self/ns/pid"]);
    assert_eq!(out.trim(), host_ns("pid").to_string_lossy());
    let out = run(&["--uts", "host", "bb", "hostname"]);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(out.trim(), host.trim());

    // Another container's pid and ipc namespaces, /dev/shm included.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--ipc",
        "shareable",
        "bb",
        "sh",
        "-c",
        "echo shared > /dev/shm/f; exec sleep 100",
    ]);
    d.ok(&["run", "-d", "--name", "private", "bb", "sleep", "100"]);
    let o = d.wharf(&["run", "--rm", "--ipc", "container:private", "bb", "true"]);
    assert!(stderr(&o).contains("non-shareable IPC"), "{}", stderr(&o));
    d.ok(&["rm", "-f", "private"]);
    let mut out = String::new();
    for _ in 0..50 {
        let o = d.wharf(&[
            "run",
            "--rm",
            "--ipc",
            "container:donor",
            "--pid",
            "container:donor",
            "bb",
            "sh",
            "-c",
            "cat /dev/shm/f && ps -o comm | grep -c sleep",
        ]);
        out = format!("{}{}", stdout(&o), stderr(&o));
        if o.status.success() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(out, "shared\n1\n");
    let o = d.wharf(&["run", "--rm", "--userns", "remap", "bb", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("not supported"), "{}", stderr(&o));
    d.ok(&["rm", "-f", "donor"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert_eq!(mounts_under(&d.data_root()), 0, "nothing left mounted");
}

/// One request on a fresh connection, with docker's upgrade headers; the answer's head and
/// body (to the end of the stream after `101`, else `Content-Length` bytes).
fn raw_create(d: &Daemon, query: &str, body: &str) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(d.sock()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "POST /v1.52/containers/create?{query} HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\n\
         Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "closed before the answer's head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let mut rest = buf[end + 4..].to_vec();
    if head.starts_with("http/1.1 101") {
        s.read_to_end(&mut rest).expect("read the stream");
    } else {
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("content-length");
        while rest.len() < len {
            let n = s.read(&mut chunk).expect("read");
            assert!(n > 0);
            rest.extend_from_slice(&chunk[..n]);
        }
    }
    (head, rest)
}

/// `run` in one request (ADR-0020), on the wire: `create?wharf-run=1&stdout=1&stderr=1` with
/// an upgrade answers 101 with the id, streams the output in docker's frames and ends with the
/// wait's answer in a frame of stream 0x57; with a tty it is docker's create only;
/// `wharf-start=1` creates and starts, and a start that fails is the answer's error.
#[test]
fn run_in_one_request_on_the_wire() {
    let d = daemon_with_busybox();
    let (head, stream) = raw_create(
        &d,
        "wharf-run=1&stdout=1&stderr=1",
        r#"{"Image":"bb","Cmd":["sh","-c","echo out; echo err >&2; exit 3"],"HostConfig":{"AutoRemove":true}}"#,
    );
    assert!(head.starts_with("http/1.1 101"), "{head}");
    let id = head
        .lines()
        .find_map(|l| l.strip_prefix("x-wharf-container-id: "))
        .expect("the id header")
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "{head}");
    let mut frames = Vec::new();
    let mut pos = 0;
    while pos + 8 <= stream.len() {
        let size = u32::from_be_bytes(stream[pos + 4..pos + 8].try_into().expect("4")) as usize;
        frames.push((
            stream[pos],
            String::from_utf8_lossy(&stream[pos + 8..pos + 8 + size]).to_string(),
        ));
        pos += 8 + size;
    }
    assert_eq!(pos, stream.len(), "whole frames: {stream:?}");
    let (last, answer) = frames.pop().expect("frames");
    assert_eq!(last, 0x57, "{frames:?}");
    assert_eq!(answer, "{\"StatusCode\":3}\n");
    let out: String = frames
        .iter()
        .filter(|f| f.0 == 1)
        .map(|f| f.1.as_str())
        .collect();
    let err: String = frames
        .iter()
        .filter(|f| f.0 == 2)
        .map(|f| f.1.as_str())
        .collect();
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    assert_eq!(d.ok(&["ps", "-aq"]), "", "removed before the answer");

    // A tty: docker's create, nothing started.
    let (head, body) = raw_create(
        &d,
        "wharf-run=1&stdout=1",
        r#"{"Image":"bb","Cmd":["true"],"Tty":true}"#,
    );
    assert!(head.starts_with("http/1.1 201"), "{head}");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let id = v["Id"].as_str().expect("id").to_string();
    assert!(v.get("WharfStarted").is_none(), "{v}");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", &id]).trim(),
        "created"
    );
    d.ok(&["rm", &id]);

    // wharf-start: created and running when answered.
    let (head, body) = raw_create(
        &d,
        "wharf-start=1",
        r#"{"Image":"bb","Cmd":["sleep","60"]}"#,
    );
    assert!(head.starts_with("http/1.1 201"), "{head}");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["WharfStarted"], true, "{v}");
    let id = v["Id"].as_str().expect("id").to_string();
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", &id]).trim(),
        "running"
    );
    d.ok(&["rm", "-f", &id]);

    // A start that fails is the answer; with AutoRemove nothing is left.
    let (head, body) = raw_create(
        &d,
        "wharf-start=1",
        r#"{"Image":"bb","Cmd":["nosuch"],"HostConfig":{"AutoRemove":true}}"#,
    );
    assert!(head.starts_with("http/1.1 400"), "{head}");
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains(r#"exec: \"nosuch\": executable file not found in $PATH"#),
        "{body}"
    );
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}
