//! Seccomp: Docker's default profile as our own Rust data, docker-format JSON profiles
//! (`--security-opt seccomp=file.json`), and their translation into the OCI
//! `linux.seccomp` object for the capabilities and architecture of one container.
//!
//! The default is an allowlist: every syscall not listed fails with EPERM. Rules with
//! `includes`/`excludes` apply only when the container holds (or lacks) the listed
//! capabilities, so `--cap-add SYS_ADMIN` also allows `mount`, `unshare`, `clone3`...
//! as in moby's `profiles/seccomp`.

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// A docker-format seccomp profile (the JSON `docker run --security-opt seccomp=` takes).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    #[serde(default)]
    pub arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    pub syscalls: Vec<Rule>,
    #[serde(default)]
    pub flags: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub names: Option<Vec<String>>,
    #[serde(default)]
    pub name: Option<String>,
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Option<Vec<Arg>>,
    #[serde(default)]
    pub includes: Option<Filter>,
    #[serde(default)]
    pub excludes: Option<Filter>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default)]
    pub caps: Option<Vec<String>>,
    #[serde(default)]
    pub arches: Option<Vec<String>>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// Syscalls any container may make (Docker's unconditional allowlist).
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// Syscalls allowed only when the container holds a capability.
const BY_CAP: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// Syscalls allowed only on some architectures (docker arch names).
const BY_ARCH: &[(&[&str], &[&str])] = &[
    (&["amd64", "x32"], &["arch_prctl"]),
    (&["amd64", "x32", "x86"], &["modify_ldt"]),
    (
        &["arm", "arm64"],
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
    ),
    (&["ppc64le"], &["sync_file_range2", "swapcontext"]),
    (
        &["s390", "s390x"],
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
    ),
    (&["riscv64"], &["riscv_flush_icache"]),
];

/// personality(2) personas a container may select: PER_LINUX, UNAME26, PER_LINUX32,
/// UNAME26|PER_LINUX32, and the 0xffffffff query.
const PERSONALITIES: &[u64] = &[0x0, 0x0002_0000, 0x0008, 0x0002_0008, 0xffff_ffff];

/// clone(2) flags that create namespaces (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|
/// NEWPID|NEWNET): without CAP_SYS_ADMIN clone is allowed only without them.
const CLONE_NS_FLAGS: u64 = 0x7E02_0000;

fn names(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|s| s.to_string()).collect())
}

fn allow(list: &[&str]) -> Rule {
    Rule {
        names: names(list),
        action: "SCMP_ACT_ALLOW".into(),
        ..Rule::default()
    }
}

