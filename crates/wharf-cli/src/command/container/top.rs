//! `wharf top`: `GET /containers/{name}/top[?ps_args=…]`, printed as docker does (a tabwriter
//! with minimum width 20 and padding 3).

use serde_json::Value;

use super::container_path;
use crate::client::query;
use crate::command::Ctx;
use crate::error::CliError;
use crate::format::tabwriter::TabWriter;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Options for ps
    #[arg(
        value_name = "ps OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub ps_args: Vec<String>,
}

/// Titles and process rows as docker's `runTop` prints them.
pub fn render(top: &Value) -> String {
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut text = strs(&top["Titles"]).join("\t");
    text.push('\n');
    for p in top["Processes"].as_array().into_iter().flatten() {
        text.push_str(&strs(p).join("\t"));
        text.push('\n');
    }
    TabWriter::new(20, 3).format(&text)
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let q = if args.ps_args.is_empty() {
        String::new()
    } else {
        query(&[("ps_args", args.ps_args.join(" "))])
    };
    let top: Value = client
        .get_json(&container_path(&args.container, &format!("/top{q}")))
        .await?;
    crate::write_stdout(&render(&top))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_docker() {
        let top = serde_json::json!({"Titles":["UID","PID","PPID","C","STIME","TTY","TIME","CMD"],
            "Processes":[["root","4242","4222","0","10:00","?","00:00:00","sleep 100"]]});
        let want = "UID                 PID                 PPID                C                   STIME               TTY                 TIME                CMD\nroot                4242                4222                0                   10:00               ?                   00:00:00            sleep 100\n";
        assert_eq!(render(&top), want);
    }
}
