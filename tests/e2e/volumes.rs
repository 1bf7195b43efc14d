//! Volumes and mounts for real, as root: persistence, sharing, copy-up from the image,
//! read-only enforced by the kernel, tmpfs sizes, host binds, `rm -v`, in-use refusal, the
//! CVE-2021-30465 symlinked-target regression, nothing left mounted, and the `docker` CLI.

use crate::common::*;

fn daemon_with_busybox() -> Daemon {
    let d = Daemon::start();
    d.import_busybox("bb:latest");
    d
}

fn mounts_under(p: &std::path::Path) -> Vec<String> {
    let prefix = p.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// `wharf import` of busybox plus `extra` tar entries, with Dockerfile-style `changes`.
fn import_with(d: &Daemon, name: &str, changes: &[&str], files: &[(&str, &[u8])], extra: &[u8]) {
    let mut tar = busybox_rootfs_tar(files);
    if !extra.is_empty() {
        tar.truncate(tar.len() - 1024); // drop the end-of-archive blocks, append more entries
        tar.extend_from_slice(extra);
    }
    let mut args = vec!["import"];
    for c in changes {
        args.push("-c");
        args.push(c);
    }
    args.extend(["-", name]);
    let o = d.wharf_stdin(&args, &tar);
    assert!(o.status.success(), "import: {}\n{}", stderr(&o), d.log());
}

fn symlink_tar(path: &str, target: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_mode(0o777);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(0);
    b.append_link(&mut h, path, target).expect("link");
    b.into_inner().expect("tar")
}

#[test]
fn volume_data_outlives_containers() {
    let d = daemon_with_busybox();
    assert_eq!(
        d.ok(&["volume", "create", "--label", "k=v", "store"]),
        "store\n"
    );
    d.ok(&[
        "run",
        "--name",
        "w1",
        "-v",
        "store:/data",
        "bb",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    d.ok(&["rm", "-v", "w1"]);
    let out = d.ok(&["run", "--rm", "-v", "store:/data", "bb", "cat", "/data/f"]);
    assert_eq!(out, "kept\n");
    let ls = d.ok(&["volume", "ls"]);
    assert_eq!(ls, "DRIVER    VOLUME NAME\nlocal     store\n");
    assert_eq!(
        d.ok(&["volume", "ls", "-q", "--filter", "label=k=v"]),
        "store\n"
    );
    let mp = d.ok(&[
        "volume",
        "inspect",
        "-f",
        "{{.Mountpoint}} {{.Driver}} {{.Scope}}",
        "store",
    ]);
    let data = d.data_root().join("volumes/store/_data");
    assert_eq!(mp, format!("{} local local\n", data.display()));
    assert_eq!(std::fs::read_to_string(data.join("f")).unwrap(), "kept\n");
    // Created on first use, and a bad name is refused.
    d.ok(&["run", "--rm", "-v", "auto:/x", "bb", "true"]);
    let o = d.ok(&["inspect", "--type", "volume", "-f", "{{.Name}}", "auto"]);
    assert_eq!(o, "auto\n");
    let o = d.wharf(&["run", "--rm", "-v", "a/b:/x", "bb", "true"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("includes invalid characters for a local volume name"),
        "{}",
        stderr(&o)
    );
    let o = d.wharf(&["run", "--rm", "-v", "store:relative", "bb", "true"]);
    assert!(
        stderr(&o).contains("mount path must be absolute"),
        "{}",
        stderr(&o)
    );
    assert_eq!(d.ok(&["volume", "rm", "store", "auto"]), "store\nauto\n");
    assert!(!d.data_root().join("volumes/store").exists());
}

#[test]
fn two_running_containers_share_one_volume() {
    let d = daemon_with_busybox();
    for n in ["s1", "s2"] {
        d.ok(&[
            "run",
            "-d",
            "--name",
            n,
            "-v",
            "shared:/s",
            "bb",
            "sleep",
            "300",
        ]);
    }
    d.ok(&["exec", "s1", "sh", "-c", "echo from-s1 > /s/a"]);
    assert_eq!(d.ok(&["exec", "s2", "cat", "/s/a"]), "from-s1\n");
    d.ok(&["exec", "s2", "sh", "-c", "echo from-s2 > /s/b"]);
    assert_eq!(d.ok(&["exec", "s1", "cat", "/s/b"]), "from-s2\n");
    let ps = d.ok(&[
        "ps",
        "--filter",
        "volume=shared",
        "--format",
        "{{.Names}} {{.Mounts}}",
    ]);
    assert!(ps.contains("s1 shared") && ps.contains("s2 shared"), "{ps}");
    let o = d.wharf(&["volume", "rm", "shared"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("remove shared: volume is in use - ["),
        "{}",
        stderr(&o)
    );
    d.ok(&["rm", "-f", "s1", "s2"]);
    d.ok(&["volume", "rm", "shared"]);
}

#[test]
fn a_new_volume_is_filled_from_the_image() {
    let d = Daemon::start();
    import_with(
        &d,
        "withdata:1",
        &["VOLUME /data", "CMD [\"sh\"]"],
        &[("data/hello", b"from the image\n")],
        &[],
    );
    // Anonymous volume from the image's VOLUME.
    d.ok(&["run", "--name", "anon", "withdata:1", "cat", "/data/hello"]);
    assert_eq!(d.ok(&["logs", "anon"]), "from the image\n");
    let m = d.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}} {{.Destination}} {{.Driver}} {{.RW}} {{len .Name}}{{end}}",
        "anon",
    ]);
    assert_eq!(m, "volume /data local true 64\n");
    // A named volume gets the image's content too; nocopy keeps it empty.
    let out = d.ok(&[
        "run",
        "--rm",
        "-v",
        "named:/data",
        "withdata:1",
        "cat",
        "/data/hello",
    ]);
    assert_eq!(out, "from the image\n");
    let out = d.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=empty,dst=/data,volume-nocopy",
        "withdata:1",
        "ls",
        "-A",
        "/data",
    ]);
    assert_eq!(out, "");
    // Ownership and modes kept.
    let st = d.ok(&[
        "run",
        "--rm",
        "-v",
        "named:/data",
        "withdata:1",
        "stat",
        "-c",
        "%a %u",
        "/data/hello",
    ]);
    assert_eq!(st, "644 0\n");
    // rm -v removes the anonymous volume, never the named ones.
    let anon = d.ok(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "anon"]);
    d.ok(&["volume", "inspect", anon.trim()]);
    d.ok(&[
        "run",
        "--name",
        "both",
        "-v",
        "named:/n",
        "-v",
        "/anon2",
        "withdata:1",
        "true",
    ]);
    d.ok(&["rm", "-v", "anon", "both"]);
    let left = d.ok(&["volume", "ls", "-q"]);
    assert_eq!(left, "empty\nnamed\n");
    // prune takes only anonymous volumes by default, all unused ones with --all.
    d.ok(&["create", "--name", "holder", "-v", "/p", "withdata:1"]);
    d.ok(&["rm", "holder"]);
    let pruned = d.ok(&["volume", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Volumes:\n"), "{pruned}");
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "empty\nnamed\n");
    d.ok(&["volume", "prune", "-f", "--all"]);
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn read_only_mounts_are_enforced_by_the_kernel() {
    let d = daemon_with_busybox();
    let host = test_tmp().join(format!("ro-{}", std::process::id()));
    std::fs::create_dir_all(&host).unwrap();
    let bind = format!("{}:/h:ro", host.display());
    for spec in ["rov:/data:ro", bind.as_str()] {
        let dest = if spec.starts_with('/') { "/h" } else { "/data" };
        let o = d.wharf(&[
            "run",
            "--rm",
            "-v",
            spec,
            "bb",
            "sh",
            "-c",
            &format!("echo x > {dest}/f"),
        ]);
        assert!(!o.status.success(), "write to {spec} succeeded");
        assert!(
            stderr(&o).contains("Read-only file system"),
            "{}",
            stderr(&o)
        );
    }
    let o = d.wharf(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=rov,dst=/d,readonly",
        "bb",
        "touch",
        "/d/f",
    ]);
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    assert!(!host.join("f").exists());
    let rw = d.ok(&["run", "--name", "c1", "-v", "rov:/data:ro", "bb", "true"]);
    assert_eq!(rw, "");
    let m = d.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Mode}} {{.RW}}{{end}} {{json .HostConfig.Binds}}",
        "c1",
    ]);
    assert_eq!(m, "ro false [\"rov:/data:ro\"]\n");
    // --volumes-from copies the mounts; :ro makes them read-only.
    let o = d.wharf(&[
        "run",
        "--rm",
        "--volumes-from",
        "c1:rw",
        "bb",
        "sh",
        "-c",
        "echo y > /data/g && cat /data/g",
    ]);
    assert_eq!(stdout(&o), "y\n", "{}", stderr(&o));
    let o = d.wharf(&[
        "run",
        "--rm",
        "--volumes-from",
        "c1",
        "bb",
        "touch",
        "/data/h",
    ]);
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&host).ok();
}

