//! The shim's seam to the runtime: [`Backend`], implemented over `wharf-runtime`.

use std::os::fd::OwnedFd;

use super::proto::{ExecSpec, ShimSpec};

/// The container's ends of its stdio.
pub struct ChildStdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// One container's lifecycle as the shim drives it. Errors are the messages users see.
pub trait Backend {
    /// Creates the container (namespaces, rootfs, cgroup) with its process not yet started.
    fn create(&self, spec: &ShimSpec, stdio: ChildStdio) -> Result<i64, String>;
    fn start(&self) -> Result<(), String>;
    fn kill(&self, signal: i32, all: bool) -> Result<(), String>;
    fn delete(&self) -> Result<(), String>;
    fn oom_killed(&self) -> bool;
    fn pause(&self) -> Result<(), String>;
    fn resume(&self) -> Result<(), String>;
    fn stats(&self) -> Result<serde_json::Value, String>;
    /// Starts a process inside the running container; returns its host pid.
    fn exec(&self, spec: &ExecSpec, stdio: ChildStdio) -> Result<i64, String>;
}

pub fn open(spec: &ShimSpec) -> Result<Box<dyn Backend + Send + Sync>, String> {
    let _ = spec;
    Err("the container runtime is not built into this wharf yet".to_string())
}
