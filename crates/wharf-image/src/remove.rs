//! `docker rmi` and `docker image prune` (moby daemon/images/image_delete.go semantics).
//!
//! Deviation from moby: an image forced out while a container uses it is untagged but its
//! record is kept (dangling), because its snapshots are that container's lower dirs; moby can
//! delete the record since its layers are refcounted separately.

use std::collections::HashSet;

use wharf_types::id::truncate_id;
use wharf_types::{Digest, Reference};

use crate::db::{self, Catalog, ImageRecord};
use crate::error::{Error, Result};
use crate::fsutil::parse_time;
use crate::{DeleteItem, ImageConfigFile, ImageStore, PruneOptions, PruneReport};

/// True when `input` names the image by (a prefix of) its ID rather than by a reference.
fn is_id_prefix(id: &Digest, input: &str) -> bool {
    let bare = input.strip_prefix("sha256:").unwrap_or(input);
    !bare.is_empty() && id.hex().starts_with(bare)
}

impl ImageStore {
    /// docker rmi semantics. `in_use(image_id)` returns the id of a container using it, if any.
    pub fn remove(
        &self,
        name_or_id: &str,
        force: bool,
        prune: bool,
        in_use: &dyn Fn(&Digest) -> Option<String>,
    ) -> Result<Vec<DeleteItem>> {
        let _ = prune; // no parent chains yet: nothing more to prune
        let mut removed: Option<ImageRecord> = None;
        let mut removed_id = None;
        let records = db::update(self.db(), |cat| {
            let (id, _) = cat
                .resolve(name_or_id)
                .ok_or_else(|| Error::no_such_image(name_or_id))?;
            let mut records = Vec::new();
            let user = in_use(&id);
            let tags = cat.tags_of(&id);
            if !is_id_prefix(&id, name_or_id) {
                let r = Reference::parse_normalized(name_or_id)?;
                if !force && tags.len() <= 1 {
                    if let Some(c) = &user {
                        return Err(in_use_conflict(name_or_id, c, &id));
                    }
                }
                if r.digest.is_some() {
                    let want = format!(
                        "{}@{}",
                        r.familiar_name(),
                        r.digest.as_ref().map(|d| d.to_string()).unwrap_or_default()
                    );
                    if let Some(rec) = cat.images.get_mut(&id) {
                        rec.repo_digests.retain(|x| *x != want);
                    }
                    records.push(DeleteItem::Untagged(r.familiar_string()));
                } else {
                    let key = Reference {
                        digest: None,
                        ..r.clone()
                    };
                    cat.tags.remove(&key.to_string());
                    records.push(DeleteItem::Untagged(key.familiar_string()));
                }
                if !cat.tags_of(&id).is_empty() {
                    return Ok(records);
                }
            } else {
                if tags.len() > 1 && !force {
                    return Err(Error::Conflict(format!(
                        "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                        id.short()
                    )));
                }
                if let (Some(c), false) = (&user, force) {
                    return Err(in_use_conflict(id.short(), c, &id));
                }
                for t in &tags {
                    cat.tags.remove(&t.to_string());
                    records.push(DeleteItem::Untagged(t.familiar_string()));
                }
            }
            if user.is_some() {
                // forced while in use: keep the dangling record, its snapshots are in use
                return Ok(records);
            }
            removed = cat.images.remove(&id);
            removed_id = Some(id.clone());
            records.push(DeleteItem::Deleted(id.to_string()));
            Ok(records)
        })?;
        if let (Some(rec), Some(id)) = (removed, removed_id) {
            self.delete_files_of(&[(id, rec)])?;
        }
        Ok(records)
    }

