//! The IPv6 half of a daemon's nftables state: table `ip6 <table>`, made only while the daemon
//! has `--ipv6` networks (docs/adr-0006-networking.md, "IPv6").
//!
//! The same shape as [`crate::nft`]'s IPv4 table, rewritten whole in one transaction:
//! - `masq6`: IPv6 subnets of non-internal networks, masqueraded when they leave by a
//!   non-bridge link (docker's `ip6tables` masquerade);
//! - `bridges` / `internal`: isolation between networks and `--internal`, as in IPv4;
//! - `bind_any6`: published ports (`proto . port` → `container ip6 . port`), DNAT'd for
//!   traffic to the host's own IPv6 addresses, from outside (prerouting) and from the host
//!   itself (output) — except `::1`: IPv6 has no `route_localnet`, the kernel drops the answer
//!   of a loopback-sourced connection that left `lo`; `[::1]` is served by a proxy in the
//!   daemon instead.

use std::fmt::Write as _;
use std::io;
use std::net::Ipv6Addr;

use crate::ipv6::Subnet6;

/// One `--ipv6` bridge.
#[derive(Clone, Debug)]
pub struct Bridge6 {
    pub name: String,
    pub subnet: Subnet6,
    pub internal: bool,
}

/// One published port of a container with an IPv6 address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMap6 {
    pub proto: String,
    pub host_port: u16,
    pub ip: Ipv6Addr,
    pub port: u16,
}

#[derive(Clone, Debug, Default)]
pub struct Ruleset6 {
    pub table: String,
    pub bridges: Vec<Bridge6>,
    pub ports: Vec<PortMap6>,
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace(['"', '\\'], ""))
}

/// The `nft -f` script that makes table `ip6 <table>` exactly `rs` (deleted when `rs` has no
/// bridge).
pub fn script(rs: &Ruleset6) -> String {
    let t = &rs.table;
    if rs.bridges.is_empty() {
        return format!("table ip6 {t} {{ }}\ndelete table ip6 {t}\n");
    }
    let proto = |p: &str| if p == "udp" { "udp" } else { "tcp" };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"table ip6 {t} {{
  set masq6 {{ type ipv6_addr; flags interval; }}
  set bridges {{ type ifname; }}
  set internal {{ type ifname; }}
  map bind_any6 {{ type inet_proto . inet_service : ipv6_addr . inet_service; }}
  chain prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
  chain output {{ type nat hook output priority -100; policy accept; }}
  chain ports {{ }}
  chain postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
  chain forward {{ type filter hook forward priority filter; policy accept; }}
}}
flush chain ip6 {t} prerouting
flush chain ip6 {t} output
flush chain ip6 {t} ports
flush chain ip6 {t} postrouting
flush chain ip6 {t} forward
flush set ip6 {t} masq6
flush set ip6 {t} bridges
flush set ip6 {t} internal
flush map ip6 {t} bind_any6
add rule ip6 {t} prerouting fib daddr type local jump ports
add rule ip6 {t} output ip6 daddr != ::1 fib daddr type local jump ports
add rule ip6 {t} ports dnat ip6 to meta l4proto . th dport map @bind_any6
add rule ip6 {t} postrouting ip6 saddr @masq6 oifname != @bridges masquerade
add rule ip6 {t} postrouting ct status dnat ip6 saddr @masq6 oifname @bridges masquerade
add rule ip6 {t} forward iifname @internal oifname != @internal drop
add rule ip6 {t} forward oifname @internal iifname != @internal drop
add rule ip6 {t} forward ct status dnat accept
"#
    );
    for b in &rs.bridges {
        let _ = writeln!(
            s,
            "add rule ip6 {t} forward iifname {} oifname @bridges oifname != {} drop",
            quote(&b.name),
            quote(&b.name)
        );
    }
    let masq: Vec<String> = rs
        .bridges
        .iter()
        .filter(|b| !b.internal)
        .map(|b| b.subnet.to_string())
        .collect();
    if !masq.is_empty() {
        let _ = writeln!(s, "add element ip6 {t} masq6 {{ {} }}", masq.join(", "));
    }
    let names: Vec<String> = rs.bridges.iter().map(|b| quote(&b.name)).collect();
    let _ = writeln!(s, "add element ip6 {t} bridges {{ {} }}", names.join(", "));
    let internal: Vec<String> = rs
        .bridges
        .iter()
        .filter(|b| b.internal)
        .map(|b| quote(&b.name))
        .collect();
    if !internal.is_empty() {
        let _ = writeln!(
            s,
            "add element ip6 {t} internal {{ {} }}",
            internal.join(", ")
        );
    }
    let mut any: Vec<String> = rs
        .ports
        .iter()
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
    any.sort();
    any.dedup_by(|a, b| a.split(':').next() == b.split(':').next());
    if !any.is_empty() {
        let _ = writeln!(s, "add element ip6 {t} bind_any6 {{ {} }}", any.join(", "));
    }
    s
}

