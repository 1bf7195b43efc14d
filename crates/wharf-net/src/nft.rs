//! Outbound NAT and published ports as one nftables table per daemon, rewritten whole.
//!
//! The table holds no per-object rules, only sets and maps the rules look things up in:
//! - `masq`: subnets of non-internal networks, masqueraded when they leave by a non-bridge link;
//! - `bridges` / `internal`: our bridge links, and those of `--internal` networks (which may
//!   not forward off their bridge); one rule per bridge keeps networks from forwarding to each
//!   other, except for published ports (DNAT'd traffic is accepted first);
//! - `bind_any` / `bind_ip`: published ports, `proto . port` (or `host ip . proto . port`) →
//!   `container ip . port`, DNAT'd for traffic to any local address, from outside
//!   (prerouting) and from the host itself (output; loopback needs `route_localnet` on the
//!   bridge and a masquerade of 127/8 sources, both done). A container reaching a published
//!   port through a host address (hairpin) is masqueraded too, so the answer comes back the
//!   way the question went.
//!
//! A host port shared by several containers (compose replicas behind one published port) is
//! one rule instead of a map entry: `dnat to numgen inc mod N map { 0 : ip . port, … }`, new
//! connections taken in turn by each backend; conntrack keeps established ones where they are
//! when the set changes.
//!
//! Every change is one `nft -f -` transaction that declares the table (idempotent), flushes the
//! sets and maps and refills them from the daemon's state: atomic, so a published port never
//! stops answering during an update, and the same call reconciles whatever a crash left.
//! The kernel does the forwarding, so published ports keep answering while the daemon is down.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use crate::ipam::Subnet;

/// One of the daemon's bridges.
#[derive(Clone, Debug)]
pub struct Bridge {
    pub name: String,
    pub subnet: Subnet,
    pub internal: bool,
}

/// One published port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMap {
    /// `tcp` or `udp`.
    pub proto: String,
    /// A specific host address, or None for all of them.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub ip: Ipv4Addr,
    pub port: u16,
}

/// A host port spread over several backends, round-robin per new connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortGroup {
    pub proto: String,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    /// Container address and port; empty = nothing answers (the port refuses).
    pub backends: Vec<(Ipv4Addr, u16)>,
}

/// The whole desired state of a daemon's table.
#[derive(Clone, Debug, Default)]
pub struct Ruleset {
    pub table: String,
    /// The daemon's data root, kept as the table's comment: a table whose data root is gone
    /// is an orphan any later daemon may remove ([`owner_root`]).
    pub data_root: String,
    pub bridges: Vec<Bridge>,
    pub ports: Vec<PortMap>,
    pub groups: Vec<PortGroup>,
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace(['"', '\\'], ""))
}

