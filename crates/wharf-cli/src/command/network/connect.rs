//! `wharf network connect`: `POST /networks/{network}/connect` with
//! `{"Container": …, "EndpointConfig": …}` (moby's `network.ConnectOptions`), the endpoint
//! built as docker/cli's `runConnect` builds it: an `IPAMConfig` object always (its address
//! fields only when given), `Aliases` `[]` without `--alias`, `DriverOpts` `{}`.

use hyper::Method;
use serde_json::{json, Value};

use crate::client::Body;
use crate::command::network::{driver_opts, network_path, trim_id, validate_link};
use crate::command::network::{Endpoint, EndpointIpam};
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Add network-scoped alias for the container
    #[arg(long = "alias", value_name = "strings", value_delimiter = ',')]
    pub alias: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt", value_name = "strings", value_delimiter = ',')]
    pub driver_opt: Vec<String>,
    /// Highest gw-priority provides the default gateway. Accepts positive and negative values.
    #[arg(
        long = "gw-priority",
        value_name = "int",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    pub gw_priority: i64,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long = "ip", value_name = "string")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long = "ip6", value_name = "string")]
    pub ip6: Option<String>,
    /// Add link to another container
    #[arg(long = "link", value_name = "list", value_parser = validate_link)]
    pub link: Vec<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip", value_name = "strings", value_delimiter = ',')]
    pub link_local_ip: Vec<String>,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// The endpoint docker's `runConnect` sends.
pub fn endpoint(args: &Args) -> Result<Endpoint, CliError> {
    Ok(Endpoint {
        ipam: Some(EndpointIpam {
            ipv4: args.ip.clone().unwrap_or_default(),
            ipv6: args.ip6.clone().unwrap_or_default(),
            link_local: args.link_local_ip.clone(),
        }),
        links: (!args.link.is_empty()).then(|| args.link.clone()),
        aliases: Some(args.alias.clone()),
        driver_opts: Some(driver_opts(&args.driver_opt)?),
        gw_priority: args.gw_priority,
        mac_address: String::new(),
    })
}

/// The request path and body docker sends.
pub fn request(args: &Args) -> Result<(String, Value), CliError> {
    let ep = endpoint(args)?;
    let net = trim_id("network", &args.network)?;
    let container = trim_id("container", &args.container)?;
    Ok((
        network_path(&net, "/connect"),
        json!({"Container": container, "EndpointConfig": ep.to_json()}),
    ))
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let (path, body) = request(&args)?;
    let client = ctx.client().await?;
    client
        .call(
            Method::POST,
            &path,
            Body::Bytes(body.to_string().into(), "application/json"),
        )
        .await?;
    Ok(())
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

    fn req(args: &[&str]) -> (String, Value) {
        let mut v = vec!["connect"];
        v.extend_from_slice(args);
        request(&T::try_parse_from(v).unwrap().a).unwrap()
    }

    #[test]
    fn bare_connect_body_like_docker() {
        let (path, body) = req(&["net1", "c1"]);
        assert_eq!(path, "/networks/net1/connect");
        assert_eq!(
            body,
            json!({"Container": "c1", "EndpointConfig": {
                "IPAMConfig": {}, "Links": null, "Aliases": [], "DriverOpts": {},
                "GwPriority": 0, "NetworkID": "", "EndpointID": "", "Gateway": "",
                "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DNSNames": null
            }})
        );
    }

    #[test]
    fn connect_flags() {
        let (_, body) = req(&[
            "--alias",
            "web,www",
            "--alias",
            "api",
            "--ip",
            "172.20.0.5",
            "--ip6",
            "fd00::5",
            "--link",
            "db:database",
            "--driver-opt",
            "com.example.x= 1 ",
            "--gw-priority",
            "-3",
            "net1",
            "c1",
        ]);
        let ep = &body["EndpointConfig"];
        assert_eq!(ep["Aliases"], json!(["web", "www", "api"]));
        assert_eq!(
            ep["IPAMConfig"],
            json!({"IPv4Address": "172.20.0.5", "IPv6Address": "fd00::5"})
        );
        assert_eq!(ep["Links"], json!(["db:database"]));
        assert_eq!(ep["DriverOpts"], json!({"com.example.x": "1"}));
        assert_eq!(ep["GwPriority"], json!(-3));
        assert!(T::try_parse_from(["connect", "--link", "a:b:c", "n", "c"]).is_err());
        let t = T::try_parse_from(["connect", "--driver-opt", "=x", "n", "c"]).unwrap();
        assert_eq!(
            request(&t.a).unwrap_err().to_string(),
            "invalid key/value pair format in driver options"
        );
    }
}
