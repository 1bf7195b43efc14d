//! A container's files: `cp` both ways (running and stopped), `diff`, `commit`, `export`,
//! `--init`, through `wharf` and the real `docker` CLI; and the `docker cp` escapes
//! (CVE-2018-15664, CVE-2019-14271) as regression tests.

use std::path::Path;

use crate::common::*;

fn daemon_with_busybox() -> Daemon {
    let d = Daemon::start();
    d.import_busybox("bb:latest");
    d
}

fn scratch(d: &Daemon, name: &str) -> std::path::PathBuf {
    let p = d.dir.path().join(name);
    std::fs::create_dir_all(&p).expect("scratch dir");
    p
}

#[test]
fn cp_both_directions_running_and_stopped() {
    let d = daemon_with_busybox();
    d.ok(&["run", "-d", "--name", "c1", "bb", "sleep", "1000"]);
    let host = scratch(&d, "host");
    std::fs::write(host.join("hello.txt"), "hello from host\n").unwrap();
    std::fs::create_dir_all(host.join("dir/sub")).unwrap();
    std::fs::write(host.join("dir/sub/f"), "f\n").unwrap();

    // host → running container: into an existing dir, to a new name, a directory.
    let src = host.join("hello.txt");
    d.ok(&["cp", src.to_str().unwrap(), "c1:/tmp/"]);
    d.ok(&["cp", src.to_str().unwrap(), "c1:/tmp/renamed"]);
    d.ok(&["cp", host.join("dir").to_str().unwrap(), "c1:/tmp/newdir"]);
    assert_eq!(
        d.ok(&["exec", "c1", "cat", "/tmp/hello.txt"]),
        "hello from host\n"
    );
    assert_eq!(
        d.ok(&["exec", "c1", "cat", "/tmp/renamed"]),
        "hello from host\n"
    );
    assert_eq!(d.ok(&["exec", "c1", "cat", "/tmp/newdir/sub/f"]), "f\n");

    // Owners: root without -a, kept with -a; mtimes kept either way.
    let owned = host.join("owned");
    std::fs::write(&owned, "o\n").unwrap();
    std::os::unix::fs::chown(&owned, Some(1234), Some(4321)).unwrap();
    let t = std::fs::FileTimes::new()
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000));
    std::fs::File::options()
        .write(true)
        .open(&owned)
        .unwrap()
        .set_times(t)
        .unwrap();
    d.ok(&["cp", owned.to_str().unwrap(), "c1:/tmp/plain"]);
    d.ok(&["cp", "-a", owned.to_str().unwrap(), "c1:/tmp/archived"]);
    assert_eq!(
        d.ok(&[
            "exec",
            "c1",
            "stat",
            "-c",
            "%u:%g %Y",
            "/tmp/plain",
            "/tmp/archived"
        ]),
        "0:0 1600000000\n1234:4321 1600000000\n"
    );

    // container → host: a file, a directory, the contents of a directory (`/.`).
    let out = scratch(&d, "out");
    d.ok(&["cp", "c1:/etc/passwd", out.to_str().unwrap()]);
    assert!(std::fs::read_to_string(out.join("passwd"))
        .unwrap()
        .starts_with("root:"));
    d.ok(&["cp", "c1:/tmp/newdir", out.join("nd").to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join("nd/sub/f")).unwrap(),
        "f\n"
    );
    let dot = out.join("dot");
    std::fs::create_dir_all(&dot).unwrap();
    d.ok(&["cp", "c1:/tmp/newdir/.", dot.to_str().unwrap()]);
    assert!(dot.join("sub/f").exists());
    // `-`: a tar on stdout.
    let o = d.wharf(&["cp", "c1:/etc/group", "-"]);
    assert!(o.status.success());
    let mut ar = tar::Archive::new(&o.stdout[..]);
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, vec!["group"]);
    // Errors as docker: a missing source, a directory onto a file.
    let o = d.wharf(&["cp", "c1:/nope", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Could not find the file /nope in container c1")
            || stderr(&o).contains("/nope"),
        "{}",
        stderr(&o)
    );
    let o = d.wharf(&["cp", host.join("dir").to_str().unwrap(), "c1:/etc/passwd"]);
    assert!(!o.status.success());

    // Stopped: both ways still work; writes survive into the next start.
    d.ok(&["stop", "-t", "0", "c1"]);
    d.ok(&["cp", src.to_str().unwrap(), "c1:/root/while-stopped"]);
    let o2 = scratch(&d, "out2");
    d.ok(&["cp", "c1:/tmp/renamed", o2.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(o2.join("renamed")).unwrap(),
        "hello from host\n"
    );
    // Nothing left mounted after a stopped copy.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "c1"]);
    let left: Vec<&str> = mounts.lines().filter(|l| l.contains(id.trim())).collect();
    if !left.is_empty() {
        // The shim's log says why its clean-up did not unmount (a failed delete, say).
        let shim = d
            .dir
            .path()
            .join("root/containers")
            .join(id.trim())
            .join("shim.log");
        let shim = std::fs::read_to_string(shim).unwrap_or_default();
        panic!("rootfs left mounted: {left:?}\nshim log:\n{shim}");
    }
    d.ok(&["start", "c1"]);
    assert_eq!(
        d.ok(&["exec", "c1", "cat", "/root/while-stopped"]),
        "hello from host\n"
    );
    d.ok(&["rm", "-f", "c1"]);
}

/// A running container is seen as its processes see it: volumes and /etc/hosts included.
#[test]
fn cp_sees_volumes_of_a_running_container() {
    let d = daemon_with_busybox();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "vc",
        "-v",
        "cpvol:/data",
        "bb",
        "sleep",
        "1000",
    ]);
    let host = scratch(&d, "host");
    std::fs::write(host.join("v.txt"), "in a volume\n").unwrap();
    d.ok(&["cp", host.join("v.txt").to_str().unwrap(), "vc:/data/"]);
    assert_eq!(d.ok(&["exec", "vc", "cat", "/data/v.txt"]), "in a volume\n");
    let out = scratch(&d, "out");
    d.ok(&["cp", "vc:/data/v.txt", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join("v.txt")).unwrap(),
        "in a volume\n"
    );
    d.ok(&["cp", "vc:/etc/hosts", out.to_str().unwrap()]);
    assert!(std::fs::read_to_string(out.join("hosts"))
        .unwrap()
        .contains("localhost"));
    // The volume's file is not part of the container's changes.
    assert!(!d.ok(&["diff", "vc"]).contains("v.txt"));
    d.ok(&["rm", "-f", "vc"]);
}

