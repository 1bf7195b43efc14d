//! Exec instances (`docker exec`): created against a running container, started through its
//! shim, inspected for their exit code. Kept in memory, as docker does.

use std::collections::HashMap;
use std::sync::Mutex;

use bollard_stubs::models::ExecConfig;

#[derive(Clone, Debug)]
pub struct ExecRecord {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub running: bool,
    pub started: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

#[derive(Default)]
pub struct Execs(Mutex<HashMap<String, ExecRecord>>);

impl Execs {
    pub fn insert(&self, r: ExecRecord) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(r.id.clone(), r);
    }
    pub fn get(&self, id: &str) -> Option<ExecRecord> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }
    pub fn update(&self, id: &str, f: impl FnOnce(&mut ExecRecord)) {
        if let Some(r) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get_mut(id) {
            f(r);
        }
    }
    /// Forgets the execs of a removed container.
    pub fn remove_container(&self, container_id: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, r| r.container_id != container_id);
    }
    pub fn of_container(&self, container_id: &str) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|r| r.container_id == container_id)
            .map(|r| r.id.clone())
            .collect()
    }
}
