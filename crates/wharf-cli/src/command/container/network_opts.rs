//! The networking part of `run`/`create`: `--network` (docker's `opts.NetworkOpt`, simple
//! `NAME` or the long `name=…,alias=…,ip=…` form, repeatable), the per-endpoint flags
//! `--network-alias`, `--ip`, `--ip6`, `--link`, `--link-local-ip`, `--mac-address`, and their
//! translation into `HostConfig.NetworkMode` and `NetworkingConfig.EndpointsConfig` exactly as
//! docker/cli's `parseNetworkOpts` builds them (cli/command/container/opts.go).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::opts::ContainerOpts;
use crate::command::network::{validate_link, Endpoint, EndpointIpam};
use crate::error::CliError;

/// One `--network` value (docker's `opts.NetworkAttachmentOpts`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attachment {
    pub target: String,
    pub aliases: Vec<String>,
    pub driver_opts: BTreeMap<String, String>,
    pub links: Vec<String>,
    pub ipv4: String,
    pub ipv6: String,
    pub link_local: Vec<String>,
    pub mac_address: String,
    pub gw_priority: i64,
}

/// Does the value use the long syntax? (docker matches `\w+=\w+(,\w+=\w+)*` anywhere in it.)
fn is_long_syntax(v: &str) -> bool {
    let b = v.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    (1..b.len().saturating_sub(1)).any(|i| b[i] == b'=' && word(b[i - 1]) && word(b[i + 1]))
}

/// One line of CSV as Go's `encoding/csv` reads it (fields may be double-quoted, `""` inside
/// quotes is a quote).
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut at_start = true;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                    if !matches!(chars.peek(), None | Some(',')) {
                        return Err("extraneous or missing \" in quoted-field".into());
                    }
                }
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            '"' => return Err("bare \" in non-quoted-field".into()),
            ',' => {
                fields.push(std::mem::take(&mut cur));
                at_start = true;
            }
            c => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err("extraneous or missing \" in quoted-field".into());
    }
    fields.push(cur);
    Ok(fields)
}

/// docker's `NetworkOpt.Set`: `NAME`, or `name=NAME,alias=A,ip=…,ip6=…,mac-address=…,
/// link-local-ip=…,driver-opt=k=v,gw-priority=N` (docker lower-cases each whole field).
pub fn parse_attachment(value: &str) -> Result<Attachment, String> {
    if !is_long_syntax(value) {
        return Ok(Attachment {
            target: value.to_string(),
            ..Default::default()
        });
    }
    let mut a = Attachment::default();
    for field in csv_fields(value)? {
        let lower = field.to_lowercase();
        let (key, val) = match lower.split_once('=') {
            Some((k, v)) if !k.is_empty() => (k.trim(), v.trim()),
            _ => return Err(format!("invalid field {field}")),
        };
        match key {
            "name" => a.target = val.to_string(),
            "alias" => a.aliases.push(val.to_string()),
            "ip" => a.ipv4 = val.to_string(),
            "ip6" => a.ipv6 = val.to_string(),
            "mac-address" => a.mac_address = val.to_string(),
            "link-local-ip" => a.link_local.push(val.to_string()),
            "driver-opt" => match val.split_once('=') {
                Some((k, v)) if !k.is_empty() => {
                    a.driver_opts
                        .insert(k.trim().to_string(), v.trim().to_string());
                }
                _ => return Err("invalid key value pair format in driver options".into()),
            },
            "gw-priority" => {
                a.gw_priority = val.parse().map_err(|e: std::num::ParseIntError| {
                    let why = match e.kind() {
                        std::num::IntErrorKind::PosOverflow
                        | std::num::IntErrorKind::NegOverflow => "value out of range",
                        _ => "invalid syntax",
                    };
                    format!("invalid gw-priority ({val}): {why}")
                })?;
            }
            k => return Err(format!("invalid field key {k}")),
        }
    }
    if a.target.is_empty() {
        return Err("network name/id is not specified".into());
    }
    Ok(a)
}