/// CVE-2018-15664: a container-made symlink pointing at `/etc` must resolve inside the
/// container: `cp` copies the container's file, never the host's.
#[test]
fn cve_2018_15664_cp_through_symlink_reads_the_containers_file() {
    let d = daemon_with_busybox();
    d.ok(&[
        "run",
        "--name",
        "evil",
        "bb",
        "sh",
        "-c",
        "echo INSIDE > /etc/os-release && ln -s /etc /lnk && ln -s /etc/os-release /file",
    ]);
    let out = scratch(&d, "out");
    d.ok(&["cp", "evil:/lnk/os-release", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join("os-release")).unwrap(),
        "INSIDE\n"
    );
    // -L follows the link, still inside the container.
    let o2 = scratch(&d, "o2");
    d.ok(&["cp", "-L", "evil:/file", o2.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(o2.join("file")).unwrap(),
        "INSIDE\n"
    );
    // Without -L the symlink itself is copied.
    let o3 = scratch(&d, "o3");
    d.ok(&["cp", "evil:/file", o3.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_link(o3.join("file")).unwrap(),
        Path::new("/etc/os-release")
    );
    // The daemon never followed it on the host either: `..` and absolute links stay inside.
    let o4 = scratch(&d, "o4");
    d.ok(&[
        "cp",
        "evil:/lnk/../../../../etc/os-release",
        o4.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(o4.join("os-release")).unwrap(),
        "INSIDE\n"
    );
}

/// CVE-2019-14271 (and the write side of CVE-2018-15664): extracting into a container through
/// its own symlink to `/etc` writes the container's `/etc`, never the host's; the copy is done
/// in-process (no helper in the container), and entries that climb out are refused.
#[test]
fn cve_2019_14271_cp_into_container_through_symlink_stays_inside() {
    let d = daemon_with_busybox();
    d.ok(&["create", "--name", "evil", "bb", "sh"]);
    d.ok(&["start", "evil"]); // sh without stdin exits at once
    d.ok(&["wait", "evil"]);
    // Make /lnk -> /etc inside the container (through cp itself: a tar with a symlink).
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "lnk", "/etc").unwrap();
    let tar = b.into_inner().unwrap();
    let o = d.wharf_stdin(&["cp", "-", "evil:/"], &tar);
    assert!(o.status.success(), "{}", stderr(&o));

    let unique = format!("wharf-cve-2019-14271-{}", std::process::id());
    let host = scratch(&d, "host");
    std::fs::write(host.join(&unique), "payload\n").unwrap();
    d.ok(&["cp", host.join(&unique).to_str().unwrap(), "evil:/lnk/"]);
    assert!(
        !Path::new("/etc").join(&unique).exists(),
        "cp wrote on the host through a container symlink"
    );
    let out = scratch(&d, "out");
    d.ok(&["cp", &format!("evil:/etc/{unique}"), out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join(&unique)).unwrap(),
        "payload\n"
    );

    // A tar whose entries climb out with `..` is refused.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    {
        let name = format!("../../../../tmp/{unique}");
        let bytes = h.as_old_mut();
        bytes.name[..name.len()].copy_from_slice(name.as_bytes());
    }
    h.set_cksum();
    b.append(&h, &b"x\n"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let o = d.wharf_stdin(&["cp", "-", "evil:/tmp"], &tar);
    assert!(!o.status.success());
    assert!(!Path::new("/tmp").join(&unique).exists());
}

#[test]
fn diff_lists_changes_like_docker() {
    let d = daemon_with_busybox();
    d.ok(&[
        "run",
        "--name",
        "ctr",
        "bb",
        "sh",
        "-c",
        "echo x > /tmp/x && rm /bin/false && echo y >> /etc/passwd",
    ]);
    let out = d.ok(&["diff", "ctr"]);
    let lines: Vec<&str> = out.lines().collect();
    for want in [
        "C /tmp",
        "A /tmp/x",
        "C /bin",
        "D /bin/false",
        "C /etc",
        "C /etc/passwd",
    ] {
        assert!(lines.contains(&want), "missing {want:?} in:\n{out}");
    }
    for hidden in [
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
        "/proc",
        "/dev",
        "/sys",
    ] {
        assert!(
            !lines.iter().any(|l| l.ends_with(&format!(" {hidden}"))),
            "runtime-made {hidden} listed:\n{out}"
        );
    }
    if let Some(o) = d.docker(&["diff", "ctr"]) {
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), out);
    }
}