#[test]
fn tmpfs_mounts_take_their_size() {
    let d = daemon_with_busybox();
    let out = d.ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/t:size=1m",
        "--mount",
        "type=tmpfs,dst=/u,tmpfs-size=2097152",
        "bb",
        "sh",
        "-c",
        "df -k /t /u | tail -n 2 | awk '{print $2}'",
    ]);
    assert_eq!(out, "1024\n2048\n");
    let o = d.wharf(&[
        "run",
        "--rm",
        "--tmpfs",
        "/t:size=64k",
        "bb",
        "sh",
        "-c",
        "dd if=/dev/zero of=/t/f bs=1k count=128",
    ]);
    assert!(!o.status.success(), "128k fit in a 64k tmpfs");
}

#[test]
fn binds_share_host_directories() {
    let d = daemon_with_busybox();
    let host = test_tmp().join(format!("bind-{}", std::process::id()));
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("in"), "from host\n").unwrap();
    let spec = format!("{}:/h", host.display());
    let out = d.ok(&[
        "run",
        "--rm",
        "-v",
        &spec,
        "bb",
        "sh",
        "-c",
        "cat /h/in; echo back > /h/out",
    ]);
    assert_eq!(out, "from host\n");
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "back\n");
    // --mount refuses a missing source; -v creates it, as docker does.
    let missing = host.join("missing");
    let m = format!("type=bind,src={},dst=/m", missing.display());
    let o = d.wharf(&["run", "--rm", "--mount", &m, "bb", "true"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!(
            "invalid mount config for type \"bind\": bind source path does not exist: {}",
            missing.display()
        )),
        "{}",
        stderr(&o)
    );
    d.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/m", missing.display()),
        "bb",
        "true",
    ]);
    assert!(missing.is_dir());
    d.ok(&["run", "--name", "b1", "-v", &spec, "bb", "true"]);
    let m = d.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}} {{.Source}} {{.Propagation}} {{.RW}}{{end}}",
        "b1",
    ]);
    assert_eq!(m, format!("bind {} rprivate true\n", host.display()));
    std::fs::remove_dir_all(&host).ok();
}

