//! Links, addresses and routes over rtnetlink (`netlink-packet-route`, synchronous).
//!
//! A [`Handle`] talks to the network namespace it was opened in. Work inside a container's
//! namespace runs on a short-lived thread that has `setns`'d into it ([`in_netns`]), so the
//! daemon's own threads never change namespace.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};

/// An rtnetlink socket in the namespace it was created in.
pub struct Handle {
    socket: Socket,
    seq: u32,
}

impl Handle {
    pub fn new() -> io::Result<Handle> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        Ok(Handle { socket, seq: 1 })
    }

    /// Sends one request and collects its answers until the ACK (or DONE for dumps).
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        self.seq = self.seq.wrapping_add(1);
        header.sequence_number = self.seq;
        let mut req = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        req.finalize();
        let mut buf = vec![0u8; req.buffer_len()];
        req.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        let mut out = Vec::new();
        let mut rbuf = vec![0u8; 64 * 1024];
        loop {
            let n = self.socket.recv(&mut &mut rbuf[..], 0)?;
            let mut off = 0;
            while off < n {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rbuf[off..n])
                    .map_err(|e| io::Error::other(format!("bad netlink answer: {e}")))?;
                let len = m.header.length as usize;
                if m.header.sequence_number == self.seq {
                    match m.payload {
                        NetlinkPayload::Error(e) => {
                            return match e.code {
                                None => Ok(out),
                                Some(_) => Err(e.to_io()),
                            }
                        }
                        NetlinkPayload::Done(_) => return Ok(out),
                        NetlinkPayload::InnerMessage(i) => out.push(i),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                off += (len + 3) & !3;
            }
        }
    }

    /// The index of the link called `name`, if there is one.
    pub fn link_index(&mut self, name: &str) -> io::Result<Option<u32>> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(m), NLM_F_ACK) {
            Ok(v) => Ok(v.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(19) => Ok(None), // ENODEV
            Err(e) => Err(e),
        }
    }

    /// Creates a bridge called `name` (nothing to do if it exists) and returns its index.
    pub fn ensure_bridge(&mut self, name: &str, mac: [u8; 6]) -> io::Result<u32> {
        if let Some(i) = self.link_index(name)? {
            return Ok(i);
        }
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        // An address of its own from the start: a bridge left to choose takes the lowest
        // address of its ports and changes it as containers come and go, and a container
        // that cached the gateway's old address sends its replies nowhere until its
        // neighbour entry expires (seconds). Set at creation, the kernel never changes it.
        m.attributes.push(LinkAttribute::Address(mac.to_vec()));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        match self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("create bridge {name}: {e}"),
                ))
            }
        }
        self.link_index(name)?
            .ok_or_else(|| io::Error::other(format!("bridge {name} vanished")))
    }

    /// Deletes the link called `name`; absent is fine.
    pub fn delete_link(&mut self, name: &str) -> io::Result<()> {
        let Some(index) = self.link_index(name)? else {
            return Ok(());
        };
        let mut m = LinkMessage::default();
        m.header.index = index;
        match self.request(RouteNetlinkMessage::DelLink(m), NLM_F_ACK) {
            Err(e) if e.raw_os_error() != Some(19) => Err(e),
            _ => Ok(()),
        }
    }

    /// Sets a link up, and optionally its controller (bridge).
    pub fn set_up(&mut self, index: u32, controller: Option<u32>) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        if let Some(c) = controller {
            m.attributes.push(LinkAttribute::Controller(c));
        }
        self.request(RouteNetlinkMessage::SetLink(m), NLM_F_ACK)
            .map(|_| ())
    }

    /// Adds `ip/prefix` to a link (already there is fine).
    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(ip.into()));
        m.attributes.push(AddressAttribute::Address(ip.into()));
        let bcast = crate::ipam::Subnet::new(ip, prefix).map(|s| s.last());
        if let (Some(b), true) = (bcast, prefix < 31) {
            m.attributes.push(AddressAttribute::Broadcast(b));
        }
        match self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    }

    /// Adds `ip/prefix` (IPv6) to a link without duplicate address detection (the address is
    /// ours to hand out; DAD would only delay its use by a second or two).
    pub fn add_address6(&mut self, index: u32, ip: Ipv6Addr, prefix: u8) -> io::Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet6;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.header.flags = AddressHeaderFlags::Nodad;
        m.attributes.push(AddressAttribute::Local(ip.into()));
        m.attributes.push(AddressAttribute::Address(ip.into()));
        match self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    }

    /// The IPv6 default route via `gateway`.
    pub fn add_default_route6(&mut self, gateway: Ipv6Addr, oif: u32) -> io::Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet6;
        m.header.table = 254;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet6(gateway)));
        m.attributes.push(RouteAttribute::Oif(oif));
        match self.request(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    }

    /// The IPv6 routes of the main table as subnets (link-local and default excluded).
    pub fn route_subnets6(&mut self) -> io::Result<Vec<crate::ipv6::Subnet6>> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet6;
        let v = self.request(
            RouteNetlinkMessage::GetRoute(m),
            netlink_packet_core::NLM_F_DUMP,
        )?;
        Ok(v.into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewRoute(r)
                    if r.header.table == 254 && r.header.destination_prefix_length > 0 =>
                {
                    r.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Destination(RouteAddress::Inet6(ip))
                            if ip.segments()[0] & 0xffc0 != 0xfe80 =>
                        {
                            crate::ipv6::Subnet6::new(*ip, r.header.destination_prefix_length)
                        }
                        _ => None,
                    })
                }
                _ => None,
            })
            .collect())
    }

    /// The default route via `gateway`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr, oif: u32) -> io::Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = 254; // main
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        m.attributes.push(RouteAttribute::Oif(oif));
        match self.request(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    }

    /// Creates a veth pair: `host` here, `peer` (with `mac`) in the namespace `netns`.
    pub fn create_veth(
        &mut self,
        host: &str,
        peer: &str,
        mac: [u8; 6],
        netns: BorrowedFd<'_>,
    ) -> io::Result<()> {
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.to_string()));
        p.attributes.push(LinkAttribute::Address(mac.to_vec()));
        p.attributes.push(LinkAttribute::NetNsFd(netns.as_raw_fd()));
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(host.to_string()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(|_| ())
    }

    /// The IPv4 routes of the main table as subnets (to keep new networks off them).
    pub fn route_subnets(&mut self) -> io::Result<Vec<crate::ipam::Subnet>> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        let v = self.request(
            RouteNetlinkMessage::GetRoute(m),
            netlink_packet_core::NLM_F_DUMP,
        )?;
        Ok(v.into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewRoute(r)
                    if r.header.table == 254 && r.header.destination_prefix_length > 0 =>
                {
                    r.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Destination(RouteAddress::Inet(ip)) => {
                            crate::ipam::Subnet::new(*ip, r.header.destination_prefix_length)
                        }
                        _ => None,
                    })
                }
                _ => None,
            })
            .collect())
    }
}

