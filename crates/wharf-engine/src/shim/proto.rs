//! What the daemon and a shim say to each other.
//!
//! The daemon writes a [`ShimSpec`] to `<container dir>/shim.json` and starts `wharf shim DIR`.
//! The shim prepares the container (created, not yet running), binds `DIR/shim.sock`, and
//! prints one line on its stdout: `ready PID` or `error MESSAGE`. Then every request is one
//! JSON line ([`Request`]) on a fresh connection to the socket:
//! - `start`, `kill`, `resize`, `pause`, `resume`, `stats`: a one-line JSON [`Reply`].
//! - `wait`: the [`Exit`] line once the container has exited (immediately if it has).
//! - `attach`: a `{"ok":true}` line, then the raw stream: container output in Docker's framing
//!   (8-byte headers, or raw bytes with a tty) from the shim, stdin bytes to it; the shim
//!   closes it when the container exits.
//! - `exec`: like attach, for a new process; its exit code is then in `DIR/exec-ID.json`.

use serde::{Deserialize, Serialize};

/// Everything a shim needs to run one container. Written by the daemon, read by the shim.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ShimSpec {
    pub id: String,
    /// The container as the runtime needs it.
    pub run: wharf_runtime::ContainerConfig,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub log_path: String,
    /// json-file rotation: 0 = unlimited.
    pub log_max_size: u64,
    pub log_max_files: u32,
    /// The runtime's state root (e.g. /run/wharf/runtime).
    pub runtime_root: String,
    /// Host ports to hold for the container's published ports (`host_port` 0: any free one).
    /// The shim binds them before the container exists and keeps them while it runs, so no
    /// one else takes them; the kernel's DNAT does the forwarding. The ports it got are in
    /// `DIR/ports.json` (same order) when it says `ready`.
    #[serde(default)]
    pub ports: Vec<crate::network::PublishedPort>,
    /// Start the process as soon as it is created, without waiting for a `start` request:
    /// the daemon has nothing to do in between (no network to plug). `ready` then comes
    /// once it runs, and saves the daemon's round trip on every start.
    #[serde(default)]
    pub autostart: bool,
    /// With `autostart`: the attaches the daemon makes right after `ready` (docker's `run`
    /// attaches before it starts). The output is held for them until they are all there, so
    /// they miss none of it.
    #[serde(default)]
    pub attaches: u32,
    /// The start this spec is for (the record's `StartedAt`), written before the shim is
    /// spawned. The start's commit does not wait for the disk: a daemon that crashed after it
    /// finds here a start its record lacks (ADR-0019).
    #[serde(default)]
    pub started_at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    Start,
    Wait,
    Kill {
        signal: i32,
        all: bool,
    },
    Resize {
        height: u16,
        width: u16,
    },
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
        /// One of the attaches announced in `ShimSpec::attaches`: it first gets the output
        /// held for it.
        #[serde(default)]
        held: bool,
    },
    Exec(ExecSpec),
    ExecResize {
        exec_id: String,
        height: u16,
        width: u16,
    },
    Pause,
    Resume,
    Stats,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ExecSpec {
    pub exec_id: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: String,
    pub tty: bool,
    pub stdin: bool,
    pub privileged: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
}

impl Reply {
    pub fn ok() -> Reply {
        Reply {
            ok: true,
            ..Default::default()
        }
    }
    pub fn err(e: impl std::fmt::Display) -> Reply {
        Reply {
            ok: false,
            error: e.to_string(),
            ..Default::default()
        }
    }
}

/// How a container (or an exec) ended. Also the content of `exit.json` / `exec-ID.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    pub exit_code: i64,
    pub oom_killed: bool,
    pub finished_at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// The shim removed the container's cgroups and unmounted its root before it reported
    /// the exit: the daemon's removal of the container need not look for them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub torn_down: bool,
}

/// Docker's stream framing: `[stream, 0, 0, 0, len (u32 BE)]` then the payload.
pub fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + payload.len());
    v.extend_from_slice(&[stream, 0, 0, 0]);
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}
