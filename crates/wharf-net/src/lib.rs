//! Wharf's networks (see docs/adr-0006-networking.md):
//! - [`ipam`]: subnets and address allocation (pure, unit-tested),
//! - [`netlink`]: bridges, veth pairs, addresses and routes over rtnetlink,
//! - [`nft`]: outbound masquerade and published ports as one nftables table,
//! - [`filter`]: accept rules for our bridges in another firewall's FORWARD policy drop,
//! - [`dns`]: the embedded resolver for user-defined networks.

pub mod dns;
pub mod filter;
pub mod ipam;
pub mod netlink;
pub mod nft;