/// CVE-2021-30465: an image whose `/data` is a symlink to a host path must not get the volume
/// mounted on that host path; the target resolves inside the container root.
#[test]
fn cve_2021_30465_mount_target_symlink_stays_in_the_container_root() {
    let d = Daemon::start();
    let victim = test_tmp().join(format!("host-victim-dir-{}", std::process::id()));
    std::fs::create_dir_all(&victim).unwrap();
    let link = symlink_tar("data", victim.to_str().unwrap());
    import_with(&d, "evil:1", &["CMD [\"sh\"]"], &[], &link);
    let out = d.ok(&[
        "run",
        "--name",
        "evil",
        "-v",
        "vol:/data",
        "evil:1",
        "sh",
        "-c",
        "echo pwned > /data/x; grep -c host-victim-dir /proc/self/mountinfo",
    ]);
    assert_eq!(
        out.trim(),
        "1",
        "the volume is mounted once, inside the container"
    );
    assert!(
        !victim.join("x").exists(),
        "a host path got written through the symlink"
    );
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0);
    assert!(
        mounts_under(&victim).is_empty(),
        "a mount appeared on the host path"
    );
    let vdata = d.data_root().join("volumes/vol/_data/x");
    assert_eq!(std::fs::read_to_string(vdata).unwrap(), "pwned\n");
    d.ok(&["rm", "evil"]);
    std::fs::remove_dir_all(&victim).ok();
}

