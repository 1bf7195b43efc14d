//! `kill -9` of the daemon: committed changes survive, nothing half-made is visible.

use std::time::Duration;

use crate::common::*;

#[test]
fn committed_changes_survive_kill_9() {
    let mut d = Daemon::start();
    let id = d.import_busybox("durable:1");
    d.ok(&["tag", "durable:1", "durable:2"]);
    d.kill9();
    d.spawn();
    let tags = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        tags.contains("durable:1") && tags.contains("durable:2"),
        "{tags}"
    );
    assert_eq!(d.image_ids(), vec![id]);
}

/// A container created just before a `kill -9` is there after it and starts (the create
/// commits without waiting for the disk; the record in its directory brings it back), its
/// name still taken; one removed before the kill stays removed.
#[test]
fn a_container_created_just_before_kill_9_is_there_after_it() {
    let mut d = Daemon::start();
    d.import_busybox("bb:latest");
    d.ok(&[
        "create",
        "--name",
        "gone",
        "--network",
        "none",
        "bb",
        "true",
    ]);
    d.ok(&["rm", "gone"]);
    let id = d
        .ok(&[
            "create",
            "--name",
            "made",
            "--network",
            "none",
            "bb",
            "echo",
            "still here",
        ])
        .trim()
        .to_string();
    d.kill9();
    d.spawn();
    assert_eq!(d.ok(&["ps", "-aq", "--no-trunc"]).trim(), id, "{}", d.log());
    assert_eq!(d.ok(&["start", "-a", "made"]), "still here\n");
    let o = d.wharf(&["create", "--name", "made", "bb", "true"]);
    assert!(stderr(&o).contains("is already in use"), "{}", stderr(&o));
    d.ok(&["rm", "made"]);
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn kill_9_during_load_leaves_nothing_half_made() {
    let mut d = Daemon::start();
    // A bigger archive (several MB of layers) so that the kill lands mid-load.
    let src = Daemon::start();
    for i in 0..4 {
        let noise: Vec<u8> = (0..3_000_000u32)
            .map(|x| (x.wrapping_mul(2654435761).wrapping_add(i) >> 13) as u8)
            .collect();
        let tar = busybox_rootfs_tar(&[("etc/noise", &noise)]);
        let o = src.wharf_stdin(&["import", "-", &format!("big:{i}")], &tar);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let archive = src.dir.path().join("big.tar");
    src.ok(&[
        "save",
        "-o",
        archive.to_str().expect("p"),
        "big:0",
        "big:1",
        "big:2",
        "big:3",
    ]);

    for delay_ms in [5u64, 30, 80] {
        let mut child = d
            .wharf_cmd(&["load", "-i", archive.to_str().expect("p")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("load");
        std::thread::sleep(Duration::from_millis(delay_ms));
        d.kill9();
        let _ = child.wait();
        d.spawn();
        // Whatever is listed is whole: every listed image inspects and its layers are there.
        for id in d.image_ids() {
            let o = d.wharf(&["image", "inspect", &id]);
            assert!(
                o.status.success(),
                "image {id} listed but broken: {}",
                stderr(&o)
            );
        }
        let tmp = d.data_root().join("tmp");
        let leftovers = std::fs::read_dir(&tmp).map(|r| r.count()).unwrap_or(0);
        assert_eq!(leftovers, 0, "tmp/ not cleaned after restart");
    }
    // And a load after all that completes normally.
    let out = d.ok(&["load", "-i", archive.to_str().expect("p")]);
    assert_eq!(out.matches("Loaded image").count(), 4, "{out}");
}

/// A start commits without waiting for the disk (ADR-0019). A daemon killed right after
/// finds the starts again in the containers' own files: one still running is running, with
/// its pid (`exec` and `stop` work); one that has exited since shows its exit; one that was
/// never started stays created.
#[test]
fn starts_made_just_before_kill_9_are_there_after_it() {
    // No flush of the records before the kill.
    let mut d = Daemon::start_with_env(&[("WHARF_FLUSH_INTERVAL_MS", "600000")]);
    d.import_busybox("bb:latest");
    d.ok(&[
        "create",
        "--name",
        "never",
        "--network",
        "none",
        "bb",
        "true",
    ]);
    // A durable commit (a rename), so that only the starts below are lost.
    d.ok(&["rename", "never", "never2"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "up",
        "--network",
        "none",
        "bb",
        "sleep",
        "600",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "done",
        "--network",
        "none",
        "bb",
        "sh",
        "-c",
        "exit 7",
    ]);
    assert_eq!(d.ok(&["wait", "done"]).trim(), "7");
    let pid = d
        .ok(&["inspect", "-f", "{{.State.Pid}}", "up"])
        .trim()
        .to_string();
    d.kill9();
    d.spawn();
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "up"])
            .trim(),
        format!("running {pid}")
    );
    // (The API serves once recovery is done.)
    let log = d.log();
    assert!(
        log.contains("recovering the record of a start made just before a crash"),
        "{log}"
    );
    assert_eq!(d.ok(&["exec", "up", "echo", "in"]), "in\n");
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "done"
        ])
        .trim(),
        "exited 7"
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "never2"])
            .trim(),
        "created"
    );
    d.ok(&["stop", "-t", "1", "up"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "up"]).trim(),
        "exited"
    );
    d.ok(&["rm", "up", "done", "never2"]);
}
