//! Volumes: named directories under `<data-root>/volumes/<name>/_data` that outlive the
//! containers using them, kept as docker's `local` driver keeps them.
//!
//! [`VolumeStore`] holds the records in memory and writes them through to the redb table
//! `volumes` (the pattern of `container/store.rs`). A volume created with driver options
//! (`type=tmpfs|bind|…`, `device=`, `o=`) is mounted on its `_data` directory at first use,
//! as the local driver does, and unmounted when the volume is removed. Names follow docker's
//! local-driver grammar `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, so a name can never be a path
//! (no `/`, no `..` component).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use wharf_types::ErrorKind;

use crate::api::ApiError;
use crate::state::Daemon;

const VOLUMES: TableDefinition<&str, &[u8]> = TableDefinition::new("volumes");

/// The label docker puts on a volume made for an unnamed mount (`-v /data`, image `VOLUME`).
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// One volume as the daemon keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    /// RFC 3339.
    pub created_at: String,
    pub labels: BTreeMap<String, String>,
    /// Driver options (`type`, `device`, `o`).
    pub options: BTreeMap<String, String>,
}

impl Volume {
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

pub struct VolumeStore {
    db: Arc<redb::Database>,
    /// `<data-root>/volumes`.
    pub root: PathBuf,
    inner: Mutex<BTreeMap<String, Volume>>,
}

fn db_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("metadata store: {e}"))
}

fn io_err(op: &str, p: &Path, e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("failed to {op} {}: {e}", p.display()))
}

pub fn no_such_volume(name: &str) -> ApiError {
    ApiError::new(ErrorKind::NotFound, format!("get {name}: no such volume"))
}

