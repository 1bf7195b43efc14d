//! The shim's seam to the runtime: [`Backend`], implemented over `wharf-runtime`'s embedded
//! libcontainer ([`RuntimeBackend`]).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use wharf_runtime::{LibcontainerRuntime, Runtime};

use super::proto::{ExecSpec, ShimSpec};

/// The container's ends of its stdio.
pub enum ChildStdio {
    Fds {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A tty: the runtime makes the pty inside the container (so it is the controlling
    /// terminal) and sends its master to the OCI console socket at this path.
    Console(PathBuf),
}

/// One container's lifecycle as the shim drives it. Errors are the messages users see.
pub trait Backend {
    /// Creates the container (namespaces, rootfs, cgroup) with its process not yet started.
    fn create(&self, spec: &ShimSpec, stdio: ChildStdio) -> Result<i64, String>;
    fn start(&self) -> Result<(), String>;
    fn kill(&self, signal: i32, all: bool) -> Result<(), String>;
    fn delete(&self) -> Result<(), String>;
    /// What `delete` left for later (after the exit is reported): its slow removals.
    fn finish(&self) {}
    fn oom_killed(&self) -> bool;
    fn pause(&self) -> Result<(), String>;
    fn resume(&self) -> Result<(), String>;
    fn stats(&self) -> Result<serde_json::Value, String>;
    /// Starts a process inside the running container; returns its host pid.
    fn exec(&self, spec: &ExecSpec, stdio: ChildStdio) -> Result<i64, String>;
}

pub struct RuntimeBackend {
    rt: LibcontainerRuntime,
    id: String,
    state_dir: std::path::PathBuf,
}

pub fn open(spec: &ShimSpec) -> Result<Box<dyn Backend + Send + Sync>, String> {
    let rt = LibcontainerRuntime::new(&spec.runtime_root)
        .map_err(|e| e.to_string())?
        .defer_removals();
    Ok(Box::new(RuntimeBackend {
        rt,
        id: spec.id.clone(),
        state_dir: spec.run.state_dir.clone(),
    }))
}

fn to_stdio(s: ChildStdio) -> wharf_runtime::Stdio {
    match s {
        ChildStdio::Fds {
            stdin,
            stdout,
            stderr,
        } => wharf_runtime::Stdio::Fds {
            stdin,
            stdout,
            stderr,
        },
        ChildStdio::Console(p) => wharf_runtime::Stdio::Console(p),
    }
}

impl Backend for RuntimeBackend {
    fn create(&self, spec: &ShimSpec, stdio: ChildStdio) -> Result<i64, String> {
        self.rt
            .create(&spec.run, to_stdio(stdio))
            .map(i64::from)
            .map_err(|e| e.to_string())
    }
    fn start(&self) -> Result<(), String> {
        self.rt.start(&self.id).map_err(|e| e.to_string())
    }
    fn kill(&self, signal: i32, all: bool) -> Result<(), String> {
        self.rt
            .kill(&self.id, signal, all)
            .map_err(|e| e.to_string())
    }
    fn delete(&self) -> Result<(), String> {
        self.rt.delete(&self.id, true).map_err(|e| {
            // Whatever stopped the runtime (its state unreadable), the container's mount,
            // cgroups and state must still go.
            let mut msg = e.to_string();
            for l in self.rt.remove_leftovers(&self.id, &self.state_dir) {
                msg.push_str(&format!("; {l}"));
            }
            msg
        })
    }
    fn finish(&self) {
        self.rt.finish_removals();
    }
    fn oom_killed(&self) -> bool {
        self.rt.oom_killed(&self.id)
    }
    fn pause(&self) -> Result<(), String> {
        self.rt.pause(&self.id).map_err(|e| e.to_string())
    }
    fn resume(&self) -> Result<(), String> {
        self.rt.resume(&self.id).map_err(|e| e.to_string())
    }
    fn stats(&self) -> Result<serde_json::Value, String> {
        let s = self.rt.stats(&self.id).map_err(|e| e.to_string())?;
        serde_json::to_value(s).map_err(|e| e.to_string())
    }
    fn exec(&self, spec: &ExecSpec, stdio: ChildStdio) -> Result<i64, String> {
        let p = wharf_runtime::ExecConfig {
            args: spec.args.clone(),
            env: spec.env.clone(),
            cwd: spec.cwd.clone(),
            user: spec.user.clone(),
            tty: spec.tty,
            privileged: spec.privileged,
            ..Default::default()
        };
        self.rt
            .exec(&self.id, &p, to_stdio(stdio))
            .map(i64::from)
            .map_err(|e| e.to_string())
    }
}

/// Receives the pty master the runtime sends to the console socket (one fd, SCM_RIGHTS).
pub fn receive_console(listener: &UnixListener) -> std::io::Result<File> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let (conn, _) = listener.accept()?;
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = RecvAncillaryBuffer::new(&mut space);
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    rustix::net::recvmsg(&conn, &mut iov, &mut cmsg, RecvFlags::CMSG_CLOEXEC)?;
    for msg in cmsg.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
            if let Some(fd) = fds.next() {
                return Ok(File::from(fd));
            }
        }
    }
    Err(std::io::Error::other("the runtime sent no pty master"))
}
