//! Loader tests: compose files written to temporary directories and loaded as the CLI would.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;

mod errors;
mod files;
mod model;
mod output;

pub(crate) fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(p, text).unwrap();
}

pub(crate) fn opts(dir: &Path) -> LoadOptions {
    LoadOptions {
        cwd: dir.to_path_buf(),
        environment: BTreeMap::from([("HOME".to_string(), "/home/u".to_string())]),
        ..LoadOptions::default()
    }
}

pub(crate) fn load_text(text: &str) -> Result<Project, Error> {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "compose.yaml", text);
    load(&opts(d.path()))
}

pub(crate) fn err_text(text: &str) -> String {
    load_text(text).unwrap_err().to_string()
}
