//! CVE-2019-5736 defence: the process that enters a container must not be the runtime's
//! host binary, or the container could reopen it through `/proc/PID/exe` and overwrite it.
//!
//! libcontainer 0.7 forks the caller into the container (it does not re-exec a cloned
//! binary like runc does), so the caller — the `wharf shim` — must itself run from a
//! sealed copy: [`ensure_sealed_self`] copies `/proc/self/exe` into a memfd, seals it
//! against writes, and re-execs from it. Call it first thing in `main`, while the process
//! is single-threaded. libcontainer additionally makes the process non-dumpable while it
//! joins a container, so container processes cannot open its `/proc/PID/exe` anyway.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use rustix::fs::{MemfdFlags, SealFlags};

const SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// Whether `/proc/self/exe` already is a write-sealed memfd.
pub fn is_sealed_self() -> bool {
    let Ok(fd) = rustix::fs::open(
        "/proc/self/exe",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) else {
        return false;
    };
    matches!(rustix::fs::fcntl_get_seals(&fd), Ok(s) if s.contains(SealFlags::WRITE | SealFlags::SEAL))
}

fn sealed_copy() -> io::Result<OwnedFd> {
    let mut exe = std::fs::File::open("/proc/self/exe")?;
    let memfd = rustix::fs::memfd_create(
        "wharf-runtime",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    let mut out = std::fs::File::from(memfd);
    io::copy(&mut exe, &mut out)?;
    let memfd = OwnedFd::from(out);
    rustix::fs::fcntl_add_seals(&memfd, SEALS)?;
    Ok(memfd)
}

/// Re-exec the current program from a sealed memfd copy unless already running from one.
/// Returns only if already sealed, or with the error that prevented the re-exec.
pub fn ensure_sealed_self() -> io::Result<()> {
    if is_sealed_self() {
        return Ok(());
    }
    let memfd = sealed_copy()?;
    let args: Vec<CString> = std::env::args_os()
        .map(|a| {
            CString::new(a.into_encoded_bytes())
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
        })
        .collect::<io::Result<_>>()?;
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut b = k.into_encoded_bytes();
            b.push(b'=');
            b.extend(v.into_encoded_bytes());
            CString::new(b).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
        })
        .collect::<io::Result<_>>()?;
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: argv/envp are NULL-terminated arrays of valid C strings that outlive the call;
    // on success fexecve does not return.
    unsafe { libc::fexecve(memfd.as_raw_fd(), argv.as_ptr(), envp.as_ptr()) };
    Err(io::Error::last_os_error())
}
