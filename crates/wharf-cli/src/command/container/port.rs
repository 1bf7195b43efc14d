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
        let key = if p.contains('/') {
            p.to_string()
        } else {
            format!("{p}/tcp")
        };
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
    out.sort();
    Ok(out.iter().map(|l| format!("{l}\n")).collect())
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
    }
}
