//! The e2e harness: a real `wharf daemon` on a private socket and data root per test, the
//! `wharf` CLI and the real `docker` CLI pointed at it, and small image fixtures made from the
//! host's static busybox.

#![allow(dead_code)]

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const WHARF: &str = env!("CARGO_BIN_EXE_wharf");

/// Where the Debian package `busybox-static` puts its binary.
pub fn busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("busybox-static is not installed (apt-get install busybox-static)");
}

/// A daemon of our own; killed and its data removed on drop.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    /// Extra environment of the daemon process (kept across restarts).
    pub env: Vec<(String, String)>,
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with_env(&[])
    }

    /// [`Daemon::start`] with `env` set for the daemon process (at every spawn).
    pub fn start_with_env(env: &[(&str, &str)]) -> Daemon {
        let mut d = Daemon::unstarted();
        d.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        d.spawn();
        d
    }

    /// Its directory, no process yet.
    pub fn unstarted() -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("wharf-e2e-")
            .tempdir_in(test_tmp())
            .expect("tempdir");
        Daemon {
            dir,
            child: None,
            env: Vec::new(),
        }
    }

    pub fn sock(&self) -> PathBuf {
        self.dir.path().join("wharf.sock")
    }
    pub fn host(&self) -> String {
        format!("unix://{}", self.sock().display())
    }
    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// (Re)starts the daemon process on the same socket and data root.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .expect("log");
        let child = Command::new(WHARF)
            .args(["daemon", "--host", &self.host(), "--data-root"])
            .arg(self.data_root())
            // Tests never reach beyond this machine: registries and ADD URLs on loopback only.
            .env("WHARF_REGISTRY_LOOPBACK_ONLY", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn daemon");
        self.child = Some(child);
        wait_for_socket(&self.sock(), Duration::from_secs(20));
    }

    /// SIGKILL, no goodbye: what a crash looks like. Returns once the killed daemon's socket
    /// no longer answers: a child it had just forked to run a program holds a copy of its
    /// descriptors until its `exec`, and a restart must not mistake that for the new daemon.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(self.sock()).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// Runs `wharf ARGS` against this daemon.
    pub fn wharf(&self, args: &[&str]) -> Output {
        self.wharf_cmd(args).output().expect("run wharf")
    }

    pub fn wharf_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(WHARF);
        c.arg("-H")
            .arg(self.host())
            .args(args)
            .env("WHARF_NO_AUTOSTART", "1")
            .stdin(Stdio::null());
        c
    }

    /// Runs `wharf ARGS` with `input` on stdin.
    pub fn wharf_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        run_with_stdin(self.wharf_cmd(args), input)
    }

    /// `wharf ARGS`, asserting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.wharf(args);
        assert!(
            o.status.success(),
            "wharf {args:?} failed: {}\n{}",
            stderr(&o),
            self.log()
        );
        stdout(&o)
    }

    /// The real `docker` CLI against this daemon, or None where it is not installed.
    pub fn docker_cmd(&self, args: &[&str]) -> Option<Command> {
        docker_cli()?;
        let mut c = Command::new("docker");
        c.args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null());
        Some(c)
    }

    pub fn docker(&self, args: &[&str]) -> Option<Output> {
        Some(self.docker_cmd(args)?.output().expect("run docker"))
    }

    /// A one-layer busybox image made with `wharf import`, tagged `name`. Returns its id.
    pub fn import_busybox(&self, name: &str) -> String {
        let tar = busybox_rootfs_tar(&[]);
        let o = self.wharf_stdin(&["import", "-c", "CMD [\"sh\"]", "-", name], &tar);
        assert!(
            o.status.success(),
            "import failed: {}\n{}",
            stderr(&o),
            self.log()
        );
        stdout(&o).trim().to_string()
    }

    pub fn image_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .ok(&["images", "-q", "--no-trunc"])
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            // What a failed test left running goes through the API: containers (and with
            // them their veths and host ports), then user networks (their bridges).
            let ids = self.wharf(&["ps", "-aq"]);
            let ids: Vec<String> = stdout(&ids)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids.iter().map(String::as_str));
                let _ = self.wharf(&args);
            }
            let _ = self.wharf(&["network", "prune", "-f"]);
        }
        if let Some(mut c) = self.child.take() {
            // SIGTERM first: the daemon removes its socket on a clean stop.
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(c.id() as i32).expect("pid"),
                rustix::process::Signal::TERM,
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut exited = false;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    exited = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if !exited {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        self.remove_kernel_objects();
    }
}

