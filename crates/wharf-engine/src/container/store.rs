//! Container records: kept in memory for speed and written through to the daemon's one
//! crash-safe metadata store (redb tables `containers` and `container_names`), so a restarted
//! daemon finds every container it had. Each record has a `watch` channel of its state, for
//! `wait` and for restart policies.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bollard_stubs::models::{ContainerConfig, HostConfig};
use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use wharf_types::{Digest, ErrorKind};

use crate::api::ApiError;

const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");
const NAMES: TableDefinition<&str, &str> = TableDefinition::new("container_names");

/// The record as created, in the container's directory: [`ContainerStore::insert`] commits
/// without waiting for the disk, and a daemon killed before its next durable commit finds the
/// container again through this file ([`ContainerStore::open`]).
const CREATED_RECORD: &str = "created.json";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
    /// Has a live process (running, paused, or between restarts).
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub pid: i64,
    pub exit_code: i64,
    pub oom_killed: bool,
    pub error: String,
    /// RFC 3339; "" before the first start / exit.
    pub started_at: String,
    pub finished_at: String,
    /// Present when the container has a health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::Health>,
}

/// One container as the daemon keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    /// Without docker's leading "/".
    pub name: String,
    pub created: String,
    /// The image as the user named it.
    pub image: String,
    pub image_id: Digest,
    /// The image's config merged with the request's.
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub path: String,
    pub args: Vec<String>,
    pub state: State,
    pub restart_count: i64,
    /// Set by `stop`/`kill` from a user, so `unless-stopped` and `always` stay down.
    pub manually_stopped: bool,
    /// Volumes, binds and tmpfs mounts, resolved at create.
    #[serde(default)]
    pub mounts: Vec<super::mounts::MountPoint>,
    /// Networks the container is on, by network name (addresses while it runs).
    #[serde(default)]
    pub endpoints: std::collections::BTreeMap<String, crate::network::Endpoint>,
    /// Host ports bound for it while it runs.
    #[serde(default)]
    pub ports: Vec<crate::network::PublishedPort>,
}

impl Container {
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

struct Entry {
    c: Container,
    tx: watch::Sender<State>,
}

pub struct ContainerStore {
    db: Arc<redb::Database>,
    /// `<data-root>/containers`: one directory per container.
    pub root: PathBuf,
    inner: Mutex<HashMap<String, Entry>>,
    /// A commit made without waiting for the disk since the last durable one:
    /// [`ContainerStore::flush`] makes it durable.
    dirty: AtomicBool,
}

fn db_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("metadata store: {e}"))
}

/// Marks `dir` as the top of unrelated directory trees (ext4's `TOPDIR` flag, `chattr +T`;
/// not inherited): ext4 then places each directory made in it, and so the files made in
/// those, in a block group of its own choosing (Orlov's spreading of top-level directories)
/// instead of next to `dir`. Set on the containers' directory (each container's directory
/// spreads) and on each container's directory (its write layer, work directory, bundle and
/// root mount point spread too). See ADR-0017.
///
/// Why: every `run` makes ≈ 36 inodes on the data root's filesystem (the container's files,
/// its write layer, overlayfs's work directory and probes) and every removal frees as many.
/// On an ext4 without a journal (this machine kind's root filesystem), the inode allocator
/// skips the inodes freed in the last one to six minutes, looking each one up in the inode
/// table (`find_inode_bit`, `recently_deleted`), and it scans from the start of the group:
/// with containers made and removed in a row in one group, every new inode cost ≈ 0.1 ms,
/// ≈ 3–4 ms per `run --rm`. Spread, a new container's inodes seldom share a group with
/// recently freed ones. Best effort: other filesystems (and tmpfs) refuse the flag or have no
/// such allocator; nothing changes there.
pub(crate) fn spread_subdirectories(dir: &std::path::Path) {
    use rustix::fs::{ioctl_getflags, ioctl_setflags, IFlags};
    let Ok(f) = std::fs::File::open(dir) else {
        return;
    };
    match ioctl_getflags(&f) {
        Ok(flags) if !flags.contains(IFlags::TOPDIR) => {
            if let Err(e) = ioctl_setflags(&f, flags | IFlags::TOPDIR) {
                tracing::debug!(dir = %dir.display(), error = %e, "cannot mark the containers' directory as a top directory");
            }
        }
        _ => {}
    }
}

