//! The Dockerfile: [`parse`] text into a [`Dockerfile`] of [`Stage`]s and [`Instruction`]s.
//!
//! Parsing follows buildkit in two steps, like `parser.Parse` then `instructions.Parse`:
//! [`scan`] splits the text into instructions (parser directives, comments, line
//! continuations, heredoc bodies) and [`node`] splits each one into its keyword, flags
//! and arguments; [`instruction`] then types them ([`Kind`]), checking arguments and
//! flags with docker's messages. Arguments stay as written (quotes included where docker
//! keeps them): the builder expands them with [`Kind::expand`] / [`expand_base`] against
//! the environment of the moment, which only it knows.

mod duration;
mod expand;
mod flags;
mod heredoc;
mod instruction;
mod mount;
mod node;
mod scan;
mod suggest;

use serde::{Deserialize, Serialize};

use crate::shell::{self, Lex, ShellError};

pub use expand::expand_base;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dockerfile {
    pub directives: Directives,
    /// The `ARG`s before the first `FROM`, in order, raw.
    pub meta_args: Vec<KeyValueOpt>,
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// The word expander for this file's escape character.
    pub fn lex(&self) -> Lex {
        Lex::new(self.directives.escape)
    }
}

/// Parser directives (`# syntax=`, `# escape=`, `# check=`), only honoured at the top.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directives {
    pub syntax: Option<String>,
    /// `\` unless `# escape=\`` says otherwise.
    pub escape: char,
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

/// `ARG key[=value]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValueOpt {
    pub key: String,
    pub value: Option<String>,
}

/// A build stage: `FROM [--platform=…] base [AS name]` and what follows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// Position among the stages, from 0 (what `COPY --from=0` refers to).
    pub index: usize,
    /// The `AS` name, lowercased.
    pub name: Option<String>,
    /// The base image as written, before expansion with the meta `ARG`s.
    pub base: String,
    /// `--platform`, as written.
    pub platform: Option<String>,
    pub instructions: Vec<Instruction>,
    /// The line of the `FROM`, from 1.
    pub line: usize,
}

/// One instruction of a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instruction {
    /// The line the instruction starts on, from 1.
    pub line: usize,
    /// The instruction's source as docker records it (`withNameAndCode`): continuation
    /// lines joined, comment lines inside dropped, surrounding whitespace trimmed,
    /// heredoc bodies not included. For an `ONBUILD` trigger it is the trigger's text
    /// followed by its heredocs, which is what docker stores in the image's `OnBuild`.
    pub original: String,
    pub kind: Kind,
}

/// What an instruction does, with its arguments as written (see [`Kind::expand`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Run {
        cmd: ShellOrExec,
        mounts: Vec<RunMount>,
        /// `--network=default|none|host`.
        network: Option<String>,
        /// `--security=sandbox|insecure`.
        security: Option<String>,
        /// `--device=…`, as written (CDI device names with options).
        devices: Vec<String>,
        heredocs: Vec<Heredoc>,
    },
    Copy {
        /// Context (or `--from`) paths; heredoc sources are in `heredocs` instead.
        srcs: Vec<String>,
        dest: String,
        from: Option<String>,
        chown: Option<String>,
        chmod: Option<String>,
        link: bool,
        parents: bool,
        exclude: Vec<String>,
        heredocs: Vec<Heredoc>,
    },
    Add {
        srcs: Vec<String>,
        dest: String,
        chown: Option<String>,
        chmod: Option<String>,
        link: bool,
        checksum: Option<String>,
        keep_git_dir: bool,
        /// `--unpack[=bool]`; `None` when not given (docker then unpacks local archives only).
        unpack: Option<bool>,
        exclude: Vec<String>,
        heredocs: Vec<Heredoc>,
    },
    Env(Vec<(String, String)>),
    Arg(Vec<KeyValueOpt>),
    Label(Vec<(String, String)>),
    Workdir(String),
    User(String),
    Cmd(ShellOrExec),
    Entrypoint(ShellOrExec),
    Shell(Vec<String>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    StopSignal(String),
    /// `None` is `HEALTHCHECK NONE`.
    Healthcheck(Option<Healthcheck>),
    OnBuild(Box<Instruction>),
    Maintainer(String),
}

impl Kind {
    /// The instruction keyword, uppercase (`RUN`, `COPY`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Run { .. } => "RUN",
            Kind::Copy { .. } => "COPY",
            Kind::Add { .. } => "ADD",
            Kind::Env(_) => "ENV",
            Kind::Arg(_) => "ARG",
            Kind::Label(_) => "LABEL",
            Kind::Workdir(_) => "WORKDIR",
            Kind::User(_) => "USER",
            Kind::Cmd(_) => "CMD",
            Kind::Entrypoint(_) => "ENTRYPOINT",
            Kind::Shell(_) => "SHELL",
            Kind::Expose(_) => "EXPOSE",
            Kind::Volume(_) => "VOLUME",
            Kind::StopSignal(_) => "STOPSIGNAL",
            Kind::Healthcheck(_) => "HEALTHCHECK",
            Kind::OnBuild(_) => "ONBUILD",
            Kind::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// Shell form (run with the stage's `SHELL`) or exec form (a JSON array).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShellOrExec {
    Shell(String),
    Exec(Vec<String>),
}

