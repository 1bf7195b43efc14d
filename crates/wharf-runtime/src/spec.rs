//! [`ContainerConfig`] → OCI runtime spec, with Docker's defaults: namespaces, the
//! standard mounts (a fresh tmpfs `/dev`, devpts, shm, mqueue, ro sysfs and cgroupfs),
//! masked and read-only `/proc` paths, capabilities, seccomp, rlimits, cgroup resources
//! and a devices cgroup that only allows the standard character devices.

use std::path::Path;

use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use crate::config::{ContainerConfig, NetworkMode, Seccomp};
use crate::error::{Error, Result};
use crate::rootfs::Ahead;
use crate::user::ResolvedUser;
use crate::{caps, seccomp};

/// Paths hidden from the container (moby `oci/defaults.go`): a /dev/null bind over files,
/// an empty read-only tmpfs over directories.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths the container may read but not write.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// cgroup path of a container, relative to each hierarchy's root (v1) or the unified root.
pub fn cgroups_path(id: &str) -> String {
    format!("/wharf/{id}")
}

/// Docker's default devices cgroup: deny all, allow mknod of any device (the device node
/// is useless without read/write access) and read/write of the standard character
/// devices: null, zero, full, random, urandom, tty, console, ptmx, pts/*, net/tun.
pub fn default_device_rules() -> Value {
    let mut rules = vec![
        json!({"allow": false, "access": "rwm"}),
        json!({"allow": true, "type": "c", "access": "m"}),
        json!({"allow": true, "type": "b", "access": "m"}),
    ];
    for (maj, min) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (10, 200),
    ] {
        rules
            .push(json!({"allow": true, "type": "c", "major": maj, "minor": min, "access": "rwm"}));
    }
    rules.push(json!({"allow": true, "type": "c", "major": 136, "access": "rwm"}));
    Value::Array(rules)
}

fn rlimit_name(name: &str) -> Result<String> {
    let up = name.trim().to_ascii_uppercase();
    let full = if up.starts_with("RLIMIT_") {
        up
    } else {
        format!("RLIMIT_{up}")
    };
    const KNOWN: [&str; 16] = [
        "RLIMIT_AS",
        "RLIMIT_CORE",
        "RLIMIT_CPU",
        "RLIMIT_DATA",
        "RLIMIT_FSIZE",
        "RLIMIT_LOCKS",
        "RLIMIT_MEMLOCK",
        "RLIMIT_MSGQUEUE",
        "RLIMIT_NICE",
        "RLIMIT_NOFILE",
        "RLIMIT_NPROC",
        "RLIMIT_RSS",
        "RLIMIT_RTPRIO",
        "RLIMIT_RTTIME",
        "RLIMIT_SIGPENDING",
        "RLIMIT_STACK",
    ];
    if KNOWN.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(Error::InvalidConfig(format!("unknown ulimit {name:?}")))
    }
}