pub fn no_such_container(name: &str) -> ApiError {
    ApiError::new(ErrorKind::NotFound, format!("No such container: {name}"))
}

impl ContainerStore {
    pub fn open(db: Arc<redb::Database>, root: PathBuf) -> Result<ContainerStore, ApiError> {
        std::fs::create_dir_all(&root).map_err(|e| db_err(format!("{}: {e}", root.display())))?;
        spread_subdirectories(&root);
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(CONTAINERS).map_err(db_err)?;
        tx.open_table(NAMES).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        let mut map = HashMap::new();
        let mut gone = Vec::new();
        let rtx = db.begin_read().map_err(db_err)?;
        let t = rtx.open_table(CONTAINERS).map_err(db_err)?;
        for row in t.iter().map_err(db_err)? {
            let (k, v) = row.map_err(db_err)?;
            match serde_json::from_slice::<Container>(v.value()) {
                // A record whose directory is gone was removed: `rm` moves the directory to
                // the trash before it drops the record, and drops it without an fsync
                // (see `remove`), so a crash in between leaves such a record behind.
                Ok(c) if !root.join(&c.id).is_dir() => gone.push((c.id, c.name)),
                Ok(c) => {
                    let (tx, _) = watch::channel(c.state.clone());
                    map.insert(k.value().to_string(), Entry { c, tx });
                }
                Err(e) => {
                    tracing::error!(id = k.value(), error = %e, "skipping unreadable container record")
                }
            }
        }
        drop(t);
        drop(rtx);
        let found = created_records(&root, &map, &gone);
        for c in &found {
            tracing::info!(
                id = c.id.as_str(),
                "restoring the record of a container created just before a crash"
            );
            let (tx, _) = watch::channel(c.state.clone());
            map.insert(c.id.clone(), Entry { c: c.clone(), tx });
        }
        if !found.is_empty() {
            let tx = db.begin_write().map_err(db_err)?;
            {
                let mut t = tx.open_table(CONTAINERS).map_err(db_err)?;
                let mut n = tx.open_table(NAMES).map_err(db_err)?;
                for c in &found {
                    let bytes = serde_json::to_vec(c).map_err(db_err)?;
                    t.insert(c.id.as_str(), bytes.as_slice()).map_err(db_err)?;
                    n.insert(c.name.as_str(), c.id.as_str()).map_err(db_err)?;
                }
            }
            tx.commit().map_err(db_err)?;
        }
        if !gone.is_empty() {
            let tx = db.begin_write().map_err(db_err)?;
            {
                let mut t = tx.open_table(CONTAINERS).map_err(db_err)?;
                let mut n = tx.open_table(NAMES).map_err(db_err)?;
                for (id, name) in &gone {
                    tracing::info!(
                        id = id.as_str(),
                        "dropping the record of a removed container"
                    );
                    t.remove(id.as_str()).map_err(db_err)?;
                    n.remove(name.as_str()).map_err(db_err)?;
                }
            }
            tx.commit().map_err(db_err)?;
        }
        Ok(ContainerStore {
            db,
            root,
            inner: Mutex::new(map),
            dirty: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn persist(&self, c: &Container) -> Result<(), ApiError> {
        self.persist_with(c, redb::Durability::Immediate)
    }

    fn persist_with(&self, c: &Container, durability: redb::Durability) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec(c).map_err(db_err)?;
        let tx = self.begin(durability)?;
        {
            let mut t = tx.open_table(CONTAINERS).map_err(db_err)?;
            t.insert(c.id.as_str(), bytes.as_slice()).map_err(db_err)?;
            let mut n = tx.open_table(NAMES).map_err(db_err)?;
            n.insert(c.name.as_str(), c.id.as_str()).map_err(db_err)?;
        }
        self.commit(tx, durability)
    }

    /// A write transaction. A durable one carries every commit before it to the disk, so the
    /// store is clean once it commits (cleared first: a commit that lands meanwhile marks it
    /// again, and is at worst flushed twice).
    fn begin(&self, durability: redb::Durability) -> Result<redb::WriteTransaction, ApiError> {
        if !matches!(durability, redb::Durability::None) {
            self.dirty.store(false, Ordering::SeqCst);
        }
        let mut tx = self.db.begin_write().map_err(db_err)?;
        tx.set_durability(durability);
        Ok(tx)
    }

    fn commit(
        &self,
        tx: redb::WriteTransaction,
        durability: redb::Durability,
    ) -> Result<(), ApiError> {
        let durable = !matches!(durability, redb::Durability::None);
        match tx.commit() {
            Ok(()) if durable => Ok(()),
            Ok(()) => {
                self.dirty.store(true, Ordering::SeqCst);
                Ok(())
            }
            Err(e) => {
                // Whatever was pending is still pending.
                self.dirty.store(true, Ordering::SeqCst);
                Err(db_err(e))
            }
        }
    }

    /// Makes the commits made without waiting for the disk durable, if there are any: an
    /// empty durable commit carries them. Called by the daemon every second and when it
    /// stops, off any request's path (ADR-0019).
    /// Returns whether there was anything to flush.
    pub fn flush(&self) -> Result<bool, ApiError> {
        if !self.dirty.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let tx = self.begin(redb::Durability::Immediate)?;
        self.commit(tx, redb::Durability::Immediate)?;
        Ok(true)
    }

    /// Adds a new container (its directory exists); its name must be free (docker's 409
    /// otherwise). Committed without waiting for the disk: it is on the path of every `run`,
    /// and the start that usually follows at once commits durably (carrying this along). The
    /// record also goes to the container's directory, where a daemon killed before any
    /// durable commit finds it ([`ContainerStore::open`]). Written after the commit: a crash
    /// before the client hears of the container leaves no trace of it.
    pub fn insert(&self, c: Container) -> Result<(), ApiError> {
        let mut map = self.lock();
        if let Some(other) = map.values().find(|e| e.c.name == c.name) {
            return Err(name_conflict(&c.name, &other.c.id));
        }
        self.persist_with(&c, redb::Durability::None)?;
        let file = self.dir(&c.id).join(CREATED_RECORD);
        if let Err(e) = crate::shim::write_json_atomic(&file, &c) {
            // Durable after all, then (and nothing of it is in memory yet to undo).
            self.persist(&c)
                .map_err(|e2| db_err(format!("{}: {e}; then {}", file.display(), e2.message)))?;
        }
        let (tx, _) = watch::channel(c.state.clone());
        map.insert(c.id.clone(), Entry { c, tx });
        Ok(())
    }

    /// Docker's lookup: full id, exact name (with or without "/"), then unique id prefix.
    pub fn resolve(&self, name_or_id: &str) -> Result<Container, ApiError> {
        let map = self.lock();
        Self::find(&map, name_or_id).map(|e| e.c.clone())
    }

    fn find<'a>(map: &'a HashMap<String, Entry>, key: &str) -> Result<&'a Entry, ApiError> {
        if let Some(e) = map.get(key) {
            return Ok(e);
        }
        let name = key.strip_prefix('/').unwrap_or(key);
        if let Some(e) = map.values().find(|e| e.c.name == name) {
            return Ok(e);
        }
        if key.is_empty() {
            return Err(no_such_container(key));
        }
        let mut hits = map.values().filter(|e| e.c.id.starts_with(key));
        match (hits.next(), hits.next()) {
            (Some(e), None) => Ok(e),
            (Some(_), Some(_)) => Err(ApiError::invalid(format!(
                "multiple IDs found with provided prefix: {key}"
            ))),
            _ => Err(no_such_container(key)),
        }
    }