/// Runs `f` on a thread that has joined the network namespace `netns`.
pub fn in_netns<T: Send>(
    netns: BorrowedFd<'_>,
    f: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            rustix::thread::move_into_link_name_space(
                netns.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .map_err(|e| io::Error::other(format!("setns: {e}")))?;
            f()
        })
        .join()
        .map_err(|_| io::Error::other("netns worker panicked"))?
    })
}

/// What a container's end of one network looks like.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Host side veth name (≤ 15 bytes).
    pub host_veth: String,
    /// The interface name in the container (`eth0`, `eth1`, …).
    pub ifname: String,
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    pub prefix: u8,
    /// Only the first network of a container gets the default route.
    pub gateway: Option<Ipv4Addr>,
    /// The IPv6 address and prefix length on a `--ipv6` network.
    pub ip6: Option<(Ipv6Addr, u8)>,
    /// The IPv6 default route (first network only, like `gateway`).
    pub gateway6: Option<Ipv6Addr>,
    pub bridge: String,
}

/// Plugs a container's namespace into a bridge: veth pair, address, loopback, default route.
pub fn attach(netns: BorrowedFd<'_>, ep: &Endpoint) -> io::Result<()> {
    let mut h = Handle::new()?;
    let bridge = h
        .link_index(&ep.bridge)?
        .ok_or_else(|| io::Error::other(format!("bridge {} does not exist", ep.bridge)))?;
    match h.create_veth(&ep.host_veth, &ep.ifname, ep.mac, netns) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // A leftover of a container that went away (its namespace is being torn down).
            h.delete_link(&ep.host_veth)?;
            h.create_veth(&ep.host_veth, &ep.ifname, ep.mac, netns)?;
        }
        r => r?,
    }
    let host = h
        .link_index(&ep.host_veth)?
        .ok_or_else(|| io::Error::other(format!("veth {} vanished", ep.host_veth)))?;
    h.set_up(host, Some(bridge))?;
    let ep = ep.clone();
    in_netns(netns, move || {
        let mut c = Handle::new()?;
        if let Some(lo) = c.link_index("lo")? {
            c.set_up(lo, None)?;
        }
        let i = c
            .link_index(&ep.ifname)?
            .ok_or_else(|| io::Error::other(format!("{} missing in the container", ep.ifname)))?;
        c.add_address(i, ep.ip, ep.prefix)?;
        if let Some((ip6, prefix6)) = ep.ip6 {
            // Our thread is in the container's namespace: this is its /proc/sys/net.
            let _ = std::fs::write(
                format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", ep.ifname),
                "0",
            );
            c.add_address6(i, ip6, prefix6)?;
        }
        c.set_up(i, None)?;
        if let Some(gw) = ep.gateway {
            c.add_default_route(gw, i)?;
        }
        if let Some(gw6) = ep.gateway6 {
            c.add_default_route6(gw6, i)?;
        }
        Ok(())
    })
}

