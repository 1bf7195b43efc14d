//! Capability sets: Docker's default 14, `--cap-add`/`--cap-drop` (with `ALL`), and
//! `--privileged`. Names are accepted with or without the `CAP_` prefix, any case.

use std::collections::BTreeSet;

use crate::error::{Error, Result};

/// Docker's default capability set (moby `oci/caps/defaults.go`); CapEff 0xa80425fb.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel headers name, in bit order (capability(7)).
pub const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Normalise "net_admin" / "NET_ADMIN" / "CAP_NET_ADMIN" to "CAP_NET_ADMIN"; "ALL" stays.
pub fn normalize(name: &str) -> Result<String> {
    let up = name.trim().to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if ALL_CAPS.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(Error::UnknownCapability(name.to_string()))
    }
}

/// The capability set of a process, Docker's way: start from the defaults (or all when
/// privileged), then drops, then adds; `ALL` in either list means every capability.
/// Docker applies adds after drops, so `--cap-drop ALL --cap-add CHOWN` is just CHOWN.
pub fn compute(privileged: bool, cap_add: &[String], cap_drop: &[String]) -> Result<Vec<String>> {
    let mut set: BTreeSet<String> = if privileged {
        ALL_CAPS.iter().map(|s| s.to_string()).collect()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    let adds = cap_add
        .iter()
        .map(|c| normalize(c))
        .collect::<Result<Vec<_>>>()?;
    let drops = cap_drop
        .iter()
        .map(|c| normalize(c))
        .collect::<Result<Vec<_>>>()?;
    if !privileged {
        for d in &drops {
            if d == "ALL" {
                set.clear();
            } else {
                set.remove(d);
            }
        }
    }
    for a in &adds {
        if a == "ALL" {
            set.extend(ALL_CAPS.iter().map(|s| s.to_string()));
        } else {
            set.insert(a.clone());
        }
    }
    // "All" means all the caller can grant: a capability outside our own bounding set
    // would make capset(2) fail in the container's init.
    let host = host_bounding();
    // Keep kernel bit order for stable specs.
    Ok(ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(bit, c)| set.contains(**c) && host & (1u64 << bit) != 0)
        .map(|(_, c)| c)
        .map(|c| c.to_string())
        .collect())
}

/// Our own bounding set (CapBnd of /proc/self/status); all bits if unreadable.
pub fn host_bounding() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

/// The bit mask /proc/PID/status shows for a set (CapEff etc.).
pub fn mask(caps: &[String]) -> u64 {
    caps.iter()
        .filter_map(|c| ALL_CAPS.iter().position(|a| a == c))
        .fold(0u64, |m, bit| m | (1u64 << bit))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn default_mask_is_dockers() {
        let caps = compute(false, &[], &[]).unwrap();
        assert_eq!(caps.len(), 14);
        assert_eq!(mask(&caps), 0xa80425fb);
    }

    #[test]
    fn add_drop_all() {
        let caps = compute(false, &["net_admin".into()], &["CAP_CHOWN".into()]).unwrap();
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
        let caps = compute(false, &["CHOWN".into()], &["ALL".into()]).unwrap();
        assert_eq!(caps, vec!["CAP_CHOWN".to_string()]);
        assert_eq!(
            mask(&compute(true, &[], &[]).unwrap()),
            host_bounding() & ((1u64 << 41) - 1)
        );
        assert!(compute(false, &["BOGUS".into()], &[]).is_err());
    }
}
