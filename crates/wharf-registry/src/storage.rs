//! The registry's on-disk layout, crash-safe like the daemon's content store:
//!
//! ```text
//! root/blobs/sha256/<xx>/<hex>       content-addressed blobs (layers, configs, manifests)
//! root/tmp/                          files being written; emptied at start
//! root/uploads/<uuid>/{data,repo}    upload sessions
//! root/repos/<name>/_tags/<tag>      the digest a tag names (replaced by atomic rename)
//! root/repos/<name>/_manifests/<hex> link: the manifest is in this repo; holds its media type
//! root/repos/<name>/_layers/<hex>    link: this repo may serve the blob
//! ```
//! A blob is written to `tmp` (or an upload's `data`), fsync'd, verified and only then
//! renamed into place, so a blob visible under `blobs/` is always complete and verified.
//! The per-repo directories start with `_`, which no valid name component does, so a repo
//! named `a/_tags` cannot exist and `a/tags` never collides with repo `a`'s own files.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use wharf_types::Digest;

use crate::error::{Code, RegistryError, Result};

/// The registry's storage root.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

/// The kind of per-repository link.
#[derive(Clone, Copy)]
pub enum Link {
    Manifest,
    Layer,
}

impl Link {
    fn dir(self) -> &'static str {
        match self {
            Link::Manifest => "_manifests",
            Link::Layer => "_layers",
        }
    }
}

impl Store {
    /// Opens (creating) the root and clears what a crash may have left in `tmp`.
    pub fn open(root: &Path) -> io::Result<Store> {
        for d in ["blobs/sha256", "tmp", "uploads", "repos"] {
            fs::create_dir_all(root.join(d))?;
        }
        for e in fs::read_dir(root.join("tmp"))? {
            let p = e?.path();
            let _ = fs::remove_file(&p).or_else(|_| fs::remove_dir_all(&p));
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("blobs/sha256")
            .join(&d.hex()[..2])
            .join(d.hex())
    }

    pub fn blob_size(&self, d: &Digest) -> Option<u64> {
        fs::metadata(self.blob_path(d)).ok().map(|m| m.len())
    }

    pub fn repo_dir(&self, name: &str) -> PathBuf {
        self.root.join("repos").join(name)
    }

    pub fn repo_exists(&self, name: &str) -> bool {
        let d = self.repo_dir(name);
        d.join("_manifests").is_dir() || d.join("_layers").is_dir()
    }

    /// A new file in `tmp`, unique.
    pub fn tmp_path(&self) -> PathBuf {
        self.root
            .join("tmp")
            .join(format!("{:032x}", rand::random::<u128>()))
    }

    /// Moves a complete, fsync'd file whose sha256 is `d` into the blob store.
    pub fn commit_blob(&self, src: &Path, d: &Digest) -> io::Result<()> {
        let dst = self.blob_path(d);
        let dir = dst.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir)?;
        fs::rename(src, &dst)?;
        sync_dir(&dir)
    }

    /// Stores `bytes` as a blob (verified by construction) and returns its digest.
    pub fn put_blob_bytes(&self, bytes: &[u8]) -> io::Result<Digest> {
        let d = Digest::of(bytes);
        if self.blob_path(&d).exists() {
            return Ok(d);
        }
        let tmp = self.tmp_path();
        write_synced(&tmp, bytes)?;
        self.commit_blob(&tmp, &d)?;
        Ok(d)
    }

    pub fn read_blob(&self, d: &Digest) -> io::Result<Vec<u8>> {
        fs::read(self.blob_path(d))
    }

    /// Records that repo `name` holds `d`; `content` is the link file's content.
    pub fn link(&self, name: &str, kind: Link, d: &Digest, content: &str) -> io::Result<()> {
        let dir = self.repo_dir(name).join(kind.dir());
        fs::create_dir_all(&dir)?;
        self.atomic_write(&dir.join(d.hex()), content.as_bytes())
    }

    pub fn linked(&self, name: &str, kind: Link, d: &Digest) -> bool {
        self.repo_dir(name).join(kind.dir()).join(d.hex()).is_file()
    }

    /// The content of a link (a manifest link holds its media type).
    pub fn link_content(&self, name: &str, kind: Link, d: &Digest) -> Option<String> {
        fs::read_to_string(self.repo_dir(name).join(kind.dir()).join(d.hex())).ok()
    }

    pub fn unlink(&self, name: &str, kind: Link, d: &Digest) -> io::Result<bool> {
        match fs::remove_file(self.repo_dir(name).join(kind.dir()).join(d.hex())) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The digests linked in a repo, of one kind.
    pub fn links(&self, name: &str, kind: Link) -> io::Result<Vec<Digest>> {
        let mut v = Vec::new();
        let dir = self.repo_dir(name).join(kind.dir());
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(v),
            Err(e) => return Err(e),
        };
        for e in rd {
            if let Some(d) = e?
                .file_name()
                .to_str()
                .and_then(|h| Digest::from_hex(h).ok())
            {
                v.push(d);
            }
        }
        v.sort();
        Ok(v)
    }