#[test]
fn nothing_stays_mounted_after_rm() {
    let d = daemon_with_busybox();
    d.ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        "tv",
    ]);
    d.ok(&[
        "run", "-d", "--name", "m1", "-v", "named:/n", "-v", "tv:/t", "--tmpfs", "/x", "bb",
        "sleep", "300",
    ]);
    let out = d.ok(&[
        "exec",
        "m1",
        "sh",
        "-c",
        "df -k /t | tail -n 1 | awk '{print $2}'",
    ]);
    assert_eq!(out, "1024\n");
    d.ok(&["rm", "-f", "-v", "m1"]);
    let containers = d.data_root().join("containers");
    assert!(
        mounts_under(&containers).is_empty(),
        "{:?}",
        mounts_under(&containers)
    );
    d.ok(&["volume", "rm", "tv", "named"]);
    assert!(
        mounts_under(&d.data_root()).is_empty(),
        "{:?}",
        mounts_under(&d.data_root())
    );
}

#[test]
fn docker_cli_drives_volumes() {
    let d = daemon_with_busybox();
    let Some(o) = d.docker(&["volume", "create", "--label", "x=y", "dv"]) else {
        return;
    };
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "dv\n");
    let o = d.docker(&["volume", "ls"]).unwrap();
    assert_eq!(
        stdout(&o),
        "DRIVER    VOLUME NAME\nlocal     dv\n",
        "{}",
        stderr(&o)
    );
    let o = d
        .docker(&["volume", "inspect", "-f", "{{.Name}} {{.Labels.x}}", "dv"])
        .unwrap();
    assert_eq!(stdout(&o), "dv y\n", "{}", stderr(&o));
    let o = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            "dv:/d",
            "bb",
            "sh",
            "-c",
            "echo hi > /d/f && cat /d/f",
        ])
        .unwrap();
    assert_eq!(stdout(&o), "hi\n", "{}", stderr(&o));
    let o = d
        .docker(&["create", "--name", "holder", "-v", "dv:/d", "bb"])
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d.docker(&["volume", "rm", "dv"]).unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("volume is in use"), "{}", stderr(&o));
    let o = d
        .docker(&[
            "system",
            "df",
            "--format",
            "{{.Type}} {{.TotalCount}} {{.Active}}",
        ])
        .unwrap();
    assert!(stdout(&o).contains("Local Volumes 1 1"), "{}", stdout(&o));
    d.docker(&["rm", "holder"]).unwrap();
    let o = d.docker(&["volume", "rm", "dv"]).unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "dv\n");
}

