//! The registry server driven over real TCP on 127.0.0.1 with raw HTTP/1.1 requests: push and
//! pull flows, ranges, mounts, listings, referrers, refusals, auth, gc and crash leftovers.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::{Digest as _, Sha256};

struct Reg {
    addr: SocketAddr,
    root: std::path::PathBuf,
    _dir: Option<tempfile::TempDir>,
    task: tokio::task::JoinHandle<()>,
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Resp {
    fn header(&self, h: &str) -> String {
        self.headers
            .get(h)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn error_code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

async fn start_at(root: &Path, dir: Option<tempfile::TempDir>, htpasswd: Option<&Path>) -> Reg {
    let st = wharf_registry::state(root, htpasswd).unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = wharf_registry::serve(l, st).await;
    });
    Reg {
        addr,
        root: root.to_path_buf(),
        _dir: dir,
        task,
    }
}

async fn start() -> Reg {
    let dir = tempfile::tempdir().unwrap();
    start_at(&dir.path().join("root"), Some(dir), None).await
}

impl Reg {
    fn root(&self) -> std::path::PathBuf {
        self.root.clone()
    }

    async fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let s = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let r = tx
            .send_request(b.body(Full::new(Bytes::copy_from_slice(body))).unwrap())
            .await
            .unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let body = r.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Resp {
        self.req("GET", path, &[], b"").await
    }

    /// Monolithic blob upload.
    async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let d = digest(data);
        let r = self
            .req(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
                &[],
                data,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        assert_eq!(r.header("docker-content-digest"), d);
        d
    }

    async fn push_manifest(&self, repo: &str, reference: &str, mt: &str, m: &[u8]) -> Resp {
        self.req(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("content-type", mt)],
            m,
        )
        .await
    }

    /// A config and one layer pushed, and an OCI manifest naming them; returns
    /// (manifest bytes, its digest, layer digest).
    async fn push_image(&self, repo: &str, tag: &str, layer: &[u8]) -> (Vec<u8>, String, String) {
        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        let cd = self.push_blob(repo, config).await;
        let ld = self.push_blob(repo, layer).await;
        let m = manifest(&cd, config.len(), &ld, layer.len(), None);
        let r = self.push_manifest(repo, tag, OCI_MANIFEST, &m).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let md = digest(&m);
        assert_eq!(r.header("docker-content-digest"), md);
        (m, md, ld)
    }
}

impl Drop for Reg {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn manifest(cd: &str, cs: usize, ld: &str, ls: usize, extra: Option<serde_json::Value>) -> Vec<u8> {
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ls}],
    });
    if let Some(serde_json::Value::Object(e)) = extra {
        for (k, v) in e {
            m[k] = v;
        }
    }
    serde_json::to_vec(&m).unwrap()
}

fn blob_file(root: &Path, d: &str) -> std::path::PathBuf {
    let hex = d.strip_prefix("sha256:").unwrap();
    root.join("blobs/sha256").join(&hex[..2]).join(hex)
}

