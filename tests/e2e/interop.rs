//! The real `docker` CLI and Python's `docker` SDK against our socket, and archives moving
//! between Wharf and a real Docker engine.

use crate::common::*;

#[test]
fn docker_cli_drives_the_image_commands() {
    let d = Daemon::start();
    let Some(v) = d.docker(&["version", "--format", "{{.Server.APIVersion}}"]) else {
        return;
    };
    assert!(v.status.success(), "docker version: {}", stderr(&v));
    assert!(stdout(&v).trim().starts_with("1."), "{}", stdout(&v));

    let fx = fixture();
    let o = d
        .docker(&["load", "-i", fx.to_str().expect("p")])
        .expect("docker");
    assert!(o.status.success(), "docker load: {}", stderr(&o));
    assert!(
        stdout(&o).contains("Loaded image: fixture/layered:2"),
        "{}",
        stdout(&o)
    );

    let o = d
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])
        .expect("docker");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("fixture/base:1 {}", &FIXTURE_BASE_ID[7..19])),
        "{}",
        stdout(&o)
    );

    let o = d
        .docker(&["tag", "fixture/base:1", "copy:9"])
        .expect("docker");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d
        .docker(&["image", "inspect", "--format", "{{.Id}} {{.Os}}", "copy:9"])
        .expect("docker");
    assert_eq!(stdout(&o).trim(), format!("{FIXTURE_BASE_ID} linux"));
    let o = d.docker(&["history", "fixture/layered:2"]).expect("docker");
    assert!(
        o.status.success() && stdout(&o).contains("CREATED BY"),
        "{}",
        stderr(&o)
    );

    let out = d.dir.path().join("docker-saved.tar");
    let o = d
        .docker(&["save", "-o", out.to_str().expect("p"), "copy:9"])
        .expect("docker");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::metadata(&out).expect("saved").len() > 1_000_000);

    let o = d.docker(&["rmi", "copy:9"]).expect("docker");
    assert!(
        o.status.success() && stdout(&o).contains("Untagged: copy:9"),
        "{}",
        stderr(&o)
    );
    let o = d.docker(&["rmi", "nosuch:1"]).expect("docker");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("No such image: nosuch:1"),
        "{}",
        stderr(&o)
    );

    let o = d.docker(&["system", "df"]).expect("docker");
    assert!(o.status.success(), "docker system df: {}", stderr(&o));
    let o = d.docker(&["info"]).expect("docker");
    assert!(o.status.success(), "docker info: {}", stderr(&o));

    // `docker import` with changes.
    let tar = d.dir.path().join("rootfs.tar");
    std::fs::write(&tar, busybox_rootfs_tar(&[])).expect("w");
    let o = d
        .docker(&["import", "-c", "ENV X=1", tar.to_str().expect("p"), "imp:1"])
        .expect("docker");
    assert!(o.status.success(), "docker import: {}", stderr(&o));
    let o = d
        .docker(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Env}}",
            "imp:1",
        ])
        .expect("docker");
    assert!(stdout(&o).contains("X=1"), "{}", stdout(&o));
}

#[test]
fn python_docker_sdk_lists_images() {
    let d = Daemon::start();
    d.import_busybox("py:1");
    let script = format!(
        "import docker\nc = docker.DockerClient(base_url='{}', version='auto')\nprint(sorted(t for i in c.images.list() for t in i.tags))",
        d.host()
    );
    let o = std::process::Command::new("python3")
        .args(["-c", &script])
        .output();
    let Ok(o) = o else { return };
    if stderr(&o).contains("No module named 'docker'") {
        eprintln!("SKIP: python3 docker SDK is not installed");
        return;
    }
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "['py:1']");
}