#[test]
fn cp_reaches_the_volumes_of_a_stopped_container() {
    let d = daemon_with_busybox();
    d.ok(&["create", "--name", "cpc", "-v", "cpvol:/data", "bb", "true"]);
    let tmp = tempfile::tempdir_in(test_tmp()).expect("tmp");
    let f = tmp.path().join("f");
    std::fs::write(&f, "into the volume\n").expect("write");
    // Into a container never started: the file lands in the volume, not the layer beneath.
    d.ok(&["cp", f.to_str().expect("utf8"), "cpc:/data/f"]);
    let out = d.ok(&["run", "--rm", "-v", "cpvol:/data", "bb", "cat", "/data/f"]);
    assert_eq!(out, "into the volume\n");
    // And back out of the stopped container.
    let back = tmp.path().join("back");
    d.ok(&["cp", "cpc:/data/f", back.to_str().expect("utf8")]);
    assert_eq!(
        std::fs::read_to_string(&back).expect("read"),
        "into the volume\n"
    );
    // A read-only volume stays read-only for cp too.
    d.ok(&[
        "create",
        "--name",
        "cpr",
        "-v",
        "cpvol:/data:ro",
        "bb",
        "true",
    ]);
    let o = d.wharf(&["cp", f.to_str().expect("utf8"), "cpr:/data/g"]);
    assert!(!o.status.success(), "wrote into a read-only volume");
    // The copies mounted nothing on the host.
    assert!(
        mounts_under(&d.data_root())
            .iter()
            .all(|m| !m.contains("/volumes/")),
        "{:?}",
        mounts_under(&d.data_root())
    );
    d.ok(&["rm", "cpc", "cpr"]);
}

#[test]
fn volumes_from_filters_and_tmpfs_volumes() {
    let d = daemon_with_busybox();
    // A tmpfs volume (`-o type=tmpfs`) is mounted with its size.
    d.ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        "tv",
    ]);
    let out = d.ok(&["run", "--rm", "-v", "tv:/t", "bb", "df", "-k", "/t"]);
    let line = out.lines().last().unwrap_or_default().to_string();
    assert!(
        line.starts_with("tmpfs") && line.contains(" 1024 "),
        "{out}"
    );

    // --volumes-from takes another container's volumes, read-only with :ro.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "src",
        "-v",
        "shared:/s",
        "-v",
        "/anon",
        "bb",
        "sh",
        "-c",
        "echo from-src > /s/f && echo a > /anon/f && sleep 100",
    ]);
    let mut seen = String::new();
    for _ in 0..50 {
        let o = d.wharf(&[
            "run",
            "--rm",
            "--volumes-from",
            "src",
            "bb",
            "cat",
            "/s/f",
            "/anon/f",
        ]);
        seen = stdout(&o);
        if o.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(seen, "from-src\na\n");
    let o = d.wharf(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        "bb",
        "sh",
        "-c",
        "echo x > /s/g",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );

    // dangling = not used by any container.
    d.ok(&["volume", "create", "lonely"]);
    let dangling = d.ok(&["volume", "ls", "-q", "--filter", "dangling=true"]);
    assert_eq!(dangling, "lonely\ntv\n");
    let used = d.ok(&["volume", "ls", "-q", "--filter", "dangling=false"]);
    assert!(
        used.lines().any(|l| l == "shared") && used.lines().count() == 2,
        "{used}"
    );

    // Mounts in docker's shape, in inspect and in ps.
    let m = d.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}} {{.Driver}};{{end}}",
        "src",
    ]);
    assert!(m.contains("volume shared /s true local;"), "{m}");
    assert!(m.contains(" /anon true local;"), "{m}");
    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.Mounts}}"]);
    assert!(ps.starts_with("src ") && ps.contains("shared"), "{ps}");
    d.ok(&["rm", "-f", "-v", "src"]);
    let left = d.ok(&["volume", "ls", "-q"]);
    assert_eq!(left, "lonely\nshared\ntv\n", "rm -v keeps named volumes");
    // Removing the tmpfs volume unmounts it.
    d.ok(&["volume", "rm", "tv"]);
    assert!(
        mounts_under(&d.data_root()).is_empty(),
        "{:?}",
        mounts_under(&d.data_root())
    );
}
