//! `ImageStore::commit`: a layer on top of an image, with its config, history and parent.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use wharf_image::{CommitOptions, ImportOptions, Reference};

#[test]
fn commit_adds_a_layer_on_top() {
    let e = env();
    let mut t = RawTar::new();
    t.file("keep", b"k").file("gone", b"g");
    let base = e
        .store
        .import(
            &mut &t.finish()[..],
            &ImportOptions {
                changes: vec!["CMD [\"sh\"]".into()],
                reference: Some(Reference::parse_normalized("base:1").unwrap()),
                ..ImportOptions::default()
            },
        )
        .unwrap();
    let mut layer = RawTar::new();
    layer.file("new", b"n").file(".wh.gone", b"");
    let opts = CommitOptions {
        config: Some(serde_json::json!({"Cmd": ["sh"], "Env": ["X=1"], "Hostname": "abc"})),
        changes: vec!["ENV A=b".into()],
        comment: "msg".into(),
        author: "me".into(),
        created_by: "sh -c x".into(),
        reference: Some(Reference::parse_normalized("committed").unwrap()),
    };
    let id = e
        .store
        .commit(&base, &mut &layer.finish()[..], &opts)
        .unwrap();
    let img = e.store.resolve("committed:latest").unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.parent.as_ref(), Some(&base));
    assert_eq!(img.layers.len(), 2);
    let cfg = img.config.config.clone().unwrap();
    assert_eq!(cfg.env.unwrap(), vec!["X=1".to_string(), "A=b".to_string()]);
    assert_eq!(img.config.author.as_deref(), Some("me"));
    let h = img.config.history.last().unwrap();
    assert_eq!(h.comment.as_deref(), Some("msg"));
    assert_eq!(h.created_by.as_deref(), Some("sh -c x"));
    assert_eq!(img.config.history.len(), 2);
    // The new snapshot is the top lower dir, its whiteout an overlay one.
    let dirs = e.store.layer_dirs(&id).unwrap();
    assert_eq!(dirs.len(), 2);
    assert_eq!(std::fs::read(dirs[0].join("new")).unwrap(), b"n");
    let wh = std::fs::symlink_metadata(dirs[0].join("gone")).unwrap();
    use std::os::unix::fs::FileTypeExt;
    assert!(wh.file_type().is_char_device());
    // The config blob is the id; the parent is untouched.
    assert_eq!(
        wharf_image::Digest::of(&e.store.config_bytes(&id).unwrap()),
        id
    );
    assert_eq!(e.store.layer_dirs(&base).unwrap().len(), 1);
    // A missing parent is NotFound, and nothing is left behind.
    let bogus = wharf_image::Digest::of(b"nope");
    let err = e
        .store
        .commit(&bogus, &mut &RawTar::new().finish()[..], &opts)
        .unwrap_err();
    assert_eq!(err.kind(), wharf_types::ErrorKind::NotFound);
}