/// Removes a container's interface `ifname` from inside its namespace (network disconnect).
pub fn detach(netns: BorrowedFd<'_>, ifname: &str) -> io::Result<()> {
    let ifname = ifname.to_string();
    in_netns(netns, move || Handle::new()?.delete_link(&ifname))
}

/// Creates (or finds) a bridge with `gateway/prefix` on it, up, with route_localnet on (so
/// DNAT from the host's loopback to containers works).
pub fn ensure_bridge(name: &str, gateway: Ipv4Addr, prefix: u8) -> io::Result<()> {
    let mut h = Handle::new()?;
    // The address a container with the gateway's IP would have (docker's 02:42 scheme):
    // unique on the network, as no container gets the gateway's IP.
    let i = h.ensure_bridge(name, crate::ipam::mac_for(gateway))?;
    h.add_address(i, gateway, prefix)?;
    h.set_up(i, None)?;
    let _ = std::fs::write(
        format!("/proc/sys/net/ipv4/conf/{name}/route_localnet"),
        "1",
    );
    let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1");
    Ok(())
}

/// Adds the IPv6 gateway `gateway/prefix` to an existing bridge and turns IPv6 forwarding on
/// (as dockerd does for `--ipv6` networks: `net.ipv6.conf.all.forwarding=1`).
pub fn ensure_bridge6(name: &str, gateway: Ipv6Addr, prefix: u8) -> io::Result<()> {
    let mut h = Handle::new()?;
    let i = h
        .link_index(name)?
        .ok_or_else(|| io::Error::other(format!("bridge {name} does not exist")))?;
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "0");
    h.add_address6(i, gateway, prefix)?;
    let _ = std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1");
    Ok(())
}

/// Host veth name for a container's endpoint on a network: stable, so a leftover is found.
pub fn veth_name(container_id: &str, network_id: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in container_id.bytes().chain(network_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("veth{:07x}", h & 0xfff_ffff)
}

/// Bridge name of a user-defined network: docker's `br-` and 12 hex digits of its id.
pub fn bridge_name(network_id: &str) -> String {
    format!("br-{}", &network_id[..12.min(network_id.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_ifnamsiz() {
        let v = veth_name(&"a".repeat(64), &"b".repeat(64));
        assert!(v.len() <= 15 && v.starts_with("veth"), "{v}");
        assert_ne!(v, veth_name(&"a".repeat(64), &"c".repeat(64)));
        assert_eq!(
            bridge_name(&"0123456789abcdef".repeat(4)),
            "br-0123456789ab"
        );
    }

    /// Real kernel objects; needs root (CI runs as root). Skips otherwise.
    #[test]
    fn bridge_veth_and_addresses_for_real() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("SKIP: not root");
            return;
        }
        let br = format!("wtb{}", std::process::id() % 100000);
        ensure_bridge(&br, Ipv4Addr::new(10, 213, 7, 1), 24).unwrap();
        ensure_bridge(&br, Ipv4Addr::new(10, 213, 7, 1), 24).unwrap(); // idempotent
                                                                       // A namespace of our own to plug in: a thread that unshares one.
        let ns = std::thread::spawn(|| {
            // SAFETY: a new network namespace for this thread only; nothing shares its state.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
                .unwrap();
            std::fs::File::open("/proc/thread-self/ns/net").unwrap()
        })
        .join()
        .unwrap();
        let ep = Endpoint {
            host_veth: format!("wtv{}", std::process::id() % 100000),
            ifname: "eth0".into(),
            mac: crate::ipam::mac_for(Ipv4Addr::new(10, 213, 7, 2)),
            ip: Ipv4Addr::new(10, 213, 7, 2),
            prefix: 24,
            gateway: Some(Ipv4Addr::new(10, 213, 7, 1)),
            ip6: None,
            gateway6: None,
            bridge: br.clone(),
        };
        attach(ns.as_fd(), &ep).unwrap();
        let mut h = Handle::new().unwrap();
        assert!(h.link_index(&ep.host_veth).unwrap().is_some());
        // The bridge keeps the address it was made with when a port joins.
        let mac = std::fs::read_to_string(format!("/sys/class/net/{br}/address")).unwrap();
        assert_eq!(mac.trim(), "02:42:0a:d5:07:01");
        let inside = in_netns(ns.as_fd(), || {
            let mut c = Handle::new()?;
            Ok((c.link_index("eth0")?, c.route_subnets()?))
        })
        .unwrap();
        assert!(inside.0.is_some());
        assert!(inside.1.iter().any(|s| s.to_string() == "10.213.7.0/24"));
        detach(ns.as_fd(), "eth0").unwrap();
        assert!(
            h.link_index(&ep.host_veth).unwrap().is_none(),
            "the pair goes together"
        );
        h.delete_link(&br).unwrap();
        assert!(h.link_index(&br).unwrap().is_none());
    }
}