impl Daemon {
    /// The test daemon's nftables table and default bridge (a real daemon keeps them, as
    /// dockerd keeps docker0; a test must not leave them on the machine).
    pub fn nft_table(&self) -> Option<String> {
        std::fs::read_to_string(self.data_root().join("nft-table"))
            .ok()
            .map(|s| s.trim().to_string())
    }
    pub fn default_bridge(&self) -> Option<String> {
        let t = self.nft_table()?;
        let tag = t.strip_prefix("wharf_")?;
        Some(format!("wh{}", &tag[..8.min(tag.len())]))
    }
    fn remove_kernel_objects(&self) {
        if let Some(t) = self.nft_table() {
            remove_filter_rules_of(&t);
            for family in ["ip", "ip6"] {
                let _ = Command::new("nft")
                    .args(["delete", "table", family, &t])
                    .stderr(Stdio::null())
                    .status();
            }
        }
        if let Some(b) = self.default_bridge() {
            let _ = Command::new("ip")
                .args(["link", "del", &b])
                .stderr(Stdio::null())
                .status();
        }
        // What the daemon keeps mounted in its data root beyond its own life (volumes with
        // mount options stay mounted until removed, as a real daemon's do).
        let root = self.data_root().display().to_string();
        let mut points: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&format!("{root}/")))
            .map(str::to_string)
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = rustix::mount::unmount(p.as_str(), rustix::mount::UnmountFlags::DETACH);
        }
    }
}

/// Test scratch space on the same filesystem as the data root would be (not a tmpfs /tmp:
/// overlayfs and xattrs behave as in production).
pub fn test_tmp() -> PathBuf {
    let p = std::env::var_os("WHARF_TEST_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/wharf-e2e"));
    std::fs::create_dir_all(&p).expect("test tmp");
    p
}

pub fn wait_for_socket(sock: &Path, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if UnixStream::connect(sock).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("daemon did not come up on {}", sock.display());
}

pub fn run_with_stdin(mut c: Command, input: &[u8]) -> Output {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let w = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let o = child.wait_with_output().expect("wait");
    let _ = w.join();
    o
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn docker_cli() -> Option<()> {
    let ok = Command::new("docker")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match ok {
        Ok(s) if s.success() => Some(()),
        _ => {
            eprintln!("SKIP: the docker CLI is not on PATH");
            None
        }
    }
}

/// A root filesystem tar: static busybox with a few applet links, /etc/passwd and /etc/group,
/// plus `extra` (path, contents) files.
pub fn busybox_rootfs_tar(extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, p: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, p, std::io::empty()).expect("dir");
    };
    let file = |b: &mut tar::Builder<Vec<u8>>, p: &str, data: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, p, data).expect("file");
    };
    for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"] {
        dir(&mut b, d);
    }
    let bb = std::fs::read(busybox()).expect("read busybox");
    file(&mut b, "bin/busybox", &bb, 0o755);
    let list = Command::new(busybox())
        .arg("--list")
        .output()
        .expect("busybox --list");
    let applets: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|a| !a.is_empty() && *a != "busybox")
        .map(str::to_string)
        .collect();
    for applet in &applets {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .expect("link");
    }
    file(
        &mut b,
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        0o644,
    );
    file(&mut b, "etc/group", b"root:x:0:\nnogroup:x:65534:\n", 0o644);
    for (p, data) in extra {
        file(&mut b, p, data, 0o644);
    }
    b.into_inner().expect("tar")
}

/// A private reference Docker engine (Debian's docker.io) for interop tests, or None where
/// `dockerd` is not installed or does not come up. Stopped on drop.
pub struct RefDocker {
    pub dir: tempfile::TempDir,
    child: Child,
}

