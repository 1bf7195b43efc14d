//! `wharf exec`: docker's `RunExec`. Inspect the container first (so "No such container" wins),
//! `POST /containers/{name}/exec`, then `POST /exec/{id}/start` — hijacked unless `-d` — and
//! exit with the `ExitCode` of `GET /exec/{id}/json`.

use hyper::Method;
use serde_json::{json, Value};

use super::{container_path, hijack, inspect_container};
use crate::client::Body;
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// The container, then the command and its arguments
    #[arg(value_name = "CONTAINER", required = true, num_args = 2.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// The `POST /containers/{name}/exec` body docker sends (`container.ExecOptions`).
pub fn exec_body(args: &Args, env: Vec<String>, console: Option<(u16, u16)>) -> Value {
    let attach = !args.detach;
    json!({
        "User": args.user.clone().unwrap_or_default(),
        "Privileged": args.privileged,
        "Tty": args.tty,
        "ConsoleSize": if args.tty { json!([console.map(|c| c.0).unwrap_or(0), console.map(|c| c.1).unwrap_or(0)]) } else { Value::Null },
        "AttachStdin": attach && args.interactive,
        "AttachStderr": attach,
        "AttachStdout": attach,
        "Detach": args.detach,
        "DetachKeys": args.detach_keys.clone().unwrap_or_default(),
        "Env": if env.is_empty() { Value::Null } else { json!(env) },
        "WorkingDir": args.workdir.clone().unwrap_or_default(),
        "Cmd": args.args[1..],
    })
}

/// Env from `--env-file` then `-e`, as for `run`.
fn collect_env(args: &Args) -> Result<Vec<String>, CliError> {
    let opts = super::opts::ContainerOpts {
        env: args.env.clone(),
        env_file: args.env_file.clone(),
        args: vec!["x".into()],
        restart: "no".into(),
        pull: "missing".into(),
        ..Default::default()
    };
    let req = super::opts::parse(&opts, &super::opts::ProcessHost)?;
    Ok(req.body["Env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let container = args.args[0].clone();
    let env = collect_env(&args)?;
    let client = ctx.client().await?;
    inspect_container(client, &container).await?;
    if !args.detach {
        hijack::check_tty(args.interactive, args.tty)?;
    }
    let console = if args.tty {
        Some(hijack::terminal_size().unwrap_or((0, 0)))
    } else {
        None
    };
    let body = exec_body(&args, env, console);
    let answer = client
        .call(
            Method::POST,
            &container_path(&container, "/exec"),
            Body::Bytes(body.to_string().into(), "application/json"),
        )
        .await?;
    let v: Value =
        serde_json::from_slice(&answer).map_err(|e| CliError::Protocol(e.to_string()))?;
    let exec_id = v["Id"].as_str().unwrap_or("").to_string();
    if exec_id.is_empty() {
        return Err(CliError::msg("exec ID empty"));
    }
    let mut start = json!({"Detach": args.detach, "Tty": args.tty});
    if let Some((h, w)) = console {
        start["ConsoleSize"] = json!([h, w]);
    }
    let start_path = format!("/exec/{exec_id}/start");
    let start_body = Body::Bytes(start.to_string().into(), "application/json");
    if args.detach {
        client.call(Method::POST, &start_path, start_body).await?;
        return Ok(());
    }
    let conn = client.hijack(Method::POST, &start_path, start_body).await?;
    let resize = (args.tty && hijack::is_tty(std::io::stdout()))
        .then(|| hijack::monitor_tty_size(client, format!("/exec/{exec_id}")));
    let result = hijack::stream(conn, args.tty, args.interactive).await;
    if let Some(r) = resize {
        r.abort();
    }
    result?;
    let info: Value = client.get_json(&format!("/exec/{exec_id}/json")).await?;
    let code = info["ExitCode"].as_i64().unwrap_or(0) as i32;
    if code != 0 {
        return Err(CliError::Status {
            code,
            message: String::new(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        a: Args,
    }

    #[test]
    fn exec_body_like_docker() {
        let t = T::try_parse_from([
            "exec", "-i", "-u", "1", "-w", "/w", "c1", "sh", "-c", "echo x",
        ])
        .unwrap();
        let body = exec_body(&t.a, vec!["A=1".into()], None);
        assert_eq!(
            body,
            json!({"User":"1","Privileged":false,"Tty":false,"ConsoleSize":null,"AttachStdin":true,
                   "AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":["A=1"],
                   "WorkingDir":"/w","Cmd":["sh","-c","echo x"]})
        );
        let t = T::try_parse_from(["exec", "-d", "c1", "true"]).unwrap();
        let body = exec_body(&t.a, vec![], None);
        assert_eq!(body["AttachStdout"], json!(false));
        assert_eq!(body["Env"], Value::Null);
    }
}
