//! `wharf volume …`: one file per verb, as docker/cli's `cli/command/volume/`.

pub mod create;
pub mod inspect;
pub mod ls;
pub mod prune;
pub mod rm;

use clap::Subcommand;

use super::Ctx;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
// Each subcommand's arguments are built only when it is the one parsed (CLI start time).
#[command(defer = true)]
pub enum VolumeCommand {
    /// Create a volume
    #[command(override_usage = "wharf volume create [OPTIONS] [VOLUME]")]
    Create(create::Args),
    /// Display detailed information on one or more volumes
    #[command(override_usage = "wharf volume inspect [OPTIONS] VOLUME [VOLUME...]")]
    Inspect(inspect::Args),
    /// List volumes
    #[command(visible_alias = "list", override_usage = "wharf volume ls [OPTIONS]")]
    Ls(ls::Args),
    /// Remove unused local volumes
    #[command(override_usage = "wharf volume prune [OPTIONS]")]
    Prune(prune::Args),
    /// Remove one or more volumes
    #[command(
        visible_alias = "remove",
        override_usage = "wharf volume rm [OPTIONS] VOLUME [VOLUME...]"
    )]
    Rm(rm::Args),
}

pub async fn run(ctx: &Ctx, cmd: VolumeCommand) -> Result<(), CliError> {
    match cmd {
        VolumeCommand::Create(a) => create::run(ctx, a).await,
        VolumeCommand::Inspect(a) => inspect::run(ctx, a).await,
        VolumeCommand::Ls(a) => ls::run(ctx, a).await,
        VolumeCommand::Prune(a) => prune::run(ctx, a).await,
        VolumeCommand::Rm(a) => rm::run(ctx, a).await,
    }
}
