//! wharf-image: the image store.
//!
//! Images are kept in three places under the data root, and made durable in that order:
//! - `blobs/sha256/<hex>`: content-addressed blobs (configs; layers as **uncompressed** tars
//!   keyed by their diff_id, so `save` is a plain copy). A layer pulled compressed is kept as
//!   pulled instead, in `blobs/packed/<diff_id>` (a hard link to the verified download, which
//!   the engine's push cache shares), and decompressed when read (ADR-0002). Written to `tmp/` while hashing,
//!   verified, renamed: a blob whose digest does not match never becomes visible. Instead of
//!   an fsync per file, one `syncfs` of the data root flushes blob data, snapshots and the
//!   renames together, before any metadata naming them is committed.
//! - `snapshots/<chain-id hex>/`: one unpacked layer each, overlay style (OCI whiteouts turned
//!   into overlay whiteouts), ready to be an overlayfs lower dir. Unpacked into `tmp/` and
//!   renamed into place.
//! - metadata (image records, tags) in the daemon's one embedded **redb** database, in this
//!   crate's tables `image_*` / `tag_*`, committed in one write transaction after the blobs
//!   and snapshots it names are durable. On [`ImageStore::open`], `tmp/` is wiped and blobs
//!   and snapshots no committed record references (crash leftovers) are removed.
//!
//! Why redb rather than SQLite: it is pure Rust (no C toolchain in the build, no `unsafe` FFI
//! surface), small, and ACID — copy-on-write B-trees with fsync'd two-phase commits, so a
//! `kill -9` at any instant loses no committed transaction and never exposes a torn one. One
//! database file is shared by the whole daemon; each subsystem owns its own tables.
//!
//! Layer sizes are docker's: what a walk of the unpacked layer counts (regular file sizes and
//! symlink target lengths, a hardlinked file once); an image's size is the sum.
//!
//! `load` spools the outer archive into `tmp/` and, while it is still reading, already
//! ingests the files that look like layers on worker threads (decompress, hash, blob,
//! unpack, all into `tmp/`); once the manifest is known, results whose diff_id matches the
//! config are renamed into place, the rest dropped.
//!
//! Layer unpacking (`unpack.rs`) is the first line of defence against hostile images
//! (CVE-2021-32760, tar parser desync): the `tar` crate only parses, and every filesystem
//! operation is fd-relative (openat2 `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`), never
//! following a symlink an earlier entry made.

mod build;
mod changes;
mod commit;
mod compress;
pub mod config;
mod db;
mod error;
mod fsutil;
mod import;
mod layer;
mod load;
mod pull;
mod remove;
mod save;
mod store;
mod unpack;

pub use build::StepOptions;
pub use commit::CommitOptions;
/// Plain, gzip or zstd streams (what layers, build contexts and `ADD` archives may be).
pub use compress::{decompressed, detect, Compression};
pub use config::ImageConfigFile;
pub use error::{Error, Result};
pub use pull::{LayerGate, PullOutcome, PulledLayer};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The uncompressed tar of a layer stored under `data_root` (plain, or kept compressed as it
/// was pulled and decompressed while read); NotFound-kind error when the store lacks it.
pub fn open_layer_tar(
    data_root: &std::path::Path,
    diff_id: &Digest,
) -> Result<Box<dyn std::io::Read + Send>> {
    fsutil::Paths::new(data_root).open_layer(diff_id)
}

/// Whether the store under `data_root` holds layer `diff_id`'s tar (plain or compressed).
pub fn layer_stored(data_root: &std::path::Path, diff_id: &Digest) -> bool {
    fsutil::Paths::new(data_root).has_layer(diff_id)
}

pub use wharf_types::{Digest, Reference};

/// An image as the store knows it.
#[derive(Clone, Debug)]
pub struct Image {
    /// sha256 of the config bytes as stored.
    pub id: Digest,
    pub config: ImageConfigFile,
    /// Bottom first.
    pub layers: Vec<Layer>,
    pub repo_tags: Vec<Reference>,
    /// `name@sha256:…` of manifests this image was pulled/loaded by.
    pub repo_digests: Vec<String>,
    /// Sum of the layers' uncompressed sizes.
    pub size: u64,
    pub parent: Option<Digest>,
    /// RFC 3339 from the config, "" if none.
    pub created: String,
}

/// One layer of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// OCI chain id: names the snapshot directory.
    pub chain_id: Digest,
    /// Uncompressed size in bytes.
    pub size: u64,
}

/// `docker import` options.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Dockerfile instructions applied to the config (`CMD ["sh"]`, `ENV A=b`…).
    pub changes: Vec<String>,
    /// Commit message (history comment).
    pub message: String,
    pub reference: Option<Reference>,
    pub os: String,
    pub architecture: String,
}

/// One line of an rmi/prune answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeleteItem {
    /// Familiar string of the removed tag: "busybox:latest".
    Untagged(String),
    /// "sha256:…" of the removed image.
    Deleted(String),
}

/// `docker image prune` options.
#[derive(Clone, Debug, Default)]
pub struct PruneOptions {
    /// Also remove unused tagged images (not only dangling ones).
    pub all: bool,
    /// Only images created before this unix time (seconds).
    pub until: Option<i64>,
    /// `label=k`, `label=k=v`; entries starting with `!` (from `label!=`) negate.
    pub labels: Vec<String>,
}

/// What a prune removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub deleted: Vec<DeleteItem>,
    pub space_reclaimed: u64,
}

/// One line of `docker history`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryItem {
    /// The image id for the top entry, `"<missing>"` below.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    pub created_by: String,
    pub tags: Vec<String>,
    pub size: u64,
    pub comment: String,
}

/// The image store. Synchronous; `Send + Sync`; call it from `spawn_blocking`.
/// Methods live with their concept: `store.rs` (open, lookups, tags, history),
/// `load.rs`, `save.rs`, `import.rs`, `remove.rs` (rmi, prune).
pub struct ImageStore {
    paths: fsutil::Paths,
    db: Arc<redb::Database>,
    /// In-flight operations' blobs/snapshots (see `store::Pins`).
    pins: Mutex<HashMap<String, usize>>,
    /// Compressed layer digest → diff_id, learnt by loads (a hint for skipping speculative
    /// unpacking of layers already stored; not persisted).
    known_sources: Mutex<HashMap<Digest, Digest>>,
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<ImageStore>();
}
