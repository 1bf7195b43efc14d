//! `wharf registry gc`: mark every blob some repository's manifest names (the manifests
//! themselves, configs, layers; untagged manifests are kept, as distribution's gc without
//! `--delete-untagged`), then sweep the rest, and the repository links to what was swept.
//! Like distribution's, it must not run while pushes are in progress: a blob uploaded but
//! not yet named by a manifest is unreferenced.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use wharf_types::Digest;

use crate::manifest;
use crate::storage::{Link, Store};

/// What one gc run removed, and the errors met (it keeps going after a failure).
#[derive(Default, Debug)]
pub struct GcReport {
    pub removed: Vec<Digest>,
    /// Upload sessions older than the age limit, removed.
    pub uploads_removed: Vec<String>,
    pub errors: Vec<String>,
}

/// How long an upload session may sit untouched before gc removes it (distribution's
/// upload purging default, 168h).
pub const UPLOAD_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

pub fn collect(store: &Store) -> std::io::Result<GcReport> {
    collect_with(store, UPLOAD_MAX_AGE)
}

/// Removes upload sessions whose data was last written more than `max_age` ago.
fn purge_uploads(store: &Store, max_age: Duration, report: &mut GcReport) -> std::io::Result<()> {
    let now = SystemTime::now();
    for e in std::fs::read_dir(store.root().join("uploads"))? {
        let e = e?;
        let Some(uuid) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let modified = std::fs::metadata(e.path().join("data"))
            .or_else(|_| e.metadata())
            .and_then(|m| m.modified());
        let old = match modified {
            Ok(t) => now.duration_since(t).unwrap_or_default() >= max_age,
            Err(_) => true,
        };
        if old {
            match std::fs::remove_dir_all(e.path()) {
                Ok(()) => report.uploads_removed.push(uuid),
                Err(err) => report.errors.push(format!("removing upload {uuid}: {err}")),
            }
        }
    }
    Ok(())
}

/// [`collect`], removing upload sessions idle for `upload_max_age` or more.
pub fn collect_with(store: &Store, upload_max_age: Duration) -> std::io::Result<GcReport> {
    let mut report = GcReport::default();
    purge_uploads(store, upload_max_age, &mut report)?;
    let mut marked = BTreeSet::new();
    let repos = store.repos()?;
    for repo in &repos {
        for md in store.links(repo, Link::Manifest)? {
            marked.insert(md.clone());
            let mt = store.link_content(repo, Link::Manifest, &md);
            match store.read_blob(&md) {
                Ok(bytes) => match manifest::parse(&bytes, mt.as_deref()) {
                    Ok(p) => marked.extend(p.blobs),
                    Err(e) => report.errors.push(format!("{repo}@{md}: {e}")),
                },
                Err(e) => report.errors.push(format!("{repo}@{md}: {e}")),
            }
        }
    }
    if !report.errors.is_empty() {
        // A manifest we could not read may name blobs: deleting anything would be a guess.
        return Ok(report);
    }
    for d in store.all_blobs()? {
        if marked.contains(&d) {
            continue;
        }
        match std::fs::remove_file(store.blob_path(&d)) {
            Ok(()) => report.removed.push(d),
            Err(e) => report.errors.push(format!("removing {d}: {e}")),
        }
    }
    for repo in &repos {
        for d in store.links(repo, Link::Layer)? {
            if !marked.contains(&d) {
                if let Err(e) = store.unlink(repo, Link::Layer, &d) {
                    report
                        .errors
                        .push(format!("unlinking {d} from {repo}: {e}"));
                }
            }
        }
    }
    Ok(report)
}