/// Environment with docker's defaults: PATH if the image set none, HOSTNAME, HOME.
pub fn default_env(env: &[String], hostname: &str, home: &str) -> Vec<String> {
    let mut out: Vec<String> = env.to_vec();
    let has = |out: &Vec<String>, k: &str| out.iter().any(|e| e.split('=').next() == Some(k));
    if !has(&out, "PATH") {
        out.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    if !hostname.is_empty() && !has(&out, "HOSTNAME") {
        out.push(format!("HOSTNAME={hostname}"));
    }
    if !has(&out, "HOME") {
        out.push(format!("HOME={home}"));
    }
    out
}

/// The `process.capabilities` object; a non-root user gets the set only as its bounding
/// set (effective/permitted empty), as Docker does.
pub fn capabilities_json(set: &[String], uid: u32) -> Value {
    let eff: &[String] = if uid == 0 { set } else { &[] };
    json!({
        "bounding": set, "effective": eff, "permitted": eff,
        "inheritable": [], "ambient": [],
    })
}

/// Whether the creating process mounts what `is` picks out in the container's mount
/// namespace made ahead.
fn made_ahead(attach: Option<&crate::cgroup::V1Attach>, is: impl Fn(&Ahead) -> bool) -> bool {
    attach.is_some_and(|a| a.makes(is))
}

/// For a namespace that exists before the container's init: `Some(None)` for the host's,
/// `Some(Some(path))` for one joined by its path; `None` for one the init makes.
pub fn joined_namespace(mode: &NetworkMode) -> Option<Option<std::path::PathBuf>> {
    match mode {
        NetworkMode::New => None,
        NetworkMode::Host => Some(None),
        NetworkMode::Path(p) => Some(Some(p.clone())),
    }
}

/// docker's `--shm-size` default.
pub const DEFAULT_SHM_SIZE: i64 = 67108864;

/// The size of the container's own /dev/shm tmpfs (`None`: its /dev/shm is a bind, of a
/// shareable one kept on the host or of the host's).
pub fn private_shm_size(cfg: &ContainerConfig) -> Option<i64> {
    let x = &cfg.extra;
    match (&x.ipc, &x.ipc_shm) {
        (_, Some(_)) | (NetworkMode::Host, None) => None,
        _ => Some(match x.shm_size {
            Some(s) if s > 0 => s,
            _ => DEFAULT_SHM_SIZE,
        }),
    }
}

/// The container's own /etc/hosts, /etc/resolv.conf and /etc/hostname: (host file, where).
pub fn etc_files(cfg: &ContainerConfig) -> impl Iterator<Item = (&Path, &'static str)> {
    let hf = &cfg.extra_hosts_files;
    [
        (&hf.hosts, "/etc/hosts"),
        (&hf.resolv_conf, "/etc/resolv.conf"),
        (&hf.hostname, "/etc/hostname"),
    ]
    .into_iter()
    .filter_map(|(src, dst)| Some((src.as_deref()?, dst)))
}

/// The container's `/sys/fs/cgroup`. On a cgroup v1 host, as runc makes it: a tmpfs with,
/// for each controller hierarchy, a bind of the container's own directory in it (read-only
/// unless privileged; a comounted hierarchy such as `cpu,cpuacct` also appears under each
/// controller's name, where runc puts a symlink). libcontainer's own v1 `cgroup` mount is
/// not used: it mounts every controller read-write whatever the options say (a container
/// could raise its own memory and pids limits), and re-reads the mount table once per
/// controller. Created through the fast cgroup entry, the whole layout is made ahead in
/// the creating process ([`crate::cgroup::V1Attach::tree`]) and mounted with one recursive
/// bind, read-only all through unless privileged. Returns whether the spec's tmpfs must be
/// made read-only afterwards (`readonlyPaths`); on v2, the runtime's `cgroup` mount,
/// read-only unless privileged (docs/adr-0013-cgroup-v2.md).
fn cgroup_mounts(
    cfg: &ContainerConfig,
    attach: Option<&crate::cgroup::V1Attach>,
    mounts: &mut Vec<Value>,
) -> bool {
    let hierarchies = match attach {
        Some(a) => a.hierarchies().to_vec(),
        None if crate::cgroup::is_unified() => Vec::new(),
        None => crate::cgroup::v1_hierarchies(),
    };
    if hierarchies.is_empty() {
        // cgroup v2: the container's own cgroup (its cgroup namespace's root), read-only
        // unless privileged, as docker's. libcontainer mounts cgroup2 with these flags.
        let mut opts = vec!["nosuid", "noexec", "nodev", "relatime"];
        if !cfg.privileged {
            opts.push("ro");
        }
        mounts.push(json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": opts}));
        return false;
    }
    if let Some(tree) = attach.and_then(crate::cgroup::V1Attach::tree) {
        if made_ahead(attach, |a| matches!(a, Ahead::CgroupTree { .. })) {
            // Moved into the /sys made ahead by the creating process.
            return false;
        }
        let mut opts = vec!["rbind", "nosuid", "noexec", "nodev"];
        opts.extend(["rnosuid", "rnoexec", "rnodev"]);
        if !cfg.privileged {
            opts.extend(["ro", "rro"]);
        }
        mounts.push(json!({"destination": "/sys/fs/cgroup", "type": "bind", "source": tree, "options": opts}));
        return false;
    }
    mounts.push(json!({"destination": "/sys/fs/cgroup", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "noexec", "nodev", "mode=755"]}));
    let mut opts = vec!["bind", "nosuid", "noexec", "nodev"];
    if !cfg.privileged {
        opts.push("ro");
    }
    let rel = cgroups_path(&cfg.id);
    let rel = rel.trim_start_matches('/');
    let mut names: Vec<String> = hierarchies
        .iter()
        .filter_map(|(mp, _)| Some(mp.file_name()?.to_str()?.to_string()))
        .collect();
    for (mp, controllers) in &hierarchies {
        let Some(base) = mp.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let source = mp.join(rel);
        let mut at = vec![base.to_string()];
        for c in controllers {
            if !names.contains(c) {
                names.push(c.clone());
                at.push(c.clone());
            }
        }
        for name in at {
            mounts.push(json!({"destination": format!("/sys/fs/cgroup/{name}"), "type": "bind", "source": source, "options": opts}));
        }
    }
    true
}

/// The `linux.seccomp` object for a container, `None` when unconfined or privileged.
pub fn seccomp_json(
    policy: &Seccomp,
    privileged: bool,
    bounding: &[String],
) -> Result<Option<Value>> {
    if privileged {
        return Ok(None);
    }
    let profile = match policy {
        Seccomp::Unconfined => return Ok(None),
        Seccomp::Default => {
            seccomp::ensure_available()?;
            return default_seccomp_json(bounding).map(Some);
        }
        Seccomp::Custom(json) => seccomp::parse_profile(json)?,
    };
    seccomp::ensure_available()?;
    Ok(Some(seccomp::to_oci(&profile, bounding)?))
}

/// Docker's default profile for a container holding `bounding`, made once per process and
/// capability set (≈ 0.3–0.5 ms: hundreds of syscall names looked up in libseccomp). The
/// shim zygote makes the one for the default capabilities before it forks any shim
/// ([`warm_up`]), so a container with the defaults finds it made.
fn default_seccomp_json(bounding: &[String]) -> Result<Value> {
    static MADE: std::sync::Mutex<Vec<(Vec<String>, Value)>> = std::sync::Mutex::new(Vec::new());
    let mut made = MADE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, v)) = made.iter().find(|(caps, _)| caps == bounding) {
        return Ok(v.clone());
    }
    let v = seccomp::to_oci(&seccomp::default_profile(), bounding)?;
    if made.len() < 16 {
        made.push((bounding.to_vec(), v.clone()));
    }
    Ok(v)
}