    /// Removes the blobs and snapshots of deleted images nothing else uses; returns the
    /// bytes reclaimed (sizes of the snapshots removed).
    fn delete_files_of(&self, gone: &[(Digest, ImageRecord)]) -> Result<u64> {
        let mut blobs = Vec::new();
        let mut snaps = Vec::new();
        for (id, rec) in gone {
            blobs.push(id.clone());
            for l in &rec.layers {
                blobs.push(l.diff_id.clone());
                snaps.push(l.chain_id.clone());
            }
        }
        let removed = self.delete_unreferenced(&blobs, &snaps)?;
        let mut counted = HashSet::new();
        let mut bytes = 0;
        for (_, rec) in gone {
            for l in &rec.layers {
                if removed.contains(l.chain_id.hex()) && counted.insert(l.chain_id.clone()) {
                    bytes += l.size;
                }
            }
        }
        Ok(bytes)
    }

    /// `docker image prune`: dangling images (with `all`, every image no container uses),
    /// filtered by `until` and labels.
    pub fn prune(
        &self,
        opts: &PruneOptions,
        in_use: &dyn Fn(&Digest) -> Option<String>,
    ) -> Result<PruneReport> {
        let filters = LabelFilter::parse(&opts.labels)?;
        // Labels live in the configs: read them before the transaction.
        let pre = self.catalog()?;
        let mut labels = std::collections::HashMap::new();
        for id in pre.images.keys() {
            let c: ImageConfigFile = serde_json::from_slice(&self.config_bytes(id)?)
                .map_err(|e| Error::Corrupt(format!("config of image {id}: {e}")))?;
            labels.insert(
                id.clone(),
                c.config.and_then(|c| c.labels).unwrap_or_default(),
            );
        }
        let mut gone = Vec::new();
        let deleted = db::update(self.db(), |cat: &mut Catalog| {
            let mut deleted = Vec::new();
            let ids: Vec<Digest> = cat.images.keys().cloned().collect();
            for id in ids {
                let tags = cat.tags_of(&id);
                if !opts.all && !tags.is_empty() {
                    continue;
                }
                if let Some(until) = opts.until {
                    let created = parse_time(&cat.images[&id].created)
                        .map(|n| (n / 1_000_000_000) as i64)
                        .unwrap_or(0);
                    if created >= until {
                        continue;
                    }
                }
                let Some(l) = labels.get(&id) else { continue };
                if !filters.matches(l) || in_use(&id).is_some() {
                    continue;
                }
                for t in &tags {
                    cat.tags.remove(&t.to_string());
                    deleted.push(DeleteItem::Untagged(t.familiar_string()));
                }
                if let Some(rec) = cat.images.remove(&id) {
                    gone.push((id.clone(), rec));
                }
                deleted.push(DeleteItem::Deleted(id.to_string()));
            }
            Ok(deleted)
        })?;
        let space_reclaimed = self.delete_files_of(&gone)?;
        Ok(PruneReport {
            deleted,
            space_reclaimed,
        })
    }
}

fn in_use_conflict(what: &str, container: &str, id: &Digest) -> Error {
    Error::Conflict(format!(
        "conflict: unable to delete {what} (must be forced) - container {} is using its referenced image {}",
        truncate_id(container),
        id.short()
    ))
}

/// `label=k`, `label=k=v`, and negations (`label!=…`, passed as entries starting with `!`).
struct LabelFilter {
    rules: Vec<(bool, String, Option<String>)>,
}

impl LabelFilter {
    fn parse(specs: &[String]) -> Result<LabelFilter> {
        let mut rules = Vec::new();
        for s in specs {
            let (neg, s) = match s.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, s.as_str()),
            };
            if s.is_empty() {
                return Err(Error::InvalidArgument("invalid label filter: empty".into()));
            }
            let (k, v) = match s.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (s.to_string(), None),
            };
            rules.push((neg, k, v));
        }
        Ok(LabelFilter { rules })
    }

    fn matches(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        self.rules.iter().all(|(neg, k, v)| {
            let hit = match (labels.get(k), v) {
                (Some(_), None) => true,
                (Some(x), Some(v)) => x == v,
                (None, _) => false,
            };
            hit != *neg
        })
    }
}
