//! Reading a container's cgroup directly: OOM kills (v1 `memory.oom_control`, v2
//! `memory.events`), and listing the directories it has in each hierarchy (for cleanup
//! checks). Works on v1, hybrid (v1 + an empty `unified` cgroup2) and pure v2 hosts.

use std::path::{Path, PathBuf};

pub const ROOT: &str = "/sys/fs/cgroup";

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

/// Whether the host can limit a container's swap, as docker's `SwapLimit`: v2 with the
/// memory controller (`memory.swap.max`), v1 with swap accounting (`memory.memsw.*`).
pub fn swap_limit_supported() -> bool {
    if is_unified() {
        std::fs::read_to_string(Path::new(ROOT).join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"))
    } else {
        Path::new(ROOT)
            .join("memory/memory.memsw.limit_in_bytes")
            .exists()
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

/// `--blkio-weight` on a v2 host, as runc and libcgroups write it: as is to `io.bfq.weight`
/// where BFQ provides it, else to `io.weight`, converted from blkio's 10–1000 to 1–10000.
/// The runtime does this itself, after create and before the container's command runs,
/// because libcgroups 0.7 computes that conversion in u16: it overflows for any weight
/// above 16 (300 became 17 instead of 2930 in a release build; a debug build panics), so
/// on v2 the weight is left out of the spec libcgroups applies.
pub fn set_v2_io_weight(cgroups_path: &str, weight: u16) {
    if weight == 0 || !is_unified() {
        return;
    }
    let dir = Path::new(ROOT).join(cgroups_path.trim_start_matches('/'));
    let bfq = dir.join("io.bfq.weight");
    let (f, v) = if bfq.exists() {
        (bfq, u64::from(weight))
    } else {
        (dir.join("io.weight"), io_weight_from_blkio(weight))
    };
    if let Err(e) = std::fs::write(&f, v.to_string()) {
        tracing::warn!(file = %f.display(), error = %e, "could not set the io weight");
    }
}

/// runc's `ConvertBlkIOToIOWeightValue`: `1 + (weight - 10) * 9999 / 990`.
pub fn io_weight_from_blkio(weight: u16) -> u64 {
    1 + u64::from(weight.saturating_sub(10)) * 9999 / 990
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
/// controllers). Empty on a pure v2 host. See [`mounts`].
pub fn v1_hierarchies() -> Vec<(PathBuf, Vec<String>)> {
    mounts().map(|m| m.v1.clone()).unwrap_or_default()
}

/// The cgroup filesystems mounted on the host.
#[derive(Debug)]
pub struct Mounts {
    /// [`v1_hierarchies`].
    v1: Vec<(PathBuf, Vec<String>)>,
    /// Every cgroup and cgroup2 mount point.
    all: Vec<PathBuf>,
}

/// The cgroup mounts, read from `/proc/self/mountinfo` once per process (and inherited by
/// the shims the zygote forks, which reads it in [`crate::spec::warm_up`]). Every running
/// container adds a long overlay line to that file, and the kernel formats all of them at
/// each read: with 120 containers running, the mountinfo reads of one `run --rm` cost
/// ≈ 2.4 ms here. Hierarchies are mounted at boot and stay; a daemon restart sees a change.
pub fn mounts() -> Option<&'static Mounts> {
    static MOUNTS: std::sync::OnceLock<Mounts> = std::sync::OnceLock::new();
    if let Some(m) = MOUNTS.get() {
        return Some(m);
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    Some(MOUNTS.get_or_init(|| Mounts {
        v1: v1_hierarchies_in(&info),
        all: cgroup_mount_points_in(&info),
    }))
}

fn cgroup_mount_points_in(mountinfo: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for l in mountinfo.lines() {
        let Some((_, rest)) = l.split_once(" - ") else {
            continue;
        };
        let fstype = rest.split(' ').next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        if let Some(mp) = l.split(' ').nth(4) {
            out.push(PathBuf::from(mp));
        }
    }
    out
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

/// `cgroups_path` under every cgroup mount, whether it exists or not.
pub fn dirs(cgroups_path: &str) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    mounts()
        .map(|m| m.all.iter().map(|mp| mp.join(rel)).collect())
        .unwrap_or_default()
}

/// Every existing directory of `cgroups_path` in every mounted hierarchy.
pub fn existing_dirs(cgroups_path: &str) -> Vec<PathBuf> {
    dirs(cgroups_path)
        .into_iter()
        .filter(|p| p.exists())
        .collect()
}

#[cfg(test)]
mod v1_tests {
    #[test]
    fn io_weight_converts_as_runc_without_overflow() {
        use super::io_weight_from_blkio;
        assert_eq!(io_weight_from_blkio(10), 1);
        assert_eq!(io_weight_from_blkio(300), 2930);
        assert_eq!(io_weight_from_blkio(500), 4950);
        assert_eq!(io_weight_from_blkio(1000), 10000);
    }

    #[test]
    fn tree_names_and_comount_links() {
        use std::path::PathBuf;
        let h =
            |mp: &str, c: &[&str]| (PathBuf::from(mp), c.iter().map(|s| s.to_string()).collect());
        let hs = vec![
            h("/sys/fs/cgroup/cpu,cpuacct", &["cpu", "cpuacct"]),
            h("/sys/fs/cgroup/memory", &["memory"]),
            h("/sys/fs/cgroup/net_cls,net_prio", &["net_cls", "net_prio"]),
        ];
        let names = super::tree_names(&hs).unwrap();
        assert_eq!(names, ["cpu,cpuacct", "memory", "net_cls,net_prio"]);
        assert_eq!(
            super::comount_links(&hs, &names),
            [
                ("cpu".to_string(), "cpu,cpuacct".to_string()),
                ("cpuacct".to_string(), "cpu,cpuacct".to_string()),
                ("net_cls".to_string(), "net_cls,net_prio".to_string()),
                ("net_prio".to_string(), "net_cls,net_prio".to_string()),
            ]
        );
        // Two hierarchies of one name: no tree.
        let clash = vec![h("/a/memory", &["memory"]), h("/b/memory", &["pids"])];
        assert_eq!(super::tree_names(&clash), None);
    }

    #[test]
    fn other_containers_rootfs_only() {
        let info = "1 0 0:1 / / rw - ext4 /dev/vda rw
2 1 0:2 / /d/containers/aaa/rootfs rw - overlay overlay rw,lowerdir=/x
3 1 0:3 / /d/containers/own/rootfs rw - overlay overlay rw,lowerdir=/y
4 1 0:4 / /d/containers/bbb/shm rw - tmpfs shm rw
5 1 0:5 / /d/volumes/v/rootfs rw - ext4 /dev/vdb rw
6 1 0:6 / /d/containers/ccc/rootfs rw - overlay overlay rw,lowerdir=/z
";
        let got = super::other_rootfs_mounts(
            info,
            std::path::Path::new("/d/containers"),
            std::path::Path::new("/d/containers/own"),
        );
        assert_eq!(
            got,
            vec![
                std::path::PathBuf::from("/d/containers/aaa/rootfs"),
                std::path::PathBuf::from("/d/containers/ccc/rootfs")
            ]
        );
    }

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

/// A container's cgroups on a v1 host, entered without the kernel's global lock.
///
/// Writing a pid into `cgroup.procs` (what libcgroups does for the intermediate process)
/// takes `cgroup_threadgroup_rwsem` for writing, which waits for an RCU grace period:
/// 8–25 ms on the build machine, the largest single cost of a container's start. Writing
/// `0` into a hierarchy's `tasks` file moves only the calling thread and skips that lock
/// (0.05–0.5 ms). So the runtime creates the container from a forked, single-threaded child
/// that moves itself this way; the intermediate and init processes inherit its cgroups.
/// libcgroups must then do nothing there: the child sets the switch of our vendored copy
/// (`v1::manager::skip_in_this_process`) before libcontainer's create. See
/// docs/adr-0012-cgroup-entry.md.
#[derive(Debug)]
pub struct V1Attach {
    hierarchies: Vec<(PathBuf, Vec<String>)>,
    rel: PathBuf,
    base: PathBuf,
    /// Each hierarchy's name in the container's `/sys/fs/cgroup`: its mount point's own
    /// name (`memory`, `cpu,cpuacct`) when those are all distinct ([`V1Attach::tree`]).
    names: Option<Vec<String>>,
    /// The descriptor slot through which the creating child hands the container its mount
    /// namespace ([`V1Attach::reserve_namespace`]).
    ns_slot: Option<std::os::fd::OwnedFd>,
    /// The container's root and what is mounted in it in that namespace, in this order
    /// ([`V1Attach::mount_ahead`]).
    ahead: Vec<(PathBuf, crate::rootfs::Ahead)>,
}

/// The container's `/sys/fs/cgroup` under `<state_dir>/cgroup`, in its own mount namespace.
const TREE: &str = ".tree";

impl V1Attach {
    /// Creates the container's directory in every managed hierarchy (cpusets filled from
    /// the parent, as libcgroups does) and the empty `<state_dir>/cgroup`. `None` on a v2
    /// host or when no managed v1 hierarchy is mounted.
    pub fn prepare(cgroups_path: &str, state_dir: &Path) -> std::io::Result<Option<V1Attach>> {
        if is_unified() {
            return Ok(None);
        }
        let hierarchies = v1_hierarchies();
        if hierarchies.is_empty() {
            return Ok(None);
        }
        let rel = PathBuf::from(cgroups_path.trim_start_matches('/'));
        for (mp, controllers) in &hierarchies {
            std::fs::create_dir_all(mp.join(&rel))?;
            if controllers.iter().any(|c| c == "cpuset") {
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    fill_from_parents(mp, &rel, file)?;
                }
            }
        }
        let base = state_dir.join("cgroup");
        match std::fs::create_dir(&base) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        let names = tree_names(&hierarchies);
        Ok(Some(V1Attach {
            hierarchies,
            rel,
            base,
            names,
            ns_slot: None,
            ahead: Vec::new(),
        }))
    }

    /// Has the creating child make the container's mount namespace and its whole
    /// `/sys/fs/cgroup` ([`V1Attach::tree`]) ahead, for the container to join by
    /// [`V1Attach::namespace_path`]. Reserves the descriptor number the namespace will take
    /// in the creating child, and so in the intermediate and init processes it clones.
    /// Nothing when two hierarchies share a name (the spec then binds each).
    pub fn reserve_namespace(&mut self) -> std::io::Result<()> {
        if self.names.is_some() {
            self.ns_slot = Some(std::fs::File::open("/dev/null")?.into());
        }
        Ok(())
    }

    /// Has the creating child mount `what` in the container's root `rootfs` in the mount
    /// namespace made ahead, with plain mount calls ([`crate::rootfs::mount_ahead`]) instead
    /// of libcontainer's in the init (each ≈ 60 syscalls of path checks there). Only with
    /// [`V1Attach::namespace_path`]; the spec then leaves them out.
    pub fn mount_ahead(&mut self, rootfs: &Path, what: crate::rootfs::Ahead) {
        if self.ns_slot.is_some() {
            self.ahead.push((rootfs.to_path_buf(), what));
        }
    }

    /// Whether the creating child makes a mount that `is` picks out
    /// ([`V1Attach::mount_ahead`]): the spec leaves exactly those out.
    pub fn makes(&self, is: impl Fn(&crate::rootfs::Ahead) -> bool) -> bool {
        self.ahead.iter().any(|(_, a)| is(a))
    }

    /// The path by which the container's init joins the mount namespace made ahead.
    pub fn namespace_path(&self) -> Option<String> {
        use std::os::fd::AsRawFd;
        let fd = self.ns_slot.as_ref()?.as_raw_fd();
        Some(format!("/proc/self/fd/{fd}"))
    }

    /// The container's whole `/sys/fs/cgroup`, in the mount namespace made ahead: a tmpfs
    /// (mode 755) holding, under each hierarchy's name, a bind of the container's directory
    /// there, and for a controller of a comounted hierarchy a symlink to it
    /// (`cpu -> cpu,cpuacct`), as runc lays it out. The spec mounts it with one recursive
    /// bind instead of a tmpfs, a bind per hierarchy and a read-only rebind of them all.
    /// The names exist only in that namespace.
    pub fn tree(&self) -> Option<PathBuf> {
        self.ns_slot.as_ref().map(|_| self.base.join(TREE))
    }

    /// The hierarchies (mount point, controllers).
    pub fn hierarchies(&self) -> &[(PathBuf, Vec<String>)] {
        &self.hierarchies
    }

    /// The container's directory in the hierarchy holding `controller`.
    pub fn dir_of(&self, controller: &str) -> Option<PathBuf> {
        self.hierarchies
            .iter()
            .find(|(_, c)| c.iter().any(|c| c == controller))
            .map(|(mp, _)| mp.join(&self.rel))
    }

    /// Writes the limits `wharf run` can set (devices, memory limit, swap and reservation,
    /// cpu shares, period and quota, cpuset, blkio weight) straight into the container's
    /// directories, as libcgroups' v1 manager would write them, in its order. Building that
    /// manager re-reads `/proc/self/mountinfo` and `/proc/self/cgroup` once per controller
    /// (≈ 1.6 ms here) to find directories this struct already knows. `pids.max` is the
    /// caller's. Returns `false`, having written nothing, when `res` holds anything else
    /// (hugetlb, network, rdma, device throttles, swappiness, realtime, ...): the caller then
    /// hands `res` to libcgroups.
    pub fn apply_limits(
        &self,
        res: &oci_spec::runtime::LinuxResources,
    ) -> std::result::Result<bool, String> {
        if !plain_limits(res) {
            return Ok(false);
        }
        let write = |controller: &str, file: &str, value: String| {
            let dir = self
                .dir_of(controller)
                .ok_or_else(|| format!("the {controller} cgroup hierarchy is not mounted"))?;
            std::fs::write(dir.join(file), &value)
                .map_err(|e| format!("failed to apply its limits: {file} = {value}: {e}"))
        };
        for d in res.devices().iter().flatten() {
            let file = if d.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            write("devices", file, d.to_string())?;
        }
        if let Some(m) = res.memory() {
            // A fresh cgroup: the memory limit first, then memory+swap (never below it).
            if let Some(l) = m.limit().filter(|v| *v != 0) {
                write("memory", "memory.limit_in_bytes", l.to_string())?;
            }
            if let Some(s) = m.swap().filter(|v| *v != 0) {
                write("memory", "memory.memsw.limit_in_bytes", s.to_string())?;
            }
            if let Some(r) = m.reservation().filter(|v| *v != 0) {
                write("memory", "memory.soft_limit_in_bytes", r.to_string())?;
            }
        }
        if let Some(c) = res.cpu() {
            if let Some(v) = c.shares().filter(|v| *v != 0) {
                write("cpu", "cpu.shares", v.to_string())?;
            }
            if let Some(v) = c.period().filter(|v| *v != 0) {
                write("cpu", "cpu.cfs_period_us", v.to_string())?;
            }
            if let Some(v) = c.quota().filter(|v| *v != 0) {
                write("cpu", "cpu.cfs_quota_us", v.to_string())?;
            }
            if let Some(v) = c.cpus() {
                write("cpuset", "cpuset.cpus", v.clone())?;
            }
            if let Some(v) = c.mems() {
                write("cpuset", "cpuset.mems", v.clone())?;
            }
        }
        if let Some(w) = res.block_io().as_ref().and_then(|b| b.weight()) {
            if w != 0 {
                let plain = self.dir_of("blkio").map(|d| d.join("blkio.weight"));
                if plain.is_some_and(|p| p.exists()) {
                    write("blkio", "blkio.weight", w.to_string())?;
                } else {
                    write("blkio", "blkio.bfq.weight", w.to_string())?;
                }
            }
        }
        Ok(true)
    }

    /// In the forked single-threaded child: `apply` sets the limits, then this process moves
    /// itself into the container's directory of every hierarchy (`0` into `tasks`), and the
    /// container's mount namespace is made ahead ([`V1Attach::make_namespace`]). The caller
    /// then tells libcgroups that this process and its children have nothing to move or
    /// apply ([`libcgroups::v1::manager::skip_in_this_process`]): the intermediate process
    /// inherits these cgroups.
    pub fn enter(
        &self,
        apply: impl FnOnce() -> std::result::Result<(), String>,
    ) -> std::result::Result<(), String> {
        apply()?;
        for (mp, _) in &self.hierarchies {
            let tasks = mp.join(&self.rel).join("tasks");
            std::fs::write(&tasks, "0").map_err(|e| format!("{}: {e}", tasks.display()))?;
        }
        if let (Some(slot), Some(names), Some(tree)) = (&self.ns_slot, &self.names, self.tree()) {
            self.make_namespace(slot, names, &tree)?;
        }
        Ok(())
    }

    /// The container's mount namespace, a copy of this one (a slave of it, without the other
    /// containers' root filesystems), with its `/sys/fs/cgroup` laid out at `tree`
    /// ([`V1Attach::tree`]); it takes descriptor `slot`, and this process stays in its own
    /// namespace.
    fn make_namespace(
        &self,
        slot: &std::os::fd::OwnedFd,
        names: &[String],
        tree: &Path,
    ) -> std::result::Result<(), String> {
        use rustix::mount::{
            mount, mount_bind, mount_change, unmount, MountFlags, MountPropagationFlags,
            UnmountFlags,
        };
        use std::os::fd::AsRawFd;
        let own = std::fs::File::open("/proc/self/ns/mnt")
            .map_err(|e| format!("open own mount namespace: {e}"))?;
        let cwd = std::fs::File::open(".").map_err(|e| format!("open cwd: {e}"))?;
        // Made ahead with the container's directory (container::spares) or here.
        match std::fs::create_dir(tree) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(format!("{}: {e}", tree.display()))
            }
            _ => {}
        }
        // SAFETY: a new mount namespace for this single-threaded process, left below.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) }
            .map_err(|e| format!("create the container's mount namespace: {e}"))?;
        let made = (|| -> std::result::Result<(), String> {
            // Nothing made here propagates back to the host.
            mount_change(
                "/",
                MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
            )
            .map_err(|e| format!("make / a slave: {e}"))?;
            // The other containers' root filesystems are of no use here, and each is a long
            // overlay line in the mountinfo that libcontainer's init parses. Each unmount
            // that frees mounts waits for an RCU grace period in the kernel (≈ 45 µs here;
            // with 100 containers running, 4.7 ms per start): moved under one scratch tmpfs
            // (a move frees nothing) they go with one unmount of it.
            let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            if let Some((own, containers)) = self.base.parent().and_then(|o| Some((o, o.parent()?)))
            {
                let others = other_rootfs_mounts(&info, containers, own);
                let scratch = others.len() > 1
                    && mount(
                        "tmpfs",
                        &self.base,
                        "tmpfs",
                        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
                        Some(c"mode=700,size=64k"),
                    )
                    .is_ok();
                for (i, mp) in others.iter().enumerate() {
                    let to = self.base.join(i.to_string());
                    let moved = scratch
                        && std::fs::create_dir(&to).is_ok()
                        && rustix::mount::mount_move(mp, &to).is_ok();
                    if !moved {
                        let _ = unmount(mp, UnmountFlags::DETACH);
                    }
                }
                if scratch {
                    unmount(&self.base, UnmountFlags::DETACH)
                        .map_err(|e| format!("let go of the other root filesystems: {e}"))?;
                }
            }
            mount(
                "tmpfs",
                tree,
                "tmpfs",
                MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
                Some(c"mode=755,size=16k"),
            )
            .map_err(|e| format!("mount a tmpfs for /sys/fs/cgroup: {e}"))?;
            for ((mp, _), name) in self.hierarchies.iter().zip(names) {
                let to = tree.join(name);
                std::fs::create_dir(&to).map_err(|e| format!("{}: {e}", to.display()))?;
                mount_bind(mp.join(&self.rel), &to)
                    .map_err(|e| format!("bind the cgroup at {}: {e}", to.display()))?;
            }
            for (link, to) in comount_links(&self.hierarchies, names) {
                let at = tree.join(&link);
                std::os::unix::fs::symlink(&to, &at)
                    .map_err(|e| format!("{}: {e}", at.display()))?;
            }
            for (rootfs, what) in &self.ahead {
                if let crate::rootfs::Ahead::CgroupTree { read_only } = what {
                    place_tree(tree, &rootfs.join("sys/fs/cgroup"), *read_only)?;
                }
                crate::rootfs::mount_ahead(rootfs, what).map_err(|e| e.to_string())?;
            }
            let ns = std::fs::File::open("/proc/self/ns/mnt")
                .map_err(|e| format!("open the container's mount namespace: {e}"))?;
            // SAFETY: dup3 onto the reserved slot (ours, open until this process exits).
            if unsafe { libc::dup3(ns.as_raw_fd(), slot.as_raw_fd(), libc::O_CLOEXEC) } < 0 {
                return Err(format!(
                    "hand over the container's mount namespace: {}",
                    std::io::Error::last_os_error()
                ));
            }
            Ok(())
        })();
        // SAFETY: back to our own mount namespace (single-threaded: setns is allowed), then
        // to the working directory that it reset.
        if unsafe { libc::setns(own.as_raw_fd(), libc::CLONE_NEWNS) } != 0
            || unsafe { libc::fchdir(cwd.as_raw_fd()) } != 0
        {
            // Still in the container's namespace: the intermediate process must not start
            // here (it would find the hierarchies by name and move itself again).
            return Err(format!(
                "return to own mount namespace: {}",
                std::io::Error::last_os_error()
            ));
        }
        made
    }
}

/// Moves the cgroup tree made at `tree` to `at` (in the container's /sys, a sysfs
/// directory), `nosuid,nodev,noexec` and, with `read_only`, read-only all through
/// (`mount_setattr(AT_RECURSIVE)`), as the spec's recursive bind had libcontainer make it.
fn place_tree(tree: &Path, at: &Path, read_only: bool) -> std::result::Result<(), String> {
    rustix::mount::mount_move(tree, at)
        .map_err(|e| format!("move the cgroup tree to {}: {e}", at.display()))?;
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: (if read_only {
            libc::MOUNT_ATTR_RDONLY
        } else {
            0
        } | libc::MOUNT_ATTR_NOSUID
            | libc::MOUNT_ATTR_NODEV
            | libc::MOUNT_ATTR_NOEXEC),
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let path = std::ffi::CString::new(at.as_os_str().as_encoded_bytes())
        .map_err(|e| format!("{}: {e}", at.display()))?;
    // SAFETY: mount_setattr(2) with a valid path and a mount_attr of the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_RECURSIVE as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r != 0 {
        return Err(format!(
            "set the flags of {}: {}",
            at.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Whether `res` holds only what [`V1Attach::apply_limits`] writes (and pids).
fn plain_limits(res: &oci_spec::runtime::LinuxResources) -> bool {
    let memory = res.memory().as_ref().is_none_or(|m| {
        m.kernel().is_none()
            && m.kernel_tcp().is_none()
            && m.swappiness().is_none()
            && m.disable_oom_killer().is_none()
            && m.use_hierarchy().is_none()
            && m.check_before_update().is_none()
    });
    let cpu = res.cpu().as_ref().is_none_or(|c| {
        c.idle().is_none()
            && c.burst().is_none()
            && c.realtime_runtime().is_none()
            && c.realtime_period().is_none()
    });
    let blkio = res.block_io().as_ref().is_none_or(|b| {
        b.leaf_weight().is_none()
            && b.weight_device().as_ref().is_none_or(Vec::is_empty)
            && b.throttle_read_bps_device()
                .as_ref()
                .is_none_or(Vec::is_empty)
            && b.throttle_write_bps_device()
                .as_ref()
                .is_none_or(Vec::is_empty)
            && b.throttle_read_iops_device()
                .as_ref()
                .is_none_or(Vec::is_empty)
            && b.throttle_write_iops_device()
                .as_ref()
                .is_none_or(Vec::is_empty)
    });
    memory
        && cpu
        && blkio
        && res.hugepage_limits().as_ref().is_none_or(Vec::is_empty)
        && res.network().is_none()
        && res.rdma().as_ref().is_none_or(|r| r.is_empty())
        && res.unified().as_ref().is_none_or(|u| u.is_empty())
}

/// The hierarchies' directory names for [`V1Attach::tree`]: their mount points' own names,
/// when those are all distinct (and plain names).
fn tree_names(hierarchies: &[(PathBuf, Vec<String>)]) -> Option<Vec<String>> {
    let names: Vec<String> = hierarchies
        .iter()
        .map(|(mp, _)| mp.file_name()?.to_str().map(str::to_string))
        .collect::<Option<_>>()?;
    let distinct = names.iter().collect::<std::collections::HashSet<_>>().len() == names.len();
    let plain = names.iter().all(|n| !n.is_empty() && n != "." && n != "..");
    (distinct && plain).then_some(names)
}

/// (link name, target) for each controller of a comounted hierarchy whose name is not a
/// hierarchy's own (`cpu` and `cpuacct` -> `cpu,cpuacct`).
fn comount_links(
    hierarchies: &[(PathBuf, Vec<String>)],
    names: &[String],
) -> Vec<(String, String)> {
    let mut taken: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for ((_, controllers), name) in hierarchies.iter().zip(names) {
        for c in controllers {
            if !taken.contains(&c.as_str()) {
                taken.push(c);
                out.push((c.clone(), name.clone()));
            }
        }
    }
    out
}

/// Mount points named `<containers>/<id>/rootfs` for any container but `own`.
fn other_rootfs_mounts(mountinfo: &str, containers: &Path, own: &Path) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|mp| {
            mp.file_name().is_some_and(|n| n == "rootfs")
                && mp
                    .parent()
                    .is_some_and(|c| c != own && c.parent() == Some(containers))
        })
        .collect()
}

/// Copies `file` (a cpuset list) from the parent into each level of `rel` under `mp` that
/// has it empty: a cpuset cgroup takes no task until both lists are set.
fn fill_from_parents(mp: &Path, rel: &Path, file: &str) -> std::io::Result<()> {
    let mut dir = mp.to_path_buf();
    let mut value = std::fs::read_to_string(dir.join(file))?;
    for c in rel.components() {
        dir.push(c);
        let own = std::fs::read_to_string(dir.join(file))?;
        if own.trim().is_empty() {
            std::fs::write(dir.join(file), value.trim())?;
        } else {
            value = own;
        }
    }
    Ok(())
}

/// Whether the calling process has a single thread (a fork of it then holds no lock
/// another thread took).
pub fn single_threaded() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim() == "1"))
        })
        .unwrap_or(false)
}
