//! wharf-cli: the `wharf` command line. It takes docker's commands, flags and output formats
//! and talks to the daemon only through the Engine API ([`client::Client`]).
//!
//! Layout follows docker/cli: `command/<object>/<verb>.rs` holds one verb (a clap `Args` and one
//! `run`), `format/` holds tables, Go templates and human units, and render functions are pure
//! (JSON in, text out) so output is tested against golden files without a daemon.

#![cfg_attr(test, allow(clippy::unwrap_used))]
#![recursion_limit = "256"]

pub mod client;
pub mod command;
pub mod error;
pub mod format;
pub mod reference;

use std::io::Write;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches};

use crate::command::{Cli, Ctx};
use crate::error::CliError;

/// The program name used in messages and usage lines.
pub const PROG: &str = "wharf";

/// Runs the CLI on the process arguments and returns the exit status.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    run_args(args)
}

/// Runs the CLI on `args` (including argv[0]).
pub fn run_args(args: Vec<String>) -> i32 {
    let mut cmd = Cli::command();
    let matches = match cmd.try_get_matches_from_mut(&args) {
        Ok(m) => m,
        Err(e) => return usage_error(&cmd, &args, e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return usage_error(&cmd, &args, e),
    };
    if cli.version {
        println!(
            "Wharf version {}, build {}",
            env!("CARGO_PKG_VERSION"),
            build_id()
        );
        return 0;
    }
    let Some(command) = cli.command else {
        let mut cmd = cmd;
        let _ = cmd.print_help();
        return 0;
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("failed to start the async runtime: {e}");
            return 1;
        }
    };
    let ctx = Ctx::new(cli.host, cli.debug);
    let result = rt.block_on(command::run(&ctx, command));
    // A blocking stdin read may still be pending (attach, exec): do not wait for it.
    rt.shutdown_background();
    let _ = std::io::stdout().flush();
    match result {
        Ok(()) => 0,
        Err(e) => {
            let msg = e.to_string();
            if !msg.is_empty() {
                eprintln!("{msg}");
            }
            e.exit_code()
        }
    }
}

/// The build identifier printed by `--version` and `version` (the git commit when known).
pub fn build_id() -> &'static str {
    option_env!("WHARF_GIT_COMMIT").unwrap_or("unknown")
}

