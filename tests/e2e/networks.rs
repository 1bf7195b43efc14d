//! Networks for real, as root: the default bridge, published ports answering on loopback and
//! on the host's own addresses (and while the daemon is down), user-defined networks with
//! names and aliases resolved by the embedded DNS (round-robin), none/host/container modes,
//! docker's errors for bad input, and nothing left behind (veth, bridge, nft elements).
//! Traffic stays on this machine: loopback, this host's own address, and test networks.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::*;

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// busybox plus a web root with an index page.
fn daemon_with_web_image() -> Daemon {
    let d = Daemon::start();
    let tar = busybox_rootfs_tar(&[("www/index.html", b"hello from wharf\n")]);
    let o = d.wharf_stdin(
        &[
            "import",
            "-c",
            "CMD [\"sh\"]",
            "-c",
            "EXPOSE 80",
            "-",
            "web",
        ],
        &tar,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    d
}

/// One HTTP/1.0 GET; the body, or None if nothing answered.
fn http_get(ip: Ipv4Addr, port: u16) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&(ip, port).into(), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

fn get_eventually(ip: Ipv4Addr, port: u16) -> String {
    let mut body = None;
    wait_until(
        &format!("http://{ip}:{port}/"),
        Duration::from_secs(10),
        || {
            body = http_get(ip, port);
            body.is_some()
        },
    );
    body.unwrap_or_default()
}

/// A global IPv4 address of this host (not loopback), if it has one.
fn host_address() -> Option<Ipv4Addr> {
    let o = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.contains(" wh") && !l.contains(" br-") && !l.contains("docker"))
        .find_map(|l| l.split_whitespace().nth(3)?.split('/').next()?.parse().ok())
}

fn link_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

