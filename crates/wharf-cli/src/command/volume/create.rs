//! `wharf volume create`: `POST /volumes/create`, prints the volume's name.

use std::collections::BTreeMap;

use hyper::Method;
use serde_json::{json, Value};

use crate::client::Body;
use crate::command::{str_field, Ctx};
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Specify volume driver name
    #[arg(
        short = 'd',
        long = "driver",
        value_name = "string",
        default_value = "local"
    )]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Specify volume name
    #[arg(long = "name", value_name = "string")]
    pub name: Option<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    #[arg(value_name = "VOLUME")]
    pub volume: Option<String>,
}

fn kv_map(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (s.clone(), String::new()),
        })
        .collect()
}

/// The request body the docker CLI sends.
pub fn body(args: &Args) -> Result<Value, CliError> {
    let name = match (&args.name, &args.volume) {
        (Some(a), Some(b)) if a != b => {
            return Err(CliError::msg(
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg",
            ))
        }
        (Some(a), _) => a.clone(),
        (None, Some(b)) => b.clone(),
        (None, None) => String::new(),
    };
    Ok(json!({
        "Driver": args.driver,
        "DriverOpts": kv_map(&args.opt),
        "Labels": kv_map(&args.label),
        "Name": name,
    }))
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let b = body(&args)?;
    let client = ctx.client().await?;
    let raw = client
        .call(
            Method::POST,
            "/volumes/create",
            Body::Bytes(b.to_string().into(), "application/json"),
        )
        .await?;
    let v: Value = serde_json::from_slice(&raw).map_err(|e| CliError::Protocol(e.to_string()))?;
    crate::write_stdout(&format!("{}\n", str_field(&v, "Name")))
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

    #[test]
    fn body_like_docker() {
        let t = T::parse_from([
            "x",
            "--label",
            "a=b",
            "-o",
            "type=tmpfs",
            "-o",
            "device=tmpfs",
            "data",
        ]);
        let b = body(&t.a).unwrap();
        assert_eq!(b["Name"], "data");
        assert_eq!(b["Driver"], "local");
        assert_eq!(b["Labels"]["a"], "b");
        assert_eq!(b["DriverOpts"]["type"], "tmpfs");
        let t = T::parse_from(["x", "--name", "a", "b"]);
        assert!(body(&t.a).is_err());
    }
}
