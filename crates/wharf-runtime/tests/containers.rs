//! Real containers, as root: lifecycle, isolation, Docker's security defaults, and one
//! regression test per SECURITY.md row that concerns the runtime, named after its CVE.
//! Runs under a fork-per-test harness (see `common`): `cargo test -p wharf-runtime`.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use common::*;
use wharf_runtime::{ExecConfig, NetworkMode, Runtime, Seccomp, Status, Stdio};

fn basic_run_and_cleanup() {
    let f = Fixture::new();
    let cfg = f.config(&["sh", "-c", "echo hello; echo oops >&2"]);
    let out = run(&f, &cfg);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "hello\n");
    assert!(out.stderr.contains("oops"));
}

fn exit_code_propagates() {
    let f = Fixture::new();
    let out = run(&f, &f.config(&["sh", "-c", "exit 3"]));
    assert_eq!(out.code, 3);
}

fn create_start_split_and_upper_persists() {
    let f = Fixture::new();
    let cfg = f.config(&["sh", "-c", "echo made > /marker"]);
    let (pid, _o, _e) = create_piped(&f.rt, &cfg).unwrap();
    assert_eq!(f.rt.state(&cfg.id).unwrap().status, Status::Created);
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !cfg.state_dir.join("upper/marker").exists(),
        "ran before start"
    );
    f.rt.start(&cfg.id).unwrap();
    assert_eq!(wait(pid), 0);
    assert_eq!(f.rt.state(&cfg.id).unwrap().status, Status::Stopped);
    f.rt.delete(&cfg.id, false).unwrap();
    assert_clean(&cfg, pid);
    // The write layer survives delete (stop/start of the same container reuses it).
    assert_eq!(
        std::fs::read_to_string(cfg.state_dir.join("upper/marker")).unwrap(),
        "made\n"
    );
    let out = run(&f, &f.config(&["cat", "/marker"]));
    assert_ne!(out.code, 0, "image was modified");
    let mut again = cfg.clone();
    again.args = vec!["cat".into(), "/marker".into()];
    assert_eq!(run(&f, &again).stdout, "made\n");
}

/// `--rm` containers: the write layer is mounted `volatile` (no syncfs of the host filesystem
/// at unmount), isolation and clean-up are unchanged, and the same layer mounts again
/// (overlayfs leaves a marker that would refuse a second mount).
/// `start_at_once`: the init runs the command as soon as it is ready, without a `start`
/// (which then only records it); the container ends and is removed as any other.
fn start_at_once_runs_without_start() {
    // As the shim is: a subreaper (the runtime's fast cgroup entry, where the start is sent
    // while the container is being created, needs it).
    // SAFETY: plain prctl on this (forked, per-test) process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let f = Fixture::new();
    let mut cfg = f.config(&["sh", "-c", "echo ran > /marker"]);
    cfg.start_at_once = true;
    let (pid, _o, _e) = create_piped(&f.rt, &cfg).unwrap();
    let mut status = 0;
    wait_until(
        "the command to run without a start",
        Duration::from_secs(10),
        || {
            // SAFETY: waitpid on our own child with a valid status pointer.
            unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) == pid }
        },
    );
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    assert_eq!(
        std::fs::read_to_string(cfg.state_dir.join("upper/marker")).unwrap(),
        "ran\n"
    );
    f.rt.start(&cfg.id).unwrap();
    f.rt.delete(&cfg.id, false).unwrap();
    assert_clean(&cfg, pid);
}

fn ephemeral_layer_is_volatile_and_remountable() {
    let f = Fixture::new();
    let mut cfg = f.config(&["sh", "-c", "grep ' / overlay' /proc/mounts; echo x > /made"]);
    cfg.ephemeral = true;
    let out = run(&f, &cfg);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("volatile"), "{}", out.stdout);
    let mut again = cfg.clone();
    again.args = vec!["cat".into(), "/made".into()];
    let out = run(&f, &again);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "x\n");
}

