//! The daemon's services and their one shared metadata store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use wharf_image::ImageStore;

use crate::container::store::ContainerStore;
use crate::container::Pending;
use wharf_types::Digest;

/// Everything a handler can reach. Cheap to share (`Arc<Daemon>`).
/// Where each daemon's runtime root is by default (`<this>/<hash of the data root>`).
pub const RUNTIME_ROOTS: &str = "/run/wharf/runtime";

pub struct Daemon {
    pub data_root: PathBuf,
    pub db: Arc<redb::Database>,
    pub images: Arc<ImageStore>,
    pub containers: ContainerStore,
    pub volumes: crate::volume::VolumeStore,
    pub networks: crate::network::NetworkStore,
    /// Attaches waiting for their container to start.
    pub pending: Pending,
    /// Execs created and not yet removed.
    pub execs: crate::exec::Execs,
    /// Where the runtime keeps its per-container state (tmpfs, gone at reboot).
    pub runtime_root: PathBuf,
    /// A stable id for this daemon (the `ID` of `docker info`), kept in the data root.
    pub id: String,
    /// The bottom layer of every container's root: the mount targets docker's init layer
    /// holds ([`wharf_runtime::rootfs::ensure_mountpoint_layer`]); `None` if it could not be
    /// made (containers then get them in their write layers).
    pub mountpoint_layer: Option<PathBuf>,
    /// Containers whose shim removed their cgroups and unmounted their root at their last
    /// exit (and not started since): their removal skips looking for those (a `stat` per
    /// hierarchy, and a read of mountinfo, which grows with every running container: with
    /// 120 running, ≈ 0.6 ms of every `run --rm` here).
    pub torn_down: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Container directories made ahead (made once the daemon starts them).
    pub spares: Arc<crate::container::spares::Spares>,
}

impl Daemon {
    /// Opens (or creates) the metadata store at `<data_root>/wharf.redb` and every service on it.
    /// redb commits are durable when `commit()` returns (see docs/adr-0001-metadata-store.md).
    pub fn open(data_root: &Path) -> anyhow::Result<Daemon> {
        let db_path = data_root.join("wharf.redb");
        // A small cache (redb's default is 1 GiB, filled as pages are written): the store is a
        // few MB, the kernel's page cache keeps it at hand anyway, and commits that do not
        // wait for the disk (ADR-0019) write new pages until the next durable one, which a
        // large cache kept in the daemon's memory (≈ 5 MB more over 100 `run -d`).
        let db = Arc::new(
            redb::Builder::new()
                .set_cache_size(4 << 20)
                .create(&db_path)
                .with_context(|| format!("failed to open metadata store {}", db_path.display()))?,
        );
        let images = Arc::new(ImageStore::open(data_root, db.clone())?);
        let containers = ContainerStore::open(db.clone(), data_root.join("containers"))
            .map_err(|e| anyhow::anyhow!("failed to open the container store: {e}"))?;
        let volumes = crate::volume::VolumeStore::open(db.clone(), data_root.join("volumes"))
            .map_err(|e| anyhow::anyhow!("failed to open the volume store: {e}"))?;
        let tag = if data_root == Path::new("/var/lib/wharf") {
            String::new()
        } else {
            short_hash(data_root)
        };
        let networks = crate::network::NetworkStore::open(db.clone(), &tag)
            .map_err(|e| anyhow::anyhow!("failed to open the network store: {e}"))?;
        let id = daemon_id(data_root)?;
        let runtime_root = std::env::var_os("WHARF_RUNTIME_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(RUNTIME_ROOTS).join(short_hash(data_root)));
        let layer = data_root.join("mountpoints");
        let mountpoint_layer = match wharf_runtime::rootfs::ensure_mountpoint_layer(&layer) {
            Ok(()) => Some(layer),
            Err(e) => {
                tracing::warn!(error = %e, "containers go without the shared mount point layer");
                None
            }
        };
        Ok(Daemon {
            data_root: data_root.to_path_buf(),
            db,
            images,
            containers,
            volumes,
            networks,
            pending: Pending::default(),
            execs: Default::default(),
            runtime_root,
            id,
            mountpoint_layer,
            torn_down: Default::default(),
            spares: crate::container::spares::Spares::new(data_root),
        })
    }

    /// The container (if any) using image `id`.
    pub fn image_in_use(&self, id: &Digest) -> Option<String> {
        self.containers.using_image(id)
    }
}

/// Daemons on different data roots keep separate runtime state.
fn short_hash(p: &Path) -> String {
    wharf_types::Digest::of(p.as_os_str().as_encoded_bytes()).hex()[..12].to_string()
}

fn daemon_id(data_root: &Path) -> anyhow::Result<String> {
    let p = data_root.join("engine-id");
    if let Ok(s) = std::fs::read_to_string(&p) {
        if !s.trim().is_empty() {
            return Ok(s.trim().to_string());
        }
    }
    let id = wharf_types::id::random_id();
    let tmp = data_root.join("engine-id.tmp");
    std::fs::write(&tmp, &id)?;
    std::fs::rename(&tmp, &p)?;
    Ok(id)
}
