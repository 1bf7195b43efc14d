//! `wharf network …`: one file per verb, as docker/cli's `cli/command/network/`. Each verb is
//! one Engine API call on `/networks` (list, inspect, create, remove, prune, connect,
//! disconnect); [`Endpoint`] is the `EndpointSettings` object that `connect` and `run --network`
//! both send.

pub mod connect;
pub mod create;
pub mod disconnect;
pub mod inspect;
pub mod ls;
pub mod prune;
pub mod rm;

use std::collections::BTreeMap;

use clap::Subcommand;
use serde_json::{json, Value};

use super::Ctx;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
// Each subcommand's arguments are built only when it is the one parsed (CLI start time).
#[command(defer = true)]
pub enum NetworkCommand {
    /// Connect a container to a network
    #[command(override_usage = "wharf network connect [OPTIONS] NETWORK CONTAINER")]
    Connect(connect::Args),
    /// Create a network
    #[command(override_usage = "wharf network create [OPTIONS] NETWORK")]
    Create(create::Args),
    /// Disconnect a container from a network
    #[command(override_usage = "wharf network disconnect [OPTIONS] NETWORK CONTAINER")]
    Disconnect(disconnect::Args),
    /// Display detailed information on one or more networks
    #[command(override_usage = "wharf network inspect [OPTIONS] NETWORK [NETWORK...]")]
    Inspect(inspect::Args),
    /// List networks
    #[command(visible_alias = "list", override_usage = "wharf network ls [OPTIONS]")]
    Ls(ls::Args),
    /// Remove all unused networks
    #[command(override_usage = "wharf network prune [OPTIONS]")]
    Prune(prune::Args),
    /// Remove one or more networks
    #[command(
        visible_alias = "remove",
        override_usage = "wharf network rm NETWORK [NETWORK...]"
    )]
    Rm(rm::Args),
}

pub async fn run(ctx: &Ctx, cmd: NetworkCommand) -> Result<(), CliError> {
    match cmd {
        NetworkCommand::Connect(a) => connect::run(ctx, a).await,
        NetworkCommand::Create(a) => create::run(ctx, a).await,
        NetworkCommand::Disconnect(a) => disconnect::run(ctx, a).await,
        NetworkCommand::Inspect(a) => inspect::run(ctx, a).await,
        NetworkCommand::Ls(a) => ls::run(ctx, a).await,
        NetworkCommand::Prune(a) => prune::run(ctx, a).await,
        NetworkCommand::Rm(a) => rm::run(ctx, a).await,
    }
}

/// The moby client's `trimID`: a blank network or container reference is refused before any
/// request ("invalid network name or ID: value is empty").
pub fn trim_id(kind: &str, id: &str) -> Result<String, CliError> {
    let id = id.trim();
    if id.is_empty() {
        return Err(CliError::msg(format!(
            "invalid {kind} name or ID: value is empty"
        )));
    }
    Ok(id.to_string())
}

/// `/networks/{id}` plus `tail` (already escaped), for a trimmed reference.
pub fn network_path(id: &str, tail: &str) -> String {
    format!("/networks/{}{tail}", crate::client::path_segment(id))
}

/// The request half of moby's `network.EndpointSettings`, serialised as Go does: every field
/// present (no `omitempty` on the struct), nil slices and maps as `null`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint {
    /// `IPAMConfig`: `None` is `null`; the address fields are `omitempty` inside it.
    pub ipam: Option<EndpointIpam>,
    /// `Links` (`null` when `None`).
    pub links: Option<Vec<String>>,
    /// `Aliases` (`null` when `None`, `[]` when empty).
    pub aliases: Option<Vec<String>>,
    /// `DriverOpts` (`null` when `None`).
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// `GwPriority`.
    pub gw_priority: i64,
    /// `MacAddress`.
    pub mac_address: String,
}

/// moby's `network.EndpointIPAMConfig` (all three fields `omitempty`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointIpam {
    pub ipv4: String,
    pub ipv6: String,
    pub link_local: Vec<String>,
}

impl Endpoint {
    /// Is this Go's zero `EndpointSettings{}` (what `run --network X` leaves out)?
    pub fn is_zero(&self) -> bool {
        *self == Endpoint::default()
    }

    /// The JSON object docker sends.
    pub fn to_json(&self) -> Value {
        let ipam = self.ipam.as_ref().map(|i| {
            let mut m = serde_json::Map::new();
            if !i.ipv4.is_empty() {
                m.insert("IPv4Address".into(), Value::from(i.ipv4.clone()));
            }
            if !i.ipv6.is_empty() {
                m.insert("IPv6Address".into(), Value::from(i.ipv6.clone()));
            }
            if !i.link_local.is_empty() {
                m.insert("LinkLocalIPs".into(), json!(i.link_local));
            }
            Value::Object(m)
        });
        json!({
            "IPAMConfig": ipam,
            "Links": self.links,
            "Aliases": self.aliases,
            "DriverOpts": self.driver_opts,
            "GwPriority": self.gw_priority,
            "NetworkID": "",
            "EndpointID": "",
            "Gateway": "",
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "MacAddress": self.mac_address,
            "DNSNames": null,
        })
    }
}

/// docker's `opts.ParseLink` as the `--link` validator: `name` or `name:alias`.
pub fn validate_link(val: &str) -> Result<String, String> {
    if val.is_empty() {
        return Err("empty string specified for links".into());
    }
    if val.splitn(3, ':').count() > 2 {
        return Err(format!("bad format for links: {val}"));
    }
    Ok(val.to_string())
}

/// `key=value` driver options (docker's `convertDriverOpt` for `network connect`): both sides
/// trimmed, an empty key refused.
pub fn driver_opts(items: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut m = BTreeMap::new();
    for it in items {
        match it.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                m.insert(k.trim().to_string(), v.trim().to_string());
            }
            _ => {
                return Err(CliError::msg(
                    "invalid key/value pair format in driver options",
                ))
            }
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_endpoint_is_go_zero_value() {
        let e = Endpoint::default();
        assert!(e.is_zero());
        assert_eq!(
            e.to_json(),
            json!({
                "IPAMConfig": null, "Links": null, "Aliases": null, "DriverOpts": null,
                "GwPriority": 0, "NetworkID": "", "EndpointID": "", "Gateway": "",
                "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DNSNames": null
            })
        );
        let e = Endpoint {
            ipam: Some(EndpointIpam {
                ipv4: "10.1.0.5".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(!e.is_zero());
        assert_eq!(
            e.to_json()["IPAMConfig"],
            json!({"IPv4Address": "10.1.0.5"})
        );
    }

    #[test]
    fn links_and_ids() {
        assert_eq!(validate_link("db:alias").unwrap(), "db:alias");
        assert_eq!(validate_link("db").unwrap(), "db");
        assert_eq!(
            validate_link("a:b:c").unwrap_err(),
            "bad format for links: a:b:c"
        );
        assert!(validate_link("").is_err());
        assert_eq!(
            trim_id("network", "  ").unwrap_err().to_string(),
            "invalid network name or ID: value is empty"
        );
        assert_eq!(trim_id("network", " n1 ").unwrap(), "n1");
        assert_eq!(network_path("a b", "/connect"), "/networks/a%20b/connect");
    }
}