/// The `nft -f` script that makes the table exactly `rs`.
pub fn script(rs: &Ruleset) -> String {
    let t = &rs.table;
    let proto = |p: &str| if p == "udp" { "udp" } else { "tcp" };
    let mut groups = String::new();
    for g in rs.groups.iter().filter(|g| !g.backends.is_empty()) {
        let daddr = g
            .host_ip
            .map(|ip| format!("ip daddr {ip} "))
            .unwrap_or_default();
        let targets: Vec<String> = g
            .backends
            .iter()
            .enumerate()
            .map(|(i, (ip, port))| format!("{i} : {ip} . {port}"))
            .collect();
        let _ = writeln!(
            groups,
            "add rule ip {t} ports {daddr}meta l4proto {p} th dport {hp} dnat ip to numgen inc mod {n} map {{ {m} }}",
            p = proto(&g.proto),
            hp = g.host_port,
            n = targets.len(),
            m = targets.join(", ")
        );
    }
    // Bridges do not forward to each other (docker's isolation chains); published ports
    // (DNAT'd above) stay reachable from every network.
    let mut isolation = String::new();
    for b in &rs.bridges {
        let _ = writeln!(
            isolation,
            "add rule ip {t} forward iifname {} oifname @bridges oifname != {} drop",
            quote(&b.name),
            quote(&b.name)
        );
    }
    let comment = quote(&format!("{ROOT_MARK}{}", rs.data_root));
    let mut s = String::new();
    let _ = write!(
        s,
        r#"table ip {t} {{
  comment {comment};
  set masq {{ type ipv4_addr; flags interval; }}
  set bridges {{ type ifname; }}
  set internal {{ type ifname; }}
  map bind_any {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
  map bind_ip {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
  chain prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
  chain output {{ type nat hook output priority -100; policy accept; }}
  chain ports {{ }}
  chain postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
  chain forward {{ type filter hook forward priority filter; policy accept; }}
}}
flush chain ip {t} prerouting
flush chain ip {t} output
flush chain ip {t} ports
flush chain ip {t} postrouting
flush chain ip {t} forward
flush set ip {t} masq
flush set ip {t} bridges
flush set ip {t} internal
flush map ip {t} bind_any
flush map ip {t} bind_ip
add rule ip {t} prerouting fib daddr type local jump ports
add rule ip {t} output fib daddr type local jump ports
{groups}add rule ip {t} ports dnat ip to ip daddr . meta l4proto . th dport map @bind_ip
add rule ip {t} ports dnat ip to meta l4proto . th dport map @bind_any
add rule ip {t} postrouting ip saddr @masq oifname != @bridges masquerade
add rule ip {t} postrouting ct status dnat ip saddr 127.0.0.0/8 oifname @bridges masquerade
add rule ip {t} postrouting ct status dnat ip saddr @masq oifname @bridges masquerade
add rule ip {t} forward iifname @internal oifname != @internal drop
add rule ip {t} forward oifname @internal iifname != @internal drop
add rule ip {t} forward ct status dnat accept
{isolation}"#
    );
    let masq: Vec<String> = rs
        .bridges
        .iter()
        .filter(|b| !b.internal)
        .map(|b| b.subnet.to_string())
        .collect();
    if !masq.is_empty() {
        let _ = writeln!(s, "add element ip {t} masq {{ {} }}", masq.join(", "));
    }
    let names: Vec<String> = rs.bridges.iter().map(|b| quote(&b.name)).collect();
    if !names.is_empty() {
        let _ = writeln!(s, "add element ip {t} bridges {{ {} }}", names.join(", "));
    }
    let internal: Vec<String> = rs
        .bridges
        .iter()
        .filter(|b| b.internal)
        .map(|b| quote(&b.name))
        .collect();
    if !internal.is_empty() {
        let _ = writeln!(
            s,
            "add element ip {t} internal {{ {} }}",
            internal.join(", ")
        );
    }
    let any: Vec<String> = rs
        .ports
        .iter()
        .filter(|p| p.host_ip.is_none())
        .map(|p| {
            format!(
                "{} . {} : {} . {}",
                proto(&p.proto),
                p.host_port,
                p.ip,
                p.port
            )
        })
        .collect();
    if !any.is_empty() {
        let _ = writeln!(s, "add element ip {t} bind_any {{ {} }}", any.join(", "));
    }
    let by_ip: Vec<String> = rs
        .ports
        .iter()
        .filter_map(|p| {
            p.host_ip.map(|h| {
                format!(
                    "{h} . {} . {} : {} . {}",
                    proto(&p.proto),
                    p.host_port,
                    p.ip,
                    p.port
                )
            })
        })
        .collect();
    if !by_ip.is_empty() {
        let _ = writeln!(s, "add element ip {t} bind_ip {{ {} }}", by_ip.join(", "));
    }
    s
}

fn nft(input: &str) -> io::Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run nft (install the nftables package): {e}"),
            )
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "nft: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Runs an `nft -f -` script (one transaction).
pub fn run_script(script: &str) -> io::Result<()> {
    nft(script)
}

/// Makes the kernel's table exactly `rs`, in one transaction.
pub fn apply(rs: &Ruleset) -> io::Result<()> {
    nft(&script(rs))
}

const ROOT_MARK: &str = "wharf data-root ";

/// Our daemons' tables on this host (`wharf`, `wharf_<hash>`).
pub fn our_tables() -> io::Result<Vec<String>> {
    let out = Command::new("nft")
        .args(["list", "tables", "ip"])
        .stdin(Stdio::null())
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("table ip "))
        .filter(|t| *t == "wharf" || t.starts_with("wharf_"))
        .map(str::to_string)
        .collect())
}

