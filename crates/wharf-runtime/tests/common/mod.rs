//! Test support: a busybox rootfs, unique containers, running one to completion, and a
//! tiny fork-per-test harness. libcontainer forks the calling process, so every test runs
//! in its own forked child of a single-threaded harness process — the same shape as
//! Wharf's shim — instead of libtest's threads.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wharf_runtime::{ContainerConfig, LibcontainerRuntime, Runtime, Stdio};

pub const APPLETS: &[&str] = &[
    "sh", "cat", "id", "echo", "true", "false", "ls", "stat", "hostname", "readlink", "grep",
    "unshare", "mount", "sleep", "head", "dd", "touch", "mkdir", "ps", "kill", "test", "wc", "tr",
    "env", "pwd", "ip", "rm", "ln", "sync", "seq", "nproc", "dmesg",
];

/// A fresh tempdir holding `rootfs/` (busybox + /etc) and room for state dirs.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub rt: LibcontainerRuntime,
}

pub fn write_rootfs(root: &Path) {
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "root"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("wharf-rt-test")
            .tempdir()
            .unwrap();
        write_rootfs(&dir.path().join("rootfs"));
        let rt = LibcontainerRuntime::new(dir.path().join("run")).unwrap();
        Fixture { dir, rt }
    }

    pub fn lower(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// A config with a unique 64-hex id running `args`.
    pub fn config(&self, args: &[&str]) -> ContainerConfig {
        let id = unique_id();
        ContainerConfig {
            state_dir: self.dir.path().join("containers").join(&id),
            id,
            lower_dirs: vec![self.lower()],
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec!["PATH=/bin".into()],
            hostname: "wharftest".into(),
            ..ContainerConfig::default()
        }
    }
}

/// A failed test must not leave containers behind: force-delete whatever is still in
/// this fixture's runtime root, then reap.
impl Drop for Fixture {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.rt.root()) else {
            return;
        };
        for e in entries.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if !id.starts_with('.') {
                if let Err(err) = self.rt.delete(&id, true) {
                    eprintln!("fixture cleanup of {id}: {err}");
                }
            }
        }
        // SAFETY: reap any of our children without blocking.
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
    }
}

pub fn unique_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let a = t ^ (std::process::id() as u64) << 40;
    let b = N
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ std::process::id() as u64;
    format!(
        "{:016x}{:016x}{:016x}{:016x}",
        a,
        b,
        a.rotate_left(17),
        b.rotate_left(29)
    )
}

pub fn pipe() -> (OwnedFd, OwnedFd) {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap()
}