/// docker's local-driver name check (`volume/local/local.go` `validateName`).
pub fn validate_name(name: &str) -> Result<(), ApiError> {
    let ok_first = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    let ok_rest = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !ok_first || !ok_rest {
        return Err(ApiError::invalid(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    if name.len() < 2 {
        return Err(ApiError::invalid(format!(
            "create {name}: volume name is too short, names should be at least two alphanumeric characters"
        )));
    }
    Ok(())
}

fn validate_options(name: &str, opts: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for k in opts.keys() {
        if !matches!(k.as_str(), "type" | "device" | "o") {
            return Err(ApiError::invalid(format!(
                "create {name}: invalid option key: {k:?}"
            )));
        }
    }
    if opts.contains_key("device") && !opts.contains_key("type") {
        return Err(ApiError::invalid(format!(
            "create {name}: missing required option: \"type\""
        )));
    }
    if opts.contains_key("type") && !opts.contains_key("device") {
        return Err(ApiError::invalid(format!(
            "create {name}: missing required option: \"device\""
        )));
    }
    Ok(())
}

impl VolumeStore {
    pub fn open(db: Arc<redb::Database>, root: PathBuf) -> Result<VolumeStore, ApiError> {
        std::fs::create_dir_all(&root).map_err(|e| io_err("create", &root, e))?;
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(VOLUMES).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        let mut map = BTreeMap::new();
        let rtx = db.begin_read().map_err(db_err)?;
        let t = rtx.open_table(VOLUMES).map_err(db_err)?;
        for row in t.iter().map_err(db_err)? {
            let (k, v) = row.map_err(db_err)?;
            match serde_json::from_slice::<Volume>(v.value()) {
                Ok(v) => {
                    map.insert(k.value().to_string(), v);
                }
                Err(e) => {
                    tracing::error!(name = k.value(), error = %e, "skipping unreadable volume record")
                }
            }
        }
        Ok(VolumeStore {
            db,
            root,
            inner: Mutex::new(map),
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Volume>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `<root>/<name>`; only ever called with a validated name.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Where the volume's data is (`Mountpoint`).
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.dir(name).join("_data")
    }

    /// Creates a volume, or returns the existing one of that name (docker's create is
    /// idempotent for the same driver). `name` None: an anonymous volume (64 hex chars).
    /// The bool says whether it was created now.
    pub fn create(
        &self,
        name: Option<&str>,
        driver: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<(Volume, bool), ApiError> {
        let driver = match driver {
            None | Some("") => "local",
            Some(d) => d,
        };
        let (name, mut labels) = match name {
            Some(n) if !n.is_empty() => (n.to_string(), labels),
            _ => {
                let mut l = labels;
                l.insert(ANONYMOUS_LABEL.into(), String::new());
                (wharf_types::id::random_id(), l)
            }
        };
        if driver != "local" {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                format!("create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"),
            ));
        }
        validate_name(&name)?;
        validate_options(&name, &options)?;
        let mut map = self.lock();
        if let Some(v) = map.get(&name) {
            return Ok((v.clone(), false));
        }
        if labels.is_empty() {
            labels = BTreeMap::new();
        }
        let v = Volume {
            name: name.clone(),
            driver: driver.into(),
            created_at: crate::container::create::now_rfc3339(),
            labels,
            options,
        };
        let data = self.mountpoint(&name);
        std::fs::create_dir_all(&data).map_err(|e| io_err("create", &data, e))?;
        if let Err(e) = self.persist(&v) {
            let _ = std::fs::remove_dir_all(self.dir(&name));
            return Err(e);
        }
        map.insert(name, v.clone());
        Ok((v, true))
    }

    fn persist(&self, v: &Volume) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec(v).map_err(db_err)?;
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(VOLUMES).map_err(db_err)?;
            t.insert(v.name.as_str(), bytes.as_slice())
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    pub fn get(&self, name: &str) -> Result<Volume, ApiError> {
        self.lock()
            .get(name)
            .cloned()
            .ok_or_else(|| no_such_volume(name))
    }

    pub fn list(&self) -> Vec<Volume> {
        self.lock().values().cloned().collect()
    }

    /// Mounts a volume that has driver options on its `_data` (first use), as the local
    /// driver does; a plain volume needs nothing. Idempotent.
    pub fn ensure_mounted(&self, v: &Volume) -> Result<(), ApiError> {
        let Some(typ) = v.options.get("type") else {
            return Ok(());
        };
        let data = self.mountpoint(&v.name);
        if wharf_runtime::rootfs::is_mounted(&data) {
            return Ok(());
        }
        std::fs::create_dir_all(&data).map_err(|e| io_err("create", &data, e))?;
        let device = v.options.get("device").cloned().unwrap_or_default();
        use rustix::mount::MountFlags as F;
        let mut flags = F::empty();
        let mut data_opts = Vec::new();
        for o in v
            .options
            .get("o")
            .map(String::as_str)
            .unwrap_or("")
            .split(',')
        {
            match o.trim() {
                "" => {}
                "ro" => flags |= F::RDONLY,
                "rw" => {}
                "nosuid" => flags |= F::NOSUID,
                "nodev" => flags |= F::NODEV,
                "noexec" => flags |= F::NOEXEC,
                "bind" => flags |= F::BIND,
                "rbind" => flags |= F::BIND | F::REC,
                other => data_opts.push(other.to_string()),
            }
        }
        if typ == "bind" {
            flags |= F::BIND;
        }
        let d = std::ffi::CString::new(data_opts.join(","))
            .map_err(|_| ApiError::invalid("NUL in volume options"))?;
        rustix::mount::mount(device.as_str(), &data, typ.as_str(), flags, Some(d.as_c_str()))
            .map_err(|e| {
                ApiError::internal(format!(
                    "error while mounting volume '{}': failed to mount local volume: mount {device}:{} , data: {}: {e}",
                    data.display(),
                    data.display(),
                    data_opts.join(",")
                ))
            })
    }

    /// Drops the record and the data (the caller checked it is unused).
    pub fn remove(&self, name: &str) -> Result<(), ApiError> {
        let mut map = self.lock();
        if !map.contains_key(name) {
            return Err(no_such_volume(name));
        }
        let dir = self.dir(name);
        crate::container::unmount_under(&dir);
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(VOLUMES).map_err(db_err)?;
            t.remove(name).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        map.remove(name);
        drop(map);
        if let Err(e) = crate::container::remove_dir_all_no_follow(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(io_err("remove", &dir, e));
            }
        }
        Ok(())
    }

    /// Docker's `Volume` object.
    pub fn to_json(&self, v: &Volume) -> Value {
        json!({
            "CreatedAt": v.created_at,
            "Driver": v.driver,
            "Labels": v.labels,
            "Mountpoint": self.mountpoint(&v.name),
            "Name": v.name,
            "Options": if v.options.is_empty() { Value::Null } else { json!(v.options) },
            "Scope": "local",
        })
    }
}

impl Daemon {
    /// Ids of the containers (running or not) whose mounts use volume `name`.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.containers
            .list()
            .into_iter()
            .filter(|c| c.mounts.iter().any(|m| m.typ == "volume" && m.name == name))
            .map(|c| c.id)
            .collect()
    }

    /// How many containers use each volume.
    pub fn volume_ref_counts(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for c in self.containers.list() {
            for m in c.mounts.iter().filter(|m| m.typ == "volume") {
                *out.entry(m.name.clone()).or_insert(0) += 1;
            }
        }
        out
    }

    /// `volume rm`: refused while a container references the volume — even with `force`, as
    /// docker does (force only makes a missing volume not an error).
    pub fn remove_volume(&self, name: &str, force: bool) -> Result<(), ApiError> {
        let v = match self.volumes.get(name) {
            Ok(v) => v,
            Err(e) if force && e.kind == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let users = self.volume_users(&v.name);
        if !users.is_empty() {
            return Err(ApiError::new(
                ErrorKind::Conflict,
                format!("remove {name}: volume is in use - [{}]", users.join(", ")),
            ));
        }
        self.volumes.remove(&v.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, VolumeStore) {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(redb::Database::create(dir.path().join("db")).unwrap());
        let s = VolumeStore::open(db, dir.path().join("volumes")).unwrap();
        (dir, s)
    }

    #[test]
    fn names_follow_the_local_driver_grammar() {
        for ok in ["ab", "my-vol", "a.b_c", "0x"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["a", "", "a/b", "..", "../x", "-x", ".x", "a b", "/abs"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        let e = validate_name("foo/bar").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.contains("includes invalid characters"));
    }

    #[test]
    fn create_is_idempotent_and_survives_reopen() {
        let (dir, s) = store();
        let mut labels = BTreeMap::new();
        labels.insert("a".into(), "1".into());
        let (v, created) = s
            .create(Some("data"), None, labels, BTreeMap::new())
            .unwrap();
        assert!(created);
        assert_eq!(v.driver, "local");
        assert!(s.mountpoint("data").is_dir());
        let (_, again) = s
            .create(Some("data"), None, BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert!(!again);
        let (anon, _) = s
            .create(None, None, BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert_eq!(anon.name.len(), 64);
        assert!(anon.is_anonymous());
        drop(s);
        let db = Arc::new(redb::Database::create(dir.path().join("db")).unwrap());
        let s = VolumeStore::open(db, dir.path().join("volumes")).unwrap();
        assert_eq!(s.list().len(), 2);
        assert_eq!(s.get("data").unwrap().labels["a"], "1");
        s.remove("data").unwrap();
        assert!(!s.dir("data").exists());
        assert_eq!(s.get("data").unwrap_err().kind, ErrorKind::NotFound);
    }

    #[test]
    fn bad_driver_options_are_refused() {
        let (_d, s) = store();
        let mut o = BTreeMap::new();
        o.insert("bogus".into(), "1".into());
        let e = s.create(Some("vv"), None, BTreeMap::new(), o).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        let e = s
            .create(
                Some("vv"),
                Some("nfsplug"),
                BTreeMap::new(),
                BTreeMap::new(),
            )
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
    }
}