/// Makes table `ip6 <table>` exactly `rs`, in one transaction.
pub fn apply(rs: &Ruleset6) -> io::Result<()> {
    crate::nft::run_script(&script(rs))
}

/// Deletes a daemon's IPv6 table (absent is fine).
pub fn delete_table6(table: &str) -> io::Result<()> {
    apply(&Ruleset6 {
        table: table.to_string(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(table: &str) -> Ruleset6 {
        Ruleset6 {
            table: table.into(),
            bridges: vec![
                Bridge6 {
                    name: "wt6a".into(),
                    subnet: "fd00:77::/64".parse().unwrap(),
                    internal: false,
                },
                Bridge6 {
                    name: "wt6b".into(),
                    subnet: "fd00:78::/64".parse().unwrap(),
                    internal: true,
                },
            ],
            ports: vec![PortMap6 {
                proto: "tcp".into(),
                host_port: 8080,
                ip: "fd00:77::2".parse().unwrap(),
                port: 80,
            }],
        }
    }

    #[test]
    fn script_masquerades_isolates_and_publishes() {
        let s = script(&sample("wharf_t"));
        assert!(
            s.contains("add element ip6 wharf_t masq6 { fd00:77::/64 }"),
            "{s}"
        );
        assert!(
            s.contains("add element ip6 wharf_t bind_any6 { tcp . 8080 : fd00:77::2 . 80 }"),
            "{s}"
        );
        assert!(
            s.contains("ip6 daddr != ::1 fib daddr type local jump ports"),
            "{s}"
        );
        assert!(
            s.contains("add element ip6 wharf_t internal { \"wt6b\" }"),
            "{s}"
        );
        let empty = script(&Ruleset6 {
            table: "wharf_t".into(),
            ..Default::default()
        });
        assert_eq!(empty, "table ip6 wharf_t { }\ndelete table ip6 wharf_t\n");
    }

    /// The kernel takes the script (as root, with nftables; skipped elsewhere).
    #[test]
    fn kernel_accepts_the_table_and_it_goes_away() {
        if !rustix::process::geteuid().is_root()
            || std::process::Command::new("nft")
                .arg("--version")
                .output()
                .is_err()
        {
            return;
        }
        let table = format!("wharf_ut6{}", std::process::id());
        apply(&sample(&table)).unwrap();
        apply(&sample(&table)).unwrap();
        let out = std::process::Command::new("nft")
            .args(["list", "table", "ip6", &table])
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&out.stdout);
        assert!(listed.contains("fd00:77::2 . 80"), "{listed}");
        delete_table6(&table).unwrap();
        delete_table6(&table).unwrap();
        let out = std::process::Command::new("nft")
            .args(["list", "table", "ip6", &table])
            .output()
            .unwrap();
        assert!(!out.status.success());
    }
}
