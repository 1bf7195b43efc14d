//! Image metadata in the daemon's shared redb database: this crate's tables are
//! `image_records` (image id hex → JSON [`ImageRecord`]) and `tag_refs` (full reference
//! string → image id hex).
//!
//! Every change is made on an in-memory [`Catalog`] read inside a redb write transaction;
//! the difference is written back and committed in that same transaction, so each store
//! operation (a load of many images, an rmi with its untags) is one atomic commit.

use std::collections::BTreeMap;

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use wharf_types::{Digest, Reference};

use crate::error::{Error, Result};

const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("image_records");
const TAGS: TableDefinition<&str, &str> = TableDefinition::new("tag_refs");

/// What the store keeps about one image besides its config blob.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ImageRecord {
    pub layers: Vec<LayerRecord>,
    #[serde(default)]
    pub repo_digests: Vec<String>,
    #[serde(default)]
    pub parent: Option<Digest>,
    /// `created` of the config ("" if none), for sorting without reading the config.
    #[serde(default)]
    pub created: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LayerRecord {
    pub diff_id: Digest,
    pub chain_id: Digest,
    pub size: u64,
}

/// All image records and tags.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Catalog {
    pub images: BTreeMap<Digest, ImageRecord>,
    /// Full reference string ("docker.io/library/busybox:latest") → image.
    pub tags: BTreeMap<String, Digest>,
}

/// Creates the tables if missing.
pub(crate) fn init(db: &Database) -> Result<()> {
    let txn = db.begin_write().map_err(|e| Error::db("begin write", e))?;
    {
        txn.open_table(IMAGES)
            .map_err(|e| Error::db("open image_records", e))?;
        txn.open_table(TAGS)
            .map_err(|e| Error::db("open tag_refs", e))?;
    }
    txn.commit().map_err(|e| Error::db("commit", e))
}

fn load<I, T>(images: &I, tags: &T) -> Result<Catalog>
where
    I: ReadableTable<&'static str, &'static [u8]>,
    T: ReadableTable<&'static str, &'static str>,
{
    let mut c = Catalog::default();
    for row in images
        .iter()
        .map_err(|e| Error::db("read image_records", e))?
    {
        let (k, v) = row.map_err(|e| Error::db("read image_records", e))?;
        let id = Digest::from_hex(k.value()).map_err(|e| Error::Corrupt(e.to_string()))?;
        let rec: ImageRecord = serde_json::from_slice(v.value())
            .map_err(|e| Error::Corrupt(format!("image {}: {e}", k.value())))?;
        c.images.insert(id, rec);
    }
    for row in tags.iter().map_err(|e| Error::db("read tag_refs", e))? {
        let (k, v) = row.map_err(|e| Error::db("read tag_refs", e))?;
        let id = Digest::from_hex(v.value()).map_err(|e| Error::Corrupt(e.to_string()))?;
        c.tags.insert(k.value().to_string(), id);
    }
    Ok(c)
}

/// A consistent snapshot of the catalog.
pub(crate) fn read(db: &Database) -> Result<Catalog> {
    let txn = db.begin_read().map_err(|e| Error::db("begin read", e))?;
    let images = txn
        .open_table(IMAGES)
        .map_err(|e| Error::db("open image_records", e))?;
    let tags = txn
        .open_table(TAGS)
        .map_err(|e| Error::db("open tag_refs", e))?;
    load(&images, &tags)
}

