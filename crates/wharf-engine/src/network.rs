//! Networks (docs/adr-0006-networking.md): the store, containers' endpoints, published ports,
//! the nftables table and the embedded DNS servers.
//!
//! Crash safety: a network is one row in the metadata store; a container's addresses and
//! host ports are fields of its own record, written before they are used and cleared when it
//! stops. So the addresses in use are exactly those in records of live containers, and after a
//! crash the daemon rebuilds the nftables table from the records: nothing is handed out twice,
//! no rule points at a container that is gone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bollard_stubs::models::HostConfig;
use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use wharf_net::ipam::{self, Subnet};
use wharf_net::ipv6::{self, Subnet6};
use wharf_net::{dns, netlink, nft, nft6};
use wharf_types::ErrorKind;

use crate::api::ApiError;
use crate::container::store::{Container, Status};
use crate::state::Daemon;

const NETWORKS: TableDefinition<&str, &[u8]> = TableDefinition::new("networks");

/// A network as docker describes it; `bridge` is the Linux bridge behind a bridge network.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub created: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    pub labels: HashMap<String, String>,
    pub options: HashMap<String, String>,
    pub bridge: String,
    /// `--ipv6`: an IPv6 subnet and gateway besides the IPv4 ones.
    #[serde(default)]
    pub enable_ipv6: bool,
    #[serde(default)]
    pub subnet6: Option<String>,
    #[serde(default)]
    pub gateway6: Option<String>,
}

impl Network {
    pub fn subnet6(&self) -> Option<Subnet6> {
        self.subnet6.as_deref().and_then(|s| s.parse().ok())
    }
    pub fn gateway6(&self) -> Option<Ipv6Addr> {
        self.gateway6.as_deref().and_then(|s| s.parse().ok())
    }
    pub fn predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }
    pub fn subnet(&self) -> Option<Subnet> {
        self.subnet.as_deref().and_then(|s| s.parse().ok())
    }
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        self.gateway.as_deref().and_then(|s| s.parse().ok())
    }
    fn range(&self) -> Option<Subnet> {
        self.ip_range.as_deref().and_then(|s| s.parse().ok())
    }
    /// User-defined bridge networks have the embedded DNS resolver.
    pub fn has_dns(&self) -> bool {
        self.driver == "bridge" && self.name != "bridge"
    }
}

