//! `wharf system …` and the top-level `version` / `info`.

pub mod df;
pub mod info;
pub mod version;

use clap::Subcommand;

use super::Ctx;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
// Each subcommand's arguments are built only when it is the one parsed (CLI start time).
#[command(defer = true)]
pub enum SystemCommand {
    /// Show wharf disk usage
    #[command(override_usage = "wharf system df [OPTIONS]")]
    Df(df::Args),
    /// Display system-wide information
    #[command(override_usage = "wharf system info [OPTIONS]")]
    Info(info::Args),
}

pub async fn run(ctx: &Ctx, cmd: SystemCommand) -> Result<(), CliError> {
    match cmd {
        SystemCommand::Df(a) => df::run(ctx, a).await,
        SystemCommand::Info(a) => info::run(ctx, a).await,
    }
}
