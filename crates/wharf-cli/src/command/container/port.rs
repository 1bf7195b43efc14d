//! `wharf port`: the published ports from `GET /containers/{name}/json`'s
//! `NetworkSettings.Ports`, as "80/tcp -> 0.0.0.0:8080" (or just the host side for one port).

use serde_json::Value;

use super::inspect_container;
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

/// Go's `net.JoinHostPort`.
fn join_host_port(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The lines docker prints, sorted.
pub fn render(ports: &Value, want: Option<&str>, name: &str) -> Result<String, CliError> {
    let empty = serde_json::Map::new();
    let map = ports.as_object().unwrap_or(&empty);
    let mut out = Vec::new();
    if let Some(p) = want {
        let (port, proto) = p.split_once('/').unwrap_or((p, ""));
        let proto = if proto.is_empty() { "tcp" } else { proto };
        check_port(port)?;
        let key = format!("{port}/{proto}");
        let bindings = map
            .get(&key)
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty());
        let Some(bindings) = bindings else {
            return Err(CliError::msg(format!(
                "Error: No public port '{p}' published for {name}"
            )));
        };
        for b in bindings {
            out.push(join_host_port(
                b["HostIp"].as_str().unwrap_or(""),
                b["HostPort"].as_str().unwrap_or(""),
            ));
        }
    } else {
        for (from, bindings) in map {
            for b in bindings.as_array().into_iter().flatten() {
                let host = join_host_port(
                    b["HostIp"].as_str().unwrap_or(""),
                    b["HostPort"].as_str().unwrap_or(""),
                );
                out.push(format!("{from} -> {host}"));
            }
        }
    }
    out.sort_by(|a, b| crate::format::natural_cmp(a, b));
    Ok(out.iter().map(|l| format!("{l}\n")).collect())
}

/// docker checks the port with `strconv.ParseUint(port, 10, 16)` before looking it up.
fn check_port(port: &str) -> Result<(), CliError> {
    let why = if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        "invalid syntax"
    } else if port.parse::<u16>().is_err() {
        "value out of range"
    } else {
        return Ok(());
    };
    Err(CliError::msg(format!(
        "Error: invalid port ({port}): strconv.ParseUint: parsing \"{port}\": {why}"
    )))
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let c = inspect_container(client, &args.container).await?;
    let text = render(
        &c["NetworkSettings"]["Ports"],
        args.port.as_deref(),
        &args.container,
    )?;
    crate::write_stdout(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_mappings() {
        let ports = serde_json::json!({"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}],"53/udp":null});
        assert_eq!(
            render(&ports, None, "c").unwrap(),
            "80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080\n"
        );
        assert_eq!(
            render(&ports, Some("80"), "c").unwrap(),
            "0.0.0.0:8080\n[::]:8080\n"
        );
        assert_eq!(
            render(&ports, Some("53/udp"), "c").unwrap_err().to_string(),
            "Error: No public port '53/udp' published for c"
        );
        assert_eq!(render(&Value::Null, None, "c").unwrap(), "");
        assert_eq!(
            render(&ports, Some("80/"), "c").unwrap(),
            "0.0.0.0:8080\n[::]:8080\n"
        );
        assert_eq!(
            render(&ports, Some("http"), "c").unwrap_err().to_string(),
            "Error: invalid port (http): strconv.ParseUint: parsing \"http\": invalid syntax"
        );
        assert_eq!(
            render(&ports, Some("70000/tcp"), "c")
                .unwrap_err()
                .to_string(),
            "Error: invalid port (70000): strconv.ParseUint: parsing \"70000\": value out of range"
        );
    }

    #[test]
    fn natural_order_like_docker() {
        // docker sorts with sortorder.NaturalLess: 9000 before 10000.
        let ports = serde_json::json!({
            "10000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "10000"}],
            "9000/tcp": [{"HostIp": "::", "HostPort": "9000"}, {"HostIp": "0.0.0.0", "HostPort": "9000"}],
            "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}]
        });
        assert_eq!(
            render(&ports, None, "c").unwrap(),
            "53/udp -> 127.0.0.1:5353\n9000/tcp -> 0.0.0.0:9000\n9000/tcp -> [::]:9000\n10000/tcp -> 0.0.0.0:10000\n"
        );
    }
}