/// Work every container with the defaults needs, done once in a process that then forks
/// the containers' shims (the zygote), so that each shim starts with it done.
pub fn warm_up() {
    // The CPU feature caches: std's (memchr and others ask it) and sha2's own (the seccomp
    // cache's key). Each process that finds them empty runs `cpuid` a dozen times, and a
    // `cpuid` in a virtual machine is a VM exit: ≈ 7 µs each on the machines we measure on,
    // where the container's init alone spent ≈ 0.1 ms of every start in it.
    #[cfg(target_arch = "x86_64")]
    let _ = std::arch::is_x86_feature_detected!("avx2");
    let _ = <sha2::Sha256 as sha2::Digest>::digest(b"");
    let _ = crate::cgroup::mounts();
    // pathrs's cached procfs handle (a detached `subset=pid` procfs mount, made on first use).
    // Left to libcontainer, the intermediate process made it at every start, and the
    // container's init, inheriting it, held the last reference at its `exec`: closing it
    // unmounted it there, an expedited RCU grace period (0.2–1 ms here) on every start's
    // critical path. Made here, every process forked from now on shares this one.
    let _ = pathrs::procfs::ProcfsHandle::new();
    if let Ok(caps) = caps::compute(false, &[], &[]) {
        let _ = default_seccomp_json(&caps);
    }
}

/// docker's `ValidateSysctl`: only sysctls of a namespace the container has of its own
/// (IPC: `kernel.msg*`, `kernel.sem`, `kernel.shm*`, `fs.mqueue.*`; network: `net.*`).
fn check_sysctl(key: &str, net: &NetworkMode, ipc: &NetworkMode) -> Result<()> {
    let ipc_key = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ]
    .contains(&key)
        || key.starts_with("fs.mqueue.");
    if ipc_key {
        if *ipc == NetworkMode::Host {
            return Err(Error::InvalidConfig(format!(
                "sysctl {key:?} is not allowed in host IPC namespace"
            )));
        }
        return Ok(());
    }
    if key.starts_with("net.") {
        if *net == NetworkMode::Host {
            return Err(Error::InvalidConfig(format!(
                "sysctl {key:?} not allowed in host network namespace"
            )));
        }
        return Ok(());
    }
    Err(Error::InvalidConfig(format!(
        "sysctl {key:?} is not allowed"
    )))
}

fn split_opts(opts: &str) -> Vec<String> {
    opts.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect()
}