#[test]
fn our_save_loads_into_docker_and_docker_save_loads_into_us() {
    let Some(docker) = RefDocker::start() else {
        return;
    };
    let d = Daemon::start();
    let id = d.import_busybox("tour/busybox:1");
    d.ok(&["load", "-i", fixture().to_str().expect("p")]);
    let ours = d.dir.path().join("ours.tar");
    d.ok(&[
        "save",
        "-o",
        ours.to_str().expect("p"),
        "tour/busybox:1",
        "fixture/layered:2",
    ]);

    let o = docker.docker(&["load", "-i", ours.to_str().expect("p")]);
    assert!(
        o.status.success(),
        "docker load of our archive: {}",
        stderr(&o)
    );
    let o = docker.docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        "tour/busybox:1",
        "fixture/layered:2",
    ]);
    assert_eq!(stdout(&o).trim(), format!("{id}\n{FIXTURE_LAYERED_ID}"));

    // And the other way: what this Docker saves, we load, with the same ids.
    let theirs = d.dir.path().join("theirs.tar");
    let o = docker.docker(&["save", "-o", theirs.to_str().expect("p"), "tour/busybox:1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = Daemon::start();
    e.ok(&["load", "-i", theirs.to_str().expect("p")]);
    assert_eq!(e.image_ids(), vec![id]);
}

/// Our CLI against Docker's engine (API 1.41 here, older than ours): its first request is
/// "too new", so it pings and goes on at 1.41; Docker ignores the create's `wharf-run` and
/// `wharf-start` (ADR-0020), and `run` carries on with attach, wait and start as docker's CLI.
#[test]
fn our_cli_runs_containers_on_docker() {
    let Some(docker) = RefDocker::start() else {
        return;
    };
    let tar = docker.dir.path().join("bb.tar");
    std::fs::write(&tar, busybox_rootfs_tar(&[])).expect("tar");
    let o = docker.docker(&["import", tar.to_str().expect("p"), "tour/busybox:1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let host = format!("unix://{}", docker.dir.path().join("docker.sock").display());
    let wharf = |args: &[&str]| {
        std::process::Command::new(WHARF)
            .arg("-H")
            .arg(&host)
            .args(args)
            .env("WHARF_NO_AUTOSTART", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("wharf")
    };
    let o = wharf(&[
        "run",
        "--rm",
        "tour/busybox:1",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    let o = wharf(&["run", "-d", "tour/busybox:1", "sleep", "60"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    let o = docker.docker(&["ps", "-q", "--no-trunc"]);
    assert_eq!(stdout(&o).trim(), id, "running in Docker");
    let o = wharf(&["rm", "-f", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&docker.docker(&["ps", "-aq"])).trim(), "");
}

#[test]
fn python_docker_sdk_runs_containers() {
    let d = Daemon::start();
    d.import_busybox("py:1");
    let script = format!(
        "import docker\nc = docker.DockerClient(base_url='{}', version='auto')\n\
         print(c.containers.run('py:1', ['sh', '-c', 'echo from-sdk'], remove=True).decode().strip())\n\
         k = c.containers.run('py:1', ['sleep', '30'], detach=True)\n\
         r = k.exec_run('sh -c \"echo exec-sdk; exit 3\"')\n\
         print(r.exit_code, r.output.decode().strip())\n\
         k.remove(force=True)\nprint(len(c.containers.list(all=True)))",
        d.host()
    );
    let Ok(o) = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
    else {
        return;
    };
    if stderr(&o).contains("No module named 'docker'") {
        eprintln!("SKIP: python3 docker SDK is not installed");
        return;
    }
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "from-sdk\n3 exec-sdk\n0\n");
}

#[test]
fn python_docker_sdk_drives_networks_and_ports() {
    let d = Daemon::start();
    d.import_busybox("py:1");
    let script = format!(
        "import docker, socket, time\nc = docker.DockerClient(base_url='{}', version='auto')\n\
         n = c.networks.create('pynet', driver='bridge', labels={{'a': 'b'}})\n\
         print(n.name, n.attrs['Labels']['a'], bool(n.attrs['IPAM']['Config'][0]['Subnet']))\n\
         k = c.containers.run('py:1', ['httpd', '-f', '-p', '80', '-h', '/'], detach=True, ports={{'80/tcp': None}}, network='pynet', name='pyweb')\n\
         k.reload()\nport = int(k.ports['80/tcp'][0]['HostPort'])\n\
         out = b''\n\
         for _ in range(50):\n\
         \x20   try:\n\
         \x20       s = socket.create_connection(('127.0.0.1', port), timeout=2); s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); out = s.recv(5); s.close(); break\n\
         \x20   except OSError:\n\
         \x20       time.sleep(0.1)\n\
         print(out.decode().strip())\n\
         n.reload(); print([x.name for x in n.containers])\n\
         k.remove(force=True); n.remove(); print(sorted(x.name for x in c.networks.list()))",
        d.host()
    );
    let Ok(o) = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
    else {
        return;
    };
    if stderr(&o).contains("No module named 'docker'") {
        eprintln!("SKIP: python3 docker SDK is not installed");
        return;
    }
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "pynet b True\nHTTP/\n['pyweb']\n['bridge', 'host', 'none']\n"
    );
}
