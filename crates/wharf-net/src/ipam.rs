//! IPv4 address management: subnets, docker's default address pools, and allocation.
//!
//! Pure and deterministic: the caller says which subnets and addresses are taken (the daemon
//! derives that from its persisted networks and containers, so a crash can never hand an
//! address out twice: an address is taken exactly when a record that holds it is on disk).

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 subnet in CIDR form, normalised to its network address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Subnet> {
        if prefix > 32 {
            return None;
        }
        let mask = Self::mask_of(prefix);
        Some(Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            prefix,
        })
    }
    fn mask_of(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        }
    }
    pub fn mask(&self) -> u32 {
        Self::mask_of(self.prefix)
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }
    /// The last address (broadcast).
    pub fn last(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }
    /// The first usable host address (docker's default gateway).
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + u32::from(self.prefix < 31))
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Why a CIDR did not parse; the message is docker's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid CIDR address: {0}")]
pub struct BadCidr(pub String);

impl FromStr for Subnet {
    type Err = BadCidr;
    /// `a.b.c.d/n`; host bits are cleared (docker accepts `172.20.0.1/16` as 172.20.0.0/16).
    fn from_str(s: &str) -> Result<Subnet, BadCidr> {
        let bad = || BadCidr(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        Subnet::new(addr, prefix).ok_or_else(bad)
    }
}

/// Docker's default address pools: 172.17–31.0.0/16, then 192.168.0–240.0/20.
pub fn default_pools() -> Vec<Subnet> {
    let mut v: Vec<Subnet> = (17..=31)
        .filter_map(|b| Subnet::new(Ipv4Addr::new(172, b, 0, 0), 16))
        .collect();
    v.extend((0..16).filter_map(|i| Subnet::new(Ipv4Addr::new(192, 168, i * 16, 0), 20)));
    v
}

/// The first pool that overlaps nothing in `taken` (other networks, the host's routes).
pub fn pick_subnet(pools: &[Subnet], taken: &[Subnet]) -> Option<Subnet> {
    pools
        .iter()
        .find(|p| !taken.iter().any(|t| t.overlaps(p)))
        .copied()
}

/// The lowest free host address of `subnet` (within `range` if given), never the network or
/// broadcast address, nor anything in `used` (which holds the gateway too).
pub fn allocate(
    subnet: &Subnet,
    range: Option<&Subnet>,
    used: &HashSet<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let (lo, hi) = match range {
        Some(r) => (u32::from(r.addr), u32::from(r.last())),
        None => (u32::from(subnet.addr), u32::from(subnet.last())),
    };
    let (net, bcast) = (u32::from(subnet.addr), u32::from(subnet.last()));
    (lo..=hi)
        .filter(|&a| subnet.prefix >= 31 || (a != net && a != bcast))
        .map(Ipv4Addr::from)
        .find(|a| subnet.contains(*a) && !used.contains(a))
}

/// Docker's MAC address for a container address: 02:42 and the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let s: Subnet = "172.20.0.1/16".parse().unwrap();
        assert_eq!(s.to_string(), "172.20.0.0/16");
        assert_eq!(s.first_host(), Ipv4Addr::new(172, 20, 0, 1));
        assert_eq!(s.last(), Ipv4Addr::new(172, 20, 255, 255));
        for bad in [
            "",
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "10.0.0.0/x",
            "10.0.0.0/-1",
        ] {
            assert_eq!(
                bad.parse::<Subnet>().unwrap_err().to_string(),
                format!("invalid CIDR address: {bad}")
            );
        }
    }

    #[test]
    fn overlap_and_pools() {
        let a: Subnet = "10.0.0.0/8".parse().unwrap();
        let b: Subnet = "10.5.0.0/16".parse().unwrap();
        let c: Subnet = "11.0.0.0/16".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        let pools = default_pools();
        assert_eq!(pools[0].to_string(), "172.17.0.0/16");
        assert_eq!(pools.last().unwrap().to_string(), "192.168.240.0/20");
        let taken = [
            "172.17.0.0/16".parse().unwrap(),
            "172.16.0.0/12".parse().unwrap(),
        ];
        assert_eq!(
            pick_subnet(&pools, &taken).unwrap().to_string(),
            "192.168.0.0/20"
        );
        assert_eq!(
            pick_subnet(&pools, &taken[..1]).unwrap().to_string(),
            "172.18.0.0/16"
        );
    }

    #[test]
    fn allocation_skips_used_network_and_broadcast() {
        let s: Subnet = "10.1.2.0/30".parse().unwrap();
        let mut used = HashSet::from([s.first_host()]);
        let ip = allocate(&s, None, &used).unwrap();
        assert_eq!(ip, Ipv4Addr::new(10, 1, 2, 2));
        used.insert(ip);
        assert_eq!(
            allocate(&s, None, &used),
            None,
            "broadcast is never handed out"
        );
        let big: Subnet = "10.9.0.0/16".parse().unwrap();
        let range: Subnet = "10.9.5.0/24".parse().unwrap();
        assert_eq!(
            allocate(&big, Some(&range), &HashSet::new()),
            Some(Ipv4Addr::new(10, 9, 5, 0))
        );
        assert_eq!(
            mac_string(&mac_for(Ipv4Addr::new(172, 17, 0, 2))),
            "02:42:ac:11:00:02"
        );
    }
}
