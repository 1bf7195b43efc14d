//! Black-box tests of the `wharf` binary, as root: a real daemon per test on a private socket
//! and data root, driven by `wharf` and by the real `docker` CLI.

mod archive;
mod build;
mod cgroup_v2;
mod common;
mod compose;
mod containers;
mod crash;
mod hostile;
mod images;
mod interop;
mod networks;
mod pull;
mod push;
mod push_resume;
mod registry;
mod registry_tokens;
mod regsetup;
mod search;
mod volumes;