/// The data root a table names in its comment (None: no comment, an older daemon's table).
pub fn owner_root(table: &str) -> io::Result<Option<String>> {
    let out = Command::new("nft")
        .args(["list", "table", "ip", table])
        .stdin(Stdio::null())
        .output()?;
    Ok(parse_owner(&String::from_utf8_lossy(&out.stdout)))
}

fn parse_owner(listing: &str) -> Option<String> {
    listing.lines().find_map(|l| {
        let c = l.trim().strip_prefix("comment \"")?.strip_suffix('"')?;
        c.strip_prefix(ROOT_MARK).map(str::to_string)
    })
}

/// Deletes a daemon's table (absent is fine).
pub fn delete_table(table: &str) -> io::Result<()> {
    nft(&format!(
        "table ip {table} {{ }}\ndelete table ip {table}\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(table: &str) -> Ruleset {
        Ruleset {
            table: table.into(),
            data_root: "/var/tmp/wharf-ut".into(),
            bridges: vec![
                Bridge {
                    name: "wt0".into(),
                    subnet: "10.214.0.0/24".parse().unwrap(),
                    internal: false,
                },
                Bridge {
                    name: "wt1".into(),
                    subnet: "10.214.1.0/24".parse().unwrap(),
                    internal: true,
                },
            ],
            ports: vec![
                PortMap {
                    proto: "tcp".into(),
                    host_ip: None,
                    host_port: 8080,
                    ip: Ipv4Addr::new(10, 214, 0, 2),
                    port: 80,
                },
                PortMap {
                    proto: "udp".into(),
                    host_ip: Some(Ipv4Addr::LOCALHOST),
                    host_port: 5353,
                    ip: Ipv4Addr::new(10, 214, 0, 3),
                    port: 53,
                },
            ],
            groups: vec![PortGroup {
                proto: "tcp".into(),
                host_ip: None,
                host_port: 8088,
                backends: vec![
                    (Ipv4Addr::new(10, 214, 0, 4), 80),
                    (Ipv4Addr::new(10, 214, 0, 5), 80),
                ],
            }],
        }
    }

    #[test]
    fn script_fills_sets_and_maps() {
        let s = script(&sample("wharf_t"));
        assert!(
            s.contains("add element ip wharf_t masq { 10.214.0.0/24 }"),
            "{s}"
        );
        assert!(
            s.contains("add element ip wharf_t internal { \"wt1\" }"),
            "{s}"
        );
        assert!(
            s.contains("bind_any { tcp . 8080 : 10.214.0.2 . 80 }"),
            "{s}"
        );
        assert!(
            s.contains("bind_ip { 127.0.0.1 . udp . 5353 : 10.214.0.3 . 53 }"),
            "{s}"
        );
        assert!(
            s.contains("th dport 8088 dnat ip to numgen inc mod 2 map { 0 : 10.214.0.4 . 80, 1 : 10.214.0.5 . 80 }"),
            "{s}"
        );
        assert!(
            s.contains("forward iifname \"wt0\" oifname @bridges oifname != \"wt0\" drop"),
            "{s}"
        );
        // Groups come before the maps (a map entry would otherwise win).
        assert!(s.find("numgen").unwrap() < s.find("map @bind_ip").unwrap());
    }

    /// The script is accepted by the real nft, twice (idempotent), and the table goes away.
    #[test]
    fn applies_for_real() {
        if !rustix::process::geteuid().is_root() || Command::new("nft").arg("-v").output().is_err()
        {
            eprintln!("SKIP: needs root and nft");
            return;
        }
        let table = format!("wharf_ut{}", std::process::id());
        let mut rs = sample(&table);
        apply(&rs).unwrap();
        rs.ports.pop();
        apply(&rs).unwrap();
        let out = Command::new("nft")
            .args(["list", "table", "ip", &table])
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&out.stdout);
        assert!(listed.contains("tcp . 8080 : 10.214.0.2 . 80"), "{listed}");
        assert!(!listed.contains("5353"), "{listed}");
        assert!(listed.contains("numgen inc mod 2"), "{listed}");
        assert_eq!(
            owner_root(&table).unwrap().as_deref(),
            Some("/var/tmp/wharf-ut")
        );
        assert!(our_tables().unwrap().contains(&table));
        delete_table(&table).unwrap();
        delete_table(&table).unwrap();
    }
}