/// Runs `f` on the catalog inside one write transaction and commits what it changed.
/// Nothing is written when `f` fails.
pub(crate) fn update<R>(db: &Database, f: impl FnOnce(&mut Catalog) -> Result<R>) -> Result<R> {
    let txn = db.begin_write().map_err(|e| Error::db("begin write", e))?;
    let ret;
    {
        let mut images = txn
            .open_table(IMAGES)
            .map_err(|e| Error::db("open image_records", e))?;
        let mut tags = txn
            .open_table(TAGS)
            .map_err(|e| Error::db("open tag_refs", e))?;
        let old = load(&images, &tags)?;
        let mut new = old.clone();
        ret = f(&mut new)?;
        for id in old.images.keys().filter(|k| !new.images.contains_key(*k)) {
            images
                .remove(id.hex())
                .map_err(|e| Error::db("remove image", e))?;
        }
        for (id, rec) in &new.images {
            if old.images.get(id) != Some(rec) {
                let v = serde_json::to_vec(rec).map_err(|e| Error::Corrupt(e.to_string()))?;
                images
                    .insert(id.hex(), v.as_slice())
                    .map_err(|e| Error::db("insert image", e))?;
            }
        }
        for k in old.tags.keys().filter(|k| !new.tags.contains_key(*k)) {
            tags.remove(k.as_str())
                .map_err(|e| Error::db("remove tag", e))?;
        }
        for (k, id) in &new.tags {
            if old.tags.get(k) != Some(id) {
                tags.insert(k.as_str(), id.hex())
                    .map_err(|e| Error::db("insert tag", e))?;
            }
        }
    }
    txn.commit().map_err(|e| Error::db("commit", e))?;
    Ok(ret)
}

impl Catalog {
    /// The tags of an image, sorted.
    pub fn tags_of(&self, id: &Digest) -> Vec<Reference> {
        self.tags
            .iter()
            .filter(|(_, v)| *v == id)
            .filter_map(|(k, _)| Reference::parse_named(k).ok())
            .collect()
    }

    /// Points `r` at `id`; returns the image it pointed at before, if another.
    pub fn set_tag(&mut self, r: &Reference, id: &Digest) -> Option<Digest> {
        self.tags
            .insert(r.to_string(), id.clone())
            .filter(|old| old != id)
    }

    /// Docker's lookup (daemon/images/image.go GetImage): full ID, then reference (tag or
    /// digest), then unambiguous ID prefix. Returns the image and the tag it matched by.
    pub fn resolve(&self, input: &str) -> Option<(Digest, Option<Reference>)> {
        let bare = input.strip_prefix("sha256:").unwrap_or(input);
        if let Ok(d) = Digest::from_hex(bare) {
            if self.images.contains_key(&d) {
                return Some((d, None));
            }
        }
        if let Ok(r) = Reference::parse_normalized(input) {
            if let Some(d) = &r.digest {
                let want = format!("{}@{d}", r.name_only().familiar_name());
                if let Some((id, _)) = self
                    .images
                    .iter()
                    .find(|(_, rec)| rec.repo_digests.contains(&want))
                {
                    return Some((id.clone(), None));
                }
                r.tag.as_ref()?;
            }
            let tagged = Reference {
                digest: None,
                ..r.clone()
            };
            if let Some(id) = self.tags.get(&tagged.to_string()) {
                return Some((id.clone(), Some(tagged)));
            }
        }
        if !bare.is_empty()
            && bare.len() < 64
            && bare
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            let mut it = self.images.keys().filter(|k| k.hex().starts_with(bare));
            if let (Some(one), None) = (it.next(), it.next()) {
                return Some((one.clone(), None));
            }
        }
        None
    }

    /// Blob hexes (configs and layers) still referenced.
    pub fn referenced_blobs(&self) -> std::collections::HashSet<String> {
        let mut s = std::collections::HashSet::new();
        for (id, rec) in &self.images {
            s.insert(id.hex().to_string());
            for l in &rec.layers {
                s.insert(l.diff_id.hex().to_string());
            }
        }
        s
    }

    /// Snapshot (chain id) hexes still referenced.
    pub fn referenced_snapshots(&self) -> std::collections::HashSet<String> {
        self.images
            .values()
            .flat_map(|r| r.layers.iter().map(|l| l.chain_id.hex().to_string()))
            .collect()
    }

    /// The recorded size of a snapshot, if any image has it.
    pub fn layer_size(&self, chain_id: &Digest) -> Option<u64> {
        self.images
            .values()
            .flat_map(|r| r.layers.iter())
            .find(|l| &l.chain_id == chain_id)
            .map(|l| l.size)
    }
}
