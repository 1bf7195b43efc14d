//! Precompiled seccomp filters.
//!
//! libcontainer builds the container's filter with libseccomp *inside* the container's
//! init on every start; for Docker's ~350-rule profile on x86_64 + x86 that costs
//! 7–15 ms, most of a container start. Instead we compile the same OCI `linux.seccomp`
//! object to classic BPF once, cache it under the runtime root keyed by its SHA-256,
//! and install it from our own executor: before the init waits for its start (or, with
//! no_new_privs, just before `execve`), as runc.
//!
//! Installing a filter without no_new_privs needs CAP_SYS_ADMIN, which libcontainer has
//! already dropped by then. So the process is given CAP_SYS_ADMIN in its effective and
//! permitted sets *but not in its bounding set*; the executor installs the filter, then
//! drops the capability with capset(2); and execve(2) could not have kept it anyway (for
//! root the new permitted set is bounded by the bounding set; for other users it is empty).
//! If installing fails, the executor fails and the command never runs unfiltered.

use std::io::{Read, Seek};
use std::path::Path;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Changes whenever [`compile`] would build a different program for the same profile.
const COMPILER: &str = "tree-2";

/// CAP_SYS_ADMIN's bit.
pub const CAP_SYS_ADMIN: u32 = 21;

/// Whether `oci` (a `linux.seccomp` object) can take the precompiled path: no user
/// notification and no filter flags (libcontainer handles those).
pub fn precompilable(oci: &Value) -> bool {
    let notify = oci["syscalls"]
        .as_array()
        .is_some_and(|a| a.iter().any(|r| r["action"] == "SCMP_ACT_NOTIFY"));
    oci["defaultAction"] != "SCMP_ACT_NOTIFY"
        && !notify
        && oci["flags"].as_array().is_none_or(|f| f.is_empty())
        && oci.get("listenerPath").is_none()
}

fn action(name: &Value, errno: &Value) -> Result<ScmpAction> {
    let name = name.as_str().unwrap_or_default();
    let errno = errno.as_u64().map(|e| e as i32);
    // As libcontainer: ERRNO/TRACE without a value mean EPERM.
    let errno = match name {
        "SCMP_ACT_ERRNO" | "SCMP_ACT_TRACE" => Some(errno.unwrap_or(libc::EPERM)),
        _ => errno,
    };
    ScmpAction::from_str(name, errno)
        .map_err(|e| Error::InvalidSeccomp(format!("action {name}: {e}")))
}