/// A here-document attached to `RUN`, `COPY` or `ADD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heredoc {
    /// The delimiter word, quotes removed (`EOF` for `<<"EOF"`).
    pub name: String,
    /// The lines between the instruction and the delimiter, line endings kept, exactly
    /// as written: with `chomp`, leading tabs are still there (see [`Heredoc::data`]).
    pub content: String,
    /// False when any part of the delimiter was quoted: the body is not expanded.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from every body line.
    pub chomp: bool,
}

impl Heredoc {
    /// The body with `<<-` tab stripping applied.
    pub fn data(&self) -> String {
        if self.chomp {
            heredoc::chomp(&self.content)
        } else {
            self.content.clone()
        }
    }

    /// The body of a `COPY`/`ADD` heredoc as docker writes the file: tab-stripped, and
    /// when `expand` with `$VAR`s replaced (quotes are ordinary characters there, and the
    /// escape character is always `\`). `RUN` heredocs are not expanded by the builder:
    /// the shell does it.
    pub fn expanded_data(&self, env: shell::Env<'_>) -> Result<String, ShellError> {
        let data = self.data();
        if !self.expand {
            return Ok(data);
        }
        let opts = shell::Options {
            skip_process_quotes: true,
            ..shell::Options::default()
        };
        shell::process(&data, '\\', opts, env).map(|(w, _)| w)
    }
}

/// The delimiter `word` names when it is a heredoc word (`<<EOF`, `<<-'EOF'`, `3<<EOF`),
/// as docker recognizes one. Docker runs a `RUN` whose shell command is exactly one
/// heredoc word as the heredoc's body (a script, or a file when it starts with `#!`).
pub fn heredoc_name(word: &str) -> Option<String> {
    heredoc::parse_lenient(word).map(|w| w.name)
}

/// `RUN --mount=type=…,…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunMount {
    /// `bind` (the default), `cache`, `tmpfs`, `secret` or `ssh`.
    pub kind: String,
    /// `target`/`dst`/`destination`; empty when not given (secret and ssh mounts have
    /// defaults).
    pub target: String,
    /// `source`/`src`.
    pub source: Option<String>,
    /// `from`: a stage name or index, or an image.
    pub from: Option<String>,
    pub id: Option<String>,
    /// `ro`/`readonly`/`rw`/`readwrite`; by default true for bind, secret and ssh mounts.
    pub readonly: bool,
    /// The other keys (`sharing`, `size`, `mode`, `uid`, `gid`, `required`, `env`),
    /// lowercased key, raw value, in order. A bare `required` is `("required", "true")`.
    pub options: Vec<(String, String)>,
}

impl RunMount {
    /// The value of an option in `options`.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// `HEALTHCHECK [--interval=…] CMD …`, as the image config stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// `["CMD", args…]` (exec form) or `["CMD-SHELL", "command"]` (shell form).
    pub test: Vec<String>,
    /// Nanoseconds; `None` when not given or zero (the image config's "inherit").
    pub interval: Option<u64>,
    pub timeout: Option<u64>,
    pub start_period: Option<u64>,
    pub start_interval: Option<u64>,
    pub retries: Option<u32>,
}

/// Why a Dockerfile was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The file has no bytes at all. Docker says "the Dockerfile (Dockerfile) cannot be
    /// empty" with the file's name, which the caller knows.
    #[error("the Dockerfile cannot be empty")]
    Empty,
    /// An instruction (or the file) is invalid; `line` counts from 1.
    #[error("dockerfile parse error on line {line}: {message}")]
    Syntax { line: usize, message: String },
    /// Only `ARG`s, no `FROM`.
    #[error("dockerfile contains no stages to build")]
    NoStages,
}

impl ParseError {
    /// The offending line, from 1, when there is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ParseError::Syntax { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// Parses a Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    if text.is_empty() {
        return Err(ParseError::Empty);
    }
    let scanned = scan::scan(text)?;
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in scanned.nodes {
        let line = node.start_line;
        let syntax = |message| ParseError::Syntax { line, message };
        match instruction::parse_node(node).map_err(syntax)? {
            instruction::Parsed::Stage(mut stage) => {
                stage.index = stages.len();
                stages.push(stage);
            }
            instruction::Parsed::Instruction(inst) => match stages.last_mut() {
                Some(stage) => stage.instructions.push(inst),
                None => match inst.kind {
                    Kind::Arg(args) => meta_args.extend(args),
                    _ => return Err(syntax("no build stage in current context".to_string())),
                },
            },
        }
    }
    if stages.is_empty() {
        return Err(ParseError::NoStages);
    }
    Ok(Dockerfile {
        directives: scanned.directives,
        meta_args,
        stages,
    })
}

#[cfg(test)]
mod tests;