/// The mount targets busybox lacks (/proc, /sys, /dev, /etc and its files) come from the
/// shared mount point layer under the image (ADR-0018), with docker's `/.dockerenv` and
/// `/etc/mtab`: a container that writes nothing has an empty write layer.
#[test]
fn a_container_that_writes_nothing_has_an_empty_write_layer() {
    let d = daemon_with_busybox();
    let out = d.ok(&[
        "run",
        "--name",
        "quiet",
        "bb",
        "sh",
        "-c",
        "test -f /.dockerenv && readlink /etc/mtab && test -d /proc/self && cat /etc/hostname",
    ]);
    assert!(out.starts_with("/proc/mounts\n"), "{out}");
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "quiet"]);
    assert!(out.ends_with(&format!("{}\n", &id.trim()[..12])), "{out}");
    let upper = d
        .data_root()
        .join("containers")
        .join(id.trim())
        .join("upper");
    let left: Vec<_> = std::fs::read_dir(&upper)
        .expect("the write layer")
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?} in {}", upper.display());
    assert_eq!(d.ok(&["diff", "quiet"]), "");
    // The layer is the image's bottom: the image's own entries win over it.
    d.ok(&[
        "run",
        "--name",
        "own",
        "bb",
        "sh",
        "-c",
        "rm /etc/mtab && echo mine > /etc/mtab",
    ]);
    d.ok(&["commit", "own", "bb:own"]);
    let mtab = d.ok(&["run", "--rm", "bb:own", "cat", "/etc/mtab"]);
    assert_eq!(mtab, "mine\n");
}

#[test]
fn commit_then_run_sees_the_changes_and_export_import_round_trips() {
    let d = daemon_with_busybox();
    d.ok(&[
        "run",
        "--name",
        "ctr",
        "bb",
        "sh",
        "-c",
        "echo committed > /hello && rm /bin/false",
    ]);
    let id = d.ok(&[
        "commit", "-m", "msg", "-a", "me", "-c", "ENV A=b", "ctr", "img:v1",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(
        d.ok(&["run", "--rm", "img:v1", "cat", "/hello"]),
        "committed\n"
    );
    let o = d.wharf(&["run", "--rm", "img:v1", "ls", "/bin/false"]);
    assert!(!o.status.success(), "deleted file came back");
    assert_eq!(
        d.ok(&["run", "--rm", "img:v1", "sh", "-c", "echo $A"]),
        "b\n"
    );
    let hist = d.ok(&["history", "img:v1"]);
    assert!(hist.contains("msg"), "{hist}");
    let insp = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Author}} {{.Parent}}",
        "img:v1",
    ]);
    assert!(insp.starts_with("me sha256:"), "{insp}");

    // A running container is paused and resumed around the commit.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "run1",
        "bb",
        "sh",
        "-c",
        "echo run > /r; sleep 1000",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    d.ok(&["commit", "run1", "img:running"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "run1"]).trim(),
        "running"
    );
    assert_eq!(d.ok(&["run", "--rm", "img:running", "cat", "/r"]), "run\n");
    d.ok(&["rm", "-f", "run1"]);

    // export | import
    let file = d.dir.path().join("c.tar");
    d.ok(&["export", "-o", file.to_str().unwrap(), "ctr"]);
    let tar = std::fs::read(&file).unwrap();
    let mut ar = tar::Archive::new(&tar[..]);
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.iter().any(|n| n == "hello"), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains(".wh.")),
        "whiteouts exported"
    );
    assert!(
        !names.iter().any(|n| n == "bin/false"),
        "deleted file exported"
    );
    let o = d.wharf_stdin(&["import", "-", "round:trip"], &tar);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        d.ok(&["run", "--rm", "round:trip", "cat", "/hello"]),
        "committed\n"
    );
    // To a terminal? No: export refuses like docker (stdout is a pipe here, so it streams).
    let o = d.wharf(&["export", "ctr"]);
    assert!(o.status.success());
    assert!(o.stdout.len() > 1024);
}