    pub fn set_tag(&self, name: &str, tag: &str, d: &Digest) -> io::Result<()> {
        let dir = self.repo_dir(name).join("_tags");
        fs::create_dir_all(&dir)?;
        self.atomic_write(&dir.join(tag), d.as_str().as_bytes())
    }

    pub fn tag(&self, name: &str, tag: &str) -> Option<Digest> {
        fs::read_to_string(self.repo_dir(name).join("_tags").join(tag))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    pub fn remove_tag(&self, name: &str, tag: &str) -> io::Result<bool> {
        match fs::remove_file(self.repo_dir(name).join("_tags").join(tag)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// All tags of a repo, sorted.
    pub fn tags(&self, name: &str) -> io::Result<Vec<(String, Digest)>> {
        let mut v = Vec::new();
        let rd = match fs::read_dir(self.repo_dir(name).join("_tags")) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(v),
            Err(e) => return Err(e),
        };
        for e in rd {
            let e = e?;
            if let Some(t) = e.file_name().to_str() {
                if let Some(d) = self.tag(name, t) {
                    v.push((t.to_string(), d));
                }
            }
        }
        v.sort();
        Ok(v)
    }

    /// Every repository, sorted (a directory under `repos` holding `_manifests` or `_layers`).
    pub fn repos(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        let mut stack = vec![(self.root.join("repos"), String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            for e in fs::read_dir(&dir)? {
                let e = e?;
                let Some(n) = e.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if n.starts_with('_') || !e.file_type()?.is_dir() {
                    continue;
                }
                let full = if prefix.is_empty() {
                    n
                } else {
                    format!("{prefix}/{n}")
                };
                if self.repo_exists(&full) {
                    out.push(full.clone());
                }
                stack.push((e.path(), full));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every blob in the store.
    pub fn all_blobs(&self) -> io::Result<Vec<Digest>> {
        let mut v = Vec::new();
        for sub in fs::read_dir(self.root.join("blobs/sha256"))? {
            let sub = sub?;
            if !sub.file_type()?.is_dir() {
                continue;
            }
            for e in fs::read_dir(sub.path())? {
                if let Some(d) = e?
                    .file_name()
                    .to_str()
                    .and_then(|h| Digest::from_hex(h).ok())
                {
                    v.push(d);
                }
            }
        }
        v.sort();
        Ok(v)
    }

    fn atomic_write(&self, dst: &Path, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.tmp_path();
        write_synced(&tmp, bytes)?;
        fs::rename(&tmp, dst)?;
        sync_dir(dst.parent().unwrap_or(&self.root))
    }

    // --- uploads ---

    pub fn upload_dir(&self, uuid: &str) -> PathBuf {
        self.root.join("uploads").join(uuid)
    }

    /// Starts an upload session for repo `name`; returns its id.
    pub fn new_upload(&self, name: &str) -> io::Result<String> {
        let uuid = format!("{:032x}", rand::random::<u128>());
        let dir = self.upload_dir(&uuid);
        fs::create_dir_all(&dir)?;
        File::create(dir.join("data"))?;
        fs::write(dir.join("repo"), name)?;
        Ok(uuid)
    }

    /// The upload's current size, if it exists and belongs to `name`.
    pub fn upload_size(&self, name: &str, uuid: &str) -> Result<u64> {
        let unknown = || RegistryError::new(Code::BlobUploadUnknown, "blob upload unknown");
        if uuid.len() != 32 || !uuid.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(unknown());
        }
        let dir = self.upload_dir(uuid);
        match fs::read_to_string(dir.join("repo")) {
            Ok(r) if r == name => {}
            _ => return Err(unknown()),
        }
        Ok(fs::metadata(dir.join("data")).map_err(|_| unknown())?.len())
    }

    pub fn remove_upload(&self, uuid: &str) -> io::Result<()> {
        fs::remove_dir_all(self.upload_dir(uuid))
    }

    /// Verifies a finished upload against `want` and moves it into the blob store; on a
    /// mismatch the upload is removed and nothing is stored.
    pub fn finish_upload(&self, uuid: &str, want: &Digest) -> Result<u64> {
        let data = self.upload_dir(uuid).join("data");
        let (got, size) = hash_file(&data)?;
        if &got != want {
            let _ = self.remove_upload(uuid);
            return Err(RegistryError::new(
                Code::DigestInvalid,
                "provided digest did not match uploaded content",
            )
            .detail(serde_json::json!({"expected": want.as_str(), "actual": got.as_str()})));
        }
        File::open(&data)?.sync_all()?;
        if self.blob_path(want).exists() {
            self.remove_upload(uuid)?;
        } else {
            self.commit_blob(&data, want)?;
            let _ = self.remove_upload(uuid);
        }
        Ok(size)
    }
}

pub fn hash_file(p: &Path) -> io::Result<(Digest, u64)> {
    let mut f = File::open(p)?;
    let mut h = wharf_types::digest::Digester::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((h.finish(), n))
}

fn write_synced(p: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = File::create(p)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn sync_dir(d: &Path) -> io::Result<()> {
    File::open(d)?.sync_all()
}
