//! `wharf-runtime`: Wharf's synchronous low-level container runtime.
//!
//! A [`ContainerConfig`] (what the engine knows about a container) is turned into an OCI
//! runtime spec ([`spec::build_spec`]) and run by an implementation of the [`Runtime`]
//! trait. The one implementation today is [`LibcontainerRuntime`], which embeds youki's
//! `libcontainer` crate. Everything here is synchronous and forks: call it from a
//! single-threaded process (Wharf's per-container shim), never from the tokio daemon.
//!
//! Security defaults follow Docker (see `shared/SECURITY.md`): the 14 default capabilities
//! ([`caps`]), Docker's default seccomp allowlist ([`seccomp`]), masked and read-only `/proc`
//! paths, a fresh tmpfs `/dev`, a devices cgroup allowing only the standard character
//! devices, and users resolved from the container's own `/etc/passwd` without leaving its
//! root ([`user`]). [`selfexe::ensure_sealed_self`] defends against CVE-2019-5736.

pub mod bpf;
pub mod caps;
pub mod cgroup;
mod config;
pub mod devices;
pub mod error;
mod libcontainer_rt;
pub mod memory;
pub mod rootfs;
pub mod seccomp;
pub mod selfexe;
pub mod spec;
pub mod user;

pub use config::{
    ContainerConfig, DeviceMapping, ExecConfig, Extra, HostsFiles, Mount, NetworkMode, Pid,
    Seccomp, State, Stats, Status, Stdio,
};
pub use error::{Error, ErrorKind, Result};
pub use libcontainer_rt::{
    new_ipc_namespace, new_network_namespace, LibcontainerRuntime, REMOVED_PREFIX,
};

/// A low-level container runtime: the OCI lifecycle verbs plus the few extras the engine
/// needs (exec, freezer, stats, OOM). Synchronous; implementations fork.
pub trait Runtime {
    /// Mount the rootfs, create cgroup and namespaces and the container's init process,
    /// stopped just before it execs the user command (call [`Runtime::start`]).
    fn create(&self, cfg: &ContainerConfig, stdio: Stdio) -> Result<Pid>;
    /// Let a created container's init exec the user command.
    fn start(&self, id: &str) -> Result<()>;
    /// Signal the init process (or, with `all`, every process in the container).
    fn kill(&self, id: &str, sig: i32, all: bool) -> Result<()>;
    /// Remove cgroup, state and rootfs mount; `force` kills a running container first.
    /// Leaves nothing behind but the upper (write-layer) dir, which the engine removes.
    fn delete(&self, id: &str, force: bool) -> Result<()>;
    /// The container's lifecycle state.
    fn state(&self, id: &str) -> Result<State>;
    /// Run another process in a running container.
    fn exec(&self, id: &str, p: &ExecConfig, stdio: Stdio) -> Result<Pid>;
    /// Freeze every process of the container (freezer cgroup).
    fn pause(&self, id: &str) -> Result<()>;
    /// Thaw a paused container.
    fn resume(&self, id: &str) -> Result<()>;
    /// Resource usage from the container's cgroup.
    fn stats(&self, id: &str) -> Result<Stats>;
    /// Whether the kernel OOM killer has killed a process of this container.
    /// Ask before [`Runtime::delete`], which removes the cgroup holding the counter.
    fn oom_killed(&self, id: &str) -> bool;
}
