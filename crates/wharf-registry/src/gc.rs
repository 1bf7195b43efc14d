//! `wharf registry gc`: mark every blob some repository's manifest names (the manifests
//! themselves, configs, layers; untagged manifests are kept, as distribution's gc without
//! `--delete-untagged`), then sweep the rest, and the repository links to what was swept.
//! Like distribution's, it must not run while pushes are in progress: a blob uploaded but
//! not yet named by a manifest is unreferenced.

use std::collections::BTreeSet;

use wharf_types::Digest;

use crate::manifest;
use crate::storage::{Link, Store};

/// What one gc run removed, and the errors met (it keeps going after a failure).
#[derive(Default, Debug)]
pub struct GcReport {
    pub removed: Vec<Digest>,
    pub errors: Vec<String>,
}

pub fn collect(store: &Store) -> std::io::Result<GcReport> {
    let mut report = GcReport::default();
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