/// Compile a `linux.seccomp` object to BPF, with exactly libcontainer's translation
/// (including its MASKED_EQ convention: mask in `valueTwo`, datum in `value`).
pub fn compile(oci: &Value) -> Result<Vec<u8>> {
    let bad = |e: libseccomp::error::SeccompError| Error::InvalidSeccomp(e.to_string());
    let default = action(&oci["defaultAction"], &oci["defaultErrnoRet"])?;
    let mut ctx = ScmpFilterContext::new(default).map_err(bad)?;
    for a in oci["architectures"].as_array().into_iter().flatten() {
        let arch: ScmpArch = a.as_str().unwrap_or_default().parse().map_err(bad)?;
        ctx.add_arch(arch).map_err(bad)?;
    }
    ctx.set_ctl_nnp(false).map_err(bad)?;
    // A binary tree of syscall numbers instead of libseccomp's default linear list (Docker's
    // profile is ~690 instructions): the kernel then builds its per-syscall action cache
    // at install time by emulating a few dozen instructions per syscall number instead of
    // hundreds, and every syscall the cache does not cover is decided in fewer steps.
    // libseccomp < 2.5 has no such setting; the linear filter is just as correct.
    if let Err(e) = ctx.set_ctl_optimize(2) {
        tracing::debug!(error = %e, "seccomp filter without the binary tree");
    }
    for rule in oci["syscalls"].as_array().into_iter().flatten() {
        let act = action(&rule["action"], &rule["errnoRet"])?;
        if act == default {
            continue;
        }
        let mut cmps = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut dup = false;
        for a in rule["args"].as_array().into_iter().flatten() {
            let index = a["index"].as_u64().unwrap_or(0) as u32;
            let value = a["value"].as_u64().unwrap_or(0);
            let two = a["valueTwo"].as_u64().unwrap_or(0);
            let op_name = a["op"].as_str().unwrap_or_default();
            let op = if op_name == "SCMP_CMP_MASKED_EQ" {
                ScmpCompareOp::MaskedEqual(two)
            } else {
                op_name.parse().map_err(bad)?
            };
            dup |= !seen.insert(index);
            cmps.push(ScmpArgCompare::new(index, op, value));
        }
        for name in rule["names"].as_array().into_iter().flatten() {
            let Ok(sc) = ScmpSyscall::from_name(name.as_str().unwrap_or_default()) else {
                continue;
            };
            if cmps.is_empty() {
                ctx.add_rule(act, sc).map_err(bad)?;
            } else if dup {
                for c in &cmps {
                    ctx.add_rule_conditional(act, sc, std::slice::from_ref(c))
                        .map_err(bad)?;
                }
            } else {
                ctx.add_rule_conditional(act, sc, &cmps).map_err(bad)?;
            }
        }
    }
    let memfd = rustix::fs::memfd_create("wharf-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| Error::io("create memfd for", "seccomp filter", e.into()))?;
    ctx.export_bpf(&memfd).map_err(bad)?;
    let mut f = std::fs::File::from(memfd);
    let mut out = Vec::new();
    f.rewind()
        .and_then(|_| f.read_to_end(&mut out))
        .map_err(|e| Error::io("read", "exported seccomp filter", e))?;
    validate(&out)?;
    Ok(out)
}

fn validate(bpf: &[u8]) -> Result<()> {
    let n = bpf.len() / std::mem::size_of::<libc::sock_filter>();
    if bpf.is_empty()
        || bpf.len() % std::mem::size_of::<libc::sock_filter>() != 0
        || n > u16::MAX as usize
    {
        return Err(Error::InvalidSeccomp(format!(
            "bad BPF program of {} bytes",
            bpf.len()
        )));
    }
    Ok(())
}

/// The compiled filter for `oci` (whose JSON text is `text`), from `cache_dir` when present
/// (written atomically).
pub fn cached(cache_dir: &Path, oci: &Value, text: &str) -> Result<Vec<u8>> {
    // The compiler's own version is part of the key: a cache made by an older build (a
    // linear filter) is not reused by one that builds another program.
    let key = hex(&Sha256::digest(
        format!("{COMPILER}|{}|{text}", std::env::consts::ARCH).as_bytes(),
    ));
    let path = cache_dir.join(format!("{key}.bpf"));
    if let Ok(b) = std::fs::read(&path) {
        if validate(&b).is_ok() {
            return Ok(b);
        }
    }
    let bpf = compile(oci)?;
    if std::fs::create_dir_all(cache_dir).is_ok() {
        let tmp = cache_dir.join(format!(".{key}.{}", std::process::id()));
        if std::fs::write(&tmp, &bpf).is_ok() && std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok(bpf)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Install a compiled filter on the calling thread (no flags, as libseccomp would).
pub fn install(bpf: &[u8]) -> std::io::Result<()> {
    validate(bpf)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let prog = libc::sock_fprog {
        len: (bpf.len() / std::mem::size_of::<libc::sock_filter>()) as u16,
        filter: bpf.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prog points at a validated, live array of sock_filter for the call's duration.
    let r = unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &prog) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Remove one capability from the effective, permitted and inheritable sets.
pub fn drop_capability(cap: u32) -> std::io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const V3: u32 = 0x2008_0522;
    let mut hdr = Header {
        version: V3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget/capset with a v3 header and a two-element data array, as capget(2).
    unsafe {
        if libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let (i, bit) = ((cap / 32) as usize, 1u32 << (cap % 32));
        data[i].effective &= !bit;
        data[i].permitted &= !bit;
        data[i].inheritable &= !bit;
        if libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn default_profile_compiles_and_caches() {
        let caps = crate::caps::compute(false, &[], &[]).unwrap();
        let oci = crate::seccomp::to_oci(&crate::seccomp::default_profile(), &caps).unwrap();
        assert!(precompilable(&oci));
        let d = tempfile::tempdir().unwrap();
        let text = oci.to_string();
        let a = cached(d.path(), &oci, &text).unwrap();
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        let b = cached(d.path(), &oci, &text).unwrap();
        assert_eq!(a, b);
        assert!(a.len() > 8 * 100);
    }
}