    pub fn name_taken(&self, name: &str) -> bool {
        self.lock().values().any(|e| e.c.name == name)
    }

    pub fn list(&self) -> Vec<Container> {
        let mut v: Vec<Container> = self.lock().values().map(|e| e.c.clone()).collect();
        v.sort_by(|a, b| b.created.cmp(&a.created));
        v
    }

    /// Applies `f` to the record and writes it through; state watchers are told.
    pub fn update<T>(&self, id: &str, f: impl FnOnce(&mut Container) -> T) -> Result<T, ApiError> {
        self.update_with(id, f, redb::Durability::Immediate)
    }

    fn update_with<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Container) -> T,
        durability: redb::Durability,
    ) -> Result<T, ApiError> {
        let mut map = self.lock();
        let e = map.get_mut(id).ok_or_else(|| no_such_container(id))?;
        let mut c = e.c.clone();
        let out = f(&mut c);
        self.persist_with(&c, durability)?;
        e.tx.send_replace(c.state.clone());
        e.c = c;
        Ok(out)
    }

    /// [`ContainerStore::update`] for what a restarted daemon learns from the container's
    /// files anyway (its start: `shim.json`; its exit: `exit.json`; both read by
    /// [`crate::state::Daemon::recover`]): committed without waiting for the disk
    /// (`Durability::None`), so a container's start and exit cost no fsync; the next durable
    /// commit (the daemon's flush within a second, or any durable update) carries it to disk.
    /// A crash before that leaves the record as it was before, which recovery corrects.
    pub fn update_recoverable<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Container) -> T,
    ) -> Result<T, ApiError> {
        self.update_with(id, f, redb::Durability::None)
    }

    pub fn rename(&self, id: &str, new_name: &str) -> Result<(), ApiError> {
        let mut map = self.lock();
        if let Some(other) = map.values().find(|e| e.c.name == new_name && e.c.id != id) {
            return Err(name_conflict(new_name, &other.c.id));
        }
        let e = map.get_mut(id).ok_or_else(|| no_such_container(id))?;
        let old = e.c.name.clone();
        let mut c = e.c.clone();
        c.name = new_name.to_string();
        let bytes = serde_json::to_vec(&c).map_err(db_err)?;
        let tx = self.begin(redb::Durability::Immediate)?;
        {
            let mut t = tx.open_table(CONTAINERS).map_err(db_err)?;
            t.insert(c.id.as_str(), bytes.as_slice()).map_err(db_err)?;
            let mut n = tx.open_table(NAMES).map_err(db_err)?;
            n.remove(old.as_str()).map_err(db_err)?;
            n.insert(new_name, c.id.as_str()).map_err(db_err)?;
        }
        self.commit(tx, redb::Durability::Immediate)?;
        e.c = c;
        Ok(())
    }

    /// Drops the record (the caller has already torn down the container's resources and
    /// moved its directory away). Committed without waiting for the disk, like
    /// [`ContainerStore::update_recoverable`]: it is on the path of every `run --rm`, and a
    /// crash before the next durable commit brings back a record without a directory, which
    /// [`ContainerStore::open`] drops.
    pub fn remove(&self, id: &str) -> Result<(), ApiError> {
        let mut map = self.lock();
        let Some(e) = map.get(id) else { return Ok(()) };
        let name = e.c.name.clone();
        let tx = self.begin(redb::Durability::None)?;
        {
            let mut t = tx.open_table(CONTAINERS).map_err(db_err)?;
            t.remove(id).map_err(db_err)?;
            let mut n = tx.open_table(NAMES).map_err(db_err)?;
            n.remove(name.as_str()).map_err(db_err)?;
        }
        self.commit(tx, redb::Durability::None)?;
        if let Some(e) = map.remove(id) {
            // Wake waiters (`wait?condition=removed`): the channel closes when the sender drops.
            let mut s = e.c.state.clone();
            s.status = Status::Removing;
            e.tx.send_replace(s);
        }
        Ok(())
    }

    pub fn subscribe(&self, id: &str) -> Result<watch::Receiver<State>, ApiError> {
        let map = self.lock();
        Ok(map
            .get(id)
            .ok_or_else(|| no_such_container(id))?
            .tx
            .subscribe())
    }

    /// The id of a container whose image is `image`, if any.
    pub fn using_image(&self, image: &Digest) -> Option<String> {
        self.lock()
            .values()
            .find(|e| &e.c.image_id == image)
            .map(|e| e.c.id.clone())
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }
}