#[test]
fn run_init_is_pid_one_and_passes_the_exit_code() {
    if !Path::new("/usr/bin/tini-static").exists() {
        eprintln!("skipping: tini-static not installed (scripts/install-deps.sh)");
        return;
    }
    let d = daemon_with_busybox();
    let ps = d.ok(&["run", "--rm", "--init", "bb", "ps", "-o", "pid,args"]);
    let first = ps.lines().nth(1).unwrap_or_default();
    assert!(
        first.trim_start().starts_with("1 ") && first.contains("/sbin/docker-init"),
        "{ps}"
    );
    let o = d.wharf(&["run", "--rm", "--init", "bb", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    // Signals are forwarded: stop returns promptly (sh as pid 2 would ignore TERM as pid 1).
    d.ok(&[
        "run", "-d", "--init", "--name", "ini", "bb", "sleep", "1000",
    ]);
    // Once the init runs its child it has its handlers (a signal before then would be
    // dropped by the kernel's pid-1 rule, for docker too).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !d
        .ok(&["exec", "ini", "ps", "-o", "pid,args"])
        .contains("sleep 1000")
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let t = std::time::Instant::now();
    d.ok(&["stop", "ini"]);
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    let code = d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "ini"]);
    assert_eq!(code.trim(), "143");
}

#[test]
fn docker_cli_cp_diff_commit_export() {
    let d = daemon_with_busybox();
    let Some(o) = d.docker(&["run", "--name", "ctr", "bb", "sh", "-c", "echo hi > /hi"]) else {
        eprintln!("skipping: no docker CLI");
        return;
    };
    assert!(o.status.success(), "{}", stderr(&o));
    let out = scratch(&d, "out");
    let o = d.docker(&["cp", "ctr:/hi", out.to_str().unwrap()]).unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(out.join("hi")).unwrap(), "hi\n");
    std::fs::write(out.join("up"), "up\n").unwrap();
    let o = d
        .docker(&["cp", out.join("up").to_str().unwrap(), "ctr:/tmp/"])
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // Owners as docker: root unless -a.
    std::os::unix::fs::chown(out.join("up"), Some(1234), Some(4321)).unwrap();
    let o = d
        .docker(&[
            "cp",
            "-a",
            out.join("up").to_str().unwrap(),
            "ctr:/tmp/up-a",
        ])
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d
        .docker(&["cp", out.join("up").to_str().unwrap(), "ctr:/tmp/up-root"])
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for (path, want) in [("/tmp/up-a", (1234, 4321)), ("/tmp/up-root", (0, 0))] {
        let o = d.wharf(&["cp", &format!("ctr:{path}"), "-"]);
        let mut ar = tar::Archive::new(&o.stdout[..]);
        let e = ar.entries().unwrap().next().unwrap().unwrap();
        let h = e.header();
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), want, "{path}");
    }
    // `SRC/.`: the contents of a directory, to a new name (entries `./…`, rebased by docker).
    let o = d
        .docker(&["cp", "ctr:/etc/.", out.join("etc-copy").to_str().unwrap()])
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("etc-copy/passwd").exists());
    let o = d
        .docker(&["cp", "ctr:/nope", out.to_str().unwrap()])
        .unwrap();
    assert!(
        stderr(&o).contains("Could not find the file /nope in container ctr"),
        "{}",
        stderr(&o)
    );
    let o = d.docker(&["diff", "ctr"]).unwrap();
    assert!(stdout(&o).contains("A /tmp/up"), "{}", stdout(&o));
    let o = d.docker(&["commit", "ctr", "dk:v1"]).unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("sha256:"));
    assert_eq!(
        d.ok(&["run", "--rm", "dk:v1", "cat", "/hi", "/tmp/up"]),
        "hi\nup\n"
    );
    let file = out.join("e.tar");
    let o = d
        .docker(&["export", "-o", file.to_str().unwrap(), "ctr"])
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::metadata(&file).unwrap().len() > 1024);
}
