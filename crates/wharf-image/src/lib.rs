//! wharf-image: the image store.
//!
//! Images are kept in three places under the data root, and made durable in that order:
//! - `blobs/sha256/<hex>`: content-addressed blobs (configs; layers as **uncompressed** tars
//!   keyed by their diff_id). Written to `tmp/` while hashing, fsync'd, verified, renamed: a
//!   blob whose digest does not match never becomes visible.
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
//! Layer unpacking ([`unpack`]) is the first line of defence against hostile images
//! (CVE-2021-32760, tar parser desync): the `tar` crate only parses, and every filesystem
//! operation is fd-relative (openat2 `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`), never
//! following a symlink an earlier entry made.

pub mod config;
mod error;

pub use config::ImageConfigFile;
pub use error::{Error, Result};

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wharf_types::{Digest, Reference};

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
    /// The image id for the top entry, "<missing>" below.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    pub created_by: String,
    pub tags: Vec<String>,
    pub size: u64,
    pub comment: String,
}

/// The image store. Synchronous; `Send + Sync`; call it from `spawn_blocking`.
pub struct ImageStore {
    #[allow(dead_code)]
    root: PathBuf,
    #[allow(dead_code)]
    db: Arc<redb::Database>,
}

impl ImageStore {
    pub fn open(data_root: &Path, db: Arc<redb::Database>) -> Result<ImageStore> {
        let _ = (data_root, db);
        todo!()
    }
    /// All images, newest first.
    pub fn list(&self) -> Result<Vec<Image>> {
        todo!()
    }
    pub fn get(&self, id: &Digest) -> Result<Image> {
        let _ = id;
        todo!()
    }
    /// Docker's lookup: full ID ("sha256:…" or 64 hex), then normalized reference (tag or digest),
    /// then unambiguous ID prefix (with or without "sha256:"). NotFound: "No such image: {input}".
    pub fn resolve(&self, name_or_id: &str) -> Result<Image> {
        let _ = name_or_id;
        todo!()
    }
    pub fn config_bytes(&self, id: &Digest) -> Result<Vec<u8>> {
        let _ = id;
        todo!()
    }
    /// Moves the tag if it pointed elsewhere.
    pub fn tag(&self, source: &str, target: &Reference) -> Result<()> {
        let _ = (source, target);
        todo!()
    }
    /// docker rmi semantics. `in_use(image_id)` returns the id of a container using it, if any.
    pub fn remove(
        &self,
        name_or_id: &str,
        force: bool,
        prune: bool,
        in_use: &dyn Fn(&Digest) -> Option<String>,
    ) -> Result<Vec<DeleteItem>> {
        let _ = (name_or_id, force, prune, in_use);
        todo!()
    }
    pub fn import(&self, src: &mut dyn Read, opts: &ImportOptions) -> Result<Digest> {
        let _ = (src, opts);
        todo!()
    }
    pub fn load(&self, src: &mut dyn Read, progress: &mut dyn FnMut(&str)) -> Result<Vec<String>> {
        let _ = (src, progress);
        todo!()
    }
    pub fn save(&self, names: &[String], out: &mut dyn Write) -> Result<()> {
        let _ = (names, out);
        todo!()
    }
    pub fn prune(&self, opts: &PruneOptions, in_use: &dyn Fn(&Digest) -> Option<String>) -> Result<PruneReport> {
        let _ = (opts, in_use);
        todo!()
    }
    /// Newest first, docker's shape.
    pub fn history(&self, id: &Digest) -> Result<Vec<HistoryItem>> {
        let _ = id;
        todo!()
    }
    /// Snapshot dirs, TOP-most first (overlay lowerdir order).
    pub fn layer_dirs(&self, id: &Digest) -> Result<Vec<PathBuf>> {
        let _ = id;
        todo!()
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<ImageStore>();
}
