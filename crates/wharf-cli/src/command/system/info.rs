//! `wharf info` / `wharf system info`: `GET /info`, printed in docker's layout (the parts that
//! apply to Wharf). `--format` runs over the daemon's answer plus `ClientInfo`.

use serde_json::{json, Value};

use crate::command::{int_field, str_field, Ctx};
use crate::error::CliError;
use crate::format::{self, units};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Format output using a custom template:
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    #[arg(
        short = 'f',
        long = "format",
        value_name = "string",
        verbatim_doc_comment
    )]
    pub format: Option<String>,
}

fn client_section(debug: bool) -> String {
    format!(
        "Client:\n Version:    {}\n Context:    default\n Debug Mode: {debug}\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The server part of docker's `info` text.
pub fn render_server(i: &Value) -> String {
    let mut o = String::from("Server:\n");
    let mut line = |k: &str, v: String| o.push_str(&format!("{k} {v}\n"));
    let n = |k: &str| int_field(i, k, 0).to_string();
    let s = |k: &str| str_field(i, k).to_string();
    let b = |k: &str| {
        i.get(k)
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .to_string()
    };
    line(" Containers:", n("Containers"));
    line("  Running:", n("ContainersRunning"));
    line("  Paused:", n("ContainersPaused"));
    line("  Stopped:", n("ContainersStopped"));
    line(" Images:", n("Images"));
    line(" Server Version:", s("ServerVersion"));
    line(" Storage Driver:", s("Driver"));
    if let Some(st) = i.get("DriverStatus").and_then(Value::as_array) {
        for pair in st {
            if let Some([k, v]) = pair.as_array().map(Vec::as_slice) {
                line(
                    &format!("  {}:", k.as_str().unwrap_or("")),
                    v.as_str().unwrap_or("").to_string(),
                );
            }
        }
    }
    line(" Logging Driver:", s("LoggingDriver"));
    line(" Cgroup Driver:", s("CgroupDriver"));
    line(" Cgroup Version:", s("CgroupVersion"));
    line(" Kernel Version:", s("KernelVersion"));
    line(" Operating System:", s("OperatingSystem"));
    line(" OSType:", s("OSType"));
    line(" Architecture:", s("Architecture"));
    line(" CPUs:", n("NCPU"));
    line(
        " Total Memory:",
        units::bytes_size(int_field(i, "MemTotal", 0) as f64),
    );
    line(" Name:", s("Name"));
    line(" ID:", s("ID"));
    line(" Docker Root Dir:", s("DockerRootDir"));
    line(" Debug Mode:", b("Debug"));
    line(" Experimental:", b("ExperimentalBuild"));
    line(" Live Restore Enabled:", b("LiveRestoreEnabled"));
    o.push('\n');
    o
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let info: Result<Value, CliError> = match ctx.client().await {
        Ok(c) => c.get_json("/info").await,
        Err(e) => Err(e),
    };
    match args.format.as_deref() {
        None | Some("") => {
            let mut out = client_section(ctx.debug);
            out.push('\n');
            match &info {
                Ok(i) => out.push_str(&render_server(i)),
                Err(_) => out.push_str("Server:\n"),
            }
            crate::write_stdout(&out)?;
            info.map(|_| ())
        }
        Some(f) => {
            let mut v = info?;
            if let Some(m) = v.as_object_mut() {
                m.insert(
                    "ClientInfo".into(),
                    json!({"Debug": ctx.debug, "Version": env!("CARGO_PKG_VERSION"), "Context": "default"}),
                );
            }
            let out = if f == "json" {
                format!("{v}\n")
            } else {
                format::render_one(f, &v)?
            };
            crate::write_stdout(&out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_section() {
        let i = json!({"Containers":1,"ContainersRunning":1,"Images":3,"ServerVersion":"0.1.0","Driver":"overlay2",
            "DriverStatus":[["Backing Filesystem","extfs"]],"NCPU":2,"MemTotal":25275691008u64,"Debug":false});
        let out = render_server(&i);
        assert!(
            out.contains(" Containers: 1\n  Running: 1\n  Paused: 0\n"),
            "{out}"
        );
        assert!(out.contains("  Backing Filesystem: extfs\n"), "{out}");
        assert!(out.contains(" Total Memory: 23.54GiB\n"), "{out}");
    }
}
