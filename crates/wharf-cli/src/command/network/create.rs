//! `wharf network create`: `POST /networks/create` with the body docker/cli's `runCreate`
//! sends (moby's `network.CreateRequest`), then prints the new network's `Id`. The IPAM
//! configuration is validated and grouped per subnet on the client as docker's
//! `createIPAMConfig` does (every `--ip-range`, `--gateway` and `--aux-address` must fall in
//! one `--subnet`; subnets must not overlap).

use std::collections::BTreeMap;
use std::net::IpAddr;

use hyper::Method;
use serde_json::{json, Map, Value};

use crate::client::Body;
use crate::command::{str_field, Ctx};
use crate::error::CliError;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Enable manual container attachment
    #[arg(long = "attachable")]
    pub attachable: bool,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address", value_name = "map")]
    pub aux_address: Vec<String>,
    /// The network from which to copy the configuration
    #[arg(long = "config-from", value_name = "string")]
    pub config_from: Option<String>,
    /// Create a configuration only network
    #[arg(long = "config-only")]
    pub config_only: bool,
    /// Driver to manage the Network
    #[arg(
        short = 'd',
        long = "driver",
        value_name = "string",
        default_value = "bridge"
    )]
    pub driver: String,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long = "gateway", value_name = "strings", value_delimiter = ',')]
    pub gateway: Vec<String>,
    /// Create swarm routing-mesh network
    #[arg(long = "ingress")]
    pub ingress: bool,
    /// Restrict external access to the network
    #[arg(long = "internal")]
    pub internal: bool,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_name = "strings", value_delimiter = ',')]
    pub ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", value_name = "string", default_value = "default")]
    pub ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt", value_name = "map")]
    pub ipam_opt: Vec<String>,
    /// Enable or disable IPv4 address assignment
    #[arg(
        long = "ipv4",
        value_name = "bool",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub ipv4: Option<bool>,
    /// Enable or disable IPv6 address assignment
    #[arg(
        long = "ipv6",
        value_name = "bool",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub ipv6: Option<bool>,
    /// Set metadata on a network
    #[arg(long = "label", short_alias = 'l', value_name = "list")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    /// Control the network's scope
    #[arg(long = "scope", value_name = "string")]
    pub scope: Option<String>,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long = "subnet", value_name = "strings", value_delimiter = ',')]
    pub subnet: Vec<String>,
    #[arg(value_name = "NETWORK")]
    pub name: String,
}

/// Go's `strconv.ParseBool`, for `--ipv4=false` and friends.
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing \"{s}\": invalid syntax"
        )),
    }
}

/// docker's `MapOpts`: `k=v` (a bare `k` maps to ""); later keys win.
fn kv_map(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (s.clone(), String::new()),
        })
        .collect()
}

/// docker's `--label` validation (`opts.ValidateLabel`), then `ConvertKVStringsToMap`.
fn labels(items: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    for l in items {
        let key = l.split_once('=').map(|(k, _)| k).unwrap_or(l);
        let key = key.trim_start_matches([' ', '\t', '\n', '\u{b}', '\u{c}', '\r']);
        let why = if key.is_empty() {
            format!("invalid label '{l}': empty name")
        } else if key.contains([' ', '\t', '\n', '\u{b}', '\u{c}', '\r']) {
            format!("label '{key}' contains whitespaces")
        } else {
            continue;
        };
        return Err(CliError::msg(format!(
            "invalid argument \"{l}\" for \"--label\" flag: {why}"
        )));
    }
    Ok(kv_map(items))
}

