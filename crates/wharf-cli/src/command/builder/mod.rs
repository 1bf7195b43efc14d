//! `wharf builder …`: docker's `builder build` (the same command as `wharf build`) and
//! `builder prune`.

pub mod prune;

use clap::Subcommand;

use super::Ctx;
use crate::command::image::build;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
// Each subcommand's arguments are built only when it is the one parsed (CLI start time).
#[command(defer = true)]
pub enum BuilderCommand {
    /// Build an image from a Dockerfile
    #[command(override_usage = "wharf builder build [OPTIONS] PATH | URL | -")]
    Build(Box<build::Args>),
    /// Remove build cache
    #[command(override_usage = "wharf builder prune [OPTIONS]")]
    Prune(prune::Args),
}

pub async fn run(ctx: &Ctx, cmd: BuilderCommand) -> Result<(), CliError> {
    match cmd {
        BuilderCommand::Build(a) => build::run(ctx, *a).await,
        BuilderCommand::Prune(a) => prune::run(ctx, a).await,
    }
}