/// A container's membership of one network (in the container's record).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Endpoint {
    pub network_id: String,
    pub endpoint_id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--ip`: the address asked for.
    pub requested_ip: Option<Ipv4Addr>,
    /// The address while the container runs.
    pub ip: Option<Ipv4Addr>,
    #[serde(default)]
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    #[serde(default)]
    pub mac: String,
    /// Its interface in the container while it runs (`eth0`, …).
    #[serde(default)]
    pub ifname: String,
    /// `--ip6`: the IPv6 address asked for (on a `--ipv6` network).
    #[serde(default)]
    pub requested_ip6: Option<Ipv6Addr>,
    /// The IPv6 address while the container runs (on a `--ipv6` network).
    #[serde(default)]
    pub ip6: Option<Ipv6Addr>,
    #[serde(default)]
    pub prefix6: u8,
    #[serde(default)]
    pub gateway6: Option<Ipv6Addr>,
}

/// A published port as bound on the host (the host port is the real one, also when the
/// user let the system choose).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PublishedPort {
    pub proto: String,
    pub port: u16,
    pub host_ip: String,
    pub host_port: u16,
    /// Shared with the other replicas of the container's service (see [`lb_group`]): bound
    /// with SO_REUSEPORT and forwarded round-robin to every healthy replica.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
}

/// The load-balancing group of a container: replicas of one compose service
/// (`com.docker.compose.project` + `.service` labels) may publish the same fixed host port,
/// which then spreads new connections over those of them that are running and healthy.
pub fn lb_group(c: &Container) -> Option<String> {
    let l = c.config.labels.as_ref()?;
    let project = l.get("com.docker.compose.project")?;
    let service = l.get("com.docker.compose.service")?;
    if l.get("com.docker.compose.oneoff")
        .is_some_and(|v| v == "True")
    {
        return None; // `compose run` containers never join the service's port
    }
    Some(format!("{project}/{service}"))
}

/// A published port as nftables matches it: protocol, host address (None: any), host port.
type PortKey = (String, Option<Ipv4Addr>, u16);

/// How a container is networked.
pub enum Mode {
    Host,
    /// Its own namespace with loopback only.
    None,
    /// Another container's namespace.
    Container(String),
    /// Its own namespace plugged into its endpoints' bridges.
    Bridged,
}

pub fn mode_of(h: &HostConfig) -> Mode {
    match h.network_mode.as_deref().unwrap_or("") {
        "host" => Mode::Host,
        "none" => Mode::None,
        m if m.starts_with("container:") => Mode::Container(m["container:".len()..].to_string()),
        _ => Mode::Bridged,
    }
}

pub struct NetworkStore {
    db: Arc<redb::Database>,
    inner: Mutex<BTreeMap<String, Network>>,
    /// Names of this daemon's kernel objects: the default bridge and the nftables table.
    pub default_bridge: String,
    pub table: String,
    /// Address allocation, one at a time.
    ipam: Mutex<()>,
    /// nftables updates, one at a time.
    nft: Mutex<()>,
    dns: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    /// Containers being stopped: out of their load-balancing groups before the stop signal,
    /// so no new connection goes to a replica on its way out.
    draining: Mutex<HashSet<String>>,
    /// Wakes the check of another firewall's FORWARD chain (see `wharf_net::filter`).
    fw_kick: tokio::sync::Notify,
    /// Whether table `ip6 <table>` may exist (true at start: a leftover is removed).
    v6_table: std::sync::atomic::AtomicBool,
    /// `[::1]:port` proxies of published ports of containers with IPv6 addresses (IPv6 has
    /// no route_localnet: DNAT cannot serve loopback), by host port → (target, task).
    loopback6: Mutex<HashMap<u16, (SocketAddr, tokio::task::JoinHandle<()>)>>,
}

fn db_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("network store: {e}"))
}

pub fn not_found(name: &str) -> ApiError {
    ApiError::new(ErrorKind::NotFound, format!("network {name} not found"))
}

impl NetworkStore {
    /// `tag` tells daemons on other data roots apart ("" for the default one).
    pub fn open(db: Arc<redb::Database>, tag: &str) -> Result<NetworkStore, ApiError> {
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(NETWORKS).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        let mut map = BTreeMap::new();
        {
            let rtx = db.begin_read().map_err(db_err)?;
            let t = rtx.open_table(NETWORKS).map_err(db_err)?;
            for row in t.iter().map_err(db_err)? {
                let (k, v) = row.map_err(db_err)?;
                if let Ok(n) = serde_json::from_slice::<Network>(v.value()) {
                    map.insert(k.value().to_string(), n);
                }
            }
        }
        let (default_bridge, table) = if tag.is_empty() {
            ("wharf0".to_string(), "wharf".to_string())
        } else {
            (
                format!("wh{}", &tag[..8.min(tag.len())]),
                format!("wharf_{tag}"),
            )
        };
        Ok(NetworkStore {
            db,
            inner: Mutex::new(map),
            default_bridge,
            table,
            ipam: Mutex::new(()),
            nft: Mutex::new(()),
            dns: Mutex::new(HashMap::new()),
            draining: Mutex::new(Default::default()),
            fw_kick: tokio::sync::Notify::new(),
            v6_table: std::sync::atomic::AtomicBool::new(true),
            loopback6: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Network>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn persist(&self, n: &Network) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec(n).map_err(db_err)?;
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(NETWORKS).map_err(db_err)?;
            t.insert(n.id.as_str(), bytes.as_slice()).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    fn unpersist(&self, id: &str) -> Result<(), ApiError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(NETWORKS).map_err(db_err)?;
            t.remove(id).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    pub fn list(&self) -> Vec<Network> {
        self.lock().values().cloned().collect()
    }

    /// By full id, exact name, or unique id prefix (docker's order).
    pub fn resolve(&self, key: &str) -> Result<Network, ApiError> {
        let map = self.lock();
        if let Some(n) = map.get(key) {
            return Ok(n.clone());
        }
        if let Some(n) = map.values().find(|n| n.name == key) {
            return Ok(n.clone());
        }
        let hits: Vec<&Network> = map.values().filter(|n| n.id.starts_with(key)).collect();
        match hits.as_slice() {
            [n] if !key.is_empty() => Ok((*n).clone()),
            [] | [_] => Err(not_found(key)),
            _ => Err(ApiError::new(
                ErrorKind::InvalidArgument,
                format!(
                    "network {key} is ambiguous ({} matches found based on ID prefix)",
                    hits.len()
                ),
            )),
        }
    }
}

/// What `POST /networks/create` asks for.
#[derive(Debug, Default)]
pub struct CreateRequest {
    pub name: String,
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    pub labels: HashMap<String, String>,
    pub options: HashMap<String, String>,
    /// `EnableIPv6`, and the IPv6 entry of `IPAM.Config` if any.
    pub enable_ipv6: bool,
    pub subnet6: Option<String>,
    pub gateway6: Option<String>,
}

/// Serialises subnet choices between daemons on one host (parallel test daemons).
fn host_lock() -> Option<std::fs::File> {
    let _ = std::fs::create_dir_all("/run/wharf");
    let f = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/run/wharf/net.lock")
        .ok()?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).ok()?;
    Some(f)
}

impl Daemon {
    /// Every subnet in use on this host: our networks and the host's routes.
    fn taken_subnets(&self, h: &mut netlink::Handle) -> Vec<Subnet> {
        let mut v: Vec<Subnet> = self
            .networks
            .list()
            .iter()
            .filter_map(|n| n.subnet())
            .collect();
        v.extend(h.route_subnets().unwrap_or_default());
        v
    }

    /// Every IPv6 subnet in use on this host: our networks' and the host's routes.
    fn taken_subnets6(&self, h: &mut netlink::Handle) -> Vec<Subnet6> {
        let mut v: Vec<Subnet6> = self
            .networks
            .list()
            .iter()
            .filter_map(|n| n.subnet6())
            .collect();
        v.extend(h.route_subnets6().unwrap_or_default());
        v
    }

    /// The IPv6 subnet and gateway of a `--ipv6` network being created: the asked ones
    /// (checked as docker checks them), or a /64 of this daemon's ULA prefix.
    fn choose_v6(
        &self,
        h: &mut netlink::Handle,
        req: &CreateRequest,
    ) -> Result<Option<(Subnet6, Ipv6Addr)>, ApiError> {
        let asked = req.subnet6.as_deref().filter(|s| !s.is_empty());
        if !req.enable_ipv6 {
            if asked.is_some() {
                return Err(ApiError::invalid(
                    "IPv6 subnet provided but IPv6 is not enabled (use --ipv6)",
                ));
            }
            return Ok(None);
        }
        let taken = self.taken_subnets6(h);
        let subnet = match asked {
            Some(s) => {
                let sn: Subnet6 = s
                    .parse()
                    .map_err(|e: ipam::BadCidr| ApiError::invalid(e.to_string()))?;
                if sn.prefix > 124 {
                    return Err(ApiError::invalid(format!(
                        "invalid subnet {s}: too small for a network"
                    )));
                }
                if let Some(t) = taken.iter().find(|t| t.overlaps(&sn)) {
                    return Err(ApiError::new(
                        ErrorKind::PermissionDenied,
                        format!("invalid pool request: Pool overlaps with other one on this address space ({t})"),
                    ));
                }
                sn
            }
            None => ipv6::pick_subnet6(&ipv6::ula_prefix(&self.id), &taken).ok_or_else(|| {
                ApiError::invalid("could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network")
            })?,
        };
        let gateway = match req.gateway6.as_deref().filter(|s| !s.is_empty()) {
            Some(g) => {
                let ip: Ipv6Addr = g
                    .parse()
                    .map_err(|_| ApiError::invalid(format!("invalid gateway address {g}")))?;
                if !subnet.contains(ip) {
                    return Err(ApiError::invalid(format!(
                        "invalid gateway address {g}: it does not belong to subnet {subnet}"
                    )));
                }
                ip
            }
            None => subnet.first_host(),
        };
        Ok(Some((subnet, gateway)))
    }

    /// Creates a network (bridge, address, nftables sets, DNS) — all or nothing.
    pub fn create_network(self: &Arc<Self>, req: CreateRequest) -> Result<Network, ApiError> {
        let driver = if req.driver.is_empty() {
            "bridge".to_string()
        } else {
            req.driver.clone()
        };
        if req.name.is_empty() {
            return Err(ApiError::invalid("network name cannot be empty"));
        }
        if driver != "bridge" {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                format!("could not find plugin {driver} in v1 plugin registry: plugin not found"),
            ));
        }
        if matches!(req.name.as_str(), "host" | "none" | "bridge" | "default")
            && self.networks.resolve(&req.name).is_ok()
        {
            return Err(ApiError::new(
                ErrorKind::PermissionDenied,
                format!(
                    "{} is a pre-defined network and cannot be recreated",
                    req.name
                ),
            ));
        }
        let _host = host_lock();
        let _g = self.networks.ipam.lock().unwrap_or_else(|p| p.into_inner());
        if self.networks.lock().values().any(|n| n.name == req.name) {
            return Err(ApiError::new(
                ErrorKind::Conflict,
                format!("network with name {} already exists", req.name),
            ));
        }
        let mut h =
            netlink::Handle::new().map_err(|e| ApiError::internal(format!("netlink: {e}")))?;
        let taken = self.taken_subnets(&mut h);
        let subnet = match req.subnet.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => {
                let sn: Subnet = s
                    .parse()
                    .map_err(|e: ipam::BadCidr| ApiError::invalid(e.to_string()))?;
                if sn.prefix > 30 {
                    return Err(ApiError::invalid(format!(
                        "invalid subnet {s}: too small for a network"
                    )));
                }
                if let Some(t) = taken.iter().find(|t| t.overlaps(&sn)) {
                    return Err(ApiError::new(
                        ErrorKind::PermissionDenied,
                        format!("invalid pool request: Pool overlaps with other one on this address space ({t})"),
                    ));
                }
                sn
            }
            None => ipam::pick_subnet(&ipam::default_pools(), &taken).ok_or_else(|| {
                ApiError::invalid("all predefined address pools have been fully subnetted")
            })?,
        };
        let gateway = match req.gateway.as_deref().filter(|s| !s.is_empty()) {
            Some(g) => {
                let ip: Ipv4Addr = g
                    .parse()
                    .map_err(|_| ApiError::invalid(format!("invalid gateway address {g}")))?;
                if !subnet.contains(ip) {
                    return Err(ApiError::invalid(format!(
                        "invalid gateway address {g}: it does not belong to subnet {subnet}"
                    )));
                }
                ip
            }
            None => subnet.first_host(),
        };
        if let Some(r) = req.ip_range.as_deref().filter(|s| !s.is_empty()) {
            let rs: Subnet = r
                .parse()
                .map_err(|e: ipam::BadCidr| ApiError::invalid(e.to_string()))?;
            if !subnet.contains(rs.addr) || rs.prefix < subnet.prefix {
                return Err(ApiError::invalid(format!(
                    "invalid ip-range {r}: it does not belong to subnet {subnet}"
                )));
            }
        }
        let v6 = self.choose_v6(&mut h, &req)?;
        let id = wharf_types::id::random_id();
        let bridge = if req.name == "bridge" {
            self.networks.default_bridge.clone()
        } else {
            req.options
                .get("com.docker.network.bridge.name")
                .cloned()
                .unwrap_or_else(|| netlink::bridge_name(&id))
        };
        let n = Network {
            id,
            name: req.name.clone(),
            driver,
            created: crate::container::create::now_rfc3339(),
            subnet: Some(subnet.to_string()),
            gateway: Some(gateway.to_string()),
            ip_range: req.ip_range.filter(|s| !s.is_empty()),
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels,
            options: req.options,
            bridge,
            enable_ipv6: v6.is_some(),
            subnet6: v6.map(|(s, _)| s.to_string()),
            gateway6: v6.map(|(_, g)| g.to_string()),
        };
        netlink::ensure_bridge(&n.bridge, gateway, subnet.prefix).map_err(|e| {
            ApiError::internal(format!("failed to create bridge {}: {e}", n.bridge))
        })?;
        if let Some((s6, g6)) = v6 {
            if let Err(e) = netlink::ensure_bridge6(&n.bridge, g6, s6.prefix) {
                let _ = h.delete_link(&n.bridge);
                return Err(ApiError::internal(format!(
                    "failed to set up IPv6 on bridge {}: {e}",
                    n.bridge
                )));
            }
        }
        if let Err(e) = self.networks.persist(&n) {
            let _ = h.delete_link(&n.bridge);
            return Err(e);
        }
        self.networks.lock().insert(n.id.clone(), n.clone());
        drop(_g);
        if let Err(e) = self.sync_nft() {
            tracing::warn!(error = %e, "nftables update failed");
        }
        if n.has_dns() {
            self.start_dns(&n);
        }
        Ok(n)
    }

    /// A plain (host or null) predefined network.
    fn ensure_plain(&self, name: &str, driver: &str) -> Result<(), ApiError> {
        if self.networks.resolve(name).is_ok() {
            return Ok(());
        }
        let n = Network {
            id: wharf_types::id::random_id(),
            name: name.into(),
            driver: driver.into(),
            created: crate::container::create::now_rfc3339(),
            ..Default::default()
        };
        self.networks.persist(&n)?;
        self.networks.lock().insert(n.id.clone(), n);
        Ok(())
    }

    /// At daemon start: the predefined networks, every bridge, endpoints of containers that
    /// are not running released, the nftables table rebuilt, DNS servers up.
    pub fn init_networks(self: &Arc<Self>) -> Result<(), ApiError> {
        // Remember our kernel objects' names for whoever cleans up after us (tests) before
        // any of them exists: a daemon killed while making them leaves nothing unnamed.
        let _ = std::fs::write(self.data_root.join("nft-table"), &self.networks.table);
        self.ensure_plain("host", "host")?;
        self.ensure_plain("none", "null")?;
        if self.networks.resolve("bridge").is_err() {
            // A fresh store. A device of the default bridge's name is a previous daemon's
            // whose data root was wiped and made again at the same path (the name comes from
            // it): no record of ours uses it, and its addresses would push the new network
            // onto another subnet, one more at every such start, until the pools run out.
            if let Ok(mut h) = netlink::Handle::new() {
                if let Err(e) = h.delete_link(&self.networks.default_bridge) {
                    tracing::warn!(bridge = self.networks.default_bridge, error = %e, "failed to remove a previous daemon's bridge");
                }
            }
            self.create_network(CreateRequest {
                name: "bridge".into(),
                driver: "bridge".into(),
                options: HashMap::from([
                    (
                        "com.docker.network.bridge.default_bridge".into(),
                        "true".into(),
                    ),
                    ("com.docker.network.bridge.enable_icc".into(), "true".into()),
                    (
                        "com.docker.network.bridge.enable_ip_masquerade".into(),
                        "true".into(),
                    ),
                    (
                        "com.docker.network.bridge.host_binding_ipv4".into(),
                        "0.0.0.0".into(),
                    ),
                    (
                        "com.docker.network.bridge.name".into(),
                        self.networks.default_bridge.clone(),
                    ),
                    ("com.docker.network.driver.mtu".into(), "1500".into()),
                ]),
                ..Default::default()
            })?;
        }
        for n in self.networks.list() {
            if n.driver != "bridge" {
                continue;
            }
            if let (Some(gw), Some(sn)) = (n.gateway(), n.subnet()) {
                if let Err(e) = netlink::ensure_bridge(&n.bridge, gw, sn.prefix) {
                    tracing::warn!(network = n.name, error = %e, "failed to set up the bridge");
                }
            }
            if let (Some(gw6), Some(sn6)) = (n.gateway6(), n.subnet6()) {
                if let Err(e) = netlink::ensure_bridge6(&n.bridge, gw6, sn6.prefix) {
                    tracing::warn!(network = n.name, error = %e, "failed to set up IPv6 on the bridge");
                }
            }
            if n.has_dns() {
                self.start_dns(&n);
            }
        }
        for c in self.containers.list() {
            if !c.state.status.is_live() {
                self.clear_addresses(&c.id);
            }
        }
        self.watch_forward_policy();
        std::thread::spawn(sweep_orphans);
        self.sync_nft()
            .map_err(|e| ApiError::internal(format!("nftables: {e}")))
    }

    /// The endpoints a new container gets from `NetworkMode` and `EndpointsConfig`.
    pub fn endpoints_for_create(
        &self,
        h: &HostConfig,
        cfg: Option<&bollard_stubs::models::NetworkingConfig>,
    ) -> Result<BTreeMap<String, Endpoint>, ApiError> {
        let mut out = BTreeMap::new();
        let mode = h.network_mode.as_deref().unwrap_or("");
        match mode_of(h) {
            Mode::Host | Mode::None => return Ok(out),
            Mode::Container(other) => {
                self.containers.resolve(&other).map_err(|_| {
                    ApiError::new(ErrorKind::NotFound, format!("No such container: {other}"))
                })?;
                return Ok(out);
            }
            Mode::Bridged => {}
        }
        let primary = if mode.is_empty() || mode == "default" {
            "bridge"
        } else {
            mode
        };
        // As dockerd: a missing network fails the start, not the create (a 404 on create
        // would make clients think the image is missing and pull it).
        let Ok(net) = self.networks.resolve(primary) else {
            out.insert(primary.to_string(), Endpoint::default());
            return Ok(out);
        };
        if net.driver != "bridge" {
            return Err(ApiError::invalid(format!(
                "container cannot be connected to network {}",
                net.name
            )));
        }
        let all = cfg.and_then(|c| c.endpoints_config.as_ref());
        let is_primary = |k: &str| k == mode || k == primary || k == net.name || k == net.id;
        let ec = all.and_then(|m| m.iter().find(|(k, _)| is_primary(k)).map(|(_, v)| v));
        out.insert(net.name.clone(), self.endpoint_from(&net, ec)?);
        // More networks at create (API ≥ 1.44, `--network a --network b`).
        for (k, v) in all.into_iter().flatten().filter(|(k, _)| !is_primary(k)) {
            let other = self.networks.resolve(k)?;
            if other.driver != "bridge" {
                return Err(ApiError::invalid(format!(
                    "container cannot be connected to network {}",
                    other.name
                )));
            }
            out.insert(other.name.clone(), self.endpoint_from(&other, Some(v))?);
        }
        Ok(out)
    }

    fn endpoint_from(
        &self,
        net: &Network,
        ec: Option<&bollard_stubs::models::EndpointSettings>,
    ) -> Result<Endpoint, ApiError> {
        let aliases = ec.and_then(|e| e.aliases.clone()).unwrap_or_default();
        let ipam = ec.and_then(|e| e.ipam_config.as_ref());
        let requested_ip = requested_address::<Ipv4Addr>(
            net,
            ipam.and_then(|i| i.ipv4_address.as_deref()),
            "IPv4",
            |ip| net.subnet().is_some_and(|sn| sn.contains(ip)),
        )?;
        let requested_ip6 = requested_address::<Ipv6Addr>(
            net,
            ipam.and_then(|i| i.ipv6_address.as_deref()),
            "IPv6",
            |ip| net.subnet6().is_some_and(|sn| sn.contains(ip)),
        )?;
        if !aliases.is_empty() && net.name == "bridge" {
            return Err(ApiError::invalid(
                "network-scoped alias is supported only for containers in user defined networks",
            ));
        }
        Ok(Endpoint {
            network_id: net.id.clone(),
            aliases,
            requested_ip,
            requested_ip6,
            ..Default::default()
        })
    }

    /// Gives each endpoint of `c` an address (recorded before use) and returns the record.
    pub fn allocate_addresses(&self, c: &Container) -> Result<Container, ApiError> {
        if c.endpoints.is_empty() {
            return Ok(c.clone());
        }
        let _g = self.networks.ipam.lock().unwrap_or_else(|p| p.into_inner());
        let all = self.containers.list();
        let mut assigned: BTreeMap<String, Endpoint> = BTreeMap::new();
        for (name, ep) in &c.endpoints {
            let net = self
                .networks
                .resolve(&ep.network_id)
                .or_else(|_| self.networks.resolve(name))
                .map_err(|_| {
                    ApiError::new(
                        ErrorKind::NotFound,
                        format!("failed to set up container networking: network {name} not found"),
                    )
                })?;
            let (Some(sn), Some(gw)) = (net.subnet(), net.gateway()) else {
                return Err(ApiError::internal(format!("network {name} has no subnet")));
            };
            let mut used: HashSet<Ipv4Addr> = all
                .iter()
                .filter(|o| o.id != c.id)
                .filter_map(|o| o.endpoints.values().find(|e| e.network_id == net.id))
                .filter_map(|e| e.ip.or(e.requested_ip))
                .collect();
            used.insert(gw);
            used.extend(
                assigned
                    .values()
                    .filter(|e| e.network_id == net.id)
                    .filter_map(|e| e.ip),
            );
            let ip = match ep.requested_ip {
                Some(ip) if used.contains(&ip) => {
                    return Err(ApiError::new(
                        ErrorKind::PermissionDenied,
                        format!("Address already in use: {ip}"),
                    ))
                }
                Some(ip) => ip,
                None => ipam::allocate(&sn, net.range().as_ref(), &used).ok_or_else(|| {
                    ApiError::new(
                        ErrorKind::PermissionDenied,
                        format!(
                            "no available IPv4 addresses on this network's address pools: {} ({})",
                            net.name, net.id
                        ),
                    )
                })?,
            };
            let mut e = ep.clone();
            if let (Some(sn6), Some(gw6)) = (net.subnet6(), net.gateway6()) {
                let mut used6: HashSet<Ipv6Addr> = all
                    .iter()
                    .filter(|o| o.id != c.id)
                    .filter_map(|o| o.endpoints.values().find(|e| e.network_id == net.id))
                    .filter_map(|e| e.ip6.or(e.requested_ip6))
                    .collect();
                used6.insert(gw6);
                used6.extend(
                    assigned
                        .values()
                        .filter(|e| e.network_id == net.id)
                        .filter_map(|e| e.ip6),
                );
                let ip6 = match ep.requested_ip6 {
                    Some(ip) if used6.contains(&ip) => {
                        return Err(ApiError::new(
                            ErrorKind::PermissionDenied,
                            format!("Address already in use: {ip}"),
                        ))
                    }
                    Some(ip) => ip,
                    None => ipv6::allocate6(&sn6, &used6).ok_or_else(|| {
                        ApiError::new(
                            ErrorKind::PermissionDenied,
                            format!(
                                "no available IPv6 addresses on this network's address pools: {} ({})",
                                net.name, net.id
                            ),
                        )
                    })?,
                };
                e.ip6 = Some(ip6);
                e.prefix6 = sn6.prefix;
                e.gateway6 = Some(gw6);
            }
            e.ip = Some(ip);
            e.prefix = sn.prefix;
            e.gateway = Some(gw);
            e.mac = ipam::mac_string(&ipam::mac_for(ip));
            e.endpoint_id = wharf_types::id::random_id();
            assigned.insert(name.clone(), e);
        }
        self.containers.update(&c.id, |r| {
            for (k, v) in &assigned {
                r.endpoints.insert(k.clone(), v.clone());
            }
            r.clone()
        })
    }

    /// Forgets a stopped container's addresses and host ports (in its record).
    pub fn clear_addresses(&self, id: &str) -> bool {
        self.containers.update(id, clear_endpoints).unwrap_or(false)
    }

    /// After the container stopped: release and, if it published ports, update nftables.
    pub fn release_network(&self, id: &str) {
        if self.clear_addresses(id) {
            self.nft_changed();
        }
    }

    /// Rewrites the nftables table, logging a failure (nothing to undo).
    pub fn nft_changed(&self) {
        if let Err(e) = self.sync_nft() {
            tracing::warn!(error = %e, "nftables update failed");
        }
    }

    /// The host ports a container asks for, as its shim must bind them.
    pub fn port_requests(&self, c: &Container) -> Result<Vec<PublishedPort>, ApiError> {
        let mut out = Vec::new();
        let group = lb_group(c);
        if !matches!(mode_of(&c.host_config), Mode::Bridged) {
            return Ok(out);
        }
        let mut keys: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for (k, v) in c.host_config.port_bindings.iter().flatten() {
            let b = v
                .iter()
                .flatten()
                .map(|b| {
                    (
                        b.host_ip.clone().unwrap_or_default(),
                        b.host_port.clone().unwrap_or_default(),
                    )
                })
                .collect::<Vec<_>>();
            keys.push((
                k.clone(),
                if b.is_empty() {
                    vec![(String::new(), String::new())]
                } else {
                    b
                },
            ));
        }
        if c.host_config.publish_all_ports == Some(true) {
            for k in c.config.exposed_ports.iter().flatten() {
                if !keys.iter().any(|(kk, _)| kk == k) {
                    keys.push((k.clone(), vec![(String::new(), String::new())]));
                }
            }
        }
        for (key, binds) in keys {
            let (port, proto) = key.split_once('/').unwrap_or((&key, "tcp"));
            if proto == "sctp" {
                return Err(ApiError::invalid("sctp ports are not supported"));
            }
            let port: u16 = port
                .parse()
                .map_err(|_| ApiError::invalid(format!("invalid port specification: \"{key}\"")))?;
            for (hip, hport) in binds {
                if !hip.is_empty() && hip.parse::<Ipv4Addr>().is_err() {
                    if hip.contains(':') {
                        continue; // IPv6 host addresses: not published (IPv4 only for now)
                    }
                    return Err(ApiError::invalid(format!("invalid host IP address: {hip}")));
                }
                let host_port = if hport.is_empty() {
                    0
                } else {
                    hport
                        .split('-')
                        .next()
                        .unwrap_or("")
                        .parse::<u16>()
                        .map_err(|_| ApiError::invalid(format!("invalid hostPort: {hport}")))?
                };
                out.push(PublishedPort {
                    proto: proto.to_string(),
                    port,
                    host_ip: if hip.is_empty() {
                        "0.0.0.0".into()
                    } else {
                        hip
                    },
                    host_port,
                    shared: group.is_some() && host_port != 0,
                });
            }
        }
        if group.is_some() {
            self.check_shared_ports(c, &group, &out)?;
        }
        Ok(out)
    }

    /// Shared ports are bound with SO_REUSEPORT, which the kernel grants any other root socket
    /// asking the same: so the daemon itself refuses a port a container outside the group holds.
    fn check_shared_ports(
        &self,
        c: &Container,
        group: &Option<String>,
        want: &[PublishedPort],
    ) -> Result<(), ApiError> {
        let overlaps = |a: &str, b: &str| a == b || a == "0.0.0.0" || b == "0.0.0.0";
        for other in self.containers.list() {
            if other.id == c.id || other.ports.is_empty() || lb_group(&other) == *group {
                continue;
            }
            for p in want.iter().filter(|p| p.shared) {
                if other.ports.iter().any(|q| {
                    q.proto == p.proto
                        && q.host_port == p.host_port
                        && overlaps(&q.host_ip, &p.host_ip)
                }) {
                    return Err(ApiError::invalid(format!(
                        "Bind for {}:{} failed: port is already allocated",
                        p.host_ip, p.host_port
                    )));
                }
            }
        }
        Ok(())
    }

    /// After a change of state that decides whether `c` serves its shared ports (pause).
    pub async fn shared_ports_changed(self: &Arc<Self>, c: &Container) {
        if c.ports.iter().any(|p| p.shared) {
            let d = self.clone();
            let _ = tokio::task::spawn_blocking(move || d.nft_changed()).await;
        }
    }

    /// Takes a container out of (or back into) its load-balancing groups; true if that
    /// changed the forwarding (the caller then waits for it: nftables is rewritten here).
    pub fn set_draining(&self, id: &str, on: bool) -> bool {
        let changed = {
            let mut d = self
                .networks
                .draining
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if on {
                d.insert(id.to_string())
            } else {
                d.remove(id)
            }
        };
        let shared = self
            .containers
            .resolve(id)
            .is_ok_and(|c| c.ports.iter().any(|p| p.shared));
        if changed && shared {
            self.nft_changed();
        }
        changed && shared
    }

    /// Plugs a created container (its init is `pid`) into its networks; returns the
    /// interface each network got (to record with the running state).
    pub fn attach_endpoints(
        &self,
        c: &Container,
        pid: i64,
    ) -> Result<Vec<(String, String)>, ApiError> {
        let mut ifnames = Vec::new();
        if c.endpoints.is_empty() {
            return Ok(Vec::new());
        }
        // Another firewall may have started dropping forwarded traffic since our last look.
        self.networks.fw_kick.notify_one();
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
            .map_err(|e| ApiError::internal(format!("the container's network namespace: {e}")))?;
        let primary = self.primary_network(c);
        let mut names: Vec<&String> = c.endpoints.keys().collect();
        names.sort_by_key(|n| (Some(*n) != primary.as_ref(), *n));
        for (i, name) in names.into_iter().enumerate() {
            let e = &c.endpoints[name];
            let net = self.networks.resolve(&e.network_id)?;
            let ip =
                e.ip.ok_or_else(|| ApiError::internal("endpoint without an address"))?;
            let ep = netlink::Endpoint {
                host_veth: netlink::veth_name(&c.id, &net.id),
                ifname: format!("eth{i}"),
                mac: ipam::mac_for(ip),
                ip,
                prefix: e.prefix,
                gateway: if i == 0 && !net.internal {
                    e.gateway
                } else {
                    None
                },
                ip6: e.ip6.map(|a| (a, e.prefix6)),
                gateway6: if i == 0 && !net.internal {
                    e.gateway6
                } else {
                    None
                },
                bridge: net.bridge.clone(),
            };
            netlink::attach(ns.as_fd(), &ep).map_err(|err| {
                ApiError::internal(format!(
                    "failed to set up container networking: network {}: {err}",
                    net.name
                ))
            })?;
            ifnames.push((name.clone(), ep.ifname));
        }
        Ok(ifnames)
    }

    /// The network named by `NetworkMode` (or `bridge`), if the container is on it.
    pub fn primary_network(&self, c: &Container) -> Option<String> {
        let m = c.host_config.network_mode.as_deref().unwrap_or("");
        let m = if m.is_empty() || m == "default" {
            "bridge"
        } else {
            m
        };
        if c.endpoints.contains_key(m) {
            return Some(m.to_string());
        }
        let n = self.networks.resolve(m).ok()?;
        c.endpoints.contains_key(&n.name).then_some(n.name)
    }

    /// Rewrites our nftables table from the networks and the running containers' ports.
    pub fn sync_nft(&self) -> std::io::Result<()> {
        let _g = self.networks.nft.lock().unwrap_or_else(|p| p.into_inner());
        let bridges: Vec<nft::Bridge> = self
            .networks
            .list()
            .into_iter()
            .filter(|n| n.driver == "bridge")
            .filter_map(|n| {
                Some(nft::Bridge {
                    subnet: n.subnet()?,
                    name: n.bridge.clone(),
                    internal: n.internal,
                })
            })
            .collect();
        let draining = self
            .networks
            .draining
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut ports = Vec::new();
        // (proto, host ip, host port) → (preference tier, container ip, container port)
        let mut groups: BTreeMap<PortKey, Vec<(u8, Ipv4Addr, u16)>> = BTreeMap::new();
        for c in self.containers.list() {
            if !c.state.status.is_live() && c.ports.is_empty() {
                continue;
            }
            let Some(primary) = self.primary_network(&c) else {
                continue;
            };
            let Some(ip) = c.endpoints.get(&primary).and_then(|e| e.ip) else {
                continue;
            };
            // A replica takes new connections while running and not on its way out: first
            // choice those that are healthy (or have no health check); while none is, those
            // still starting (a fresh `up` answers at once); never an unhealthy one.
            let health = c.state.health.as_ref().map(|h| h.status.as_str());
            let tier = if c.state.status == crate::container::store::Status::Paused
                || draining.contains(&c.id)
            {
                None
            } else if !crate::container::health::has_probe(&c) || health == Some("healthy") {
                Some(0)
            } else if health.is_none() || health == Some("starting") {
                Some(1)
            } else {
                None
            };
            for p in &c.ports {
                let host_ip = p
                    .host_ip
                    .parse()
                    .ok()
                    .filter(|a: &Ipv4Addr| !a.is_unspecified());
                if p.shared {
                    let g = groups
                        .entry((p.proto.clone(), host_ip, p.host_port))
                        .or_default();
                    if let Some(t) = tier {
                        g.push((t, ip, p.port));
                    }
                    continue;
                }
                ports.push(nft::PortMap {
                    proto: p.proto.clone(),
                    host_ip,
                    host_port: p.host_port,
                    ip,
                    port: p.port,
                });
            }
        }
        let groups = groups
            .into_iter()
            .map(|((proto, host_ip, host_port), members)| {
                let best = members.iter().map(|m| m.0).min().unwrap_or(0);
                let mut backends: Vec<(Ipv4Addr, u16)> = members
                    .into_iter()
                    .filter(|m| m.0 == best)
                    .map(|m| (m.1, m.2))
                    .collect();
                backends.sort();
                nft::PortGroup {
                    proto,
                    host_ip,
                    host_port,
                    backends,
                }
            })
            .collect();
        self.sync_nft6();
        let names: Vec<String> = bridges.iter().map(|b| b.name.clone()).collect();
        nft::apply(&nft::Ruleset {
            table: self.networks.table.clone(),
            data_root: self.data_root.to_string_lossy().into_owned(),
            bridges,
            ports,
            groups,
        })?;
        self.sync_forward_accept(&names);
        Ok(())
    }

    /// The IPv6 table and the `[::1]` proxies, from the `--ipv6` networks and the published
    /// ports of containers that have an IPv6 address there (failures are logged: IPv4 goes on).
    fn sync_nft6(&self) {
        use std::sync::atomic::Ordering;
        let bridges: Vec<nft6::Bridge6> = self
            .networks
            .list()
            .into_iter()
            .filter(|n| n.driver == "bridge")
            .filter_map(|n| {
                Some(nft6::Bridge6 {
                    subnet: n.subnet6()?,
                    name: n.bridge.clone(),
                    internal: n.internal,
                })
            })
            .collect();
        let mut ports = Vec::new();
        if !bridges.is_empty() {
            for c in self.containers.list() {
                // As for IPv4: ports are recorded (shim bound them) before the start ends.
                if !c.state.status.is_live() && c.ports.is_empty() {
                    continue;
                }
                let Some(primary) = self.primary_network(&c) else {
                    continue;
                };
                let Some(ip) = c.endpoints.get(&primary).and_then(|e| e.ip6) else {
                    continue;
                };
                // As docker: a port published on all addresses (`-p 8080:80`) is published
                // on IPv6 too; one bound to an IPv4 address is not.
                for p in c.ports.iter().filter(|p| published_on_v6(p)) {
                    ports.push(nft6::PortMap6 {
                        proto: p.proto.clone(),
                        host_port: p.host_port,
                        ip,
                        port: p.port,
                    });
                }
            }
        }
        let want = !bridges.is_empty();
        if want || self.networks.v6_table.load(Ordering::Relaxed) {
            match nft6::apply(&nft6::Ruleset6 {
                table: self.networks.table.clone(),
                bridges,
                ports: ports.clone(),
            }) {
                Ok(()) => self.networks.v6_table.store(want, Ordering::Relaxed),
                Err(e) => tracing::warn!(error = %e, "nftables (IPv6) update failed"),
            }
        }
        self.sync_loopback6(&ports);
    }

    /// Starts and stops the `[::1]:host port` proxies (TCP) to match `ports`.
    fn sync_loopback6(&self, ports: &[nft6::PortMap6]) {
        let want: HashMap<u16, SocketAddr> = ports
            .iter()
            .filter(|p| p.proto == "tcp")
            .map(|p| (p.host_port, SocketAddr::new(IpAddr::V6(p.ip), p.port)))
            .collect();
        let mut running = self
            .networks
            .loopback6
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        running.retain(|port, (target, task)| {
            let keep = want.get(port) == Some(target) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        for (port, target) in want {
            if running.contains_key(&port) {
                continue;
            }
            let listener = match std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, port))
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
            {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(port, error = %e, "published port not served on [::1]");
                    continue;
                }
            };
            let task = handle.spawn(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                while let Ok((mut inbound, _)) = listener.accept().await {
                    tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                            let _ = inbound.set_nodelay(true);
                            let _ = outbound.set_nodelay(true);
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                }
            });
            running.insert(port, (target, task));
        }
    }

    /// Our accept rules in another firewall's FORWARD chain (dockerd's policy DROP), in step
    /// with our bridges; a failure is logged and retried by the next check.
    fn sync_forward_accept(&self, bridges: &[String]) {
        match wharf_net::filter::sync(&self.networks.table, bridges) {
            Ok(true) => tracing::info!(
                table = self.networks.table,
                "accept rules for our bridges updated in ip filter FORWARD"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "ip filter FORWARD accept rules not updated"),
        }
    }

    /// The bridges of our networks, by link name.
    fn bridge_names(&self) -> Vec<String> {
        self.networks
            .list()
            .into_iter()
            .filter(|n| n.driver == "bridge" && n.subnet.is_some())
            .map(|n| n.bridge)
            .collect()
    }

    /// Re-checks the FORWARD accept rules every 5 s and when a container starts (at most once
    /// a second):
    /// dockerd may start (setting policy DROP), restart or flush its chains after we did.
    fn watch_forward_policy(self: &Arc<Self>) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Weak<Daemon> = Arc::downgrade(self);
        handle.spawn(async move {
            loop {
                let Some(d) = weak.upgrade() else { return };
                let kicked = d.networks.fw_kick.notified();
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), kicked).await;
                let _ = tokio::task::spawn_blocking(move || {
                    let _g = d.networks.nft.lock().unwrap_or_else(|p| p.into_inner());
                    let names = d.bridge_names();
                    d.sync_forward_accept(&names);
                })
                .await;
                // At most one check a second however fast containers start (two `nft` runs,
                // ~6 ms of CPU, kept off a busy `run --rm` loop).
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
    }

    /// Answers names on network `n` at its gateway, port 53.
    fn start_dns(self: &Arc<Self>, n: &Network) {
        let Some(gw) = n.gateway() else { return };
        let mut servers = self.networks.dns.lock().unwrap_or_else(|p| p.into_inner());
        if servers.contains_key(&n.id) {
            return;
        }
        let std_sock = match bind_dns(gw) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(network = n.name, error = %e, "DNS server not started");
                return;
            }
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let _enter = handle.enter();
        let Ok(sock) = tokio::net::UdpSocket::from_std(std_sock) else {
            return;
        };
        let weak: Weak<Daemon> = Arc::downgrade(self);
        let net_id = n.id.clone();
        let lookup: dns::Lookup = Arc::new(move |name: &str| {
            let d = weak.upgrade()?;
            d.lookup_name(&net_id, name)
        });
        let upstreams = dns::upstreams_from_resolv_conf(
            &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        );
        // A container's `--dns` servers get its names from outside (as dockerd's resolver).
        let weak: Weak<Daemon> = Arc::downgrade(self);
        let net_id = n.id.clone();
        let per_client: dns::UpstreamsFor = Arc::new(move |ip| {
            let d = weak.upgrade()?;
            d.own_nameservers(&net_id, ip)
        });
        servers.insert(
            n.id.clone(),
            tokio::spawn(dns::serve_with(sock, lookup, upstreams, per_client)),
        );
    }

    /// The `--dns` servers of the container at `ip` on network `net_id`, if it has any.
    pub fn own_nameservers(&self, net_id: &str, ip: std::net::IpAddr) -> Option<Vec<SocketAddr>> {
        let c = self.containers.list().into_iter().find(|c| {
            c.endpoints.values().any(|e| {
                e.network_id == net_id
                    && match ip {
                        IpAddr::V4(v4) => e.ip == Some(v4),
                        IpAddr::V6(v6) => e.ip6 == Some(v6),
                    }
            })
        })?;
        let servers: Vec<SocketAddr> = c
            .host_config
            .dns
            .iter()
            .flatten()
            .filter_map(|s| s.parse::<std::net::IpAddr>().ok())
            .map(|a| SocketAddr::new(a, 53))
            .collect();
        (!servers.is_empty()).then_some(servers)
    }

    /// The addresses `name` has on network `net_id`: running containers by name, short or
    /// full id, hostname-less aliases.
    pub fn lookup_name(&self, net_id: &str, name: &str) -> Option<Vec<IpAddr>> {
        let mut out = Vec::new();
        for c in self.containers.list() {
            if c.state.status != Status::Running && c.state.status != Status::Paused {
                continue;
            }
            let Some(e) = c.endpoints.values().find(|e| e.network_id == net_id) else {
                continue;
            };
            let Some(ip) = e.ip else { continue };
            let hit = c.name.eq_ignore_ascii_case(name)
                || (name.len() >= 12 && c.id.starts_with(name))
                || e.aliases.iter().any(|a| a.eq_ignore_ascii_case(name));
            if hit {
                out.push(IpAddr::V4(ip));
                out.extend(e.ip6.map(IpAddr::V6));
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// `DELETE /networks/{id}`.
    pub fn remove_network(&self, key: &str) -> Result<(), ApiError> {
        let n = self.networks.resolve(key)?;
        if n.predefined() {
            return Err(ApiError::new(
                ErrorKind::PermissionDenied,
                format!("{} is a pre-defined network and cannot be removed", n.name),
            ));
        }
        let users: Vec<Container> = self
            .containers
            .list()
            .into_iter()
            .filter(|c| {
                c.state.status.is_live() && c.endpoints.values().any(|e| e.network_id == n.id)
            })
            .collect();
        if let Some(c) = users.first() {
            return Err(ApiError::new(
                ErrorKind::PermissionDenied,
                format!(
                    "error while removing network: network {} has active endpoints (name:\"{}\" id:\"{}\")",
                    n.name,
                    c.name,
                    &c.id[..12]
                ),
            ));
        }
        if let Some(t) = self
            .networks
            .dns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&n.id)
        {
            t.abort();
        }
        self.networks.unpersist(&n.id)?;
        self.networks.lock().remove(&n.id);
        // Stopped containers forget it, as in docker.
        for c in self.containers.list() {
            if let Some(k) = c
                .endpoints
                .iter()
                .find(|(_, e)| e.network_id == n.id)
                .map(|(k, _)| k.clone())
            {
                let _ = self.containers.update(&c.id, |r| r.endpoints.remove(&k));
            }
        }
        if n.driver == "bridge" {
            if let Ok(mut h) = netlink::Handle::new() {
                if let Err(e) = h.delete_link(&n.bridge) {
                    tracing::warn!(bridge = n.bridge, error = %e, "failed to delete the bridge");
                }
            }
        }
        if let Err(e) = self.sync_nft() {
            tracing::warn!(error = %e, "nftables update failed");
        }
        Ok(())
    }

    /// `POST /networks/{id}/connect`.
    pub fn connect(
        &self,
        key: &str,
        container: &str,
        ec: Option<&bollard_stubs::models::EndpointSettings>,
    ) -> Result<(), ApiError> {
        let n = self.networks.resolve(key)?;
        let c = self.containers.resolve(container)?;
        if n.driver != "bridge" {
            return Err(ApiError::new(
                ErrorKind::PermissionDenied,
                "container cannot be disconnected from host network or connected to host network",
            ));
        }
        if !matches!(mode_of(&c.host_config), Mode::Bridged) {
            return Err(ApiError::new(
                ErrorKind::PermissionDenied,
                "container sharing network namespace with another container or host cannot be connected to any other network",
            ));
        }
        if c.endpoints.values().any(|e| e.network_id == n.id) {
            return Err(ApiError::new(
                ErrorKind::PermissionDenied,
                format!(
                    "endpoint with name {} already exists in network {}",
                    c.name, n.name
                ),
            ));
        }
        let ep = self.endpoint_from(&n, ec)?;
        let c = self.containers.update(&c.id, |r| {
            r.endpoints.insert(n.name.clone(), ep.clone());
            r.clone()
        })?;
        if c.state.status.is_live() {
            let mut one = c.clone();
            one.endpoints = BTreeMap::from([(n.name.clone(), ep)]);
            let allocated = self.allocate_addresses(&one).inspect_err(|_| {
                let _ = self
                    .containers
                    .update(&c.id, |r| r.endpoints.remove(&n.name));
            })?;
            let mut plug = allocated.clone();
            plug.endpoints.retain(|k, _| *k == n.name);
            let taken: HashSet<&str> = c.endpoints.values().map(|e| e.ifname.as_str()).collect();
            let ifname = (0..)
                .map(|i| format!("eth{i}"))
                .find(|n| !taken.contains(n.as_str()))
                .unwrap_or_default();
            let e = &plug.endpoints[&n.name];
            let ns = std::fs::File::open(format!("/proc/{}/ns/net", c.state.pid)).map_err(|e| {
                ApiError::internal(format!("the container's network namespace: {e}"))
            })?;
            let ip = e.ip.ok_or_else(|| ApiError::internal("no address"))?;
            netlink::attach(
                ns.as_fd(),
                &netlink::Endpoint {
                    host_veth: netlink::veth_name(&c.id, &n.id),
                    ifname: ifname.clone(),
                    mac: ipam::mac_for(ip),
                    ip,
                    prefix: e.prefix,
                    gateway: None,
                    ip6: e.ip6.map(|a| (a, e.prefix6)),
                    gateway6: None,
                    bridge: n.bridge.clone(),
                },
            )
            .map_err(|err| {
                let _ = self
                    .containers
                    .update(&c.id, |r| r.endpoints.remove(&n.name));
                ApiError::internal(format!("failed to connect to network {}: {err}", n.name))
            })?;
            let name = n.name.clone();
            self.containers.update(&c.id, |r| {
                if let Some(e) = r.endpoints.get_mut(&name) {
                    e.ifname = ifname;
                }
            })?;
        }
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub fn disconnect(&self, key: &str, container: &str, force: bool) -> Result<(), ApiError> {
        let n = self.networks.resolve(key);
        let c = self.containers.resolve(container)?;
        let n = match n {
            Ok(n) => n,
            Err(e) if force => {
                let _ = self.containers.update(&c.id, |r| r.endpoints.remove(key));
                return if c.endpoints.contains_key(key) {
                    Ok(())
                } else {
                    Err(e)
                };
            }
            Err(e) => return Err(e),
        };
        let Some((name, e)) = c.endpoints.iter().find(|(_, e)| e.network_id == n.id) else {
            return Err(ApiError::new(
                ErrorKind::PermissionDenied,
                format!("container {} is not connected to network {}", c.id, n.name),
            ));
        };
        if c.state.status.is_live() && e.ip.is_some() && !e.ifname.is_empty() {
            if let Ok(ns) = std::fs::File::open(format!("/proc/{}/ns/net", c.state.pid)) {
                let _ = netlink::detach(ns.as_fd(), &e.ifname);
            }
        }
        let name = name.clone();
        self.containers
            .update(&c.id, |r| r.endpoints.remove(&name))?;
        if !c.ports.is_empty() {
            let _ = self.sync_nft();
        }
        Ok(())
    }

    /// Docker's JSON for a network (`GET /networks/{id}`).
    pub fn network_json(&self, n: &Network) -> Value {
        let mut containers = serde_json::Map::new();
        for c in self.containers.list() {
            if !c.state.status.is_live() {
                continue;
            }
            if let Some(e) = c.endpoints.values().find(|e| e.network_id == n.id) {
                if let Some(ip) = e.ip {
                    containers.insert(
                        c.id.clone(),
                        json!({
                            "Name": c.name,
                            "EndpointID": e.endpoint_id,
                            "MacAddress": e.mac,
                            "IPv4Address": format!("{ip}/{}", e.prefix),
                            "IPv6Address": e.ip6.map(|a| format!("{a}/{}", e.prefix6)).unwrap_or_default(),
                        }),
                    );
                }
            }
        }
        let config = match (&n.subnet, &n.gateway) {
            (Some(s), Some(g)) => {
                let mut c = json!({"Subnet": s, "Gateway": g});
                if let Some(r) = &n.ip_range {
                    c["IPRange"] = json!(r);
                }
                let mut v = vec![c];
                if let (Some(s6), Some(g6)) = (&n.subnet6, &n.gateway6) {
                    v.push(json!({"Subnet": s6, "Gateway": g6}));
                }
                json!(v)
            }
            _ => json!([]),
        };
        json!({
            "Name": n.name,
            "Id": n.id,
            "Created": n.created,
            "Scope": "local",
            "Driver": n.driver,
            "EnableIPv4": true,
            "EnableIPv6": n.enable_ipv6,
            "IPAM": { "Driver": "default", "Options": null, "Config": config },
            "Internal": n.internal,
            "Attachable": n.attachable,
            "Ingress": false,
            "ConfigFrom": { "Network": "" },
            "ConfigOnly": false,
            "Containers": containers,
            "Options": n.options,
            "Labels": n.labels,
        })
    }

    /// `NetworkSettings` of a container, docker's shape.
    pub fn network_settings(&self, c: &Container) -> Value {
        let mut nets = serde_json::Map::new();
        for (name, e) in &c.endpoints {
            nets.insert(
                name.clone(),
                json!({
                    "IPAMConfig": if e.requested_ip.is_some() || e.requested_ip6.is_some() {
                        let mut m = serde_json::Map::new();
                        if let Some(ip) = e.requested_ip {
                            m.insert("IPv4Address".into(), json!(ip.to_string()));
                        }
                        if let Some(ip) = e.requested_ip6 {
                            m.insert("IPv6Address".into(), json!(ip.to_string()));
                        }
                        Value::Object(m)
                    } else { Value::Null },
                    "Links": null,
                    "Aliases": if e.aliases.is_empty() { Value::Null } else { json!(e.aliases) },
                    "MacAddress": e.mac,
                    "DriverOpts": null,
                    "GwPriority": 0,
                    "NetworkID": e.network_id,
                    "EndpointID": e.endpoint_id,
                    "Gateway": e.gateway.map(|g| g.to_string()).unwrap_or_default(),
                    "IPAddress": e.ip.map(|g| g.to_string()).unwrap_or_default(),
                    "IPPrefixLen": e.prefix,
                    "IPv6Gateway": e.gateway6.map(|g| g.to_string()).unwrap_or_default(),
                    "GlobalIPv6Address": e.ip6.map(|g| g.to_string()).unwrap_or_default(),
                    "GlobalIPv6PrefixLen": e.prefix6,
                    "DNSNames": if e.ip.is_some() && name != "bridge" {
                        let mut v = vec![c.name.clone(), c.id[..12].to_string()];
                        v.extend(e.aliases.iter().cloned());
                        json!(v)
                    } else { Value::Null },
                }),
            );
        }
        if matches!(mode_of(&c.host_config), Mode::Host) {
            nets.insert("host".into(), json!({"NetworkID": self.networks.resolve("host").map(|n| n.id).unwrap_or_default()}));
        }
        if matches!(mode_of(&c.host_config), Mode::None) {
            nets.insert("none".into(), json!({"NetworkID": self.networks.resolve("none").map(|n| n.id).unwrap_or_default()}));
        }
        let mut ports = serde_json::Map::new();
        let v6 = self.has_ipv6(c);
        if c.state.status.is_live() {
            for k in c.config.exposed_ports.iter().flatten() {
                ports.insert(k.clone(), Value::Null);
            }
            for p in &c.ports {
                let key = format!("{}/{}", p.port, p.proto);
                let entry = ports.entry(key).or_insert(json!([]));
                if !entry.is_array() {
                    *entry = json!([]);
                }
                if let Some(a) = entry.as_array_mut() {
                    a.push(json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}));
                    if v6 && published_on_v6(p) {
                        a.push(json!({"HostIp": "::", "HostPort": p.host_port.to_string()}));
                    }
                }
            }
        }
        let bridge = c.endpoints.get("bridge");
        json!({
            "Bridge": "",
            "SandboxID": if c.state.status.is_live() { c.id.clone() } else { String::new() },
            "SandboxKey": if c.state.status.is_live() { format!("/proc/{}/ns/net", c.state.pid) } else { String::new() },
            "Ports": ports,
            "HairpinMode": false,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "SecondaryIPAddresses": null,
            "SecondaryIPv6Addresses": null,
            "EndpointID": bridge.map(|e| e.endpoint_id.clone()).unwrap_or_default(),
            "Gateway": bridge.and_then(|e| e.gateway).map(|g| g.to_string()).unwrap_or_default(),
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": bridge.and_then(|e| e.ip).map(|g| g.to_string()).unwrap_or_default(),
            "IPPrefixLen": bridge.map(|e| e.prefix).unwrap_or(0),
            "IPv6Gateway": "",
            "MacAddress": bridge.map(|e| e.mac.clone()).unwrap_or_default(),
            "Networks": nets,
        })
    }

    /// Whether the container's primary network gave it an IPv6 address (its ports that are
    /// published on all addresses are then published on IPv6 too, listed with `HostIp` `::`).
    fn has_ipv6(&self, c: &Container) -> bool {
        self.primary_network(c)
            .and_then(|n| c.endpoints.get(&n))
            .is_some_and(|e| e.ip6.is_some())
    }

    /// The `Ports` of `GET /containers/json`: published ones, then exposed-only ones.
    pub fn list_ports(&self, c: &Container) -> Value {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        if c.state.status.is_live() {
            let v6 = self.has_ipv6(c);
            for p in &c.ports {
                seen.insert(format!("{}/{}", p.port, p.proto));
                out.push(json!({"IP": p.host_ip, "PrivatePort": p.port, "PublicPort": p.host_port, "Type": p.proto}));
                if v6 && published_on_v6(p) {
                    out.push(json!({"IP": "::", "PrivatePort": p.port, "PublicPort": p.host_port, "Type": p.proto}));
                }
            }
        }
        for k in c.config.exposed_ports.iter().flatten() {
            if seen.contains(k) {
                continue;
            }
            let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
            if let Ok(port) = port.parse::<u16>() {
                out.push(json!({"PrivatePort": port, "Type": proto}));
            }
        }
        Value::Array(out)
    }
}

/// A published port that the IPv6 table forwards too (see `sync_nft6`): on all addresses,
/// not shared by replicas.
fn published_on_v6(p: &PublishedPort) -> bool {
    !p.shared
        && p.host_ip
            .parse::<Ipv4Addr>()
            .map_or(p.host_ip.is_empty(), |a| a.is_unspecified())
}

/// Clears the addresses, interfaces and host ports of a stopped container's record; true if
/// it had published ports (so nftables must change).
pub fn clear_endpoints(c: &mut Container) -> bool {
    let had_ports = !c.ports.is_empty();
    c.ports.clear();
    for e in c.endpoints.values_mut() {
        e.ip = None;
        e.gateway = None;
        e.prefix = 0;
        e.ip6 = None;
        e.gateway6 = None;
        e.prefix6 = 0;
        e.mac.clear();
        e.endpoint_id.clear();
        e.ifname.clear();
    }
    had_ports
}

/// A UDP socket on `gw:53` that may be bound before the address is up (IP_FREEBIND).
fn bind_dns(gw: Ipv4Addr) -> std::io::Result<std::net::UdpSocket> {
    use rustix::net::{sockopt, AddressFamily, SocketType};
    let fd = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        rustix::net::SocketFlags::CLOEXEC | rustix::net::SocketFlags::NONBLOCK,
        None,
    )?;
    sockopt::set_ip_freebind(&fd, true)?;
    rustix::net::bind(&fd, &SocketAddr::from((gw, 53)))?;
    Ok(std::net::UdpSocket::from(fd))
}

/// Removes what daemons whose data root is gone left on this host: their nftables table, its
/// accept rules in `ip filter` and their default bridge (a test or benchmark daemon killed
/// before its clean-up, or cleaned up by someone who did not know its objects). A table
/// without a data-root comment (older daemons) is left alone.
fn sweep_orphans() {
    let _host = host_lock();
    let Ok(tables) = nft::our_tables() else {
        return;
    };
    for t in tables {
        let Ok(Some(root)) = nft::owner_root(&t) else {
            continue;
        };
        if std::path::Path::new(&root).exists() {
            continue;
        }
        tracing::info!(
            table = t,
            data_root = root,
            "removing an orphaned table and bridge"
        );
        let _ = wharf_net::filter::remove(&t);
        let _ = nft6::delete_table6(&t);
        if let Err(e) = nft::delete_table(&t) {
            tracing::warn!(table = t, error = %e, "failed to remove an orphaned table");
        }
        if let Some(tag) = t.strip_prefix("wharf_") {
            let bridge = format!("wh{}", &tag[..8.min(tag.len())]);
            if let Ok(mut h) = netlink::Handle::new() {
                let _ = h.delete_link(&bridge);
            }
        }
    }
}

/// An address asked for with `--ip`/`--ip6` (`IPAMConfig`): parsed, allowed only on
/// user-defined networks and inside the network's subnet of that family, with docker's messages.
fn requested_address<A>(
    net: &Network,
    given: Option<&str>,
    family: &str,
    in_subnet: impl Fn(A) -> bool,
) -> Result<Option<A>, ApiError>
where
    A: std::str::FromStr + std::fmt::Display + Copy,
{
    let Some(s) = given.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let ip: A = s
        .parse()
        .map_err(|_| ApiError::invalid(format!("invalid {family} address: {s}")))?;
    if net.name == "bridge" {
        return Err(ApiError::invalid(
            "user specified IP address is supported on user defined networks only",
        ));
    }
    if !in_subnet(ip) {
        return Err(ApiError::invalid(format!(
            "no configured subnet or ip-range contain the IP address {ip}"
        )));
    }
    Ok(Some(ip))
}