/// Containers created just before a crash: a directory under `root` whose `created.json`
/// names a container with no record (`known`), not one of the `gone` ones, and a name no
/// record has.
fn created_records(
    root: &std::path::Path,
    known: &HashMap<String, Entry>,
    gone: &[(String, String)],
) -> Vec<Container> {
    let mut found: Vec<Container> = Vec::new();
    for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let id = e.file_name().to_string_lossy().into_owned();
        if id.len() != 64 || known.contains_key(&id) || gone.iter().any(|(g, _)| *g == id) {
            continue;
        }
        let Ok(bytes) = std::fs::read(e.path().join(CREATED_RECORD)) else {
            continue;
        };
        match serde_json::from_slice::<Container>(&bytes) {
            Ok(c)
                if c.id == id
                    && !known.values().any(|k| k.c.name == c.name)
                    && !found.iter().any(|f| f.name == c.name) =>
            {
                found.push(c)
            }
            Ok(_) => {}
            Err(err) => tracing::error!(id, error = %err, "skipping an unreadable created.json"),
        }
    }
    found
}

fn name_conflict(name: &str, other: &str) -> ApiError {
    ApiError::new(
        ErrorKind::Conflict,
        format!(
            "Conflict. The container name \"/{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(id: &str, name: &str) -> Container {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": name, "created": "2026-01-01T00:00:00Z", "image": "bb",
            "image_id": format!("sha256:{}", "0".repeat(64)), "config": {}, "host_config": {},
            "path": "true", "args": [], "state": {"status": "exited", "pid": 0, "exit_code": 0,
            "error": "", "oom_killed": false, "started_at": "", "finished_at": ""},
            "restart_count": 0, "manually_stopped": false,
        }))
        .unwrap()
    }

    /// The containers' directory is marked as a top directory where the filesystem has the
    /// flag (ext4, as the test machines' root filesystem), and nothing fails where it has not.
    #[test]
    fn the_containers_directory_spreads_its_subdirectories() {
        use rustix::fs::{ioctl_getflags, IFlags};
        let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let root = dir.path().join("containers");
        let db = Arc::new(redb::Database::create(dir.path().join("db")).unwrap());
        drop(ContainerStore::open(db, root.clone()).unwrap());
        let f = std::fs::File::open(&root).unwrap();
        let probe = dir.path().join("probe");
        std::fs::create_dir(&probe).unwrap();
        let p = std::fs::File::open(&probe).unwrap();
        let supported = ioctl_getflags(&p)
            .and_then(|fl| rustix::fs::ioctl_setflags(&p, fl | IFlags::TOPDIR))
            .is_ok();
        if supported {
            assert!(ioctl_getflags(&f).unwrap().contains(IFlags::TOPDIR));
        }
    }

    /// A container whose create never reached the disk (the daemon was killed before any
    /// durable commit) comes back from its directory's `created.json`, once; a directory
    /// without one, or one whose name another record has, does not.
    #[test]
    fn open_restores_containers_created_just_before_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("containers");
        let db = Arc::new(redb::Database::create(dir.path().join("db")).unwrap());
        let store = ContainerStore::open(db.clone(), root.clone()).unwrap();
        let (a, b, c) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
        std::fs::create_dir(root.join(&a)).unwrap();
        store.insert(container(&a, "kept")).unwrap();
        drop(store);
        // What a lost commit leaves: the directories and their files, no records.
        for (id, name) in [(&b, "lost"), (&c, "kept")] {
            std::fs::create_dir(root.join(id)).unwrap();
            let rec = serde_json::to_vec(&container(id, name)).unwrap();
            std::fs::write(root.join(id).join(CREATED_RECORD), rec).unwrap();
        }
        std::fs::create_dir(root.join("d".repeat(64))).unwrap();
        let store = ContainerStore::open(db.clone(), root.clone()).unwrap();
        assert_eq!(store.list().len(), 2);
        assert_eq!(store.resolve("lost").unwrap().id, b);
        assert_eq!(store.resolve("kept").unwrap().id, a);
        drop(store);
        let store = ContainerStore::open(db, root).unwrap();
        assert_eq!(store.list().len(), 2, "restored once, then on the disk");
    }

    /// A record whose directory is gone (a crash between `rm`'s move to the trash and the
    /// record's drop reaching the disk) is dropped at the next open; the name is free again.
    #[test]
    fn open_drops_records_without_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("containers");
        let db = Arc::new(redb::Database::create(dir.path().join("db")).unwrap());
        let store = ContainerStore::open(db.clone(), root.clone()).unwrap();
        for (id, name) in [("a".repeat(64), "kept"), ("b".repeat(64), "gone")] {
            std::fs::create_dir(root.join(&id)).unwrap();
            store.insert(container(&id, name)).unwrap();
        }
        std::fs::remove_dir_all(root.join("b".repeat(64))).unwrap();
        drop(store);
        let store = ContainerStore::open(db.clone(), root.clone()).unwrap();
        assert_eq!(store.list().len(), 1);
        assert!(store.resolve("kept").is_ok());
        assert!(!store.name_taken("gone"));
        store.remove(&"a".repeat(64)).unwrap();
        assert!(store.list().is_empty());
        drop(store);
        let store = ContainerStore::open(db, root).unwrap();
        assert!(!store.name_taken("gone"), "a dropped record stays dropped");
    }

    /// Commits that do not wait for the disk mark the store dirty; `flush` makes them durable
    /// with one empty durable commit and cleans it; a durable commit cleans it too.
    #[test]
    fn flush_makes_the_commits_made_without_waiting_durable() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("containers");
        let db = Arc::new(redb::Database::create(dir.path().join("db")).unwrap());
        let store = ContainerStore::open(db.clone(), root.clone()).unwrap();
        assert!(!store.dirty.load(Ordering::SeqCst));
        let id = "a".repeat(64);
        std::fs::create_dir(root.join(&id)).unwrap();
        store.insert(container(&id, "one")).unwrap();
        assert!(store.dirty.load(Ordering::SeqCst));
        assert!(store.flush().unwrap());
        assert!(!store.flush().unwrap(), "nothing left to flush");
        assert!(!store.dirty.load(Ordering::SeqCst));
        store
            .update_recoverable(&id, |c| c.state.status = Status::Running)
            .unwrap();
        assert!(store.dirty.load(Ordering::SeqCst));
        store.update(&id, |c| c.state.pid = 7).unwrap();
        assert!(!store.dirty.load(Ordering::SeqCst));
        store.flush().unwrap();
        drop(store);
        let store = ContainerStore::open(db, root).unwrap();
        let c = store.resolve("one").unwrap();
        assert_eq!((c.state.status, c.state.pid), (Status::Running, 7));
    }
}