/// docker's `NetworkMode.IsUserDefined` (Linux): not default, bridge, host, none or
/// `container:…`.
pub fn is_user_defined(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// Go's `net.ParseMAC`: 6, 8 or 20 octets as `xx:xx…`, `xx-xx…` or `xxxx.xxxx…`.
pub fn valid_mac(s: &str) -> bool {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 14 {
        return false;
    }
    let hex = |c: &u8| c.is_ascii_hexdigit();
    let (group, sep) = if b[2] == b':' || b[2] == b'-' {
        (2, b[2])
    } else if b[4] == b'.' {
        (4, b'.')
    } else {
        return false;
    };
    if !(b.len() + 1).is_multiple_of(group + 1) {
        return false;
    }
    let groups = (b.len() + 1) / (group + 1);
    let octets = groups * group / 2;
    if !matches!(octets, 6 | 8 | 20) {
        return false;
    }
    b.chunks(group + 1).enumerate().all(|(i, chunk)| {
        chunk[..group].iter().all(hex) && (i + 1 == groups || chunk.get(group) == Some(&sep))
    })
}

/// pflag's wording for a value a flag's parser refused.
fn flag_err(value: &str, flag: &str, why: &str) -> CliError {
    CliError::msg(format!(
        "invalid argument \"{value}\" for \"{flag}\" flag: {why}"
    ))
}

/// docker's `applyContainerOptions`: the per-endpoint flags go to the first network (or to
/// "default" when there is no `--network`), refusing a clash with the long syntax.
fn apply_container_options(n: &mut Attachment, o: &ContainerOpts) -> Result<(), CliError> {
    let conflict =
        |what: &str| CliError::msg(format!("conflicting options: cannot specify both {what}"));
    if !n.aliases.is_empty() && !o.network_alias.is_empty() {
        return Err(conflict("--network-alias and per-network alias"));
    }
    if !n.links.is_empty() && !o.link.is_empty() {
        return Err(conflict("--link and per-network links"));
    }
    let ip = o.ip.as_deref().unwrap_or("");
    let ip6 = o.ip6.as_deref().unwrap_or("");
    let mac = o.mac_address.as_deref().unwrap_or("");
    if !n.ipv4.is_empty() && !ip.is_empty() {
        return Err(conflict("--ip and per-network IPv4 address"));
    }
    if !n.ipv6.is_empty() && !ip6.is_empty() {
        return Err(conflict("--ip6 and per-network IPv6 address"));
    }
    if !n.mac_address.is_empty() && !mac.is_empty() {
        return Err(conflict("--mac-address and per-network MAC address"));
    }
    if !n.link_local.is_empty() && !o.link_local_ip.is_empty() {
        return Err(conflict(
            "--link-local-ip and per-network link-local IP addresses",
        ));
    }
    if !o.network_alias.is_empty() {
        n.aliases = o.network_alias.clone();
    }
    // On a user-defined network `--link` is an endpoint alias; on the default bridge it is a
    // legacy link (HostConfig.Links only).
    if is_user_defined(&n.target) && !o.link.is_empty() {
        n.links = o.link.clone();
    }
    if !ip.is_empty() {
        n.ipv4 = ip.to_string();
    }
    if !ip6.is_empty() {
        n.ipv6 = ip6.to_string();
    }
    if !mac.is_empty() {
        n.mac_address = mac.to_string();
    }
    if !o.link_local_ip.is_empty() {
        n.link_local = o.link_local_ip.clone();
    }
    Ok(())
}

/// docker's `parseNetworkAttachmentOpt`.
fn endpoint(a: &Attachment) -> Result<Endpoint, CliError> {
    if a.target.trim().is_empty() {
        return Err(CliError::msg("no name set for network"));
    }
    if !is_user_defined(&a.target) {
        if !a.aliases.is_empty() {
            return Err(CliError::msg(
                "network-scoped aliases are only supported for user-defined networks",
            ));
        }
        if !a.links.is_empty() {
            return Err(CliError::msg(
                "links are only supported for user-defined networks",
            ));
        }
    }
    let ipam = (!a.ipv4.is_empty() || !a.ipv6.is_empty() || !a.link_local.is_empty()).then(|| {
        EndpointIpam {
            ipv4: a.ipv4.clone(),
            ipv6: a.ipv6.clone(),
            link_local: a.link_local.clone(),
        }
    });
    if !a.mac_address.is_empty() && !valid_mac(&a.mac_address) {
        return Err(CliError::msg(format!(
            "{} is not a valid mac address",
            a.mac_address
        )));
    }
    Ok(Endpoint {
        ipam,
        links: (!a.links.is_empty()).then(|| a.links.clone()),
        aliases: (!a.aliases.is_empty()).then(|| a.aliases.clone()),
        driver_opts: (!a.driver_opts.is_empty()).then(|| a.driver_opts.clone()),
        gw_priority: a.gw_priority,
        mac_address: a.mac_address.clone(),
    })
}

/// The networking half of the create request: `HostConfig.NetworkMode` (the first network, or
/// "default") and `NetworkingConfig.EndpointsConfig` (docker's `parseNetworkOpts`). A single
/// `--network` without endpoint options sends no endpoint; no `--network` sends a "default"
/// endpoint.
pub fn parse(o: &ContainerOpts) -> Result<(String, Map<String, Value>), CliError> {
    if let Some(mac) = o.mac_address.as_deref().filter(|m| !m.is_empty()) {
        if !valid_mac(mac) {
            return Err(CliError::msg(format!("{mac} is not a valid mac address")));
        }
    }
    for l in &o.link {
        validate_link(l).map_err(|why| flag_err(l, "--link", &why))?;
    }
    let nets = o
        .network
        .iter()
        .map(|v| parse_attachment(v).map_err(|why| flag_err(v, "--network", &why)))
        .collect::<Result<Vec<_>, _>>()?;

    let mut endpoints = Map::new();
    if nets.is_empty() {
        let mut n = Attachment {
            target: "default".into(),
            ..Default::default()
        };
        apply_container_options(&mut n, o)?;
        endpoints.insert("default".into(), endpoint(&n)?.to_json());
    }
    let (mut user_defined, mut builtin) = (false, false);
    for (i, mut n) in nets.iter().cloned().enumerate() {
        if is_user_defined(&n.target) {
            user_defined = true;
        } else {
            builtin = true;
        }
        if i == 0 {
            apply_container_options(&mut n, o)?;
        }
        let ep = endpoint(&n)?;
        if endpoints.contains_key(&n.target) {
            return Err(CliError::msg(format!(
                "network {:?} is specified multiple times",
                n.target
            )));
        }
        if i == 0 && nets.len() == 1 && ep.is_zero() {
            continue;
        }
        endpoints.insert(n.target.clone(), ep.to_json());
    }
    if user_defined && builtin {
        return Err(CliError::msg(
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes",
        ));
    }
    let mode = nets
        .first()
        .map(|n| n.target.clone())
        .unwrap_or_else(|| "default".to_string());
    Ok((mode, endpoints))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_syntax_like_docker() {
        assert_eq!(parse_attachment("mynet").unwrap().target, "mynet");
        let a = parse_attachment(
            "name=Front,alias=Web,alias=www,ip=10.1.0.5,driver-opt=k=V,gw-priority=-2",
        )
        .unwrap();
        assert_eq!(
            a,
            Attachment {
                target: "front".into(),
                aliases: vec!["web".into(), "www".into()],
                driver_opts: [("k".to_string(), "v".to_string())].into(),
                ipv4: "10.1.0.5".into(),
                gw_priority: -2,
                ..Default::default()
            }
        );
        assert_eq!(
            parse_attachment("\"name=a,b\",alias=x").unwrap().target,
            "a,b"
        );
        assert_eq!(
            parse_attachment("alias=x").unwrap_err(),
            "network name/id is not specified"
        );
        assert_eq!(
            parse_attachment("name=a,foo=b").unwrap_err(),
            "invalid field key foo"
        );
        assert_eq!(
            parse_attachment("name=a,gw-priority=x").unwrap_err(),
            "invalid gw-priority (x): invalid syntax"
        );
        // "container:x" and "a=" are not the long syntax.
        assert_eq!(
            parse_attachment("container:abc").unwrap().target,
            "container:abc"
        );
    }

    #[test]
    fn macs_like_go() {
        for ok in [
            "92:d0:c6:0a:29:33",
            "92-D0-C6-0A-29-33",
            "92d0.c60a.2933",
            "00:00:00:00:fe:80:00:00",
        ] {
            assert!(valid_mac(ok), "{ok}");
        }
        for bad in [
            "92:d0:c6:0a:29",
            "92:d0:c6:0a:29:3g",
            "92:d0-c6:0a:29:33",
            "nope",
            "",
        ] {
            assert!(!valid_mac(bad), "{bad}");
        }
    }

    #[test]
    fn user_defined_modes() {
        assert!(is_user_defined("mynet"));
        for m in ["default", "bridge", "host", "none", "container:c1"] {
            assert!(!is_user_defined(m), "{m}");
        }
    }
}