fn default_caps_are_dockers() {
    let f = Fixture::new();
    let out = run(&f, &f.config(&["grep", "^Cap", "/proc/self/status"]));
    assert!(
        out.stdout.contains("CapEff:\t00000000a80425fb"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("CapBnd:\t00000000a80425fb"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("CapPrm:\t00000000a80425fb"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("CapInh:\t0000000000000000"),
        "{}",
        out.stdout
    );
    let mut cfg = f.config(&["grep", "^Cap", "/proc/self/status"]);
    cfg.user = "nobody".into();
    let out = run(&f, &cfg);
    assert!(
        out.stdout.contains("CapEff:\t0000000000000000"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("CapPrm:\t0000000000000000"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("CapBnd:\t00000000a80425fb"),
        "{}",
        out.stdout
    );
    let mut cfg = f.config(&["grep", "^CapEff", "/proc/self/status"]);
    cfg.cap_add = vec!["NET_ADMIN".into()];
    cfg.cap_drop = vec!["CAP_CHOWN".into()];
    let out = run(&f, &cfg);
    assert!(out.stdout.contains("00000000a80435fa"), "{}", out.stdout);
}

fn privileged_gets_everything() {
    let f = Fixture::new();
    let mut cfg = f.config(&[
        "sh",
        "-c",
        "grep -E '^(CapEff|Seccomp):' /proc/self/status; head -c1 /proc/timer_list | wc -c",
    ]);
    cfg.privileged = true;
    let out = run(&f, &cfg);
    let all = wharf_runtime::caps::host_bounding() & ((1u64 << 41) - 1);
    assert!(
        out.stdout.contains(&format!("CapEff:\t{all:016x}")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.ends_with("\n1\n"),
        "timer_list masked when privileged: {}",
        out.stdout
    );
    assert!(out.stdout.contains("Seccomp:\t0"), "{}", out.stdout);
}

fn seccomp_default_is_active() {
    let f = Fixture::new();
    let cfg = f.config(&[
        "sh",
        "-c",
        "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; unshare -m true || echo UNSHARE_DENIED; \
         mount -t tmpfs t /tmp 2>&1 || echo MOUNT_DENIED; (true; true) | cat; echo FORK_OK",
    ]);
    let out = run(&f, &cfg);
    assert!(out.stdout.contains("Seccomp:\t2"), "{}", out.stdout);
    assert!(
        out.stdout.contains("NoNewPrivs:\t0"),
        "docker does not set no_new_privs by default: {}",
        out.stdout
    );
    assert!(
        out.stdout.contains("UNSHARE_DENIED"),
        "{out:?}",
        out = out.stdout
    );
    assert!(
        out.stderr.contains("Operation not permitted"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("MOUNT_DENIED"), "{}", out.stdout);
    assert!(
        out.stdout.contains("FORK_OK"),
        "fork must work under the filter: {}",
        out.stdout
    );
}

fn seccomp_cap_conditional_and_unconfined() {
    let f = Fixture::new();
    // CAP_SYS_ADMIN unlocks unshare/mount in the profile (and the capability allows it).
    let mut cfg = f.config(&["sh", "-c", "unshare -m true && echo UNSHARE_OK"]);
    cfg.cap_add = vec!["SYS_ADMIN".into()];
    let out = run(&f, &cfg);
    assert!(
        out.stdout.contains("UNSHARE_OK"),
        "{} {}",
        out.stdout,
        out.stderr
    );
    let mut cfg = f.config(&[
        "sh",
        "-c",
        "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; unshare -m true || echo DENIED",
    ]);
    cfg.no_new_privileges = true;
    let out = run(&f, &cfg);
    assert_eq!(out.stdout, "NoNewPrivs:\t1\nSeccomp:\t2\nDENIED\n");
    let mut cfg = f.config(&["grep", "^Seccomp:", "/proc/self/status"]);
    cfg.seccomp = Seccomp::Unconfined;
    assert!(run(&f, &cfg).stdout.contains("Seccomp:\t0"));
    // A custom docker-format profile.
    let mut cfg = f.config(&["sh", "-c", "mkdir /x || echo MKDIR_DENIED"]);
    cfg.seccomp = Seccomp::Custom(
        br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#.to_vec(),
    );
    let out = run(&f, &cfg);
    assert!(
        out.stdout.contains("MKDIR_DENIED"),
        "{} {}",
        out.stdout,
        out.stderr
    );
    // An invalid profile is refused, not ignored.
    let mut cfg = f.config(&["true"]);
    cfg.seccomp = Seccomp::Custom(b"{not json".to_vec());
    let e = create_piped(&f.rt, &cfg).expect_err("invalid profile accepted");
    assert_eq!(e.kind(), wharf_runtime::ErrorKind::InvalidArgument);
    assert_clean(&cfg, 999_999_999);
}

fn masked_paths_unreadable() {
    let f = Fixture::new();
    assert!(
        std::fs::read("/proc/timer_list").unwrap().len() > 64,
        "host timer_list empty: test meaningless"
    );
    let cfg = f.config(&[
        "sh",
        "-c",
        "for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do echo \"$p $(head -c 64 $p 2>/dev/null | wc -c)\"; done; \
         echo \"firmware $(ls -A /sys/firmware | wc -l)\"; \
         echo 1 > /proc/sys/kernel/domainname || echo RO_SYS; echo > /proc/sysrq-trigger || echo RO_SYSRQ; \
         touch /sys/firmware/x || echo RO_FIRMWARE",
    ]);
    let out = run(&f, &cfg);
    for p in [
        "/proc/kcore 0",
        "/proc/keys 0",
        "/proc/timer_list 0",
        "/proc/sched_debug 0",
        "firmware 0",
    ] {
        assert!(out.stdout.contains(p), "{p} readable: {}", out.stdout);
    }
    for m in ["RO_SYS", "RO_SYSRQ", "RO_FIRMWARE"] {
        assert!(out.stdout.contains(m), "{m}: {} {}", out.stdout, out.stderr);
    }
}

/// CVE-2025-31133: the file masking paths must be the real /dev/null character device.
fn cve_2025_31133_mask_is_real_dev_null() {
    let f = Fixture::new();
    // (Only masked paths this kernel has: /proc/kcore is absent here.)
    let out = run(
        &f,
        &f.config(&[
            "stat",
            "-c",
            "%F %t:%T",
            "/proc/keys",
            "/proc/timer_list",
            "/dev/null",
        ]),
    );
    assert_eq!(
        out.stdout,
        "character special file 1:3\n".repeat(3),
        "{}",
        out.stderr
    );
}

/// CVE-2026-41579: an image whose /dev is a symlink to a host path must not make the
/// runtime create files on the host; /dev is a fresh tmpfs with real devices (the
/// symlink is replaced by a directory in the container's write layer).
fn cve_2026_41579_dev_symlink_cannot_redirect() {
    let f = Fixture::new();
    let evil = f.dir.path().join("evilroot");
    write_rootfs(&evil);
    let host_dir = tempfile::Builder::new()
        .prefix("wharf-hostdev")
        .tempdir()
        .unwrap();
    std::fs::remove_dir(evil.join("dev")).unwrap();
    std::os::unix::fs::symlink(host_dir.path(), evil.join("dev")).unwrap();
    std::fs::remove_dir(evil.join("proc")).unwrap();
    std::os::unix::fs::symlink(host_dir.path(), evil.join("proc")).unwrap();
    let mut cfg = f.config(&[
        "sh",
        "-c",
        "stat -c %F /dev/null; grep -c ' /dev ' /proc/self/mountinfo",
    ]);
    cfg.lower_dirs = vec![evil];
    let (pid, out, err) = create_piped(&f.rt, &cfg).expect("image with /dev symlink refused");
    f.rt.start(&cfg.id).unwrap();
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::fs::File::from(out), &mut s).unwrap();
    drop(err);
    assert_eq!(wait(pid), 0);
    f.rt.delete(&cfg.id, false).unwrap();
    assert_clean(&cfg, pid);
    let leaked: Vec<_> = std::fs::read_dir(host_dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        leaked.is_empty(),
        "runtime wrote to the host through the image's /dev symlink: {leaked:?}"
    );
    assert!(s.starts_with("character special file\n"), "{s}");
}

/// CVE-2024-21626: a working directory of /proc/self/fd/N must never reach the host,
/// and no runtime fd may leak into the container.
fn cve_2024_21626_no_fd_leak_workdir() {
    let f = Fixture::new();
    // Simulate a leak-prone caller: an fd to the host root without O_CLOEXEC.
    // SAFETY: plain open(2); the fd is owned by `_leak`.
    let raw = unsafe { libc::open(c"/".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(raw >= 0);
    // SAFETY: raw is a fresh fd we own.
    let _leak = unsafe { OwnedFd::from_raw_fd(raw) };
    for n in 3..10 {
        let mut cfg = f.config(&["sh", "-c", "echo ESCAPED; ls .."]);
        cfg.cwd = format!("/proc/self/fd/{n}");
        match create_piped(&f.rt, &cfg) {
            Err(_) => assert_clean(&cfg, 999_999_999),
            Ok((pid, out, _err)) => {
                let _ = f.rt.start(&cfg.id);
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::fs::File::from(out), &mut s).unwrap();
                let code = wait(pid);
                assert!(!s.contains("ESCAPED"), "workdir /proc/self/fd/{n} ran: {s}");
                assert_ne!(code, 0);
                f.rt.delete(&cfg.id, true).unwrap();
                assert_clean(&cfg, pid);
            }
        }
    }
    let out = run(&f, &f.config(&["ls", "/proc/self/fd"]));
    let fds: Vec<&str> = out.stdout.split_whitespace().collect();
    assert!(
        fds.iter().all(|fd| ["0", "1", "2", "3"].contains(fd)),
        "leaked fds: {fds:?}"
    );
}

/// Copy the shared libraries of `exe` into `root` so it can run there.
fn copy_libs(exe: &Path, root: &Path) {
    let out = std::process::Command::new("ldd").arg(exe).output().unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let path = line.split_whitespace().find(|w| w.starts_with('/'));
        if let Some(p) = path {
            let dst = root.join(p.trim_start_matches('/'));
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(p, &dst).unwrap();
        }
    }
}

/// CVE-2019-5736: what a container reaches through /proc/self/exe (here: re-executing
/// the runtime inside the container as its entrypoint) is a sealed memfd copy, not the
/// host binary, so it cannot be overwritten.
fn cve_2019_5736_proc_self_exe_is_sealed_copy() {
    assert!(
        wharf_runtime::selfexe::is_sealed_self(),
        "harness did not re-exec sealed"
    );
    let f = Fixture::new();
    copy_libs(
        Path::new(&format!("/proc/{}/exe", std::process::id())),
        &f.lower(),
    );
    let out = run(&f, &f.config(&["/proc/self/exe", "--probe-exe"]));
    assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
    assert!(out.stdout.contains("exe=/memfd:"), "{}", out.stdout);
    assert!(out.stdout.contains("sealed=true"), "{}", out.stdout);
    assert!(out.stdout.contains("write=denied"), "{}", out.stdout);
}

/// Runs inside the container for the CVE-2019-5736 test.
fn probe_exe() -> ! {
    let exe = std::fs::read_link("/proc/self/exe")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    println!("exe={exe}");
    println!("sealed={}", wharf_runtime::selfexe::is_sealed_self());
    let w = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/exe");
    println!("write={}", if w.is_ok() { "allowed" } else { "denied" });
    std::process::exit(0);
}

fn pid_ns_hostname_and_network() {
    let f = Fixture::new();
    let out = run(
        &f,
        &f.config(&[
            "sh",
            "-c",
            "echo pid=$$; hostname; cat /sys/class/net/lo/flags; ls /sys/class/net",
        ]),
    );
    assert_eq!(out.stdout, "pid=1\nwharftest\n0x9\nlo\n", "{}", out.stderr);
    let mut cfg = f.config(&["sh", "-c", "ls /sys/class/net | wc -l"]);
    cfg.network = NetworkMode::Host;
    let host_ifaces = std::fs::read_dir("/sys/class/net").unwrap().count();
    assert_eq!(run(&f, &cfg).stdout.trim(), host_ifaces.to_string());
    // A namespace made ahead (as a spare shim does), joined by its path: the container is
    // in that one, with loopback up, and this process is back in its own.
    let own = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    let ns = wharf_runtime::new_network_namespace().unwrap();
    assert_eq!(std::fs::read_link("/proc/thread-self/ns/net").unwrap(), own);
    let made = std::fs::read_link(format!("/proc/self/fd/{}", ns.as_raw_fd())).unwrap();
    assert_ne!(made, own);
    let mut cfg = f.config(&[
        "sh",
        "-c",
        "readlink /proc/self/ns/net; cat /sys/class/net/lo/flags; ls /sys/class/net",
    ]);
    cfg.network = NetworkMode::Path(format!("/proc/self/fd/{}", ns.as_raw_fd()).into());
    let out = run(&f, &cfg);
    assert_eq!(
        out.stdout,
        format!("{}\n0x9\nlo\n", made.display()),
        "{}",
        out.stderr
    );
    // The same for an IPC namespace (its own message queues, mounted at /dev/mqueue).
    let own = std::fs::read_link("/proc/thread-self/ns/ipc").unwrap();
    let ns = wharf_runtime::new_ipc_namespace().unwrap();
    assert_eq!(std::fs::read_link("/proc/thread-self/ns/ipc").unwrap(), own);
    let made = std::fs::read_link(format!("/proc/self/fd/{}", ns.as_raw_fd())).unwrap();
    assert_ne!(made, own);
    let mut cfg = f.config(&["readlink", "/proc/self/ns/ipc"]);
    cfg.extra.ipc = NetworkMode::Path(format!("/proc/self/fd/{}", ns.as_raw_fd()).into());
    let out = run(&f, &cfg);
    assert_eq!(
        out.stdout,
        format!("{}\n", made.display()),
        "{}",
        out.stderr
    );
}

fn user_resolution() {
    let f = Fixture::new();
    let mut cfg = f.config(&["id"]);
    cfg.user = "nobody".into();
    assert_eq!(
        run(&f, &cfg).stdout,
        "uid=65534(nobody) gid=65534(nogroup)\n"
    );
    let mut cfg = f.config(&["sh", "-c", "id -u; id -g; echo $HOME"]);
    cfg.user = "1234:5678".into();
    assert_eq!(run(&f, &cfg).stdout, "1234\n5678\n/\n");
    let mut cfg = f.config(&["id"]);
    cfg.user = "ghost".into();
    let e = create_piped(&f.rt, &cfg).expect_err("unknown user accepted");
    assert_eq!(e.kind(), wharf_runtime::ErrorKind::InvalidArgument);
    assert_clean(&cfg, 999_999_999);
}

fn memory_limit_oom_137() {
    let f = Fixture::new();
    let mut cfg = f.config(&["dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"]);
    cfg.memory = Some(32 << 20);
    cfg.memory_swap = Some(32 << 20);
    let (pid, _o, _e) = create_piped(&f.rt, &cfg).unwrap();
    f.rt.start(&cfg.id).unwrap();
    assert_eq!(wait(pid), 137);
    assert!(f.rt.oom_killed(&cfg.id), "oom not reported");
    f.rt.delete(&cfg.id, false).unwrap();
    assert_clean(&cfg, pid);
    let cfg = f.config(&["true"]);
    let (pid, _o, _e) = create_piped(&f.rt, &cfg).unwrap();
    f.rt.start(&cfg.id).unwrap();
    assert_eq!(wait(pid), 0);
    assert!(!f.rt.oom_killed(&cfg.id));
    f.rt.delete(&cfg.id, false).unwrap();
}

fn pids_limit_enforced() {
    let f = Fixture::new();
    let mut cfg = f.config(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 20 ]; do sleep 5 & i=$((i+1)); done; echo done",
    ]);
    cfg.pids_limit = Some(8);
    let out = run(&f, &cfg);
    assert!(
        out.stderr.contains("fork"),
        "no fork failure: {} / {}",
        out.stdout,
        out.stderr
    );
}

fn readonly_rootfs_and_tmpfs() {
    let f = Fixture::new();
    let mut cfg = f.config(&["sh", "-c", "touch /x 2>&1; touch /tmp/ok && echo TMP_OK"]);
    cfg.readonly_rootfs = true;
    cfg.tmpfs = vec![("/tmp".into(), "size=1m".into())];
    let out = run(&f, &cfg);
    assert!(
        out.stdout.contains("Read-only file system"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("TMP_OK"), "{}", out.stdout);
}

fn exec_gets_container_security() {
    let f = Fixture::new();
    let cfg = f.config(&["sleep", "30"]);
    let (pid, _o, _e) = create_piped(&f.rt, &cfg).unwrap();
    f.rt.start(&cfg.id).unwrap();
    let (out_r, out_w) = pipe();
    let p = ExecConfig {
        args: vec!["sh".into(), "-c".into(), "grep -E '^(Seccomp|CapEff|CapPrm):' /proc/self/status; hostname; echo $FOO; unshare -m true || echo DENIED".into()],
        env: vec!["FOO=bar".into()],
        ..ExecConfig::default()
    };
    let epid =
        f.rt.exec(
            &cfg.id,
            &p,
            Stdio::Fds {
                stdin: devnull(),
                stdout: out_w,
                stderr: devnull(),
            },
        )
        .unwrap();
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::fs::File::from(out_r), &mut s).unwrap();
    assert_eq!(wait(epid), 0);
    assert!(s.contains("Seccomp:\t2"), "exec runs unfiltered: {s}");
    assert!(
        s.contains("CapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb"),
        "{s}"
    );
    assert!(s.contains("wharftest\nbar\nDENIED"), "{s}");
    let (out_r, out_w) = pipe();
    let p = ExecConfig {
        args: vec!["id".into(), "-u".into()],
        user: "nobody".into(),
        ..ExecConfig::default()
    };
    let epid =
        f.rt.exec(
            &cfg.id,
            &p,
            Stdio::Fds {
                stdin: devnull(),
                stdout: out_w,
                stderr: devnull(),
            },
        )
        .unwrap();
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::fs::File::from(out_r), &mut s).unwrap();
    assert_eq!(wait(epid), 0);
    assert_eq!(s, "65534\n");
    f.rt.kill(&cfg.id, libc::SIGKILL, true).unwrap();
    assert_eq!(wait(pid), 137);
    f.rt.delete(&cfg.id, false).unwrap();
    assert_clean(&cfg, pid);
}

fn pause_resume_stats_kill() {
    let f = Fixture::new();
    let mut cfg = f.config(&["sleep", "30"]);
    cfg.memory = Some(64 << 20);
    cfg.pids_limit = Some(50);
    let (pid, _o, _e) = create_piped(&f.rt, &cfg).unwrap();
    f.rt.start(&cfg.id).unwrap();
    assert_eq!(f.rt.state(&cfg.id).unwrap().status, Status::Running);
    let s = f.rt.stats(&cfg.id).unwrap();
    assert_eq!(s.memory_limit, 64 << 20);
    assert!(
        s.memory_usage > 0 && s.pids >= 1 && s.cpu_usage_ns > 0,
        "{s:?}"
    );
    f.rt.pause(&cfg.id).unwrap();
    assert_eq!(f.rt.state(&cfg.id).unwrap().status, Status::Paused);
    f.rt.resume(&cfg.id).unwrap();
    assert_eq!(f.rt.state(&cfg.id).unwrap().status, Status::Running);
    assert!(
        f.rt.delete(&cfg.id, false).is_err(),
        "deleted a running container without force"
    );
    f.rt.kill(&cfg.id, libc::SIGKILL, false).unwrap();
    assert_eq!(wait(pid), 137);
    f.rt.delete(&cfg.id, false).unwrap();
    assert_clean(&cfg, pid);
    assert!(matches!(
        f.rt.state(&cfg.id),
        Err(wharf_runtime::Error::NotFound(_))
    ));
}

fn force_delete_running_leaves_nothing() {
    let f = Fixture::new();
    let cfg = f.config(&["sh", "-c", "sleep 30 & sleep 30 & wait"]);
    let (pid, _o, _e) = create_piped(&f.rt, &cfg).unwrap();
    f.rt.start(&cfg.id).unwrap();
    wait_until("children", Duration::from_secs(5), || {
        f.rt.stats(&cfg.id).map(|s| s.pids >= 3).unwrap_or(false)
    });
    f.rt.delete(&cfg.id, true).unwrap();
    assert_eq!(wait(pid), 137);
    assert_clean(&cfg, pid);
    // delete of a created (never started) container too
    let cfg = f.config(&["true"]);
    let (pid, _o, _e) = create_piped(&f.rt, &cfg).unwrap();
    f.rt.delete(&cfg.id, false).unwrap();
    wait(pid);
    assert_clean(&cfg, pid);
}

fn tty_console_socket() {
    let f = Fixture::new();
    let sock_path = f.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let mut cfg = f.config(&["sh", "-c", "tty; echo hi"]);
    cfg.tty = true;
    let pid =
        f.rt.create(&cfg, Stdio::Console(sock_path.clone()))
            .unwrap();
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 64];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    let mut master = None;
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the fd was just received and is owned by nobody else.
            master = Some(unsafe { OwnedFd::from_raw_fd(fds[0]) });
        }
    }
    let master = master.expect("no pty master received");
    f.rt.start(&cfg.id).unwrap();
    let mut out = Vec::new();
    let mut file = std::fs::File::from(master);
    let mut chunk = [0u8; 256];
    loop {
        match std::io::Read::read(&mut file, &mut chunk) {
            Ok(0) | Err(_) => break, // EIO once the slave side is closed
            Ok(n) => out.extend_from_slice(&chunk[..n]),
        }
    }
    let s = String::from_utf8_lossy(&out);
    assert_eq!(wait(pid), 0);
    assert!(s.contains("/dev/pts/0") && s.contains("hi"), "{s:?}");
    f.rt.delete(&cfg.id, false).unwrap();
    assert_clean(&cfg, pid);
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--probe-exe") {
        probe_exe();
    }
    // As the shim will: run from a sealed copy of ourselves (CVE-2019-5736).
    wharf_runtime::selfexe::ensure_sealed_self().expect("re-exec from sealed memfd");
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WHARF_LOG")
                .unwrap_or_else(|_| "warn,libcgroups=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    harness(&[
        ("basic_run_and_cleanup", basic_run_and_cleanup),
        ("exit_code_propagates", exit_code_propagates),
        (
            "create_start_split_and_upper_persists",
            create_start_split_and_upper_persists,
        ),
        (
            "start_at_once_runs_without_start",
            start_at_once_runs_without_start,
        ),
        (
            "ephemeral_layer_is_volatile_and_remountable",
            ephemeral_layer_is_volatile_and_remountable,
        ),
        ("default_caps_are_dockers", default_caps_are_dockers),
        ("privileged_gets_everything", privileged_gets_everything),
        ("seccomp_default_is_active", seccomp_default_is_active),
        (
            "seccomp_cap_conditional_and_unconfined",
            seccomp_cap_conditional_and_unconfined,
        ),
        ("masked_paths_unreadable", masked_paths_unreadable),
        (
            "cve_2025_31133_mask_is_real_dev_null",
            cve_2025_31133_mask_is_real_dev_null,
        ),
        (
            "cve_2026_41579_dev_symlink_cannot_redirect",
            cve_2026_41579_dev_symlink_cannot_redirect,
        ),
        (
            "cve_2024_21626_no_fd_leak_workdir",
            cve_2024_21626_no_fd_leak_workdir,
        ),
        (
            "cve_2019_5736_proc_self_exe_is_sealed_copy",
            cve_2019_5736_proc_self_exe_is_sealed_copy,
        ),
        ("pid_ns_hostname_and_network", pid_ns_hostname_and_network),
        ("user_resolution", user_resolution),
        ("memory_limit_oom_137", memory_limit_oom_137),
        ("pids_limit_enforced", pids_limit_enforced),
        ("readonly_rootfs_and_tmpfs", readonly_rootfs_and_tmpfs),
        ("exec_gets_container_security", exec_gets_container_security),
        ("pause_resume_stats_kill", pause_resume_stats_kill),
        (
            "force_delete_running_leaves_nothing",
            force_delete_running_leaves_nothing,
        ),
        ("tty_console_socket", tty_console_socket),
    ]);
}
