//! Test helpers: a raw tar writer (so hostile names like `../x` can be written), archive
//! builders, and a store on a fresh temp dir.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::Digest as _;
use wharf_image::ImageStore;

pub fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex(&sha2::Sha256::digest(b)))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A tar writer that puts names into headers verbatim.
#[derive(Default)]
pub struct RawTar {
    pub data: Vec<u8>,
}

impl RawTar {
    pub fn new() -> RawTar {
        RawTar::default()
    }

    fn header(
        &mut self,
        name: &str,
        kind: tar::EntryType,
        size: u64,
        mode: u32,
        link: &str,
    ) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        {
            let old = h.as_old_mut();
            old.name[..name.len()].copy_from_slice(name.as_bytes());
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_entry_type(kind);
        h.set_cksum();
        h
    }

    pub fn raw(
        &mut self,
        name: &str,
        kind: tar::EntryType,
        data: &[u8],
        mode: u32,
        link: &str,
    ) -> &mut Self {
        let h = self.header(name, kind, data.len() as u64, mode, link);
        self.data.extend_from_slice(h.as_bytes());
        self.data.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.data.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.raw(name, tar::EntryType::Regular, data, 0o644, "")
    }

    pub fn file_mode(&mut self, name: &str, data: &[u8], mode: u32) -> &mut Self {
        self.raw(name, tar::EntryType::Regular, data, mode, "")
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.raw(name, tar::EntryType::Directory, b"", 0o755, "")
    }

    pub fn dir_mode(&mut self, name: &str, mode: u32) -> &mut Self {
        self.raw(name, tar::EntryType::Directory, b"", mode, "")
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(name, tar::EntryType::Symlink, b"", 0o777, target)
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(name, tar::EntryType::Link, b"", 0o644, target)
    }

    /// A PAX extended header for the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut body = Vec::new();
        for (k, v) in records {
            let rest = k.len() + v.len() + 3; // ' ' '=' '\n'
            let mut len = rest + 1;
            while len != rest + len.to_string().len() {
                len = rest + len.to_string().len();
            }
            body.extend_from_slice(format!("{len} {k}=").as_bytes());
            body.extend_from_slice(v);
            body.push(b'\n');
        }
        self.raw("PaxHeaders/x", tar::EntryType::XHeader, &body, 0o644, "")
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let mut d = std::mem::take(&mut self.data);
        d.extend_from_slice(&[0u8; 1024]);
        d
    }
}

pub fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

pub fn zstd(b: &[u8]) -> Vec<u8> {
    zstd::encode_all(b, 3).unwrap()
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub store: ImageStore,
}

pub fn db(dir: &Path) -> Arc<redb::Database> {
    Arc::new(redb::Database::create(dir.join("meta.db")).unwrap())
}

pub fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let store = ImageStore::open(&root, db(dir.path())).unwrap();
    Env { dir, root, store }
}

/// Every path under the data root with its type (the store's visible state).
pub fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(p: &Path, base: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        for e in rd {
            let e = e.unwrap();
            let path = e.path();
            let rel = path.strip_prefix(base).unwrap().display().to_string();
            let ft = e.file_type().unwrap();
            out.push(format!("{rel}{}", if ft.is_dir() { "/" } else { "" }));
            if ft.is_dir() && !ft.is_symlink() {
                walk(&path, base, out);
            }
        }
    }
    for sub in ["blobs", "snapshots", "tmp"] {
        walk(&root.join(sub), root, &mut out);
    }
    out.sort();
    out
}

/// A config JSON for layers with these uncompressed tars.
pub fn config_for(layers: &[&[u8]], created: &str) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
    let history: Vec<serde_json::Value> = layers
        .iter()
        .enumerate()
        .map(|(i, _)| serde_json::json!({"created": created, "created_by": format!("step {i}")}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": created,
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }))
    .unwrap()
}

/// An outer archive from (name, bytes) pairs, with tar::Builder (ordinary names only).
pub fn outer(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// An OCI image layout archive of one image with the given (stored, uncompressed) layers.
pub fn oci_archive(
    name: Option<&str>,
    stored: &[Vec<u8>],
    uncompressed: &[&[u8]],
    created: &str,
) -> (Vec<u8>, String) {
    let config = config_for(uncompressed, created);
    let id = sha(&config);
    let mut files = BTreeMap::new();
    let mut layers = Vec::new();
    for (s, u) in stored.iter().zip(uncompressed) {
        let d = sha(s);
        let mt = if s.starts_with(&[0x1f, 0x8b]) {
            "application/vnd.oci.image.layer.v1.tar+gzip"
        } else if s.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            "application/vnd.oci.image.layer.v1.tar+zstd"
        } else {
            "application/vnd.oci.image.layer.v1.tar"
        };
        let _ = u;
        layers.push(serde_json::json!({"mediaType": mt, "digest": d, "size": s.len()}));
        files.insert(format!("blobs/sha256/{}", &d[7..]), s.clone());
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": id, "size": config.len()},
        "layers": layers,
    }))
    .unwrap();
    let md = sha(&manifest);
    files.insert(format!("blobs/sha256/{}", &id[7..]), config);
    files.insert(format!("blobs/sha256/{}", &md[7..]), manifest.clone());
    let mut desc = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": manifest.len()});
    if let Some(n) = name {
        desc["annotations"] = serde_json::json!({"io.containerd.image.name": n, "org.opencontainers.image.ref.name": n.rsplit(':').next().unwrap()});
    }
    files.insert(
        "index.json".into(),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [desc]})).unwrap(),
    );
    files.insert(
        "oci-layout".into(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    );
    (outer(&files), id)
}

/// A legacy docker-archive (`<v1id>/layer.tar`, `<id>.json`) of one image.
pub fn legacy_archive(tag: &str, layers: &[&[u8]], created: &str) -> (Vec<u8>, String) {
    let config = config_for(layers, created);
    let id = sha(&config);
    let mut files = BTreeMap::new();
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let v1 = &sha(format!("v1-{i}-{id}").as_bytes())[7..];
        files.insert(format!("{v1}/layer.tar"), l.to_vec());
        files.insert(format!("{v1}/VERSION"), b"1.0".to_vec());
        names.push(format!("{v1}/layer.tar"));
    }
    files.insert(format!("{}.json", &id[7..]), config);
    files.insert(
        "manifest.json".into(),
        serde_json::to_vec(&serde_json::json!([{"Config": format!("{}.json", &id[7..]), "RepoTags": [tag], "Layers": names}])).unwrap(),
    );
    (outer(&files), id)
}

pub fn noop(_: &str) {}

pub fn unused(_: &wharf_image::Digest) -> Option<String> {
    None
}
