//! Times `create + start + wait + delete` of `true` in a busybox container, embedded in a
//! single-threaded process as the shim will run it.
//!
//! `cargo run --release -p wharf-runtime --example bench -- [N] [--privileged] [--unconfined]
//! [--host-net] [-- cmd...]`
//! (as root; needs /bin/busybox). Prints per-phase medians in milliseconds.

use std::path::Path;
use std::time::Instant;

use wharf_runtime::{ContainerConfig, LibcontainerRuntime, Runtime, Stdio};

fn main() {
    wharf_runtime::selfexe::ensure_sealed_self().expect("sealed re-exec");
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WHARF_LOG")
                .unwrap_or_else(|_| "warn,libcgroups=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(50);
    let privileged = args.iter().any(|a| a == "--privileged");
    let flag = |f: &str| args.iter().take_while(|a| *a != "--").any(|a| a == f);
    let seccomp = if flag("--unconfined") {
        wharf_runtime::Seccomp::Unconfined
    } else {
        wharf_runtime::Seccomp::Default
    };
    let network = if flag("--host-net") {
        wharf_runtime::NetworkMode::Host
    } else {
        wharf_runtime::NetworkMode::New
    };
    let cmd: Vec<String> = match args.iter().position(|a| a == "--") {
        Some(i) => args[i + 1..].to_vec(),
        None => vec!["true".into()],
    };
    let dir = tempfile::Builder::new()
        .prefix("wharf-bench")
        .tempdir()
        .expect("tempdir");
    let lower = dir.path().join("rootfs");
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
        std::fs::create_dir_all(lower.join(d)).expect("mkdir");
    }
    std::fs::copy("/bin/busybox", lower.join("bin/busybox")).expect("copy busybox");
    for a in ["sh", "true", "cat", "echo", "grep", "id"] {
        std::os::unix::fs::symlink("busybox", lower.join("bin").join(a)).expect("symlink");
    }
    std::fs::write(lower.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    let rt = LibcontainerRuntime::new(dir.path().join("run")).expect("runtime");
    let (mut create, mut start_wait, mut delete, mut total) = (vec![], vec![], vec![], vec![]);
    for i in 0..n {
        let id = format!("{:064x}", (std::process::id() as u128) << 32 | i as u128);
        let cfg = ContainerConfig {
            state_dir: dir.path().join("c").join(&id),
            id: id.clone(),
            lower_dirs: vec![lower.clone()],
            args: cmd.clone(),
            env: vec!["PATH=/bin".into()],
            privileged,
            seccomp: seccomp.clone(),
            network: network.clone(),
            ephemeral: flag("--ephemeral"),
            ..ContainerConfig::default()
        };
        let t0 = Instant::now();
        let pid = match rt.create(&cfg, Stdio::Inherit) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("create failed: {e:?}");
                std::process::exit(1);
            }
        };
        let t1 = Instant::now();
        rt.start(&id).expect("start");
        let mut status = 0;
        // SAFETY: reaping our own child (libcontainer creates init with CLONE_PARENT).
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let t2 = Instant::now();
        rt.delete(&id, false).expect("delete");
        let t3 = Instant::now();
        if status != 0 {
            eprintln!("run {i}: wait status {status:#x}");
        }
        let _ = std::fs::remove_dir_all(&cfg.state_dir);
        create.push(t1 - t0);
        start_wait.push(t2 - t1);
        delete.push(t3 - t2);
        total.push(t2 - t0);
    }
    let med = |v: &mut Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1000.0
    };
    let p90 = |v: &Vec<std::time::Duration>| v[v.len() * 9 / 10].as_secs_f64() * 1000.0;
    let (c, s, d, t) = (
        med(&mut create),
        med(&mut start_wait),
        med(&mut delete),
        med(&mut total),
    );
    // CPU time (ours + reaped children) per container: a load-independent cost measure on
    // a machine shared with other work.
    let cpu = |who| {
        // SAFETY: getrusage fills a zeroed rusage struct.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut ru) };
        let tv = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    };
    println!(
        "cpu per container (create+start+wait+delete, incl. children): {:.2} ms",
        (cpu(libc::RUSAGE_SELF) + cpu(libc::RUSAGE_CHILDREN)) / n as f64
    );
    println!(
        "n={n} median ms: create {c:.2}, start+wait {s:.2}, create+start+wait {t:.2} (min {:.2}, p90 {:.2}), delete {d:.2}",
        total[0].as_secs_f64() * 1000.0,
        p90(&total)
    );
    let _ = Path::new("/");
}