/// Prints clap's parse errors the way docker's cobra front end does, and picks docker's exit
/// status: 125 for bad flags and flag values, 1 for argument-count errors and unknown commands.
fn usage_error(root: &clap::Command, args: &[String], e: clap::Error) -> i32 {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        | ErrorKind::DisplayVersion => {
            let _ = e.print();
            return 0;
        }
        _ => {}
    }
    let (path, sub) = find_subcommand(root, args);
    let cmd_name = path.join(" ");
    let usage = sub
        .clone()
        .render_usage()
        .to_string()
        .trim()
        .trim_start_matches("Usage:")
        .trim()
        .to_string();
    let ctx_str = |k: ContextKind| match e.get(k) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.join(" "),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let help_hint = format!("Run '{cmd_name} --help' for more information");
    let mut err = std::io::stderr().lock();
    match e.kind() {
        ErrorKind::InvalidSubcommand => {
            let bad = ctx_str(ContextKind::InvalidSubcommand);
            let _ = writeln!(
                err,
                "{PROG}: unknown command: {cmd_name} {bad}\n\n{help_hint}"
            );
            1
        }
        ErrorKind::UnknownArgument => {
            let bad = ctx_str(ContextKind::InvalidArg);
            let bad = bad.split('=').next().unwrap_or(&bad).to_string();
            if bad.starts_with("--") {
                let _ = writeln!(err, "unknown flag: {bad}\n\nUsage:  {usage}\n\n{help_hint}");
                125
            } else if let Some(short) = bad.strip_prefix('-').filter(|s| !s.is_empty()) {
                let c = short.chars().next().unwrap_or('?');
                let _ = writeln!(
                    err,
                    "unknown shorthand flag: '{c}' in {bad}\n\nUsage:  {usage}\n\n{help_hint}"
                );
                125
            } else {
                let max = sub.get_positionals().count();
                let _ = writeln!(
                    err,
                    "{PROG}: '{cmd_name}' requires at most {max} argument{}\n\nUsage:  {usage}\n\n{help_hint}",
                    if max == 1 { "" } else { "s" }
                );
                1
            }
        }
        ErrorKind::MissingRequiredArgument
        | ErrorKind::TooFewValues
        | ErrorKind::WrongNumberOfValues => {
            let positionals: Vec<_> = sub.get_positionals().collect();
            let required = positionals.iter().filter(|a| a.is_required_set()).count();
            let variadic = positionals.iter().any(|a| {
                a.get_num_args().is_some_and(|n| n.max_values() > 1) && a.is_required_set()
            });
            let want = if variadic {
                format!("at least {required}")
            } else if required == positionals.len() {
                format!("{required}")
            } else {
                format!("at least {required}")
            };
            let _ = writeln!(
                err,
                "{PROG}: '{cmd_name}' requires {want} argument{}\n\nUsage:  {usage}\n\n{help_hint}",
                if required == 1 { "" } else { "s" }
            );
            1
        }
        ErrorKind::TooManyValues => {
            let _ = writeln!(
                err,
                "{PROG}: '{cmd_name}': too many arguments\n\nUsage:  {usage}\n\n{help_hint}"
            );
            1
        }
        ErrorKind::ValueValidation | ErrorKind::InvalidValue => {
            // docker: invalid argument "foo" for "-f, --filter" flag: <reason>
            let arg = ctx_str(ContextKind::InvalidArg);
            let long = arg
                .split([' ', '=', '['])
                .next()
                .unwrap_or("")
                .trim_start_matches('-');
            let flag = sub
                .get_arguments()
                .find(|a| a.get_long() == Some(long))
                .map(|a| match a.get_short() {
                    Some(c) => format!("-{c}, --{long}"),
                    None => format!("--{long}"),
                })
                .unwrap_or_else(|| arg.clone());
            let value = ctx_str(ContextKind::InvalidValue);
            let reason = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| {
                    let valid = ctx_str(ContextKind::ValidValue);
                    if valid.is_empty() {
                        "invalid value".to_string()
                    } else {
                        format!("possible values: {valid}")
                    }
                });
            let _ = writeln!(
                err,
                "invalid argument \"{value}\" for \"{flag}\" flag: {reason}\n\nUsage:  {usage}\n\n{help_hint}"
            );
            125
        }
        _ => {
            // Invalid flag values and the like: keep clap's explanation, docker's framing.
            let text = e.kind().as_str().unwrap_or("invalid argument").to_string();
            let detail = e.to_string();
            let first = detail
                .lines()
                .next()
                .unwrap_or(&text)
                .trim_start_matches("error: ")
                .to_string();
            let _ = writeln!(err, "{first}\n\nUsage:  {usage}\n\n{help_hint}");
            125
        }
    }
}

/// Follows the argument list down the command tree: the words that name (sub)commands.
fn find_subcommand<'a>(
    root: &'a clap::Command,
    args: &[String],
) -> (Vec<String>, &'a clap::Command) {
    let mut path = vec![PROG.to_string()];
    let mut cur = root;
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            break;
        }
        if a.starts_with('-') {
            // Global flags that take a value as the next word.
            if matches!(a.as_str(), "-H" | "--host" | "-l" | "--log-level") {
                i += 1;
            }
            i += 1;
            continue;
        }
        match cur.find_subcommand(a) {
            Some(sub) => {
                path.push(sub.get_name().to_string());
                cur = sub;
            }
            None => break,
        }
        i += 1;
    }
    (path, cur)
}

/// Kept here so commands can report non-API failures uniformly.
pub fn write_stdout(s: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()?;
    Ok(())
}