#[tokio::test]
async fn base_endpoint_answers_with_api_version() {
    let reg = start().await;
    let r = reg.get("/v2/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("docker-distribution-api-version"), "registry/2.0");
    assert_eq!(r.json(), serde_json::json!({}));
}

#[tokio::test]
async fn chunked_push_then_pull_with_ranges() {
    let reg = start().await;
    let layer: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let ld = digest(&layer);

    let r = reg
        .req("POST", "/v2/lib/app/blobs/uploads/", &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let loc = r.header("location");
    assert!(!r.header("docker-upload-uuid").is_empty());
    assert_eq!(r.header("range"), "0-0");

    let r = reg
        .req(
            "PATCH",
            &loc,
            &[("content-range", "0-3999")],
            &layer[..4000],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!(r.header("range"), "0-3999");
    let loc = r.header("location");

    // Out of order: refused with 416, the upload keeps what it had.
    let r = reg
        .req(
            "PATCH",
            &loc,
            &[("content-range", "5000-5999")],
            &layer[5000..6000],
        )
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    // The upload's status (spec "Resuming an upload"): what a client resumes from.
    let r = reg.get(&loc).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("range"), "0-3999");
    assert_eq!(r.header("location"), loc);
    assert!(loc.ends_with(&r.header("docker-upload-uuid")), "{loc}");

    let r = reg
        .req(
            "PATCH",
            &loc,
            &[("content-range", "4000-7999")],
            &layer[4000..8000],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    // The final chunk comes with the PUT.
    let r = reg
        .req("PUT", &format!("{loc}?digest={ld}"), &[], &layer[8000..])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.header("docker-content-digest"), ld);
    assert_eq!(r.header("location"), format!("/v2/lib/app/blobs/{ld}"));
    // The finished upload is gone.
    assert_eq!(reg.get(&loc).await.status, StatusCode::NOT_FOUND);

    let r = reg
        .req("HEAD", &format!("/v2/lib/app/blobs/{ld}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length"), "10000");
    assert_eq!(r.header("docker-content-digest"), ld);
    let r = reg.get(&format!("/v2/lib/app/blobs/{ld}")).await;
    assert_eq!(&r.body[..], &layer[..]);
    let r = reg
        .req(
            "GET",
            &format!("/v2/lib/app/blobs/{ld}"),
            &[("range", "bytes=100-199")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], &layer[100..200]);
    assert_eq!(r.header("content-range"), "bytes 100-199/10000");
    let r = reg
        .req(
            "GET",
            &format!("/v2/lib/app/blobs/{ld}"),
            &[("range", "bytes=20000-")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);

    // Manifest by tag and by digest, exactly the bytes pushed.
    let config = br#"{"os":"linux"}"#;
    let cd = reg.push_blob("lib/app", config).await;
    let m = manifest(&cd, config.len(), &ld, layer.len(), None);
    let r = reg.push_manifest("lib/app", "v1", OCI_MANIFEST, &m).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let md = digest(&m);
    for reference in ["v1", md.as_str()] {
        let r = reg.get(&format!("/v2/lib/app/manifests/{reference}")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(&r.body[..], &m[..]);
        assert_eq!(r.header("content-type"), OCI_MANIFEST);
        assert_eq!(r.header("docker-content-digest"), md);
        let r = reg
            .req(
                "HEAD",
                &format!("/v2/lib/app/manifests/{reference}"),
                &[],
                b"",
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-length"), m.len().to_string());
    }
    let r = reg.get("/v2/lib/app/tags/list").await;
    assert_eq!(
        r.json(),
        serde_json::json!({"name": "lib/app", "tags": ["v1"]})
    );

    // Deleting the tag leaves the manifest reachable by digest.
    let r = reg
        .req("DELETE", "/v2/lib/app/manifests/v1", &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        reg.get("/v2/lib/app/manifests/v1").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        reg.get(&format!("/v2/lib/app/manifests/{md}")).await.status,
        StatusCode::OK
    );
    let r = reg
        .req("DELETE", &format!("/v2/lib/app/manifests/{md}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = reg.get(&format!("/v2/lib/app/manifests/{md}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn upload_can_be_cancelled() {
    let reg = start().await;
    let r = reg.req("POST", "/v2/a/blobs/uploads/", &[], b"").await;
    let loc = r.header("location");
    reg.req("PATCH", &loc, &[], b"abc").await;
    let r = reg.req("DELETE", &loc, &[], b"").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = reg.get(&loc).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "BLOB_UPLOAD_UNKNOWN");
    // An upload belongs to its repository.
    let r = reg.req("POST", "/v2/a/blobs/uploads/", &[], b"").await;
    let uuid = r.header("docker-upload-uuid");
    assert_eq!(
        reg.get(&format!("/v2/b/blobs/uploads/{uuid}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn digest_mismatch_is_refused_and_nothing_stored() {
    let reg = start().await;
    let wrong = digest(b"something else");
    let r = reg
        .req(
            "POST",
            &format!("/v2/a/blobs/uploads/?digest={wrong}"),
            &[],
            b"data",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "DIGEST_INVALID");
    assert!(!blob_file(&reg.root(), &wrong).exists());
    assert!(!blob_file(&reg.root(), &digest(b"data")).exists());

    let r = reg.req("POST", "/v2/a/blobs/uploads/", &[], b"").await;
    let loc = r.header("location");
    let r = reg
        .req("PUT", &format!("{loc}?digest={wrong}"), &[], b"data")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "DIGEST_INVALID");
    assert!(!blob_file(&reg.root(), &digest(b"data")).exists());
    assert_eq!(
        reg.get(&format!("/v2/a/blobs/{}", digest(b"data")))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        std::fs::read_dir(reg.root().join("uploads"))
            .unwrap()
            .count(),
        0
    );

    // A manifest pushed by digest must hash to it.
    let cd = reg.push_blob("a", b"{}").await;
    let ld = reg.push_blob("a", b"layer").await;
    let m = manifest(&cd, 2, &ld, 5, None);
    let r = reg.push_manifest("a", &wrong, OCI_MANIFEST, &m).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "DIGEST_INVALID");
    let r = reg.push_manifest("a", &digest(&m), OCI_MANIFEST, &m).await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn manifest_naming_a_missing_blob_is_refused() {
    let reg = start().await;
    let cd = reg.push_blob("a", b"{}").await;
    let missing = digest(b"never pushed");
    let m = manifest(&cd, 2, &missing, 12, None);
    let r = reg.push_manifest("a", "t", OCI_MANIFEST, &m).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(
        reg.get("/v2/a/manifests/t").await.status,
        StatusCode::NOT_FOUND
    );

    // A blob in another repository is not this repository's.
    let ld = reg.push_blob("other", b"layer").await;
    let m = manifest(&cd, 2, &ld, 5, None);
    let r = reg.push_manifest("a", "t", OCI_MANIFEST, &m).await;
    assert_eq!(r.error_code(), "MANIFEST_BLOB_UNKNOWN");

    // An index's children must be manifests of the repository.
    let idx = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": missing, "size": 1}]
    }))
    .unwrap();
    let r = reg.push_manifest("a", "idx", OCI_INDEX, &idx).await;
    assert_eq!(r.error_code(), "MANIFEST_BLOB_UNKNOWN");
    let (_, md, _) = reg.push_image("a", "img", b"layer").await;
    let idx = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": md, "size": 1}]
    }))
    .unwrap();
    let r = reg.push_manifest("a", "idx", OCI_INDEX, &idx).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = reg.get("/v2/a/manifests/idx").await;
    assert_eq!(r.header("content-type"), OCI_INDEX);

    // Not JSON at all.
    let r = reg.push_manifest("a", "bad", OCI_MANIFEST, b"nope").await;
    assert_eq!(r.error_code(), "MANIFEST_INVALID");
}

#[tokio::test]
async fn blobs_are_served_only_to_repositories_linking_them_and_mount_links() {
    let reg = start().await;
    let d = reg.push_blob("src/repo", b"shared layer").await;
    let r = reg.get(&format!("/v2/dst/blobs/{d}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "BLOB_UNKNOWN");

    let r = reg
        .req(
            "POST",
            &format!("/v2/dst/blobs/uploads/?mount={d}&from=src/repo"),
            &[],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("docker-content-digest"), d);
    assert_eq!(
        reg.get(&format!("/v2/dst/blobs/{d}")).await.body.as_ref(),
        b"shared layer"
    );

    // Mounting what the source lacks starts an ordinary upload.
    let other = digest(b"absent");
    let r = reg
        .req(
            "POST",
            &format!("/v2/dst/blobs/uploads/?mount={other}&from=src/repo"),
            &[],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(r.header("location").starts_with("/v2/dst/blobs/uploads/"));

    // DELETE unlinks from the repository only.
    let r = reg
        .req("DELETE", &format!("/v2/dst/blobs/{d}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        reg.get(&format!("/v2/dst/blobs/{d}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        reg.get(&format!("/v2/src/repo/blobs/{d}")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tags_and_catalog_paginate_with_link() {
    let reg = start().await;
    for t in ["a", "b", "c", "d", "e"] {
        reg.push_image("p/q", t, b"l").await;
    }
    reg.push_image("x", "1", b"l").await;
    reg.push_image("m/n/o", "1", b"l").await;

    let r = reg.get("/v2/p/q/tags/list?n=2").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["a", "b"]));
    let link = r.header("link");
    assert_eq!(link, "</v2/p/q/tags/list?n=2&last=b>; rel=\"next\"");
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    let r = reg.get(next).await;
    assert_eq!(r.json()["tags"], serde_json::json!(["c", "d"]));
    let r = reg.get("/v2/p/q/tags/list?n=2&last=d").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["e"]));
    assert!(r.header("link").is_empty());
    let r = reg.get("/v2/nope/tags/list").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "NAME_UNKNOWN");

    let r = reg.get("/v2/_catalog").await;
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["m/n/o", "p/q", "x"])
    );
    let r = reg.get("/v2/_catalog?n=1&last=m/n/o").await;
    assert_eq!(r.json()["repositories"], serde_json::json!(["p/q"]));
    assert_eq!(
        r.header("link"),
        "</v2/_catalog?n=1&last=p/q>; rel=\"next\""
    );
}

#[tokio::test]
async fn referrers_lists_manifests_whose_subject_is_the_digest() {
    let reg = start().await;
    let (m, md, _) = reg.push_image("r", "v1", b"layer").await;
    let cd = reg.push_blob("r", b"{}").await;
    let sig = reg.push_blob("r", b"signature").await;
    for (at, tag) in [
        ("application/vnd.example.sig", "s1"),
        ("application/vnd.example.sbom", "s2"),
    ] {
        let extra = serde_json::json!({
            "artifactType": at,
            "subject": {"mediaType": OCI_MANIFEST, "digest": md, "size": m.len()},
            "annotations": {"k": tag},
        });
        let a = manifest(&cd, 2, &sig, 9, Some(extra));
        let r = reg.push_manifest("r", tag, OCI_MANIFEST, &a).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        assert_eq!(r.header("oci-subject"), md);
    }
    let r = reg.get(&format!("/v2/r/referrers/{md}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), OCI_INDEX);
    let j = r.json();
    assert_eq!(j["manifests"].as_array().unwrap().len(), 2);
    let r = reg
        .get(&format!(
            "/v2/r/referrers/{md}?artifactType=application/vnd.example.sbom"
        ))
        .await;
    let j = r.json();
    assert_eq!(r.header("oci-filters-applied"), "artifactType");
    assert_eq!(j["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(
        j["manifests"][0]["artifactType"],
        "application/vnd.example.sbom"
    );
    assert_eq!(j["manifests"][0]["annotations"]["k"], "s2");
    // No referrers: an empty index, not 404.
    let r = reg.get(&format!("/v2/r/referrers/{}", digest(b"x"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["manifests"], serde_json::json!([]));
}

#[tokio::test]
async fn names_digests_and_tags_are_validated() {
    let reg = start().await;
    let r = reg.get("/v2/UPPER/tags/list").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "NAME_INVALID");
    let r = reg.get("/v2/a/../b/tags/list").await;
    assert!(r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::NOT_FOUND);
    let r = reg.get("/v2/a/blobs/sha256:zz").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "DIGEST_INVALID");
    let r = reg.get("/v2/a/blobs/md5:0123").await;
    assert_eq!(r.error_code(), "DIGEST_INVALID");
    let r = reg.get("/v2/a/manifests/.bad").await;
    assert_eq!(r.error_code(), "TAG_INVALID");
    let r = reg.req("POST", "/v2/_x/blobs/uploads/", &[], b"").await;
    assert_eq!(r.error_code(), "NAME_INVALID");
    let r = reg.get("/v2/a/blobs/uploads/../../etc").await;
    assert_ne!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn htpasswd_requires_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let pw = dir.path().join("htpasswd");
    std::fs::write(&pw, format!("alice:{hash}\n")).unwrap();
    let root = dir.path().join("root");
    let reg = start_at(&root, Some(dir), Some(&pw)).await;
    let r = reg.get("/v2/").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.header("www-authenticate"),
        "Basic realm=\"wharf-registry\""
    );
    assert_eq!(r.error_code(), "UNAUTHORIZED");
    // alice:wrong
    let r = reg
        .req(
            "GET",
            "/v2/",
            &[("authorization", "Basic YWxpY2U6d3Jvbmc=")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // alice:s3cret
    let r = reg
        .req(
            "GET",
            "/v2/",
            &[("authorization", "Basic YWxpY2U6czNjcmV0")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // A remembered good password does not let a wrong one in.
    let r = reg
        .req(
            "GET",
            "/v2/",
            &[("authorization", "Basic YWxpY2U6d3Jvbmc=")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn gc_removes_only_unreferenced_blobs() {
    let reg = start().await;
    let (_, md, ld) = reg.push_image("g", "v1", b"kept layer").await;
    let (_, untagged_md, untagged_ld) = reg.push_image("g", "v2", b"untagged layer").await;
    reg.req("DELETE", "/v2/g/manifests/v2", &[], b"").await;
    let (_, gone_md, gone_ld) = reg.push_image("g", "v3", b"deleted layer").await;
    reg.req("DELETE", &format!("/v2/g/manifests/{gone_md}"), &[], b"")
        .await;
    let loose = reg.push_blob("g", b"loose").await;

    let store = wharf_registry::Store::open(&reg.root()).unwrap();
    let report = wharf_registry::gc::collect(&store).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let removed: Vec<String> = report.removed.iter().map(|d| d.to_string()).collect();
    let mut want = vec![gone_md.clone(), gone_ld.clone(), loose.clone()];
    want.sort();
    let mut got = removed.clone();
    got.sort();
    assert_eq!(got, want);
    for d in [&md, &ld, &untagged_md, &untagged_ld] {
        assert!(blob_file(&reg.root(), d).exists(), "{d} was removed");
    }
    assert_eq!(reg.get("/v2/g/manifests/v1").await.status, StatusCode::OK);
    assert_eq!(
        reg.get(&format!("/v2/g/blobs/{ld}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        reg.get(&format!("/v2/g/blobs/{loose}")).await.status,
        StatusCode::NOT_FOUND
    );
    // A second run finds nothing.
    assert!(wharf_registry::gc::collect(&store)
        .unwrap()
        .removed
        .is_empty());
}

#[tokio::test]
async fn a_crash_mid_upload_leaves_nothing_visible() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let data = b"half a layer, and then the power went out";
    let d = digest(data);
    let reg = start_at(&root, None, None).await;
    let r = reg.req("POST", "/v2/c/blobs/uploads/", &[], b"").await;
    reg.req("PATCH", &r.header("location"), &[], &data[..10])
        .await;
    // What a crash between write and rename leaves: a partial file in tmp.
    std::fs::write(root.join("tmp/partial"), &data[..20]).unwrap();
    assert_eq!(
        reg.get(&format!("/v2/c/blobs/{d}")).await.status,
        StatusCode::NOT_FOUND
    );
    drop(reg);
    // Restart on the same root.
    let reg = start_at(&root, None, None).await;
    assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    assert!(!blob_file(&root, &d).exists());
    let r = reg.get(&format!("/v2/c/blobs/{d}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reg.get("/v2/_catalog").await.json()["repositories"],
        serde_json::json!([])
    );
}
