//! `wharf login [-u USER] [-p PASS | --password-stdin] [SERVER]`: the daemon checks the
//! credentials against the registry (`POST /auth`); on success they are stored as docker
//! does: with the credential helper config.json names for the server (`credHelpers`,
//! `credsStore`), else in config.json's `auths`. When the daemon answers an `IdentityToken`
//! (the registry's token server gave a refresh token), that is stored instead of the
//! password (`identitytoken`, or a helper's secret for the user `<token>`).

use std::io::{BufRead, IsTerminal, Read, Write};

use hyper::Method;
use serde_json::json;

use super::{config, server_key};
use crate::client::Body;
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Username
    #[arg(short = 'u', long = "username", value_name = "string")]
    pub username: Option<String>,
    /// Password
    #[arg(short = 'p', long = "password", value_name = "string")]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

/// Reads a line from the terminal with echo off (restored even on error).
fn read_password() -> Result<String, CliError> {
    let stdin = std::io::stdin();
    let old = rustix::termios::tcgetattr(&stdin).ok();
    if let Some(t) = &old {
        let mut quiet = t.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet);
    }
    let mut line = String::new();
    let res = stdin.lock().read_line(&mut line);
    if let Some(t) = &old {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, t);
    }
    eprintln!();
    res?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn prompt(label: &str) -> Result<String, CliError> {
    let mut out = std::io::stdout().lock();
    write!(out, "{label}")?;
    out.flush()?;
    drop(out);
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    if args.password.is_some() && args.password_stdin {
        return Err(CliError::msg(
            "--password and --password-stdin are mutually exclusive",
        ));
    }
    if args.password_stdin && args.username.is_none() {
        return Err(CliError::msg(
            "Must provide --username with --password-stdin",
        ));
    }
    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let mut password = args.password.clone();
    if args.password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        password = Some(s.trim_end_matches(['\n', '\r']).to_string());
    }
    let key = server_key(args.server.as_deref());
    let tty = std::io::stdin().is_terminal();
    let username = match args.username.clone().filter(|u| !u.trim().is_empty()) {
        Some(u) => u.trim().to_string(),
        None if tty => {
            if key == super::HUB_ADDRESS {
                println!("Log in with your Docker ID or email address to push and pull images from Docker Hub.");
            }
            let u = prompt("Username: ")?;
            if u.is_empty() {
                return Err(CliError::msg("Error: Non-null Username Required"));
            }
            u
        }
        None => {
            return Err(CliError::msg(
                "Error: Cannot perform an interactive login from a non TTY device",
            ))
        }
    };
    let password = match password {
        Some(p) => p,
        None if tty => {
            print!("Password: ");
            std::io::stdout().flush()?;
            read_password()?
        }
        None => {
            return Err(CliError::msg(
                "Error: Cannot perform an interactive login from a non TTY device",
            ))
        }
    };
    if password.is_empty() {
        return Err(CliError::msg("Error: Password Required"));
    }
    let body = json!({"username": username, "password": password, "serveraddress": key});
    let client = ctx.client().await?;
    let answer = client
        .call(
            Method::POST,
            "/auth",
            Body::Bytes(body.to_string().into(), "application/json"),
        )
        .await?;
    // docker/cli `loginWithUsernameAndPassword`: an identity token from the registry is
    // stored instead of the password
    let identity_token = serde_json::from_slice::<serde_json::Value>(&answer)
        .ok()
        .and_then(|v| v.get("IdentityToken")?.as_str().map(str::to_string))
        .filter(|t| !t.is_empty());
    let creds = wharf_credentials::Credentials {
        username,
        secret: if identity_token.is_some() {
            String::new()
        } else {
            password
        },
        identity_token,
    };
    let stored = wharf_credentials::store(&key, &creds).map_err(config::cli_error)?;
    if stored == wharf_credentials::Stored::File {
        eprintln!(
            "WARNING! Your credentials are stored unencrypted in '{}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n",
            config::path().display()
        );
    }
    println!("Login Succeeded");
    Ok(())
}