/// A parsed `addr/prefix` (Go's `net.ParseCIDR`, keeping the address as written).
#[derive(Debug, Clone, Copy)]
struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(s: &str) -> Result<Cidr, String> {
        let bad = || format!("invalid CIDR address: {s}");
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr {
            addr: unmap(addr),
            prefix,
        })
    }

    /// Go's `IPNet.Contains` (an IPv4 address is never inside an IPv6 network, and back).
    fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bytes: &[u8], prefix: u8) -> Vec<u8> {
            bytes
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let bits = (prefix as usize).saturating_sub(i * 8).min(8);
                    let mask = if bits == 0 { 0 } else { 0xffu8 << (8 - bits) };
                    b & mask
                })
                .collect()
        }
        match (self.addr, unmap(ip)) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                masked(&n.octets(), self.prefix) == masked(&i.octets(), self.prefix)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                masked(&n.octets(), self.prefix) == masked(&i.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

/// Go keeps IPv4-mapped IPv6 addresses as IPv4 (`IP.To4`).
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// docker's `subnetMatches`: is `data` (an address or a CIDR) inside `subnet`?
fn subnet_matches(subnet: &str, data: &str) -> Result<bool, CliError> {
    let s = Cidr::parse(subnet).map_err(|e| CliError::msg(format!("invalid subnet: {e}")))?;
    let ip = if data.contains('/') {
        Some(Cidr::parse(data).map_err(CliError::msg)?.addr)
    } else {
        data.parse::<IpAddr>().ok()
    };
    Ok(ip.is_some_and(|ip| s.contains(ip)))
}

/// One `IPAM.Config` entry being built (moby's `network.IPAMConfig`).
#[derive(Debug, Default)]
struct Pool {
    subnet: String,
    ip_range: String,
    gateway: String,
    aux: BTreeMap<String, String>,
}

/// docker's `createIPAMConfig`: the `IPAM` object, one `Config` entry per subnet (in the
/// order given; docker's own order comes from a Go map).
pub fn ipam_config(args: &Args) -> Result<Value, CliError> {
    let subnets = &args.subnet;
    if subnets.len() < args.ip_range.len() || subnets.len() < args.gateway.len() {
        return Err(CliError::msg(
            "every ip-range or gateway must have a corresponding subnet",
        ));
    }
    let mut pools: Vec<Pool> = Vec::new();
    for s in subnets {
        for k in &pools {
            if subnet_matches(s, &k.subnet)? || subnet_matches(&k.subnet, s)? {
                return Err(CliError::msg(
                    "multiple overlapping subnet configuration is not supported",
                ));
            }
        }
        pools.push(Pool {
            subnet: s.clone(),
            ..Default::default()
        });
    }
    for r in &args.ip_range {
        let mut matched = false;
        for p in pools.iter_mut() {
            Cidr::parse(r).map_err(CliError::msg)?;
            if !subnet_matches(&p.subnet, r)? {
                continue;
            }
            if !p.ip_range.is_empty() {
                return Err(CliError::msg(format!(
                    "cannot configure multiple ranges ({r}, {}) on the same subnet ({})",
                    p.ip_range, p.subnet
                )));
            }
            p.ip_range = r.clone();
            matched = true;
        }
        if !matched {
            return Err(CliError::msg(format!("no matching subnet for range {r}")));
        }
    }
    for g in &args.gateway {
        let mut matched = false;
        for p in pools.iter_mut() {
            if !subnet_matches(&p.subnet, g)? {
                continue;
            }
            if !p.gateway.is_empty() {
                return Err(CliError::msg(format!(
                    "cannot configure multiple gateways ({g}, {}) for the same subnet ({})",
                    p.gateway, p.subnet
                )));
            }
            p.gateway = g.clone();
            matched = true;
        }
        if !matched {
            return Err(CliError::msg(format!("no matching subnet for gateway {g}")));
        }
    }
    for (key, aa) in kv_map(&args.aux_address) {
        let mut matched = false;
        for p in pools.iter_mut() {
            if subnet_matches(&p.subnet, &aa)? {
                p.aux.insert(key.clone(), aa.clone());
                matched = true;
            }
        }
        if !matched {
            return Err(CliError::msg(format!(
                "no matching subnet for aux-address {aa}"
            )));
        }
    }
    // IPAMConfig's fields are all `omitempty`.
    let config: Vec<Value> = pools
        .into_iter()
        .map(|p| {
            let mut m = Map::new();
            for (k, v) in [
                ("Subnet", p.subnet),
                ("IPRange", p.ip_range),
                ("Gateway", p.gateway),
            ] {
                if !v.is_empty() {
                    m.insert(k.into(), Value::from(v));
                }
            }
            if !p.aux.is_empty() {
                m.insert("AuxiliaryAddresses".into(), json!(p.aux));
            }
            Value::Object(m)
        })
        .collect();
    Ok(json!({
        "Driver": args.ipam_driver,
        "Config": config,
        "Options": kv_map(&args.ipam_opt),
    }))
}

/// The request body docker sends (moby's `network.CreateRequest` as Go marshals it:
/// `EnableIPv4`/`EnableIPv6` only when the flag was given, `ConfigFrom` null unless set).
pub fn body(args: &Args) -> Result<Value, CliError> {
    let ipam = ipam_config(args)?;
    let labels = labels(&args.label)?;
    let mut b = json!({
        "Name": args.name,
        "Driver": args.driver,
        "Scope": args.scope.clone().unwrap_or_default(),
        "IPAM": ipam,
        "Internal": args.internal,
        "Attachable": args.attachable,
        "Ingress": args.ingress,
        "ConfigOnly": args.config_only,
        "ConfigFrom": args.config_from.as_ref().filter(|c| !c.is_empty()).map(|c| json!({"Network": c})),
        "Options": kv_map(&args.opt),
        "Labels": labels,
    });
    if let Some(m) = b.as_object_mut() {
        if let Some(v4) = args.ipv4 {
            m.insert("EnableIPv4".into(), Value::Bool(v4));
        }
        if let Some(v6) = args.ipv6 {
            m.insert("EnableIPv6".into(), Value::Bool(v6));
        }
    }
    Ok(b)
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let b = body(&args)?;
    let client = ctx.client().await?;
    let raw = client
        .call(
            Method::POST,
            "/networks/create",
            Body::Bytes(b.to_string().into(), "application/json"),
        )
        .await?;
    let v: Value = serde_json::from_slice(&raw).map_err(|e| CliError::Protocol(e.to_string()))?;
    crate::write_stdout(&format!("{}\n", str_field(&v, "Id")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: Args,
    }

    fn parse(args: &[&str]) -> Args {
        let mut v = vec!["create"];
        v.extend_from_slice(args);
        T::try_parse_from(v).unwrap().a
    }

    #[test]
    fn default_body_like_docker() {
        assert_eq!(
            body(&parse(&["n1"])).unwrap(),
            json!({
                "Name": "n1", "Driver": "bridge", "Scope": "",
                "IPAM": {"Driver": "default", "Config": [], "Options": {}},
                "Internal": false, "Attachable": false, "Ingress": false, "ConfigOnly": false,
                "ConfigFrom": null, "Options": {}, "Labels": {}
            })
        );
    }

    #[test]
    fn body_from_flags() {
        let a = parse(&[
            "-d",
            "bridge",
            "--subnet",
            "10.10.0.0/16",
            "--gateway",
            "10.10.0.1",
            "--ip-range",
            "10.10.5.0/24",
            "--internal",
            "--attachable",
            "--ipv6",
            "--label",
            "a=b",
            "-l",
            "c",
            "-o",
            "com.docker.network.bridge.name=br-x",
            "--aux-address",
            "host1=10.10.0.9",
            "net1",
        ]);
        assert_eq!(
            body(&a).unwrap(),
            json!({
                "Name": "net1", "Driver": "bridge", "Scope": "",
                "IPAM": {"Driver": "default", "Options": {}, "Config": [{
                    "Subnet": "10.10.0.0/16", "Gateway": "10.10.0.1", "IPRange": "10.10.5.0/24",
                    "AuxiliaryAddresses": {"host1": "10.10.0.9"}
                }]},
                "Internal": true, "Attachable": true, "Ingress": false, "ConfigOnly": false,
                "ConfigFrom": null, "EnableIPv6": true,
                "Options": {"com.docker.network.bridge.name": "br-x"},
                "Labels": {"a": "b", "c": ""}
            })
        );
        let b = body(&parse(&["--ipv4=false", "--ipv6=false", "n"])).unwrap();
        assert_eq!(
            (b["EnableIPv4"].clone(), b["EnableIPv6"].clone()),
            (json!(false), json!(false))
        );
        assert!(T::try_parse_from(["create", "--ipv6=maybe", "n"]).is_err());
    }

    #[test]
    fn subnets_split_and_pair_like_docker() {
        let a = parse(&[
            "--subnet",
            "172.28.0.0/16,fd00:1::/64",
            "--gateway",
            "fd00:1::1",
            "--gateway",
            "172.28.0.1",
            "n",
        ]);
        assert_eq!(
            ipam_config(&a).unwrap()["Config"],
            json!([
                {"Subnet": "172.28.0.0/16", "Gateway": "172.28.0.1"},
                {"Subnet": "fd00:1::/64", "Gateway": "fd00:1::1"}
            ])
        );
    }

    #[test]
    fn ipam_errors_like_docker() {
        let err = |args: &[&str]| body(&parse(args)).unwrap_err().to_string();
        assert_eq!(
            err(&["--gateway", "10.0.0.1", "n"]),
            "every ip-range or gateway must have a corresponding subnet"
        );
        assert_eq!(
            err(&["--subnet", "10.0.0.0/8", "--subnet", "10.1.0.0/16", "n"]),
            "multiple overlapping subnet configuration is not supported"
        );
        assert_eq!(
            err(&["--subnet", "10.0.0.0/24", "--gateway", "10.0.1.1", "n"]),
            "no matching subnet for gateway 10.0.1.1"
        );
        assert_eq!(
            err(&["--subnet", "10.0.0.0/24", "--ip-range", "10.0.1.0/28", "n"]),
            "no matching subnet for range 10.0.1.0/28"
        );
        assert_eq!(
            err(&["--subnet", "10.0.0.0/24", "--ip-range", "bogus", "n"]),
            "invalid CIDR address: bogus"
        );
        assert_eq!(
            err(&["--subnet", "nope", "--gateway", "10.0.0.1", "n"]),
            "invalid subnet: invalid CIDR address: nope"
        );
        assert_eq!(
            err(&["--label", "=x", "n"]),
            "invalid argument \"=x\" for \"--label\" flag: invalid label '=x': empty name"
        );
        // One subnet alone is not checked here: the daemon judges it.
        assert!(body(&parse(&["--subnet", "nope", "n"])).is_ok());
    }
}
