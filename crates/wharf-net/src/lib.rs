//! Wharf's networks (see docs/adr-0006-networking.md):
//! - [`ipam`]: subnets and address allocation (pure, unit-tested),
//! - [`netlink`]: bridges, veth pairs, addresses and routes over rtnetlink,
//! - [`nft`]: outbound masquerade and published ports as one nftables table,
//! - [`dns`]: the embedded resolver for user-defined networks.

pub mod dns;
pub mod ipam;
pub mod netlink;
pub mod nft;