fn check_dest(d: &str) -> Result<()> {
    if !d.starts_with('/') || d.split('/').any(|c| c == "..") {
        return Err(Error::InvalidConfig(format!(
            "mount destination {d:?} must be absolute without '..'"
        )));
    }
    Ok(())
}

/// Where `--init` puts the init in the container (the path docker uses, so tools that look
/// for it find it).
pub const INIT_DEST: &str = "/sbin/docker-init";

/// Static init binaries, in order of preference: Wharf's own install location, then Debian's
/// `tini` package (tini is an independent project; see docs/adr/init.md). It must be static:
/// it runs inside arbitrary images.
pub const INIT_CANDIDATES: &[&str] = &["/usr/libexec/wharf/wharf-init", "/usr/bin/tini-static"];

fn init_binary() -> Result<std::path::PathBuf> {
    for c in INIT_CANDIDATES {
        let p = Path::new(c);
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
    }
    Err(Error::InvalidConfig(format!(
        "--init needs a static init binary at one of {INIT_CANDIDATES:?} (Debian: apt-get install tini)"
    )))
}

/// Build the OCI spec for `cfg`, whose rootfs is mounted at `rootfs` and whose user
/// resolved to `user`.
pub fn build_spec(cfg: &ContainerConfig, rootfs: &Path, user: &ResolvedUser) -> Result<Spec> {
    spec_from_value(build_spec_value(cfg, rootfs, user, None)?)
}

/// The JSON form of a spec into [`Spec`]: the one conversion. The runtime takes the seccomp
/// profile out of the JSON first when it installs a precompiled filter (converting the
/// profile's hundreds of rules to and from oci-spec's types costs more than the rest of the
/// spec).
pub fn spec_from_value(v: Value) -> Result<Spec> {
    serde_json::from_value(v).map_err(|e| Error::InvalidConfig(format!("runtime spec: {e}")))
}

