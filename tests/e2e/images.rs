//! The image commands through `wharf`: import, images, tag, rmi, inspect, history, prune,
//! save/load, system df, version/info.

use crate::common::*;

#[test]
fn version_and_info_show_both_sides() {
    let d = Daemon::start();
    let v = d.ok(&["version"]);
    assert!(v.contains("Client"), "{v}");
    assert!(v.contains("Server"), "{v}");
    assert!(v.contains("1.52"), "API version shown: {v}");
    let info = d.ok(&["info"]);
    assert!(info.contains("Images: 0"), "{info}");
    assert!(
        info.contains(&d.data_root().display().to_string()),
        "{info}"
    );
}

#[test]
fn import_with_changes_then_list_inspect_history() {
    let d = Daemon::start();
    let tar = busybox_rootfs_tar(&[]);
    let o = d.wharf_stdin(
        &[
            "import",
            "-c",
            "CMD [\"sh\"]",
            "-c",
            "ENV A=b",
            "-c",
            "WORKDIR /tmp",
            "-m",
            "hello",
            "-",
            "bb:1",
        ],
        &tar,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");

    let table = d.ok(&["images"]);
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    for col in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(col), "{header}");
    }
    let row = lines.next().unwrap_or_default();
    assert!(
        row.starts_with("bb ") && row.contains(" 1 ") && row.contains(&id[7..19]),
        "{table}"
    );

    let inspect: serde_json::Value =
        serde_json::from_str(&d.ok(&["image", "inspect", "bb:1"])).expect("json");
    let img = &inspect[0];
    assert_eq!(img["Id"], id.as_str());
    assert_eq!(img["RepoTags"][0], "bb:1");
    assert_eq!(img["Config"]["Cmd"][0], "sh");
    assert_eq!(img["Config"]["WorkingDir"], "/tmp");
    assert!(img["Config"]["Env"]
        .as_array()
        .expect("env")
        .iter()
        .any(|e| e == "A=b"));
    assert_eq!(img["RootFS"]["Layers"].as_array().expect("layers").len(), 1);
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{.Id}}", "bb:1"]).trim(),
        id
    );

    let hist = d.ok(&["history", "bb:1"]);
    assert!(hist.contains("hello"), "{hist}");
    assert!(
        hist.lines()
            .next()
            .unwrap_or_default()
            .contains("CREATED BY"),
        "{hist}"
    );

    // Short ids resolve as in docker; unknown ones are docker's 404.
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{.Id}}", &id[7..11]])
            .trim(),
        id
    );
    let o = d.wharf(&["image", "inspect", "nosuch"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("No such image: nosuch"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn tag_untag_and_delete() {
    let d = Daemon::start();
    let id = d.import_busybox("one:latest");
    d.ok(&["tag", "one", "two:x"]);
    d.ok(&["tag", "one", "localhost:5000/team/app:v1"]);
    let repos = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    for r in ["one:latest", "two:x", "localhost:5000/team/app:v1"] {
        assert!(repos.lines().any(|l| l == r), "{r} missing in {repos}");
    }
    // Filters: reference globs and dangling.
    let f = d.ok(&[
        "images",
        "--filter",
        "reference=tw*",
        "--format",
        "{{.Repository}}",
    ]);
    assert_eq!(f.trim(), "two");

    // Deleting by id while several repos name it needs -f (docker's conflict).
    let o = d.wharf(&["rmi", &id[7..19]]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("must be forced"), "{}", stderr(&o));

    let out = d.ok(&["rmi", "two:x"]);
    assert!(out.contains("Untagged: two:x"), "{out}");
    assert_eq!(d.image_ids(), vec![id.clone()]);
    d.ok(&["rmi", "localhost:5000/team/app:v1"]);
    let out = d.ok(&["rmi", "one"]);
    assert!(
        out.contains("Untagged: one:latest") && out.contains(&format!("Deleted: {id}")),
        "{out}"
    );
    assert!(d.image_ids().is_empty());
    // Nothing left on disk: blobs and snapshots are gone with the last image.
    let count = |sub: &str| {
        std::fs::read_dir(d.data_root().join(sub))
            .map(|r| r.count())
            .unwrap_or(0)
    };
    assert_eq!(count("snapshots"), 0);
    assert_eq!(count("blobs/sha256"), 0);
}

#[test]
fn malformed_references_are_refused() {
    let d = Daemon::start();
    d.import_busybox("ok:1");
    for bad in [
        "UPPER/case",
        "a//b",
        "x:",
        &format!("{}:t", "a".repeat(300)),
    ] {
        let o = d.wharf(&["tag", "ok:1", bad]);
        assert!(!o.status.success(), "tag to {bad} should fail");
        assert!(
            stderr(&o)
                .to_lowercase()
                .contains("invalid reference format")
                || stderr(&o).contains("must not be more than"),
            "{bad}: {}",
            stderr(&o)
        );
    }
    assert_eq!(d.ok(&["images", "-q"]).lines().count(), 1);
}

#[test]
fn load_real_docker_save_fixture() {
    let d = Daemon::start();
    let out = d.ok(&["load", "-i", fixture().to_str().expect("path")]);
    assert!(out.contains("Loaded image: fixture/layered:2"), "{out}");
    assert!(out.contains("Loaded image: fixture/base:1"), "{out}");
    let ids = d.image_ids();
    assert_eq!(
        ids,
        vec![FIXTURE_BASE_ID.to_string(), FIXTURE_LAYERED_ID.to_string()]
    );

    // The whiteout of /bin/false became an overlay whiteout (a 0:0 char device) in its snapshot,
    // and the replaced /data/sub is an opaque dir.
    let mut whiteout = false;
    let mut opaque = false;
    for e in std::fs::read_dir(d.data_root().join("snapshots")).expect("snapshots") {
        let p = e.expect("entry").path();
        if let Ok(st) = rustix::fs::lstat(p.join("bin/false")) {
            if rustix::fs::FileType::from_raw_mode(st.st_mode)
                == rustix::fs::FileType::CharacterDevice
            {
                whiteout = true;
            }
        }
        let mut buf = [0u8; 4];
        if let Ok(n) = rustix::fs::lgetxattr(p.join("data/sub"), "trusted.overlay.opaque", &mut buf)
        {
            opaque |= &buf[..n] == b"y";
        }
    }
    assert!(whiteout, "no overlay whiteout for /bin/false");
    assert!(opaque, "no opaque xattr on /data/sub");

    // Layers shared by chain id: base's one layer is layered's bottom layer, unpacked once.
    let snaps = std::fs::read_dir(d.data_root().join("snapshots"))
        .expect("snapshots")
        .count();
    assert_eq!(snaps, 3, "3 distinct chain ids");

    let hist = d.ok(&["history", "--no-trunc", "fixture/layered:2"]);
    assert!(hist.contains("rm /bin/false"), "{hist}");
}

#[test]
fn save_load_round_trip_keeps_ids() {
    let a = Daemon::start();
    a.ok(&["load", "-i", fixture().to_str().expect("path")]);
    let id = a.import_busybox("mine:1");
    let out = a.dir.path().join("out.tar");
    a.ok(&[
        "save",
        "-o",
        out.to_str().expect("p"),
        "fixture/layered:2",
        "mine:1",
    ]);

    let b = Daemon::start();
    let msg = b.ok(&["load", "-i", out.to_str().expect("p")]);
    assert!(
        msg.contains("Loaded image: mine:1") && msg.contains("Loaded image: fixture/layered:2"),
        "{msg}"
    );
    let mut want = vec![FIXTURE_LAYERED_ID.to_string(), id];
    want.sort();
    assert_eq!(b.image_ids(), want);

    // Saving is deterministic: the same images give the same bytes.
    let again = a.dir.path().join("again.tar");
    a.ok(&[
        "save",
        "-o",
        again.to_str().expect("p"),
        "fixture/layered:2",
        "mine:1",
    ]);
    assert_eq!(
        std::fs::read(&out).expect("r"),
        std::fs::read(&again).expect("r")
    );

    // Load from stdin works too.
    let c = Daemon::start();
    let o = c.wharf_stdin(&["load"], &std::fs::read(&out).expect("r"));
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn prune_and_system_df() {
    let d = Daemon::start();
    let id = d.import_busybox("keep:1");
    d.ok(&["tag", "keep:1", "gone:1"]);
    d.ok(&["rmi", "keep:1"]);
    // Import an untagged (dangling) image.
    let tar = busybox_rootfs_tar(&[("etc/extra", b"x")]);
    let o = d.wharf_stdin(&["import", "-"], &tar);
    assert!(o.status.success(), "{}", stderr(&o));
    let dangling = stdout(&o).trim().to_string();
    let list = d.ok(&["images", "--filter", "dangling=true", "-q", "--no-trunc"]);
    assert_eq!(list.trim(), dangling);

    let df = d.ok(&["system", "df"]);
    assert!(
        df.lines()
            .next()
            .unwrap_or_default()
            .contains("RECLAIMABLE"),
        "{df}"
    );
    assert!(df.contains("Images"), "{df}");

    let out = d.ok(&["image", "prune", "-f"]);
    assert!(out.contains(&dangling), "{out}");
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(d.image_ids(), vec![id]);
    d.ok(&["image", "prune", "-a", "-f"]);
    assert!(d.image_ids().is_empty());
}

#[test]
fn cli_starts_the_daemon_when_none_answers() {
    let dir = tempfile::Builder::new()
        .prefix("wharf-auto-")
        .tempdir_in(test_tmp())
        .expect("tmp");
    let sock = dir.path().join("auto.sock");
    let out = std::process::Command::new(WHARF)
        .args(["images", "-q"])
        .env("WHARF_HOST", format!("unix://{}", sock.display()))
        .env("WHARF_DATA_ROOT", dir.path().join("root"))
        .env("WHARF_REGISTRY_LOOPBACK_ONLY", "1")
        .env_remove("WHARF_NO_AUTOSTART")
        .output()
        .expect("wharf");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(sock.exists());
    // It is a real daemon: a second command finds it, and we stop it by its lock file's pid.
    let pid: i32 = std::fs::read_to_string(dir.path().join("root/wharf.lock"))
        .expect("lock")
        .trim()
        .parse()
        .expect("pid");
    let out = std::process::Command::new(WHARF)
        .args(["-H", &format!("unix://{}", sock.display()), "info"])
        .env("WHARF_NO_AUTOSTART", "1")
        .output()
        .expect("wharf");
    assert!(out.status.success(), "{}", stderr(&out));
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).expect("pid"),
        rustix::process::Signal::TERM,
    );
    // Not the harness's daemon: its table and default bridge are ours to remove.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists()
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    remove_kernel_objects_of(&dir.path().join("root"));
}
