//! `wharf image …`: one file per verb, as docker/cli's `cli/command/image/`.

pub mod build;
pub mod build_context;
pub mod build_progress;
pub mod history;
pub mod import;
pub mod inspect;
pub mod list;
pub mod load;
pub mod prune;
pub mod pull;
pub mod push;
pub mod remove;
pub mod save;
pub mod search;
pub mod tag;

use clap::Subcommand;

use super::Ctx;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
// Each subcommand's arguments are built only when it is the one parsed (CLI start time).
#[command(defer = true)]
pub enum ImageCommand {
    /// List images
    #[command(
        visible_alias = "list",
        override_usage = "wharf image ls [OPTIONS] [REPOSITORY[:TAG]]"
    )]
    Ls(list::Args),
    /// Remove one or more images
    #[command(
        visible_alias = "remove",
        override_usage = "wharf image rm [OPTIONS] IMAGE [IMAGE...]"
    )]
    Rm(remove::Args),
    /// Display detailed information on one or more images
    #[command(override_usage = "wharf image inspect [OPTIONS] IMAGE [IMAGE...]")]
    Inspect(inspect::Args),
    /// Show the history of an image
    #[command(override_usage = "wharf image history [OPTIONS] IMAGE")]
    History(history::Args),
    /// Remove unused images
    #[command(override_usage = "wharf image prune [OPTIONS]")]
    Prune(prune::Args),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    #[command(override_usage = "wharf image tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")]
    Tag(tag::Args),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    #[command(override_usage = "wharf image save [OPTIONS] IMAGE [IMAGE...]")]
    Save(save::Args),
    /// Load an image from a tar archive or STDIN
    #[command(override_usage = "wharf image load [OPTIONS]")]
    Load(load::Args),
    /// Download an image from a registry
    #[command(override_usage = "wharf image pull [OPTIONS] NAME[:TAG|@DIGEST]")]
    Pull(pull::Args),
    /// Upload an image to a registry
    #[command(override_usage = "wharf image push [OPTIONS] NAME[:TAG]")]
    Push(push::Args),
    /// Import the contents from a tarball to create a filesystem image
    #[command(override_usage = "wharf image import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]")]
    Import(import::Args),
    /// Build an image from a Dockerfile
    #[command(override_usage = "wharf image build [OPTIONS] PATH | URL | -")]
    Build(Box<build::Args>),
}

pub async fn run(ctx: &Ctx, cmd: ImageCommand) -> Result<(), CliError> {
    match cmd {
        ImageCommand::Ls(a) => list::run(ctx, a).await,
        ImageCommand::Rm(a) => remove::run(ctx, a).await,
        ImageCommand::Inspect(a) => inspect::run(ctx, a).await,
        ImageCommand::History(a) => history::run(ctx, a).await,
        ImageCommand::Prune(a) => prune::run(ctx, a).await,
        ImageCommand::Tag(a) => tag::run(ctx, a).await,
        ImageCommand::Save(a) => save::run(ctx, a).await,
        ImageCommand::Load(a) => load::run(ctx, a).await,
        ImageCommand::Pull(a) => pull::run(ctx, a).await,
        ImageCommand::Push(a) => push::run(ctx, a).await,
        ImageCommand::Import(a) => import::run(ctx, a).await,
        ImageCommand::Build(a) => build::run(ctx, *a).await,
    }
}