impl RefDocker {
    pub fn start() -> Option<RefDocker> {
        if Command::new("dockerd")
            .arg("--version")
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            eprintln!("SKIP: dockerd (Debian docker.io) is not installed; the Docker side of this test is skipped");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("refdocker-")
            .tempdir_in(test_tmp())
            .ok()?;
        let d = dir.path();
        let log = std::fs::File::create(d.join("dockerd.log")).ok()?;
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(d.join("root"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("pid"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--containerd-namespace",
            ])
            .arg(format!("wharf-e2e-{}", std::process::id()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().ok()?)
            .stderr(log)
            .spawn()
            .ok()?;
        let r = RefDocker { dir, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if r.docker(&["version"]).status.success() {
                return Some(r);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!(
            "SKIP: dockerd did not come up: {}",
            std::fs::read_to_string(r.dir.path().join("dockerd.log")).unwrap_or_default()
        );
        None
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(args)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.path().join("docker.sock").display()),
            )
            .env("DOCKER_CONFIG", self.dir.path().join("config"))
            .output()
            .expect("docker")
    }
}

impl Drop for RefDocker {
    fn drop(&mut self) {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(self.child.id() as i32).expect("pid"),
            rustix::process::Signal::TERM,
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The committed fixture made by a real `docker save` (Docker 20.10): `fixture/base:1`
/// (an import of static busybox) and `fixture/layered:2` (two RUN layers on it, one deleting
/// `/bin/false` and one replacing a directory — whiteouts and an opaque dir).
pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/docker-save-busybox.tar")
}
pub const FIXTURE_BASE_ID: &str =
    "sha256:0074ab7e1bdab01f7af0e969cae83d2c3e6bcec1ef20ad047e2140846073e82b";
pub const FIXTURE_LAYERED_ID: &str =
    "sha256:7bdda8a89dd81bcd4978bc6bbaf9eb926951f31ccbd12412976d82032695d499";

/// A network namespace of the test's own (`ip netns add`), loopback up; deleted on drop with
/// everything in it (links, nftables tables). Lets a test change firewall state that would
/// disturb other tests on the host (an `ip filter` FORWARD policy drop, as dockerd sets).
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    pub fn new(tag: &str) -> NetNs {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "wt{tag}{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {name}");
        let ns = NetNs { name };
        ns.run(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// A command run inside the namespace (only the network namespace changes).
    pub fn cmd(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.path())).arg("--").args(argv);
        c
    }

    /// Runs `argv` in the namespace, asserting success; returns stdout.
    pub fn run(&self, argv: &[&str]) -> String {
        let o = self.cmd(argv).output().expect("nsenter");
        assert!(
            o.status.success(),
            "{argv:?} in {}: {}",
            self.name,
            stderr(&o)
        );
        stdout(&o)
    }

    /// `nft -f -` in the namespace.
    pub fn nft(&self, script: &str) {
        let o = run_with_stdin(self.cmd(&["nft", "-f", "-"]), script.as_bytes());
        assert!(
            o.status.success(),
            "nft in {}: {}\n{script}",
            self.name,
            stderr(&o)
        );
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

impl Daemon {
    /// A daemon whose network namespace is `ns`'s (its bridges, tables and published ports
    /// live there; its socket and data root are ordinary files).
    pub fn start_in_netns(ns: &NetNs) -> Daemon {
        let mut d = Daemon::unstarted();
        let log = std::fs::File::create(d.dir.path().join("daemon.log")).expect("log");
        let child = ns
            .cmd(&[WHARF, "daemon", "--host", &d.host(), "--data-root"])
            .arg(d.data_root())
            .env("WHARF_REGISTRY_LOOPBACK_ONLY", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn daemon");
        d.child = Some(child);
        wait_for_socket(&d.sock(), Duration::from_secs(20));
        d
    }

    /// Starts the daemon again in `ns` on the same socket and data root (after `kill9`).
    pub fn respawn_in_netns(&mut self, ns: &NetNs) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .expect("log");
        let child = ns
            .cmd(&[WHARF, "daemon", "--host", &self.host(), "--data-root"])
            .arg(self.data_root())
            .env("WHARF_REGISTRY_LOOPBACK_ONLY", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn daemon");
        self.child = Some(child);
        wait_for_socket(&self.sock(), Duration::from_secs(20));
    }
}

/// Deletes the accept rules a daemon with nftables table `table` put in `ip filter` (where
/// another firewall's FORWARD drops by default); they carry `comment "<table>"`.
pub fn remove_filter_rules_of(table: &str) {
    for family in ["ip", "ip6"] {
        remove_filter_rules_in(family, table);
    }
}

fn remove_filter_rules_in(family: &str, table: &str) {
    let Ok(o) = Command::new("nft")
        .args(["-a", "list", "table", family, "filter"])
        .stderr(Stdio::null())
        .output()
    else {
        return;
    };
    let mark = format!("comment \"{table}\" # handle ");
    let mut chain = String::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("chain ") {
            chain = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        } else if let Some((_, h)) = l.split_once(&mark) {
            let _ = Command::new("nft")
                .args([
                    "delete",
                    "rule",
                    family,
                    "filter",
                    &chain,
                    "handle",
                    h.trim(),
                ])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// What a daemon on `data_root` leaves in the kernel (its table, accept rules, default
/// bridge), removed: for daemons the harness did not start (the CLI's autostart).
pub fn remove_kernel_objects_of(data_root: &Path) {
    let Ok(t) = std::fs::read_to_string(data_root.join("nft-table")) else {
        return;
    };
    let t = t.trim();
    remove_filter_rules_of(t);
    for family in ["ip", "ip6"] {
        let _ = Command::new("nft")
            .args(["delete", "table", family, t])
            .stderr(Stdio::null())
            .status();
    }
    if let Some(tag) = t.strip_prefix("wharf_") {
        let _ = Command::new("ip")
            .args(["link", "del", &format!("wh{}", &tag[..8.min(tag.len())])])
            .stderr(Stdio::null())
            .status();
    }
}
