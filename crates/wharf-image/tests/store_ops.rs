//! import, tag, resolve, rmi, prune, history, and garbage collection at open.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use wharf_image::{DeleteItem, ImportOptions, PruneOptions, Reference};
use wharf_types::ErrorKind;

fn r(s: &str) -> Reference {
    Reference::parse_normalized(s).unwrap()
}

fn import(e: &Env, content: &[u8], name: Option<&str>) -> wharf_image::Digest {
    let mut t = RawTar::new();
    t.file("f", content);
    let opts = ImportOptions {
        reference: name.map(r),
        changes: vec![
            "CMD [\"sh\"]".into(),
            "ENV A=1".into(),
            "LABEL keep=yes".into(),
        ],
        message: String::new(),
        os: String::new(),
        architecture: String::new(),
    };
    e.store.import(&mut &gzip(&t.finish())[..], &opts).unwrap()
}

#[test]
fn import_builds_docker_config() {
    let e = env();
    let id = import(&e, b"hello", Some("imp:1"));
    let img = e.store.resolve("imp:1").unwrap();
    assert_eq!(img.id, id);
    assert_eq!(
        wharf_image::Digest::of(&e.store.config_bytes(&id).unwrap()),
        id
    );
    let c = img.config.config.as_ref().unwrap();
    assert_eq!(c.cmd.as_deref().unwrap(), ["sh"]);
    assert_eq!(c.env.as_deref().unwrap(), ["A=1"]);
    assert_eq!(img.config.os, "linux");
    assert!(!img.config.architecture.is_empty());
    assert_eq!(
        img.config.history[0].comment.as_deref(),
        Some("Imported from -")
    );
    assert_eq!(img.size, 5);
    let h = e.store.history(&id).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].id, id.to_string());
    assert_eq!(h[0].tags, ["imp:1"]);
    assert_eq!(h[0].size, 5);
    assert!(h[0].created > 1_700_000_000);
    let err = e
        .store
        .import(
            &mut &b""[..],
            &ImportOptions {
                changes: vec!["RUN x".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "RUN is not a valid change command");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn resolve_like_docker() {
    let e = env();
    let id = import(&e, b"a", Some("busybox"));
    for q in [
        id.to_string(),
        id.hex().to_string(),
        "busybox".into(),
        "busybox:latest".into(),
        "docker.io/library/busybox".into(),
        id.hex()[..5].to_string(),
        format!("sha256:{}", &id.hex()[..8]),
    ] {
        assert_eq!(e.store.resolve(&q).unwrap().id, id, "{q}");
    }
    let err = e.store.resolve("nope").unwrap_err();
    assert_eq!(err.to_string(), "No such image: nope");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn tag_moves_and_rmi_untags() {
    let e = env();
    let a = import(&e, b"a", Some("a:1"));
    let b = import(&e, b"b", Some("b:1"));
    e.store.tag("a:1", &r("shared")).unwrap();
    assert_eq!(e.store.resolve("shared").unwrap().id, a);
    e.store.tag(b.hex(), &r("shared:latest")).unwrap();
    assert_eq!(e.store.resolve("shared").unwrap().id, b);
    assert!(e.store.tag("missing", &r("x")).is_err());

    // by ID with two tags: conflict
    let err = e.store.remove(b.hex(), false, true, &unused).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories", b.short())
    );
    // by tag: only untag while another tag remains
    let items = e.store.remove("shared", false, true, &unused).unwrap();
    assert_eq!(items, [DeleteItem::Untagged("shared:latest".into())]);
    let snap = e.store.layer_dirs(&b).unwrap()[0].clone();
    assert!(snap.exists());
    // last tag: untag and delete, files gone
    let items = e.store.remove("b:1", false, true, &unused).unwrap();
    assert_eq!(
        items,
        [
            DeleteItem::Untagged("b:1".into()),
            DeleteItem::Deleted(b.to_string())
        ]
    );
    assert!(!snap.exists());
    assert!(!e.root.join("blobs/sha256").join(b.hex()).exists());
    assert!(e.store.resolve(b.hex()).is_err());
    assert_eq!(e.store.list().unwrap().len(), 1);
    assert!(
        e.store
            .remove("b:1", false, false, &unused)
            .unwrap_err()
            .kind()
            == ErrorKind::NotFound
    );
    let _ = a;
}

#[test]
fn rmi_in_use() {
    let e = env();
    let id = import(&e, b"a", Some("used:1"));
    let cid = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".to_string();
    let using = |_: &wharf_image::Digest| Some(cid.clone());
    let err = e.store.remove("used:1", false, false, &using).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to delete used:1 (must be forced) - container 0123456789ab is using its referenced image {}", id.short())
    );
    let err = e.store.remove(id.hex(), false, false, &using).unwrap_err();
    assert!(err.to_string().starts_with(&format!(
        "conflict: unable to delete {} (must be forced)",
        id.short()
    )));
    // forced: untagged, record kept dangling (its snapshots are in use)
    let items = e.store.remove("used:1", true, false, &using).unwrap();
    assert_eq!(items, [DeleteItem::Untagged("used:1".into())]);
    let img = e.store.get(&id).unwrap();
    assert!(img.repo_tags.is_empty());
    assert!(e.store.layer_dirs(&id).unwrap()[0].exists());
    // prune skips images in use, then removes the dangling one
    let rep = e.store.prune(&PruneOptions::default(), &using).unwrap();
    assert!(rep.deleted.is_empty());
    let rep = e.store.prune(&PruneOptions::default(), &unused).unwrap();
    assert_eq!(rep.deleted, [DeleteItem::Deleted(id.to_string())]);
    assert_eq!(rep.space_reclaimed, 1);
    assert!(e.store.list().unwrap().is_empty());
}

#[test]
fn shared_layers_survive_removal_of_one_image() {
    let e = env();
    let a = import(&e, b"same", Some("one:1"));
    let before = e.store.layer_dirs(&a).unwrap();
    // same content, different config (created differs) → same layer, other image
    std::thread::sleep(std::time::Duration::from_millis(5));
    let b = import(&e, b"same", Some("two:1"));
    assert_ne!(a, b);
    assert_eq!(e.store.layer_dirs(&b).unwrap(), before);
    e.store.remove("one:1", false, false, &unused).unwrap();
    assert!(before[0].exists());
    e.store.remove("two:1", false, false, &unused).unwrap();
    assert!(!before[0].exists());
}

#[test]
fn prune_all_and_labels() {
    let e = env();
    let a = import(&e, b"a", Some("p:1"));
    let rep = e.store.prune(&PruneOptions::default(), &unused).unwrap();
    assert!(rep.deleted.is_empty(), "tagged images are not dangling");
    let opts = PruneOptions {
        all: true,
        labels: vec!["keep=no".into()],
        ..Default::default()
    };
    assert!(e.store.prune(&opts, &unused).unwrap().deleted.is_empty());
    let opts = PruneOptions {
        all: true,
        labels: vec!["!keep=no".into(), "keep".into()],
        ..Default::default()
    };
    let rep = e.store.prune(&opts, &unused).unwrap();
    assert_eq!(
        rep.deleted,
        [
            DeleteItem::Untagged("p:1".into()),
            DeleteItem::Deleted(a.to_string())
        ]
    );
}

#[test]
fn open_collects_crash_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let db = db(dir.path());
    let store = wharf_image::ImageStore::open(&root, db.clone()).unwrap();
    let mut t = RawTar::new();
    t.file("f", b"x");
    let id = store
        .import(&mut &t.finish()[..], &ImportOptions::default())
        .unwrap();
    let kept = store.layer_dirs(&id).unwrap();
    drop(store);
    // leftovers of a crash between durable files and the metadata commit
    let junk_blob = root.join("blobs/sha256").join("ab".repeat(32));
    let junk_snap = root.join("snapshots").join("cd".repeat(32));
    std::fs::write(&junk_blob, b"junk").unwrap();
    std::fs::create_dir_all(junk_snap.join("x")).unwrap();
    std::fs::write(root.join("tmp/partial"), b"p").unwrap();
    let store = wharf_image::ImageStore::open(&root, db).unwrap();
    assert!(!junk_blob.exists() && !junk_snap.exists());
    assert!(!root.join("tmp/partial").exists());
    assert!(kept[0].exists());
    assert!(root.join("blobs/sha256").join(id.hex()).exists());
    assert_eq!(store.get(&id).unwrap().id, id);
}