/// [`build_spec`] as JSON, for a container created through [`crate::cgroup::V1Attach`]
/// when `attach` is given.
pub fn build_spec_value(
    cfg: &ContainerConfig,
    rootfs: &Path,
    user: &ResolvedUser,
    attach: Option<&crate::cgroup::V1Attach>,
) -> Result<Value> {
    if cfg.args.is_empty() {
        return Err(Error::InvalidConfig("no command".into()));
    }
    let cwd = if cfg.cwd.is_empty() {
        "/".to_string()
    } else {
        cfg.cwd.clone()
    };
    if !cwd.starts_with('/') {
        return Err(Error::InvalidConfig(format!(
            "working directory {cwd:?} must be absolute"
        )));
    }
    let cap_set = caps::compute(cfg.privileged, &cfg.cap_add, &cfg.cap_drop)?;

    // Without --ulimit the container inherits the caller's limits, as Docker containers
    // inherit dockerd's.
    let mut rlimits = Vec::new();
    for (name, soft, hard) in &cfg.ulimits {
        rlimits.push(json!({"type": rlimit_name(name)?, "soft": soft, "hard": hard}));
    }

    // `--init`: a static init (tini) bind-mounted read-only as pid 1, running the command
    // as its child (docker's `/sbin/docker-init -- CMD…`).
    let init = if cfg.init { Some(init_binary()?) } else { None };
    let mut args = cfg.args.clone();
    if init.is_some() {
        args.splice(0..0, [INIT_DEST.to_string(), "--".to_string()]);
    }
    let mut process = json!({
        "terminal": cfg.tty,
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
        "args": args,
        "env": default_env(&cfg.env, &cfg.hostname, &user.home),
        "cwd": cwd,
        "capabilities": capabilities_json(&cap_set, user.uid),
        "rlimits": rlimits,
    });
    // libcontainer 0.7 treats `noNewPrivileges: false` like `true` for seccomp ordering
    // (it installs the filter after dropping CAP_SYS_ADMIN, which then fails): only ever
    // emit the field when it is true.
    if cfg.no_new_privileges {
        process["noNewPrivileges"] = json!(true);
    }
    if let Some(a) = cfg.extra.oom_score_adj.filter(|a| *a != 0) {
        process["oomScoreAdj"] = json!(a);
    }

    let sys_opts = if cfg.privileged {
        vec!["nosuid", "noexec", "nodev"]
    } else {
        vec!["nosuid", "noexec", "nodev", "ro"]
    };
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
    ];
    // What the creating process mounts in the mount namespace made ahead is left out
    // (V1Attach::mount_ahead; /sys and /dev/mqueue only when their namespaces exist before
    // the init).
    if !made_ahead(attach, |a| matches!(a, Ahead::Dev { .. })) {
        // CVE-2026-41579: /dev is always a fresh tmpfs the image cannot shape.
        mounts.push(json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}));
        mounts.push(json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}));
    }
    let x = &cfg.extra;
    if !made_ahead(attach, |a| matches!(a, Ahead::Sys { .. })) {
        mounts.push(
            json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts}),
        );
    }
    let cgroup_tmpfs = cgroup_mounts(cfg, attach, &mut mounts);
    if !made_ahead(attach, |a| matches!(a, Ahead::Mqueue { .. })) {
        mounts.push(json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}));
    }
    match (&x.ipc, &x.ipc_shm) {
        // A shareable /dev/shm kept on the host (this container's, or the one whose IPC
        // namespace it joins); the host's with the host's namespace, as docker.
        (_, Some(shm)) => mounts.push(json!({"destination": "/dev/shm", "type": "bind", "source": shm, "options": ["rbind", "rprivate"]})),
        (NetworkMode::Host, None) => mounts.push(json!({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate"]})),
        _ if made_ahead(attach, |a| matches!(a, Ahead::Dev { shm_size: Some(_) })) => {}
        _ => {
            let size = private_shm_size(cfg).unwrap_or(DEFAULT_SHM_SIZE);
            mounts.push(json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={size}")]}));
        }
    }
    for (src, dst) in etc_files(cfg) {
        if !made_ahead(
            attach,
            |a| matches!(a, Ahead::File { dest, .. } if dest == dst),
        ) {
            mounts.push(json!({"destination": dst, "type": "bind", "source": src, "options": ["rbind", "rprivate"]}));
        }
    }
    if let Some(init) = &init {
        mounts.push(json!({"destination": INIT_DEST, "type": "bind", "source": init, "options": ["rbind", "ro", "nosuid", "nodev", "rprivate"]}));
    }
    for (path, opts) in &cfg.tmpfs {
        check_dest(path)?;
        let mut o = vec![
            "nosuid".to_string(),
            "nodev".to_string(),
            "noexec".to_string(),
        ];
        o.extend(split_opts(opts));
        mounts.push(json!({"destination": path, "type": "tmpfs", "source": "tmpfs", "options": o}));
    }
    for m in &cfg.mounts {
        check_dest(&m.destination)?;
        let mut o = vec!["rbind".to_string()];
        o.extend(m.options.iter().cloned());
        mounts.push(
            json!({"destination": m.destination, "type": "bind", "source": m.source, "options": o}),
        );
    }

    let mut namespaces = vec![
        match attach.and_then(crate::cgroup::V1Attach::namespace_path) {
            // Made ahead by the creating process, with the container's /sys/fs/cgroup in it.
            Some(path) => json!({"type": "mount", "path": path}),
            None => json!({"type": "mount"}),
        },
    ];
    for (kind, mode) in [("pid", &x.pid), ("ipc", &x.ipc), ("network", &cfg.network)] {
        match mode {
            NetworkMode::New => namespaces.push(json!({"type": kind})),
            NetworkMode::Host => {}
            NetworkMode::Path(p) => namespaces.push(json!({"type": kind, "path": p})),
        }
    }
    if !x.uts_host {
        namespaces.push(json!({"type": "uts"}));
    }
    if !x.cgroupns_host {
        namespaces.push(json!({"type": "cgroup"}));
    }

    let (device_nodes, mut device_rules) = crate::devices::resolve(cfg.privileged, &cfg.devices)?;
    for r in &x.device_cgroup_rules {
        device_rules.push(crate::devices::parse_cgroup_rule(r)?);
    }
    let mut resources = json!({
        "devices": if cfg.privileged {
            json!([{"allow": true, "access": "rwm"}])
        } else {
            let mut rules = default_device_rules();
            if let Value::Array(r) = &mut rules {
                r.extend(device_rules);
            }
            rules
        },
    });
    let mut mem = json!({});
    if let Some(m) = cfg.memory {
        mem["limit"] = json!(m);
    }
    // Docker: `--memory-swap` unset (or 0) with `-m` is twice `-m` (memory plus as much
    // swap), where the host can limit swap; -1 is unlimited.
    let swap = match (cfg.memory, cfg.memory_swap) {
        (Some(m), None) if m > 0 && crate::cgroup::swap_limit_supported() => {
            Some(m.saturating_mul(2))
        }
        (_, s) => s,
    };
    if let Some(s) = swap {
        mem["swap"] = json!(s);
    }
    if let Some(r) = x.memory_reservation.filter(|r| *r > 0) {
        mem["reservation"] = json!(r);
    }
    if x.oom_kill_disable {
        mem["disableOOMKiller"] = json!(true);
    }
    if mem.as_object().is_some_and(|m| !m.is_empty()) {
        resources["memory"] = mem;
    }
    if cfg.cpu_quota.is_some()
        || cfg.cpu_period.is_some()
        || cfg.cpu_shares.is_some()
        || !x.cpuset_cpus.is_empty()
        || !x.cpuset_mems.is_empty()
    {
        let mut cpu = json!({});
        if !x.cpuset_cpus.is_empty() {
            cpu["cpus"] = json!(x.cpuset_cpus);
        }
        if !x.cpuset_mems.is_empty() {
            cpu["mems"] = json!(x.cpuset_mems);
        }
        if let Some(q) = cfg.cpu_quota {
            cpu["quota"] = json!(q);
        }
        if let Some(p) = cfg.cpu_period {
            cpu["period"] = json!(p);
        }
        if let Some(s) = cfg.cpu_shares {
            cpu["shares"] = json!(s);
        }
        resources["cpu"] = cpu;
    }
    if let Some(p) = cfg.pids_limit {
        resources["pids"] = json!({"limit": p});
    }
    // On v2 the runtime writes the weight itself after create (`cgroup::set_v2_io_weight`):
    // libcgroups 0.7's conversion to io.weight overflows.
    if let Some(w) = x
        .blkio_weight
        .filter(|w| *w > 0 && !crate::cgroup::is_unified())
    {
        resources["blockIO"] = json!({"weight": w});
    }

    let mut linux = json!({
        "cgroupsPath": cgroups_path(&cfg.id),
        "namespaces": namespaces,
        "resources": resources,
    });
    if !x.sysctls.is_empty() {
        for k in x.sysctls.keys() {
            check_sysctl(k, &cfg.network, &x.ipc)?;
        }
        linux["sysctl"] = json!(x.sysctls);
    }
    if !device_nodes.is_empty() {
        linux["devices"] = device_nodes.iter().map(|n| n.spec()).collect();
    }
    if !cfg.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        let mut ro: Vec<&str> = READONLY_PATHS.to_vec();
        if cgroup_tmpfs {
            // The tmpfs holding the controller binds: writable while the runtime makes their
            // mount points, read-only once it is done (the binds themselves are `ro`).
            ro.push("/sys/fs/cgroup");
        }
        linux["readonlyPaths"] = json!(ro);
    }
    if let Some(sc) = seccomp_json(&cfg.seccomp, cfg.privileged, &cap_set)? {
        linux["seccomp"] = sc;
    }

    let mut spec = json!({
        "ociVersion": "1.0.2",
        "root": {"path": rootfs, "readonly": cfg.readonly_rootfs},
        "process": process,
        "mounts": mounts,
        "linux": linux,
    });
    // With the host's UTS namespace the host's name stays (docker ignores -h there).
    if !cfg.hostname.is_empty() && !cfg.extra.uts_host {
        spec["hostname"] = json!(cfg.hostname);
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_default_profile_is_made_once_per_capability_set() {
        let caps = caps::compute(false, &[], &[]).unwrap();
        warm_up();
        let a = seccomp_json(&Seccomp::Default, false, &caps)
            .unwrap()
            .unwrap();
        let made = seccomp::to_oci(&seccomp::default_profile(), &caps).unwrap();
        assert_eq!(a, made);
        // Another capability set gets its own (ptrace is allowed with CAP_SYS_PTRACE).
        let more = caps::compute(false, &["SYS_PTRACE".to_string()], &[]).unwrap();
        let b = seccomp_json(&Seccomp::Default, false, &more)
            .unwrap()
            .unwrap();
        assert_eq!(
            b,
            seccomp::to_oci(&seccomp::default_profile(), &more).unwrap()
        );
        assert!(seccomp_json(&Seccomp::Default, true, &caps)
            .unwrap()
            .is_none());
    }
}