/// Docker's default profile, as data. Equivalent to moby's `profiles/seccomp/default.json`.
pub fn default_profile() -> Profile {
    let mut rules = vec![allow(ALLOWED)];
    rules.push(Rule {
        includes: Some(Filter {
            min_kernel: Some("4.8".into()),
            ..Filter::default()
        }),
        ..allow(&["process_vm_readv", "process_vm_writev", "ptrace"])
    });
    // socket(AF_VSOCK=40, ...) is refused; every other family is allowed.
    rules.push(Rule {
        args: Some(vec![Arg {
            index: 0,
            value: 40,
            value_two: 0,
            op: "SCMP_CMP_NE".into(),
        }]),
        ..allow(&["socket"])
    });
    for &p in PERSONALITIES {
        rules.push(Rule {
            args: Some(vec![Arg {
                index: 0,
                value: p,
                value_two: 0,
                op: "SCMP_CMP_EQ".into(),
            }]),
            ..allow(&["personality"])
        });
    }
    for (arches, list) in BY_ARCH {
        rules.push(Rule {
            includes: Some(Filter {
                arches: names(arches),
                ..Filter::default()
            }),
            ..allow(list)
        });
    }
    for (cap, list) in BY_CAP {
        rules.push(Rule {
            includes: Some(Filter {
                caps: names(&[cap]),
                ..Filter::default()
            }),
            ..allow(list)
        });
    }
    // Without CAP_SYS_ADMIN: clone only without namespace flags (arg 1 on s390), and
    // clone3 (whose flags live in memory a filter cannot read) fails with ENOSYS so libc
    // falls back to clone.
    rules.push(Rule {
        args: Some(vec![Arg {
            index: 0,
            value: CLONE_NS_FLAGS,
            value_two: 0,
            op: "SCMP_CMP_MASKED_EQ".into(),
        }]),
        excludes: Some(Filter {
            caps: names(&["CAP_SYS_ADMIN"]),
            arches: names(&["s390", "s390x"]),
            ..Filter::default()
        }),
        ..allow(&["clone"])
    });
    rules.push(Rule {
        args: Some(vec![Arg {
            index: 1,
            value: CLONE_NS_FLAGS,
            value_two: 0,
            op: "SCMP_CMP_MASKED_EQ".into(),
        }]),
        includes: Some(Filter {
            arches: names(&["s390", "s390x"]),
            ..Filter::default()
        }),
        excludes: Some(Filter {
            caps: names(&["CAP_SYS_ADMIN"]),
            ..Filter::default()
        }),
        ..allow(&["clone"])
    });
    rules.push(Rule {
        names: names(&["clone3"]),
        action: "SCMP_ACT_ERRNO".into(),
        errno_ret: Some(libc::ENOSYS as u32),
        excludes: Some(Filter {
            caps: names(&["CAP_SYS_ADMIN"]),
            ..Filter::default()
        }),
        ..Rule::default()
    });
    let arch_map = vec![
        ArchMap {
            architecture: "SCMP_ARCH_X86_64".into(),
            sub_architectures: names(&["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
        },
        ArchMap {
            architecture: "SCMP_ARCH_AARCH64".into(),
            sub_architectures: names(&["SCMP_ARCH_ARM"]),
        },
        ArchMap {
            architecture: "SCMP_ARCH_S390X".into(),
            sub_architectures: names(&["SCMP_ARCH_S390"]),
        },
        ArchMap {
            architecture: "SCMP_ARCH_RISCV64".into(),
            sub_architectures: None,
        },
    ];
    Profile {
        default_action: "SCMP_ACT_ERRNO".into(),
        default_errno_ret: Some(libc::EPERM as u32),
        architectures: None,
        arch_map: Some(arch_map),
        syscalls: rules,
        flags: None,
    }
}

/// Parse a docker-format JSON profile.
pub fn parse_profile(json: &[u8]) -> Result<Profile> {
    serde_json::from_slice(json).map_err(|e| Error::InvalidSeccomp(e.to_string()))
}

/// (docker arch name, libseccomp arch name) of the machine we run on.
fn native_arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
        "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
        "x86" => ("x86", "SCMP_ARCH_X86"),
        "arm" => ("arm", "SCMP_ARCH_ARM"),
        "s390x" => ("s390x", "SCMP_ARCH_S390X"),
        "riscv64" => ("riscv64", "SCMP_ARCH_RISCV64"),
        "powerpc64" => ("ppc64le", "SCMP_ARCH_PPC64LE"),
        other => (other, "SCMP_ARCH_NATIVE"),
    }
}

fn kernel_at_least(min: &str) -> bool {
    fn parse(s: &str) -> (u32, u32) {
        let mut it = s
            .split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty());
        let a = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
        let b = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
        (a, b)
    }
    static RELEASE: OnceLock<(u32, u32)> = OnceLock::new();
    let have = *RELEASE.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| parse(&s))
            .unwrap_or((0, 0))
    });
    have >= parse(min)
}

/// Whether libseccomp knows `name` on this architecture (others are left out rather than
/// warned about on every container start).
fn known_syscall(name: &str) -> bool {
    libseccomp::ScmpSyscall::from_name(name).is_ok()
}

fn rule_applies(rule: &Rule, caps: &[String], arch: &str) -> bool {
    if let Some(inc) = &rule.includes {
        if let Some(need) = &inc.caps {
            if !need.iter().all(|c| caps.contains(c)) {
                return false;
            }
        }
        if let Some(arches) = &inc.arches {
            if !arches.iter().any(|a| a == arch) {
                return false;
            }
        }
        if let Some(min) = &inc.min_kernel {
            if !kernel_at_least(min) {
                return false;
            }
        }
    }
    if let Some(exc) = &rule.excludes {
        if let Some(c) = &exc.caps {
            if c.iter().any(|c| caps.contains(c)) {
                return false;
            }
        }
        if let Some(arches) = &exc.arches {
            if arches.iter().any(|a| a == arch) {
                return false;
            }
        }
    }
    true
}

/// Whether the kernel runs x32-ABI syscalls. Most kernels are built without x32 (or
/// boot with it off), and a filter that also covers SCMP_ARCH_X32 takes libseccomp
/// about twice as long to build; without x32 in the filter, x32 syscalls hit the
/// filter's bad-arch action (kill) — and the kernel would refuse them anyway.
fn kernel_has_x32() -> bool {
    static X32: OnceLock<bool> = OnceLock::new();
    *X32.get_or_init(|| {
        if std::env::consts::ARCH != "x86_64" {
            return false;
        }
        const X32_SYSCALL_BIT: libc::c_long = 0x4000_0000;
        // SAFETY: getpid through the x32 entry point: no arguments, no side effects;
        // ENOSYS when the kernel has no x32 support.
        let r = unsafe { libc::syscall(X32_SYSCALL_BIT | libc::SYS_getpid) };
        r >= 0
    })
}