fn nft_map(d: &Daemon, map: &str) -> String {
    let t = d.nft_table().expect("table name");
    let o = std::process::Command::new("nft")
        .args(["list", "map", "ip", &t, map])
        .output()
        .expect("nft");
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn inspect(d: &Daemon, what: &[&str]) -> serde_json::Value {
    let mut args = vec!["inspect"];
    args.extend(what);
    serde_json::from_str(&d.ok(&args)).expect("inspect json")
}

#[test]
fn published_ports_answer_on_loopback_and_host_addresses_and_survive_a_daemon_restart() {
    let mut d = daemon_with_web_image();
    let id = d
        .ok(&[
            "run", "-d", "--name", "site", "-p", "80", "web", "httpd", "-f", "-p", "80", "-h",
            "/www",
        ])
        .trim()
        .to_string();
    let port_line = d.ok(&["port", "site", "80"]);
    let port: u16 = port_line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("port: {port_line}"));
    assert!(port >= 1024, "{port_line}");
    assert_eq!(
        get_eventually(Ipv4Addr::LOCALHOST, port),
        "hello from wharf\n"
    );
    if let Some(addr) = host_address() {
        assert_eq!(
            get_eventually(addr, port),
            "hello from wharf\n",
            "via {addr}"
        );
    }
    let ps = d.ok(&["ps"]);
    assert!(ps.contains(&format!("0.0.0.0:{port}->80/tcp")), "{ps}");

    // Docker's shapes: NetworkSettings and the network's view of the container.
    let v = inspect(&d, &["site"]);
    let ns = &v[0]["NetworkSettings"];
    let ip: Ipv4Addr = ns["Networks"]["bridge"]["IPAddress"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an address on bridge");
    assert_eq!(ns["IPAddress"], ip.to_string());
    assert_eq!(ns["Ports"]["80/tcp"][0]["HostPort"], port.to_string());
    assert!(
        ns["MacAddress"]
            .as_str()
            .unwrap_or("")
            .starts_with("02:42:"),
        "{ns}"
    );
    let net = serde_json::from_str::<serde_json::Value>(&d.ok(&["network", "inspect", "bridge"]))
        .expect("json");
    assert_eq!(net[0]["Containers"][&id]["Name"], "site", "{net}");
    // The container answers on its own address from the host, too.
    assert_eq!(get_eventually(ip, 80), "hello from wharf\n");

    // The kernel forwards: the port answers while the daemon is dead and after it is back.
    d.kill9();
    assert_eq!(
        http_get(Ipv4Addr::LOCALHOST, port).as_deref(),
        Some("hello from wharf\n")
    );
    d.spawn();
    assert_eq!(
        get_eventually(Ipv4Addr::LOCALHOST, port),
        "hello from wharf\n"
    );
    assert!(d.ok(&["ps"]).contains(&format!("0.0.0.0:{port}->80/tcp")));

    // Gone with the container: the forwarding, the veth, the address.
    let veth_count = || {
        std::fs::read_dir("/sys/class/net")
            .map(|r| r.count())
            .unwrap_or(0)
    };
    let before = veth_count();
    d.ok(&["rm", "-f", "site"]);
    assert!(
        !nft_map(&d, "bind_any").contains(&format!(". {port} :")),
        "{}",
        nft_map(&d, "bind_any")
    );
    wait_until("the veth to go", Duration::from_secs(5), || {
        veth_count() < before
    });
    assert!(
        http_get(Ipv4Addr::LOCALHOST, port).is_none(),
        "still answering after rm"
    );
}

#[test]
fn user_networks_resolve_names_and_aliases_round_robin() {
    let d = daemon_with_web_image();
    let nid = d
        .ok(&["network", "create", "--label", "purpose=test", "appnet"])
        .trim()
        .to_string();
    assert_eq!(nid.len(), 64, "{nid}");
    let net = serde_json::from_str::<serde_json::Value>(&d.ok(&["network", "inspect", "appnet"]))
        .expect("json");
    let subnet = net[0]["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(!subnet.is_empty(), "{net}");
    let bridge = format!("br-{}", &nid[..12]);
    assert!(link_exists(&bridge), "no bridge {bridge}");

    d.ok(&[
        "run",
        "-d",
        "--name",
        "front",
        "--network",
        "appnet",
        "web",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    for n in ["r1", "r2"] {
        d.ok(&[
            "run",
            "-d",
            "--name",
            n,
            "--network",
            "appnet",
            "--network-alias",
            "svc",
            "web",
            "sleep",
            "60",
        ]);
    }
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "appnet",
        "web",
        "sh",
        "-c",
        "cat /etc/resolv.conf; nslookup r1; nslookup svc; nslookup svc; wget -qO- http://front/",
    ]);
    let ip_of = |n: &str| {
        inspect(&d, &[n])[0]["NetworkSettings"]["Networks"]["appnet"]["IPAddress"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let (r1, r2) = (ip_of("r1"), ip_of("r2"));
    assert!(out.contains(&format!("Address: {r1}")), "{out}");
    assert!(out.contains(&format!("Address: {r2}")), "{out}");
    assert!(out.contains("hello from wharf"), "{out}");
    // Round-robin: the two answers for svc list the replicas in different orders. The
    // output has one "Server:" block per nslookup: r1, svc, svc.
    let first_answer = |block: &str| {
        block
            .split("Name:")
            .nth(1)
            .and_then(|a| a.lines().find_map(|l| l.strip_prefix("Address: ")))
            .map(str::to_string)
    };
    let firsts: Vec<Option<String>> = out.split("Server:").skip(2).map(first_answer).collect();
    assert_eq!(firsts.len(), 2, "{out}");
    assert!(firsts.iter().all(Option::is_some), "{out}");
    assert_ne!(firsts[0], firsts[1], "no rotation: {out}");
    assert!(out.contains("nameserver "), "{out}");

    // A network with containers on it stays.
    let o = d.wharf(&["network", "rm", "appnet"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("has active endpoints"),
        "{}",
        stderr(&o)
    );
    // Connect and disconnect a running container from the default bridge.
    d.ok(&["run", "-d", "--name", "outsider", "web", "sleep", "60"]);
    d.ok(&[
        "network", "connect", "--alias", "late", "appnet", "outsider",
    ]);
    let o = d.ok(&[
        "run",
        "--rm",
        "--network",
        "appnet",
        "web",
        "nslookup",
        "late",
    ]);
    assert!(o.contains(&ip_of("outsider")), "{o}");
    assert!(d
        .ok(&["exec", "outsider", "ip", "-o", "addr"])
        .contains("eth1"));
    d.ok(&["network", "disconnect", "appnet", "outsider"]);
    assert!(!d
        .ok(&["exec", "outsider", "ip", "-o", "addr"])
        .contains("eth1"));

    d.ok(&["rm", "-f", "front", "r1", "r2", "outsider"]);
    d.ok(&["network", "rm", "appnet"]);
    assert!(!link_exists(&bridge), "bridge {bridge} left behind");
    let ls = d.ok(&["network", "ls"]);
    assert!(
        !ls.contains("appnet")
            && ls.contains("bridge")
            && ls.contains("host")
            && ls.contains("none"),
        "{ls}"
    );
}

#[test]
fn none_host_and_container_network_modes() {
    let d = daemon_with_web_image();
    let none = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "web",
        "ip",
        "-o",
        "link",
    ]);
    assert!(none.contains("lo") && !none.contains("eth0"), "{none}");
    // The host's links, before and after (tests running alongside add and remove some).
    let links = || std::fs::read_dir("/sys/class/net").expect("sysfs").count();
    let before = links();
    let host = d.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "web",
        "ls",
        "/sys/class/net",
    ]);
    let (seen, after) = (host.split_whitespace().count(), links());
    assert!(
        (before.min(after)..=before.max(after)).contains(&seen) && seen > 3,
        "{seen} links, host {before}..{after}: {host}"
    );
    d.ok(&["run", "-d", "--name", "owner", "web", "sleep", "60"]);
    let mine = d.ok(&["exec", "owner", "ip", "-o", "-4", "addr", "show", "eth0"]);
    let shared = d.ok(&[
        "run",
        "--rm",
        "--network",
        "container:owner",
        "web",
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    let addr = |s: &str| s.split_whitespace().nth(3).unwrap_or("").to_string();
    assert_eq!(addr(&mine), addr(&shared), "{mine} / {shared}");
    assert!(!addr(&mine).is_empty(), "{mine}");
    d.ok(&["rm", "-f", "owner"]);
}

#[test]
fn bad_network_input_gets_dockers_errors_and_leaves_nothing() {
    let d = daemon_with_web_image();
    let e = |args: &[&str]| {
        let o = d.wharf(args);
        assert!(!o.status.success(), "{args:?} succeeded");
        stderr(&o)
    };
    assert!(e(&["network", "create", "--subnet", "10.300.0.0/16", "x"])
        .contains("invalid CIDR address: 10.300.0.0/16"));
    assert!(e(&["network", "rm", "bridge"]).contains("pre-defined network and cannot be removed"));
    assert!(e(&["network", "inspect", "nope"]).contains("network nope not found"));
    assert!(
        e(&["run", "--rm", "--network", "nope", "web", "true"]).contains("network nope not found")
    );

    d.ok(&["network", "create", "--subnet", "10.237.0.0/24", "one"]);
    assert!(e(&["network", "create", "one"]).contains("already exists"));
    assert!(e(&["network", "create", "--subnet", "10.237.0.0/16", "two"]).contains("overlaps"));
    assert!(e(&[
        "run",
        "--rm",
        "--network",
        "one",
        "--ip",
        "10.99.0.5",
        "web",
        "true"
    ])
    .contains("10.99.0.5"));
    let fixed = d.ok(&[
        "run",
        "--rm",
        "--network",
        "one",
        "--ip",
        "10.237.0.77",
        "web",
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(fixed.contains("10.237.0.77/24"), "{fixed}");

    // A host port already taken: docker's message, and no veth or rule left for it.
    let taken = std::net::TcpListener::bind("0.0.0.0:0").expect("bind");
    let p = taken.local_addr().expect("addr").port().to_string();
    let links_before = std::fs::read_dir("/sys/class/net").expect("sysfs").count();
    let msg = e(&[
        "run",
        "-d",
        "--name",
        "clash",
        "-p",
        &format!("{p}:80"),
        "web",
        "sleep",
        "60",
    ]);
    assert!(
        msg.contains(&format!(
            "Bind for 0.0.0.0:{p} failed: port is already allocated"
        )),
        "{msg}"
    );
    assert!(!nft_map(&d, "bind_any").contains(&format!(". {p} :")));
    wait_until("no new links", Duration::from_secs(5), || {
        std::fs::read_dir("/sys/class/net")
            .map(|r| r.count())
            .unwrap_or(0)
            <= links_before
    });
    d.ok(&["rm", "-f", "clash"]);
    d.ok(&["network", "rm", "one"]);
}

#[test]
fn docker_cli_drives_networks_and_ports() {
    let Some(()) = docker_cli() else { return };
    let d = daemon_with_web_image();
    let run = |args: &[&str]| {
        let o = d.docker(args).expect("docker");
        assert!(o.status.success(), "docker {args:?}: {}", stderr(&o));
        stdout(&o)
    };
    let id = run(&["network", "create", "dnet"]).trim().to_string();
    assert!(run(&["network", "ls"]).contains(&id[..12]));
    let v: serde_json::Value =
        serde_json::from_str(&run(&["network", "inspect", "dnet"])).expect("json");
    assert_eq!(v[0]["Driver"], "bridge");
    run(&[
        "run",
        "-d",
        "--name",
        "dweb",
        "--network",
        "dnet",
        "-p",
        "127.0.0.1::80",
        "web",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let port_out = run(&["port", "dweb"]);
    assert!(port_out.starts_with("80/tcp -> 127.0.0.1:"), "{port_out}");
    let port: u16 = port_out
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    assert_eq!(
        get_eventually(Ipv4Addr::LOCALHOST, port),
        "hello from wharf\n"
    );
    let names = run(&[
        "run",
        "--rm",
        "--network",
        "dnet",
        "web",
        "wget",
        "-qO-",
        "http://dweb/",
    ]);
    assert_eq!(names, "hello from wharf\n");
    run(&["rm", "-f", "dweb"]);
    run(&["network", "rm", "dnet"]);
    assert!(!link_exists(&format!("br-{}", &id[..12])));
}

#[test]
fn addresses_are_never_handed_out_twice_across_a_daemon_crash_and_internal_networks_stay_inside() {
    let mut d = daemon_with_web_image();
    d.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.238.0.0/24",
        "inner",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ca",
        "--network",
        "inner",
        "web",
        "sleep",
        "60",
    ]);
    let ip = |d: &Daemon, n: &str| {
        inspect(d, &[n])[0]["NetworkSettings"]["Networks"]["inner"]["IPAddress"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let a = ip(&d, "ca");
    assert_eq!(a, "10.238.0.2");
    // An internal network has no default route out.
    let routes = d.ok(&["exec", "ca", "ip", "route"]);
    assert!(!routes.contains("default"), "{routes}");
    d.kill9();
    d.spawn();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cb",
        "--network",
        "inner",
        "web",
        "sleep",
        "60",
    ]);
    let b = ip(&d, "cb");
    assert!(!b.is_empty() && b != a, "{a} handed out twice");
    // The stopped container's address is free again, the running one's is not.
    d.ok(&["rm", "-f", "ca"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cc",
        "--network",
        "inner",
        "web",
        "sleep",
        "60",
    ]);
    assert_eq!(ip(&d, "cc"), a);
    d.ok(&["rm", "-f", "cb", "cc"]);
    // prune takes unused user networks only.
    d.ok(&["network", "create", "spare"]);
    let out = d.ok(&["network", "prune", "-f"]);
    assert!(out.contains("inner") && out.contains("spare"), "{out}");
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(
        ls.split_whitespace().collect::<Vec<_>>(),
        ["bridge", "host", "none"],
        "{ls}"
    );
}

#[test]
fn containers_reach_published_ports_through_the_host_and_links_and_filters_work() {
    let d = daemon_with_web_image();
    d.ok(&[
        "run", "-d", "--name", "srv", "-p", "80", "web", "httpd", "-f", "-p", "80", "-h", "/www",
    ]);
    let port_line = d.ok(&["port", "srv", "80"]);
    let port = port_line
        .trim()
        .rsplit(':')
        .next()
        .unwrap_or("")
        .to_string();
    get_eventually(Ipv4Addr::LOCALHOST, port.parse().expect("port"));
    // Hairpin: another container on the same bridge, through the gateway's host address.
    let gw = inspect(&d, &["srv"])[0]["NetworkSettings"]["Gateway"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let out = d.ok(&[
        "run",
        "--rm",
        "web",
        "wget",
        "-qO-",
        &format!("http://{gw}:{port}/"),
    ]);
    assert_eq!(out, "hello from wharf\n");
    // --link puts the source in /etc/hosts under both names.
    let hosts = d.ok(&[
        "run",
        "--rm",
        "--link",
        "srv:www",
        "web",
        "cat",
        "/etc/hosts",
    ]);
    let ip = inspect(&d, &["srv"])[0]["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(hosts.contains(&format!("{ip}\twww srv")), "{hosts}");
    // ps filters by network and published/exposed port.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "quiet",
        "--network",
        "none",
        "web",
        "sleep",
        "60",
    ]);
    let by = |f: &str| d.ok(&["ps", "--format", "{{.Names}}", "--filter", f]);
    assert_eq!(by("network=bridge").trim(), "srv");
    assert_eq!(by("network=none").trim(), "quiet");
    assert_eq!(by(&format!("publish={port}")).trim(), "srv");
    // Both expose 80 (the image's EXPOSE); only one publishes it.
    let exposed = by("expose=80");
    assert!(
        exposed.contains("srv") && exposed.contains("quiet"),
        "{exposed}"
    );
    assert_eq!(by("expose=81").trim(), "");
    // Networks are isolated from each other (docker's isolation chains): a container on
    // another network cannot reach srv's address, but it reaches srv's published port.
    d.ok(&["network", "create", "--subnet", "10.239.0.0/24", "other"]);
    // (busybox 1.35's `wget -T` crashes: `timeout` bounds the wait instead)
    let direct = d.wharf(&[
        "run",
        "--rm",
        "--network",
        "other",
        "web",
        "timeout",
        "2",
        "wget",
        "-qO-",
        &format!("http://{ip}/"),
    ]);
    assert!(
        !direct.status.success(),
        "reached {ip} from another network"
    );
    let other_gw = "10.239.0.1";
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "other",
        "web",
        "timeout",
        "5",
        "wget",
        "-qO-",
        &format!("http://{other_gw}:{port}/"),
    ]);
    assert_eq!(out, "hello from wharf\n");
    d.ok(&["rm", "-f", "srv", "quiet"]);
    d.ok(&["network", "rm", "other"]);
}

/// A DNS server on `addr` (port 53) answering every A query with `answer`, until dropped.
struct FakeUpstream {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeUpstream {
    fn start(addr: Ipv4Addr, answer: Ipv4Addr) -> FakeUpstream {
        let sock = std::net::UdpSocket::bind((addr, 53)).expect("bind fake upstream");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if n < 12 {
                    continue;
                }
                // Header: same id, QR + RD + RA, one question, one answer.
                let mut r = buf[..2].to_vec();
                r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
                // The question as asked (name, type, class).
                let mut end = 12;
                while end < n && buf[end] != 0 {
                    end += 1 + buf[end] as usize;
                }
                let qend = (end + 5).min(n);
                r.extend_from_slice(&buf[12..qend]);
                // The answer: pointer to the name, A, IN, TTL 60, 4 bytes.
                r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                r.extend_from_slice(&answer.octets());
                let _ = sock.send_to(&r, peer);
            }
        });
        FakeUpstream {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn dns_flags_reach_the_embedded_resolver_and_resolv_conf() {
    let d = daemon_with_web_image();
    // A nameserver of our own on a loopback address (the daemon forwards from the host).
    let _upstream = FakeUpstream::start(Ipv4Addr::new(127, 0, 0, 77), Ipv4Addr::new(10, 9, 8, 7));
    d.ok(&["network", "create", "--subnet", "10.237.0.0/24", "dnsnet"]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "dnsnet",
        "--dns",
        "127.0.0.77",
        "--dns-search",
        "corp.test",
        "web",
        "sh",
        "-c",
        "cat /etc/resolv.conf; nslookup outside.example",
    ]);
    assert!(out.contains("nameserver 10.237.0.1"), "{out}");
    assert!(out.contains("search corp.test"), "{out}");
    assert!(
        out.contains("10.9.8.7"),
        "--dns was not used for names from outside:\n{out}"
    );
    // On the default bridge --dns replaces the host's nameservers.
    let conf = d.ok(&[
        "run",
        "--rm",
        "--dns",
        "192.0.2.53",
        "--dns-option",
        "ndots:2",
        "web",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(conf.contains("nameserver 192.0.2.53"), "{conf}");
    assert_eq!(conf.matches("nameserver").count(), 1, "{conf}");
    assert!(conf.contains("options ndots:2"), "{conf}");
    d.ok(&["network", "rm", "dnsnet"]);
}

/// A published port is free again once `rm -f` or `stop` returns, as with docker: scripts
/// do `docker rm -f web && docker run -p 8080:80 …`. (The shim used to hold the port until
/// it exited, shortly after answering.) In a namespace of the test's own, so 8080 is ours.
#[test]
fn a_published_port_is_free_again_once_rm_or_stop_returns() {
    let ns = NetNs::new("pf");
    let d = Daemon::start_in_netns(&ns);
    d.import_busybox("bb:1");
    let run = |name: &str| {
        d.wharf(&[
            "run", "-d", "--name", name, "-p", "8080:80", "bb:1", "httpd", "-f", "-p", "80",
        ])
    };
    for i in 0..10 {
        let name = format!("p{i}");
        let o = run(&name);
        assert!(o.status.success(), "round {i}: {}", stderr(&o));
        d.ok(&["rm", "-f", &name]);
    }
    d.ok(&["network", "create", "pfnet"]);
    for i in 0..5 {
        let name = format!("s{i}");
        let o = d.wharf(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "pfnet",
            "-p",
            "8080:80",
            "bb:1",
            "httpd",
            "-f",
            "-p",
            "80",
        ]);
        assert!(o.status.success(), "round {i}: {}", stderr(&o));
        d.ok(&["stop", "-t", "0", &name]);
    }
    let o = run("last");
    assert!(o.status.success(), "{}", stderr(&o));
    d.ok(&["rm", "-f", "last", "s0", "s1", "s2", "s3", "s4"]);
}

fn net_inspect(d: &Daemon, what: &[&str]) -> serde_json::Value {
    let mut args = vec!["network", "inspect"];
    args.extend(what);
    serde_json::from_str(&d.ok(&args)).expect("inspect json")
}

/// `--ipv6` networks, in a network namespace of the test's own (IPv6 forwarding and the
/// `ip6` table stay out of the host's): a ULA /64 when no subnet is given, containers with an
/// IPv6 address and default route, docker's inspect shapes, AAAA answers from the embedded
/// DNS, masquerade to an "outside" namespace that has no route back, and `-p 8080:80`
/// answering on `[::1]:8080` and on the host's other IPv6 addresses. The default bridge stays
/// IPv4-only; nothing is left when the networks go.
#[test]
fn ipv6_networks_addresses_dns_masquerade_and_published_ports() {
    let host = NetNs::new("v6");
    let outside = NetNs::new("o6");
    host.run(&[
        "ip",
        "link",
        "add",
        "vhost",
        "type",
        "veth",
        "peer",
        "name",
        "vout",
        "netns",
        &outside.name,
    ]);
    host.run(&[
        "ip",
        "addr",
        "add",
        "fd00:cafe::1/64",
        "dev",
        "vhost",
        "nodad",
    ]);
    host.run(&["ip", "link", "set", "vhost", "up"]);
    outside.run(&[
        "ip",
        "addr",
        "add",
        "fd00:cafe::2/64",
        "dev",
        "vout",
        "nodad",
    ]);
    outside.run(&["ip", "link", "set", "vout", "up"]);
    let www = tempfile::Builder::new()
        .prefix("wharf-www6-")
        .tempdir_in(test_tmp())
        .expect("tmp");
    std::fs::write(www.path().join("index.html"), "hello from outside6\n").expect("write");
    let _server = KillOnDrop(
        outside
            .cmd(&["busybox", "httpd", "-f", "-p", "[fd00:cafe::2]:8081", "-h"])
            .arg(www.path())
            .spawn()
            .expect("httpd"),
    );

    let d = Daemon::start_in_netns(&host);
    let tar = busybox_rootfs_tar(&[("www/index.html", b"hello from wharf6\n")]);
    let o = d.wharf_stdin(&["import", "-c", "CMD [\"sh\"]", "-", "web"], &tar);
    assert!(o.status.success(), "{}", stderr(&o));
    d.ok(&["network", "create", "--ipv6", "v6net"]);
    let n = net_inspect(&d, &["v6net"]);
    assert_eq!(n[0]["EnableIPv6"], true, "{n}");
    let cfg = n[0]["IPAM"]["Config"].as_array().expect("config").clone();
    assert_eq!(cfg.len(), 2, "{n}");
    let subnet6 = cfg[1]["Subnet"].as_str().unwrap().to_string();
    let gw6 = cfg[1]["Gateway"].as_str().unwrap().to_string();
    assert!(
        subnet6.starts_with("fd") && subnet6.ends_with("::/64"),
        "{subnet6}"
    );
    assert_eq!(gw6, subnet6.replace("::/64", "::1"));
    // A subnet of the user's, --ip6, and docker's refusal without --ipv6.
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:dead:beef::/64",
        "--gateway",
        "fd00:dead:beef::fe",
        "v6b",
    ]);
    let o = d.wharf(&[
        "network",
        "create",
        "--subnet",
        "fd00:dead:bee0::/64",
        "v6c",
    ]);
    assert!(!o.status.success(), "a v6 subnet without --ipv6 was taken");
    let b = net_inspect(&d, &["bridge"]);
    assert_eq!(
        b[0]["EnableIPv6"], false,
        "the default bridge stays IPv4-only"
    );

    d.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "v6net",
        "-p",
        "8080:80",
        "web",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let c = inspect(&d, &["srv"]);
    let ep = &c[0]["NetworkSettings"]["Networks"]["v6net"];
    let ip6 = ep["GlobalIPv6Address"].as_str().unwrap().to_string();
    assert_eq!(ip6, subnet6.replace("::/64", "::2"), "{ep}");
    assert_eq!(ep["GlobalIPv6PrefixLen"], 64, "{ep}");
    assert_eq!(ep["IPv6Gateway"], gw6.as_str(), "{ep}");
    let bindings = c[0]["NetworkSettings"]["Ports"]["80/tcp"].to_string();
    assert!(bindings.contains(r#""HostIp":"::""#), "{bindings}");
    let n = net_inspect(&d, &["v6net"]);
    let members = n[0]["Containers"].as_object().expect("containers").clone();
    assert!(
        members
            .values()
            .any(|m| m["IPv6Address"] == format!("{ip6}/64").as_str()),
        "{n}"
    );
    let run = |net: &str, cmd: &[&str]| {
        let mut args = vec!["run", "--rm", "--network", net, "web"];
        args.extend(cmd);
        d.wharf(&args)
    };
    // Address, route and --ip6 inside.
    let o = run(
        "v6b",
        &[
            "sh",
            "-c",
            "ip -6 addr show eth0; ip -6 route; cat /etc/hosts",
        ],
    );
    let out = stdout(&o);
    assert!(out.contains("fd00:dead:beef::1\t"), "/etc/hosts: {out}");
    assert!(out.contains("fd00:dead:beef::1/64"), "{out}{}", stderr(&o));
    assert!(out.contains("default via fd00:dead:beef::fe"), "{out}");
    let o = d.wharf(&[
        "run",
        "--rm",
        "--network",
        "v6b",
        "--ip6",
        "fd00:dead:beef::99",
        "web",
        "ip",
        "-6",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(
        stdout(&o).contains("fd00:dead:beef::99/64"),
        "{}",
        stderr(&o)
    );
    // Container to container over IPv6, and AAAA from the embedded DNS.
    let url = format!("http://[{ip6}]:80/");
    let o = run("v6net", &["timeout", "10", "wget", "-qO-", &url]);
    assert_eq!(
        stdout(&o),
        "hello from wharf6\n",
        "{}\n{}",
        stderr(&o),
        d.log()
    );
    // network connect gives the running container an IPv6 address on the new network.
    d.ok(&[
        "network",
        "connect",
        "--ip6",
        "fd00:dead:beef::77",
        "v6b",
        "srv",
    ]);
    let o = d.wharf(&["exec", "srv", "ip", "-6", "addr"]);
    assert!(
        stdout(&o).contains("fd00:dead:beef::77/64"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let c = inspect(&d, &["srv"]);
    let ep = &c[0]["NetworkSettings"]["Networks"]["v6b"];
    assert_eq!(ep["GlobalIPv6Address"], "fd00:dead:beef::77", "{ep}");
    assert_eq!(
        ep["IPAMConfig"]["IPv6Address"], "fd00:dead:beef::77",
        "{ep}"
    );
    d.ok(&["network", "disconnect", "v6b", "srv"]);
    // Networks are isolated from each other over IPv6 too.
    // (not as the last command of sh: busybox's timeout execs wget, which as pid 1 would
    // ignore its SIGTERM)
    let o = run(
        "v6b",
        &[
            "sh",
            "-c",
            &format!("timeout 3 wget -qO- {url}; echo rc=$?"),
        ],
    );
    assert!(
        stdout(&o).contains("rc=") && !stdout(&o).contains("rc=0"),
        "v6b reached v6net: {}",
        stdout(&o)
    );
    let o = run("v6net", &["nslookup", "-type=AAAA", "srv"]);
    assert!(stdout(&o).contains(&ip6), "{}{}", stdout(&o), stderr(&o));
    // Out through a veth to a namespace with no route back: masqueraded.
    let o = run(
        "v6net",
        &[
            "timeout",
            "10",
            "wget",
            "-qO-",
            "http://[fd00:cafe::2]:8081/",
        ],
    );
    assert_eq!(
        stdout(&o),
        "hello from outside6\n",
        "{}\n{}",
        stderr(&o),
        d.log()
    );
    // The published port on [::1] and on another IPv6 address of the host (the veth's);
    // IPv4 still.
    for url in [
        "http://[::1]:8080/",
        "http://[fd00:cafe::1]:8080/",
        "http://127.0.0.1:8080/",
    ] {
        let o = host
            .cmd(&["timeout", "10", "busybox", "wget", "-qO-", url])
            .output()
            .expect("wget");
        assert_eq!(
            stdout(&o),
            "hello from wharf6\n",
            "{url}: {}\n{}",
            stderr(&o),
            d.log()
        );
    }
    // A daemon crash and restart: kernel DNAT kept answering on IPv6 addresses, the [::1]
    // proxy and the names are back with the daemon.
    let mut d = d;
    d.kill9();
    let o = host
        .cmd(&[
            "timeout",
            "10",
            "busybox",
            "wget",
            "-qO-",
            "http://[fd00:cafe::1]:8080/",
        ])
        .output()
        .expect("wget");
    assert_eq!(
        stdout(&o),
        "hello from wharf6\n",
        "daemon down: {}",
        stderr(&o)
    );
    d.respawn_in_netns(&host);
    d.ok(&["network", "ls"]); // answered once its networks are set up
    let o = host
        .cmd(&[
            "timeout",
            "10",
            "busybox",
            "wget",
            "-qO-",
            "http://[::1]:8080/",
        ])
        .output()
        .expect("wget");
    assert_eq!(
        stdout(&o),
        "hello from wharf6\n",
        "after restart: {}\n{}",
        stderr(&o),
        d.log()
    );
    let o = d.wharf(&[
        "run",
        "--rm",
        "--network",
        "v6net",
        "web",
        "nslookup",
        "-type=AAAA",
        "srv",
    ]);
    assert!(stdout(&o).contains(&ip6), "{}{}", stdout(&o), stderr(&o));
    // The docker CLI: --ipv6 with a subnet of its own and --ip6.
    if let Some(o) = d.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:d0c::/64",
        "dk6",
    ]) {
        assert!(o.status.success(), "{}", stderr(&o));
        let o = d
            .docker(&[
                "run",
                "--rm",
                "--network",
                "dk6",
                "--ip6",
                "fd00:d0c::55",
                "web",
                "ip",
                "-6",
                "addr",
                "show",
                "eth0",
            ])
            .expect("docker");
        assert!(stdout(&o).contains("fd00:d0c::55/64"), "{}", stderr(&o));
        d.ok(&["network", "rm", "dk6"]);
    }
    let t = d.nft_table().expect("nft-table");
    let table6 = || {
        host.cmd(&["nft", "list", "table", "ip6", &t])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    assert!(table6());
    d.ok(&["rm", "-f", "srv"]);
    let o = host
        .cmd(&[
            "timeout",
            "5",
            "busybox",
            "wget",
            "-qO-",
            "http://[::1]:8080/",
        ])
        .output()
        .expect("wget");
    assert!(!o.status.success(), "[::1]:8080 still answers");
    d.ok(&["network", "rm", "v6net", "v6b"]);
    assert!(!table6(), "the ip6 table outlived the last --ipv6 network");
}

/// A child process killed on drop (a server in a test namespace).
struct KillOnDrop(std::process::Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `ip filter` accept rules a daemon put for its bridges, as listed in namespace `ns`.
fn filter_rules(ns: &NetNs, d: &Daemon) -> String {
    let t = d.nft_table().expect("nft-table");
    let o = ns
        .cmd(&["nft", "list", "table", "ip", "filter"])
        .output()
        .expect("nft");
    let mut chain = String::new();
    let mut out = String::new();
    for l in stdout(&o).lines().map(str::trim) {
        if let Some(rest) = l.strip_prefix("chain ") {
            chain = rest.split_whitespace().next().unwrap_or("").to_string();
        } else if l.ends_with(&format!("comment \"{t}\"")) {
            out.push_str(&format!("{chain}: {l}\n"));
        }
    }
    out
}

/// dockerd sets table `ip filter`'s FORWARD policy to DROP, and a packet must be accepted by
/// every base chain: our containers still go out (masqueraded), reach another network's
/// published port, and when "dockerd" restarts after us with a DOCKER-USER chain the rules
/// follow into it. All inside namespaces of the test's own: an "outside" namespace behind a
/// veth plays the world, so the host's firewall is never touched.
#[test]
fn another_firewalls_forward_policy_drop_does_not_cut_off_our_networks() {
    let host = NetNs::new("fw");
    let outside = NetNs::new("out");
    host.run(&[
        "ip",
        "link",
        "add",
        "vhost",
        "type",
        "veth",
        "peer",
        "name",
        "vout",
        "netns",
        &outside.name,
    ]);
    host.run(&["ip", "addr", "add", "10.203.0.1/24", "dev", "vhost"]);
    host.run(&["ip", "link", "set", "vhost", "up"]);
    outside.run(&["ip", "addr", "add", "10.203.0.2/24", "dev", "vout"]);
    outside.run(&["ip", "link", "set", "vout", "up"]);
    let www = tempfile::Builder::new()
        .prefix("wharf-www-")
        .tempdir_in(test_tmp())
        .expect("tmp");
    std::fs::write(www.path().join("index.html"), "hello from outside\n").expect("write");
    let _server = KillOnDrop(
        outside
            .cmd(&["busybox", "httpd", "-f", "-p", "10.203.0.2:8081", "-h"])
            .arg(www.path())
            .spawn()
            .expect("httpd"),
    );
    // The control: a plain client namespace routed through `host` reaches the outside while
    // forwarding is accepted, and no longer once table ip filter drops by default.
    let client = NetNs::new("cl");
    host.run(&[
        "ip",
        "link",
        "add",
        "vcl",
        "type",
        "veth",
        "peer",
        "name",
        "vc",
        "netns",
        &client.name,
    ]);
    host.run(&["ip", "addr", "add", "10.204.0.1/24", "dev", "vcl"]);
    host.run(&["ip", "link", "set", "vcl", "up"]);
    host.run(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    client.run(&["ip", "addr", "add", "10.204.0.2/24", "dev", "vc"]);
    client.run(&["ip", "link", "set", "vc", "up"]);
    client.run(&["ip", "route", "add", "default", "via", "10.204.0.1"]);
    outside.run(&["ip", "route", "add", "10.204.0.0/24", "via", "10.203.0.1"]);
    let client_get = || {
        client
            .cmd(&[
                "timeout",
                "3",
                "busybox",
                "wget",
                "-qO-",
                "http://10.203.0.2:8081/",
            ])
            .output()
            .expect("wget")
    };
    wait_until("the outside's httpd", Duration::from_secs(10), || {
        client_get().status.success()
    });
    // What dockerd (iptables-nft) leaves: table ip filter, FORWARD policy drop.
    host.nft(
        "table ip filter {\n chain FORWARD { type filter hook forward priority filter; policy drop; }\n}\n",
    );
    assert!(!client_get().status.success(), "policy drop did not drop");
    // … and its ip6tables twin (docker 27+).
    host.nft(
        "table ip6 filter {\n chain FORWARD { type filter hook forward priority filter; policy drop; }\n}\n",
    );

    let d = Daemon::start_in_netns(&host);
    let tar = busybox_rootfs_tar(&[("www/index.html", b"hello from wharf\n")]);
    let o = d.wharf_stdin(&["import", "-c", "CMD [\"sh\"]", "-", "web"], &tar);
    assert!(o.status.success(), "{}", stderr(&o));
    d.ok(&["network", "create", "n1"]);
    d.ok(&["network", "create", "n2"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "n2",
        "-p",
        "8080:80",
        "web",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let rules = filter_rules(&host, &d);
    let br = |n: &str| {
        format!(
            "br-{}",
            &d.ok(&["network", "inspect", "-f", "{{.Id}}", n])[..12]
        )
    };
    for b in [br("n1"), br("n2")] {
        assert!(
            rules.contains(&format!("FORWARD: iifname \"{b}\" accept"))
                && rules.contains(&format!("FORWARD: oifname \"{b}\" accept")),
            "{rules}"
        );
    }
    let rules6 = host.run(&["nft", "list", "chain", "ip6", "filter", "FORWARD"]);
    assert!(
        rules6.contains(&format!("iifname \"{}\" accept comment", br("n1"))),
        "{rules6}"
    );
    // (busybox 1.35's `wget -T` crashes: `timeout` bounds the wait instead)
    let get = |net: &str, url: &str| {
        d.wharf(&[
            "run",
            "--rm",
            "--network",
            net,
            "web",
            "timeout",
            "10",
            "wget",
            "-qO-",
            url,
        ])
    };
    // Out through a veth (forwarded, masqueraded), from a user network and the default bridge.
    for net in ["n1", "bridge"] {
        let o = get(net, "http://10.203.0.2:8081/");
        assert_eq!(
            stdout(&o),
            "hello from outside\n",
            "{net}: {}\n{}",
            stderr(&o),
            d.log()
        );
    }
    // Another network's published port, through a host address (DNAT, forwarded n1 -> n2).
    let o = get("n1", "http://10.203.0.1:8080/");
    assert_eq!(
        stdout(&o),
        "hello from wharf\n",
        "{}\n{}",
        stderr(&o),
        d.log()
    );

    // "dockerd" restarts after us: a fresh table with DOCKER-USER; our rules go there.
    host.nft(
        "delete table ip filter\ntable ip filter {\n chain DOCKER-USER { return; }\n chain FORWARD { type filter hook forward priority filter; policy drop; jump DOCKER-USER; }\n}\n",
    );
    let o = get("n1", "http://10.203.0.2:8081/");
    assert_eq!(
        stdout(&o),
        "hello from outside\n",
        "{}\n{}",
        stderr(&o),
        d.log()
    );
    let rules = filter_rules(&host, &d);
    assert!(
        rules.contains(&format!("DOCKER-USER: iifname \"{}\" accept", br("n1")))
            && !rules.contains("FORWARD:"),
        "{rules}"
    );
    // dockerd reads the table back with iptables-nft: our rules must stay in its dialect (an
    // nft-only match would make it refuse the whole table as "incompatible").
    if let Ok(o) = host.cmd(&["iptables-nft", "-S", "DOCKER-USER"]).output() {
        if !o.status.success() && stderr(&o).contains("No such file") {
            eprintln!("SKIP: iptables-nft is not installed");
        } else {
            let t = d.nft_table().expect("nft-table");
            let want = format!(
                "-A DOCKER-USER -i {} -m comment --comment {t} -j ACCEPT",
                br("n1")
            );
            assert!(
                o.status.success() && stdout(&o).contains(&want),
                "{}{}",
                stdout(&o),
                stderr(&o)
            );
        }
    }

    // Networks gone: their rules gone; the default bridge's stay while the daemon keeps it.
    let (b1, b2) = (br("n1"), br("n2"));
    d.ok(&["rm", "-f", "srv"]);
    d.ok(&["network", "rm", "n1", "n2"]);
    let rules = filter_rules(&host, &d);
    assert!(!rules.contains(&b1) && !rules.contains(&b2), "{rules}");
    let def = d.default_bridge().expect("default bridge");
    assert!(rules.contains(&def), "{rules}");
}

/// A daemon killed whose data root then went away (a test or benchmark that did not know
/// its kernel objects) leaves a table and a bridge; the next daemon to start removes them.
/// A data root wiped and made again at the same path: the next daemon's default network
/// takes the bridge over with one subnet, instead of adding another subnet to the previous
/// daemon's bridge at every such start (until the address pools run out).
#[test]
fn a_wiped_data_root_does_not_leave_its_bridge_one_more_subnet() {
    let mut d = Daemon::start();
    d.ok(&["network", "ls"]);
    let bridge = d.default_bridge().expect("bridge");
    let v4_addresses = || {
        let o = std::process::Command::new("ip")
            .args(["-4", "-o", "addr", "show", "dev", &bridge])
            .output()
            .expect("ip");
        String::from_utf8_lossy(&o.stdout).lines().count()
    };
    assert_eq!(v4_addresses(), 1);
    for _ in 0..2 {
        d.kill9();
        std::fs::remove_dir_all(d.data_root()).expect("wipe the data root");
        d.spawn();
        d.ok(&["network", "ls"]);
        assert_eq!(d.default_bridge().as_deref(), Some(bridge.as_str()));
        assert_eq!(v4_addresses(), 1, "the bridge after a wipe: one subnet");
    }
}

#[test]
fn the_next_daemon_removes_tables_and_bridges_of_a_data_root_that_is_gone() {
    let mut a = Daemon::start();
    a.ok(&["network", "ls"]); // answered once its networks are set up
    let table = a.nft_table().expect("table");
    let bridge = a.default_bridge().expect("bridge");
    assert!(link_exists(&bridge));
    a.kill9();
    std::fs::rename(a.data_root(), a.dir.path().join("gone")).expect("rename");
    let _b = Daemon::start();
    let table_exists = || {
        std::process::Command::new("nft")
            .args(["list", "table", "ip", &table])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    wait_until(
        "the orphan's table and bridge to go",
        Duration::from_secs(10),
        || !table_exists() && !link_exists(&bridge),
    );
}
