//! Wharf's networks (see docs/adr-0006-networking.md):
//! - [`ipam`]: subnets and address allocation (pure, unit-tested),
//! - [`ipv6`]: subnets, the ULA pool and allocation of `--ipv6` networks (pure),
//! - [`netlink`]: bridges, veth pairs, addresses and routes over rtnetlink,
//! - [`nft`]: outbound masquerade and published ports as one nftables table,
//! - [`nft6`]: the IPv6 table (masquerade, isolation, published ports) of `--ipv6` networks,
//! - [`filter`]: accept rules for our bridges in another firewall's FORWARD policy drop,
//! - [`dns`]: the embedded resolver for user-defined networks.

pub mod dns;
pub mod filter;
pub mod ipam;
pub mod ipv6;
pub mod netlink;
pub mod nft;
pub mod nft6;