/// Translate a docker-format profile into the OCI `linux.seccomp` object for a container
/// holding `caps` (in bounding set), on this machine's architecture.
///
/// libcontainer 0.7 quirk: for `SCMP_CMP_MASKED_EQ` it takes the mask from `valueTwo`
/// and the datum from `value` — the reverse of runc and of docker's profile format
/// (mask in `value`). We swap the two here so docker profiles mean what they say.
pub fn to_oci(profile: &Profile, caps: &[String]) -> Result<Value> {
    let (arch, scmp_arch) = native_arch();
    let architectures: Vec<String> = if let Some(map) = &profile.arch_map {
        map.iter()
            .find(|m| m.architecture == scmp_arch)
            .map(|m| {
                let mut v = vec![m.architecture.clone()];
                v.extend(m.sub_architectures.clone().unwrap_or_default());
                v
            })
            .unwrap_or_default()
    } else {
        profile.architectures.clone().unwrap_or_default()
    };
    let mut architectures = architectures;
    if !kernel_has_x32() {
        architectures.retain(|a| a != "SCMP_ARCH_X32");
    }
    let mut syscalls = Vec::new();
    for rule in &profile.syscalls {
        if !rule_applies(rule, caps, arch) {
            continue;
        }
        let mut list: Vec<String> = rule.names.clone().unwrap_or_default();
        if let Some(n) = &rule.name {
            list.push(n.clone());
        }
        list.retain(|n| known_syscall(n));
        if list.is_empty() {
            continue;
        }
        let mut obj = json!({ "names": list, "action": rule.action });
        if let Some(e) = rule.errno_ret {
            obj["errnoRet"] = json!(e);
        }
        if let Some(args) = &rule.args {
            let args: Vec<Value> = args
                .iter()
                .map(|a| {
                    let (value, value_two) = if a.op == "SCMP_CMP_MASKED_EQ" {
                        (a.value_two, a.value)
                    } else {
                        (a.value, a.value_two)
                    };
                    json!({ "index": a.index, "value": value, "valueTwo": value_two, "op": a.op })
                })
                .collect();
            obj["args"] = json!(args);
        }
        syscalls.push(obj);
    }
    let mut out = json!({
        "defaultAction": profile.default_action,
        "architectures": architectures,
        "syscalls": syscalls,
    });
    if let Some(e) = profile.default_errno_ret {
        out["defaultErrnoRet"] = json!(e);
    }
    if let Some(flags) = &profile.flags {
        out["flags"] = json!(flags);
    }
    // Validate against the OCI model now rather than inside the container's init.
    serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(out.clone())
        .map_err(|e| Error::InvalidSeccomp(e.to_string()))?;
    Ok(out)
}

/// Fail unless the kernel supports seccomp filters: a container that asks for seccomp
/// must never run unfiltered.
pub fn ensure_available() -> Result<()> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| Error::SeccompUnavailable(e.to_string()))?;
    if !status.lines().any(|l| l.starts_with("Seccomp:")) {
        return Err(Error::SeccompUnavailable(
            "kernel built without CONFIG_SECCOMP".into(),
        ));
    }
    // SAFETY: prctl(PR_GET_SECCOMP) takes no pointers and only reads our own mode.
    let r = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    if r < 0 {
        return Err(Error::SeccompUnavailable(
            std::io::Error::last_os_error().to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::caps;

    fn names_of(v: &Value) -> Vec<String> {
        v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "SCMP_ACT_ALLOW")
            .flat_map(|r| {
                r["names"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_str().unwrap().to_string())
            })
            .collect()
    }

    #[test]
    fn default_profile_caps_gate_mount() {
        let def = caps::compute(false, &[], &[]).unwrap();
        let v = to_oci(&default_profile(), &def).unwrap();
        let n = names_of(&v);
        assert!(n.contains(&"read".to_string()));
        assert!(!n.contains(&"mount".to_string()));
        assert!(!n.contains(&"unshare".to_string()));
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        let admin = caps::compute(false, &["SYS_ADMIN".into()], &[]).unwrap();
        let n = names_of(&to_oci(&default_profile(), &admin).unwrap());
        assert!(n.contains(&"mount".to_string()));
    }

    #[test]
    fn masked_eq_is_swapped_for_libcontainer() {
        let def = caps::compute(false, &[], &[]).unwrap();
        let v = to_oci(&default_profile(), &def).unwrap();
        let clone = v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["names"][0] == "clone")
            .unwrap();
        assert_eq!(clone["args"][0]["valueTwo"], CLONE_NS_FLAGS);
        assert_eq!(clone["args"][0]["value"], 0);
    }

    #[test]
    fn custom_profile_parses() {
        let p = parse_profile(br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#).unwrap();
        let v = to_oci(&p, &[]).unwrap();
        assert_eq!(v["syscalls"][0]["names"][0], "mkdir");
        assert!(parse_profile(b"{nope").is_err());
    }
}