pub fn devnull() -> OwnedFd {
    std::fs::File::open("/dev/null").unwrap().into()
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Wait for a child pid; 128+signal for a signalled process (as docker reports).
pub fn wait(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: waitpid on our own child with a valid status pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid, "waitpid: {}", std::io::Error::last_os_error());
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

fn read_all(fd: OwnedFd) -> String {
    let mut s = String::new();
    std::fs::File::from(fd).read_to_string(&mut s).unwrap();
    s
}

/// Spawn with pipes for stdout/stderr; returns pid and read ends.
pub fn create_piped(
    rt: &LibcontainerRuntime,
    cfg: &ContainerConfig,
) -> wharf_runtime::Result<(i32, OwnedFd, OwnedFd)> {
    let (out_r, out_w) = pipe();
    let (err_r, err_w) = pipe();
    let pid = rt.create(
        cfg,
        Stdio::Fds {
            stdin: devnull(),
            stdout: out_w,
            stderr: err_w,
        },
    )?;
    Ok((pid, out_r, err_r))
}

/// create + start + wait + delete, checking that delete leaves nothing behind.
pub fn run(f: &Fixture, cfg: &ContainerConfig) -> Output {
    let (pid, out_r, err_r) = create_piped(&f.rt, cfg).expect("create");
    f.rt.start(&cfg.id).expect("start");
    let stdout = read_all(out_r);
    let stderr = read_all(err_r);
    let code = wait(pid);
    f.rt.delete(&cfg.id, false).expect("delete");
    assert_clean(cfg, pid);
    Output {
        code,
        stdout,
        stderr,
    }
}

/// Nothing left: no mount under state_dir, no cgroup dir in any hierarchy, no process,
/// no runtime state. Only the runtime's unmounted directories may remain in state_dir
/// (the write layer, and what the next start reuses; the engine removes them on `rm`).
pub fn assert_clean(cfg: &ContainerConfig, pid: i32) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let sd = cfg.state_dir.to_string_lossy().to_string();
    let left: Vec<&str> = info.lines().filter(|l| l.contains(&sd)).collect();
    assert!(left.is_empty(), "mounts left: {left:?}");
    let cg = wharf_runtime::cgroup::existing_dirs(&wharf_runtime::spec::cgroups_path(&cfg.id));
    assert!(cg.is_empty(), "cgroups left: {cg:?}");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} left"
    );
    if cfg.state_dir.exists() {
        let names: Vec<String> = std::fs::read_dir(&cfg.state_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let reused = ["bundle", "cgroup", "empty", "rootfs", "upper", "work"];
        assert!(
            names.iter().all(|n| reused.contains(&n.as_str())),
            "state dir left: {names:?}"
        );
    }
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub type TestFn = fn();

/// Run tests, each in a forked child with output captured; `jobs` at a time.
pub fn harness(tests: &[(&'static str, TestFn)]) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (n, _) in tests {
            println!("{n}: test");
        }
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let selected: Vec<&(&str, TestFn)> = tests
        .iter()
        .filter(|(n, _)| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str())))
        .collect();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipping {} container tests: not root", selected.len());
        return;
    }
    let jobs: usize = std::env::var("WHARF_TEST_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    println!("running {} tests", selected.len());
    let mut queue = selected.into_iter();
    let mut running: Vec<(i32, &str, std::fs::File, Instant)> = Vec::new();
    let mut failed = Vec::new();
    let mut passed = 0;
    loop {
        while running.len() < jobs {
            let Some((name, f)) = queue.next() else { break };
            let log = tempfile::tempfile().unwrap();
            // SAFETY: the harness is single-threaded, so the child may run arbitrary code.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: dup2 onto our own stdout/stderr.
                unsafe {
                    libc::dup2(log.as_raw_fd(), 1);
                    libc::dup2(log.as_raw_fd(), 2);
                }
                // SAFETY: a watchdog for a hung test: SIGALRM kills the child.
                unsafe { libc::alarm(120) };
                let r = std::panic::catch_unwind(f);
                // SAFETY: _exit skips atexit handlers and tempdir drops of the parent.
                unsafe { libc::_exit(if r.is_ok() { 0 } else { 101 }) };
            }
            running.push((pid, name, log, Instant::now()));
        }
        if running.is_empty() {
            break;
        }
        let mut status = 0;
        // SAFETY: wait for any child.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        let Some(i) = running.iter().position(|r| r.0 == pid) else {
            continue;
        };
        let (_, name, mut log, t) = running.remove(i);
        let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        if ok {
            passed += 1;
            println!("test {name} ... ok ({} ms)", t.elapsed().as_millis());
            if std::env::var_os("WHARF_TEST_VERBOSE").is_some() {
                use std::io::Seek;
                let mut s = String::new();
                log.seek(std::io::SeekFrom::Start(0)).unwrap();
                log.read_to_string(&mut s).unwrap();
                print!("{s}");
            }
        } else {
            use std::io::Seek;
            let mut s = String::new();
            log.seek(std::io::SeekFrom::Start(0)).unwrap();
            log.read_to_string(&mut s).unwrap();
            println!("test {name} ... FAILED (status {status:#x})\n---- {name} output ----\n{s}");
            failed.push(name);
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len()
    );
    if !failed.is_empty() {
        println!("failures: {failed:?}");
        std::process::exit(101);
    }
}
