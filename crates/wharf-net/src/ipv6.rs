//! IPv6 address management of `--ipv6` networks: subnets, the default ULA pool, allocation.
//!
//! Pure, like [`crate::ipam`]. Docker (27+) gives a `--ipv6` network without a v6 subnet a
//! /64 from a ULA prefix (fd00::/8, RFC 4193); we do the same: a /48 whose 40-bit global id is
//! derived from the daemon's id (stable for a data root, different between hosts and data
//! roots), split into /64s handed out in order, skipping every /64 already in use.

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use crate::ipam::BadCidr;

/// An IPv6 subnet in CIDR form, normalised to its network address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subnet6 {
    pub addr: Ipv6Addr,
    pub prefix: u8,
}

fn mask(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

impl Subnet6 {
    pub fn new(addr: Ipv6Addr, prefix: u8) -> Option<Subnet6> {
        if prefix > 128 {
            return None;
        }
        Some(Subnet6 {
            addr: Ipv6Addr::from(u128::from(addr) & mask(prefix)),
            prefix,
        })
    }
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & mask(self.prefix) == u128::from(self.addr)
    }
    pub fn overlaps(&self, other: &Subnet6) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }
    /// The first host address, `::1` of the subnet (docker's default v6 gateway).
    pub fn first_host(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) + 1)
    }
}

impl fmt::Display for Subnet6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet6 {
    type Err = BadCidr;
    fn from_str(s: &str) -> Result<Subnet6, BadCidr> {
        let bad = || BadCidr(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv6Addr = a.parse().map_err(|_| bad())?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        Subnet6::new(addr, prefix).ok_or_else(bad)
    }
}

/// Whether a CIDR text is an IPv6 one (docker's `--subnet` takes both families).
pub fn is_v6_cidr(s: &str) -> bool {
    s.split_once('/').is_some_and(|(a, _)| a.contains(':'))
}

/// The ULA /48 of a daemon: `fd` + 40 bits of `seed` (its id).
pub fn ula_prefix(seed: &str) -> Subnet6 {
    // FNV-1a over the seed: stable, and spread enough for a 40-bit global id.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let global = u128::from(h & 0xff_ffff_ffff);
    let addr = (0xfdu128 << 120) | (global << 80);
    Subnet6 {
        addr: Ipv6Addr::from(addr),
        prefix: 48,
    }
}

/// The first /64 of `pool` that overlaps nothing in `taken`.
pub fn pick_subnet6(pool: &Subnet6, taken: &[Subnet6]) -> Option<Subnet6> {
    if pool.prefix > 64 {
        return None;
    }
    let n = 1u128 << (64 - pool.prefix);
    (0..n.min(65_536))
        .filter_map(|i| Subnet6::new(Ipv6Addr::from(u128::from(pool.addr) + (i << 64)), 64))
        .find(|s| !taken.iter().any(|t| t.overlaps(s)))
}

/// The lowest free host address of `subnet` after its network address (`::1` is the
/// gateway, in `used`), as docker hands them out (`::2`, `::3`, …).
pub fn allocate6(subnet: &Subnet6, used: &HashSet<Ipv6Addr>) -> Option<Ipv6Addr> {
    let base = u128::from(subnet.addr);
    let size = if subnet.prefix >= 128 {
        1
    } else {
        1u128 << (128 - u32::from(subnet.prefix))
    };
    (1..size.min(1 << 20))
        .map(|i| Ipv6Addr::from(base + i))
        .find(|a| !used.contains(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_normalises_and_tells_families_apart() {
        let s: Subnet6 = "fd12:3456:789a:1::5/64".parse().unwrap();
        assert_eq!(s.to_string(), "fd12:3456:789a:1::/64");
        assert_eq!(s.first_host().to_string(), "fd12:3456:789a:1::1");
        assert!(s.contains("fd12:3456:789a:1::abcd".parse().unwrap()));
        assert!(!s.contains("fd12:3456:789a:2::1".parse().unwrap()));
        assert!("fd00::/129".parse::<Subnet6>().is_err());
        assert!("10.0.0.0/8".parse::<Subnet6>().is_err());
        assert!(is_v6_cidr("fd00::/64") && !is_v6_cidr("10.0.0.0/8"));
    }

    #[test]
    fn ula_pool_is_stable_and_hands_out_free_64s() {
        let p = ula_prefix("daemon-a");
        assert_eq!(p, ula_prefix("daemon-a"));
        assert_ne!(p, ula_prefix("daemon-b"));
        assert_eq!(p.addr.octets()[0], 0xfd);
        let first = pick_subnet6(&p, &[]).unwrap();
        assert_eq!(first.addr, p.addr);
        assert_eq!(first.prefix, 64);
        let second = pick_subnet6(&p, &[first]).unwrap();
        assert_eq!(u128::from(second.addr) - u128::from(first.addr), 1 << 64);
    }

    #[test]
    fn allocates_after_the_gateway() {
        let s: Subnet6 = "fd00:1::/64".parse().unwrap();
        let mut used = HashSet::from([s.first_host()]);
        let a = allocate6(&s, &used).unwrap();
        assert_eq!(a.to_string(), "fd00:1::2");
        used.insert(a);
        assert_eq!(allocate6(&s, &used).unwrap().to_string(), "fd00:1::3");
    }
}
